"""Index files into a library: skip what is unchanged, record what fails, commit in batches,
then find bumpers recurring across the library.

Crash safety comes from the store: :meth:`vidsearch.store.library.Library.commit` makes the index
and SQLite durable together, so a kill at any moment leaves the last committed batch. A rerun
plans again from what was committed (size and mtime are stored with each video), so committed
work is never redone and nothing is stored twice.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.channels.fusion import ChannelLayout
from vidsearch.fsutil import indexed_forms
from vidsearch.ingest.plan import ReindexPlan, collect_files, plan_changes
from vidsearch.ingest.processor import VideoProcessor
from vidsearch.ingest.profile import KEEP_BUMPERS_SETTING, check_config
from vidsearch.ingest.runners import InProcessRunner, VideoOutcome
from vidsearch.media.trim import find_bumpers
from vidsearch.store.library import Library, VideoRow


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


class LibraryWriter:
    """The one place where indexing writes to the library, and the one rule for when it commits.

    A commit rewrites the whole index file (seconds at a million segments), so processed files
    are committed every ``commit_every`` files or ``commit_seconds``, and never sooner than
    nine times the last commit's duration after it: committing takes at most about a tenth of
    the time, and a crash loses at most one batch.
    """

    def __init__(self, library: Library, *, commit_every: int = 8, commit_seconds: float = 60.0) -> None:
        self.library, self.commit_every, self.commit_seconds = library, commit_every, commit_seconds
        self.commits = self.changes = 0  # commits made (not the one after an error); writes made
        self._pending, self._last, self._cost = 0, time.monotonic(), 0.0

    def apply_cheap(self, plan: ReindexPlan) -> tuple[list[tuple[Path, Path]], list[Path]]:
        """Carry out the plan's renames, removals and new mtimes (no file is read) and commit
        them together; returns (renamed (old, new), removed). A rename whose new path was taken
        meanwhile removes the old video and puts the file in ``plan.new`` instead."""
        renamed, removed = [], []
        for row, f in plan.renamed:
            if self.library.rename_video(row.path, f.path, size=f.size, mtime_ns=f.mtime_ns):
                renamed.append((row.path, f.path))
            else:
                plan.new.append(f)
                if self.library.delete_video(row.path):
                    removed.append(row.path)
        removed += [row.path for row in plan.removed if self.library.delete_video(row.path)]
        for row, f in plan.touched:
            self.library.touch(row.id, f.size, f.mtime_ns)
        self.changes = len(plan.renamed) + len(plan.removed) + len(plan.touched)
        if self.changes:
            self._commit()
        return renamed, removed

    def store_all(self, outcomes: Iterable[VideoOutcome], each: Callable[[VideoOutcome], None]) -> None:
        """Store each outcome as it comes (the video and its vectors, or the file's failure with
        its reason), commit when due, then call ``each(outcome)``. On Ctrl-C, or any error that
        stops the batch (the runner giving up, a disk full), what has finished is committed
        first: each video went in whole, so the next run goes on from there."""
        try:
            for outcome in outcomes:
                job, iv = outcome.job, outcome.video
                if iv is None:
                    self.library.record_failure(job.path, outcome.error or "failed", size=job.size,
                                                mtime_ns=job.mtime_ns)
                else:
                    assert outcome.fused is not None  # computed together with the video
                    self.library.add_video(iv, outcome.fused, size=job.size, mtime_ns=job.mtime_ns,
                                           utterance_vectors=outcome.utterance_vectors,
                                           ocr_vectors=outcome.ocr_vectors)
                self.changes, self._pending = self.changes + 1, self._pending + 1
                since = time.monotonic() - self._last
                if ((self._pending >= self.commit_every and since >= 9 * self._cost)
                        or since > max(self.commit_seconds, 9 * self._cost)):
                    self._commit()
                each(outcome)
        except BaseException:
            if not self.library.commit_failed:  # a commit that failed half-way is not retried
                self.library.commit()
            raise

    def finish(self) -> None:
        """Find the library's bumpers again (its videos changed) and commit."""
        refresh_bumpers(self.library)
        self._commit()

    def _commit(self) -> None:
        t0 = time.monotonic()
        self.library.commit()
        self._last = time.monotonic()
        self._cost, self._pending, self.commits = self._last - t0, 0, self.commits + 1


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
    planned: Callable[[list[Path]], None] | None = None,
) -> IndexReport:
    """Index ``paths`` into ``library``; a bad file is recorded and never stops the batch.
    ``reprocess`` runs every file again, unchanged ones too (a repair: their vectors were lost).

    Planned like a reindex (:func:`vidsearch.ingest.plan.plan_changes`) but nothing is renamed
    or removed; written through :class:`LibraryWriter`. ``planned(paths)`` is called once with
    the files that will be processed, in order, before the first; ``progress(event, path)`` with
    "start", "done", "skip" or "fail" per file.
    """
    t_start = time.perf_counter()
    report = IndexReport()
    files, missing = collect_files(paths)
    plan = plan_changes(library, files, missing, retry_failed=retry_failed, reprocess=reprocess)
    order = {path: i for i, path in enumerate(files)}

    def position(path: Path) -> int:  # in the order found; paths that do not exist first
        return order.get(path, -1)

    report.skipped = sorted([f.path for f in plan.unchanged] + [f.path for _, f in plan.touched], key=position)
    report.failed = sorted([*plan.unreadable, *((f.path, f"{why} (unchanged since it failed; --retry-failed retries)")
                                                for f, why in plan.failed_unchanged)],
                           key=lambda item: position(item[0]))
    todo = sorted(plan.to_process, key=lambda f: position(f.path))
    notify = progress or (lambda event, path: None)
    for path in sorted(set(files) - {f.path for f in todo}, key=position):
        notify("skip", path)
    writer = LibraryWriter(library, commit_every=commit_every, commit_seconds=commit_seconds)
    writer.apply_cheap(plan)  # new mtimes of touched files
    waiting = [f.path for f in todo]  # in process order: the first is the one being processed
    if planned is not None:
        planned(list(waiting))
    if waiting:
        # Never a library of two configurations: the processor must be the one the library was built with.
        check_config(library, processor.config, processor.clip.name if processor.clip is not None else None)
        notify("start", waiting[0])

    def each(outcome: VideoOutcome) -> None:
        path, iv = outcome.job.path, outcome.video
        waiting.remove(path)
        if iv is None:
            report.failed.append((path, outcome.error or "failed"))
            notify("fail", path)
        else:
            report.indexed.append(path)
            report.warnings.extend((path, w) for w in iv.warnings)
            report.media_seconds += iv.info.duration
            for name, secs in iv.stage_seconds.items():
                report.stage_seconds[name] = report.stage_seconds.get(name, 0.0) + secs
            notify("done", path)
        if waiting:
            notify("start", waiting[0])

    writer.store_all(InProcessRunner(processor, ChannelLayout.from_dict(library.layout)).run(todo), each)
    if writer.changes:
        writer.finish()
    report.wall_seconds = time.perf_counter() - t_start
    return report


