"""The vector index of a library: a protocol, its hnswlib implementation, the two tiers a
library keeps it in, and checks of an hnswlib file read straight from its bytes.

:class:`VectorIndex` is what the library needs from a vector engine; :class:`HnswIndex` is it
on hnswlib; :class:`TieredIndex` is a large main index plus a small delta index of what was
added since the main one was written, searched together (so a commit writes only the delta).

hnswlib writes without checking for errors and loads whatever it is given, so the file's
structure (every record and link list present, ending exactly at the end of the file) and its
records (links inside the index, labels in range, each channel of each vector unit length or
zero) are checked here, from the hnswlib 0.8 file layout, before a file is trusted or renamed
into place. The library uses the index only through :class:`VectorIndex`.
"""
from __future__ import annotations

import io
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Protocol, Sequence, runtime_checkable

import hnswlib
import numpy as np

if TYPE_CHECKING:
    from vidsearch.store.compact import CompactIndex

INDEX_FILE = "index.hnsw"  # the main index of a library written before the index had tiers
HEADER_FILE = "index.json"

@runtime_checkable
class VectorIndex(Protocol):
    """What the library reads from a vector engine (labels are non-negative int64 ids). Changes
    go through the library's journal, which knows how its engine keeps them: hnswlib files here
    (:mod:`vidsearch.store.journal`), a Milvus collection (:mod:`vidsearch.store.milvus`)."""

    @property
    def dim(self) -> int: ...

    @property
    def count(self) -> int:
        """Live (not deleted) vectors; may be approximate after crash recovery."""
        ...

    @property
    def n_elements(self) -> int:
        """Every vector held, deleted ones included where the engine keeps them."""
        ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    def get(self, labels: Sequence[int]) -> np.ndarray: ...

    def labels(self) -> np.ndarray: ...


