"""Visual copy detection on real media: altered cuts of the fixture videos find their source video
and the second they were cut from, on pictures alone."""
from __future__ import annotations

import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from tests.altered_clips import ALTERATIONS, make_altered_clip, make_black_clip
from tests.conftest import VIDEOS
from vidsearch.media import signature
from vidsearch.media.frames import decode_frames
from vidsearch.media.probe import probe
from vidsearch.query import copydetect as cd

NAMES = ["cat and yarn.mp4", "rocket_launch.mp4", "lecture.mp4", "cockatoo_silent.mp4",
         "coffee_portrait.mp4", "go_forward.mp4", "summer_sale.mp4"]
IDS = {name: i for i, name in enumerate(NAMES)}
#: The first 3 s of these three are the same bumper.
BUMPER = {"cat and yarn.mp4", "rocket_launch.mp4", "lecture.mp4"}

#: (video, start, duration, why). Cropped clips of a shot that only zooms (the title cards) are left
#: out on purpose: there a 5% crop *is* the picture of another moment (see copydetect's docstring).
CASES = [
    ("cat and yarn.mp4", 5.5, 4.0, "inside a Ken Burns pan+zoom"),
    ("cat and yarn.mp4", 10.2, 4.0, "across the cut at 12 s"),
    ("coffee_portrait.mp4", 7.5, 4.0, "portrait, across the cut at 10 s"),
    ("cockatoo_silent.mp4", 3.3, 4.5, "real footage, across the cut at 6 s"),
]
#: Every case under every picture-changing alteration; muting (no picture change) and the
#: off-centre crop on two cases each.
ALTERED = ([(c, a) for c in CASES for a in ("reencode", "scaled", "cropped", "all")]
           + [(c, a) for c in CASES[1::2] for a in ("muted", "cropped_topleft")])



@pytest.fixture(scope="module")
def refs() -> dict[str, signature.VisualSignature]:
    return {name: cd.signature_of(VIDEOS / name) for name in NAMES}


@pytest.fixture(scope="module")
def index(refs) -> cd.SignatureIndex:
    return cd.SignatureIndex((IDS[name], sig) for name, sig in refs.items())


def test_fixture_list_matches_ground_truth(truth):
    assert sorted(NAMES) == sorted(truth["videos"])


@pytest.mark.parametrize("case, alteration", ALTERED,
                         ids=lambda x: x if isinstance(x, str) else f"{x[0]}@{x[1]:g}")
def test_altered_clip_finds_its_source_and_start(index, tmp_path, case, alteration):
    name, start, duration, _ = case
    clip = make_altered_clip(VIDEOS / name, tmp_path / "clip.mp4", start, duration, **ALTERATIONS[alteration])
    found = index.search(cd.signature_of(clip), top=3)
    assert found, "no source above min_score"
    best = found[0]
    assert best.video_id == IDS[name], [(NAMES[m.video_id], round(m.score, 3)) for m in found]
    assert abs(best.start - start) < 1.0, (best.start, start)
    assert best.score >= cd.MIN_SCORE and best.matched_s >= 0.8 * duration
    # Only the source clears the bar (no other fixture video shows these pictures).
    assert all(m.video_id == IDS[name] for m in found)


def test_find_sources_is_the_same_as_the_index(refs, tmp_path):
    clip = make_altered_clip(VIDEOS / "go_forward.mp4", tmp_path / "clip.mp4", 12.5, 5.0, **ALTERATIONS["all"])
    query = cd.signature_of(clip)
    found = cd.find_sources(query, [(IDS[n], s) for n, s in refs.items()], top=2)
    assert found and found[0].video_id == IDS["go_forward.mp4"] and abs(found[0].start - 12.5) < 1.0
    start, score = cd.align(query, refs["go_forward.mp4"])
    assert start == pytest.approx(found[0].start) and score == pytest.approx(found[0].score)


