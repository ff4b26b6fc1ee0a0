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
