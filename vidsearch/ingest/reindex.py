"""Apply a reindex plan through the library's single writer, committing in batches.

Why a kill at any moment loses at most one batch: see :mod:`vidsearch.ingest.indexer`.
"""
from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.ingest.indexer import LibraryWriter
from vidsearch.ingest.plan import ReindexPlan, plan_reindex
from vidsearch.ingest.runners import Runner, VideoOutcome
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
    plan: ReindexPlan | Path | str,
    runner: Runner,
    *,
    retry_failed: bool = False,
    allow_empty: bool = False,
    progress: ProgressFn | None = None,
    commit_every: int = 8,
    commit_seconds: float = 60.0,
) -> ReindexReport:
    """Bring ``library`` (a writer) in line with a folder, or carry out a ``plan`` that
    :func:`vidsearch.ingest.plan.plan_reindex` made for one (with its own ``retry_failed`` and
    ``allow_empty``), running the per-video stage on ``runner``.

    A folder below the root that is missing, empty or unreadable keeps its videos unless
    ``allow_empty``; a root with no video at all while the library holds some from it raises
    :class:`vidsearch.ingest.plan.EmptiedFolderError` before anything is written. Renames,
    removals and new mtimes commit first, processed files go in through one
    :class:`vidsearch.ingest.indexer.LibraryWriter`; a failing file never stops the batch.
    """
    t_start = time.perf_counter()
    if not isinstance(plan, ReindexPlan):
        plan = plan_reindex(library, plan, retry_failed=retry_failed, allow_missing=allow_empty)
    elif retry_failed or allow_empty:
        raise TypeError("reindex: retry_failed and allow_empty apply to a folder; pass them to plan_reindex")
    plan.refuse_emptied()
    report = ReindexReport(engine=runner.name, workers=runner.workers, unchanged=len(plan.unchanged))
    report.failed_unchanged = [(f.path, reason) for f, reason in plan.failed_unchanged]
    report.failed.extend(plan.unreadable)
    writer = LibraryWriter(library, commit_every=commit_every, commit_seconds=commit_seconds)
    report.renamed, report.removed = writer.apply_cheap(plan)
    report.touched = [f.path for _, f in plan.touched]

    new_paths = {f.path for f in plan.new}
    jobs, done = plan.to_process, itertools.count(1)

    def each(outcome: VideoOutcome) -> None:
        job, iv = outcome.job, outcome.video
        if iv is None:
            report.failed.append((job.path, outcome.error or "failed"))
        else:
            (report.added if job.path in new_paths else report.updated).append(job.path)
            report.warnings.extend((job.path, w) for w in iv.warnings)
            report.media_seconds += iv.info.duration
        if progress is not None:
            progress(next(done), len(jobs), outcome)

    writer.store_all(runner.run(jobs), each)
    # Always: a run killed after its last file but before this still leaves the next run to do it.
    writer.finish()
    report.commits = writer.commits
    report.wall_seconds = time.perf_counter() - t_start
    return report