def test_coarse_pass_keeps_the_answer(refs, tmp_path, monkeypatch):
    """With more videos than COARSE_VIDEOS the coarse pass picks the candidates: same answer."""
    clip = make_altered_clip(VIDEOS / "summer_sale.mp4", tmp_path / "clip.mp4", 6.2, 5.0, **ALTERATIONS["all"])
    query = cd.signature_of(clip)
    exact = cd.SignatureIndex((IDS[n], s) for n, s in refs.items()).search(query)
    monkeypatch.setattr(cd, "COARSE_VIDEOS", 2)
    coarse = cd.SignatureIndex((IDS[n], s) for n, s in refs.items()).search(query)
    assert exact and coarse and coarse[0].video_id == exact[0].video_id == IDS["summer_sale.mp4"]
    assert coarse[0].start == pytest.approx(exact[0].start) and abs(coarse[0].start - 6.2) < 1.0


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}@{c[1]:g}")
def test_a_mirrored_cut_finds_its_source_and_start(index, refs, tmp_path, case):
    """A re-upload flipped left to right (a common way past copy checks) is still its source's
    cut, at the same start; in a library without its source it matches nothing."""
    name, start, duration, _ = case
    clip = tmp_path / "mirrored.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(start), "-t", str(duration), "-i", str(VIDEOS / name),
                    "-vf", "hflip", "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(clip)], check=True)
    query = cd.signature_of(clip)
    found = index.search(query, top=3)
    assert [m.video_id for m in found] == [IDS[name]], [(NAMES[m.video_id], round(m.score, 3)) for m in found]
    assert abs(found[0].start - start) < 1.0 and found[0].matched_s >= 0.8 * duration
    assert cd.find_sources(query, [(IDS[n], sig) for n, sig in refs.items() if n != name]) == []


@pytest.mark.parametrize("name, start, duration", [
    ("cat and yarn.mp4", 12.5, 5.0),   # the astronaut photo: go_forward shows it too, framed differently
    ("cockatoo_silent.mp4", 1.0, 5.0),
    ("lecture.mp4", 4.0, 5.0),         # a text card on a gradient, like rocket_launch's
])
def test_clip_from_a_video_not_in_the_library_matches_nothing(refs, tmp_path, name, start, duration):
    clip = make_altered_clip(VIDEOS / name, tmp_path / "clip.mp4", start, duration, **ALTERATIONS["reencode"])
    query = cd.signature_of(clip)
    others = [(IDS[n], s) for n, s in refs.items() if n != name]
    assert cd.find_sources(query, others) == []
    # ... and its own source would have been found.
    assert cd.find_sources(query, [(IDS[name], refs[name])])[0].video_id == IDS[name]


def test_black_clip_matches_nothing(refs, tmp_path):
    query = cd.signature_of(make_black_clip(tmp_path / "black.mp4", 4.0))
    assert query.flat.all()
    assert cd.find_sources(query, [(IDS[n], s) for n, s in refs.items()]) == []
    # go_forward ends on 1.6 s of black: black must not match black.
    assert cd.align(query, refs["go_forward.mp4"]) is None


def test_clip_inside_the_shared_bumper_is_one_of_the_three(index, tmp_path):
    clip = make_altered_clip(VIDEOS / "lecture.mp4", tmp_path / "clip.mp4", 0.3, 2.5, **ALTERATIONS["scaled"])
    found = index.search(cd.signature_of(clip), top=5)
    assert {NAMES[m.video_id] for m in found} == BUMPER
    assert all(abs(m.start - 0.3) < 1.0 for m in found)


def test_clip_with_nonzero_start_timestamp(index, tmp_path):
    clip = make_altered_clip(VIDEOS / "cockatoo_silent.mp4", tmp_path / "clip.mp4", 9.0, 5.0, ts_offset=3.0,
                             **ALTERATIONS["reencode"])
    found = index.search(cd.signature_of(clip))
    assert found and found[0].video_id == IDS["cockatoo_silent.mp4"] and abs(found[0].start - 9.0) < 1.0


