"""Scene cuts and keyframes on the real fixture videos, against the ground truth."""
import subprocess

import numpy as np
import pytest

from tests.conftest import VIDEOS
from vidsearch.media.frames import decode_frames, hamming
from vidsearch.media.probe import probe
from vidsearch.media.scenes import FrameSampler, SceneCutter, pick_keyframes


def _scan(path):
    info = probe(path)
    cutter, sampler = SceneCutter(info.fps), FrameSampler()
    for frame in decode_frames(info):
        cutter.feed(frame)
        sampler.feed(frame)
    return info, cutter.scenes(info.duration), sampler


@pytest.fixture(scope="module")
def scans(truth):
    return {name: _scan(VIDEOS / name) for name in truth["videos"]}


def test_cuts_within_two_frames_of_truth(truth, scans):
    for name, gt in truth["videos"].items():
        _, scenes, _ = scans[name]
        found = [s.start_frame for s in scenes[1:]]
        expected = gt["cut_frames"]
        missed = [c for c in expected if not any(abs(c - f) <= 2 for f in found)]
        spurious = [f for f in found if not any(abs(c - f) <= 2 for c in expected)]
        assert not missed and not spurious, f"{name}: missed {missed}, spurious {spurious} (found {found})"


def test_scenes_tile_the_video(scans):
    for name, (info, scenes, _) in scans.items():
        assert scenes[0].start == 0.0
        assert scenes[-1].end == pytest.approx(info.duration, abs=0.1), name
        for a, b in zip(scenes, scenes[1:]):
            assert a.end == b.start and a.end_frame == b.start_frame


def test_keyframes_are_inside_sharp_and_distinct(scans):
    for name, (_, scenes, sampler) in scans.items():
        for scene in scenes:
            kfs = pick_keyframes(sampler, scene.start, scene.end)
            assert 1 <= len(kfs) <= 4, name
            assert all(scene.start <= k.time < scene.end for k in kfs)
            hashes = [int(h) for h in [sampler.frames[[f[0] for f in sampler.frames].index(k.time)][3] for k in kfs]]
            for i in range(len(hashes)):
                for j in range(i):
                    assert hamming(hashes[i], hashes[j]) >= 8


def test_keyframes_avoid_blurred_frames(scans):
    import cv2

    from vidsearch.media.frames import DecodedFrame

    _, scenes, _ = scans["cat and yarn.mp4"]
    cat = scenes[1]
    blurred = FrameSampler(sample_fps=25.0)  # keep every frame fed: the test picks them
    info = probe(VIDEOS / "cat and yarn.mp4")
    for i, frame in enumerate(f for f in decode_frames(info) if f.index % 12 == 0):
        img = cv2.GaussianBlur(frame.rgb, (0, 0), 3) if i % 2 else frame.rgb  # as in a fast pan
        blurred.feed(DecodedFrame(frame.index, frame.time, img))
    sharp_times = {f[0] for i, f in enumerate(blurred.frames) if i % 2 == 0}
    kfs = pick_keyframes(blurred, cat.start, cat.end)
    assert kfs and all(k.time in sharp_times for k in kfs)


def test_portrait_and_rotated_frames_come_out_upright(tmp_path):
    portrait = probe(VIDEOS / "coffee_portrait.mp4")
    frame = next(iter(decode_frames(portrait)))
    assert frame.rgb.shape[0] > frame.rgb.shape[1]  # taller than wide
    # The same landscape content stored sideways with a rotation flag decodes back upright.
    src = VIDEOS / "rocket_launch.mp4"
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf", "transpose=2", "-c:v", "libx264",
                    "-t", "2", "-an", str(rotated)], check=True)
    flagged = tmp_path / "flagged.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(rotated), "-c", "copy", "-metadata:s:v:0", "rotate=270",
                    str(flagged)], check=True)
    info = probe(flagged)
    upright = next(iter(decode_frames(info))).rgb.astype(np.float32)
    original = next(iter(decode_frames(probe(src)))).rgb.astype(np.float32)
    assert upright.shape == original.shape
    assert np.abs(upright - original).mean() < 12  # same picture, not rotated or mirrored
    # And it agrees with ffmpeg's own autorotation of the same file.
    h, w = upright.shape[:2]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(flagged), "-frames:v", "1", "-vf", f"scale={w}:{h}",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    reference = np.frombuffer(raw, np.uint8).reshape(h, w, 3).astype(np.float32)
    assert np.abs(upright - reference).mean() < 12


def test_transport_stream_times_start_at_zero(truth, tmp_path):
    # MPEG-TS starts its clock at ~1.4 s; scenes must still be on the file's own time line.
    ts = tmp_path / "rocket.ts"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(VIDEOS / "rocket_launch.mp4"), "-c", "copy", str(ts)],
                   check=True)
    _, scenes, _ = _scan(ts)
    cuts = truth["videos"]["rocket_launch.mp4"]["cuts"]
    assert len(scenes) == len(cuts) + 1
    for scene, cut in zip(scenes[1:], cuts):
        assert abs(scene.start - cut) <= 2 / truth["fps"], (scene.start, cut)


def test_text_frames_are_larger_few_and_not_repeated(truth):
    """OCR gets 640 px frames every 2 s; a static card is read once, a long scene a few times."""
    from vidsearch.media.scenes import pick_text_frames

    info = probe(VIDEOS / "coffee_portrait.mp4")  # 720x1280 portrait
    sampler = FrameSampler()
    for frame in decode_frames(info, detail_side=640, detail_fps=0.5):
        sampler.feed(frame)
    times = [t for t, _, _ in sampler.details]
    assert len(times) == pytest.approx(info.duration / 2, abs=1)
    assert np.allclose(np.diff(times), 2.0, atol=0.05)
    card = next(s for s in truth["videos"]["coffee_portrait.mp4"]["shots"] if s.get("on_screen_text"))
    frames = pick_text_frames(sampler, card["start"], card["end"])
    assert 1 <= len(frames) <= 2  # 8 s of one card: at most ceil(8/6) picks, near-duplicates dropped
    for t, rgb in frames:
        assert card["start"] <= t < card["end"]
        assert rgb.shape == (640, 360, 3)  # upright portrait, longest side 640
    assert pick_text_frames(FrameSampler(), 0.0, 5.0) == []
