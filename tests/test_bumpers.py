"""Recurring intros/outros are cut, content never is: the trimming fixtures (fixtures/trim/)
indexed as a library, checked against how they were built."""
from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, index_copy

TRIM = ROOT / "fixtures" / "trim"
TRUTH = json.loads((TRIM / "ground_truth.json").read_text(encoding="utf-8"))["videos"]
OUTROS = [n for n, v in TRUTH.items() if v["outro"]]
EDGE_S = 0.3


@pytest.fixture(scope="module")
def trim_library(tmp_path_factory, processor):
    """fixtures/trim indexed into a fresh library: (db, videos folder)."""
    db, report, videos = index_copy(TRIM, tmp_path_factory.mktemp("trim"), processor)
    assert not report.failed and len(report.indexed) == len(TRUTH)
    return db, videos


def removed_by_name(db) -> dict[str, list]:
    from vidsearch.store.library import Library

    with Library.open(db, readonly=True) as library:
        return {v.path.name: library.removed_spans(v.id) for v in library.videos()}


def test_the_end_card_is_cut_from_every_video_it_closes_and_nothing_else_is(trim_library):
    db, _ = trim_library
    removed = removed_by_name(db)
    assert len(OUTROS) == 3 and any(TRUTH[n]["height"] > TRUTH[n]["width"] for n in OUTROS)  # one portrait
    for name, truth in TRUTH.items():
        spans = removed[name]
        if truth["outro"] is None:
            assert spans == [], (name, spans)          # templates, test cards, the homework slide: content
            continue
        # fades in from black and out to black, after 7-11 s of different content; letterboxed in portrait
        (span,) = spans
        assert span.kind == "bumper-outro", name
        assert span.start == pytest.approx(truth["outro"]["start"], abs=EDGE_S), name
        assert span.end == pytest.approx(truth["outro"]["end"], abs=EDGE_S), name


@pytest.mark.parametrize("name", ["template_1.mp4", "template_2.mp4", "template_3.mp4", "testcard_spoken.mp4"])
def test_the_same_picture_under_different_speech_stays_searchable(trim_library, name):
    """Templated videos (one photo, one zoom, three voice-overs) and a spoken test card shown
    silently elsewhere: every spoken line is found, in its own video, first."""
    from vidsearch.query.search import Searcher
    from vidsearch.store.library import Library

    db, _ = trim_library
    (line,) = TRUTH[name]["utterances"]
    with Library.open(db, readonly=True) as library:
        (first,) = Searcher(library).search(line["text"], 1)
    assert first.video.endswith(name)
    assert first.start <= line["start"] and first.end >= line["end"]


def test_a_closing_slide_shown_only_at_the_end_is_content(trim_library):
    from vidsearch.query.search import Searcher
    from vidsearch.store.library import Library

    db, _ = trim_library
    homework = TRUTH["lecture_homework.mp4"]["shots"][-1]
    with Library.open(db, readonly=True) as library:
        (first,) = Searcher(library).search("课后作业 第3题", 1, preset="e-commerce")
    assert first.video.endswith("lecture_homework.mp4")
    assert first.end >= homework["end"] - EDGE_S and any("课后作业" in o["text"] for o in first.ocr)


def test_a_number_typed_in_numerals_finds_the_slide_that_shows_it_in_digits(trim_library):
    """The homework slide shows "课后作业 第3题"; a student who heard "第三题" types numerals:
    exact-words search finds the slide by them, and its transcript marks "第3题"."""
    from vidsearch.query.search import Searcher
    from vidsearch.query.transcript import video_transcript
    from vidsearch.store.library import Library

    db, _ = trim_library
    homework = TRUTH["lecture_homework.mp4"]["shots"][-1]
    with Library.open(db, readonly=True) as library:
        (first,) = Searcher(library).search("第三题", 1, min_confidence="any")
        assert first.video.endswith("lecture_homework.mp4") and first.channels["text"] > 0, first
        assert homework["start"] - EDGE_S <= first.jump <= homework["end"]
        text = video_transcript(library, first.video_id, "第三题")
    marked = [ln.text[m.start:m.end] for ln in text.screen for m in ln.marks]
    assert "第3题" in marked, marked


def test_bumpers_follow_the_library_as_it_grows_and_shrinks(tmp_path, processor, trim_library):
    """One video with the end card: nothing recurs. A second: both lose it. Delete the second:
    the first gets it back. --keep-bumpers: nothing is cut."""
    from vidsearch.ingest.indexer import KEEP_BUMPERS, index_paths, refresh_bumpers
    from vidsearch.store.library import Library

    _, videos = trim_library
    db = tmp_path / "db"
    first, second = videos / "outro_coffee.mp4", videos / "outro_rocket.mp4"
    with Library.open(db, processor.layout.as_dict()) as library:
        index_paths(library, [first], processor)
    assert removed_by_name(db)["outro_coffee.mp4"] == []
    with Library.open(db) as library:
        index_paths(library, [second], processor)
    spans = removed_by_name(db)
    assert [s.kind for s in spans["outro_coffee.mp4"]] == ["bumper-outro"] == [s.kind for s in spans["outro_rocket.mp4"]]
    with Library.open(db) as library:
        live_before = library.stats()["live_segments"]
        library.set_setting(KEEP_BUMPERS, "1")
        refresh_bumpers(library)
        library.commit()
        assert library.stats()["live_segments"] > live_before      # the end cards' segments are back
        library.set_setting(KEEP_BUMPERS, "0")
        refresh_bumpers(library)
        library.delete_video(second)
        refresh_bumpers(library)
        library.commit()
    assert removed_by_name(db) == {"outro_coffee.mp4": []}


def test_a_video_that_now_fails_gives_its_end_card_back_whenever_its_failure_was_committed(tmp_path, processor,
                                                                                             trim_library):
    """A changed file that no longer decodes loses its segments, so its bumper stops recurring:
    the other video gets its end card back even when the failure went in with a commit of its
    own before the batch ended (commit_every=1). Bumpers are found again after any write."""
    import shutil

    from vidsearch.ingest.indexer import index_paths
    from vidsearch.store.library import Library

    _, videos = trim_library
    first, second = (shutil.copy2(videos / name, tmp_path / name) for name in ("outro_coffee.mp4", "outro_rocket.mp4"))
    db = tmp_path / "db"
    with Library.open(db, processor.layout.as_dict()) as library:
        index_paths(library, [first, second], processor)
    assert [s.kind for s in removed_by_name(db)["outro_coffee.mp4"]] == ["bumper-outro"]
    second.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    with Library.open(db) as library:
        report = index_paths(library, [second], processor, commit_every=1)
        assert [p.name for p, _ in report.failed] == ["outro_rocket.mp4"] and not report.indexed
    assert removed_by_name(db) == {"outro_coffee.mp4": [], "outro_rocket.mp4": []}
