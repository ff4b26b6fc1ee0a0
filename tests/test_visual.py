"""Per-segment tags and on-screen text from per-frame model outputs (vidsearch.channels.frame_text)."""
import numpy as np
import pytest

from vidsearch.channels import frame_text
from vidsearch.text.labels import load_imagenet_labels
from vidsearch.types import OcrLine, Scene, Span

LABELS = load_imagenet_labels()
INDEX = {label.en: i for i, label in enumerate(LABELS)}


def probs(**by_name: float) -> np.ndarray:
    p = np.zeros((1, len(LABELS)), dtype=np.float32)
    for name, value in by_name.items():
        p[0, INDEX[name.replace("_", " ")]] = value
    return p


def test_cat_breeds_add_up_to_the_everyday_word():
    # Three cat classes, none above min_prob alone would still make "cat"/"猫" by their sum.
    words = frame_text.imagenet_tag_words(probs(tabby=0.12, tiger_cat=0.12, Egyptian_cat=0.12), LABELS)
    assert words[:2] == ["cat", "猫"]
    assert "tabby" not in words  # each class alone is below min_prob


def test_confident_class_brings_its_names_and_synonyms():
    words = frame_text.imagenet_tag_words(probs(missile=0.4, projectile=0.2), LABELS)
    assert "missile" in words and "rocket" in words and "火箭" in words
    assert words.index("missile") < words.index("projectile")


def test_unsure_classifier_gives_no_tags():
    assert frame_text.imagenet_tag_words(np.full((2, len(LABELS)), 1 / len(LABELS), np.float32), LABELS) == []
    assert frame_text.imagenet_tag_words(np.zeros((0, len(LABELS)), np.float32), LABELS) == []


def test_best_keyframe_decides():
    p = np.concatenate([probs(espresso=0.9), probs(tabby=0.05)])
    assert frame_text.imagenet_tag_words(p, LABELS)[:2] == ["coffee", "咖啡"]


def test_zero_shot_words_keep_best_probability_and_add_chinese():
    words = frame_text.zero_shot_words([[("dress", 0.5)], [("cat", 0.7), ("dress", 0.3)]], {"dress": "连衣裙", "cat": "猫"})
    assert words == ["cat", "猫", "dress", "连衣裙"]


def line(text, start, end):
    return OcrLine(text, text, 0.9, start, end)


def test_line_read_on_every_picked_frame_covers_the_scene():
    scene = Scene(10.0, 18.0, 250, 450)
    lines = [line("香浓咖啡", 11.0, 17.0), line("新品", 17.0, 17.0)]
    out = frame_text.widen_to_scene(lines, scene, [11.0, 14.0, 17.0])
    assert (out[0].start, out[0].end) == (10.0, 18.0)
    assert (out[1].start, out[1].end) == (17.0, 17.0)  # seen once: keeps the time it was seen


def test_lines_in_span_and_scenes_to_read():
    lines = [line("a", 0.0, 3.0), line("b", 5.0, 5.0)]
    assert [ln.text for ln in frame_text.lines_in(lines, 3.0, 6.0)] == ["b"]
    assert [ln.text for ln in frame_text.lines_in(lines, 0.0, 5.1)] == ["a", "b"]
    scenes = [Scene(0.0, 3.0, 0, 75), Scene(3.0, 12.0, 75, 300)]
    assert frame_text.ocr_scenes(scenes, [Span(0.0, 3.0, "bumper")]) == [scenes[1]]
    assert frame_text.tag_text(["cat", "猫"]) == "cat, 猫"


@pytest.mark.parametrize("bad", [probs(tabby=0.1)])
def test_single_weak_class_is_not_a_tag(bad):
    assert frame_text.imagenet_tag_words(bad, LABELS) == []
