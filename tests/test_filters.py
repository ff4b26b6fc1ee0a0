"""Search filters and the transcript's word marks on plain values; `vidsearch search`'s filter
and paging flags on the fixture library."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidsearch.query.filters import FilterError, SearchFilter
from vidsearch.query.transcript import marked_spans
from vidsearch.store.library import VideoRow


def _video(path: str, duration: float | None = 20.0, language: str | None = "en", vid: int = 1) -> VideoRow:
    return VideoRow(id=vid, path=Path(path), size=1, mtime_ns=1, content_hash=None, duration=duration,
                    status="indexed", error=None, indexed_at=0.0, n_segments=1, language=language)


@pytest.mark.parametrize(("folder", "path", "accepted"), [
    ("cats", "/lib/cats/a.mp4", True),
    ("cats", "/lib/pets/cats/2024/a.mp4", True),
    ("cats/", "/lib/cats/a.mp4", True),
    ("cats", "/lib/cats.mp4", False),  # a file name is no folder
    ("cat", "/lib/cats/a.mp4", False),  # whole folder names only
    ("pets/cats", "/lib/pets/cats/a.mp4", True),
    ("cats/pets", "/lib/pets/cats/a.mp4", False),
    ("/lib/pets", "/lib/pets/cats/a.mp4", True),
    ("/pets", "/lib/pets/cats/a.mp4", False),  # absolute: from the root
    ("pets\\cats", "/lib/pets/cats/a.mp4", True),
])
def test_folder(folder, path, accepted):
    assert SearchFilter(folder=folder).accepts(_video(path)) is accepted


def test_duration_language_and_ids():
    v = _video("/v/a.mp4", duration=20.0, language="zh", vid=7)
    assert SearchFilter(min_duration=20, max_duration=20).accepts(v)
    assert not SearchFilter(min_duration=21).accepts(v)
    assert not SearchFilter(max_duration=19.9).accepts(v)
    assert not SearchFilter(min_duration=1).accepts(_video("/v/b.mp4", duration=None))
    assert SearchFilter(language=" ZH ").accepts(v) and not SearchFilter(language="en").accepts(v)
    assert not SearchFilter(language="zh").accepts(_video("/v/silent.mp4", language=None))
    assert SearchFilter(video_ids=frozenset({7})).accepts(v) and not SearchFilter(video_ids=frozenset({8})).accepts(v)


def test_of_and_bad_filters():
    assert SearchFilter.of() is None and SearchFilter.of(folder="", language="", video_ids=[]) is None
    assert SearchFilter.of(folder="/") is None  # the root names every folder
    assert SearchFilter.of(video_ids=[3, 3]).video_ids == frozenset({3})
    with pytest.raises(FilterError, match="above max duration"):
        SearchFilter(min_duration=10, max_duration=5)
    with pytest.raises(FilterError, match="0 or more"):
        SearchFilter(max_duration=-1)
    with pytest.raises(FilterError):
        SearchFilter(min_duration=float("nan"))


@pytest.mark.parametrize(("text", "wanted", "marked"), [
    ("Look, a little kitten is playing.", {"kitten", "playing"}, ["kitten", "playing"]),
    ("KITTENS everywhere", {"kittens"}, ["KITTENS"]),
    ("Ｈello there", {"hello"}, ["Ｈello"]),  # full-width letters are the same word
    ("a kittenish look", {"kitten"}, []),  # whole words only
    ("今天的课后作业第3题", {"课后", "后作", "作业"}, ["课后作业"]),  # overlapping pairs join
    ("香浓咖啡", {"咖啡"}, ["咖啡"]),
    ("猫 and 狗", {"猫"}, ["猫"]),  # a lone character is its own term
    ("anything", set(), []),
])
def test_marked_spans(text, wanted, marked):
    assert [text[a:b] for a, b in marked_spans(text, wanted)] == marked


def _search_json(db: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "vidsearch", "search", "--db", str(db), "--json", *args],
                          capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_search_command_filters_and_pages(fixture_library):
    db, _, _ = fixture_library
    ask = ["--min-confidence", "any", "kitten playing"]
    whole = _search_json(db, "-k", "4", *ask)["results"]
    second = _search_json(db, "-k", "2", "--offset", "2", *ask)["results"]
    assert len(whole) == 4 and [(m["video"], m["start"]) for m in second] == [(m["video"], m["start"]) for m in whole[2:]]
    short = _search_json(db, "--max-duration", "20", "--folder", "videos", *ask)["results"]
    assert short and all(Path(m["video"]).name != "cat and yarn.mp4" for m in short)
    one = _search_json(db, "--video-id", str(whole[0]["video_id"]), *ask)["results"]
    assert one and {m["video_id"] for m in one} == {whole[0]["video_id"]}
    bad = subprocess.run([sys.executable, "-m", "vidsearch", "search", "--db", str(db), "--min-duration", "9",
                          "--max-duration", "3", "cat"], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert bad.returncode == 2 and "above max duration" in bad.stderr
    typo = subprocess.run([sys.executable, "-m", "vidsearch", "search", "--db", str(db), "--language", "xx", "cat"],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert typo.returncode == 0 and typo.stdout.strip() == "no good match"
    assert "no indexed video of this library passes the filters" in typo.stderr  # nothing was searched


def test_a_filtered_search_looks_up_the_exact_words_of_the_videos_it_allows(searcher, monkeypatch):
    """The exact-words lookup keeps the best lines only; a filtered search asks for the lines of
    the videos it allows, so lines of other videos cannot crowd theirs out. One line kept stands
    for a large library where a word's best few hundred lines all lie elsewhere."""
    import vidsearch.query.search as search_module

    said = {os.path.basename(m.video): m.video_id for m in searcher.search("the", 10, min_confidence="any")
            if m.channels.get("text", 0.0) > 0}
    assert {"cat and yarn.mp4", "go_forward.mp4"} <= set(said), said
    monkeypatch.setattr(search_module, "LEXICAL_LINES", 1)
    for name, video_id in said.items():
        (first,) = searcher.search("the", 1, min_confidence="any", where=SearchFilter(video_ids=frozenset({video_id})))
        assert os.path.basename(first.video) == name and first.channels.get("text", 0.0) > 0, (name, first.channels)


