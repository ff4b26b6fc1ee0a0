"""End to end on the fixture library: finding moments by what is seen (tags) and shown (OCR).

Nobody says "cat", "rocket", "红色碎花连衣裙" or "motorcycle" in these scenes' sound where the
tests rely on tags/OCR alone, so these checks fail if either channel breaks.
"""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.slow

TAGS_ONLY = {"visual": 0.0, "speech": 0.0, "ocr": 0.0, "tags": 1.0, "audio": 0.0}


def _shot(truth, video, subject_part):
    return next(s for s in truth["videos"][video]["shots"] if subject_part in s["subject"])


def _inside(moment, shot, slack=0.2):
    return shot["start"] - slack <= moment.start and moment.end <= shot["end"] + slack


def _rank(results, video, shot):
    for i, m in enumerate(results, 1):
        if os.path.basename(m.video) == video and _inside(m, shot):
            return i
    return None


@pytest.mark.parametrize(
    "query, targets",
    [
        ("猫", [("cat and yarn.mp4", "cat")]),
        ("a cat", [("cat and yarn.mp4", "cat")]),
        ("咖啡", [("coffee_portrait.mp4", "cup of coffee"), ("go_forward.mp4", "cup of coffee")]),
        ("rocket launch", [("rocket_launch.mp4", "rocket launch")]),
        ("摩托车", [("summer_sale.mp4", "motorcycle")]),
        ("鹦鹉", [("cockatoo_silent.mp4", "cockatoo")]),
    ],
)
def test_tags_alone_find_the_subject(searcher, truth, query, targets):
    results = searcher.search(query, 5, weights=TAGS_ONLY)
    got = [(os.path.basename(m.video), m.start, m.end, m.tags[:4]) for m in results]
    ranks = [_rank(results, video, _shot(truth, video, subject)) for video, subject in targets]
    assert any(r is not None and r <= 3 for r in ranks), f"{query!r}: {got}"
    for m in results:  # only the tags channel may have contributed (context: the video's other tags)
        assert set(k for k, v in m.channels.items() if abs(v) > 1e-9) <= {"tags", "context"}


def test_tags_are_stored_and_returned_in_both_languages(searcher, truth):
    top = searcher.search("猫", 1, weights=TAGS_ONLY)[0]
    assert "cat" in top.tags and "猫" in top.tags
    assert top.to_json()["tags"] == top.tags
    # The grass and galaxy shots are not cats: the cat words stay with the cat.
    lib = searcher.library
    for video in lib.videos():
        for seg in lib.video_segments(video.id):
            if "猫" in seg.tags:
                assert os.path.basename(str(video.path)) == "cat and yarn.mp4", (video.path, seg)


def test_scene_without_text_or_speech_is_found_by_its_tags(searcher, truth):
    moto = _shot(truth, "summer_sale.mp4", "motorcycle")
    assert not moto.get("on_screen_text") and not truth["videos"]["summer_sale.mp4"]["utterances"]
    for query in ("摩托车", "motorbike"):
        top = searcher.search(query, 3)[0]  # the default preset, every channel on
        assert os.path.basename(top.video) == "summer_sale.mp4" and _inside(top, moto), (query, top)
        assert top.snippet and "motorcycle" in top.tags


def test_on_screen_chinese_product_line_is_found_with_promo_noise_removed(searcher, truth):
    card = _shot(truth, "summer_sale.mp4", "dahlia")
    top = searcher.search("红色碎花连衣裙", 3)[0]
    assert os.path.basename(top.video) == "summer_sale.mp4" and _inside(top, card), top
    assert card["start"] <= top.jump <= card["end"]
    texts = [o["text"] for o in top.ocr]
    assert texts == ["红色碎花连衣裙"], top.ocr  # the 限时优惠/点击购买 badge is cleaned away
    line = top.ocr[0]
    assert line["start"] == pytest.approx(card["start"], abs=0.3) and line["end"] == pytest.approx(card["end"], abs=0.3)
    assert top.channels["ocr"] > 0.5 * top.score
    # Nothing anywhere keeps the promo phrases.
    lib = searcher.library
    for video in lib.videos():
        for ln in lib.ocr_lines(video.id):
            assert "限时优惠" not in ln.text and "点击购买" not in ln.text


@pytest.mark.parametrize("query", ["orders ship free in a day", "free shipping on every order"])
def test_english_paraphrase_of_an_on_screen_line(searcher, truth, query):
    shot = _shot(truth, "summer_sale.mp4", next(
        s["subject"] for s in truth["videos"]["summer_sale.mp4"]["shots"]
        if any("ships free" in t for t in s.get("on_screen_text") or [])))
    results = searcher.search(query, 5, preset="e-commerce")
    top = results[0]
    got = [(os.path.basename(m.video), m.start, round(m.score, 3), m.channels) for m in results]
    assert os.path.basename(top.video) == "summer_sale.mp4" and _inside(top, shot), got
    assert shot["start"] <= top.jump <= shot["end"]
    assert top.snippet == "Every order ships free within 24 hours"


def test_board_text_lines_carry_their_visible_span(searcher, truth):
    slide = _shot(truth, "lecture.mp4", "title slide")
    lib = searcher.library
    video = next(v for v in lib.videos() if os.path.basename(str(v.path)) == "lecture.mp4")
    lines = {ln.text: ln for ln in lib.ocr_lines(video.id)}
    for text in slide["on_screen_text"]:
        assert text in lines, sorted(lines)
        assert lines[text].start == pytest.approx(slide["start"], abs=0.3)
        assert lines[text].end == pytest.approx(slide["end"], abs=0.3)


def test_disabling_a_channel_changes_the_ranking_as_the_weights_say(searcher, truth):
    card = _shot(truth, "coffee_portrait.mp4", "product card")
    query = "每日新鲜烘焙"  # on screen in the card, never spoken
    with_ocr = searcher.search(query, 10, preset="e-commerce")
    assert _rank(with_ocr, "coffee_portrait.mp4", card) == 1, [(m.video, m.start, m.channels) for m in with_ocr]
    for m in with_ocr:  # the score is the sum of the channel contributions
        assert m.score == pytest.approx(sum(m.channels.values()), abs=1e-4)
    no_ocr = searcher.search(query, 10, preset="e-commerce", weights={"ocr": 0.0})
    assert all(m.channels.get("ocr", 0.0) == 0.0 for m in no_ocr)
    rank = _rank(no_ocr, "coffee_portrait.mp4", card)
    assert rank is None or rank > 1
    # Without OCR the card has nothing left: its embedding and its exact words on screen were all
    # it had (the text channel counts words shown only while OCR is weighed).
    before = next(m for m in with_ocr if _rank([m], "coffee_portrait.mp4", card))
    assert before.channels.get("text", 0.0) > 0 and before.channels["ocr"] > 0
    context = before.channels.get("context", 0.0)  # the rest of its video, not another channel of it
    assert before.score - context == pytest.approx(before.channels["ocr"] + before.channels["text"], abs=1e-4)
    everything = searcher.search(query, 10, preset="e-commerce", weights={"ocr": 0.0}, min_confidence="any")
    assert _rank(everything, "coffee_portrait.mp4", card) is None
