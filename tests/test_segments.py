"""Segments: removed spans cut out, long scenes windowed at pauses, words assigned by midpoint."""
from vidsearch.ingest.segments import build_segments
from vidsearch.types import Scene, Span, Transcript, Utterance, Word


def _utt(words, lang="en"):
    ws = [Word(t, s, e) for t, s, e in words]
    return Utterance("".join(w.text for w in ws).strip(), ws[0].start, ws[-1].end, lang, ws)


def test_removed_span_and_windows_and_word_assignment():
    scenes = [Scene(0.0, 3.0, 0, 75), Scene(3.0, 30.0, 75, 750)]
    transcript = Transcript("en", [
        _utt([(" hello", 4.0, 4.4), (" there", 4.5, 5.0)]),
        # A word straddling the 3-way window split target (9.0 s) must not be cut in half.
        _utt([(" long", 8.7, 9.4), (" sentence", 9.5, 10.0)]),
        _utt([(" end", 28.0, 28.5)]),
    ])
    segs = build_segments(scenes, [Span(0.0, 3.0, "bumper-intro")], transcript, 30.0, max_len=10.0)
    assert segs[0].start == 3.0  # the removed intro is gone entirely
    assert all(s.end - s.start <= 10.0 + 1e-6 for s in segs)
    assert [s.scene_index for s in segs] == [1, 1, 1]
    for s in segs:
        for u in s.utterances:
            for w in u.words:
                assert s.start <= (w.start + w.end) / 2 < s.end
    boundaries = [s.end for s in segs[:-1]]
    assert all(not (w.start < b < w.end) for b in boundaries for w in transcript.words)
    assert segs[0].speech_text.startswith("hello there")
    assert segs[-1].speech_text == "end"


def test_join_words_spaces_latin_not_cjk():
    from vidsearch.ingest.segments import join_words

    assert join_words(["Look,", "a", "kitten."]) == "Look, a kitten."
    assert join_words([" 这杯", "咖啡", "很香"]) == "这杯咖啡很香"
    assert join_words(["买", "iPhone", "手机"]) == "买 iPhone 手机"


def test_no_scenes_gives_one_segment_and_tiny_pieces_are_dropped():
    segs = build_segments([], [Span(0.0, 4.9)], Transcript(None), 5.0)
    assert segs == []  # 0.1 s left after trimming is below the minimum
    segs = build_segments([], [], Transcript(None), 5.0)
    assert [(s.start, s.end) for s in segs] == [(0.0, 5.0)]
