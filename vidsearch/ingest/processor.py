"""The per-video stage: a pure function from a file's content to segments and vectors.

``VideoProcessor.process`` runs probe -> single downscaled decode (scenes, keyframes, frame
stats) -> audio -> trims -> transcript -> segments -> channel vectors, timing each stage.
It holds the models, loaded once, so batch jobs create one per worker.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vidsearch.channels import frame_text as visual
from vidsearch.channels import registry
from vidsearch.channels.fusion import ChannelLayout
from vidsearch.fsutil import file_blake2b
from vidsearch.ingest.config import PipelineConfig
from vidsearch.ingest.segments import MIN_SEGMENT_S, build_segments
from vidsearch.media import audio as audio_mod
from vidsearch.media.frames import decode_frames, encode_jpeg
from vidsearch.media.probe import probe
from vidsearch.media.scenes import FrameSampler, SceneCutter, pick_keyframes, pick_text_frames
from vidsearch.media.signature import SignatureBuilder, VisualSignature
from vidsearch.media.trim import FrameStats, make_fingerprint, video_trims
from vidsearch.models.holder import LoadOnce
from vidsearch.models.resolve import Unavailable
from vidsearch.models.text_encoders import TextEncoder, get_text_encoder
from vidsearch.models.whisper import Transcriber, parse_languages
from vidsearch.text.clock import clock, length
from vidsearch.types import (
    AudioAnalysis,
    AudioTrack,
    Fingerprint,
    IndexedVideo,
    OcrLine,
    Scene,
    Span,
    Transcript,
    VideoError,
    VideoInfo,
)

if TYPE_CHECKING:
    from vidsearch.models.clip import ClipEncoder
    from vidsearch.models.ocr import OcrReader
    from vidsearch.models.tagger import ImageNetTagger
    from vidsearch.text.clean import CleaningRules
    from vidsearch.text.labels import ImageNetLabel


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
    ocr_lines: list[OcrLine] = field(default_factory=list)
    visual_signature: VisualSignature | None = None
    promo_lines: list[OcrLine] = field(default_factory=list)


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
    return file_blake2b(path, 20, chunk)


def as_video_error(path: Path, exc: Exception) -> VideoError:
    """The one-line VideoError for a file whose per-video stage raised ``exc``."""
    if isinstance(exc, VideoError):
        return exc
    if isinstance(exc, OSError):  # deleted, unreadable or vanished while we worked
        return VideoError(path, f"cannot read file: {exc.strerror or exc}")
    # A decoder or model failing on odd input: this file only.
    return VideoError(path, f"failed while indexing ({type(exc).__name__}: {exc})".splitlines()[0])


class VideoProcessor:
    """The per-video stage: ``process(path)``. Orchestrates the media steps and the models, each
    held in a :class:`~vidsearch.models.holder.LoadOnce` (loaded on first use, once); ``close()``
    (or ``with``) ends its worker threads."""

    def __init__(self, config: PipelineConfig | None = None, *, clip_encoder: ClipEncoder | None = None,
                 text_encoder: TextEncoder | None = None):
        """``clip_encoder``/``text_encoder`` share ready models (a searcher's, or a test's);
        otherwise ``config.clip`` and ``config.text_encoder`` are loaded on first use."""
        self._config = config or PipelineConfig()
        parse_languages(self._config.languages)  # an unknown code fails here, not mid-indexing
        #: Why a configured channel is off (shown once by the CLI), e.g. CLIP weights missing offline.
        self.notes: list[str] = []
        # prepare() runs in a thread: the optional models share one lock, so one loads at a time.
        shared = threading.RLock()
        self._text: LoadOnce[TextEncoder] = (
            LoadOnce.ready(text_encoder) if text_encoder is not None
            else LoadOnce(lambda: get_text_encoder(self._config.text_encoder)))
        self._transcriber: LoadOnce[Transcriber] = LoadOnce(self._load_transcriber)
        self._clip: LoadOnce[ClipEncoder | None] = (
            LoadOnce.ready(clip_encoder) if clip_encoder is not None
            else LoadOnce(self._load_clip, lock=shared, on_unavailable=self._note("visual channel off")))
        self._tagger: LoadOnce[tuple[ImageNetTagger, list[ImageNetLabel]] | None] = LoadOnce(
            self._load_tagger, lock=shared, on_unavailable=self._note("ImageNet tags off"))
        self._ocr: LoadOnce[tuple[OcrReader, CleaningRules] | None] = LoadOnce(
            self._load_ocr, lock=shared, on_unavailable=self._note("on-screen text off"))
        self._zero_shot: LoadOnce[dict[str, str]] = LoadOnce(self._load_zero_shot_vocabulary)
        # The visual pass runs beside the audio pass: PyAV/OpenCV release the GIL and the
        # audio side leaves a core partly idle (measured: -25% wall per video on 2 cores).
        # Both pools start on first use, and again after close().
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._pools_lock = threading.Lock()

    # ---- models ---------------------------------------------------------------------------

    def _note(self, what: str) -> Callable[[Unavailable], None]:
        return lambda exc: self.notes.append(f"{what}: {exc}")

    def _load_transcriber(self) -> Transcriber:
        return Transcriber(self._config.whisper_model, music_suppression=self._config.music_suppression,
                           cpu_threads=self._config.threads, languages=parse_languages(self._config.languages))

    def _load_clip(self) -> ClipEncoder | None:
        if not (self._config.clip or self._config.clip_checkpoint):
            return None
        from vidsearch.models.clip import configured_clip

        return configured_clip(self._config.clip, self._config.clip_checkpoint, threads=self._config.threads)

    def _load_tagger(self) -> tuple[ImageNetTagger, list[ImageNetLabel]] | None:
        if not self._config.tags:
            return None
        from vidsearch.models.tagger import ImageNetTagger
        from vidsearch.text.labels import load_imagenet_labels

        return ImageNetTagger(threads=self._config.threads or None), load_imagenet_labels()

    def _load_ocr(self) -> tuple[OcrReader, CleaningRules] | None:
        if not self._config.ocr:
            return None
        from vidsearch.models.ocr import OcrReader
        from vidsearch.text.clean import load_rules

        return OcrReader(threads=self._config.threads or None), load_rules(self._config.ocr_rules)

    def _load_zero_shot_vocabulary(self) -> dict[str, str]:
        from vidsearch.models.clip import load_vocabulary

        return {v["en"]: v.get("zh", "") for v in load_vocabulary(self._config.tag_vocabulary)}

    @property
    def config(self) -> PipelineConfig:
        """The settings this processor runs with: the ones given, with tags or OCR off once their
        model proved unavailable here (what batch workers are handed; the given object is never
        changed)."""
        tags_lost, ocr_lost = self._tagger.error is not None, self._ocr.error is not None
        if not (tags_lost or ocr_lost):
            return self._config
        return dataclasses.replace(self._config, tags=self._config.tags and not tags_lost,
                                   ocr=self._config.ocr and not ocr_lost)

    @property
    def text_encoder(self) -> TextEncoder:
        return self._text.get()

    @property
    def transcriber(self) -> Transcriber:
        return self._transcriber.get()

    @property
    def clip(self) -> ClipEncoder | None:
        """The CLIP frame encoder, or None when not configured or its weights are not available."""
        return self._clip.get(missing_ok=True)

    @property
    def tagger(self) -> ImageNetTagger | None:
        """The bundled ImageNet tagger, or None when tags are off/unavailable."""
        loaded = self._tagger.get(missing_ok=True)
        return loaded[0] if loaded is not None else None

    @property
    def ocr_reader(self) -> OcrReader | None:
        """The OCR reader, or None when OCR is off or not installed."""
        loaded = self._ocr.get(missing_ok=True)
        return loaded[0] if loaded is not None else None

    # ---- worker threads -------------------------------------------------------------------

    def _pool(self, name: str) -> ThreadPoolExecutor:
        """The one-thread pool ``name`` ("visual" or "prepare"), started on first use."""
        with self._pools_lock:
            pool = self._pools.get(name)
            if pool is None:
                pool = self._pools[name] = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"vidsearch-{name}", initializer=_lower_thread_priority)
            return pool

    def close(self) -> None:
        """End the worker threads: a prepared-ahead video not yet started is dropped, one under
        way is waited for. The models stay loaded, and the processor may be used again (its
        threads then start anew)."""
        # A prepare() under way hands its visual pass to the visual pool (starting it if need
        # be): let the preparing end first, then the visual pool it used.
        for name in ("prepare", "visual"):
            with self._pools_lock:
                pool = self._pools.pop(name, None)
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> VideoProcessor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def layout(self) -> ChannelLayout:
        """The fused layout this processor produces: every registered channel its models make
        live (visual joins when CLIP is)."""
        widths = {c.name: w for c in registry.channels() if (w := c.width(self)) is not None}
        return ChannelLayout.from_dict(widths)

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
            current = nxt if nxt is not None else self._pool("prepare").submit(self.prepare, path)
            nxt = self._pool("prepare").submit(self.prepare, paths[i + 1]) if i + 1 < len(paths) else None
            try:
                yield path, self.finish(current.result())
            except Exception as exc:
                yield path, as_video_error(path, exc)

    def try_process(self, path: Path) -> IndexedVideo | VideoError:
        """``process``, with any failure of this one file returned as its VideoError."""
        try:
            return self.process(path)
        except Exception as exc:
            return as_video_error(path, exc)

    def prepare(self, path: Path) -> PreparedVideo:
        """First half of the stage: probe, one downscaled decode (scenes, keyframe candidates,
        frame signatures) beside the audio decode and analysis; then per-video trims."""
        timings: dict[str, float] = {}
        stage = _stage_timer(timings)
        path = Path(path)
        with stage("probe"):
            info = probe(path)
            digest = content_hash(path)

        ocr = self._ocr.get(missing_ok=True)
        reader, rules = ocr if ocr is not None else (None, None)
        detail_side = None
        if reader is not None:
            from vidsearch.models.ocr import OCR_SIDE

            detail_side = OCR_SIDE

        def visual_pass():
            with stage("decode+scenes"):
                cutter = SceneCutter(info.fps, self.config.scene)
                sampler = FrameSampler(self.config.keyframe_fps)
                stats = FrameStats()
                signature = SignatureBuilder()
                for frame in decode_frames(info, detail_side=detail_side):
                    cutter.feed(frame)
                    sampler.feed(frame)
                    stats.feed(frame)
                    signature.feed(frame)
                # The container's duration can exceed the last decodable frame (truncated files).
                pictures_end = min(info.duration, stats.times[-1] + 1.0 / info.fps) if stats.times else info.duration
                return cutter, sampler, stats, pictures_end, signature

        visual_job = self._pool("visual").submit(visual_pass)
        try:
            with stage("audio"):
                track = audio_mod.load_audio(path, info)
                analysis = audio_mod.analyse(track) if track is not None else None
        finally:
            # Always collect the visual result (and its VideoError, which wins: no picture, no video).
            cutter, sampler, stats, pictures_end, builder = visual_job.result()
        # A picture track may end before the sound does (a still cover over a talk, a short clip
        # under a long song): the video lasts while either is decodable, its last frame held.
        sound_end = min(info.duration, track.duration) if track is not None else 0.0
        duration = max(pictures_end, sound_end)
        with stage("decode+scenes"):
            scenes, signature = cutter.scenes(duration), builder.finish(duration)
        warnings = []
        if duration < info.duration - max(1.0, 0.05 * info.duration):
            warnings.append(f"truncated: only {length(duration)} of {length(info.duration)} could be decoded; "
                            "indexed that part")
            info = dataclasses.replace(info, duration=duration)  # the length kept is the length indexed
        with stage("trim"):
            removed = video_trims(stats, analysis, duration)
            fingerprint = make_fingerprint(stats, track, duration)
        ocr_lines: list[OcrLine] = []
        promo_lines: list[OcrLine] = []
        if reader is not None:
            with stage("ocr"):
                # Still heads and tails are read too: one that shows text (a title card, a
                # closing slide) is content, not padding.
                black = [s for s in removed if not s.kind.startswith("frozen")]
                for scene in visual.ocr_scenes(scenes, black):
                    frames = pick_text_frames(sampler, scene.start, scene.end)
                    lines = reader.read_frames(frames, rules=rules, promo=promo_lines)
                    ocr_lines.extend(visual.widen_to_scene(lines, scene, [t for t, _ in frames]))
            sampler.details.clear()  # the larger frames were only kept for this
            removed = [s for s in removed if not (s.kind.startswith("frozen") and visual.shows_own_text(ocr_lines, s))]
        return PreparedVideo(info, digest, duration, scenes, sampler, track, analysis, removed, fingerprint,
                             timings, warnings, ocr_lines, signature, promo_lines)

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
            if not segments:  # it would be indexed with nothing to find: a failure, with why
                kinds = ", ".join(sorted({s.kind for s in prep.removed if s.kind})) or "trimmed"
                raise VideoError(prep.info.path, f"nothing to index: removing {kinds} from its {prep.duration:.1f} s "
                                                 f"leaves no piece of {MIN_SEGMENT_S} s or more")
            for seg in segments:
                seg.keyframes = pick_keyframes(prep.sampler, seg.start, seg.end)
                if seg.keyframes:
                    seg.thumbnail_jpeg = encode_jpeg(seg.keyframes[0].image)
                seg.ocr_lines = visual.lines_in(prep.ocr_lines, seg.start, seg.end)
                seg.ocr_text = " ".join(dict.fromkeys(ln.text for ln in seg.ocr_lines))
        tag_words = self._imagenet_tags(prep.sampler, segments, stage)
        frame_vectors = self._clip_vectors(segments, tag_words, stage)
        for seg, words in zip(segments, tag_words):
            seg.tags = words
        with stage("encode"):
            batch = registry.SegmentBatch(segments, self.text_encoder, prep.analysis, frame_vectors)
            for channel in registry.channels():
                for seg, v in zip(segments, channel.encode(batch)):
                    if v is not None:
                        seg.vectors[channel.name] = v
        return IndexedVideo(
            info=prep.info,
            content_hash=prep.content_hash,
            segments=segments,
            removed=prep.removed,
            scenes=prep.scenes,
            transcript=transcript,
            fingerprint=prep.fingerprint,
            ocr_lines=prep.ocr_lines,
            promo_lines=sorted(prep.promo_lines, key=lambda ln: ln.start),
            visual_signature=prep.visual_signature,
            stage_seconds=timings,
            warnings=[*prep.warnings, *self._language_warnings(transcript)],
        )

    def _language_warnings(self, transcript: Transcript) -> list[str]:
        """One warning when spoken lines fit none of the expected languages (Whisper found the
        language each was transcribed in unlikely): they are probably garbled, and ``--language``
        names the language to expect, or ``auto`` lets Whisper pick."""
        unsure = [u for u in transcript.utterances if u.language_unsure]
        if not unsure:
            return []
        expected = ", ".join(parse_languages(self.config.languages))
        n, total = len(unsure), len(transcript.utterances)
        return [f"{n} of {total} spoken line{'' if total == 1 else 's'} fit{'s' if n == 1 else ''} none of the "
                f"expected languages ({expected}), the first at {clock(unsure[0].start)}: transcribed as "
                f"{unsure[0].language}, probably garbled; --language names the languages to expect "
                "('auto': any)"]

    def _imagenet_tags(self, sampler: FrameSampler, segments: list, stage) -> list[list[str]]:
        """Tag words per segment from the bundled classifier (empty lists when tags are off)."""
        tag_words: list[list[str]] = [[] for _ in segments]
        loaded = self._tagger.get(missing_ok=True)
        if not segments or loaded is None:
            return tag_words
        tagger, labels = loaded
        with stage("tags"):
            # More frames than the keyframes (one every 2 s): a subject seen well on one frame
            # is enough, and the classifier is cheap next to CLIP.
            per_seg = [pick_keyframes(sampler, seg.start, seg.end, seconds_per_keyframe=2.0, max_keyframes=8)
                       for seg in segments]
            images = [k.image for ks in per_seg for k in ks]
            if not images:
                return tag_words
            probs = tagger.probabilities(images)
            pos = 0
            for i, ks in enumerate(per_seg):
                tag_words[i] = visual.imagenet_tag_words(probs[pos:pos + len(ks)], labels, self._config.tag)
                pos += len(ks)
        return tag_words

    def _clip_vectors(self, segments: list, tag_words: list[list[str]], stage) -> list[np.ndarray | None] | None:
        """Each segment's keyframe CLIP vectors (the ``visual`` channel's input; None when CLIP
        is off) and, added to ``tag_words``, their zero-shot tags."""
        clip = self.clip
        images = [k.image for seg in segments for k in seg.keyframes]
        if clip is None:
            return None
        per_segment: list[np.ndarray | None] = [None] * len(segments)
        if not images:
            return per_segment
        owner = np.array([i for i, seg in enumerate(segments) for _ in seg.keyframes])
        with stage("clip"):
            frame_vecs = clip.encode_images(images)
            tags_on = self.config.tags  # off too when the ImageNet tagger proved unavailable
            vocab_zh = self._zero_shot.get() if tags_on else {}
            zero_shot = clip.zero_shot_tags(
                frame_vecs, list(vocab_zh), top_k=self._config.tag.zero_shot_top_k,
                min_prob=self._config.tag.zero_shot_min_prob) if tags_on else []
            for i in range(len(segments)):
                rows = np.flatnonzero(owner == i)
                if not len(rows):
                    continue
                per_segment[i] = frame_vecs[rows]
                if zero_shot:
                    extra = visual.zero_shot_words([zero_shot[j] for j in rows], vocab_zh)
                    tag_words[i] += [w for w in extra if w not in tag_words[i]]
        return per_segment

    def fused_vectors(self, iv: IndexedVideo, layout: ChannelLayout | None = None) -> np.ndarray:
        """(n_segments, layout.dim) float32 stored vectors (default: this processor's layout;
        pass the library's when it differs, e.g. a library built without CLIP)."""
        layout = layout or self.layout
        if not iv.segments:
            return np.zeros((0, layout.dim), dtype=np.float32)
        return np.stack([layout.fuse(s.vectors) for s in iv.segments])

    def utterance_vectors(self, iv: IndexedVideo) -> np.ndarray | None:
        """Per-utterance passage vectors, used at query time to pick where to jump."""
        texts = [u.text for u in iv.transcript.utterances]
        return self.text_encoder.encode_passages(texts) if texts else None

    def ocr_line_vectors(self, iv: IndexedVideo) -> np.ndarray | None:
        """Per-line passage vectors of the on-screen text, used at query time to pick where to jump."""
        texts = [line.text for line in iv.ocr_lines]
        return self.text_encoder.encode_passages(texts) if texts else None
