"""The commit protocol of a library: generations, undo notes and recovery of its vector index.

Consistency model
-----------------
Nothing reaches ``index.hnsw`` except through :meth:`Library.commit`, which (1) writes
``index.json`` then ``index.hnsw`` beside themselves, fsyncs and renames them into place, and
(2) only then commits the one open SQLite transaction. SQLite is the source of truth: a label
is a searchable segment only if SQLite has a segment row for it with ``removed = 0``.

A crash between (1) and (2) leaves an index that is one *generation* ahead of SQLite. The
header records the generation SQLite must have for the index to match (``generation``), the
generation it was derived from (``base_generation``) and, per label touched in that commit,
whether it was live before (``revert``). On open, when SQLite is still at ``base_generation``,
those labels are put back the way they were (in memory; a writer persists it on its next
commit). Reverting is idempotent, which is why the header is renamed into place *before* the
index: a crash between the two renames leaves a header whose undo steps are no-ops on the old
index. Labels are allocated above every label the index has ever held, so an orphan vector from
a lost commit is never confused with a new segment.

A write that fails (a full disk) is a crash that the process survives: nothing is renamed into
place unless it was written whole. hnswlib does not report failed writes, so the new index file
is read back for its structure (every record and link list present, ending exactly at the end
of the file) before it is fsynced and renamed; a short one is removed and the commit raises
``OSError`` (ENOSPC when the disk is full). The library stays at its last commit.

The undo information is only right if every label change of a commit is noted, with the
label's state at the last commit, before the index changes. So the index is changed through
:class:`IndexJournal` alone: its :meth:`~IndexJournal.add`, :meth:`~IndexJournal.mark_deleted`
and :meth:`~IndexJournal.unmark_deleted` note each label first, and :meth:`IndexJournal.open`
is the one place where a library's index is loaded and brought in line with SQLite.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable, Iterator, Literal, Sequence

import numpy as np

from vidsearch.fsutil import fsync_path
from vidsearch.store.errors import LibraryError, damaged
from vidsearch.store.hnsw import HEADER_FILE, INDEX_FILE, HnswIndex, hnsw_file_problem, read_header

FORMAT_VERSION = 1
#: Test hook: "header" or "hnsw" makes commit() exit the process right after that file is
#: renamed into place, before SQLite commits (simulates a crash between the two steps);
#: "hnsw:3" does so at the process's third index save; "repair" makes a repair exit with the
#: damaged meta.sqlite moved aside and the recovered one not yet in its place.
CRASH_ENV = "VIDSEARCH_CRASH_AFTER"
_index_saves = 0  # index saves in this process (for the crash hook)

#: What :meth:`IndexJournal.open` had to do: nothing, undo a commit that SQLite never got
#: (from the header's notes), or set every label's state from SQLite (the slow path).
Recovery = Literal["in step", "rolled back", "reconciled"]


class IndexJournal:
    """A library's vector index, its header on disk and the undo notes of the open commit.

    ``sqlite_gen`` is the generation SQLite has committed (as far as this journal knows),
    ``header`` the header the index was loaded with or last saved with, ``next_label`` the
    lowest label never used, and ``dirty`` whether the index must be saved at the next commit.
    Read the index through :attr:`index`; change it only through this class.
    """

    def __init__(self, path: Path, layout: dict[str, int], index: HnswIndex, header: dict, *,
                 sqlite_gen: int, next_label: int, dirty: bool = False) -> None:
        self.path = path
        self.layout = layout
        self._index = index
        self.header = header
        self.sqlite_gen = sqlite_gen
        self.next_label = next_label
        self.dirty = dirty
        self._prior: dict[int, bool] = {}  # label -> was live at the last commit (undo info)
        self.mark_base()

    # ---- getting one ---------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, layout: dict[str, int]) -> "IndexJournal":
        """An empty index for a new library, to be saved by its first commit."""
        return cls(path, layout, HnswIndex(sum(layout.values())), {"generation": 0},
                   sqlite_gen=0, next_label=0, dirty=True)

    @classmethod
    def open(
        cls,
        path: Path,
        layout: dict[str, int],
        *,
        writer: bool,
        committed: Callable[[], tuple[int, int]],
        live: Callable[[], set[int]],
    ) -> tuple["IndexJournal", Recovery]:
        """Load the header and index of the library at ``path`` consistently, then bring the
        index in line with SQLite; returns the journal and what that took.

        ``committed()`` reads SQLite's generation and its highest segment id (-1: none), after
        the index is loaded; ``live()`` the ids of its segments with ``removed = 0`` (asked only
        on the slow path). A writer's journal notes what recovery changed, so that its next
        commit's undo covers the file on disk too, and saves the recovered index then.
        """
        dim = sum(layout.values())
        header_path, index_path = path / HEADER_FILE, path / INDEX_FILE
        for _ in range(20):
            header = read_header(path)
            if header is None or not index_path.is_file():
                missing = header_path if header is None else index_path
                raise LibraryError(f"{missing} is missing or damaged: run `vidsearch repair --db {path}`")
            if int(header.get("format", 0)) > FORMAT_VERSION:
                raise LibraryError(f"library at {path} was written by a newer vidsearch "
                                   f"(format {header.get('format')}): upgrade vidsearch")
            if int(header.get("dim", -1)) != dim:
                raise LibraryError(f"library at {path} has a {header.get('dim')}-d index but "
                                   f"its layout says {dim}: delete it and run `vidsearch index` again")
            params = header.get("hnsw", {})
            try:
                index = HnswIndex.load(
                    index_path, dim, headroom=writer,
                    # (headers always carry these; the fallbacks are the first release's values)
                    M=params.get("M", 16), ef_construction=params.get("ef_construction", 200),
                    ef=params.get("ef", 64), n_deleted=header.get("deleted", 0),
                    max_label=header.get("max_label", -1))
            except (RuntimeError, OSError) as e:
                raise damaged(path, INDEX_FILE, e) from None
            # A writer may rename a new header+index between our two reads; retry until stable.
            if writer or read_header(path) == header:
                break
        assert header is not None  # each pass refused a missing header before reaching here
        sqlite_gen, max_id = committed()
        next_label = max(int(header.get("max_label", -1)), index.max_label, max_id) + 1
        journal = cls(path, layout, index, header, sqlite_gen=sqlite_gen, next_label=next_label)
        return journal, journal._recover(writer, live)

    @classmethod
    def rebuilt(cls, path: Path, layout: dict[str, int], header: dict, labels: np.ndarray,
                vectors: np.ndarray, live: dict[int, bool], *, sqlite_gen: int, next_label: int
                ) -> "IndexJournal":
        """A new index of ``vectors`` (by ``labels``, hidden where ``live`` says not live), with
        the hnsw parameters of the damaged library's ``header``; saved at the next commit."""
        params = header.get("hnsw", {})
        index = HnswIndex(sum(layout.values()), M=int(params.get("M", 32)),
                          ef_construction=int(params.get("ef_construction", 200)),
                          ef=int(params.get("ef", 256)), initial_capacity=max(1, len(labels)))
        for i in range(0, len(labels), 4096):
            index.add(labels[i:i + 4096], vectors[i:i + 4096])
        index.mark_deleted(x for x in labels.tolist() if not live[x])
        return cls(path, layout, index, {"generation": max(int(header.get("generation", 0)), sqlite_gen)},
                   sqlite_gen=sqlite_gen, next_label=next_label)

    def _recover(self, writer: bool, live: Callable[[], set[int]]) -> Recovery:
        header, index = self.header, self._index
        hgen = int(header.get("generation", 0))
        if hgen == self.sqlite_gen and index.n_elements == int(header.get("count", -1)):
            return "in step"
        if self.sqlite_gen == int(header.get("base_generation", -1)) and "base_count" in header:
            # Crash (or a concurrent writer) between "header renamed" and "SQLite committed":
            # undo that commit's label changes so the index matches what SQLite says. This is
            # right for either file (the crashed commit's or the one before it), and so is the
            # deleted count: the base state's, plus every element added since (all undone).
            revert = header.get("revert", {})
            now_live = list(_from_ranges(revert.get("live", [])))
            dead = list(_from_ranges(revert.get("dead", [])))
            index.unmark_deleted(now_live)
            index.mark_deleted(dead)
            index.set_deleted_count(int(header["base_deleted"]) + index.n_elements - int(header["base_count"]))
            if writer:
                # The file on disk is still unrepaired: the next commit's undo must cover this too.
                self._prior.update(dict.fromkeys(now_live, True))
                self._prior.update(dict.fromkeys(dead, False))
            outcome: Recovery = "rolled back"
        else:
            self.reconcile(live(), note=writer)
            outcome = "reconciled"
        self.mark_base()
        if writer:
            self.dirty = True  # persist the repaired state on the next commit
        return outcome

    # ---- reading -------------------------------------------------------------------------

    @property
    def index(self) -> HnswIndex:
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
            # Loaded between a writer's index rename and its SQLite commit (so rolled back to the
            # metadata then committed): stale as soon as SQLite has moved on.
            return sqlite_generation() != self.sqlite_gen
        return False

    # ---- changing the index (each change noted first) ------------------------------------

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add the vectors of new segments. Their labels are never used again, even when the
        add fails; whatever part of a failed add went in is hidden again."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        self._note(labels.tolist(), False)
        if len(labels):
            self.next_label = max(self.next_label, int(labels.max()) + 1)
        try:
            self._index.add(labels, vectors)
        except BaseException:
            self._index.mark_deleted(labels.tolist())
            raise

    def mark_deleted(self, labels: Iterable[int]) -> None:
        """Hide segments from search: labels SQLite held live (``removed = 0``) until now."""
        labels = list(labels)
        self._note(labels, True)
        self._index.mark_deleted(labels)

    def unmark_deleted(self, labels: Iterable[int]) -> None:
        """Show hidden segments again: labels SQLite held removed until now."""
        labels = list(labels)
        self._note(labels, False)
        self._index.unmark_deleted(labels)

    def reconcile(self, live: set[int], *, note: bool) -> None:
        """Slow path: make every label's deleted flag match SQLite (live iff in ``live``);
        ``note``: record every label's state before, for the undo of the next commit."""
        labels = self._index.labels().tolist()
        self._index.unmark_deleted(x for x in labels if x in live)
        self._index.mark_deleted(x for x in labels if x not in live)
        self._index.set_deleted_count(sum(1 for x in labels if x not in live))
        if note:
            self._prior.update((x, x in live) for x in labels)

    def _note(self, labels: Iterable[int], was_live: bool) -> None:
        """Remember the committed state of labels first touched since the last commit."""
        for label in labels:
            self._prior.setdefault(int(label), was_live)
            self.dirty = True  # only when a label changed: no-op calls keep commit cheap

    # ---- committing ----------------------------------------------------------------------

    def mark_base(self) -> None:
        """Remember the index's counts in the state SQLite has committed (for the undo header)."""
        self._base_count = self._index.n_elements
        self._base_deleted = self._index.n_deleted

    def save(self) -> None:
        """Commit step (1): write the header, then the index, beside themselves; fsync and
        rename each into place. The caller's open SQLite transaction must then record
        :attr:`generation` and commit, and :meth:`committed` follow."""
        gen = max(int(self.header.get("generation", 0)), self.sqlite_gen) + 1
        idx = self._index
        dim = sum(self.layout.values())
        header = {
            "format": FORMAT_VERSION,
            "layout": self.layout,
            "dim": dim,
            "count": idx.n_elements,
            "deleted": idx.n_deleted,
            "max_label": max(idx.max_label, self.next_label - 1),
            "hnsw": {"space": "ip", "M": idx.M, "ef_construction": idx.ef_construction, "ef": idx.ef},
            "generation": gen,
            "base_generation": self.sqlite_gen,
            "base_count": self._base_count,
            "base_deleted": self._base_deleted,
            # Undo steps for a crash before SQLite commits: labels to make live / deleted again.
            "revert": {
                "live": _to_ranges(k for k, v in self._prior.items() if v),
                "dead": _to_ranges(k for k, v in self._prior.items() if not v),
            },
        }
        global _index_saves
        _index_saves += 1
        crash, _, nth = os.environ.get(CRASH_ENV, "").partition(":")
        if nth and int(nth) != _index_saves:
            crash = ""
        tmp = self.path / (HEADER_FILE + ".tmp")
        with _removed_on_failure(tmp):  # a full disk: give the space back
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(header, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.path / HEADER_FILE)
        fsync_path(self.path)
        if crash == "header":
            os._exit(86)
        tmp = self.path / (INDEX_FILE + ".tmp")
        with _removed_on_failure(tmp):
            idx.save(tmp)
            _check_written(tmp, dim)  # hnswlib does not report a failed write
            fsync_path(tmp)
        os.replace(tmp, self.path / INDEX_FILE)
        fsync_path(self.path)
        self.header = header
        if crash == "hnsw":
            os._exit(86)

    def committed(self) -> None:
        """Commit step (2) is done (SQLite committed): the index on disk matches it, and the
        undo notes start again from here."""
        if self.dirty:
            self.sqlite_gen = self.generation
        self.dirty = False
        self._prior.clear()
        self.mark_base()


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
