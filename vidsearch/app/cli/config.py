"""The command line's defaults in one place: result counts, workers, batch sizes, where `serve`
listens and what it accepts.

Commands read their option defaults from here, so a default is changed once and the help text
(which shows it) follows.
"""
from __future__ import annotations

import os

#: Results per query (`search`, `match-clip`, `eval`), and the most one may ask for.
DEFAULT_K = 10
MAX_K = 1000

#: `reindex`: where the per-video stage runs, and videos per commit (a crash loses at most one batch).
DEFAULT_ENGINE = "local"
DEFAULT_COMMIT_EVERY = 8
MAX_WORKERS = 256


def default_workers() -> int:
    """Worker processes for `reindex`: half the cores, since the per-video stage already keeps
    about two cores busy (decode beside transcription)."""
    return max(1, (os.cpu_count() or 1) // 2)


DEFAULT_WORKERS = default_workers()

#: `serve`: this machine only, on the usual development port.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: `serve`'s limits on uploads to /api/match-clip (the same as ``create_app``'s own defaults).
DEFAULT_MAX_UPLOAD_MB = 100.0
DEFAULT_MAX_CLIP_S = 120.0
DEFAULT_MAX_UPLOADS = 4
DEFAULT_UPLOAD_TIMEOUT_S = 300.0
