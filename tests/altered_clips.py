"""Cut a clip out of a video with ffmpeg and alter it the way re-uploads alter copies.

Used by the copy-detection tests (and reusable by any test that needs "the same video, but
re-encoded / rescaled / cropped / muted"). Everything goes through libx264 so that every altered
clip is a real re-encode, even with no alteration asked for.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

#: Named alteration sets (keyword arguments of make_altered_clip).
ALTERATIONS: dict[str, dict] = {
    "plain": {},
    "reencode": {"bitrate": "150k"},
    "scaled": {"scale": 0.5},
    "cropped": {"crop": 0.05},
    "cropped_topleft": {"crop": 0.05, "crop_anchor": "topleft"},
    "muted": {"mute": True},
    "all": {"bitrate": "150k", "scale": 0.5, "crop": 0.05, "mute": True},
}

_ANCHORS = ("center", "topleft")


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def make_altered_clip(
    src: Path,
    dst: Path,
    start: float,
    duration: float,
    *,
    bitrate: str | None = None,
    scale: float | None = None,
    crop: float | None = None,
    crop_anchor: str = "center",
    mute: bool = False,
    ts_offset: float | None = None,
) -> Path:
    """Cut [start, start+duration) from src with ffmpeg and alter it; returns dst.

    - bitrate: target video bitrate for libx264 (e.g. "150k"); default: CRF 23.
    - scale: factor on the (cropped) size, rounded to even dimensions.
    - crop: fraction removed from both width and height (0.05 keeps 95% x 95%), anchored
      "center" or "topleft" (keeps the top-left corner: an off-centre crop).
    - mute: drop the audio track (otherwise audio is re-encoded to AAC when present).
    - ts_offset: shift the output timestamps so that the clip does not start at 0.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg not found")
    if crop_anchor not in _ANCHORS:
        raise ValueError(f"crop_anchor must be one of {_ANCHORS}")
    filters: list[str] = []
    if crop:
        keep = 1.0 - crop
        # Even sizes (yuv420p); position 0 (topleft) or centred.
        w, h = f"trunc(iw*{keep}/2)*2", f"trunc(ih*{keep}/2)*2"
        xy = "0:0" if crop_anchor == "topleft" else "(iw-ow)/2:(ih-oh)/2"
        filters.append(f"crop={w}:{h}:{xy}")
    if scale:
        filters.append(f"scale=trunc(iw*{scale}/2)*2:trunc(ih*{scale}/2)*2:flags=bicubic")
    # Input seeking before -i is frame-accurate when transcoding, and fast.
    cmd = [ffmpeg, "-v", "error", "-y", "-ss", f"{start:.3f}", "-i", str(src), "-t", f"{duration:.3f}"]
    if filters:
        cmd += ["-vf", ",".join(filters)]
    # One encoder thread: with several, x264's rate control gives different bytes from run to run
    # and machine to machine (a 16-core CI runner turned a pagoda cut into a motorcycle's tags).
    cmd += ["-c:v", "libx264", "-threads", "1", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    cmd += ["-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate] if bitrate else ["-crf", "23"]
    cmd += ["-an"] if mute else ["-c:a", "aac", "-b:a", "64k"]
    if ts_offset:
        cmd += ["-output_ts_offset", f"{ts_offset:.3f}"]
    cmd.append(str(dst))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed for {src.name}: {proc.stderr.strip()[-500:]}")
    return dst


def make_black_clip(dst: Path, duration: float = 4.0, size: tuple[int, int] = (640, 360)) -> Path:
    """An all-black, silent H.264 clip: it must match nothing."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg not found")
    cmd = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=black:s={size[0]}x{size[1]}:r=25",
           "-t", f"{duration:.3f}", "-c:v", "libx264", "-threads", "1", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(dst)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.strip()[-500:]}")
    return dst
