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

from vidsearch.media import audio as audio_mod
from vidsearch.media.frames import DecodedFrame, frame_signature, hamming
from vidsearch.types import AudioAnalysis, AudioTrack, Fingerprint, Span

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
#: A bumper never takes more than this share of a video: a match that long is a duplicate or a
#: templated video (same picture, different voice-over), which is content.
MAX_BUMPER_SHARE = 0.5
#: A frame at this share of its run's brightness or less is dimming: part of a fade ...
FADE_SHARE = 0.85
#: ... and two copies of one fade are dimmed to within this share of each other.
FADE_AGREE = 0.2
#: A span has sound when at least this share of it is louder than SILENCE_DB.
SOUND_SHARE = 0.3
#: Black or flat samples at an edge skipped before aligning (a black tail after an outro).
LEAD_MAX = int(5.0 * HASH_FPS)

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
    #: Mean luma of the picture inside any letterbox bars (fades of a letterboxed bumper).
    picture_luma: list[float] = field(default_factory=list)

    def feed(self, frame: DecodedFrame) -> None:
        mean, std, h, picture = frame_signature(frame.rgb)
        self.times.append(frame.time)
        self.luma_mean.append(mean)
        self.luma_std.append(std)
        self.hashes.append(h)
        self.picture_luma.append(picture)

    def _at(self, grid: np.ndarray) -> np.ndarray:
        times = np.asarray(self.times)
        return np.clip(np.searchsorted(times, grid + 1e-6, side="right") - 1, 0, len(times) - 1)

    def hashes_at(self, grid: np.ndarray) -> np.ndarray:
        """Hash of the frame on screen at each time of ``grid``."""
        return np.asarray(self.hashes, dtype=np.uint64)[self._at(grid)]

    def luma_at(self, grid: np.ndarray) -> np.ndarray:
        """Mean luma of the picture (inside any bars) on screen at each time of ``grid``."""
        return np.asarray(self.picture_luma, dtype=np.float32)[self._at(grid)]


def _silent(analysis: AudioAnalysis | None, start: float, end: float) -> bool:
    if analysis is None:
        return True
    seg = analysis.rms_db[analysis.span_mask(start, end)]
    return seg.size == 0 or float(np.max(seg)) < SILENCE_DB


