"""Run the per-video stage over many files: in this process, in worker processes, or on Ray.

Every runner takes :class:`VideoJob` s and yields one :class:`VideoOutcome` per job, in the
order they finish. The work is :func:`run_job`: a pure function of the file's content (plus
the models, loaded once per worker), so where it runs changes nothing in the result. Only the
caller writes to the library.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vidsearch.channels.fusion import ChannelLayout
from vidsearch.ingest.config import PipelineConfig
from vidsearch.ingest.processor import VideoProcessor
from vidsearch.types import IndexedVideo, VideoError

ENGINES = ("local", "ray")
_NO_IMAGE = np.zeros((0, 0, 3), dtype=np.uint8)


class RunnerError(RuntimeError):
    """The batch cannot go on (a worker cannot load its models, Ray is missing...): one line."""


@dataclass(frozen=True)
class VideoJob:
    """One file to (re)index, with the size and mtime it had when the job was planned."""

    path: Path
    size: int
    mtime_ns: int


@dataclass
class VideoOutcome:
    """The per-video stage's result for one job: the video and its vectors, or why it failed."""

    job: VideoJob
    video: IndexedVideo | None = None
    fused: np.ndarray | None = None
    utterance_vectors: np.ndarray | None = None
    ocr_vectors: np.ndarray | None = None
    error: str | None = None
    seconds: float = 0.0  # wall time in the worker


def run_job(processor: VideoProcessor, layout: ChannelLayout, job: VideoJob) -> VideoOutcome:
    """The per-video stage plus the library's vectors for one file; never raises for the file."""
    t0 = time.perf_counter()
    result = processor.try_process(job.path)
    if isinstance(result, VideoError):
        return VideoOutcome(job, error=result.reason, seconds=time.perf_counter() - t0)
    return finish_outcome(processor, layout, job, result, t0)


def finish_outcome(processor: VideoProcessor, layout: ChannelLayout, job: VideoJob, video: IndexedVideo,
                   t0: float) -> VideoOutcome:
    """Compute the stored vectors and drop what the store does not keep (keyframe pixels), so
    that less crosses the process boundary."""
    fused = processor.fused_vectors(video, layout)
    utts = processor.utterance_vectors(video)
    ocr = processor.ocr_line_vectors(video)
    for seg in video.segments:
        seg.keyframes = [dataclasses.replace(k, image=_NO_IMAGE) for k in seg.keyframes]
    return VideoOutcome(job, video, fused, utts, ocr, seconds=time.perf_counter() - t0)


class Runner(Protocol):
    """Where the per-video stage runs. Use as a context manager; ``run`` yields in finish order."""

    name: str
    workers: int

    def run(self, jobs: Iterable[VideoJob]) -> Iterator[VideoOutcome]: ...

    def close(self) -> None: ...

    def __enter__(self) -> "Runner": ...

    def __exit__(self, *exc: object) -> None: ...


class _RunnerBase:
    name = "?"
    workers = 1

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessRunner(_RunnerBase):
    """One worker: this process, with the next file decoded while the current one is transcribed."""

    name = "local"

    def __init__(self, processor: VideoProcessor, layout: ChannelLayout, *, owns: bool = False):
        """``owns``: the runner made ``processor`` and closes it with itself (its threads end);
        a caller's processor is left to the caller."""
        self.processor, self.layout = processor, layout
        self._owns = owns

    def close(self) -> None:
        """End the worker threads of a processor this runner made."""
        if self._owns:
            self.processor.close()

    def run(self, jobs: Iterable[VideoJob]) -> Iterator[VideoOutcome]:
        jobs = list(jobs)
        by_path = {job.path: job for job in jobs}
        t0 = time.perf_counter()
        for path, result in self.processor.process_many([job.path for job in jobs]):
            job = by_path[path]
            if isinstance(result, VideoError):
                yield VideoOutcome(job, error=result.reason, seconds=time.perf_counter() - t0)
            else:
                yield finish_outcome(self.processor, self.layout, job, result, t0)
            t0 = time.perf_counter()


