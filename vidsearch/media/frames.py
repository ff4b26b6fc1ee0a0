"""Decode a video once, downscaled, and hand each frame to the visual stages.

PyAV gives exact presentation times (variable frame rate safe); frames are converted to small
RGB arrays right in swscale so that scene detection, hashing and keyframe picking never touch
full-resolution pixels (the main reason indexing runs many times faster than real time).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import av
import cv2
import numpy as np

from vidsearch.types import VideoError, VideoInfo

#: Longest side of the frames the visual stages see.
ANALYSIS_SIDE = 320


@dataclass(frozen=True)
class DecodedFrame:
    index: int
    time: float
    rgb: np.ndarray  # uint8 (h, w, 3), display orientation
    #: A sharper copy (longest side ``detail_side``) on a few frames per second, for OCR.
    detail: np.ndarray | None = None


def analysis_size(info: VideoInfo, side: int = ANALYSIS_SIDE) -> tuple[int, int]:
    """(width, height) in display orientation, longest side ``side``, even numbers."""
    scale = side / max(info.width, info.height)
    w = max(2, int(round(info.width * scale / 2)) * 2)
    h = max(2, int(round(info.height * scale / 2)) * 2)
    return w, h


def _unrotate(rgb: np.ndarray, rotation: int) -> np.ndarray:
    # ffprobe's display-matrix rotation is counter-clockwise; 270 (= -90) is the common phone case.
    if rotation == 90:
        return np.ascontiguousarray(np.rot90(rgb, k=1))
    if rotation == 180:
        return np.ascontiguousarray(rgb[::-1, ::-1])
    if rotation == 270:
        return np.ascontiguousarray(np.rot90(rgb, k=-1))
    return rgb


# Planar YUV formats we downscale ourselves: libswscale's RGB conversion costs ~5x the decode here,
# while resizing the three small planes with OpenCV and converting once is cheap.
_PLANAR_BITS = {
    "yuv420p": 8, "yuvj420p": 8, "yuv422p": 8, "yuvj422p": 8, "yuv444p": 8, "yuvj444p": 8,
    "yuv420p10le": 10, "yuv422p10le": 10, "yuv444p10le": 10, "yuv420p12le": 12,
}
# Limited-range (TV) YUV to full range, as lookup tables over 8-bit values.
_LUT_Y = np.clip((np.arange(256) - 16) * 255.0 / 219.0, 0, 255).astype(np.uint8)
_LUT_C = np.clip((np.arange(256) - 128) * 255.0 / 224.0 + 128, 0, 255).astype(np.uint8)


def frame_to_rgb(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """Downscale a decoded frame to (height, width, 3) RGB uint8 (stored orientation)."""
    fmt = frame.format.name
    bits = _PLANAR_BITS.get(fmt)
    if bits is None:
        return frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA")
    dtype = np.dtype(np.uint8) if bits == 8 else np.dtype("<u2")
    planes = []
    for plane in frame.planes[:3]:
        arr: np.ndarray = np.frombuffer(memoryview(plane), dtype).reshape(plane.height, plane.line_size // dtype.itemsize)[:, : plane.width]
        small: np.ndarray = cv2.resize(arr, (width, height), interpolation=cv2.INTER_AREA)
        if bits > 8:
            small = (small >> (bits - 8)).astype(np.uint8)
        planes.append(small)
    if not fmt.startswith("yuvj"):
        planes = [cv2.LUT(planes[0], _LUT_Y), cv2.LUT(planes[1], _LUT_C), cv2.LUT(planes[2], _LUT_C)]
    return cv2.cvtColor(np.dstack(planes), cv2.COLOR_YUV2RGB)


def decode_frames(
    info: VideoInfo,
    side: int = ANALYSIS_SIDE,
    *,
    detail_side: int | None = None,
    detail_fps: float = 0.5,
) -> Iterator[DecodedFrame]:
    """Yield every frame of the first video stream, downscaled, with its presentation time.

    With ``detail_side``, every ``1/detail_fps`` seconds a frame also carries a larger copy
    (text needs more pixels than scene detection; converting only a few frames keeps it cheap).

    A file that breaks mid-stream ends the iteration early (what was decoded is kept);
    a file that yields no frame at all raises VideoError.
    """
    w, h = analysis_size(info, side)
    # The decoder works in stored orientation; swap the target size for 90/270 rotations.
    dec_w, dec_h = (h, w) if info.rotation in (90, 270) else (w, h)
    if detail_side:
        dw, dh = analysis_size(info, min(detail_side, max(info.width, info.height)))
        det_w, det_h = (dh, dw) if info.rotation in (90, 270) else (dw, dh)
    next_detail = 0.0
    try:
        container = av.open(str(info.path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(info.path, f"cannot open video: {exc}") from exc
    n = 0
    # Times are relative to the container's start, as ffmpeg's audio decode (and players) count
    # them: MPEG-TS and some Matroska files start at a non-zero timestamp.
    origin = container.start_time / av.time_base if container.start_time else 0.0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        # Deblocking only polishes pixels we are about to shrink 4-10x: skipping it is free speed.
        stream.codec_context.options = {"skip_loop_filter": "all"}
        last_t = -1.0
        try:
            for frame in container.decode(stream):
                t = frame.time
                if t is None:
                    t = n / info.fps
                t = max(0.0, float(t) - origin)
                if t <= last_t:  # duplicated or out-of-order timestamps from broken muxers
                    t = last_t + 1.0 / info.fps
                last_t = t
                rgb = frame_to_rgb(frame, dec_w, dec_h)
                detail = None
                if detail_side and t + 1e-6 >= next_detail:
                    next_detail = t + 1.0 / detail_fps
                    detail = _unrotate(frame_to_rgb(frame, det_w, det_h), info.rotation)
                yield DecodedFrame(n, t, _unrotate(rgb, info.rotation), detail)
                n += 1
        except av.error.FFmpegError as exc:
            if n == 0:
                raise VideoError(info.path, f"cannot decode video: {exc}") from exc
    finally:
        container.close()
    if n == 0:
        raise VideoError(info.path, "video stream has no decodable frames")


#: Frames whose 9x8 thumbnail varies less than this (mean |step| in grey levels) are flat:
#: black, a plain card, a fade. Their hash is 0, which matching treats as "no picture".
FLAT_DETAIL = 3.0


def dhash(rgb: np.ndarray) -> int:
    """64-bit difference hash of a frame: robust to scaling and re-encoding, cheap to compare.

    Flat frames hash to 0: their bits would be noise, and two different plain cards would
    otherwise "match".
    """
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    steps = small[:, 1:] - small[:, :-1]
    if np.abs(steps).mean() < FLAT_DETAIL:
        return 0
    return int(np.packbits((steps > 0).flatten()).view(">u8")[0])


def hamming(a: np.ndarray | np.integer | int, b: np.ndarray | np.integer | int) -> np.ndarray:
    """Bitwise Hamming distance between uint64 hashes (broadcasting)."""
    x = np.atleast_1d(np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)))
    counts = np.unpackbits(x.view(np.uint8).reshape(*x.shape, 8), axis=-1).sum(axis=-1)
    return counts if np.ndim(a) or np.ndim(b) else counts[0]


def sharpness(rgb: np.ndarray) -> float:
    """Variance of the Laplacian: higher is sharper (blur and fades score low)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def luma_stats(rgb: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of luma (0..255), for black-frame detection."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return float(gray.mean()), float(gray.std())


#: Rows and columns at a frame's edge whose brightest pixel is darker than this are letterbox or
#: pillarbox bars (a 16:9 bumper shown inside a 9:16 frame).
BAR_LUMA = 24
#: Bars are cropped only when the picture between them keeps at least this share of each side.
MIN_BOX_SHARE = 0.1


def content_box(rgb: np.ndarray) -> tuple[slice, slice]:
    """The picture inside black letterbox/pillarbox bars: (rows, columns) of ``rgb``."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    rows = np.flatnonzero(gray.max(axis=1) > BAR_LUMA)
    cols = np.flatnonzero(gray.max(axis=0) > BAR_LUMA)
    h, w = gray.shape
    if rows.size == 0 or cols.size == 0:
        return slice(0, h), slice(0, w)
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if (r1 - r0) < MIN_BOX_SHARE * h or (c1 - c0) < MIN_BOX_SHARE * w:
        return slice(0, h), slice(0, w)
    return slice(r0, r1), slice(c0, c1)


def frame_signature(rgb: np.ndarray) -> tuple[float, float, int, float]:
    """(luma mean, luma std, dhash, picture luma) from 64x36 thumbnails: the per-frame cost of trimming.

    Luma is measured over the whole frame (black-frame detection); the hash and the picture's
    own luma inside any black bars, so a bumper letterboxed into another aspect ratio hashes
    like itself and its fades read the same.
    """
    mean, std = luma_stats(cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA))
    rows, cols = content_box(rgb)
    box = cv2.resize(rgb[rows, cols], (64, 36), interpolation=cv2.INTER_AREA)
    return mean, std, dhash(box), luma_stats(box)[0]


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> uint8 (h, w, 3) RGB."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:  # only ever given encode_jpeg's own output
        raise ValueError("not a JPEG image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int = 82) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
