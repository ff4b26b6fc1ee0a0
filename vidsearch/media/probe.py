"""Probe a file with ffprobe: streams, duration, rotation; bad input becomes one-line VideoError."""
from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

from vidsearch.types import VideoError, VideoInfo

#: The highest frame rate :func:`stream_extent` callers should expect of a real camera (slow motion).
MAX_REAL_FPS = 240


def _fps(stream: dict) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        raw = stream.get(key) or "0/0"
        try:
            value = Fraction(raw)
        except (ValueError, ZeroDivisionError):
            continue
        if value > 0:
            return float(value)
    return 0.0


def _rotation(stream: dict) -> int:
    # Newer ffmpeg reports rotation in the display matrix side data, older in a tag.
    for side in stream.get("side_data_list", []) or []:
        if "rotation" in side:
            return int(round(float(side["rotation"]))) % 360
    tag = (stream.get("tags") or {}).get("rotate")
    return int(tag) % 360 if tag not in (None, "") else 0


def _first_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    # ffprobe prefixes errors with the path; keep the part after the last ': '.
    return lines[-1].split(": ")[-1] if lines else "unknown error"


def probe(path: Path) -> VideoInfo:
    """Describe a video file, or raise VideoError saying in one line why it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise VideoError(path, "no such file")
    if not path.is_file():
        raise VideoError(path, "not a regular file")
    try:
        if path.stat().st_size == 0:
            raise VideoError(path, "empty file (0 bytes)")
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as exc:
        raise VideoError(path, f"cannot read file: {exc.strerror or exc}") from exc
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise VideoError(path, "ffprobe not found: install ffmpeg (apt-get install -y ffmpeg)")
    proc = subprocess.run(
        [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    if proc.returncode != 0:
        reason = _first_error_line(proc.stderr)
        if head[4:8] == b"ftyp":
            # An MP4/MOV that starts right but cannot be parsed was cut short (or damaged).
            raise VideoError(path, f"truncated or corrupt MP4/MOV file ({reason})")
        raise VideoError(path, f"not a readable media file: {reason}")
    data = json.loads(proc.stdout or "{}")
    streams = data.get("streams", [])
    video = next(
        (s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    if video is None:
        kinds = sorted({s.get("codec_type", "?") for s in streams}) or ["none"]
        raise VideoError(path, f"no video stream (streams: {', '.join(kinds)})")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)

    duration = 0.0
    for source in (data.get("format", {}), video):
        try:
            duration = max(duration, float(source.get("duration") or 0.0))
        except ValueError:
            pass
    fps = _fps(video)
    if duration <= 0 and str(data.get("format", {}).get("format_name", "")).endswith("_pipe") and 0 < fps <= 1000:
        # A single picture read by ffmpeg's image demuxer (PNG, BMP, WebP...) has no duration,
        # where a JPEG gets one frame's: it is one frame long either way.
        duration = 1.0 / fps
    if duration <= 0:
        raise VideoError(path, "no duration: truncated or not a video")
    if fps <= 0 or fps > 1000:
        raise VideoError(path, f"unusable frame rate {video.get('avg_frame_rate')!r}")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise VideoError(path, "video stream has no picture size")
    rotation = _rotation(video)
    if rotation in (90, 270):
        width, height = height, width
    try:
        n_frames = int(video.get("nb_frames") or 0)
    except ValueError:
        n_frames = 0
    return VideoInfo(
        path=path,
        duration=duration,
        width=width,
        height=height,
        fps=fps,
        n_frames=n_frames or int(round(duration * fps)),
        rotation=rotation,
        has_audio=audio is not None,
        video_codec=str(video.get("codec_name", "?")),
        pix_fmt=str(video.get("pix_fmt", "?")),
        audio_codec=audio.get("codec_name") if audio else None,
        audio_sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
    )


def stream_extent(path: Path) -> tuple[float, int]:
    """What a file's packets really span: (seconds from the first audio/video timestamp to the
    end of the last, number of video packets). The durations :func:`probe` reports come from the
    container's header, which a hostile file can set to anything (an hour of frames that says
    five seconds); this reads every packet without decoding one (about 30 ms for an hour of small
    frames, a few ms for a 20 s clip), so a caller can refuse before the decoders start."""
    import av  # PyAV: only the server's upload path needs it here

    first = end = None
    frames = 0
    try:
        with av.open(str(path)) as container:
            for packet in container.demux():
                stream = packet.stream
                if packet.pts is None or stream.type not in ("video", "audio") or stream.time_base is None:
                    continue
                t0 = float(packet.pts * stream.time_base)
                t1 = float((packet.pts + (packet.duration or 0)) * stream.time_base)
                first = t0 if first is None else min(first, t0)
                end = t1 if end is None else max(end, t1)
                frames += stream.type == "video"
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(path, f"cannot read its packets: {exc}") from None
    return (end - first if first is not None and end is not None else 0.0), frames


def media_duration(path: Path) -> float | None:
    """The duration a file's container states, in seconds, or None when it cannot be read.

    One ffprobe of the header only (a few tens of ms), so a whole batch can be measured before
    or while it is processed: it is an estimate for progress, not the checked :func:`probe`."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    try:
        proc = subprocess.run(
            [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", "--", str(path)],
            capture_output=True, text=True, errors="replace", timeout=30,
        )
        seconds = float(proc.stdout.strip().splitlines()[0]) if proc.returncode == 0 and proc.stdout.strip() else 0.0
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        return None
    return seconds if seconds > 0 else None
