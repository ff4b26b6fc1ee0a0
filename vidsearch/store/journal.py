"""The commit protocol of a library: generations, tiers and recovery of its vector index.

Consistency model
-----------------
SQLite is the source of truth: a label is a searchable segment only if SQLite has a segment row
for it with ``removed = 0``. The vector index is kept in two tiers (:class:`TieredIndex`): a
*main* hnswlib file, written whole only now and then, and a small *delta* file holding what was
added since. The header ``index.json`` names both files and lists the main labels whose state
changed since the main file was written (``main_changes``): a deletion does not rewrite it.

Nothing reaches the index files except through :meth:`Library.commit`, which (1) writes the
changed index files under new names (``delta-<generation>-<token>.hnsw`` each commit;
``index-<generation>-<token>.hnsw`` when the delta has grown past a share of the whole, which
merges it into the main file), reads them back for their structure, fsyncs them; (2) writes
``index.json`` beside itself, fsyncs and renames it into place: the one atomic switch from the
old files to the new; (3) only then commits the one open SQLite transaction; (4) removes the
files no header names any more. Files are never overwritten, so whatever a crash interrupts,
the files the old header names are still whole.

A crash between (2) and (3) leaves a header one *generation* ahead of SQLite. The header
records the generation SQLite must have for it to apply (``generation``) and the state it
replaced (``previous``: its generation, files and main changes); on open, when SQLite is still at
the previous generation, the previous state is loaded instead (its files are removed only in
step (4), after SQLite has committed). Any other disagreement (a library written by a release
without ``previous``, or after a repair) is settled on the slow path, setting every label's
state from SQLite. Labels are allocated above every label the index has ever held, so an orphan
vector from a lost commit is never confused with a new segment.

A write that fails (a full disk) is a crash that the process survives: hnswlib does not report
failed writes, so each new file is read back for its structure before the header names it, and
the commit raises ``OSError`` (ENOSPC when the disk is full). The library stays at its last commit.

Why tiers: at 1M segments the whole index is 6.8 GB and writing it took 14-20 s per commit; a
commit of a few videos now writes a delta of at most :data:`DELTA_MAX` vectors (about 80 MB at
1200 floats) and the header. A merge costs what a commit cost before, once per
:data:`DELTA_MAX` new segments (or per :data:`DELTA_SHARE` of a smaller library). Search asks
both tiers; readers that refresh after a commit that did not merge keep their loaded main tier.
A main tier of :data:`~vidsearch.store.compact.COMPACT_FROM` vectors or more is rebuilt once as a
:class:`~vidsearch.store.compact.CompactIndex` (FAISS HNSW-SQ8, ``index-*.faiss``), checked by the
digest its header records.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal, Sequence, TypeVar

import numpy as np

from vidsearch.fsutil import fsync_path
from vidsearch.store.compact import ENGINE as COMPACT_ENGINE
from vidsearch.store.compact import CompactIndex, compact_from, file_digest
from vidsearch.store.errors import LibraryError, damaged
from vidsearch.store.hnsw import (
    HEADER_FILE,
    INDEX_FILE,
    HnswIndex,
    TieredIndex,
    hnsw_file_problem,
    read_header,
)

FORMAT_VERSION = 1  # of the library as a whole (recorded in SQLite's meta)
HEADER_FORMAT = 2  # of index.json: 1 was one index file with undo notes, 2 the tiers
#: Test hook: "hnsw" or "header" makes commit() exit the process right after the new index
#: files are in place (before the header names them), or after the header is renamed into
#: place (before SQLite commits); "hnsw:3" / "header:3" do so at the process's third index
#: save; "repair" makes a repair exit with the damaged meta.sqlite moved aside and the recovered
#: one not yet in its place.
CRASH_ENV = "VIDSEARCH_CRASH_AFTER"
#: Test hook: merge the delta into the main file once it holds this many vectors (overrides
#: the rule below; 0 merges at every commit, a large number never).
DELTA_ENV = "VIDSEARCH_DELTA_LIMIT"
#: The delta is merged once it holds this share of all vectors, or DELTA_MAX of them. A small
#: library is written whole at nearly every commit (as cheap as a delta); at 1M segments a
#: commit writes at most ~16k vectors.
DELTA_SHARE = 0.05
DELTA_MAX = 16384
_index_saves = 0  # index saves in this process (for the crash hook)
_TIER_FILE = re.compile(r"^(index|delta)-\d+-[0-9a-f]+\.(hnsw|faiss)(\.tmp)?$")

#: What :meth:`IndexJournal.open` had to do: nothing, load the state a lost commit replaced
#: (from the header's ``previous``), or set every label's state from SQLite (the slow path).
Recovery = Literal["in step", "rolled back", "reconciled"]


def merge_limit(n_elements: int) -> int:
    """How many vectors the delta may hold, in an index of ``n_elements``, before a merge."""
    forced = os.environ.get(DELTA_ENV, "").strip()
    if forced.isdigit():
        return int(forced)
    return max(1, min(DELTA_MAX, int(DELTA_SHARE * n_elements)))


def _state_of(header: dict) -> dict:
    """The tiers a header names, as {"generation", "max_label", "dim", "main", "main_changes", "delta"}
    (a header of format 1 names one file, ``index.hnsw``, and no delta)."""
    if "main" in header:
        return {k: header.get(k) for k in ("generation", "max_label", "dim", "main", "main_changes", "delta")}
    return {"generation": int(header.get("generation", 0)), "max_label": int(header.get("max_label", -1)),
            "dim": header.get("dim"),
            "main": {"file": INDEX_FILE, "count": int(header.get("count", 0)),
                     "deleted": int(header.get("deleted", 0)), "max_label": int(header.get("max_label", -1))},
            "main_changes": None, "delta": None}


class IndexJournal:
    """A library's vector index (:class:`TieredIndex`), its header on disk and what the next
    commit must write.

    ``sqlite_gen`` is the generation SQLite has committed (as far as this journal knows),
    ``header`` the header last loaded or saved, ``next_label`` the lowest label never used, and
    ``dirty`` whether the next commit must write a header. Read the index through
    :attr:`index`; change it only through this class.
    """

    def __init__(self, path: Path, layout: dict[str, int], index: TieredIndex, header: dict, *,
                 sqlite_gen: int, next_label: int, state: dict | None, dirty: bool = False,
                 main_stale: bool = False) -> None:
        self.path = path
        self.layout = layout
        self._index = index
        self.header = header
        self.sqlite_gen = sqlite_gen
        self.next_label = next_label
        self.dirty = dirty
        #: The tiers on disk that match SQLite at ``sqlite_gen`` (None when none do: created,
        #: repaired or reconciled in memory), named as ``previous`` by the next header.
        self.state = state
        self._main_stale = main_stale  # the main tier in memory is in no file: write it whole
        self._delta_stale = False  # the delta tier changed since it was written

    # ---- getting one ---------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, layout: dict[str, int]) -> "IndexJournal":
        """An empty index for a new library, to be saved by its first commit."""
        return cls(path, layout, TieredIndex(HnswIndex(sum(layout.values()))), {"generation": 0},
                   sqlite_gen=0, next_label=0, state=None, dirty=True, main_stale=True)

    @classmethod
    def open(
        cls,
        path: Path,
        layout: dict[str, int],
        *,
        writer: bool,
        committed: Callable[[], tuple[int, int]],
        live: Callable[[], set[int]],
        loaded: "IndexJournal | None" = None,
    ) -> tuple["IndexJournal", Recovery]:
        """Load the tiers that match SQLite (``committed()``: its generation and highest segment
        id, -1 for none), or the header's and bring them in line with SQLite (``live()``: the
        ids of its segments with ``removed = 0``, asked only on that slow path); returns the
        journal and what that took. ``loaded``: a reader's journal whose main tier is kept when
        the state to load has the same main file (a commit that did not merge).
        """
        dim = sum(layout.values())
        for _ in range(20):
            header = read_header(path)
            if header is None:
                raise LibraryError(f"{path / HEADER_FILE} is missing or damaged: "
                                   f"run `vidsearch repair --db {path}`")
            if int(header.get("format", 0)) > HEADER_FORMAT:
                raise LibraryError(f"library at {path} was written by a newer vidsearch "
                                   f"(format {header.get('format')}): upgrade vidsearch")
            sqlite_gen, max_id = committed()
            hgen = int(header.get("generation", 0))
            previous = header.get("previous")
            outcome: Recovery
            if sqlite_gen == hgen:
                state, outcome = _state_of(header), "in step"
            elif previous and int(previous.get("generation", -1)) == sqlite_gen:
                state, outcome = previous, "rolled back"
            else:
                if sqlite_gen > hgen and read_header(path) != header:
                    continue  # a writer committed between the two reads: take its header
                state, outcome = _state_of(header), "reconciled"
            # (checked on the state loaded: a commit that added a channel changes the width)
            if int(state.get("dim") or header.get("dim", -1)) != dim:
                raise LibraryError(f"library at {path} has a {state.get('dim') or header.get('dim')}-d index but "
                                   f"its layout says {dim}: delete it and run `vidsearch index` again")
            try:
                index = _load_tiers(path, dim, header.get("hnsw", {}), state, writer=writer,
                                    loaded=None if loaded is None else loaded.index)
            except FileNotFoundError as e:
                if read_header(path) != header or committed()[0] != sqlite_gen:
                    continue  # a writer committed and removed the files read: take its state
                raise damaged(path, Path(e.filename or INDEX_FILE).name, e) from None
            except (RuntimeError, OSError, ValueError) as e:
                name = getattr(e, "filename", None) or state["main"]["file"]
                raise damaged(path, Path(name).name, e) from None
            if writer or read_header(path) == header:
                break
        assert header is not None  # each pass refused a missing header before reaching here
        next_label = max(int(header.get("max_label", -1)), index.max_label, max_id) + 1
        journal = cls(path, layout, index, header, sqlite_gen=sqlite_gen, next_label=next_label,
                      state=state if outcome != "reconciled" else None)
        if outcome == "reconciled":
            journal.reconcile(live())
        return journal, outcome

    @classmethod
    def rebuilt(cls, path: Path, layout: dict[str, int], header: dict, labels: np.ndarray,
                vectors: np.ndarray, live: dict[int, bool], *, sqlite_gen: int, next_label: int,
                replaces: dict | None = None) -> "IndexJournal":
        """A new index of ``vectors`` (by ``labels``, hidden where ``live`` says not live), with
        the hnsw parameters of the library's ``header`` (a damaged one, or one whose layout
        changes); written whole at the next commit. ``replaces``: the state on disk that SQLite
        has until then (loaded again if the commit is lost), None when none does (a repair)."""
        params = header.get("hnsw", {})
        index = HnswIndex(sum(layout.values()), M=int(params.get("M", 32)),
                          ef_construction=int(params.get("ef_construction", 200)),
                          ef=int(params.get("ef", 256)), initial_capacity=max(1, len(labels)))
        for i in range(0, len(labels), 4096):
            index.add(labels[i:i + 4096], vectors[i:i + 4096])
        index.mark_deleted(x for x in labels.tolist() if not live[x])
        return cls(path, layout, TieredIndex(index),
                   {"generation": max(int(header.get("generation", 0)), sqlite_gen),
                    "max_label": int(header.get("max_label", -1))},
                   sqlite_gen=sqlite_gen, next_label=next_label, state=replaces, dirty=True, main_stale=True)

    # ---- reading -------------------------------------------------------------------------

    @property
    def index(self) -> TieredIndex:
        """The vector index, for reading (searches, vectors, counts)."""
        return self._index

    @property
    def generation(self) -> int:
        """The generation of the header last loaded or saved."""
        return int(self.header["generation"])

    def stale(self, sqlite_generation: Callable[[], int]) -> bool:
        """Whether a writer committed since this journal was loaded (``sqlite_generation()``:
        the generation SQLite has committed now)."""
        header = read_header(self.path)
        if header is None:
            return False
        if header.get("generation") != self.header.get("generation"):
            return True
        if int(self.header.get("generation", 0)) != self.sqlite_gen:
            # Loaded between a writer's header rename and its SQLite commit (so the previous
            # state was loaded): stale as soon as SQLite has moved on.
            return sqlite_generation() != self.sqlite_gen
        return False

    # ---- changing the index --------------------------------------------------------------

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add the vectors of new segments. Their labels are never used again, even when the
        add fails; whatever part of a failed add went in is hidden again."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if not len(labels):
            return
        self.next_label = max(self.next_label, int(labels.max()) + 1)
        self._changed([int(labels.max())])
        try:
            self._index.add(labels, vectors)
        except BaseException:
            self._index.mark_deleted(labels.tolist())
            raise

    def mark_deleted(self, labels: Iterable[int]) -> None:
        """Hide segments from search: labels SQLite held live (``removed = 0``) until now."""
        labels = [int(x) for x in labels]
        if self._index.mark_deleted(labels):
            self._changed(labels)

    def unmark_deleted(self, labels: Iterable[int]) -> None:
        """Show hidden segments again: labels SQLite held removed until now."""
        labels = [int(x) for x in labels]
        if self._index.unmark_deleted(labels):
            self._changed(labels)

    def reconcile(self, live: set[int]) -> None:
        """Slow path: make every label's deleted flag match SQLite (live iff in ``live``); the
        next commit writes the result."""
        labels = self._index.labels().tolist()
        self._index.unmark_deleted(x for x in labels if x in live)
        self._index.mark_deleted(x for x in labels if x not in live)
        for tier in (self._index.main, self._index.delta):
            tier.set_deleted_count(sum(1 for x in tier.labels().tolist() if x not in live))
        self.state = None
        self._changed(labels)

    def _changed(self, labels: Sequence[int]) -> None:
        self.dirty = True  # only when a label changed: no-op calls keep commit cheap
        if any(x > self._index.main.max_label for x in labels):
            self._delta_stale = True

    # ---- committing ----------------------------------------------------------------------

    def save(self) -> None:
        """Commit steps (1) and (2): write the changed tier files, then the header naming them.
        The caller's open SQLite transaction must then record :attr:`generation` and commit,
        and :meth:`committed` follow."""
        gen = max(int(self.header.get("generation", 0)), self.sqlite_gen) + 1
        idx, dim = self._index, sum(self.layout.values())
        global _index_saves
        _index_saves += 1
        crash, _, nth = os.environ.get(CRASH_ENV, "").partition(":")
        if nth and int(nth) != _index_saves:
            crash = ""
        # The tiers on disk this commit builds on: those loaded (or last written), which after a
        # lost commit are the previous state, not the header's.
        old = self.state if self.state is not None else _state_of(self.header) if not self._main_stale else {}
        main_info, delta_info = old.get("main"), old.get("delta")
        if self._main_stale or idx.delta.n_elements >= merge_limit(idx.n_elements):
            main = idx.merged()
            if isinstance(main, HnswIndex) and main.n_elements >= compact_from():
                main = idx.compacted()  # once: the main tier is large enough to keep compact
            name, digest = self._write_tier(main, "index", gen, dim)
            idx.main_file = name
            main_info = {"file": name, "count": main.n_elements, "deleted": main.n_deleted,
                         "max_label": main.max_label}
            if isinstance(main, CompactIndex):  # its file has no delete flags and no record checks
                main_info.update(engine=COMPACT_ENGINE, ef=main.ef, hidden=_to_ranges(main.deleted), digest=digest)
            delta_info = None
        elif self._delta_stale or (delta_info is None) != (idx.delta.n_elements == 0):
            delta_info = None
            if idx.delta.n_elements:
                name, _ = self._write_tier(idx.delta, "delta", gen, dim)
                delta_info = {"file": name, "count": idx.delta.n_elements, "deleted": idx.delta.n_deleted}
        fsync_path(self.path)
        if crash == "hnsw":
            os._exit(86)
        assert main_info is not None  # a journal without a main file on disk has _main_stale set
        header = {
            "format": HEADER_FORMAT,
            "layout": self.layout,
            "dim": dim,
            "count": idx.n_elements,
            "deleted": idx.n_deleted,
            "max_label": max(idx.max_label, self.next_label - 1, int(self.header.get("max_label", -1))),
            "hnsw": {"space": "ip", "M": idx.M, "ef_construction": idx.ef_construction, "ef": idx.delta.ef},
            "generation": gen,
            "main": main_info,
            "main_changes": {"live": _to_ranges(k for k, v in idx.main_changes.items() if v),
                             "dead": _to_ranges(k for k, v in idx.main_changes.items() if not v)},
            "delta": delta_info,
            # What SQLite has until step (3): loaded instead if the process dies before it.
            "previous": self.state,
        }
        tmp = self.path / (HEADER_FILE + ".tmp")
        with _removed_on_failure(tmp):  # a full disk: give the space back
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(header, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.path / HEADER_FILE)
        fsync_path(self.path)
        self.header = header
        if crash == "header":
            os._exit(86)

    def _write_tier(self, tier: HnswIndex | CompactIndex, kind: str, gen: int, dim: int) -> tuple[str, str | None]:
        """Write one tier under a new name (never over a file a header names); its name, and for
        a compact tier the digest of the bytes written (what :meth:`Library.check` compares)."""
        name = f"{kind}-{gen}-{secrets.token_hex(4)}.{'faiss' if isinstance(tier, CompactIndex) else 'hnsw'}"
        tmp = self.path / (name + ".tmp")
        with _removed_on_failure(tmp):
            try:
                tier.save(tmp)
            except RuntimeError as e:  # FAISS checks its writes and raises (a full disk)
                full = shutil.disk_usage(self.path).free < (1 << 20)
                code = errno.ENOSPC if full else errno.EIO
                raise OSError(code, f"{os.strerror(code)} ({name} could not be written: {e})") from None
            digest = None
            if isinstance(tier, CompactIndex):
                digest = file_digest(tmp)  # read back whole
            else:
                _check_written(tmp, dim)  # hnswlib does not report a failed write
            fsync_path(tmp)
        os.replace(tmp, self.path / name)
        return name, digest

    def committed(self) -> None:
        """Commit step (3) is done (SQLite committed): the header's tiers are the state SQLite
        has; step (4) removes the files no header names."""
        if self.dirty:
            self.sqlite_gen = self.generation
            self.state = _state_of(self.header)
            remove_unnamed_files(self.path, keep_previous=False)
        self.dirty = False
        self._main_stale = self._delta_stale = False



def remove_unnamed_files(path: Path, *, keep_previous: bool = True) -> bool:
    """Remove the index files of ``path`` that neither the header nor (``keep_previous``, until
    SQLite has committed the header's generation) its ``previous`` state names: those of
    commits that were replaced, lost or interrupted, and half-written ones.
    Nothing is removed while the header cannot be read (a repair needs every file). A reader
    still loading a removed file reads the header again and loads the files it names then.
    Returns whether it removed any."""
    header = read_header(path)
    if header is None:
        return False
    removed = False
    keep = {INDEX_FILE} if "main" not in header else set()
    for state in (header, (header.get("previous") or {}) if keep_previous else {}):
        for tier in ("main", "delta"):
            if state.get(tier):
                keep.add(str(state[tier]["file"]))
    with contextlib.suppress(OSError):
        for p in path.iterdir():
            if (p.name == INDEX_FILE or _TIER_FILE.match(p.name)) and p.name not in keep:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    removed = True
    return removed


def _load_tiers(path: Path, dim: int, params: dict, state: dict, *, writer: bool,
                loaded: TieredIndex | None) -> TieredIndex:
    """The tiers ``state`` names, with its main changes applied; ``loaded``'s main tier is
    kept when it is the same file (a reader refreshing after a commit that did not merge)."""
    # (headers always carry these; the fallbacks are the first release's values)
    kw = dict(M=int(params.get("M", 16)), ef_construction=int(params.get("ef_construction", 200)),
              ef=int(params.get("ef", 64)))
    info = state["main"]
    changes = {**dict.fromkeys(_from_ranges((state.get("main_changes") or {}).get("dead", [])), False),
               **dict.fromkeys(_from_ranges((state.get("main_changes") or {}).get("live", [])), True)}
    if (loaded is not None and not writer and loaded.main_file == info["file"]
            and set(loaded.main_changes) <= set(changes)):
        main = loaded.main
    elif info.get("engine") == COMPACT_ENGINE:
        main = _as_counted(CompactIndex.load(
            path / info["file"], dim, M=kw["M"], ef_construction=kw["ef_construction"],
            ef=int(info.get("ef", kw["ef"])), deleted=_from_ranges(info.get("hidden", []))), info)
    else:
        main = _as_counted(HnswIndex.load(
            path / info["file"], dim, headroom=writer, n_deleted=int(info.get("deleted", 0)),
            max_label=int(info.get("max_label", -1)), **kw), info)
    delta = HnswIndex(dim, initial_capacity=256, **kw)  # (the header's ef: a compact main's is its own)
    if state.get("delta"):
        d = state["delta"]
        delta = _as_counted(HnswIndex.load(path / d["file"], dim, headroom=writer, n_deleted=int(d.get("deleted", 0)),
                                           max_label=max(main.max_label, int(state.get("max_label", -1))), **kw), d)
    index = TieredIndex(main, delta)
    index.set_states(changes)
    index.main_changes = changes
    index.main_file = info["file"]
    return index


_Tier = TypeVar("_Tier", HnswIndex, CompactIndex)


def _as_counted(tier: _Tier, info: dict) -> _Tier:
    """``tier`` when it holds as many vectors as its header entry ``info`` says (ValueError otherwise)."""
    if tier.n_elements != int(info.get("count", tier.n_elements)):
        raise ValueError(f"{info['file']} holds {tier.n_elements} vectors, its header says {info['count']}")
    return tier


def _to_ranges(labels: Iterable[int]) -> list[list[int]]:
    """Sorted labels as inclusive [first, last] runs (new labels are contiguous: compact JSON)."""
    out: list[list[int]] = []
    for x in sorted(set(labels)):
        if out and x == out[-1][1] + 1:
            out[-1][1] = x
        else:
            out.append([x, x])
    return out


def _from_ranges(ranges: Iterable[Sequence[int]]) -> Iterator[int]:
    for a, b in ranges:
        yield from range(int(a), int(b) + 1)


@contextlib.contextmanager
def _removed_on_failure(path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def _check_written(path: Path, dim: int) -> None:
    """Raise OSError (ENOSPC when the disk is full) if the index file at ``path`` is incomplete."""
    with open(path, "rb") as f:
        problem = hnsw_file_problem(f, dim)
    if problem is not None:
        full = shutil.disk_usage(path.parent).free < (1 << 20)
        code = errno.ENOSPC if full else errno.EIO
        raise OSError(code, f"{os.strerror(code)} ({path.name} came out incomplete: {problem})")
