"""End to end on the real fixture library: index once, then search by what is said."""
from __future__ import annotations

import os

import pytest

from vidsearch.ingest.indexer import index_paths
from vidsearch.store.library import Library

pytestmark = pytest.mark.slow

BUMPER_VIDEOS = ("cat and yarn.mp4", "rocket_launch.mp4", "lecture.mp4")


def _utterance(truth, video, fragment):
    for u in truth["videos"][video]["utterances"]:
        if fragment in u["text"]:
            return u
    raise KeyError(fragment)


def _check_top(searcher, query, truth, video, fragment, k=5):
    results = searcher.search(query, k)
    assert results, f"{query!r}: no results"
    top = results[0]
    got = [(os.path.basename(m.video), round(m.score, 3)) for m in results]
    assert os.path.basename(top.video) == video, f"{query!r}: expected {video} first, got {got}"
    u = _utterance(truth, video, fragment)
    assert u["start"] - 0.5 <= top.jump <= u["end"], f"{query!r}: jump {top.jump} outside {u['start']}-{u['end']}"
    assert top.start <= top.jump <= top.end
    return top


def test_every_fixture_indexed(fixture_library, truth):
    _, report, _ = fixture_library
    assert not report.failed, report.failed
    assert sorted(p.name for p in report.indexed) == sorted(truth["videos"])


@pytest.mark.parametrize(
    "query, video, fragment",
    [
        ("weasels ate our telephone system", "rocket_launch.mp4", "Weasels"),
        ("nobody can answer your call right now", "cat and yarn.mp4", "Nobody is available"),
        ("the circuits are all busy", "go_forward.mp4", "All circuits"),
        ("Mr Dashwood wondered how much he could do for them", "lecture.mp4", "mister john dashwood"),
    ],
)
def test_english_paraphrase_finds_the_spoken_line(searcher, truth, query, video, fragment):
    _check_top(searcher, query, truth, video, fragment)


@pytest.mark.parametrize(
    "query, video, fragment",
    [
        ("黄鼠狼吃掉了我们的电话系统", "rocket_launch.mp4", "Weasels"),  # Chinese query, English speech
        ("这杯咖啡很香很浓", "coffee_portrait.mp4", "咖啡"),  # Chinese query, Mandarin speech
    ],
)
def test_chinese_query_finds_the_spoken_line(searcher, truth, query, video, fragment):
    _check_top(searcher, query, truth, video, fragment)


def test_kitten_yarn_query_in_chinese_lands_on_the_cat_scene(searcher, truth):
    top = _check_top(searcher, "猫咪玩毛线球", truth, "cat and yarn.mp4", "kitten")
    cat = next(s for s in truth["videos"]["cat and yarn.mp4"]["shots"] if s["subject"] == "cat")
    assert cat["start"] - 0.1 <= top.start and top.end <= cat["end"] + 0.1


def test_intro_bumpers_found_and_never_returned(fixture_library, searcher, truth):
    db, _, videos = fixture_library
    lib = searcher.library
    by_name = {os.path.basename(str(v.path)): v for v in lib.videos()}
    for name, gt in truth["videos"].items():
        spans = [s for s in lib.removed_spans(by_name[name].id) if s.kind.startswith("bumper")]
        if gt["intro"]:
            assert len(spans) == 1, f"{name}: {spans}"
            assert spans[0].start == pytest.approx(gt["intro"]["start"], abs=0.5)
            assert spans[0].end == pytest.approx(gt["intro"]["end"], abs=0.5)
        else:
            assert not spans, f"{name}: unexpected bumper {spans}"
    # The bumper shows a title card and plays a jingle: no query may land inside it.
    for query in ("vidsearch demo", "flowers", "music jingle", "intro", "猫咪玩毛线球", "weasels"):
        for m in searcher.search(query, 20):
            name = os.path.basename(m.video)
            intro = truth["videos"][name]["intro"]
            if intro:
                assert m.start >= intro["end"] - 0.5, f"{query!r} returned the bumper of {name}: {m}"


def test_black_heads_and_tails_are_trimmed(searcher, truth):
    lib = searcher.library
    by_name = {os.path.basename(str(v.path)): v for v in lib.videos()}
    for name, gt in truth["videos"].items():
        spans = lib.removed_spans(by_name[name].id)
        for edge in ("black_head", "black_tail"):
            if gt.get(edge):
                kind = edge.replace("_", "-")
                match = [s for s in spans if s.kind.endswith(kind.split("-")[1]) and not s.kind.startswith("bumper")]
                assert match, f"{name}: no {kind} in {spans}"
                assert match[0].start == pytest.approx(gt[edge]["start"], abs=0.5)
                assert match[0].end == pytest.approx(gt[edge]["end"], abs=0.5)
        for seg in lib.video_segments(by_name[name].id):
            for edge in ("black_head", "black_tail"):
                if gt.get(edge) and not seg.removed:
                    overlap = min(seg.end, gt[edge]["end"]) - max(seg.start, gt[edge]["start"])
                    assert overlap < 0.5, f"{name}: live segment {seg.start}-{seg.end} inside {edge}"


def test_reindexing_unchanged_folder_does_no_work(fixture_library):
    db, first, videos = fixture_library

    class NoWork:
        layout = None

        def process_many(self, paths):
            for path in paths:  # pragma: no cover - failing is the point
                raise AssertionError(f"re-processed unchanged {path}")
            yield from ()

    with Library.open(db) as library:
        before = library.stats()
        report = index_paths(library, [videos], NoWork())
        after = library.stats()
    assert not report.indexed and not report.failed
    assert sorted(report.skipped) == sorted(first.indexed)
    assert before == after
