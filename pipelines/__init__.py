"""Batch jobs over a whole library, built on the per-video stage (``vidsearch.pipeline``).

The reindex job is split the way the data flows:

- :mod:`pipelines.plan` (reader): compare a folder with the library -> what to add, redo,
  rename, remove or leave alone;
- :mod:`pipelines.runners` (mapper): run the per-video stage over the files to (re)do, in this
  process, in a pool of worker processes, or as Ray actors;
- :mod:`pipelines.reindex` (writer + runner): apply the plan through the library's single
  writer, committing in batches, and report.
"""
from .plan import ReindexPlan, plan_reindex
from .reindex import ReindexReport, reindex
from .runners import ENGINES, Runner, VideoJob, VideoOutcome, make_runner

__all__ = ["ENGINES", "ReindexPlan", "ReindexReport", "Runner", "VideoJob", "VideoOutcome",
           "make_runner", "plan_reindex", "reindex"]
