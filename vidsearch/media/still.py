"""A still image as a short video, so that a photo can be asked about like a query video: the
per-video stage reads its one picture (tags, on-screen text, CLIP when the library has it)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from vidsearch.types import VideoError

#: Length of the video a still image becomes: long enough for one segment and one keyframe, and
#: short, because the picture is aligned as a clip: a 2 s freeze placed photos of moving shots 1 to
#: 1.3 s early, or nowhere (six photos of benchmark videos: all at the second they were taken at 0.5 s).
STILL_SECONDS = 0.5


def still_to_video(image: Path, out: Path, seconds: float = STILL_SECONDS) -> Path:
    """Write ``image`` held for ``seconds`` (5 fps, no sound, even width and height) as an MP4 at
    ``out``; VideoError (one line) when ffmpeg cannot read the image."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise VideoError(image, "ffmpeg not found on PATH (install ffmpeg)")
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-i", str(image),
           "-t", f"{seconds:.2f}", "-r", "5", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
           "-an", "-c:v", "libx264", "-preset", "ultrafast", str(out)]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise VideoError(image, f"cannot run ffmpeg on the image: {e}") from e
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise VideoError(image, f"not a readable image ({lines[-1] if lines else 'ffmpeg failed'})")
    return out
