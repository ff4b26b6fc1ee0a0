"""What indexing has to do: compare the video files found with what the library holds."""
from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR

from vidsearch.fsutil import indexed_path
from vidsearch.ingest.processor import content_hash
from vidsearch.ingest.runners import VideoJob
from vidsearch.store.library import Library, VideoRow

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .ts .mts .m2ts .flv .mpg .mpeg .3gp .wmv .ogv".split()
)


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files named directly, plus video files found recursively in folders (sorted, de-duplicated).

    The second list holds (path, reason) for what could not be looked at: a path that does not
    exist, and every folder (the one given or one below it) that could not be listed, e.g.
    "cannot read folder: Permission denied". Such a folder's videos are unknown, not gone.
    """
    found: list[Path] = []
    missing: list[tuple[Path, str]] = []

    def unreadable(exc: OSError) -> None:
        missing.append((Path(os.path.abspath(exc.filename)), f"cannot read folder: {exc.strerror or exc}"))

    for p in paths:
        p = Path(p)
        try:
            is_dir = S_ISDIR(p.stat().st_mode)
        except FileNotFoundError:
            if p.is_symlink():  # a dangling link is reported when it is read
                found.append(indexed_path(p))
            else:
                missing.append((p, "no such file or directory"))
            continue
        except OSError as exc:  # e.g. inside a folder that cannot be read
            missing.append((p, f"cannot read: {exc.strerror or exc}"))
            continue
        if not is_dir:
            found.append(indexed_path(p))
            continue
        # A folder's videos are kept where they are seen in it, under the folder resolved: a link
        # in it is its own entry, not its target's path outside the folder (which a reindex of the
        # folder would never find again). Linked folders are walked too, each real folder once.
        base, walked = p.resolve(), set()
        for root, dirs, files in os.walk(p, onerror=unreadable, followlinks=True):
            real = os.path.realpath(root)
            if real in walked:  # a link back up the tree, or a second link to a folder seen
                dirs.clear()
                continue
            walked.add(real)
            dirs.sort()
            inside = base / os.path.relpath(root, p)
            for name in sorted(files):
                if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                    found.append(Path(os.path.normpath(inside / name)))
    # One entry per file: the first path that reaches it, or the file itself where a link to it
    # came first (so which one is kept does not depend on the order of the walk).
    chosen: dict[Path, Path] = {}
    for f in found:
        key = f.resolve() if f.exists() else f
        if key not in chosen or (chosen[key].is_symlink() and not f.is_symlink()):
            chosen[key] = f
    return list(chosen.values()), missing


def same_content(path: Path, row: VideoRow) -> bool:
    """Whether the file at ``path`` still has the bytes ``row`` was indexed from (content hash);
    False when it cannot be read, so that the per-video stage reports why."""
    try:
        return row.content_hash is not None and content_hash(path) == row.content_hash
    except OSError:
        return False


#: A file as found on disk (its size and mtime decide whether it may have changed): a job.
FileState = VideoJob


class EmptiedFolderError(ValueError):
    """A reindex would remove every video the library holds (``held``) from a folder that holds
    none now: what an unmounted disk's mount point looks like, so nothing is removed."""

    def __init__(self, root: Path, held: int) -> None:
        super().__init__(f"{os.fsdecode(root)} has no videos but the library holds {held} from it "
                         "(an unmounted disk?): nothing removed")
        self.root, self.held = root, held


