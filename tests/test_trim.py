"""Library-wide bumper search on the real fixture videos."""
import pytest

from vidsearch import audio
from vidsearch.frames import decode_frames
from vidsearch.probe import probe
from vidsearch.trim import FrameStats, find_bumpers, make_fingerprint

from .conftest import VIDEOS

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