class HnswIndex:
    """:class:`VectorIndex` on hnswlib, inner-product space (vectors are normalised per channel).

    Scores are inner products (hnswlib reports ``1 - ip`` as the distance). hnswlib cannot say
    how many elements are deleted, so the count of deleted ones is tracked here and persisted in
    the library header.
    """

    def __init__(
        self,
        dim: int,
        *,
        # Measured at 1M segments of 1712 floats (benchmarks/hnsw_scale.py): M=32 reaches
        # recall@10 0.989 at ef=256 where M=16 needs ef=512 for 0.986. A library keeps the
        # values it was built with (index.json).
        M: int = 32,
        ef_construction: int = 200,
        ef: int = 256,
        initial_capacity: int = 1024,
        _index: hnswlib.Index | None = None,
        n_deleted: int = 0,
        max_label: int = -1,
    ):
        self._dim = int(dim)
        self.M = int(M)
        self.ef_construction = int(ef_construction)
        if _index is None:
            _index = hnswlib.Index(space="ip", dim=self._dim)
            _index.init_index(max_elements=max(1, int(initial_capacity)), M=self.M,
                              ef_construction=self.ef_construction)
        self._index = _index
        self.ef = int(ef)  # hnswlib's default ef is 10, and load_index resets it
        self._n_deleted = int(n_deleted)
        self._max_label = int(max_label)

    @classmethod
    def load(
        cls,
        path: Path,
        dim: int,
        *,
        headroom: bool,
        M: int = 32,
        ef_construction: int = 200,
        ef: int = 256,
        n_deleted: int = 0,
        max_label: int = -1,
    ) -> "HnswIndex":
        """Load a saved index. ``headroom=False`` (readers) sizes it to exactly its count.
        FileNotFoundError when there is no file (hnswlib would say only "Cannot open file")."""
        if not Path(path).is_file():
            raise FileNotFoundError(2, "No such file or directory", os.fsdecode(path))
        n = _hnsw_file_count(path)
        index = hnswlib.Index(space="ip", dim=int(dim))
        # hnswlib uses the file's own capacity when max_elements < count, so 0 is a safe fallback.
        cap = _grown_capacity(n, n) if headroom else n
        index.load_index(os.fsdecode(path), max_elements=cap)
        return cls(dim, M=M, ef_construction=ef_construction, ef=ef, _index=index,
                   n_deleted=n_deleted, max_label=max_label)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def count(self) -> int:
        return max(0, self._index.get_current_count() - self._n_deleted)

    @property
    def n_elements(self) -> int:
        """Every stored element, deleted ones included."""
        return int(self._index.get_current_count())

    @property
    def n_deleted(self) -> int:
        return self._n_deleted

    def set_deleted_count(self, n: int) -> None:
        """Correct the tracked deleted count (after every label's state was set explicitly)."""
        self._n_deleted = int(n)

    @property
    def capacity(self) -> int:
        return int(self._index.get_max_elements())

    @property
    def max_label(self) -> int:
        """Highest label ever added (-1 when empty)."""
        return self._max_label

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add or replace vectors; a replaced label that was deleted becomes live again."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(labels), self._dim)
        if len(labels) == 0:
            return
        # hnswlib add_items on an existing deleted label unmarks it and updates its vector; keep
        # our deleted count right by un-deleting first (a no-op for live or unknown labels).
        if self._max_label >= 0:
            old = labels[labels <= self._max_label]
            if len(old):
                self.unmark_deleted(old.tolist())
        needed = self._index.get_current_count() + len(labels)
        if needed > self._index.get_max_elements():
            # Grow with headroom so a stream of small adds does not resize every time.
            self._index.resize_index(_grown_capacity(needed, self._index.get_max_elements()))
        self._index.add_items(vectors, labels)
        self._max_label = max(self._max_label, int(labels.max()))

    def mark_deleted(self, labels: Iterable[int]) -> int:
        """Hide labels from search; returns how many changed (already deleted/unknown: skipped)."""
        changed = 0
        for label in labels:
            try:
                self._index.mark_deleted(int(label))
            except RuntimeError:  # "already deleted" or "Label not found"
                continue
            changed += 1
        self._n_deleted += changed
        return changed

    @property
    def ef(self) -> int:
        """Search breadth; a query for k > ef searches with breadth k (hnswlib uses max(ef, k))."""
        return self._ef

    @ef.setter
    def ef(self, value: int) -> None:
        self._ef = int(value)
        self._index.set_ef(self._ef)

    def unmark_deleted(self, labels: Iterable[int]) -> int:
        """Make deleted labels searchable again; returns how many changed."""
        changed = 0
        for label in labels:
            try:
                self._index.unmark_deleted(int(label))
            except RuntimeError:  # "not deleted" or "Label not found"
                continue
            changed += 1
        self._n_deleted = max(0, self._n_deleted - changed)
        return changed

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k labels (int64) and inner-product scores (float32), best first."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self._dim)
        k = min(int(k), self.count)
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        # No set_ef per query: hnswlib searches with max(ef, k) itself, and leaving the
        # shared setting alone lets concurrent readers search one index without a lock.
        try:
            labels, dist = self._index.knn_query(q, k=k)
        except RuntimeError:
            # Fewer than k reachable live elements (tracked count off after recovery, or a
            # graph split by deletions): find the largest k that works.
            labels, dist = self._largest_query(q, k)
        return labels[0].astype(np.int64), (1.0 - dist[0]).astype(np.float32)

    def _largest_query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = 0, k - 1  # k itself failed
        best = (np.empty((1, 0), np.uint64), np.empty((1, 0), np.float32))
        while lo < hi:
            mid = (lo + hi + 1) // 2
            try:
                best = self._index.knn_query(q, k=mid)
                lo = mid
            except RuntimeError:
                hi = mid - 1
        if lo > 0 and best[0].shape[1] != lo:
            best = self._index.knn_query(q, k=lo)
        return best

    def get(self, labels: Sequence[int]) -> np.ndarray:
        """Stored vectors, float32 (n, dim). Raises KeyError naming labels missing or deleted."""
        ids = [int(x) for x in labels]
        if not ids:
            return np.empty((0, self._dim), np.float32)
        try:
            return np.asarray(self._index.get_items(ids, return_type="numpy"), dtype=np.float32).reshape(
                len(ids), self._dim)
        except RuntimeError:
            missing = []
            for label in ids:
                try:
                    self._index.get_items([label])
                except RuntimeError:
                    missing.append(label)
            raise KeyError(f"no live vector for labels {missing[:10]}") from None

    def vectors_of(self, labels: Sequence[int]) -> tuple[np.ndarray, list[int]]:
        """The vectors of these labels, deleted ones too, and which of them are deleted. hnswlib
        hands out no vector of a deleted label, so each is shown for the copy and hidden again
        (a writer's index only: a reader's threads search it)."""
        ids = [int(x) for x in labels]
        try:
            return self.get(ids), []
        except KeyError:
            hidden = [x for x in ids if self.unmark_deleted([x])]
            try:
                return self.get(ids), hidden
            finally:
                self.mark_deleted(hidden)

    def labels(self) -> np.ndarray:
        """Every label stored, deleted ones included."""
        # (via uint64: a damaged file can hold labels above int64, shown here as negative)
        return np.asarray(self._index.get_ids_list(), dtype=np.uint64).astype(np.int64)

    def save(self, path: Path) -> None:
        self._index.save_index(os.fsdecode(path))