@dataclass
class ReindexPlan:
    """Every file found in exactly one list, plus (for a reindex) the library videos that left.

    ``new``: not in the library; ``changed``: indexed (or failed) but its bytes differ;
    ``retry``: failed before and unchanged, retried on request; ``touched``: size and content
    hash are the same but the mtime moved (only the mtime is recorded); ``renamed``: (old path,
    new file) with the same content hash, moved without re-processing; ``removed``: library
    videos under the folder whose file is gone; ``unchanged`` and ``failed_unchanged`` (failed
    before, same file, not retried) are left alone; ``unreadable``: (path, reason) for files
    that cannot even be stat-ed and folders that cannot be listed; ``kept``: (video, folder,
    why) for library videos that were not found but are not known to be gone either: their
    folder is missing or cannot be read (an unmounted disk, a permission problem). ``root`` is
    the folder a reindex mirrors; None for ``index``, which never renames or removes.
    """

    root: Path | None
    new: list[FileState] = field(default_factory=list)
    changed: list[FileState] = field(default_factory=list)
    retry: list[FileState] = field(default_factory=list)
    touched: list[tuple[VideoRow, FileState]] = field(default_factory=list)
    renamed: list[tuple[VideoRow, FileState]] = field(default_factory=list)
    removed: list[VideoRow] = field(default_factory=list)
    unchanged: list[FileState] = field(default_factory=list)
    failed_unchanged: list[tuple[FileState, str]] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    kept: list[tuple[VideoRow, Path, str]] = field(default_factory=list)
    allow_missing: bool = False

    @property
    def to_process(self) -> list[FileState]:
        """Files the per-video stage has to run on, in folder order."""
        return sorted([*self.new, *self.changed, *self.retry], key=lambda f: os.fsencode(f.path))

    @property
    def has_work(self) -> bool:
        return bool(self.new or self.changed or self.retry or self.touched or self.renamed or self.removed)

    def refuse_emptied(self) -> None:
        """Raise :class:`EmptiedFolderError` when nothing was found under the root but the plan
        removes videos from it (unless made with ``allow_missing``): a folder below the root
        keeps its videos in ``kept``, but nothing above the root tells its empty mount point
        from a folder emptied on purpose, so the whole run is refused."""
        found = (self.new, self.changed, self.retry, self.touched, self.renamed, self.unchanged,
                 self.failed_unchanged)
        if self.root is not None and self.removed and not any(found) and not self.allow_missing:
            raise EmptiedFolderError(self.root, len(self.removed))

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "changed": len(self.changed), "retry": len(self.retry),
                "renamed": len(self.renamed), "removed": len(self.removed), "touched": len(self.touched),
                "unchanged": len(self.unchanged), "failed_unchanged": len(self.failed_unchanged),
                "unreadable": len(self.unreadable), "kept": len(self.kept)}

    def to_json(self) -> dict:
        def p(path: Path) -> str:
            return os.fsdecode(path)

        return {
            "root": None if self.root is None else p(self.root),
            "counts": self.counts(),
            "new": [p(f.path) for f in self.new],
            "changed": [p(f.path) for f in self.changed],
            "retry": [p(f.path) for f in self.retry],
            "renamed": [{"from": p(row.path), "to": p(f.path)} for row, f in self.renamed],
            "removed": [p(row.path) for row in self.removed],
            "touched": [p(f.path) for _, f in self.touched],
            "failed_unchanged": [{"path": p(f.path), "reason": r} for f, r in self.failed_unchanged],
            "unreadable": [{"path": p(path), "reason": r} for path, r in self.unreadable],
            "kept": [{"path": p(row.path), "folder": p(folder), "reason": why} for row, folder, why in self.kept],
        }

    def kept_by_folder(self) -> dict[Path, tuple[str, int]]:
        """The folders whose videos were kept: folder -> (why, how many videos)."""
        out: dict[Path, tuple[str, int]] = {}
        for _, folder, why in self.kept:
            out[folder] = (why, out.get(folder, (why, 0))[1] + 1)
        return out


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def plan_reindex(library: Library | None, root: Path | str, *, retry_failed: bool = False,
                 allow_missing: bool = False) -> ReindexPlan:
    """:func:`plan_changes` for the video files under ``root``, mirroring it. ``library`` None
    (no library yet) makes every file new."""
    root = Path(root).resolve()
    files, dark = collect_files([root])  # dark: folders that could not be listed
    return plan_changes(library, files, dark, mirror=root, retry_failed=retry_failed,
                        allow_missing=allow_missing)


