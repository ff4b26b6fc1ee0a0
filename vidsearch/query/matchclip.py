"""Query by clip: the captions that describe an uploaded clip, and where the library shows it.

The clip goes through the same per-video stage as the library (keyframes, transcript, OCR, tags,
audio, CLIP when the library has it), so its segments carry the same channel vectors. Then:

* **source moments** — the clip's visual signature is aligned against every indexed video's
  (:mod:`vidsearch.query.copydetect`): a re-encoded, rescaled, cropped or muted cut of an indexed video
  returns that video and the second the cut starts at, first. Only the one true source is called
  "source": a video that merely looks alike (scores close, but measurably below the best) is not;
  videos that really hold the same footage (a shared intro card) tie and are all sources;
* **captions** — each clip segment meets the caption corpus channel by channel
  (:class:`vidsearch.query.captions.CaptionIndex`). A cut of an indexed video shows a moment the
  library has read already, so the source's segments are matched too (see
  :meth:`QueryVideoMatcher._evidence` for when their words count): in a 5 s cut Whisper heard
  "hide the coin under the cap and tap it twice" as "on the cup, on top it twice", in the whole
  video as "hide the coyote on the cap", near enough for the coin-under-the-cap captions. On the
  benchmark's 24 cuts: caption r@1 0.708 -> 0.792, r@5 0.917 -> 0.958, MRR 0.783 -> 0.840;
* **similar moments** — each clip segment's fused vector queries the library index, weighted by
  the same presets; these are scored by the plain weighted inner product (their ``channels``
  add up to it), not calibrated as a text query's are.
"""
from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsearch.channels import registry
from vidsearch.channels.fusion import resolve_weights
from vidsearch.ingest.processor import VideoProcessor
from vidsearch.ingest.profile import library_profile
from vidsearch.media import audio as audio_mod
from vidsearch.media.probe import probe
from vidsearch.media.signature import VisualSignature
from vidsearch.media.still import still_to_video
from vidsearch.models.text_encoders import l2_normalise
from vidsearch.query.captions import CaptionHit, CaptionIndex
from vidsearch.query.copydetect import SignatureIndex, SourceMatch, select_sources
from vidsearch.query.search import Searcher
from vidsearch.store.library import Library, SegmentRow
from vidsearch.text.synonyms import normalise_text
from vidsearch.types import IndexedVideo, Moment, Segment, Utterance, VideoError, VideoInfo

#: Image codecs ffmpeg reads as a one-frame "video": a photo is not a clip.
STILL_CODECS = frozenset({"mjpeg", "png", "bmp", "tiff", "webp", "gif", "jpeg2000", "jpegls", "pgm", "ppm"})
#: Shorter than this there is too little to describe or align.
MIN_CLIP_S = 0.5
#: A removed span this close to a clip's start or end is its head or tail.
EDGE_S = 0.05
#: Sound refines the picture's alignment within this many seconds either way.
AUDIO_SEARCH_S = 8.0
#: An audio alignment counts when its fingerprints differ in fewer bits than this (re-encoded
#: copies of the same sound: ~0.1-0.25; unrelated sound: ~0.45-0.5).
MAX_AUDIO_BER = 0.3


@dataclass
class ClipMatch:
    """What ``match-clip`` answers: captions best first, then moments (sources first)."""

    clip: str
    duration: float
    results: list[CaptionHit]
    moments: list[Moment]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"clip": self.clip, "duration": round(self.duration, 3),
                "results": [r.to_json() for r in self.results],
                "moments": [m.to_json() for m in self.moments]}


def is_still(info: VideoInfo) -> bool:
    """Whether a probed file is one picture (a photo: asked about as a one-frame query)."""
    return info.video_codec in STILL_CODECS and info.n_frames <= 1


def check_clip(info: VideoInfo) -> None:
    """Refuse inputs that probe as video but cannot be asked about (a sub-second sliver); a
    still image is a one-frame query."""
    if is_still(info):
        return
    if info.duration < MIN_CLIP_S:
        raise VideoError(info.path, f"too short ({info.duration:.2f} s): a clip needs at least {MIN_CLIP_S} s")


