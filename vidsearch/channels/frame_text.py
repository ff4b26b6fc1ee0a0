"""What the frames say as text: visual tag words (ImageNet classes, CLIP zero-shot labels) and on-screen text lines per segment.

The models live in their own modules (``tagger``: the bundled ImageNet classifier, ``ocr``:
PP-OCRv4, ``clip``: open_clip); this module turns their per-frame outputs into per-segment tag
words and text lines, so the pipeline only wires stages together. CLIP's frame vectors are not
made here; only its zero-shot labels pass through, as tag words.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidsearch.text.labels import ImageNetLabel, label_words
from vidsearch.types import OcrLine, Scene, Span


@dataclass(frozen=True)
class TagConfig:
    """How classifier probabilities become tag words."""

    #: A class joins the tags at this probability (its words: everyday word, name, Chinese name).
    min_prob: float = 0.15
    #: An everyday group ("cat": tabby + tiger cat + Egyptian cat ...) joins when its classes sum to this.
    min_group_prob: float = 0.3
    max_classes: int = 3
    #: CLIP zero-shot labels (when CLIP is live) at or above this softmax probability.
    zero_shot_min_prob: float = 0.2
    zero_shot_top_k: int = 3


def imagenet_tag_words(probs: np.ndarray, labels: Sequence[ImageNetLabel], config: TagConfig = TagConfig()) -> list[str]:
    """Tag words for one segment from its keyframes' class probabilities ``(n_frames, 1000)``.

    A frame's best view decides (max over keyframes: one sharp frame of the cat is enough).
    Fine classes split an everyday subject's probability (three cat breeds at 0.3 each), so
    classes are also summed per everyday group and the group word joins on the sum.
    """
    if probs.size == 0:
        return []
    p = np.asarray(probs, dtype=np.float32).max(axis=0)
    words: list[str] = []
    groups: dict[str, float] = {}
    group_words: dict[str, list[str]] = {}
    for i in np.flatnonzero(p >= 0.02):
        label = labels[int(i)]
        if label.group_en:
            groups[label.group_en] = groups.get(label.group_en, 0.0) + float(p[i])
            group_words[label.group_en] = [label.group_en, label.group_zh]
    ranked = [(score, group_words[g]) for g, score in groups.items() if score >= config.min_group_prob]
    ranked += [(float(p[i]), label_words(labels[int(i)]))
               for i in np.argsort(-p)[: config.max_classes] if p[i] >= config.min_prob]
    for _, ws in sorted(ranked, key=lambda r: -r[0]):
        for w in ws:
            if w and w not in words:
                words.append(w)
    return words


def zero_shot_words(tags: Sequence[Sequence[tuple[str, float]]], chinese: dict[str, str]) -> list[str]:
    """CLIP zero-shot labels of a segment's keyframes as tag words (English, then its Chinese)."""
    best: dict[str, float] = {}
    for frame_tags in tags:
        for label, prob in frame_tags:
            best[label] = max(best.get(label, 0.0), prob)
    words: list[str] = []
    for label, _ in sorted(best.items(), key=lambda kv: -kv[1]):
        for w in (label, chinese.get(label, "")):
            if w and w not in words:
                words.append(w)
    return words


def tag_text(words: Sequence[str]) -> str:
    """The passage embedded into the ``tags`` channel."""
    return ", ".join(words)


def ocr_scenes(scenes: Sequence[Scene], removed: Sequence[Span]) -> list[Scene]:
    """Scenes worth reading text from: not (mostly) inside a removed head, tail or bumper."""
    keep = []
    for scene in scenes:
        length = scene.end - scene.start
        hidden = sum(max(0.0, min(scene.end, s.end) - max(scene.start, s.start)) for s in removed)
        if length > 0 and hidden < 0.5 * length:
            keep.append(scene)
    return keep


def shows_own_text(lines: Sequence[OcrLine], span: Span) -> bool:
    """Whether text is visible in ``span`` that is not visible anywhere else in the video: a
    still title card or closing slide, not a watermark or a channel logo shown throughout."""
    inside = {ln.text for ln in lines if ln.start <= span.end and ln.end >= span.start and ln.text}
    elsewhere = {ln.text for ln in lines if not (ln.start <= span.end and ln.end >= span.start)}
    return bool(inside - elsewhere)


def widen_to_scene(lines: Sequence[OcrLine], scene: Scene, frame_times: Sequence[float]) -> list[OcrLine]:
    """A line read on every frame picked from a scene is taken as visible for the whole scene
    (a shot is continuous); otherwise it keeps the times it was actually read at."""
    if not frame_times:
        return list(lines)
    first, last = min(frame_times), max(frame_times)
    out = []
    for line in lines:
        if line.start <= first + 1e-6 and line.end >= last - 1e-6:
            line = OcrLine(line.text, line.raw, line.score, scene.start, scene.end, line.box)
        out.append(line)
    return out


def lines_in(lines: Sequence[OcrLine], start: float, end: float) -> list[OcrLine]:
    """The lines visible at some time in ``[start, end)`` (a line read on one frame is visible at that instant)."""
    return [ln for ln in lines
            if (ln.start < end and ln.end > start) or (ln.start == ln.end and start <= ln.start < end)]
