"""How long an index or reindex has left, counted in seconds of video rather than in files.

Files differ by far more than their count says (a 10 s clip beside a 20 min lecture), and the
per-video stage costs roughly in proportion to the seconds it decodes and transcribes. The files
to process are measured with a header-only ffprobe in a background thread while the work starts
(tens of ms a file against seconds of processing), so the first file is not kept waiting; until a
file is measured it counts as the mean of those that are.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from vidsearch.media.probe import media_duration


class VideoSecondsLeft:
    """Seconds of video to process and processed, and the time left at the rate seen so far."""

    def __init__(self, paths: Sequence[Path], *, measure: Callable[[Path], float | None] = media_duration,
                 background: bool = True) -> None:
        """``paths`` in the order they will be processed; ``measure`` gives a file's seconds (None:
        unreadable, counted as 0). ``background=False`` measures them all before returning."""
        self._paths = list(dict.fromkeys(paths))
        self._measure = measure
        self._seconds: dict[Path, float] = {}
        self._finished: set[Path] = set()
        self._done = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._measure_all, name="measure-videos", daemon=True)
            self._thread.start()
        else:
            self._measure_all()

    def _measure_all(self) -> None:
        for path in self._paths:
            if self._stop.is_set():
                return
            with self._lock:
                if path in self._seconds:
                    continue
            seconds = self._measure(path) or 0.0
            with self._lock:
                self._seconds.setdefault(path, seconds)

    def finished(self, path: Path, seconds: float | None = None) -> None:
        """``path`` is done: ``seconds`` of video processed (its measured length when None; 0
        for a file that failed, so it counts as time spent on no video)."""
        with self._lock:
            if path in self._finished:
                return
            self._finished.add(path)
            if seconds is None:
                seconds = self._seconds.get(path)
        if seconds is None:  # finished before the background thread measured it
            seconds = self._measure(path) or 0.0
        with self._lock:
            self._seconds[path] = seconds
            self._done += seconds

    @property
    def files(self) -> int:
        """How many files are to be processed in all."""
        return len(self._paths)

    @property
    def done(self) -> float:
        """Seconds of video processed so far."""
        return self._done

    @property
    def total(self) -> float:
        """Seconds of video in all: processed, measured, and the mean measured length for each
        file not measured yet."""
        with self._lock:
            known = [self._seconds[p] for p in self._paths if p in self._seconds]
            unknown = len(self._paths) - len(known)
            mean = sum(known) / len(known) if known else 0.0
            return sum(known) + unknown * mean

    def left(self) -> float:
        """Seconds of video still to process."""
        return max(0.0, self.total - self._done)

    def eta(self, elapsed: float) -> float | None:
        """Seconds of wall time left at the rate so far (``elapsed`` seconds for :attr:`done`
        seconds of video); None until some video is processed."""
        if self._done <= 0 or elapsed <= 0:
            return None
        return elapsed * self.left() / self._done

    def close(self) -> None:
        """Stop measuring (the work ended early)."""
        self._stop.set()
