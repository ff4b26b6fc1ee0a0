"""Apply a reindex plan through the library's single writer, committing in batches.

Crash safety comes from the store: :meth:`vidsearch.store.library.Library.commit` makes the index and
SQLite durable together, so a kill at any moment leaves the last committed batch. A rerun plans
again from what was committed (size and mtime are stored with each video), so committed work is
never redone and nothing is stored twice.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.ingest.indexer import refresh_bumpers
from vidsearch.ingest.plan import ReindexPlan
from vidsearch.ingest.runners import Runner, VideoJob, VideoOutcome
from vidsearch.store.library import Library


@dataclass
class ReindexReport:
    """What a reindex did; ``failed`` holds (path, reason) for this run's failures."""

    engine: str = "local"
    workers: int = 1
    added: list[Path] = field(default_factory=list)
    updated: list[Path] = field(default_factory=list)
    renamed: list[tuple[Path, Path]] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    touched: list[Path] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    failed_unchanged: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[tuple[Path, str]] = field(default_factory=list)
    commits: int = 0
    media_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def processed(self) -> int:
        return len(self.added) + len(self.updated) + len(self.failed)

    def to_json(self) -> dict:
        def p(path: Path) -> str:
            return os.fsdecode(path)

        minutes = self.wall_seconds / 60
        return {
            "engine": self.engine, "workers": self.workers,
            "added": [p(x) for x in self.added],
            "updated": [p(x) for x in self.updated],
            "renamed": [{"from": p(a), "to": p(b)} for a, b in self.renamed],
            "removed": [p(x) for x in self.removed],
            "touched": [p(x) for x in self.touched],
            "unchanged": self.unchanged,
            "failed": [{"path": p(x), "reason": r} for x, r in self.failed],
            "failed_unchanged": [{"path": p(x), "reason": r} for x, r in self.failed_unchanged],
            "warnings": [{"path": p(x), "warning": w} for x, w in self.warnings],
            "commits": self.commits,
            "media_seconds": round(self.media_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "videos_per_minute": round(self.processed / minutes, 2) if minutes else 0.0,
            "x_realtime": round(self.media_seconds / self.wall_seconds, 2) if self.wall_seconds else 0.0,
        }


#: ``progress(done, total, outcome)`` after each processed file.
ProgressFn = Callable[[int, int, VideoOutcome], None]


def reindex(
    library: Library,
    plan: ReindexPlan,
    runner: Runner,
    *,
    progress: ProgressFn | None = None,
    commit_every: int = 8,
    commit_seconds: float = 60.0,
) -> ReindexReport:
    """Carry out ``plan`` on ``library`` (a writer), running the per-video stage on ``runner``.

    Cheap changes (renames, removals, new mtimes) commit first; processed files are added by
    this one writer as they finish and committed every ``commit_every`` files or
    ``commit_seconds``, and spaced at least nine times the last commit's duration apart (so
    committing takes at most ~10% of the time). A failing file is recorded with its reason and
    never stops the batch.
    On Ctrl-C (or any error that stops the batch) what has finished is committed first.
    """
    t_start = time.perf_counter()
    report = ReindexReport(engine=runner.name, workers=runner.workers, unchanged=len(plan.unchanged))
    report.failed_unchanged = [(f.path, reason) for f, reason in plan.failed_unchanged]
    report.failed.extend(plan.unreadable)

    for row, f in plan.renamed:
        if library.rename_video(row.path, f.path, size=f.size, mtime_ns=f.mtime_ns):
            report.renamed.append((row.path, f.path))
        else:  # the new path was taken meanwhile: index it as a new file instead
            plan.new.append(f)
            if library.delete_video(row.path):
                report.removed.append(row.path)
    for row in plan.removed:
        if library.delete_video(row.path):
            report.removed.append(row.path)
    for row, f in plan.touched:
        library.touch(row.id, f.size, f.mtime_ns)
        report.touched.append(f.path)
    if plan.renamed or plan.removed or plan.touched:
        library.commit()
        report.commits += 1

    new_paths = {f.path for f in plan.new}
    jobs = [VideoJob(f.path, f.size, f.mtime_ns) for f in plan.to_process]
    pending, last_commit, commit_cost = 0, time.monotonic(), 0.0
    try:
        for done, outcome in enumerate(runner.run(jobs), 1):
            _store(library, outcome, report, outcome.job.path in new_paths)
            pending += 1
            since = time.monotonic() - last_commit
            # A commit rewrites the whole index file (seconds at a million segments): space them
            # so that committing never takes more than about a tenth of the time.
            if (pending >= commit_every and since >= 9 * commit_cost) or since > max(commit_seconds, 9 * commit_cost):
                t0 = time.monotonic()
                library.commit()
                commit_cost = time.monotonic() - t0
                report.commits += 1
                pending, last_commit = 0, time.monotonic()
            if progress is not None:
                progress(done, len(jobs), outcome)
    except BaseException:
        # Ctrl-C, or the runner giving up: keep what finished (each video went in whole), so
        # the rerun goes on from here.
        if not library.commit_failed:  # a commit that failed half-way is not retried
            library.commit()
        raise
    # Always: a run killed after its last file but before this still leaves the next run to do it.
    refresh_bumpers(library)
    library.commit()
    report.commits += 1
    report.wall_seconds = time.perf_counter() - t_start
    return report


def _store(library: Library, outcome: VideoOutcome, report: ReindexReport, is_new: bool) -> None:
    job = outcome.job
    if outcome.video is None:
        library.record_failure(job.path, outcome.error or "failed", size=job.size, mtime_ns=job.mtime_ns)
        report.failed.append((job.path, outcome.error or "failed"))
        return
    iv = outcome.video
    assert outcome.fused is not None  # computed together with the video
    library.add_video(iv, outcome.fused, size=job.size, mtime_ns=job.mtime_ns,
                      utterance_vectors=outcome.utterance_vectors, ocr_vectors=outcome.ocr_vectors)
    (report.added if is_new else report.updated).append(job.path)
    report.warnings.extend((job.path, w) for w in iv.warnings)
    report.media_seconds += iv.info.duration
