"""The visual signature of a video: one small frame descriptor every ``1/SIGNATURE_FPS`` seconds.

Built while a video is decoded for indexing (:class:`SignatureBuilder`) and stored with it; a
query video's signature is built the same way, with query-side descriptors for its head. Matching
signatures (which video a cut comes from) is :mod:`vidsearch.query.copydetect`.

The descriptor (see :func:`frame_descriptor`) describes the central 90% of the picture: a band-pass
16x16 luma thumbnail (z-normalised: brightness and contrast do not matter; the band-pass removes
the smooth gradients that every title card shares) plus a 4x4 chroma thumbnail (two cards with
different colours differ), int8, ~0.6 kB per second of video. Low resolution makes it indifferent
to re-encoding and rescaling. Cropping is handled on the query side only: the query video is also
described under a few crop windows (``QUERY_WINDOWS``), and sampled at ``QUERY_FPS`` (a multiple
of ``SIGNATURE_FPS``) so that one of its sampling phases lands within a few milliseconds of the
stored sample times.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from vidsearch.media.frames import DecodedFrame

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
#: Index, after the crop windows, of the query side's mirrored hypothesis: the plain window of the
#: frame flipped left to right (a re-upload mirrored to slip past copy checks is still its source's).
MIRRORED = len(QUERY_WINDOWS)
#: Score handicap per unit of crop hypothesis (5% of scale, or 2.5% of shift, is one unit):
#: a cropped window must beat the plain one by this much, so ties (pure zooms) mean "not cropped".
WINDOW_PENALTY = 0.01

#: A frame whose band-pass luma thumbnail varies less than this (std, grey levels) is flat: black,
#: a fade's bottom, a plain or gradient card. It carries no identity and never matches anything.
FLAT_DETAIL = 1.0
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

    ``rgb`` is uint8 (h, w, 3), longest side ~320 px (what vidsearch.media.frames.decode_frames yields).
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
    each frame described under every crop window of QUERY_WINDOWS, and mirrored (:data:`MIRRORED`).

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
        desc = np.zeros((MIRRORED + 1, len(frames), DESCRIPTOR_DIM), np.float32)
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
                desc[MIRRORED, j] = _describe(np.ascontiguousarray(prep[:, ::-1]), QUERY_WINDOWS[0])[0]
            prev = small
        self._descriptors, self._flat, self._frames = desc, flat, None

    @property
    def descriptors(self) -> np.ndarray:
        """(len(QUERY_WINDOWS) + 1, m, DESCRIPTOR_DIM) float32 unit rows, the last the mirrored
        hypothesis (:data:`MIRRORED`); 0 where flat."""
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
    """Fed every decoded frame (vidsearch.media.frames.DecodedFrame: .time, .rgb) in time order.

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
