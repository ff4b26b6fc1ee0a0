"""Probe on real fixtures and on the bad inputs users throw at it: one clear reason each."""
import subprocess
from pathlib import Path

import pytest

from tests.conftest import VIDEOS
from vidsearch.media.probe import probe
from vidsearch.types import VideoError


def make_bad_files(folder: Path) -> dict[str, str]:
    """Bad inputs built from real media: file name -> the reason fragment we expect."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.mp4").write_bytes(b"")
    # A recording cut short before its index was written (moov at the end, as cameras write it).
    moov_last = folder / "moov_last.tmp"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(VIDEOS / "rocket_launch.mp4"), "-c", "copy",
                    "-f", "mp4", str(moov_last)], check=True)
    good = moov_last.read_bytes()
    moov_last.unlink()
    (folder / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (folder / "notes.mp4").write_text("this is not a video, just text\n" * 20)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(VIDEOS / "rocket_launch.mp4"), "-vn", "-c:a", "aac",
         str(folder / "audio only.mp4")],
        check=True,
    )
    return {
        "empty.mp4": "empty file",
        "truncated.mp4": "truncated",
        "notes.mp4": "not a readable media file",
        "audio only.mp4": "no video stream",
    }


def test_probe_fixtures(truth):
    for name, gt in truth["videos"].items():
        info = probe(VIDEOS / name)
        assert info.has_audio == gt["has_audio"], name
        assert (info.width, info.height) == (gt["width"], gt["height"]), name
        assert info.duration == pytest.approx(gt["duration"], abs=0.1), name
        assert info.fps == pytest.approx(truth["fps"], abs=0.01)


def test_probe_bad_files_give_one_line_reasons(tmp_path):
    expected = make_bad_files(tmp_path)
    for name, fragment in expected.items():
        with pytest.raises(VideoError) as err:
            probe(tmp_path / name)
        message = str(err.value)
        assert "\n" not in message
        assert message.startswith(str(tmp_path / name)), message
        assert fragment in message, message


def test_rotated_video_reports_display_size(tmp_path):
    # A landscape stream flagged with a 90-degree display matrix is portrait for the viewer.
    src = VIDEOS / "rocket_launch.mp4"
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-c", "copy", "-metadata:s:v:0", "rotate=270",
                    str(rotated)], check=True)
    info = probe(rotated)
    base = probe(src)
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (base.height, base.width)


def test_a_still_cover_over_a_long_talk_is_indexed_to_the_end_of_its_sound(tmp_path, processor):
    """One picture frame over 35 s of speech (a podcast's cover, a song under a short clip): the
    video lasts as long as its sound, every word is searchable, and nothing says "truncated"."""
    from vidsearch.ingest.indexer import index_paths
    from vidsearch.query.search import Searcher
    from vidsearch.store.library import Library

    cover = tmp_path / "cover.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(VIDEOS / "go_forward.mp4"), "-frames:v", "1", "-an",
                    "-c:v", "libx264", str(cover)], check=True)
    talk = tmp_path / "videos" / "talk over a still.mp4"
    talk.parent.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(cover), "-i", str(VIDEOS / "lecture.mp4"),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(talk)], check=True)
    info = probe(talk)
    assert info.duration > 30  # the container lasts as long as the sound; the picture is one frame
    with Library.open(tmp_path / "db", processor.layout.as_dict()) as library:
        report = index_paths(library, [talk], processor)
        assert report.indexed == [talk] and report.warnings == [], report.warnings
        (video,) = library.videos()
        segments = library.video_segments(video.id)
        assert segments[-1].end == pytest.approx(info.duration, abs=0.1)
        (first,) = Searcher(library).search("He might even have been made amiable himself", 1)
    assert first.start >= 20.0 and first.confidence == "high"  # said near the end of the talk


def test_a_truncated_recording_is_kept_at_the_length_it_plays(tmp_path, processor):
    """A file cut short after its index (moov at the front): the part that decodes is indexed, the
    warning says so, and the library records that length, not the header's."""
    from vidsearch.ingest.indexer import index_paths
    from vidsearch.store.library import Library

    data = (VIDEOS / "cat and yarn.mp4").read_bytes()
    cut = tmp_path / "videos" / "cut short.mp4"
    cut.parent.mkdir()
    cut.write_bytes(data[: len(data) // 2])
    header = probe(cut).duration
    with Library.open(tmp_path / "db", processor.layout.as_dict()) as library:
        report = index_paths(library, [cut], processor)
        ((_, warning),) = report.warnings
        assert warning.startswith("truncated: only") and report.indexed == [cut]
        (video,) = library.videos()
        segments = library.video_segments(video.id)
    assert video.duration < header - 2.0
    assert video.duration == pytest.approx(segments[-1].end, abs=0.5)
