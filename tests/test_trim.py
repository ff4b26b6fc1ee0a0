"""Library-wide bumper search on the real fixture videos."""
import pytest

from tests.conftest import VIDEOS
from vidsearch.media import audio
from vidsearch.media.frames import decode_frames
from vidsearch.media.probe import probe
from vidsearch.media.trim import FrameStats, find_bumpers, make_fingerprint

NAMES = ("cat and yarn.mp4", "rocket_launch.mp4", "lecture.mp4", "go_forward.mp4", "coffee_portrait.mp4")


@pytest.fixture(scope="module")
def signatures():
    out = {}
    for name in NAMES:
        info = probe(VIDEOS / name)
        stats = FrameStats()
        for frame in decode_frames(info):
            stats.feed(frame)
        track = audio.load_audio(info.path, info)
        out[name] = (make_fingerprint(stats, track, info.duration), make_fingerprint(stats, None, info.duration))
    return out


def _find(signatures, names, with_audio):
    fps = {i: signatures[n][0 if with_audio else 1] for i, n in enumerate(names)}
    return {names[i]: spans for i, spans in find_bumpers(fps).items()}


def test_shared_intro_found_in_every_video_that_has_it(signatures, truth):
    found = _find(signatures, NAMES, with_audio=True)
    for name in NAMES:
        intro = truth["videos"][name]["intro"]
        if intro is None:
            assert name not in found, found
            continue
        (span,) = found[name]
        assert span.kind == "bumper-intro"
        assert span.start == pytest.approx(intro["start"], abs=0.5)
        assert span.end == pytest.approx(intro["end"], abs=0.5)


def test_two_videos_need_the_jingle_to_agree(signatures):
    pair = ("cat and yarn.mp4", "rocket_launch.mp4")
    assert set(_find(signatures, pair, with_audio=True)) == set(pair)
    # Picture alone, two videos: could be two edits of one clip, so not a bumper...
    assert _find(signatures, pair, with_audio=False) == {}
    # ...but the same picture opening three videos is.
    three = pair + ("lecture.mp4",)
    assert set(_find(signatures, three, with_audio=False)) == set(three)


def _fingerprint(path):
    info = probe(path)
    stats = FrameStats()
    for frame in decode_frames(info):
        stats.feed(frame)
    return make_fingerprint(stats, audio.load_audio(info.path, info), info.duration)


def test_the_same_picture_under_different_speech_is_no_bumper_even_in_long_videos():
    """The templated videos' first 6 s as the openings of three 20 s videos (so the half-video
    bound says nothing): the picture recurs, the speech does not, so nothing is a bumper; the
    same openings with their sound taken away are a silent bumper shared by three videos."""
    from dataclasses import replace

    import numpy as np

    from tests.conftest import ROOT

    fps = {i: replace(_fingerprint(ROOT / "fixtures" / "trim" / f"template_{i}.mp4"), duration=20.0) for i in (1, 2, 3)}
    assert find_bumpers(fps) == {}
    quiet = {i: replace(fp, head_audio=np.zeros(0, np.uint32), head_loud=np.full_like(fp.head_loud, -120.0))
             for i, fp in fps.items()}
    assert set(find_bumpers(quiet)) == {1, 2, 3}


def test_fingerprints_from_older_libraries_still_find_the_intro(signatures, truth):
    """Libraries indexed before fingerprints carried luma and loudness: the old audio rule."""
    from dataclasses import replace

    import numpy as np

    empty = np.zeros(0, np.float32)
    fps = {i: replace(signatures[n][0], head_luma=empty, tail_luma=empty, head_loud=empty, tail_loud=empty)
           for i, n in enumerate(NAMES)}
    found = {NAMES[i]: spans for i, spans in find_bumpers(fps).items()}
    assert set(found) == {n for n in NAMES if truth["videos"][n]["intro"]}
