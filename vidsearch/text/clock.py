"""Times in a video as people read them: ``m:ss``, or ``h:mm:ss`` from an hour on.

Every human-facing line (the command line's tables and summaries, indexing warnings) writes
times this way; JSON keeps seconds as numbers.
"""
from __future__ import annotations

import math


def clock(seconds: float) -> str:
    """A time in a video as a player shows it: ``m:ss``, or ``h:mm:ss`` from an hour on.

    Rounded down, so the time shown is never after the moment: a jump to 151.97 s reads 2:31.
    """
    total = max(0, math.floor(seconds + 1e-6))  # 150.9999999 from float arithmetic is 2:31
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def span(start: float, end: float) -> str:
    """A span of a video, ``m:ss-m:ss`` (see :func:`clock`)."""
    return f"{clock(start)}-{clock(end)}"


def length(seconds: float) -> str:
    """A duration as ``m:ss`` (``h:mm:ss``), rounded to the nearest second."""
    return clock(round(seconds))