class TieredIndex:
    """:class:`VectorIndex` over two :class:`HnswIndex`: ``main``, as last written whole, and
    ``delta``, the segments added since. Labels only grow, so every label above the main
    index's highest is in the delta. A search asks both and merges by score.

    ``main_changes`` records, per main label whose state was changed here, whether it is live
    now: the main file is not rewritten for a deletion, so these go in the library header.
    """

    def __init__(self, main: "HnswIndex | CompactIndex", delta: HnswIndex | None = None) -> None:
        self.main = main
        self.delta = delta if delta is not None else HnswIndex(
            main.dim, M=main.M, ef_construction=main.ef_construction,
            ef=main.ef if isinstance(main, HnswIndex) else 256, initial_capacity=256)
        self.main_changes: dict[int, bool] = {}
        self.main_file: str | None = None  # the file the main tier was loaded from (None: none)

    @property
    def dim(self) -> int:
        return self.main.dim

    @property
    def count(self) -> int:
        return self.main.count + self.delta.count

    @property
    def n_elements(self) -> int:
        return self.main.n_elements + self.delta.n_elements

    @property
    def n_deleted(self) -> int:
        return self.main.n_deleted + self.delta.n_deleted

    @property
    def capacity(self) -> int:
        return self.main.capacity + self.delta.capacity

    @property
    def max_label(self) -> int:
        return max(self.main.max_label, self.delta.max_label)

    @property
    def M(self) -> int:
        return self.main.M

    @property
    def ef_construction(self) -> int:
        return self.main.ef_construction

    def _split(self, labels: Iterable[int]) -> tuple[list[int], list[int]]:
        top = self.main.max_label
        main: list[int] = []
        delta: list[int] = []
        for label in labels:
            (main if int(label) <= top else delta).append(int(label))
        return main, delta

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add new labels (above every label the main index holds) to the delta index."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(labels) and int(labels.min()) <= self.main.max_label:
            raise ValueError("a new label must be above every label of the main index")
        self.delta.add(labels, vectors)

    def mark_deleted(self, labels: Iterable[int]) -> int:
        main, delta = self._split(labels)
        self.main_changes.update(dict.fromkeys(main, False))
        return self.main.mark_deleted(main) + self.delta.mark_deleted(delta)

    def unmark_deleted(self, labels: Iterable[int]) -> int:
        main, delta = self._split(labels)
        self.main_changes.update(dict.fromkeys(main, True))
        return self.main.unmark_deleted(main) + self.delta.unmark_deleted(delta)

    def set_states(self, live: dict[int, bool]) -> None:
        """Set main labels live or deleted (a header's ``main_changes``) without recording them."""
        self.main.unmark_deleted(k for k, v in live.items() if v)
        self.main.mark_deleted(k for k, v in live.items() if not v)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k labels and inner products over both tiers, best first."""
        parts = [tier.search(query, k) for tier in (self.main, self.delta) if tier.count]
        if len(parts) < 2:
            return parts[0] if parts else (np.empty(0, np.int64), np.empty(0, np.float32))
        labels = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        order = np.argsort(-scores, kind="stable")[:k]
        return labels[order], scores[order]

    def get(self, labels: Sequence[int]) -> np.ndarray:
        """Stored vectors, float32 (n, dim). Raises KeyError naming labels missing or deleted."""
        ids = [int(x) for x in labels]
        out = np.empty((len(ids), self.dim), np.float32)
        main, delta = self._split(ids)
        found = {**dict(zip(main, self.main.get(main))), **dict(zip(delta, self.delta.get(delta)))}
        for i, label in enumerate(ids):
            out[i] = found[label]
        return out

    def get_any(self, labels: Sequence[int]) -> np.ndarray:
        """Like :meth:`get`, hidden (deleted) labels included (each tier's ``vectors_of``)."""
        ids = [int(x) for x in labels]
        main, delta = self._split(ids)
        found = {**dict(zip(main, self.main.vectors_of(main)[0])),
                 **dict(zip(delta, self.delta.vectors_of(delta)[0]))}
        out = np.empty((len(ids), self.dim), np.float32)
        for i, label in enumerate(ids):
            out[i] = found[label]
        return out

    def labels(self) -> np.ndarray:
        """Every label stored in either tier, deleted ones included."""
        return np.concatenate([self.main.labels(), self.delta.labels()])

    def compacted(self) -> "CompactIndex":
        """The main tier rebuilt as a :class:`~vidsearch.store.compact.CompactIndex` (in place; hidden
        labels stay hidden): done once, when a merge finds the main tier large enough."""
        from vidsearch.store.compact import TRAIN_SAMPLE, CompactIndex

        old = self.main
        if isinstance(old, CompactIndex):
            return old
        new = CompactIndex(self.dim, M=old.M, ef_construction=old.ef_construction)
        labels = old.labels().tolist()
        hidden: list[int] = []
        pending: list[tuple[np.ndarray, np.ndarray]] = []  # read before the quantiser is fitted
        for i in range(0, len(labels), 8192):
            chunk = labels[i:i + 8192]
            vectors, hide = old.vectors_of(chunk)
            hidden.extend(hide)
            pending.append((np.asarray(chunk, np.int64), vectors))
            if new.trained or sum(len(c) for c, _ in pending) >= TRAIN_SAMPLE or i + 8192 >= len(labels):
                if not new.trained:
                    new.train(np.concatenate([v for _, v in pending]))
                for c, v in pending:
                    new.add(c, v)
                pending.clear()
        new.mark_deleted(hidden)
        self.main = new
        self.main_file = None
        return new

    def merged(self) -> "HnswIndex | CompactIndex":
        """The main index with the delta's vectors added (in place, deleted ones staying
        deleted: a segment hidden by trimming can be shown again): what a merge writes."""
        labels = self.delta.labels().tolist()
        for i in range(0, len(labels), 4096):
            chunk = labels[i:i + 4096]
            vectors, hidden = self.delta.vectors_of(chunk)
            self.main.add(np.asarray(chunk, np.int64), vectors)
            self.main.mark_deleted(hidden)
        self.delta = HnswIndex(self.dim, M=self.M, ef_construction=self.ef_construction, ef=self.delta.ef,
                               initial_capacity=256)  # (the delta's own ef: a compact main searches wider)
        self.main_changes.clear()
        self.main_file = None
        return self.main

def _grown_capacity(needed: int, current: int) -> int:
    return max(int(needed), int(current * 1.5) + 1024)


def _hnsw_file_count(path: Path) -> int:
    """Element count from an hnswlib file header (offsetLevel0, max_elements, cur_count: uint64)."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
        return int(np.frombuffer(head, dtype="<u8", count=3)[2]) if len(head) == 24 else 0
    except OSError:
        return 0


_HNSW_HEAD = 96  # bytes before the level-0 data in an hnswlib (0.8) file


@dataclass(frozen=True)
class _HnswFile:
    """Where things are in an hnswlib file, from its header (or from the dim and M it must have)."""

    count: int  # elements stored
    per_element: int  # bytes of one element's level-0 record: links, vector, label
    links_bytes: int  # level-0 link list at the start of a record (count word + 2M slots)
    link_unit: int  # bytes per upper level in an element's upper link lists
    M: int

    @classmethod
    def expected(cls, dim: int, M: int, count: int = 0) -> "_HnswFile":
        links = 4 + 4 * 2 * M
        return cls(count, links + 4 * dim + 8, links, 4 * M + 4, M)

    @classmethod
    def read(cls, f: io.BufferedReader, dim: int) -> "_HnswFile":
        """The header of the open file ``f``; ValueError saying why it cannot be an index of
        ``dim``-d vectors (OSError when it cannot be read)."""
        f.seek(0)
        head = f.read(_HNSW_HEAD)
        if len(head) < _HNSW_HEAD:
            raise ValueError(f"truncated ({len(head)} bytes)")
        off0, capacity, count, per_element, label_off, data_off = struct.unpack_from("<6Q", head, 0)
        max_m, max_m0, M = struct.unpack_from("<3Q", head, 56)
        want = cls.expected(dim, M, count)
        if (off0, data_off, label_off, per_element, max_m, max_m0) != (
                0, want.links_bytes, want.links_bytes + 4 * dim, want.per_element, M, 2 * M) \
                or not 0 < M < 4096 or count > capacity:
            raise ValueError(f"its header does not describe an index of {dim}-d vectors")
        return want

    @property
    def level0_end(self) -> int:
        return _HNSW_HEAD + self.count * self.per_element


def hnsw_file_problem(f: io.BufferedReader, dim: int) -> str | None:
    """What is wrong with the structure of the open hnswlib file ``f`` (None: sound): the
    header must describe ``dim``-d vectors and the upper link lists must end exactly at the end
    of the file (hnswlib writes without checking for errors: a full disk leaves it short)."""
    try:
        layout = _HnswFile.read(f, dim)
        size = os.fstat(f.fileno()).st_size
        f.seek(layout.level0_end)
        tail = f.read()
    except ValueError as e:
        return str(e)
    except OSError as e:
        return f"cannot read it ({e.strerror or e})"
    if size < layout.level0_end + 4 * layout.count:
        return f"truncated ({size} bytes, at least {layout.level0_end + 4 * layout.count} expected)"
    pos, unpack = 0, struct.Struct("<I").unpack_from
    for _ in range(layout.count):
        if pos + 4 > len(tail):
            return f"truncated ({size} bytes)"
        n = unpack(tail, pos)[0]
        if n % layout.link_unit:
            return f"link lists damaged at byte {layout.level0_end + pos}"
        pos += 4 + n
    if pos != len(tail):
        return f"truncated ({size} bytes)" if pos > len(tail) else f"{len(tail) - pos} stray bytes at its end"
    return None


def scan_hnsw_records(f: io.BufferedReader, layout: dict[str, int], M: int, max_label: int
                       ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(labels, vectors, sound) for the level-0 records of the open hnswlib file ``f``, read
    straight from its bytes in chunks. A record is sound when its links point inside the index,
    its label is in [0, ``max_label``] and each channel of its vector is unit length or zero,
    as the fusion stage writes them. Works on a truncated file or one whose header is damaged
    (the record size then follows from the layout and ``M``)."""
    dim = sum(layout.values())
    try:
        shape = _HnswFile.read(f, dim)
        elements = shape.count  # links may point past the end of a truncated file
    except ValueError:
        shape, elements = _HnswFile.expected(dim, M), 1 << 32  # links cannot be checked
    n = min(elements, max(0, (os.fstat(f.fileno()).st_size - _HNSW_HEAD) // shape.per_element))
    if n == 0:
        return
    records = np.memmap(f, dtype=np.uint8, mode="r", offset=_HNSW_HEAD, shape=(n, shape.per_element))
    bounds = np.cumsum([0, *layout.values()])
    slots = np.arange(2 * shape.M)
    for start in range(0, n, 1 << 13):
        chunk = np.array(records[start:start + (1 << 13)])
        head = chunk[:, :shape.links_bytes].copy().view("<u4")
        n_links = head[:, 0] & 0xFFFF
        links = head[:, 1:]
        labels = chunk[:, -8:].copy().view("<u8")[:, 0]
        vectors = chunk[:, shape.links_bytes:shape.links_bytes + 4 * dim].copy().view("<f4")
        with np.errstate(all="ignore"):
            sound = (n_links <= 2 * shape.M) & (labels <= max(max_label, 0)) & np.isfinite(vectors).all(axis=1)
            sound &= ((links < elements) | (slots[None, :] >= n_links[:, None])).all(axis=1)
            for a, b in zip(bounds[:-1], bounds[1:]):
                sq = np.einsum("ij,ij->i", vectors[:, a:b], vectors[:, a:b])
                sound &= (np.abs(sq) < 1e-3) | (np.abs(sq - 1.0) < 1e-3)
        yield labels.astype(np.int64), vectors, sound
    del records


def index_paths(db_dir: Path, header: dict | None = None) -> list[Path]:
    """The hnswlib files of a library's index as its header (read when not given) names them:
    the main index, then the delta index when there is one."""
    header = read_header(db_dir) if header is None else header
    tiers = header or {}
    out = [db_dir / str((tiers.get("main") or {}).get("file", INDEX_FILE))]
    if tiers.get("delta"):
        out.append(db_dir / str(tiers["delta"]["file"]))
    return out


def index_file_problem(db_dir: Path, layout: dict[str, int], max_label: int = -1,
                       tiers: dict | None = None) -> str | None:
    """One line when a file of the library's vector index is damaged: its structure, or
    records that are not sound (see :func:`scan_hnsw_records`); None when they are sound.
    ``tiers``: the files of this state (as a header names them) rather than the header's own."""
    if tiers is not None:
        header = read_header(db_dir) or {}
        try:
            return _tier_problem(db_dir, {**header, **tiers}, layout,
                                 max(max_label, int(header.get("max_label", -1))))
        except FileNotFoundError:
            pass  # a writer has committed since these were loaded: check what the header names now
    for _ in range(20):
        header = read_header(db_dir) or {}
        try:
            return _tier_problem(db_dir, header, layout, max(max_label, int(header.get("max_label", -1))))
        except FileNotFoundError:
            # A writer committed and removed a file of the state read: look again at the new one.
            if read_header(db_dir) == header:
                break
    path = index_paths(db_dir)[-1]
    return f"{path} cannot be read (No such file or directory)"


def digest_problem(path: Path, digest: str) -> str | None:
    """One line when the compact (FAISS) tier file at ``path`` is not the ``digest`` its header
    recorded, or cannot be read; FileNotFoundError when it is gone."""
    from vidsearch.store.compact import file_digest

    try:
        same = file_digest(path) == digest
    except FileNotFoundError:
        raise
    except OSError as e:
        return f"{path} cannot be read ({e.strerror or e})"
    return None if same else f"{path} is damaged (its bytes are not those written)"


def _tier_problem(db_dir: Path, header: dict, layout: dict[str, int], max_label: int) -> str | None:
    main = header.get("main") or {}
    for path in index_paths(db_dir, header):
        if path.name == main.get("file") and main.get("digest"):  # a compact (FAISS) main tier
            problem = digest_problem(path, main["digest"])
            if problem is not None:
                return problem
            continue
        try:
            f = open(path, "rb")
        except FileNotFoundError:  # (the caller looks again at the header)
            raise
        except OSError as e:
            return f"{path} cannot be read ({e.strerror or e})"
        with f:
            problem = hnsw_file_problem(f, sum(layout.values()))
            if problem is None:
                bad = sum(int((~sound).sum()) for _, _, sound in
                          scan_hnsw_records(f, layout, int(header.get("hnsw", {}).get("M", 32)), max_label))
                problem = f"{bad} damaged vectors" if bad else None
        if problem is not None:
            return f"{path} is damaged ({problem})"
    return None


def read_header(db_dir: Path) -> dict | None:
    """The library's index header (``index.json``), or None when it is missing or not JSON."""
    try:
        with open(db_dir / HEADER_FILE, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
