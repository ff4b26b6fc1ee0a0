"""What a reindex of one folder has to do: compare the files on disk with the library."""
from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.ingest.indexer import collect_files, same_content
from vidsearch.ingest.processor import content_hash
from vidsearch.store.library import Library, VideoRow


@dataclass(frozen=True)
class FileState:
    """A file as found on disk (its size and mtime decide whether it may have changed)."""

    path: Path
    size: int
    mtime_ns: int


@dataclass
class ReindexPlan:
    """Every file under the folder in exactly one list, plus the library videos that left it.

    ``new``: not in the library; ``changed``: indexed (or failed) but its bytes differ;
    ``retry``: failed before and unchanged, retried on request; ``touched``: size and content
    hash are the same but the mtime moved (only the mtime is recorded); ``renamed``: (old path,
    new file) with the same content hash, moved without re-processing; ``removed``: library
    videos under the folder whose file is gone; ``unchanged`` and ``failed_unchanged`` (failed
    before, same file, not retried) are left alone; ``unreadable``: (path, reason) for files
    that cannot even be stat-ed and folders that cannot be listed; ``kept``: (video, folder,
    why) for library videos that were not found but are not known to be gone either: their
    folder is missing or cannot be read (an unmounted disk, a permission problem).
    """

    root: Path
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

    @property
    def to_process(self) -> list[FileState]:
        """Files the per-video stage has to run on, in folder order."""
        return sorted([*self.new, *self.changed, *self.retry], key=lambda f: os.fsencode(f.path))

    @property
    def has_work(self) -> bool:
        return bool(self.new or self.changed or self.retry or self.touched or self.renamed or self.removed)

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "changed": len(self.changed), "retry": len(self.retry),
                "renamed": len(self.renamed), "removed": len(self.removed), "touched": len(self.touched),
                "unchanged": len(self.unchanged), "failed_unchanged": len(self.failed_unchanged),
                "unreadable": len(self.unreadable), "kept": len(self.kept)}

    def to_json(self) -> dict:
        def p(path: Path) -> str:
            return os.fsdecode(path)

        return {
            "root": p(self.root),
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
    """Compare the video files under ``root`` with what ``library`` holds from there.

    Size and mtime equal: unchanged, no read. Size equal but mtime moved: the content hash
    decides (touched or changed). A new file whose size and hash equal a vanished video's is
    that video renamed. Videos the library holds from outside ``root`` are never touched.
    ``library`` None (no library yet) makes every file new.

    A video is removed only when its file is known to be gone from a folder that could be
    listed. Videos under a folder that is missing, empty or cannot be read go to ``kept``
    instead (an unmounted disk looks like a deleted folder, its mount point like an empty one;
    an empty ``root`` is not kept here, the command refuses it whole); ``allow_missing`` removes those whose file
    is gone all the same. A folder that cannot be listed is in ``unreadable``, its reason
    saying how many of its videos are kept.
    """
    root = Path(root).resolve()
    plan = ReindexPlan(root=root)
    files, dark = collect_files([root])  # dark: folders that could not be listed
    on_disk: dict[Path, FileState] = {}
    for path in files:
        try:
            st = path.stat()
        except OSError as exc:  # a dangling symlink, or removed since it was listed
            plan.unreadable.append((path, f"cannot read file: {exc.strerror or exc}"))
            continue
        on_disk[path] = FileState(path, st.st_size, st.st_mtime_ns)

    rows = {row.path: row for row in (library.videos() if library is not None else []) if _under(row.path, root)}
    vanished: list[VideoRow] = []
    hidden: dict[Path, tuple[Path, str]] = {}  # path -> (folder, why): not known to be gone
    row: VideoRow | None  # below, also the lookup of each file on disk (None: new)
    for path, row in rows.items():
        if path in on_disk:
            continue
        folder = next(((d, why) for d, why in dark if _under(path, d)), None)
        try:
            os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            vanished.append(row)
            if folder is None:
                gone = _missing_folder(path, root)
                if gone is not None:
                    folder = (gone, "folder missing")
                elif path.parent != root and _empty_folder(path.parent):
                    # An empty mount point: the disk is not there. The root itself is not
                    # judged here: an empty root is refused whole by the command.
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
