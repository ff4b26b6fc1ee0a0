"""Intro/outro trimming.

Per video: black or frozen, silent heads and tails are cut off before segmentation.
Per library: the same bumper (picture + jingle) recurring at the start or end of several videos is
found by matching frame-hash sequences between videos and confirmed by an audio fingerprint.
Removed spans are stored and never returned as results.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from . import audio as audio_mod
from .frames import DecodedFrame, frame_signature, hamming
from .types import AudioAnalysis, AudioTrack, Fingerprint, Span

#: Seconds at the head and tail of each video kept as a bumper signature.
SIGNATURE_S = 10.0
#: Sample rate of the hash signature (frames per second).
HASH_FPS = 10.0
#: Hashes within this many bits count as the same picture (re-encoding, scaling).
HASH_MATCH_BITS = 10
#: Bumpers are short; a match this long is a duplicate video, not a bumper.
MAX_BUMPER_S = 8.0
MIN_BUMPER_S = 1.0
#: A bumper starts (or, for outros, ends) this close to the video's edge.
EDGE_SLACK_S = 1.5
#: Audio fingerprints of the same jingle differ in fewer bits than this.
MAX_AUDIO_BER = 0.35

BLACK_LUMA = 20.0
BLACK_STD = 8.0
FROZEN_BITS = 2
SILENCE_DB = -45.0
MIN_TRIM_S = 0.3
#: A still picture at an edge must last this long to count as padding (a shot's last frame
#: held for a moment is content).
MIN_FROZEN_S = 1.0


@dataclass
class FrameStats:
    """Per-frame luma and hash, collected during the single decode."""

    times: list[float] = field(default_factory=list)
    luma_mean: list[float] = field(default_factory=list)
    luma_std: list[float] = field(default_factory=list)
    hashes: list[int] = field(default_factory=list)

    def feed(self, frame: DecodedFrame) -> None:
        mean, std, h = frame_signature(frame.rgb)
        self.times.append(frame.time)
        self.luma_mean.append(mean)
        self.luma_std.append(std)
        self.hashes.append(h)

    def hashes_at(self, grid: np.ndarray) -> np.ndarray:
        """Hash of the frame on screen at each time of ``grid``."""
        times = np.asarray(self.times)
        idx = np.clip(np.searchsorted(times, grid + 1e-6, side="right") - 1, 0, len(times) - 1)
        return np.asarray(self.hashes, dtype=np.uint64)[idx]


def _silent(analysis: AudioAnalysis | None, start: float, end: float) -> bool:
    if analysis is None:
        return True
    seg = analysis.rms_db[analysis.span_mask(start, end)]
    return seg.size == 0 or float(np.max(seg)) < SILENCE_DB


def video_trims(stats: FrameStats, analysis: AudioAnalysis | None, duration: float) -> list[Span]:
    """Black (or frozen-and-silent) heads and tails of one video.

    A black head/tail is dropped when it is silent or the video has no audio; a frozen picture is
    dropped only when silent too (a still photo with a voice over it is content, not padding).
    """
    if not stats.times:
        return []
    times = np.asarray(stats.times)
    black = (np.asarray(stats.luma_mean) < BLACK_LUMA) & (np.asarray(stats.luma_std) < BLACK_STD)
    hashes = np.asarray(stats.hashes, dtype=np.uint64)
    spans: list[Span] = []

    def run_length(mask: np.ndarray) -> int:
        return int(np.argmin(mask)) if not mask.all() else len(mask)

    for where, order in (("head", slice(None)), ("tail", slice(None, None, -1))):
        t = times[order]
        blk = black[order]
        frozen = np.concatenate([[True], hamming(hashes[order][1:], hashes[order][0]) <= FROZEN_BITS])
        for kind, mask in (("black", blk), ("frozen", frozen)):
            n = run_length(mask)
            if n == 0 or n == len(t) and kind == "frozen":
                continue
            if where == "head":
                span = Span(0.0, float(t[n]) if n < len(t) else duration, f"{kind}-head")
            else:
                span = Span(float(t[n - 1]) if n <= len(t) else 0.0, duration, f"{kind}-tail")
            min_len = MIN_FROZEN_S if kind == "frozen" else MIN_TRIM_S
            if span.duration < min_len or not _silent(analysis, span.start, span.end):
                continue
            if kind == "frozen" and analysis is None:
                continue  # no audio: a still shot is content
            spans.append(span)
            break  # black wins over frozen for the same edge
    return spans


def make_fingerprint(stats: FrameStats, track: AudioTrack | None, duration: float) -> Fingerprint:
    """Head/tail frame-hash and audio signatures of one video, for library-wide bumper search."""
    span = min(SIGNATURE_S, duration)
    head_grid = np.arange(0.0, span, 1.0 / HASH_FPS)
    tail_grid = np.arange(duration - span, duration - 1e-6, 1.0 / HASH_FPS)
    empty = np.zeros(0, dtype=np.uint32)
    head_audio = tail_audio = empty
    if track is not None and track.duration > 0.5:
        head_audio = audio_mod.audio_fingerprint(track, 0.0, span)
        tail_audio = audio_mod.audio_fingerprint(track, max(0.0, track.duration - span), track.duration)
    return Fingerprint(
        head_hashes=stats.hashes_at(head_grid),
        tail_hashes=stats.hashes_at(tail_grid),
        hash_fps=HASH_FPS,
        head_audio=head_audio,
        tail_audio=tail_audio,
        audio_fps=float(audio_mod.AUDIO_FP_FPS),
        duration=duration,
    )


def _popcount(h: np.ndarray) -> np.ndarray:
    return hamming(h, np.uint64(0))


def _longest_diagonal(a: np.ndarray, b: np.ndarray, max_start: int) -> tuple[int, int, int]:
    """Longest run of matching hashes along a diagonal starting within ``max_start`` of both starts.

    Returns (start_a, start_b, length) in samples; length 0 when nothing matches.
    """
    if len(a) == 0 or len(b) == 0:
        return 0, 0, 0
    # Flat frames (hash 0) match nothing: a black or plain card says nothing about identity.
    # Sparse hashes (a few strokes of text on a plain card) need a proportionally closer match,
    # or every caption card would look like every other.
    ones = np.maximum(_popcount(a)[:, None], _popcount(b)[None, :])
    limit = np.minimum(HASH_MATCH_BITS, 0.35 * ones)
    match = (hamming(a[:, None], b[None, :]) <= limit) & (a[:, None] != 0) & (b[None, :] != 0)
    best = (0, 0, 0)
    for off in range(-max_start, max_start + 1):
        diag = np.diagonal(match, offset=off)  # pairs (i, i+off)
        i0 = max(0, -off)
        limit = max_start - abs(off)  # both the row and the column start near the edge
        # Runs that begin near the edge only.
        k = 0
        while k <= min(limit, len(diag) - 1):
            if diag[k]:
                n = int(np.argmin(diag[k:])) if not diag[k:].all() else len(diag) - k
                if n > best[2]:
                    best = (i0 + k, i0 + k + off, n)
                k += max(n, 1)
            else:
                k += 1
    return best


def _audio_agrees(fa: np.ndarray, fb: np.ndarray, fps: float, span_a: Span, span_b: Span) -> bool | None:
    """True/False when both have audio over the spans, None when one of them has none."""
    if fa.size == 0 or fb.size == 0:
        return None
    a = fa[int(span_a.start * fps): int(span_a.end * fps)]
    b = fb[int(span_b.start * fps): int(span_b.end * fps)]
    if min(a.size, b.size) < 4:
        return None
    # Digital silence fingerprints as all-zero words: silence "matching" silence is no evidence.
    if (a == 0).mean() > 0.5 or (b == 0).mean() > 0.5:
        return None
    # Codec delay shifts re-encoded copies of the same jingle by a few hops.
    return audio_mod.fingerprint_ber(a, b, max_shift=10) <= MAX_AUDIO_BER


def _edge_hashes(fp: Fingerprint, edge: str) -> np.ndarray:
    return fp.head_hashes if edge == "intro" else fp.tail_hashes[::-1]


def _candidate_pairs(fingerprints: dict[int, Fingerprint], edge: str, max_start: int) -> set[tuple[int, int]]:
    """Pairs of videos whose edge frames share a 16-bit band of some hash: the only pairs worth
    aligning. A shared bumper gives ten or more near-identical hashes in a row, so at least one
    band agrees; unrelated videos rarely do. Keeps the search near-linear in library size."""
    buckets: dict[tuple[int, int], set[int]] = {}
    for vid, fp in fingerprints.items():
        for h in _edge_hashes(fp, edge)[: max_start + 1]:
            h = int(h)
            if h == 0:
                continue
            for band in range(4):
                buckets.setdefault((band, (h >> (16 * band)) & 0xFFFF), set()).add(vid)
    shared: Counter[tuple[int, int]] = Counter()
    for members in buckets.values():
        if 1 < len(members) <= 1000:  # a band value shared by everyone says nothing
            ordered = sorted(members)
            shared.update((a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:])
    # One shared band happens by chance between unrelated videos; a real bumper shares several.
    return {pair for pair, n in shared.items() if n >= 2}


def find_bumpers(fingerprints: dict[int, Fingerprint]) -> dict[int, list[Span]]:
    """Intro/outro bumpers recurring across the library: video id -> spans (``bumper-intro``/``-outro``).

    A pair of videos sharing the same opening (or ending) picture sequence is a bumper when their
    audio agrees over it too; with no audio evidence (silent or missing audio), the picture must
    recur in at least three videos, so two edits of one clip are not mistaken for a bumper.
    """
    max_start = int(EDGE_SLACK_S * HASH_FPS)
    # (video, edge) -> [(span, partner, audio_confirmed)]
    matches: dict[tuple[int, str], list[tuple[Span, int, bool]]] = {}
    for edge in ("intro", "outro"):
        for ia, ib in sorted(_candidate_pairs(fingerprints, edge, max_start)):
            fa, fb = fingerprints[ia], fingerprints[ib]
            sa, sb, n = _longest_diagonal(_edge_hashes(fa, edge), _edge_hashes(fb, edge), max_start)
            length = n / HASH_FPS
            if not (MIN_BUMPER_S <= length <= MAX_BUMPER_S):
                continue
            if edge == "intro":
                span_a = Span(sa / HASH_FPS, (sa + n) / HASH_FPS, "bumper-intro")
                span_b = Span(sb / HASH_FPS, (sb + n) / HASH_FPS, "bumper-intro")
                audio_a, audio_b, base_a, base_b = fa.head_audio, fb.head_audio, 0.0, 0.0
            else:
                span_a = Span(fa.duration - (sa + n) / HASH_FPS, fa.duration - sa / HASH_FPS, "bumper-outro")
                span_b = Span(fb.duration - (sb + n) / HASH_FPS, fb.duration - sb / HASH_FPS, "bumper-outro")
                audio_a, audio_b = fa.tail_audio, fb.tail_audio
                base_a = max(0.0, fa.duration - SIGNATURE_S)
                base_b = max(0.0, fb.duration - SIGNATURE_S)
            rel_a = Span(span_a.start - base_a, span_a.end - base_a)
            rel_b = Span(span_b.start - base_b, span_b.end - base_b)
            agrees = _audio_agrees(audio_a, audio_b, fa.audio_fps, rel_a, rel_b)
            if agrees is False:
                continue
            matches.setdefault((ia, edge), []).append((span_a, ib, bool(agrees)))
            matches.setdefault((ib, edge), []).append((span_b, ia, bool(agrees)))
    found: dict[int, list[Span]] = {}
    for (vid, _edge), found_spans in matches.items():
        confirmed = any(c for _, _, c in found_spans) or len({p for _, p, _ in found_spans}) >= 2
        if confirmed:
            found.setdefault(vid, []).append(max((s for s, _, _ in found_spans), key=lambda s: s.duration))
    return {vid: sorted(spans, key=lambda s: s.start) for vid, spans in found.items()}
