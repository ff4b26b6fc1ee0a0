"""Segments, the unit of retrieval: scenes (or windows of long scenes) minus removed spans,
with the words spoken in them."""
from __future__ import annotations

import dataclasses
import math

from vidsearch.text.script import is_unspaced
from vidsearch.types import Scene, Segment, Span, Transcript, Utterance, said_within

#: Scenes longer than this are split into windows (at pauses between words where possible).
MAX_SEGMENT_S = 10.0
#: Pieces shorter than this (left over after trimming) are dropped.
MIN_SEGMENT_S = 0.3


def _subtract(span: Span, removed: list[Span]) -> list[Span]:
    pieces = [span]
    for cut in removed:
        nxt = []
        for p in pieces:
            if cut.end <= p.start or cut.start >= p.end:
                nxt.append(p)
                continue
            if cut.start > p.start:
                nxt.append(Span(p.start, cut.start))
            if cut.end < p.end:
                nxt.append(Span(cut.end, p.end))
        pieces = nxt
    return [p for p in pieces if p.duration >= MIN_SEGMENT_S]


def _windows(span: Span, transcript: Transcript, max_len: float) -> list[Span]:
    """Split a long span into ~equal windows, moving each boundary into the nearest gap between words."""
    if span.duration <= max_len:
        return [span]
    n = math.ceil(span.duration / max_len)
    words = [w for w in transcript.words if w.end > span.start and w.start < span.end]
    bounds = [span.start]
    for i in range(1, n):
        target = span.start + i * span.duration / n
        inside = [w for w in words if w.start < target < w.end]
        if inside:
            w = inside[0]
            # Move to whichever edge of the word is closer, keeping boundaries ordered.
            target = w.start if target - w.start < w.end - target else w.end
        if bounds[-1] + MIN_SEGMENT_S < target < span.end - MIN_SEGMENT_S:
            bounds.append(target)
    bounds.append(span.end)
    return [Span(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def join_words(words: list[str]) -> str:
    """Join word tokens: with spaces for spaced scripts (Korean included), directly between
    Chinese or Japanese characters and CJK punctuation."""
    out = ""
    for w in (w.strip() for w in words):
        if not w:
            continue
        if out and not (is_unspaced(out[-1]) and is_unspaced(w[0])):
            out += " "
        out += w
    return out


def _utterances_in(span: Span, transcript: Transcript) -> list[Utterance]:
    """The part of each utterance whose words fall (by midpoint) inside the span."""
    out = []
    for utt in transcript.utterances:
        if utt.end <= span.start or utt.start >= span.end:
            continue
        if utt.words:
            words = utt.words_within(span.start, span.end)
            if not words:
                continue
            text = utt.text if len(words) == len(utt.words) else join_words([w.text for w in words])
            # A part keeps the whole line's avg_logprob (Whisper scores the segment it was cut
            # from); its word_logprob comes from its own words.
            out.append(dataclasses.replace(utt, text=text, start=words[0].start, end=words[-1].end, words=words))
        elif said_within(utt.start, utt.end, span.start, span.end):
            out.append(utt)
    return out


def build_segments(
    scenes: list[Scene],
    removed: list[Span],
    transcript: Transcript,
    duration: float,
    *,
    max_len: float = MAX_SEGMENT_S,
) -> list[Segment]:
    """Scenes, cut by removed spans, split into windows, with the words spoken in each.

    Pieces shorter than ``MIN_SEGMENT_S`` are dropped, but a video too short for any (and with
    nothing removed) is one segment, so that it can be found. Empty only when trimming left
    nothing long enough.
    """
    if not scenes:
        scenes = [Scene(0.0, duration, 0, 0)]
    segments: list[Segment] = []
    for index, scene in enumerate(scenes):
        for piece in _subtract(Span(scene.start, scene.end), removed):
            for window in _windows(piece, transcript, max_len):
                segments.append(
                    Segment(
                        start=window.start,
                        end=window.end,
                        scene_index=index,
                        utterances=_utterances_in(window, transcript),
                    )
                )
    if not segments and duration > 0 and not any(r.end > 0 and r.start < duration for r in removed):
        whole = Span(0.0, duration)
        segments.append(Segment(start=0.0, end=duration, scene_index=0, utterances=_utterances_in(whole, transcript)))
    return segments