def test_pages_go_on_past_a_moment_dropped_after_ranking(fixture_library, tmp_path):
    """A moment wholly inside a removed span is dropped once ranked (a segment that only touches
    the span is stored live); the next moment takes its place, and paging goes on to the end."""
    import shutil
    import sqlite3

    from vidsearch.query.search import Searcher
    from vidsearch.store.library import Library

    db = tmp_path / "db"
    shutil.copytree(fixture_library[0], db)
    query = "kitten playing with yarn"
    with Library.open(db, readonly=True) as library:
        whole = Searcher(library).search(query, 50, min_confidence="any")
    gone = whole[1]
    with sqlite3.connect(db / "meta.sqlite") as con:  # as a span recorded beside a live segment
        con.execute("INSERT INTO removed_spans(video_id, start_s, end_s, kind) VALUES (?, ?, ?, 'black')",
                    (gone.video_id, gone.start, gone.end))
    con.close()
    with Library.open(db, readonly=True) as library:
        searcher = Searcher(library)
        first = searcher.page(query, 1, min_confidence="any")
        assert len(first.moments) == 1 and first.next_offset == 1
        paged, offset = [], 0
        while offset is not None:
            page = searcher.page(query, 2, offset=offset, min_confidence="any")
            assert len(page.moments) == 2 or page.next_offset is None
            paged += page.moments
            offset = page.next_offset
    spans = [(m.video_id, m.start, m.end) for m in paged]
    assert (gone.video_id, gone.start, gone.end) not in spans
    assert spans == [(m.video_id, m.start, m.end) for m in whole if m is not gone]