class QueryVideoMatcher:
    """Answers query videos (uploaded cuts) over one library; load once (models, captions), query many times."""

    def __init__(self, library: Library, *, searcher: Searcher | None = None,
                 processor: VideoProcessor | None = None):
        self.library = library
        self.searcher = searcher or Searcher(library)
        self._processor = processor
        self._owns_processor = processor is None
        self._captions: CaptionIndex | None = None
        self._signatures: SignatureIndex | None = None

    @property
    def processor(self) -> VideoProcessor:
        """The per-video stage configured exactly as the library's videos were (its profile: OCR and
        tags on or off, cleaning rules, vocabulary), sharing the searcher's text encoder and CLIP."""
        if self._processor is None:
            self._processor = VideoProcessor(library_profile(self.library).config(),
                                             clip_encoder=self.searcher.clip, text_encoder=self.searcher.text_encoder)
        return self._processor

    @property
    def captions(self) -> CaptionIndex:
        if self._captions is None:
            self._captions = CaptionIndex.load(self.library, self.searcher.clip, self.searcher.text_encoder)
        return self._captions

    @property
    def signatures(self) -> SignatureIndex:
        """Every indexed video's visual signature, loaded once (rebuilt by :meth:`reload`)."""
        if self._signatures is None:
            self._signatures = SignatureIndex(
                (vid, VisualSignature.from_bytes(data)) for vid, data in self.library.signatures())
        return self._signatures

    def reload(self) -> None:
        """Forget cached captions and signatures, and what the searcher read from the library
        (after the library changed)."""
        self._captions = self._signatures = None
        self.searcher.reload()

    @property
    def notes(self) -> list[str]:
        return [*self.searcher.notes, *(self._processor.notes if self._processor else [])]

    def close(self) -> None:
        """End the worker threads of the processor this matcher made (one it was given is the
        caller's); the models stay loaded and the matcher may be used again."""
        if self._processor is not None and self._owns_processor:
            self._processor.close()

    def __enter__(self) -> QueryVideoMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def match(self, path: Path | str, k: int = 10, *, n_captions: int | None = None, preset: str | None = None,
              weights: dict[str, float] | None = None) -> ClipMatch:
        """Captions and moments for the clip at ``path``. Raises VideoError (one line) for a bad clip."""
        if k < 1:
            raise ValueError("k must be at least 1")
        resolve_weights(preset, weights)  # a bad preset fails before the clip is read
        return self.answer(self.analyse(path), k, n_captions=n_captions, preset=preset, weights=weights)

    def analyse(self, path: Path | str) -> IndexedVideo:
        """Run the clip through the library's per-video stage (VideoError for a bad clip). A
        still image goes through as a half-second video of itself: one segment, one keyframe."""
        path = Path(path)
        info = probe(path)
        check_clip(info)
        if not is_still(info):
            return self.processor.process(path)
        with tempfile.TemporaryDirectory(prefix="vidsearch-still-") as tmp:
            iv = self.processor.process(still_to_video(path, Path(tmp) / "still.mp4"))
        return dataclasses.replace(iv, info=dataclasses.replace(iv.info, path=path))

    def answer(self, iv: IndexedVideo, k: int = 10, *, n_captions: int | None = None, preset: str | None = None,
               weights: dict[str, float] | None = None, borrow: bool = True) -> ClipMatch:
        """Captions and moments for an analysed clip. ``borrow=False`` keeps the clip's own channels
        only (what a clip from outside the library gets; the benchmark compares the two)."""
        w = resolve_weights(preset, weights)
        path = iv.info.path
        notes: list[str] = []
        segments = [s for s in iv.segments if not _inside(s, iv)] or iv.segments
        if not any(s.vectors for s in segments):
            notes.append("nothing in the clip itself to describe: no speech, on-screen text or recognised objects")
        if not len(self.signatures) and self.library.stats()["videos"]:
            notes.append("no video in this library has a visual signature (indexed by an older vidsearch): "
                         "re-index it to find where clips come from")
        sources = self.sources(iv.visual_signature)[:k] if iv.visual_signature else []
        if sources:
            sources[0] = self._refine_with_audio(sources[0], iv)
        channels, described, described_channels = self._evidence(segments, sources[0] if sources and borrow else None)
        caption_channels = self._normalised_text_vectors(described, described_channels)
        results = self.captions.match(caption_channels, w, n_captions or k)
        moments = self._source_moments(sources, iv)[:k]
        taken = [(m.video_id, m.start, m.end) for m in moments]

        def already_given(video_id: int, start: float, end: float) -> bool:
            return any(v == video_id and start < e and end > s for v, s, e in taken)

        queries = [self.searcher.layout.query(c, w) for c in channels if c]
        if len(moments) < k and queries:
            similar = self.searcher.search_vectors(queries, k - len(moments), exclude=already_given)
            for m in similar:
                m.match = "similar"
            moments += similar
        return ClipMatch(os.fsdecode(path), iv.info.duration, results, moments, notes + self.notes)

    def sources(self, signature: VisualSignature) -> list[SourceMatch]:
        """The videos the clip was cut from, best first: every video's best alignment, kept only
        where it clears the runner-up and the library's background (:func:`select_sources`)."""
        return select_sources(self.signatures.search(signature, top=len(self.signatures), min_score=-math.inf))

    def _refine_with_audio(self, source: SourceMatch, iv: IndexedVideo) -> SourceMatch:
        """Place the start by sound when the clip kept the source's sound.

        Pictures leave some cuts ambiguous: inside a shot that only zooms, a cropped frame *is*
        the frame of a later zoom step, and a static card looks the same for seconds. The sound
        track pins the offset to 20 ms. Used only when the fingerprints clearly agree, so a clip
        with new music or no sound keeps its picture alignment.
        """
        video = self.library.video(source.video_id)
        if not iv.info.has_audio or video is None or not video.has_audio:
            return source
        lo = max(0.0, source.start - AUDIO_SEARCH_S)
        try:
            query_fp = audio_mod.audio_fingerprint(audio_mod.decode_audio(iv.info.path))
            src_fp = audio_mod.audio_fingerprint(audio_mod.decode_audio(
                video.path, lo, iv.info.duration + 2 * AUDIO_SEARCH_S))
        except (VideoError, OSError):  # the source file moved or its sound is unreadable
            return source
        offset, ber = _best_offset(query_fp, src_fp)
        if offset is None or ber > MAX_AUDIO_BER:
            return source
        start = lo + offset / audio_mod.AUDIO_FP_FPS
        return dataclasses.replace(source, start=start, sound=True)

    def _evidence(self, segments: list[Segment],
                  source: SourceMatch | None) -> tuple[list[dict], list[Segment], list[dict]]:
        """What a cut is matched by: each clip segment's channel vectors (for its similar
        moments), and the segments its captions are matched against with their channel vectors.

        With a ``source``, the cut shows a moment the library has read already. A channel a clip
        segment lacks is filled from the source segment it overlaps most (a muted cut keeps the
        words of the moment it shows), and the source segments join the clip's for its captions:
        Whisper heard the words there with the whole video around them, where a few seconds cut
        out of it are often misheard. What the source's sound holds (its words, its audio: the
        registry's ``heard`` channels) counts only where that sound is the cut's: it kept the
        source's sound, or has no speech of its own (a new voice-over replaces them, over a shot
        it leaves silent too)."""
        channels = [dict(s.vectors) for s in segments]
        if source is None:
            return channels, list(segments), channels
        heard_there = source.sound or not any(s.utterances for s in segments)
        pairs, source_segments = self._source_segments(segments, source, with_sound=heard_there)
        self._borrow_from_source(channels, pairs)
        return (channels, [*segments, *source_segments],
                [*channels, *(s.vectors for s in source_segments)])

    def _source_segments(self, segments: list[Segment], source: SourceMatch, *,
                         with_sound: bool) -> tuple[list[tuple[int, Segment]], list[Segment]]:
        """The library segments a cut shows, as :class:`Segment` s with their texts, tags and
        stored vectors (what their sound holds only ``with_sound``): each clip segment's index
        paired with the source segment it overlaps most once placed at the source's start, and
        those source segments once each, in the order first met."""
        rows = [r for r in self.library.video_segments(source.video_id) if not r.removed]
        matched = [(i, row) for i, seg in enumerate(segments)
                   if (row := _most_overlap(rows, source.start + seg.start, source.start + seg.end)) is not None]
        unique = list({row.id: row for _, row in matched}.values())
        if not unique:
            return [], []
        slices = self.searcher.layout.slices()
        by_id: dict[int, Segment] = {}
        for row, stored in zip(unique, self.library.vectors([row.id for row in unique])):
            vectors = {channel: l2_normalise(block) for channel, sl in slices.items()
                       if np.any(block := stored[sl]) and (with_sound or not _heard(channel))}
            said = [Utterance(row.speech_text, row.start, row.end, "")] if row.speech_text and with_sound else []
            by_id[row.id] = Segment(row.start, row.end, row.scene_index, utterances=said, ocr_text=row.ocr_text,
                                    tags=list(row.tags), vectors=vectors)
        return [(i, by_id[row.id]) for i, row in matched], list(by_id.values())

    @staticmethod
    def _borrow_from_source(channels: list[dict], pairs: list[tuple[int, Segment]]) -> None:
        """Fill channels a clip segment lacks with its source segment's (a muted cut keeps the
        words of the moment it shows)."""
        for i, source in pairs:
            for channel, vector in source.vectors.items():
                channels[i].setdefault(channel, vector)

    def _normalised_text_vectors(self, segments: list[Segment], channels: list[dict]) -> list[dict]:
        """Channel vectors for caption matching: the clip's own texts label-normalised like the
        captions were (``vintage`` -> ``复古风``) and re-encoded where that changed them.

        A channel of labels (``tags``) becomes the mean of its words' vectors rather than one vector
        of the joined list: a list of breed names reads to the text encoder as a sentence about
        nothing, while each word on its own is a label (fixture clips, own channels: caption R@1
        0.55 -> 0.68).
        """
        table = self.searcher.synonyms  # loaded once per searcher
        encoder = self.searcher.text_encoder
        out = []
        for seg, chans in zip(segments, channels):
            chans = dict(chans)
            for channel in registry.channels():
                if channel.query != "text" or channel.passage is None:
                    continue
                if channel.labels is not None:
                    words = list(dict.fromkeys(normalise_text(t, table) for t in channel.labels(seg)))
                    if words:
                        mean = encoder.encode_passages(words).mean(axis=0)
                        chans[channel.name] = mean / max(float(np.linalg.norm(mean)), 1e-9)
                elif (text := channel.passage(seg)) and (norm := normalise_text(text, table)) != text:
                    chans[channel.name] = encoder.encode_passages([norm])[0]
            out.append(chans)
        return out

    def _source_moments(self, sources: list[SourceMatch], iv: IndexedVideo) -> list[Moment]:
        # The source shows the clip's content, not the black head or tail the clip added (a cut
        # with 3 s of black before it was placed 3 s early, over other footage). A frozen head or
        # tail stays: a held shot is often the source's own (a photo's zoom coming to rest).
        black = [sp for sp in iv.removed if sp.kind.startswith("black")]
        shown_from = max((sp.end for sp in black if sp.start <= EDGE_S), default=0.0)
        shown_to = min((sp.start for sp in black if sp.end >= iv.info.duration - EDGE_S), default=iv.info.duration)
        if shown_to <= shown_from:
            shown_from, shown_to = 0.0, iv.info.duration
        out = []
        for src in sources:
            video = self.library.video(src.video_id)
            if video is None:
                continue
            start = max(0.0, src.start + shown_from)
            end = min(video.duration or src.start + shown_to, src.start + shown_to)
            rows = [r for r in self.library.video_segments(src.video_id) if r.start < end and r.end > start]
            best = _most_overlap(rows, start, end)
            speech = " ".join(r.speech_text for r in rows if r.speech_text)
            ocr = " ".join(dict.fromkeys(r.ocr_text for r in rows if r.ocr_text))
            tags = list(dict.fromkeys(t for r in rows for t in r.tags))
            moment = Moment(
                video=os.fsdecode(video.path), video_id=src.video_id, segment_id=best.id if best else -1,
                start=start, end=end, jump=start, score=src.score, channels={"copy": src.score},
                snippet=(speech or ocr or ", ".join(tags))[:200], tags=tags, match="source")
            self.searcher.attach_ocr(moment)
            out.append(moment)
        return out


