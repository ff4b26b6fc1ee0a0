"""Visual copy detection: which library video a short clip was cut from, and from which second.

An uploaded clip is often an altered copy: re-encoded at a low bitrate, rescaled, cropped a few
percent, muted. Audio may be gone, so this works on pictures alone.

Per video we store a **visual signature** (:mod:`vidsearch.media.signature`): one small frame
descriptor every ``1/SIGNATURE_FPS`` seconds (int8, ~0.6 kB per second of video). A clip's signature is slid along each video's;
the score of an alignment is the mean cosine similarity of the clip's frames with the frames they
land on, so the true source scores near 1 and unrelated videos far lower, on the same scale for
every video.

The descriptor (see :func:`frame_descriptor`) describes the central 90% of the picture: a band-pass
16x16 luma thumbnail (z-normalised: brightness and contrast do not matter; the band-pass removes
the smooth gradients that every title card shares) plus a 4x4 chroma thumbnail (two cards with
different colours differ). Low resolution makes it indifferent to re-encoding and rescaling.

Cropping is handled on the query side only: the clip is also described under a few crop windows
(smaller and off-centre) so that one of them shows what the reference's central 90% showed.
The clip is sampled at ``QUERY_FPS`` (a multiple of ``SIGNATURE_FPS``) so that one of its
sampling phases lands within a few milliseconds of the reference's sample times; that makes cuts
and fast motion line up and gives the start time to ``1/QUERY_FPS`` s.

Known limit: inside a shot that only zooms (no pan, no cut in the clip), a cropped clip *is*
the picture of a slightly later (zoom-in) or earlier (zoom-out) moment; the two explanations
score alike. Ties are broken towards "not cropped", so such a clip aligns to the moment whose
framing it shows, which can be seconds away from where it was cut.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from vidsearch.media.signature import (
    LUMA_N,
    MIRRORED,
    QUERY_WINDOWS,
    REF_FRACTION,
    SIGNATURE_FPS,
    WINDOW_PENALTY,
    SignatureBuilder,
    VisualSignature,
)

#: Score handicap of the mirrored hypothesis: a picture and its mirror image rarely look alike, but
#: a symmetric one (a title card, a face straight on) does; there the unmirrored reading wins.
MIRROR_PENALTY = 0.02
#: Rows of a clip that fall outside the reference are forgiven up to this many seconds (a clip that
#: starts a little before a video or runs a little past its end); beyond that they count as misses.
OUTSIDE_SLACK_S = 1.5
#: ... at this score cost per forgiven second.
OUTSIDE_COST = 0.02
#: A clip needs this many seconds of non-flat picture inside the reference to be aligned at all.
MIN_MATCH_S = 1.0
#: A clip frame this similar to the frame it lands on counts as matched (for ``matched_s``).
FRAME_MATCH = 0.5
#: Default acceptance threshold of find_sources, between what sources and non-sources score on the
#: fixtures (benchmarks/copy_detection.py, 420 altered clips): the true source >= 0.95 under
#: re-encoding at 80-150 kbit/s, half-size scaling and 5% crops (centred or not), 0.88 with an 8%
#: crop; the best *other* video <= 0.72 (the same photograph framed differently in two videos),
#: 95% of them below 0.45.
MIN_SCORE = 0.85
#: select_sources: a second video is a source too only when it scores within this of the first.
#: Genuine copies tie: a cut of the intro card that three fixture videos share scores the same
#: against all three to 0.0001 (re-encoded, or scaled, cropped and muted), while wrong videos
#: called "source" on a held-out library scored 0.97-0.99 against a true source's 0.99-1.0.
TIE_MARGIN = 0.005
#: select_sources: a source must beat the library's background for this cut (the median best
#: score of the other eligible videos) by this much. Measured: true sources clear it by >= 0.40
#: (24 benchmark cuts and 24 altered fixture cuts; 0.40 where only two other portrait videos
#: remain); a featureless cut that every video matches does not.
BACKGROUND_MARGIN = 0.3
#: ... measured only when at least this many other videos make a background (a library of two
#: videos has no background to speak of: the runner-up alone is not one).
MIN_BACKGROUND_VIDEOS = 3
#: Videos whose picture aspect ratio differs from the clip's by more than this factor are skipped
#: (crops and rescales keep the aspect; a portrait clip is not cut from a landscape video).
MAX_ASPECT_RATIO = 1.25

#: SignatureIndex: with more videos than this, a coarse pass picks this many for the exact alignment.
COARSE_VIDEOS = 32
#: The exact alignment searches this far (s) around each coarse peak (covers the zoom ambiguity).
REFINE_WINDOW_S = 8.0


# --------------------------------------------------------------------------- alignment

@dataclass
class SourceMatch:
    video_id: int
    start: float  # where the clip's first frame sits in the source video (s)
    score: float  # alignment similarity (mean cosine, handicaps applied), higher is better
    matched_s: float  # seconds of the clip that matched (non-flat frames similar to their source)
    #: The clip's own sound was found in the source at ``start``: it kept the source's sound, so
    #: what was said there is what the clip says. False for a new voice-over, and wherever it was
    #: not checked (clip or source without sound, source file unreadable, any source but the best).
    sound: bool = False


@dataclass
class _Hypotheses:
    """The clip's frames resampled onto a reference's sampling grid, one row block per hypothesis.

    Hypothesis h = (crop window, phase): row j of it sits at clip time ``phase_s[h] + j / ref_fps``.
    """

    rows: np.ndarray  # (H, m, D) float32, unit rows, 0 where flat or missing
    valid: np.ndarray  # (H, m) bool: a real, non-flat clip frame
    phase_s: np.ndarray  # (H,)
    penalty: np.ndarray  # (H,)
    window: list[int]  # (H,) index into QUERY_WINDOWS


def _window_penalty(i: int) -> float:
    if i == MIRRORED:
        return MIRROR_PENALTY
    frac, dx, dy = QUERY_WINDOWS[i]
    return WINDOW_PENALTY * math.hypot((frac - REF_FRACTION) / 0.05, math.hypot(dx, dy) / 0.025)


def _unit_rows(desc: np.ndarray) -> np.ndarray:
    x = desc.astype(np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _hypotheses(query: VisualSignature, ref_fps: float) -> _Hypotheses | None:
    """Resample the query onto the ``ref_fps`` grid, once per crop window and sampling phase.

    A signature built from frames has query-side frames (QueryFrames: every window, QUERY_FPS);
    one read back from bytes has only its stored rows (plain window, one phase).
    """
    if query.query is not None and len(query.query.flat):
        src, src_flat, src_fps = query.query.descriptors, query.query.flat, query.query.fps
    else:
        src, src_flat, src_fps = _unit_rows(query.descriptors)[None], query.flat, query.fps
    n_src = src.shape[1]
    if n_src == 0:
        return None
    n_phases = max(1, int(round(src_fps / ref_fps)))
    span = n_src / src_fps  # seconds covered by the clip's samples
    m = max(1, int(math.ceil(span * ref_fps)))
    rows, valid, phase_s, penalty, window = [], [], [], [], []
    for p in range(n_phases):
        ph = p / (n_phases * ref_fps)
        t = ph + np.arange(m) / ref_fps
        idx = np.round(t * src_fps).astype(int)
        ok = idx < n_src
        idx = np.minimum(idx, n_src - 1)
        good = ok & ~src_flat[idx]
        for w in range(src.shape[0]):
            block = src[w][idx]
            block[~good] = 0.0
            rows.append(block)
            valid.append(good)
            phase_s.append(ph)
            penalty.append(_window_penalty(w) if src.shape[0] > 1 else 0.0)
            window.append(w)
    return _Hypotheses(np.stack(rows), np.stack(valid), np.array(phase_s), np.array(penalty), window)


def _diagonal_sums(sim: np.ndarray) -> np.ndarray:
    """sim (H, m, n) -> (H, n + m - 1): entry k sums sim[h, j, k - (m - 1) + j] over valid j."""
    h, m, n = sim.shape
    padded = np.zeros((h, m, n + 2 * (m - 1)), np.float32)
    padded[:, :, m - 1: m - 1 + n] = sim
    s0, s1, s2 = padded.strides
    view = np.lib.stride_tricks.as_strided(padded, (h, m, n + m - 1), (s0, s1 + s2, s2), writeable=False)
    return view.sum(axis=1)


@dataclass
class _Alignment:
    start: float
    score: float
    matched_s: float
    window: int


#: Offsets scored at once by _align (bounds its memory on long videos: ~H * m * 4 kB).
_OFFSET_CHUNK = 1024


def _align(hyp: _Hypotheses, ref: VisualSignature, lo: int | None = None, hi: int | None = None) -> _Alignment | None:
    """Best alignment of the hypotheses inside ref, over offsets (the ref row where the clip's
    row 0 lands) in [lo, hi] (default: every offset that overlaps the reference)."""
    n, m = len(ref), hyp.rows.shape[1]
    lo = -(m - 1) if lo is None else max(lo, -(m - 1))
    hi = n - 1 if hi is None else min(hi, n - 1)
    best: _Alignment | None = None
    for c in range(lo, hi + 1, _OFFSET_CHUNK):
        found = _align_chunk(hyp, ref, c, min(hi, c + _OFFSET_CHUNK - 1))
        if found is not None and (best is None or found.score > best.score):
            best = found
    return best


def _align_chunk(hyp: _Hypotheses, ref: VisualSignature, lo: int, hi: int) -> _Alignment | None:
    n = len(ref)
    H, m, dim = hyp.rows.shape
    if n == 0 or hi < lo:
        return None
    a, b = max(0, lo), min(n, hi + m)  # the reference rows these offsets touch
    ref_rows = _unit_rows(ref.descriptors[a:b])
    ref_rows[ref.flat[a:b]] = 0.0
    sim = (hyp.rows.reshape(H * m, dim) @ ref_rows.T).reshape(H, m, b - a)
    acc = _diagonal_sums(sim)  # index k <-> offset a - (m - 1) + k
    offsets = np.arange(a - (m - 1), b)
    keep = (offsets >= lo) & (offsets <= hi)
    acc, offsets = acc[:, keep], offsets[keep]
    # Clip rows that land outside the reference: forgiven up to the slack, misses beyond it.
    valid = hyp.valid.astype(np.int32)
    n_valid = valid.sum(axis=1)  # (H,)
    cum = np.concatenate([np.zeros((H, 1), np.int32), np.cumsum(valid, axis=1)], axis=1)  # (H, m+1)
    before = cum[:, np.clip(-offsets, 0, m)]  # rows j < -offset
    after = n_valid[:, None] - cum[:, np.clip(n - offsets, 0, m)]  # rows j >= n - offset
    outside = before + after
    inside = n_valid[:, None] - outside
    forgiven = np.minimum(outside, int(round(OUTSIDE_SLACK_S * ref.fps)))
    denom = np.maximum(n_valid[:, None] - forgiven, 1)
    # Forgiven, not free: where the picture cannot tell two placements apart (a zoom that a crop
    # imitates), the one that keeps the whole clip inside the video wins.
    score = acc / denom - hyp.penalty[:, None] - OUTSIDE_COST * forgiven / ref.fps
    score[inside < max(1, int(math.ceil(MIN_MATCH_S * ref.fps)))] = -np.inf
    h, k = divmod(int(np.argmax(score)), score.shape[1])
    if not np.isfinite(score[h, k]):
        return None
    off = int(offsets[k])
    # Seconds of the clip that matched: its valid rows similar enough to the row they land on.
    j = np.arange(m)
    r = off + j
    inside_rows = (r >= a) & (r < b) & hyp.valid[h]
    matched = float((sim[h, j[inside_rows], r[inside_rows] - a] >= FRAME_MATCH).sum()) / ref.fps
    start = ref.origin + off / ref.fps - float(hyp.phase_s[h])
    return _Alignment(start, float(score[h, k]), matched, hyp.window[h])


def _aspect_ok(query: VisualSignature, ref: VisualSignature) -> bool:
    if query.aspect <= 0 or ref.aspect <= 0:
        return True
    return abs(math.log(query.aspect / ref.aspect)) <= math.log(MAX_ASPECT_RATIO)


def align(query: VisualSignature, ref: VisualSignature) -> tuple[float, float] | None:
    """Best (start_s, score) of query inside ref, or None if nothing comparable.

    start_s is where the clip's first frame sits in ref; score is the mean cosine similarity of
    the clip's non-flat frames with the frames they land on (1 = identical), minus the small crop
    handicap. Every offset, crop window and sampling phase is tried.
    """
    if not _aspect_ok(query, ref):
        return None
    hyp = _hypotheses(query, ref.fps)
    if hyp is None or not hyp.valid.any() or len(ref) == 0:
        return None
    best = _align(hyp, ref)
    return (best.start, best.score) if best else None


# --------------------------------------------------------------------------- many videos

def _coarse_rows(rows: np.ndarray) -> np.ndarray:
    """Unit descriptor rows -> coarse rows: 8x8 luma (2x2 cells pooled) + chroma, pairs of rows
    summed (1 s blocks at 2 fps), unit norm. A third of the numbers, half the rows: the coarse pass
    reads ~6x fewer bytes, and pooling makes it still more indifferent to crops and phase."""
    n = len(rows)
    grid = rows[:, : LUMA_N * LUMA_N].reshape(n, LUMA_N, LUMA_N)
    # Strided adds: several times faster than a sum over a reshaped axis pair.
    luma = grid[:, 0::2, 0::2] + grid[:, 0::2, 1::2] + grid[:, 1::2, 0::2] + grid[:, 1::2, 1::2]
    small = np.concatenate([luma.reshape(n, -1), rows[:, LUMA_N * LUMA_N:]], axis=1)
    if n % 2:
        small = np.concatenate([small, np.zeros((1, small.shape[1]), small.dtype)])
    blocks = small[0::2] + small[1::2]
    return _unit_rows(blocks)


class SignatureIndex:
    """Reference signatures searched together: the exact alignment (:func:`align`) of the clip
    against every video when there are at most ``COARSE_VIDEOS`` of them; otherwise a coarse pass
    over all of them first, and the exact alignment only around the coarse peaks of the best
    ``COARSE_VIDEOS`` videos.

    The coarse pass is one matrix product of the clip's coarse rows (plain window, 1 s blocks,
    96 numbers) with every video's, then diagonal sums; it keeps 384 bytes of float32 per second
    of video in memory (1.4 GB for 1000 hours) besides the signatures themselves.
    Keep one index for many queries: building it is the costly part.
    """

    def __init__(self, refs: Iterable[tuple[int, VisualSignature]] = ()):
        self._ids: list[int] = []
        self._sigs: list[VisualSignature] = []
        self._coarse: np.ndarray | None = None  # (blocks, 96) float32 of all refs, concatenated
        self._pending: list[np.ndarray] = []
        self._block_starts: list[int] = [0]
        self._aspects: list[float] = []
        for video_id, sig in refs:
            self.add(video_id, sig)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, video_id: int, sig: VisualSignature) -> None:
        if abs(sig.fps - SIGNATURE_FPS) > 1e-6:
            raise ValueError(f"signature at {sig.fps} fps; the index holds {SIGNATURE_FPS} fps ones")
        rows = _coarse_rows(_unit_rows(sig.descriptors))
        self._ids.append(int(video_id))
        self._sigs.append(sig)
        self._aspects.append(sig.aspect if len(sig) else -1.0)  # -1: empty, never eligible
        self._pending.append(rows)
        self._block_starts.append(self._block_starts[-1] + len(rows))

    def _coarse_matrix(self) -> np.ndarray:
        if self._pending or self._coarse is None:
            parts = ([self._coarse] if self._coarse is not None else []) + self._pending
            self._coarse = np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)
            self._pending = []
        return self._coarse

    def _coarse_pass(self, hyp: _Hypotheses, eligible: np.ndarray) -> list[tuple[int, int]]:
        """(video index, row where the clip's first row lands) of the best coarse peak of each of
        the ``COARSE_VIDEOS`` best eligible videos, best first."""
        matrix = self._coarse_matrix()
        # The plain window and, where the query has it, the mirrored one (phase 0): a mirrored
        # cut's source must reach the fine pass. One product over the matrix for both.
        views = [_coarse_rows(hyp.rows[hyp.window.index(w)]) for w in (0, MIRRORED) if w in hyp.window]
        q, m, n_total = np.concatenate(views), len(views[0]), len(matrix)
        n_valid = max(int((np.abs(views[0]).sum(axis=1) > 0).sum()), 1)
        starts = np.asarray(self._block_starts)
        best = np.full(len(self._ids), -np.inf)
        peak = np.zeros(len(self._ids), np.int64)
        chunk = 1 << 18
        # Offsets are global block numbers where the clip's first block lands.
        for c0 in range(-(m - 1), n_total, chunk):
            c1 = min(n_total, c0 + chunk)
            a, b = max(0, c0), min(n_total, c1 + m - 1)
            sim = (q @ matrix[a:b].T).reshape(len(views), m, b - a)
            acc = _diagonal_sums(sim).max(axis=0) / n_valid  # k <-> offset a-(m-1)+k
            offs = np.arange(a - (m - 1), b)
            sel = (offs >= c0) & (offs < c1)
            acc, offs = acc[sel], offs[sel]
            # Each offset belongs to the video its middle block falls in (a clip overhanging a
            # video's edge still lies mostly inside its source); keep each video's best offset.
            vid = np.searchsorted(starts, np.clip(offs + m // 2, 0, n_total - 1), side="right") - 1
            new = np.r_[True, vid[1:] != vid[:-1]]  # vid is non-decreasing
            seg = np.cumsum(new) - 1
            seg_max = np.maximum.reduceat(acc, np.flatnonzero(new))
            at_max = np.flatnonzero(acc == seg_max[seg])
            first = at_max[np.r_[True, seg[at_max][1:] != seg[at_max][:-1]]]
            v = vid[first]
            better = eligible[v] & (acc[first] > best[v])
            best[v[better]] = acc[first][better]
            peak[v[better]] = offs[first][better] - starts[v[better]]
        ranked = [int(v) for v in np.argsort(-best)[:COARSE_VIDEOS] if np.isfinite(best[v])]
        return [(v, 2 * int(peak[v])) for v in ranked]

    def search(self, query: VisualSignature, *, top: int = 5, min_score: float = MIN_SCORE) -> list[SourceMatch]:
        """Videos the clip was cut from, best first, scoring at least ``min_score``."""
        aspects = np.asarray(self._aspects)
        eligible = aspects != -1.0
        if query.aspect > 0:  # crops and rescales keep the aspect ratio; unknown (0) passes
            known = aspects > 0
            ratio = np.abs(np.log(np.where(known, aspects, 1.0) / query.aspect))
            eligible &= ~known | (ratio <= math.log(MAX_ASPECT_RATIO))
        if not eligible.any():
            return []
        hyp = _hypotheses(query, SIGNATURE_FPS)
        if hyp is None or not hyp.valid.any():
            return []
        if eligible.sum() <= COARSE_VIDEOS:
            candidates: list[tuple[int, int | None]] = [(int(v), None) for v in np.flatnonzero(eligible)]
        else:
            candidates = list(self._coarse_pass(hyp, eligible))
        reach = int(math.ceil(REFINE_WINDOW_S * SIGNATURE_FPS)) + 2
        out: list[SourceMatch] = []
        for v, peak in candidates:
            sig = self._sigs[v]
            best = _align(hyp, sig) if peak is None else _align(hyp, sig, peak - reach, peak + reach)
            if best is not None and best.score >= min_score:
                out.append(SourceMatch(self._ids[v], best.start, best.score, best.matched_s))
        out.sort(key=lambda s: -s.score)
        return out[:top]


def select_sources(candidates: list[SourceMatch], *, min_score: float = MIN_SCORE) -> list[SourceMatch]:
    """The videos a cut was really cut from, out of every video's best alignment (best first).

    An absolute score is not enough: two videos that show near-identical pictures (the same
    product card with other text, the same photograph framed alike) both score well above
    ``min_score``, yet only one holds the cut. So the best video is a source when it reaches
    ``min_score`` and clears the cut's background (the median best score of the videos that are
    neither it nor its ties, when there are :data:`MIN_BACKGROUND_VIDEOS`) by
    :data:`BACKGROUND_MARGIN`; another video is a source only when it
    *ties* the best within :data:`TIE_MARGIN` (the same footage re-used: a shared intro or end
    card) and clears the background too. A video in between — close, but measurably worse than
    the best — is a look-alike, not a source. The true source stays first: the rule only removes.

    Known limit: a re-used copy encoded much worse than its twin can score more than
    ``TIE_MARGIN`` below it and is then left out.
    """
    ranked = sorted(candidates, key=lambda s: -s.score)
    if not ranked or ranked[0].score < min_score:
        return []
    top = ranked[0].score
    tied = [s for s in ranked if s.score >= max(top - TIE_MARGIN, min_score)]
    rest = [s.score for s in ranked[len(tied):]]
    background = float(np.median(rest)) if len(rest) >= MIN_BACKGROUND_VIDEOS else -math.inf
    return [s for s in tied if s.score - background >= BACKGROUND_MARGIN]


def signature_of(path) -> VisualSignature:
    """Decode a video file (downscaled, as indexing does) and build its signature, query side
    included: for looking a file up without running the whole pipeline (benchmarks, tools)."""
    from vidsearch.media.frames import decode_frames
    from vidsearch.media.probe import probe

    info = probe(path)
    builder = SignatureBuilder()
    for frame in decode_frames(info):
        builder.feed(frame)
    return builder.finish(info.duration)


def find_sources(query: VisualSignature, refs: Iterable[tuple[int, VisualSignature]], *, top: int = 5,
                 min_score: float = MIN_SCORE) -> list[SourceMatch]:
    """Videos the clip was cut from, best first; only matches scoring at least ``min_score``.

    A clip from a video that is not in refs returns [] (nothing reaches MIN_SCORE), as does a clip
    with no usable picture (all black / flat). For repeated queries over a large library, build
    one SignatureIndex and call its ``search``.
    """
    return SignatureIndex(refs).search(query, top=top, min_score=min_score)
