"""Bilingual names for the 1000 ImageNet-1k classes the visual tagger predicts.

``vidsearch/data/imagenet_labels.json`` holds one object per class, in class-index
order, aligned with torchvision's ``ResNet50_Weights.IMAGENET1K_V1.meta["categories"]``::

    {"en": "tiger cat", "zh": "虎斑猫", "group_en": "cat", "group_zh": "猫"}
    {"en": "missile", "zh": "导弹", "group_en": "", "group_zh": "",
     "also_en": ["rocket"], "also_zh": ["火箭"]}

* ``en`` is torchvision's class name, unchanged;
* ``zh`` is the common Simplified Chinese name of that class;
* ``group_en`` / ``group_zh`` is the everyday word a user would type for it ("cat"/"猫"
  for every domestic-cat class, "dog"/"狗" for every breed, "car"/"汽车" ...), or ``""``
  when the class name is already the everyday word (lion, pizza ...);
* ``also_en`` / ``also_zh`` (optional) are further everyday synonyms (missile -> rocket).

Fine-grained ImageNet names alone rarely match everyday queries (``猫`` does not embed
near "Egyptian cat"), so the tagger shows :func:`label_words`: the group word first,
then the class name and synonyms, in both languages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

__all__ = ["ImageNetLabel", "LABELS_RESOURCE", "NUM_CLASSES", "load_imagenet_labels", "label_words"]

LABELS_RESOURCE = "data/imagenet_labels.json"
NUM_CLASSES = 1000


@dataclass(frozen=True)
class ImageNetLabel:
    """The English and Chinese names of one ImageNet-1k class, with everyday group words."""

    en: str
    zh: str
    group_en: str
    group_zh: str
    also_en: tuple[str, ...] = ()
    also_zh: tuple[str, ...] = ()


def _parse(entry: dict[str, object], index: int) -> ImageNetLabel:
    """One JSON object -> :class:`ImageNetLabel`, checking the field types."""

    def text(key: str, allow_empty: bool) -> str:
        value = entry.get(key)
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            raise ValueError(f"imagenet_labels.json entry {index}: bad {key!r}: {value!r}")
        return value

    def words(key: str) -> tuple[str, ...]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
            raise ValueError(f"imagenet_labels.json entry {index}: bad {key!r}: {value!r}")
        return tuple(value)

    return ImageNetLabel(
        en=text("en", allow_empty=False),
        zh=text("zh", allow_empty=False),
        group_en=text("group_en", allow_empty=True),
        group_zh=text("group_zh", allow_empty=True),
        also_en=words("also_en"),
        also_zh=words("also_zh"),
    )


@lru_cache(maxsize=1)
def _load() -> tuple[ImageNetLabel, ...]:
    raw = resources.files("vidsearch").joinpath(LABELS_RESOURCE).read_text(encoding="utf-8")
    entries = json.loads(raw)
    if not isinstance(entries, list) or len(entries) != NUM_CLASSES:
        raise ValueError(f"{LABELS_RESOURCE}: expected a list of {NUM_CLASSES} entries")
    return tuple(_parse(entry, i) for i, entry in enumerate(entries))


def load_imagenet_labels() -> list[ImageNetLabel]:
    """The 1000 ImageNet-1k labels in class-index order (parsed once, then cached).

    Returns a fresh list each call, so callers may modify it without touching the cache.
    """
    return list(_load())


def label_words(label: ImageNetLabel) -> list[str]:
    """The words to show as tags for ``label``, everyday word first, without repeats.

    Order: English group word, English class name, English synonyms, then the same in
    Chinese.  Empty strings are skipped and repeats dropped (English compared
    case-insensitively, first spelling kept), e.g. ``tiger cat`` ->
    ``["cat", "tiger cat", "猫", "虎斑猫"]``.
    """
    ordered = (
        label.group_en,
        label.en,
        *label.also_en,
        label.group_zh,
        label.zh,
        *label.also_zh,
    )
    seen: set[str] = set()
    words: list[str] = []
    for word in ordered:
        word = word.strip()
        key = word.casefold()
        if word and key not in seen:
            seen.add(key)
            words.append(word)
    return words