def _best_offset(query: np.ndarray, ref: np.ndarray) -> tuple[int | None, float]:
    """(offset in words, bit error rate) of the best placement of ``query`` inside ``ref``.

    Only the query video's sounding words count (digital silence fingerprints as zeros, which would
    match any silence); None when under a second of it sounds.
    """
    query = query[: int(20 * audio_mod.AUDIO_FP_FPS)]  # 20 s place a cut; more only costs memory
    sounding = query != 0
    if sounding.sum() < audio_mod.AUDIO_FP_FPS or len(ref) < len(query):
        return None, 1.0
    bits = np.unpackbits(query.astype(">u4").view(np.uint8)).reshape(len(query), 32)[sounding]
    ref_bits = np.unpackbits(ref.astype(">u4").view(np.uint8)).reshape(len(ref), 32)
    windows = np.lib.stride_tricks.sliding_window_view(ref_bits, (len(query), 32))[:, 0][:, sounding]
    ber = (windows != bits).mean(axis=(1, 2))
    best = int(np.argmin(ber))
    return best, float(ber[best])


def _heard(channel: str) -> bool:
    """Whether ``channel`` holds what a segment's sound holds (the registry's ``heard``)."""
    spec = registry.get(channel)
    return spec is not None and spec.heard


def _inside(seg: Segment, iv: IndexedVideo) -> bool:
    """A clip segment lying in a trimmed span (black head, frozen tail) describes nothing."""
    return any(sp.start <= seg.start and seg.end <= sp.end for sp in iv.removed)


def _most_overlap(rows: list[SegmentRow], start: float, end: float) -> SegmentRow | None:
    best, best_len = None, 0.0
    for r in rows:
        overlap = min(r.end, end) - max(r.start, start)
        if overlap > best_len or (best is None and r.start <= start < r.end):
            best, best_len = r, max(overlap, 0.0)
    return best