# ---- worker processes -------------------------------------------------------------------------

_worker: tuple[VideoProcessor, ChannelLayout] | None = None


def _die_with_parent() -> None:
    """Linux: a worker is killed with its parent (kill -9 of the batch leaves no orphans)."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _init_worker(config: PipelineConfig, layout: dict[str, int], parent: int) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    global _worker
    _worker = (VideoProcessor(config), ChannelLayout.from_dict(layout))


def check_layout(processor: VideoProcessor, layout: ChannelLayout) -> None:
    """A worker must produce the library's vector layout (e.g. the same CLIP must be loadable)."""
    have = processor.layout.as_dict()
    if have != layout.as_dict():
        notes = "; ".join(processor.notes)
        raise RunnerError(f"a worker builds vectors {have} but the library has {layout.as_dict()}"
                          + (f" ({notes})" if notes else ""))


def _worker_job(job: VideoJob) -> VideoOutcome:
    assert _worker is not None, "worker not initialised"
    processor, layout = _worker
    check_layout(processor, layout)
    return run_job(processor, layout, job)


class ProcessPoolRunner(_RunnerBase):
    """N worker processes (spawned, so no model state is shared by fork), each loading the models
    once and running one video at a time with ``threads`` CPU threads per model."""

    name = "local"

    def __init__(self, config: PipelineConfig, layout: ChannelLayout, workers: int):
        self.workers = max(1, int(workers))
        self.config = dataclasses.replace(config, threads=config.threads or max(1, (os.cpu_count() or 1) // self.workers))
        self.layout = layout
        self._pool: ProcessPoolExecutor | None = None

    def _start(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.config, self.layout.as_dict(), os.getpid()))
        return self._pool

    def run(self, jobs: Iterable[VideoJob]) -> Iterator[VideoOutcome]:
        todo = deque(jobs)
        suspects: deque[VideoJob] = deque()  # in flight when a worker died: retried one at a time
        pool = self._pool or self._start()
        running: dict[Future, tuple[VideoJob, bool]] = {}  # future -> (job, running alone)
        while todo or suspects or running:
            if suspects:
                if not running:
                    job = suspects.popleft()
                    running[pool.submit(_worker_job, job)] = (job, True)
            else:
                while todo and len(running) < 2 * self.workers:  # a short queue: a kill wastes little
                    job = todo.popleft()
                    running[pool.submit(_worker_job, job)] = (job, False)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                job, alone = running.pop(fut)
                try:
                    outcome = fut.result()
                except BrokenProcessPool:
                    broken = True
                    if alone:  # it took the worker down on its own: this file is the cause
                        yield VideoOutcome(job, error="a worker process died while indexing this file "
                                                      "(crashed or ran out of memory)")
                    else:
                        suspects.append(job)
                    continue
                yield outcome
            if broken:
                suspects.extend(job for job, _ in running.values())
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = self._start()

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers: after their current video, or at once with ``kill`` (Ctrl-C)."""
        if self._pool is not None:
            if kill:
                # ProcessPoolExecutor has no public way to stop a running task before 3.14.
                for proc in list(getattr(self._pool, "_processes", {}).values()):
                    proc.kill()
            self._pool.shutdown(wait=not kill, cancel_futures=True)
            self._pool = None

    def __exit__(self, *exc: object) -> None:
        # Leaving on an exception (Ctrl-C among them) stops the workers at once.
        self.close(kill=bool(exc) and exc[0] is not None)


# ---- Ray ----------------------------------------------------------------------------------------

class RayVideoWorker:
    """A Ray actor: one VideoProcessor, models loaded once, one video per call."""

    def __init__(self, config: PipelineConfig, layout: dict[str, int]):
        self.processor = VideoProcessor(config)
        self.layout = ChannelLayout.from_dict(layout)
        check_layout(self.processor, self.layout)

    def process(self, job: VideoJob) -> VideoOutcome:
        return run_job(self.processor, self.layout, job)


class RayRunner(_RunnerBase):
    """The same stage as Ray actors: a local Ray instance by default, or a cluster at ``address``
    (``ray://host:10001`` or ``auto``; ``RAY_ADDRESS`` works too). Every node needs vidsearch
    installed and the library folder at the same path (shared storage)."""

    name = "ray"

    def __init__(self, config: PipelineConfig, layout: ChannelLayout, workers: int, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise RunnerError("--engine ray needs Ray: pip install 'vidsearch[ray]'") from None
        self.ray = ray
        self.workers = max(1, int(workers))
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        threads = config.threads or max(1, (os.cpu_count() or 1) // self.workers)
        self.config = dataclasses.replace(config, threads=threads)
        self.layout = layout
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                                          configure_logging=True)
            try:
                if self.address:
                    ray.init(address=self.address, **kwargs)
                else:
                    ray.init(num_cpus=max(os.cpu_count() or 1, self.workers * threads), **kwargs)
            except Exception as exc:  # no cluster at that address, port taken...
                raise RunnerError(f"cannot start Ray{' at ' + self.address if self.address else ''}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
            self._started = True
        self._actor_cls = ray.remote(num_cpus=threads, max_restarts=0)(RayVideoWorker)
        self._actors = [self._new_actor() for _ in range(self.workers)]

    def _new_actor(self):
        return self._actor_cls.remote(self.config, self.layout.as_dict())

    def run(self, jobs: Iterable[VideoJob]) -> Iterator[VideoOutcome]:
        ray = self.ray
        todo = deque(jobs)
        idle = list(self._actors)
        running: dict = {}  # object ref -> (actor, job)
        while todo or running:
            while todo and idle:
                actor, job = idle.pop(), todo.popleft()
                running[actor.process.remote(job)] = (actor, job)
            ready, _ = ray.wait(list(running), num_returns=1)
            ref = ready[0]
            actor, job = running.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayActorError as exc:
                cause = _actor_init_error(exc)
                if cause is not None:
                    raise RunnerError(cause) from None
                self._actors.remove(actor)
                actor = self._new_actor()  # a crashed worker is replaced; the file is recorded
                self._actors.append(actor)
                outcome = VideoOutcome(job, error="a Ray worker died while indexing this file "
                                                  "(crashed or ran out of memory)")
            except ray.exceptions.RayTaskError as exc:
                outcome = VideoOutcome(job, error=f"failed while indexing ({str(exc).splitlines()[0]})")
            idle.append(actor)
            yield outcome

    def close(self) -> None:
        for actor in getattr(self, "_actors", []):
            self.ray.kill(actor)
        self._actors = []
        if self._started:
            self.ray.shutdown()
            self._started = False


def _actor_init_error(exc: Exception) -> str | None:
    """The RunnerError message when an actor died in its constructor (e.g. a layout mismatch)."""
    text = str(exc)
    marker = "RunnerError: "
    if marker in text:
        return text[text.index(marker) + len(marker):].splitlines()[0]
    return None


def make_runner(engine: str, workers: int, *, config: PipelineConfig, layout: ChannelLayout,
                processor: VideoProcessor | None = None, address: str | None = None) -> Runner:
    """``local`` with one worker runs in this process (reusing ``processor``); ``local`` with more
    runs a process pool; ``ray`` runs Ray actors (local instance, or the cluster at ``address``)."""
    if engine == "ray":
        return RayRunner(config, layout, workers, address)
    if engine != "local":
        raise RunnerError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if workers <= 1:
        if processor is not None:
            return InProcessRunner(processor, layout)
        return InProcessRunner(VideoProcessor(config), layout, owns=True)
    return ProcessPoolRunner(config, layout, workers)
