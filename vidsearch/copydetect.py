"""Visual copy detection: which library video a short clip was cut from, and from which second.

An uploaded clip is often an altered copy: re-encoded at a low bitrate, rescaled, cropped a few
percent, muted. Audio may be gone, so this works on pictures alone.

Per video we store a **visual signature**: one small frame descriptor every ``1/SIGNATURE_FPS``
seconds (int8, ~0.6 kB per second of video). A clip's signature is slid along each video's;
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
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from .frames import DecodedFrame

#: Samples per second of video stored in a signature (2 fps x 288 bytes = 576 B/s).
SIGNATURE_FPS = 2.0
#: Sampling rate of the query side (the head of every signature built from frames); a multiple of
#: SIGNATURE_FPS: each of the QUERY_FPS / SIGNATURE_FPS phases is tried against the stored grid.
QUERY_FPS = 12.0
#: Seconds at the start of a video kept with query-side descriptors (in memory, never stored):
#: clips are 3-10 s, and the head of a longer one is enough to find where it comes from.
QUERY_S = 12.0

#: Luma thumbnail side (band-pass), chroma thumbnail side, working size of a crop window.
LUMA_N = 16
CHROMA_N = 4
_WORK = 32
#: Band-pass: the frame blurred at ~half a thumbnail cell, minus that blurred again at 3 cells
#: (drops the smooth gradients every title card shares).
_CELL_BLUR = 0.5
_BASE_SIGMA = 3.0  # in thumbnail cells
#: Frames are first halved (exact 2x area averaging is cheap) while their longest side exceeds this.
_PREP_SIDE = 100
#: Chroma weight in the descriptor (the luma block has unit norm).
CHROMA_WEIGHT = 0.5
DESCRIPTOR_DIM = LUMA_N * LUMA_N + 2 * CHROMA_N * CHROMA_N

#: Fraction of width and height the reference describes: the central part survives a ~5% crop.
REF_FRACTION = 0.9
#: Query-side crop windows (fraction of the clip's width/height, centre offset as a fraction of the
#: clip's width/height). A clip cropped by c shows the reference's central 90% in its central
#: 0.9 / (1 - c); off-centre crops shift that window by up to c/2.
QUERY_WINDOWS: tuple[tuple[float, float, float], ...] = (
    (REF_FRACTION, 0.0, 0.0),  # not cropped (must stay first: the stored descriptor)
    (0.925, 0.0, 0.0),    # ~2.7% crop
    (0.95, 0.0, 0.0),     # ~5% centre crop
    (0.95, -0.025, -0.025), (0.95, 0.025, -0.025), (0.95, -0.025, 0.025), (0.95, 0.025, 0.025),  # 5%, one corner kept
)
#: Score handicap per unit of crop hypothesis (5% of scale, or 2.5% of shift, is one unit):
#: a cropped window must beat the plain one by this much, so ties (pure zooms) mean "not cropped".
WINDOW_PENALTY = 0.01

#: A frame whose band-pass luma thumbnail varies less than this (std, grey levels) is flat: black,
#: a fade's bottom, a plain or gradient card. It carries no identity and never matches anything.
FLAT_DETAIL = 1.0
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
#: Videos whose picture aspect ratio differs from the clip's by more than this factor are skipped
#: (crops and rescales keep the aspect; a portrait clip is not cut from a landscape video).
MAX_ASPECT_RATIO = 1.25

#: SignatureIndex: with more videos than this, a coarse pass picks this many for the exact alignment.
COARSE_VIDEOS = 32
#: The exact alignment searches this far (s) around each coarse peak (covers the zoom ambiguity).
REFINE_WINDOW_S = 8.0

_MAGIC = b"VSIG"
_VERSION = 1
_HEADER = struct.Struct("<4sHHfffII")  # magic, version, dim, fps, origin, aspect, n, reserved


# --------------------------------------------------------------------------- frame descriptor

def _shrink(rgb: np.ndarray) -> np.ndarray:
    """Small uint8 YCrCb copy of a frame (longest side <= _PREP_SIDE): all a descriptor needs."""
    img = rgb
    # Exact 2x area averaging is cheap; frames from decode_frames have even sizes.
    while max(img.shape[:2]) > _PREP_SIDE and img.shape[0] % 2 == 0 and img.shape[1] % 2 == 0:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if max(img.shape[:2]) > _PREP_SIDE:  # odd sizes: one generic resize
        s = _PREP_SIDE / max(img.shape[:2])
        img = cv2.resize(img, (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s))),
                         interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2YCrCb)


def _prepare(small: np.ndarray) -> np.ndarray:
    """Blurred float32 copy of a shrunk frame, from which every crop window is sampled.

    Blurring to about half a thumbnail cell *before* sampling lets each window be cut at
    sub-pixel positions with plain bilinear sampling, without aliasing.
    """
    h, w = small.shape[:2]
    sx = max(0.3, _CELL_BLUR * REF_FRACTION * w / LUMA_N)
    sy = max(0.3, _CELL_BLUR * REF_FRACTION * h / LUMA_N)
    return cv2.GaussianBlur(small.astype(np.float32), (0, 0), sigmaX=sx, sigmaY=sy)


def _describe(prep: np.ndarray, window: tuple[float, float, float]) -> tuple[np.ndarray, float]:
    """(unit-norm float32 descriptor, luma detail) of one crop window of a prepared frame.

    window = (fraction of width/height, centre shift x, centre shift y), fractions of the frame.
    """
    h, w = prep.shape[:2]
    frac, dx, dy = window
    cw, ch = w * frac, h * frac
    x0, y0 = (w - cw) / 2 + dx * w, (h - ch) / 2 + dy * h
    # Pixel-centre mapping: output pixel (i + 0.5) sits at x0 + (i + 0.5) * cw / _WORK.
    sx, sy = cw / _WORK, ch / _WORK
    m = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]], np.float32)
    work = cv2.warpAffine(prep, m, (_WORK, _WORK), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    luma = cv2.resize(work[..., 0], (LUMA_N, LUMA_N), interpolation=cv2.INTER_AREA)
    thumb = (luma - cv2.GaussianBlur(luma, (0, 0), _BASE_SIGMA)).ravel()
    thumb -= thumb.mean()
    detail = math.sqrt(float(thumb @ thumb) / thumb.size)
    out = np.zeros(DESCRIPTOR_DIM, np.float32)
    if detail < 1e-6:
        return out, detail
    out[: LUMA_N * LUMA_N] = thumb / (detail * math.sqrt(thumb.size))
    chroma = cv2.resize(work[..., 1:], (CHROMA_N, CHROMA_N), interpolation=cv2.INTER_AREA).ravel() - 128.0
    # Saturating weight: grey pictures add ~nothing, vivid ones up to CHROMA_WEIGHT.
    out[LUMA_N * LUMA_N:] = CHROMA_WEIGHT * chroma / (float(np.linalg.norm(chroma)) + 20.0)
    out /= float(np.linalg.norm(out))
    return out, detail


def _quantise(x: np.ndarray) -> np.ndarray:
    """Unit-norm float rows -> int8 rows (per-row scale; cosine does not care about scale)."""
    x = np.atleast_2d(x)
    peak = np.abs(x).max(axis=1, keepdims=True)
    q = np.where(peak > 0, np.round(x / np.maximum(peak, 1e-12) * 127.0), 0.0)
    return q.astype(np.int8)


def frame_descriptor(rgb: np.ndarray) -> np.ndarray:
    """Compact per-frame descriptor robust to re-encoding, scaling and a ~5% crop.

    ``rgb`` is uint8 (h, w, 3), longest side ~320 px (what vidsearch.frames.decode_frames yields).
    Returns int8 (DESCRIPTOR_DIM,): the central 90% as a band-pass 16x16 luma thumbnail plus a 4x4
    chroma thumbnail; compare two with cosine similarity. A flat frame gives all zeros.
    """
    desc, detail = _describe(_prepare(_shrink(rgb)), QUERY_WINDOWS[0])
    if detail < FLAT_DETAIL:
        return np.zeros(DESCRIPTOR_DIM, np.int8)
    return _quantise(desc)[0]


# --------------------------------------------------------------------------- signatures

@dataclass
class VisualSignature:
    """Frame descriptors of one video sampled every ``1/fps`` s.

    Row i describes the frame on screen at ``origin + i / fps`` (origin is the first frame's time,
    0 for nearly every file). ``query`` holds the query-side descriptors of the head of the video
    (several crop windows at QUERY_FPS); it lives in memory only and is what makes a signature
    built from a clip a good query.
    """

    fps: float
    descriptors: np.ndarray  # (n, DESCRIPTOR_DIM) int8
    flat: np.ndarray  # (n,) bool
    origin: float = 0.0
    aspect: float = 0.0  # width / height of the picture; 0 = unknown
    query: QueryFrames | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.descriptors = np.asarray(self.descriptors, dtype=np.int8).reshape(-1, DESCRIPTOR_DIM)
        self.flat = np.asarray(self.flat, dtype=bool).reshape(-1)
        if len(self.flat) != len(self.descriptors):
            raise ValueError("descriptors and flat differ in length")

    def __len__(self) -> int:
        return len(self.descriptors)

    @property
    def duration(self) -> float:
        """Seconds covered (origin not included)."""
        return len(self.descriptors) / self.fps if self.fps > 0 else 0.0

    def times(self) -> np.ndarray:
        """Time (s) of each row."""
        return self.origin + np.arange(len(self.descriptors)) / self.fps

    def to_bytes(self) -> bytes:
        """Packed form for storage: header, int8 descriptors, flat bits (query side not kept)."""
        n = len(self.descriptors)
        head = _HEADER.pack(_MAGIC, _VERSION, DESCRIPTOR_DIM, self.fps, self.origin, self.aspect, n, 0)
        return head + self.descriptors.tobytes() + np.packbits(self.flat).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> VisualSignature:
        if len(data) < _HEADER.size:
            raise ValueError("visual signature: truncated header")
        magic, version, dim, fps, origin, aspect, n, _ = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise ValueError(f"visual signature: unknown format {magic!r} v{version}")
        if dim != DESCRIPTOR_DIM:
            raise ValueError(f"visual signature: descriptor size {dim}, this version uses {DESCRIPTOR_DIM}")
        body = _HEADER.size + n * dim
        flat_len = (n + 7) // 8
        if len(data) != body + flat_len:
            raise ValueError("visual signature: wrong length")
        desc = np.frombuffer(data, np.int8, n * dim, _HEADER.size).reshape(n, dim).copy()
        flat = np.unpackbits(np.frombuffer(data, np.uint8, flat_len, body))[:n].astype(bool)
        return cls(float(fps), desc, flat, float(origin), float(aspect))


class QueryFrames:
    """The query side of a signature: its head sampled at ``fps`` (row j at ``origin + j / fps``),
    each frame described under every crop window of QUERY_WINDOWS.

    Kept as shrunk frames (~11 kB each) and described on first use, so indexing a library pays
    almost nothing for it; only a signature used as a query does (~0.1-0.2 s for a 10 s clip).
    """

    def __init__(self, fps: float, frames: list[np.ndarray]):
        self.fps = fps
        self._frames: list[np.ndarray] | None = frames
        self._descriptors: np.ndarray | None = None
        self._flat: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._frames) if self._frames is not None else len(self.flat)

    def _describe_all(self) -> None:
        frames = self._frames or []
        desc = np.zeros((len(QUERY_WINDOWS), len(frames), DESCRIPTOR_DIM), np.float32)
        flat = np.zeros(len(frames), bool)
        prev: np.ndarray | None = None
        for j, small in enumerate(frames):
            if prev is not None and small is prev:  # a frame held over several rows
                desc[:, j], flat[j] = desc[:, j - 1], flat[j - 1]
                continue
            prep = _prepare(small)
            plain, detail = _describe(prep, QUERY_WINDOWS[0])
            flat[j] = detail < FLAT_DETAIL
            if not flat[j]:
                desc[0, j] = plain
                for w in range(1, len(QUERY_WINDOWS)):
                    desc[w, j] = _describe(prep, QUERY_WINDOWS[w])[0]
            prev = small
        self._descriptors, self._flat, self._frames = desc, flat, None

    @property
    def descriptors(self) -> np.ndarray:
        """(len(QUERY_WINDOWS), m, DESCRIPTOR_DIM) float32 unit rows; 0 where flat."""
        if self._descriptors is None:
            self._describe_all()
        assert self._descriptors is not None
        return self._descriptors

    @property
    def flat(self) -> np.ndarray:
        """(m,) bool, judged on the plain window."""
        if self._flat is None:
            self._describe_all()
        assert self._flat is not None
        return self._flat


class SignatureBuilder:
    """Fed every decoded frame (vidsearch.frames.DecodedFrame: .time, .rgb) in time order.

    Samples at ``fps`` the frame on screen at each grid time (origin = the first frame's time).
    The first ``query_s`` seconds are also kept at ``query_fps`` as shrunk frames (~2 MB, memory
    only): they are the query side when this video is a clip to look up (see QueryFrames).
    """

    def __init__(self, fps: float = SIGNATURE_FPS, *, query_fps: float = QUERY_FPS, query_s: float = QUERY_S):
        if fps <= 0 or query_fps <= 0:
            raise ValueError("sampling rates must be positive")
        self.fps = fps
        self.query_fps = query_fps
        self.query_s = query_s
        self._origin: float | None = None
        self._prev: DecodedFrame | None = None  # the frame on screen until the next one arrives
        self._aspect = 0.0
        self._rows: list[np.ndarray] = []
        self._flat: list[bool] = []
        self._qframes: list[np.ndarray] = []
        # (rgb, shrunk) and (rgb, plain descriptor, detail) of the last frame handled
        self._small: tuple[np.ndarray, np.ndarray] | None = None
        self._plain: tuple[np.ndarray, np.ndarray, float] | None = None

    # A frame held over several grid times (low frame rates) is processed once. The caches hold the
    # array itself, so identity cannot be confused with a freed one's.
    def _shrunk(self, rgb: np.ndarray) -> np.ndarray:
        if self._small is None or self._small[0] is not rgb:
            self._small = (rgb, _shrink(rgb))
        return self._small[1]

    def _described(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        if self._plain is None or self._plain[0] is not rgb:
            desc, detail = _describe(_prepare(self._shrunk(rgb)), QUERY_WINDOWS[0])
            self._plain = (rgb, desc, detail)
        return self._plain[1], self._plain[2]

    def _emit_until(self, t: float) -> None:
        """Sample the held frame at every grid time before ``t``."""
        assert self._prev is not None and self._origin is not None
        rgb = self._prev.rgb
        while self._origin + len(self._rows) / self.fps < t - 1e-6:
            desc, detail = self._described(rgb)
            self._rows.append(desc)
            self._flat.append(detail < FLAT_DETAIL)
        q_end = min(t, self._origin + self.query_s)
        while self._origin + len(self._qframes) / self.query_fps < q_end - 1e-6:
            self._qframes.append(self._shrunk(rgb))

    def feed(self, frame: DecodedFrame) -> None:
        if self._prev is None:
            self._origin = float(frame.time)
            h, w = frame.rgb.shape[:2]
            self._aspect = w / h
        else:
            # Grid times before this frame's time show the previous frame.
            self._emit_until(float(frame.time))
        self._prev = frame

    def finish(self, duration: float) -> VisualSignature:
        """The signature of everything fed; the last frame stays on screen until ``duration``."""
        if self._prev is None or self._origin is None:
            return VisualSignature(self.fps, np.zeros((0, DESCRIPTOR_DIM), np.int8), np.zeros(0, bool))
        end = max(float(duration), float(self._prev.time) + 1e-3)
        self._emit_until(end)
        desc = _quantise(np.stack(self._rows))
        flat = np.array(self._flat, bool)
        desc[flat] = 0
        query = QueryFrames(self.query_fps, self._qframes) if self._qframes else None
        sig = VisualSignature(self.fps, desc, flat, self._origin, self._aspect, query)
        self._prev = self._small = self._plain = None
        self._rows, self._flat, self._qframes = [], [], []
        return sig


# --------------------------------------------------------------------------- alignment

@dataclass
class SourceMatch:
    video_id: int
    start: float  # where the clip's first frame sits in the source video (s)
    score: float  # alignment similarity (mean cosine, handicaps applied), higher is better
    matched_s: float  # seconds of the clip that matched (non-flat frames similar to their source)


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
        q = _coarse_rows(hyp.rows[hyp.window.index(0)])  # plain window, phase 0
        n_valid = max(int((np.abs(q).sum(axis=1) > 0).sum()), 1)
        m, n_total = len(q), len(matrix)
        starts = np.asarray(self._block_starts)
        best = np.full(len(self._ids), -np.inf)
        peak = np.zeros(len(self._ids), np.int64)
        chunk = 1 << 18
        # Offsets are global block numbers where the clip's first block lands.
        for c0 in range(-(m - 1), n_total, chunk):
            c1 = min(n_total, c0 + chunk)
            a, b = max(0, c0), min(n_total, c1 + m - 1)
            acc = _diagonal_sums((q @ matrix[a:b].T)[None])[0] / n_valid  # k <-> offset a-(m-1)+k
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


def signature_of(path) -> VisualSignature:
    """Decode a video file (downscaled, as indexing does) and build its signature, query side
    included: for looking a file up without running the whole pipeline (benchmarks, tools)."""
    from .frames import decode_frames
    from .probe import probe

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
