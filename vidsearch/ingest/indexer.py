"""Index files into a library: skip what is unchanged, record what fails, commit in batches,
then find bumpers recurring across the library."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR

from vidsearch.channels.fusion import ChannelLayout
from vidsearch.ingest.processor import VideoProcessor, content_hash
from vidsearch.ingest.profile import check_config
from vidsearch.media.trim import find_bumpers
from vidsearch.store.library import Library, VideoRow
from vidsearch.types import VideoError

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .ts .mts .m2ts .flv .mpg .mpeg .3gp .wmv .ogv".split()
)


@dataclass
class IndexReport:
    indexed: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[tuple[Path, str]] = field(default_factory=list)
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "indexed": [os.fsdecode(p) for p in self.indexed],
            "skipped": [os.fsdecode(p) for p in self.skipped],
            "failed": [{"path": os.fsdecode(p), "reason": r} for p, r in self.failed],
            "warnings": [{"path": os.fsdecode(p), "warning": w} for p, w in self.warnings],
            "media_seconds": round(self.media_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
        }


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
                found.append(p)
            else:
                missing.append((p, "no such file or directory"))
            continue
        except OSError as exc:  # e.g. inside a folder that cannot be read
            missing.append((p, f"cannot read: {exc.strerror or exc}"))
            continue
        if not is_dir:
            found.append(p)
            continue
        for root, dirs, files in os.walk(p, onerror=unreadable):
            dirs.sort()
            for name in sorted(files):
                if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                    found.append(Path(root) / name)
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = Path(os.path.abspath(f)) if not f.exists() else f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(key)
    return unique, missing


def same_content(path: Path, row: VideoRow) -> bool:
    """Whether the file at ``path`` still has the bytes ``row`` was indexed from (content hash);
    False when it cannot be read, so that the per-video stage reports why."""
    try:
        return row.content_hash is not None and content_hash(path) == row.content_hash
    except OSError:
        return False


ProgressFn = Callable[[str, Path | None], None]


def index_paths(
    library: Library,
    paths: Iterable[Path],
    processor: VideoProcessor,
    *,
    progress: ProgressFn | None = None,
    commit_every: int = 8,
    commit_seconds: float = 60.0,
    retry_failed: bool = False,
    reprocess: bool = False,
) -> IndexReport:
    """Index ``paths`` into ``library``; a bad file is recorded and never stops the batch.
    ``reprocess`` runs every file again, unchanged ones too (a repair: their vectors were lost).

    ``progress(event, path)`` is called with "start", "done", "skip" or "fail" per file.
    On Ctrl-C (or any error that stops the batch) what has finished is committed first.
    """
    t_start = time.perf_counter()
    report = IndexReport()
    files, missing = collect_files(paths)
    report.failed.extend(missing)
    notify = progress or (lambda event, path: None)
    pending = 0
    todo: list[Path] = []
    stats: dict[Path, os.stat_result] = {}
    for path in files:
        try:
            stat = stats[path] = path.stat()
        except OSError as exc:  # a dangling symlink, or removed since it was listed
            report.failed.append((path, f"cannot read file: {exc.strerror or exc}"))
            notify("skip", path)
            continue
        row = None if reprocess else library.lookup(path)
        if row is not None and row.size == stat.st_size and row.mtime_ns == stat.st_mtime_ns:
            if row.status == "indexed":
                report.skipped.append(path)
                notify("skip", path)
                continue
            if not retry_failed:
                report.failed.append((path, f"{row.error} (unchanged since it failed; --retry-failed retries)"))
                notify("skip", path)
                continue
        if row is not None and row.status == "indexed" and row.size == stat.st_size:
            # mtime moved but the bytes may be the same (copied, touched): confirm by hash.
            if same_content(path, row):
                library.touch(row.id, stat.st_size, stat.st_mtime_ns)
                pending += 1
                report.skipped.append(path)
                notify("skip", path)
                continue
        todo.append(path)

    layout = ChannelLayout.from_dict(library.layout)  # fixed when the library was created
    last_commit = time.monotonic()
    if todo:
        # Never a library of two configurations: the processor must be the one the library was built with.
        check_config(library, processor.config, processor.clip.name if processor.clip is not None else None)
        notify("start", todo[0])
    try:
        for i, (path, result) in enumerate(processor.process_many(todo)):
            stat = stats[path]
            if isinstance(result, VideoError):
                library.record_failure(path, result.reason, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
                report.failed.append((path, result.reason))
                notify("fail", path)
            else:
                iv = result
                library.add_video(
                    iv,
                    processor.fused_vectors(iv, layout),
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                    utterance_vectors=processor.utterance_vectors(iv),
                    ocr_vectors=processor.ocr_line_vectors(iv),
                )
                report.indexed.append(path)
                report.warnings.extend((path, w) for w in iv.warnings)
                report.media_seconds += iv.info.duration
                for name, secs in iv.stage_seconds.items():
                    report.stage_seconds[name] = report.stage_seconds.get(name, 0.0) + secs
                notify("done", path)
            pending += 1
            if i + 1 < len(todo):
                notify("start", todo[i + 1])
            if pending >= commit_every or time.monotonic() - last_commit > commit_seconds:
                library.commit()
                pending, last_commit = 0, time.monotonic()
    except BaseException:
        # Ctrl-C, or a write that failed (disk full): keep what finished (each video went in
        # whole), so that the next run goes on from here.
        if not library.commit_failed:  # a commit that failed half-way is not retried
            library.commit()
        raise
    if report.indexed or pending:
        refresh_bumpers(library)
        library.commit()
    report.wall_seconds = time.perf_counter() - t_start
    return report


#: Library setting: "1" keeps recurring intros and outros (no library-level removal).
KEEP_BUMPERS = "keep_bumpers"


def refresh_bumpers(library: Library) -> dict[int, list]:
    """Re-run the library-wide bumper search and store the spans (segments inside are hidden).

    Run after every change of the library's videos: a bumper newly seen in a second video is
    removed from the earlier ones too, and one that no longer recurs is given back. A library
    whose ``keep_bumpers`` setting is on keeps every bumper (its spans are cleared).
    """
    fingerprints = dict(library.fingerprints())
    bumpers = {} if library.setting(KEEP_BUMPERS) == "1" else find_bumpers(fingerprints)
    for video_id in fingerprints:
        new = bumpers.get(video_id, [])
        old = [s for s in library.removed_spans(video_id) if s.kind.startswith("bumper")]
        if [(s.start, s.end, s.kind) for s in old] != [(s.start, s.end, s.kind) for s in new]:
            library.set_library_spans(video_id, new)
    return bumpers