def _rows(sig: signature.VisualSignature, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    return sig.descriptors[a:b], sig.flat[a:b]


def test_clip_overhanging_the_start_or_end_of_a_video_still_aligns(refs):
    """A clip whose first (or last) second is not in the video: the rest places it."""
    fps = signature.SIGNATURE_FPS
    ref, other = refs["lecture.mp4"], refs["cockatoo_silent.mp4"]
    extra = int(1.0 * fps)
    # 1 s of foreign picture, then the video's first 5 s: the clip starts 1 s before the video.
    d1, f1 = _rows(other, 0, extra)
    d2, f2 = _rows(ref, 0, int(5 * fps))
    head = signature.VisualSignature(fps, np.concatenate([d1, d2]), np.concatenate([f1, f2]))
    start, score = cd.align(head, ref)
    assert start == pytest.approx(-1.0, abs=0.01) and score > cd.MIN_SCORE
    # The video's last 4 s, then 1 s of something else.
    n = len(ref)
    d2, f2 = _rows(ref, n - int(4 * fps), n)
    tail = signature.VisualSignature(fps, np.concatenate([d2, d1]), np.concatenate([f2, f1]))
    start, score = cd.align(tail, ref)
    assert start == pytest.approx((n - 4 * fps) / fps, abs=0.01) and score > cd.MIN_SCORE


def test_signature_round_trips_through_bytes(refs):
    sig = refs["coffee_portrait.mp4"]
    data = sig.to_bytes()
    back = signature.VisualSignature.from_bytes(data)
    assert back.fps == sig.fps and back.origin == pytest.approx(sig.origin)
    assert back.aspect == pytest.approx(sig.aspect, rel=1e-6)
    assert np.array_equal(back.descriptors, sig.descriptors) and np.array_equal(back.flat, sig.flat)
    assert back.flat[:2].all() and not back.flat[4:].any()  # the portrait video opens on 1 s of black
    assert back.duration == pytest.approx(18.0, abs=0.5)
    # Storage: well under 1 kB per second of video.
    assert len(data) / sig.duration < 700
    for bad in (b"", data[:10], b"XXXX" + data[4:], data[:-1]):
        with pytest.raises(ValueError):
            signature.VisualSignature.from_bytes(bad)


def test_frame_descriptor_survives_scaling_and_cropping_but_tells_pictures_apart():
    import cv2

    frames = [f.rgb for f in decode_frames(probe(VIDEOS / "cockatoo_silent.mp4")) if f.index in (50, 200)]
    a, b = frames

    def cos(x, y):
        x, y = x.astype(np.float32), y.astype(np.float32)
        return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))

    desc = signature.frame_descriptor(a)
    assert desc.dtype == np.int8 and desc.shape == (signature.DESCRIPTOR_DIM,)
    h, w = a.shape[:2]
    half = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    crop = a[int(0.02 * h): int(0.98 * h), int(0.02 * w): int(0.98 * w)]
    assert cos(desc, signature.frame_descriptor(half)) > 0.95
    assert cos(desc, signature.frame_descriptor(crop)) > 0.8
    assert cos(desc, signature.frame_descriptor(b)) < 0.5  # the cockatoo vs the pagoda
    assert not signature.frame_descriptor(np.zeros_like(a)).any()


def test_builder_samples_the_frame_on_screen_at_each_grid_time():
    """Frames at 1 fps starting at 0.5 s: every 0.5-s grid row shows the frame shown then."""
    rng = np.random.default_rng(0)
    pictures = [cv2_blur(rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)) for _ in range(4)]
    builder = signature.SignatureBuilder(query_s=0)
    for i, pic in enumerate(pictures):
        builder.feed(SimpleNamespace(time=0.5 + i, rgb=pic))
    sig = builder.finish(4.5)
    assert sig.origin == 0.5 and sig.fps == signature.SIGNATURE_FPS and sig.aspect == pytest.approx(160 / 90)
    assert len(sig) == 8 and sig.query is None  # 0.5, 1.0, ..., 4.0
    expected = [signature.frame_descriptor(p) for p in pictures]
    for i in range(len(sig)):
        assert np.array_equal(sig.descriptors[i], expected[i // 2])


def cv2_blur(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), 3)
