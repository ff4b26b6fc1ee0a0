"""The bundled bilingual ImageNet label table and its loader."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from vidsearch.text.labels import ImageNetLabel, label_words, load_imagenet_labels

CJK = re.compile(r"[\u3400-\u9fff]")


@pytest.fixture(scope="module")
def labels() -> list[ImageNetLabel]:
    return load_imagenet_labels()


def _everyday_en(label: ImageNetLabel) -> set[str]:
    return {label.group_en, *label.also_en}


def _everyday_zh(label: ImageNetLabel) -> set[str]:
    return {label.group_zh, *label.also_zh}


def test_thousand_entries_aligned_with_torchvision(labels: list[ImageNetLabel]) -> None:
    models = pytest.importorskip("torchvision.models")
    categories = list(models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    assert len(labels) == len(categories) == 1000
    mismatched = [
        (i, lab.en, cat) for i, (lab, cat) in enumerate(zip(labels, categories)) if lab.en != cat
    ]
    assert mismatched == []


def test_every_chinese_field_is_chinese(labels: list[ImageNetLabel]) -> None:
    for i, lab in enumerate(labels):
        assert lab.zh.strip() and CJK.search(lab.zh), (i, lab)
        assert bool(lab.group_en) == bool(lab.group_zh), (i, lab)
        if lab.group_zh:
            assert CJK.search(lab.group_zh), (i, lab)
        for word in lab.also_zh:
            assert CJK.search(word), (i, lab)
        for word in (lab.en, lab.group_en, *lab.also_en):
            assert not CJK.search(word), (i, lab)


def test_file_is_utf8_one_object_per_line() -> None:
    raw = resources.files("vidsearch").joinpath("data/imagenet_labels.json").read_bytes()
    text = raw.decode("utf-8")
    assert "\\u" not in text  # written with ensure_ascii=False
    lines = text.strip().splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    body = lines[1:-1]
    assert len(body) == 1000
    for line in body:
        assert isinstance(json.loads(line.rstrip(",")), dict)


@pytest.mark.parametrize(
    ("index", "en", "word_en", "word_zh"),
    [
        (281, "tabby", "cat", "猫"),
        (282, "tiger cat", "cat", "猫"),
        (285, "Egyptian cat", "cat", "猫"),
        (207, "golden retriever", "dog", "狗"),
        (151, "Chihuahua", "dog", "狗"),
        (268, "Mexican hairless", "dog", "狗"),
        (657, "missile", "rocket", "火箭"),
        (744, "projectile", "rocket", "火箭"),
        (812, "space shuttle", "rocket", "火箭"),
        (967, "espresso", "coffee", "咖啡"),
        (504, "coffee mug", "coffee", "咖啡"),
        (89, "sulphur-crested cockatoo", "parrot", "鹦鹉"),
        (88, "macaw", "parrot", "鹦鹉"),
        (817, "sports car", "car", "汽车"),
        (468, "cab", "car", "汽车"),
        (578, "gown", "dress", "连衣裙"),
        (15, "robin", "bird", "鸟"),
        (1, "goldfish", "fish", "鱼"),
    ],
)
def test_everyday_words(
    labels: list[ImageNetLabel], index: int, en: str, word_en: str, word_zh: str
) -> None:
    lab = labels[index]
    assert lab.en == en
    assert word_en in _everyday_en(lab)
    assert word_zh in _everyday_zh(lab)


def test_group_spot_checks(labels: list[ImageNetLabel]) -> None:
    assert (labels[281].group_en, labels[281].group_zh) == ("cat", "猫")
    assert (labels[207].group_en, labels[207].group_zh) == ("dog", "狗")
    assert (labels[89].group_en, labels[89].group_zh) == ("parrot", "鹦鹉")
    assert "bird" in labels[89].also_en and "鸟" in labels[89].also_zh
    assert (labels[817].group_en, labels[817].group_zh) == ("car", "汽车")
    assert all(lab.group_en == "dog" and lab.group_zh == "狗" for lab in labels[151:269])
    assert all(lab.group_en == "cat" and lab.group_zh == "猫" for lab in labels[281:286])
    assert labels[726].en == "plane" and labels[726].group_en != "plane"  # the carpenter's plane


def test_chinese_names(labels: list[ImageNetLabel]) -> None:
    assert labels[282].zh == "虎斑猫"
    assert labels[207].zh.startswith("金毛")
    assert labels[657].zh == "导弹"
    assert labels[967].zh == "浓缩咖啡"
    assert labels[89].zh == "葵花凤头鹦鹉"
    assert labels[817].zh == "跑车"


def test_label_words_order_and_dedup(labels: list[ImageNetLabel]) -> None:
    assert label_words(labels[282]) == ["cat", "tiger cat", "猫", "虎斑猫"]
    assert label_words(labels[657]) == ["missile", "rocket", "导弹", "火箭"]
    assert label_words(labels[89]) == [
        "parrot", "sulphur-crested cockatoo", "bird", "鹦鹉", "葵花凤头鹦鹉", "鸟"
    ]


def test_label_words_handles_duplicates_and_blanks() -> None:
    lab = ImageNetLabel(
        en="Cup",
        zh="杯子",
        group_en="cup",
        group_zh="杯子",
        also_en=("coffee", "cup ", ""),
        also_zh=("咖啡", "杯子"),
    )
    assert label_words(lab) == ["cup", "coffee", "杯子", "咖啡"]
    bare = ImageNetLabel(en="lion", zh="狮子", group_en="", group_zh="")
    assert label_words(bare) == ["lion", "狮子"]


def test_words_never_repeat(labels: list[ImageNetLabel]) -> None:
    for lab in labels:
        words = label_words(lab)
        assert len({w.casefold() for w in words}) == len(words)
        assert words[0] == (lab.group_en or lab.en)


def test_loader_is_cached_but_returns_copies() -> None:
    first = load_imagenet_labels()
    first.clear()
    second = load_imagenet_labels()
    assert len(second) == 1000
    assert second[0] is load_imagenet_labels()[0]
