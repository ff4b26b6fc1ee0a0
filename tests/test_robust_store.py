"""A bad disk or an odd folder never loses data or prints a traceback: folders and files that
cannot be read, a Whisper name shadowed by a folder, very short videos, Ctrl-C, a damaged
library and `vidsearch repair`, a full disk.

The clips are a second of generated test pattern each (quick to index with the session's
models); commands run in process (the session's models again) except where a real permission
error is needed: those run as a root that has given up its right to read anything.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipelines import plan_reindex
from tests.test_store import LAYOUT, fused, make_video
from vidsearch import cli, models, store
from vidsearch.store import DB_FILE, INDEX_FILE, HnswIndex, Library
from vidsearch.types import Span, VideoError

REPO = Path(__file__).resolve().parent.parent
#: name -> (hue, seconds): distinct pictures, so distinct content hashes
CLIPS = {"a.mp4": (0, 1.2), "b.mp4": (60, 1.2), "inner.mp4": (120, 1.2), "new1.mp4": (180, 1.2),
         "new2.mp4": (240, 1.2), "short.mp4": (300, 0.2)}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("clips")
    for name, (hue, seconds) in CLIPS.items():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc=size=160x120:rate=10:duration={seconds}", "-vf", f"hue=h={hue}",
                        "-pix_fmt", "yuv420p", str(base / name)], check=True)
    return {name: base / name for name in CLIPS}


@pytest.fixture(scope="module")
def library(tmp_path_factory, clips, processor) -> tuple[Path, Path]:
    """(db, videos): a.mp4, b.mp4 and sub/inner.mp4 indexed once; tests work on copies of db."""
    from vidsearch.indexer import index_paths

    base = tmp_path_factory.mktemp("robust")
    videos = base / "videos"
    (videos / "sub").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4"):
        shutil.copy2(clips[name], videos / name)
    shutil.copy2(clips["inner.mp4"], videos / "sub" / "inner.mp4")
    db = base / "db"
    with Library.open(db, processor.layout.as_dict()) as lib:
        report = index_paths(lib, [videos], processor)
    assert len(report.indexed) == 3, report.failed
    return db, videos


def copy_library(db: Path, dest: Path) -> Path:
    shutil.copytree(db, dest, ignore=shutil.ignore_patterns(".lock"))
    return dest


def names(db: Path) -> list[str]:
    with Library.open(db, readonly=True) as lib:
        return sorted(v.path.name for v in lib.videos() if v.status == "indexed")


@pytest.fixture
def vidsearch(monkeypatch, processor):
    """Run the command line in this process with the session's models: vidsearch(*args)."""
    import vidsearch.pipeline as pipeline

    monkeypatch.setattr(pipeline, "VideoProcessor", lambda *a, **k: processor)
    monkeypatch.setenv("COLUMNS", "300")
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(cli.app, [os.fsdecode(a) if isinstance(a, Path) else str(a) for a in args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result

    return run


def one_line(result, needle: str) -> str:
    """The one stderr line that mentions ``needle`` (and no traceback anywhere)."""
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if needle in ln]
    assert len(lines) == 1, result.stderr
    return lines[0]


# ---- folders and files that cannot be read ------------------------------------------------

@contextlib.contextmanager
def locked(path: Path):
    """``chmod 000`` for the duration."""
    mode = path.stat().st_mode
    path.chmod(0)
    try:
        yield path
    finally:
        path.chmod(mode)


@pytest.fixture(scope="module")
def unprivileged(tmp_path_factory):
    """Run `vidsearch ARGS` where ``chmod 000`` stops reads: as this user, or as root without
    its permission override (setpriv drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH)."""
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv cannot be stopped by file permissions")
        prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    probe = tmp_path_factory.mktemp("probe") / "locked"
    probe.write_text("x")
    with locked(probe):
        denied = subprocess.run([*prefix, sys.executable, "-c", f"open({str(probe)!r})"], capture_output=True)
    if denied.returncode == 0:
        pytest.skip("file permissions are not enforced here")

    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run([*prefix, sys.executable, "-m", "vidsearch", *map(os.fsdecode, args)], cwd=REPO,
                              capture_output=True, text=True, timeout=600,
                              env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "300"})

    return run