#: Library setting: "1" keeps recurring intros and outros (no library-level removal).
KEEP_BUMPERS = KEEP_BUMPERS_SETTING


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


@dataclass
class Removal:
    """What :func:`remove_videos` did: each video removed, as it was named and by its path, and
    the names that matched no video."""

    removed: list[tuple[str, Path]] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


def find_video(library: Library, ref: str | Path) -> VideoRow | None:
    """The video ``ref`` names: a path as indexed (given as is or relative to here), else the id
    that ``vidsearch info`` shows. A path wins over an id, so a file named ``12`` is that file."""
    row = next((found for form in indexed_forms(ref) if (found := library.lookup(form)) is not None), None)
    text = os.fsdecode(ref)
    if row is None and text.isascii() and text.isdigit():
        row = library.video(int(text))
    return row


def remove_videos(library: Library, refs: Iterable[str | Path]) -> Removal:
    """Remove the videos ``refs`` name (paths or ids, see :func:`find_video`; the files are not
    touched), then find the library's bumpers again. The caller commits."""
    done = Removal()
    for ref in refs:
        row = find_video(library, ref)
        if row is not None and library.delete_video(row.path):
            done.removed.append((os.fsdecode(ref), row.path))
        else:
            done.not_found.append(os.fsdecode(ref))
    if done.removed:
        refresh_bumpers(library)
    return done


def index_again(library: Library, paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Index videos again from their files after a repair lost their segments or vectors, as the
    library was built (its profile); returns (indexed again, lost: one line each) and commits.

    A video that cannot be read now is kept as a failed video, never deleted: its disk may only
    be unmounted. Its size is recorded as -1, so the next index or reindex that finds the file
    tries it again.
    """
    from vidsearch.ingest import processor as processor_module  # looked up now: tests swap the class
    from vidsearch.ingest.profile import library_profile

    processor = processor_module.VideoProcessor(library_profile(library).config())
    with processor:  # its worker threads end here; repair goes on with the library
        report = index_paths(library, paths, processor, reprocess=True)
    lost: list[str] = []
    for path, reason in report.failed:
        row = library.lookup(path)
        if row is not None and row.status == "indexed":  # still without its vectors
            library.record_failure(path, f"lost its vectors in a repair; could not be read again: {reason}",
                                   size=-1, mtime_ns=row.mtime_ns)
        lost.append(f"{os.fsdecode(path)}: could not be indexed again ({reason}); kept as a failed video "
                    "(`vidsearch info` lists it): index or reindex it when its file is back")
    library.commit()
    return report.indexed, lost