def _unique_picture(hashes: np.ndarray, times: np.ndarray, span: Span) -> bool:
    """Whether the still picture of ``span`` appears nowhere else in the video. A held last
    frame of a moving shot repeats that shot (padding); a slide shown only at the end, a closing
    page of homework, is content."""
    inside = (times >= span.start) & (times < span.end)
    if not inside.any() or inside.all():
        return True
    still = hashes[inside][len(hashes[inside]) // 2]
    if still == 0:
        return False  # a flat picture (a plain colour) says nothing: padding
    return not bool(_hash_match(hashes[~inside], np.uint64(still)).any())


def video_trims(stats: FrameStats, analysis: AudioAnalysis | None, duration: float) -> list[Span]:
    """Black (or frozen-and-silent) heads and tails of one video.

    A black head/tail is dropped when it is silent or the video has no audio; a frozen picture is
    dropped only when silent too (a still photo with a voice over it is content, not padding),
    and only when the picture is also shown elsewhere in the video (a held frame), never a
    picture shown only there.
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
            if n == 0 or n == len(t):  # the whole video: content (or nothing), never padding
                continue
            if where == "head":
                span = Span(0.0, float(t[n]) if n < len(t) else duration, f"{kind}-head")
            else:
                span = Span(float(t[n - 1]) if n <= len(t) else 0.0, duration, f"{kind}-tail")
            min_len = MIN_FROZEN_S if kind == "frozen" else MIN_TRIM_S
            if span.duration < min_len or not _silent(analysis, span.start, span.end):
                continue
            if kind == "frozen" and (analysis is None or _unique_picture(hashes, times, span)):
                continue  # no audio, or a picture shown only here (a closing slide): content
            spans.append(span)
            break  # black wins over frozen for the same edge
    return spans


def _loudness(track: AudioTrack, grid: np.ndarray, step: float) -> np.ndarray:
    """Sound level (dBFS) of each ``step``-long window starting at the times of ``grid``."""
    y = np.asarray(track.samples, dtype=np.float32)
    sr = track.sample_rate
    n = max(1, int(round(step * sr)))
    out = np.full(len(grid), -120.0, np.float32)
    for i, t in enumerate(grid):
        a = int(t * sr)
        w = y[a:a + n]
        if w.size:
            out[i] = 10.0 * np.log10(float(np.mean(w.astype(np.float64) ** 2)) + 1e-12)
    return out


def make_fingerprint(stats: FrameStats, track: AudioTrack | None, duration: float) -> Fingerprint:
    """Head/tail frame-hash, luma, loudness and audio signatures of one video, for the
    library-wide bumper search."""
    span = min(SIGNATURE_S, duration)
    head_grid = np.arange(0.0, span, 1.0 / HASH_FPS)
    # Sampled back from the end, so that sample i from the edge starts (i + 1) / HASH_FPS before it.
    tail_grid = duration - np.arange(len(head_grid), 0, -1) / HASH_FPS
    empty = np.zeros(0, dtype=np.uint32)
    head_audio = tail_audio = empty
    head_loud = tail_loud = np.zeros(0, np.float32)
    if track is not None and track.duration > 0.5:
        head_audio = audio_mod.audio_fingerprint(track, 0.0, span)
        tail_audio = audio_mod.audio_fingerprint(track, max(0.0, track.duration - span), track.duration)
        head_loud = _loudness(track, head_grid, 1.0 / HASH_FPS)
        tail_loud = _loudness(track, tail_grid, 1.0 / HASH_FPS)
    return Fingerprint(
        head_hashes=stats.hashes_at(head_grid),
        tail_hashes=stats.hashes_at(tail_grid),
        hash_fps=HASH_FPS,
        head_audio=head_audio,
        tail_audio=tail_audio,
        audio_fps=float(audio_mod.AUDIO_FP_FPS),
        duration=duration,
        head_luma=stats.luma_at(head_grid),
        tail_luma=stats.luma_at(tail_grid),
        head_loud=head_loud,
        tail_loud=tail_loud,
    )


def _popcount(h: np.ndarray | np.integer) -> np.ndarray:
    return hamming(h, np.uint64(0))


def _longest_diagonal(a: np.ndarray, b: np.ndarray, max_start: int) -> tuple[int, int, int]:
    """Longest run of matching hashes along a diagonal starting within ``max_start`` of both starts.

    Returns (start_a, start_b, length) in samples; length 0 when nothing matches.
    """
    if len(a) == 0 or len(b) == 0:
        return 0, 0, 0
    match = _hash_match(a[:, None], b[None, :])
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


def _hash_match(a: np.ndarray, b: np.ndarray | np.integer, loose: bool = False) -> np.ndarray:
    """Which hashes of ``a`` match those of ``b`` (pairwise, broadcasting).

    Flat frames (hash 0) match nothing: a black or plain card says nothing about identity.
    Sparse hashes (a few strokes of text on a plain card) need a proportionally closer match,
    or every caption card would look like every other. ``loose`` doubles the tolerance, for
    following a run already found through a fade.
    """
    ones = np.maximum(_popcount(a), _popcount(b))
    limit = np.minimum(HASH_MATCH_BITS, 0.35 * ones) * (2.0 if loose else 1.0)
    return (hamming(a, b) <= limit) & (a != 0) & (b != 0)


def _extend(ea: "_Edge", eb: "_Edge", sa: int, sb: int, n: int, max_start: int) -> tuple[int, int, int, int]:
    """Grow a matching run through the fades around it: (start_a, start_b, end_a, end_b) in samples.

    Along the run's diagonal, moving away from the run, a frame pair still belongs to the bumper
    while the pictures match, both are black, or both are dimmed to about the same share of
    their brightness at the run's edge (a fade, where the hash goes flat or drifts). Growth stops at
    ``MAX_BUMPER_S``. What is left between the edge and the run's start, within the slack, joins
    it when it is all black or flat there: the bumper fading in from black.
    """
    limit = int(MAX_BUMPER_S * HASH_FPS)

    def luma(e: "_Edge", i: int) -> float:
        return float(e.luma[i]) if e.luma.size else 0.0

    def grow(i: int, j: int, step: int, stop) -> tuple[int, int]:
        ra, rb = luma(ea, i - step), luma(eb, j - step)  # the run's last frame on this side
        while stop(i, j):
            if (ea.dark(i) and eb.dark(j)) or _hash_match(ea.hashes[i], eb.hashes[j]):
                pass
            elif not (ea.luma.size and eb.luma.size):
                break
            else:
                la, lb = luma(ea, i), luma(eb, j)
                # Copies of one fade dim together: the same share of their own brightness.
                if not ((la < FADE_SHARE * ra or lb < FADE_SHARE * rb)
                        and abs(la / max(ra, 1.0) - lb / max(rb, 1.0)) <= FADE_AGREE):
                    break
            i, j = i + step, j + step
        return i, j

    ia, ib = grow(sa + n, sb + n, 1, lambda i, j: i < len(ea.hashes) and j < len(eb.hashes) and i - sa < limit)
    ea0, eb0 = grow(sa - 1, sb - 1, -1, lambda i, j: i >= 0 and j >= 0 and ia - i <= limit)
    sa, sb = ea0 + 1, eb0 + 1
    if 0 < sa <= max_start and all(ea.dark(i) or ea.hashes[i] == 0 for i in range(sa)):
        sa = 0
    if 0 < sb <= max_start and all(eb.dark(i) or eb.hashes[i] == 0 for i in range(sb)):
        sb = 0
    return sa, sb, ia, ib


def _lead(e: "_Edge", most: int) -> int:
    """Samples of black or flat picture at the edge (a black tail after an outro, a black lead-in
    before an intro), up to ``most``: alignment starts after them."""
    i = 0
    while i < min(most, len(e.hashes)) and (e.dark(i) or e.hashes[i] == 0):
        i += 1
    return i


@dataclass
class _Edge:
    """One video's head or tail signature, ordered from the edge inward."""

    hashes: np.ndarray
    luma: np.ndarray
    loud: np.ndarray
    audio: np.ndarray  # audio fingerprint words, in time order from ``audio_base``
    audio_base: float

    def dark(self, i: int) -> bool:
        """Black, or all but black (the last steps of a fade)."""
        return bool(self.luma.size) and float(self.luma[i]) < BLACK_LUMA

    def sound(self, i0: int, i1: int) -> bool | None:
        """Whether samples [i0, i1) have sound; None when the library predates loudness."""
        if self.loud.size == 0:
            return None if self.luma.size == 0 else False  # new fingerprint without audio: silent
        seg = self.loud[i0:i1]
        return bool(seg.size) and float((seg > SILENCE_DB).mean()) >= SOUND_SHARE


def _edge(fp: Fingerprint, edge: str) -> _Edge:
    if edge == "intro":
        return _Edge(fp.head_hashes, fp.head_luma, fp.head_loud, fp.head_audio, 0.0)
    return _Edge(fp.tail_hashes[::-1], fp.tail_luma[::-1], fp.tail_loud[::-1], fp.tail_audio,
                 max(0.0, fp.duration - SIGNATURE_S))


def _audio_agrees(fa: np.ndarray, fb: np.ndarray, fps: float, span_a: Span, span_b: Span) -> bool | None:
    """True/False when both fingerprints cover the spans with sound, None when one has none."""
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
    return audio_mod.fingerprint_ber(a, b, max_shift=10, skip_silence=True) <= MAX_AUDIO_BER


def _support(sound_a: bool | None, sound_b: bool | None, agrees: bool | None) -> bool | None:
    """What partner b says about a's span: True (picture and sound recur), None (picture only:
    a's span is silent), False (a's sound is not b's: different speech or music over the same
    picture is content)."""
    if sound_a is None or sound_b is None:  # fingerprints from before loudness: the old rule
        return agrees
    if sound_a:
        return bool(sound_b and agrees)
    return None


#: Videos sharing a hash band are paired with at most this many of the band's first members:
#: enough partners to confirm a bumper, and linear in the library's size.
BAND_PARTNERS = 6


def _candidate_pairs(fingerprints: dict[int, Fingerprint], edge: str, max_start: int) -> set[tuple[int, int]]:
    """Pairs of videos whose edge frames share 16-bit bands of some hash: the only pairs worth
    aligning. A shared bumper gives ten or more near-identical hashes in a row, so bands agree;
    unrelated videos rarely do. Each video is paired with the first few members of each band it
    is in (not with all of them), so a bumper shared by thousands of videos costs a few
    alignments per video."""
    buckets: dict[tuple[int, int], set[int]] = {}
    for vid, fp in fingerprints.items():
        e = _edge(fp, edge)
        lead = _lead(e, LEAD_MAX)
        for h in e.hashes[lead: lead + max_start + 1]:
            h = int(h)
            if h == 0:
                continue
            for band in range(4):
                buckets.setdefault((band, (h >> (16 * band)) & 0xFFFF), set()).add(vid)
    shared: Counter[tuple[int, int]] = Counter()
    for members in buckets.values():
        if len(members) > 1:
            ordered = sorted(members)
            reps = ordered[:BAND_PARTNERS]
            shared.update((min(a, r), max(a, r)) for a in ordered for r in reps if a != r)
    # One shared band happens by chance between unrelated videos; a real bumper shares several.
    return {pair for pair, n in shared.items() if n >= 2}


def _span(fp: Fingerprint, edge: str, i0: int, i1: int) -> Span:
    """Samples [i0, i1) from the edge inward, as a span of the video."""
    if edge == "intro":
        return Span(i0 / HASH_FPS, min(fp.duration, i1 / HASH_FPS), "bumper-intro")
    return Span(max(0.0, fp.duration - i1 / HASH_FPS), fp.duration - i0 / HASH_FPS, "bumper-outro")


def find_bumpers(fingerprints: dict[int, Fingerprint]) -> dict[int, list[Span]]:
    """Intro/outro bumpers recurring across the library: video id -> spans (``bumper-intro``/``-outro``).

    A bumper is a span at a video's head or tail whose picture recurs in other videos and, where
    the span has sound, whose sound recurs with it: the same picture under different speech (a
    templated video) is content. A span with no sound needs its picture in at least two other
    videos, or in one whose own bumper is confirmed by sound, so two edits of one clip are not
    mistaken for a bumper. Runs are followed through fades to and from black. A bumper never
    takes more than half a video (``MAX_BUMPER_SHARE``): a longer match is a duplicate or a
    template, and the video keeps everything.
    """
    max_start = int(EDGE_SLACK_S * HASH_FPS)
    # (video, edge) -> [(span, partner, support)]
    matches: dict[tuple[int, str], list[tuple[Span, int, bool | None]]] = {}
    for edge in ("intro", "outro"):
        for ia, ib in sorted(_candidate_pairs(fingerprints, edge, max_start)):
            fa, fb = fingerprints[ia], fingerprints[ib]
            ea, eb = _edge(fa, edge), _edge(fb, edge)
            la, lb = _lead(ea, LEAD_MAX), _lead(eb, LEAD_MAX)
            sa, sb, n = _longest_diagonal(ea.hashes[la:], eb.hashes[lb:], max_start)
            sa, sb = sa + la, sb + lb
            if n / HASH_FPS < MIN_BUMPER_S:
                continue

            def fits(a0: int, a1: int, b0: int, b1: int) -> bool:
                da, db = (a1 - a0) / HASH_FPS, (b1 - b0) / HASH_FPS
                return max(da, db) <= MAX_BUMPER_S and da <= MAX_BUMPER_SHARE * fa.duration \
                    and db <= MAX_BUMPER_SHARE * fb.duration

            grown = _extend(ea, eb, sa, sb, n, max_start + max(la, lb))
            if fits(grown[0], grown[2], grown[1], grown[3]):
                sa, sb, enda, endb = grown
            elif fits(sa, sa + n, sb, sb + n):
                enda, endb = sa + n, sb + n
            else:
                continue
            span_a, span_b = _span(fa, edge, sa, enda), _span(fb, edge, sb, endb)
            rel_a = Span(span_a.start - ea.audio_base, span_a.end - ea.audio_base)
            rel_b = Span(span_b.start - eb.audio_base, span_b.end - eb.audio_base)
            agrees = _audio_agrees(ea.audio, eb.audio, fa.audio_fps, rel_a, rel_b)
            sound_a, sound_b = ea.sound(sa, enda), eb.sound(sb, endb)
            for vid, span, partner, support in ((ia, span_a, ib, _support(sound_a, sound_b, agrees)),
                                                (ib, span_b, ia, _support(sound_b, sound_a, agrees))):
                if support is not False:
                    matches.setdefault((vid, edge), []).append((span, partner, support))
    heard = {key for key, ms in matches.items() if any(sup for _, _, sup in ms)}
    found: dict[int, list[Span]] = {}
    for (vid, edge), ms in matches.items():
        partners = {p for _, p, _ in ms}
        if (vid, edge) in heard or len(partners) >= 2 or any((p, edge) in heard for p in partners):
            found.setdefault(vid, []).append(max((s for s, _, _ in ms), key=lambda s: s.duration))
    out = {}
    for vid, spans in found.items():
        # Intro and outro together stay within the bound too.
        if sum(s.duration for s in spans) <= MAX_BUMPER_SHARE * fingerprints[vid].duration:
            out[vid] = sorted(spans, key=lambda s: s.start)
    return out