def test_reindex_keeps_the_videos_of_a_folder_it_cannot_read(tmp_path, library, unprivileged):
    db0, videos = library
    db = copy_library(db0, tmp_path / "db")
    with locked(videos / "sub"):
        proc = unprivileged("reindex", "--db", db, videos, "--workers", "1", "--json")
    assert proc.returncode == 1, proc.stderr  # something could not be done
    report = json.loads(proc.stdout)
    assert report["removed"] == [] and report["unchanged"] == 2
    line = [ln for ln in proc.stderr.splitlines() if "sub" in ln]
    assert len(line) == 1 and "cannot read folder: Permission denied" in line[0], proc.stderr
    assert "1 of its videos in the library kept" in line[0]
    assert names(db) == ["a.mp4", "b.mp4", "inner.mp4"]

    # A folder gone from below the root (an unmounted disk) looks like deleted videos: kept,
    # unless removing them is allowed.
    with Library.open(db, readonly=False) as lib:
        lib.record_failure(videos / "gone" / "deep" / "x.mp4", "was bad", size=1, mtime_ns=1)
        lib.commit()
        plan = plan_reindex(lib, videos)
        assert plan.removed == [] and plan.kept_by_folder() == {videos / "gone": ("folder missing", 1)}
        plan = plan_reindex(lib, videos, allow_missing=True)
        assert [r.path.name for r in plan.removed] == ["x.mp4"] and plan.kept == []


def test_an_unreadable_file_or_folder_named_to_index_is_one_failure_line(tmp_path, library, clips, unprivileged):
    db0, videos = library
    db = copy_library(db0, tmp_path / "db")
    shutil.copy2(clips["new1.mp4"], tmp_path / "locked.mp4")
    shutil.copy2(clips["new2.mp4"], tmp_path / "new.mp4")
    with locked(videos / "sub"), locked(tmp_path / "locked.mp4"):
        proc = unprivileged("index", "--db", db, videos, tmp_path / "locked.mp4", tmp_path / "new.mp4", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [Path(p).name for p in report["indexed"]] == ["new.mp4"]
    assert sorted(Path(p).name for p in report["skipped"]) == ["a.mp4", "b.mp4"]
    failed = {Path(f["path"]).name: f["reason"] for f in report["failed"]}
    assert sorted(failed) == ["locked.mp4", "sub"], failed
    for name, reason in failed.items():
        assert "Permission denied" in reason
        assert len([ln for ln in proc.stderr.splitlines() if f"/{name}:" in ln]) == 1, proc.stderr
    assert names(db) == ["a.mp4", "b.mp4", "inner.mp4", "new.mp4"]


# ---- models and very short videos ---------------------------------------------------------

def test_a_folder_named_like_the_whisper_model_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "base").mkdir()
    monkeypatch.chdir(tmp_path)
    bundled = models.resolve_whisper(None)
    assert models.resolve_whisper("base") == bundled and Path(bundled).name == "whisper-base"
    assert (Path(bundled) / "model.bin").is_file()
    with pytest.raises(models.ModelUnavailable, match="not a faster-whisper"):
        models.resolve_whisper("./base")  # written as a path: it is one


def test_a_very_short_video_is_one_segment_and_a_trimmed_away_one_fails_with_why(processor, clips):
    video = processor.process(clips["short.mp4"])
    assert [(s.start, s.end) for s in video.segments] == [(0.0, pytest.approx(video.info.duration, abs=0.05))]
    prep = processor.prepare(clips["a.mp4"])
    prep.removed = [Span(0.0, prep.duration - 0.1, "black-head")]
    with pytest.raises(VideoError, match="nothing to index: removing black-head"):
        processor.finish(prep)