def plan_changes(library: Library | None, files: Iterable[Path], unreadable: Iterable[tuple[Path, str]] = (), *,
                 mirror: Path | None = None, retry_failed: bool = False, allow_missing: bool = False,
                 reprocess: bool = False) -> ReindexPlan:
    """Decide what each of ``files`` needs (``unreadable``: what :func:`collect_files` could not
    look at, as (path, reason)); ``index`` and ``reindex`` both plan here.

    Size and mtime equal to the library's record: unchanged, no read (failed before: left
    alone, or retried with ``retry_failed``). Size equal but mtime moved: the content hash
    decides (touched or changed). ``reprocess`` makes every file new (a repair). Without
    ``mirror`` nothing is renamed or removed: ``index`` only adds and updates.

    With ``mirror`` (the resolved folder holding ``files``) its videos in the library are
    compared too; videos from outside it are never touched. A new file whose size and hash
    equal a vanished video's is that video renamed. A video is removed only when its file is
    known to be gone from a folder that could be listed; videos under a folder that is
    missing, empty or cannot be read are ``kept`` (an unmounted disk looks like a deleted
    folder, its mount point like an empty one; an empty ``mirror`` itself is refused by
    :meth:`ReindexPlan.refuse_emptied`), unless ``allow_missing``. A folder that cannot be
    listed is in ``unreadable``, its reason saying how many of its videos are kept.
    """
    dark = list(unreadable)
    plan = ReindexPlan(root=mirror, allow_missing=allow_missing)
    on_disk: dict[Path, FileState] = {}
    for path in files:
        try:
            st = path.stat()
        except OSError as exc:  # a dangling symlink, or removed since it was listed
            plan.unreadable.append((path, f"cannot read file: {exc.strerror or exc}"))
            continue
        on_disk[path] = FileState(path, st.st_size, st.st_mtime_ns)

    rows: dict[Path, VideoRow] = {}
    if library is not None and not reprocess:
        if mirror is not None:
            rows = {row.path: row for row in library.videos() if _under(row.path, mirror)}
        else:
            rows = {path: found for path in on_disk if (found := library.lookup(path)) is not None}
    vanished: list[VideoRow] = []
    hidden: dict[Path, tuple[Path, str]] = {}  # path -> (folder, why): not known to be gone
    row: VideoRow | None  # below, also the lookup of each file on disk (None: new)
    for path, row in rows.items():
        if path in on_disk or mirror is None:
            continue
        folder = next(((d, why) for d, why in dark if _under(path, d)), None)
        try:
            os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            vanished.append(row)
            if folder is None:
                gone = _missing_folder(path, mirror)
                if gone is not None:
                    folder = (gone, "folder missing")
                elif path.parent != mirror and _empty_folder(path.parent):
                    # An empty mount point: the disk is not there. The root itself is not
                    # judged here: an empty root is refused whole (ReindexPlan.refuse_emptied).
                    folder = (path.parent, "folder empty")
        except OSError as exc:  # cannot even tell whether it is there
            folder = folder or (path.parent, f"cannot check: {exc.strerror or exc}")
        if folder is not None:
            hidden[path] = folder
    new: list[FileState] = []
    for path, f in on_disk.items():
        row = rows.get(path)
        if row is None:
            new.append(f)
        elif row.size == f.size and row.mtime_ns == f.mtime_ns:
            if row.status == "indexed":
                plan.unchanged.append(f)
            elif retry_failed:
                plan.retry.append(f)
            else:
                plan.failed_unchanged.append((f, row.error or "failed"))
        elif row.status == "indexed" and row.size == f.size and same_content(path, row):
            plan.touched.append((row, f))
        else:
            plan.changed.append(f)

    # Renames: a vanished indexed video and a new file of the same size and content hash.
    by_size: dict[int, list[VideoRow]] = defaultdict(list)
    for row in vanished:
        if row.status == "indexed" and row.content_hash:
            by_size[row.size].append(row)
    moved: set[Path] = set()
    for f in new:
        candidates = [r for r in by_size.get(f.size, []) if r.path not in moved]
        if candidates:
            try:
                digest = content_hash(f.path)
            except OSError:
                digest = None
            match = next((r for r in candidates if r.content_hash == digest), None)
            if match is not None:
                moved.add(match.path)
                plan.renamed.append((match, f))
                continue
        plan.new.append(f)
    for row in vanished:
        if row.path in moved or allow_missing:
            hidden.pop(row.path, None)
        if row.path not in moved and row.path not in hidden:
            plan.removed.append(row)
    plan.kept = [(rows[path], folder, why) for path, (folder, why) in hidden.items()]
    counts = plan.kept_by_folder()
    for d, why in dark:
        n = counts.get(d, (why, 0))[1]
        plan.unreadable.append((d, f"{why} ({n} of its videos in the library kept)" if n else why))
    return plan


def _empty_folder(folder: Path) -> bool:
    """True when ``folder`` holds nothing at all (not even hidden files): what the mount point
    of a disk that is not mounted looks like."""
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def _missing_folder(path: Path, root: Path) -> Path | None:
    """The highest folder between ``root`` and ``path`` that is gone; None when the file's own
    folder is there (the file alone was deleted)."""
    folder = path.parent
    if folder.is_dir():
        return None
    while folder.parent != root and _under(folder.parent, root) and not folder.parent.is_dir():
        folder = folder.parent
    return folder
