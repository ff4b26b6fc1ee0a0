"""The scene detector's settings, apart from the detector: a library's pipeline settings hold
them, and reading those (every search does) must not load OpenCV, PySceneDetect and PyAV."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SceneConfig"]


@dataclass
class SceneConfig:
    """Detector settings, tuned on the fixtures (hard cuts between pans/zooms of photos and footage)."""

    adaptive_threshold: float = 3.0
    min_content_val: float = 12.0
    window_width: int = 2
    min_scene_len_s: float = 0.6
