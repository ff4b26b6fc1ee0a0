"""Shared test fixtures: the real fixture videos, their ground truth, and one indexed library."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

_OWN_TMP = pytest.StashKey[tuple]()


def pytest_configure(config: pytest.Config) -> None:
    """Give each pytest-xdist worker a temporary folder of its own.

    ``make test`` runs the tests in two processes at once; a test that checks no upload is left
    behind in the temporary folder must not see the other process's upload in flight.  The
    subprocesses a test starts (the CLI, Ray, Chromium) inherit the folder through ``TMPDIR``;
    its name is short because both Chromium and Ray put Unix sockets in it (107 bytes at most).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    own = Path(tempfile.mkdtemp(prefix=f"vs-{worker}-"))
    config.stash[_OWN_TMP] = (own, os.environ.get("TMPDIR"))
    os.environ["TMPDIR"] = str(own)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def pytest_unconfigure(config: pytest.Config) -> None:
    own, before = config.stash.get(_OWN_TMP, (None, None))
    if own is None:
        return
    if before is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = before
    tempfile.tempdir = None
    shutil.rmtree(own, ignore_errors=True)


ROOT = Path(__file__).resolve().parent.parent
VIDEOS = ROOT / "fixtures" / "videos"
GROUND_TRUTH = VIDEOS / "ground_truth.json"


def _espeak_speaks_mandarin() -> bool:
    if not shutil.which("espeak-ng"):
        return False
    voices = subprocess.run(["espeak-ng", "--voices=cmn"], capture_output=True, text=True).stdout
    return "cmn-latn-pinyin" in voices


#: Tests that synthesise English and Mandarin lines (``make test`` installs espeak-ng).
needs_espeak = pytest.mark.skipif(
    not _espeak_speaks_mandarin(),
    reason="espeak-ng with the cmn-latn-pinyin voice missing: apt-get install espeak-ng espeak-ng-data")


def fixture_info(name: str, v: dict):
    """The VideoInfo of a fixture video as its ground truth describes it (no ffprobe needed)."""
    from vidsearch.types import VideoInfo

    return VideoInfo(
        path=VIDEOS / name, duration=v["duration"], width=v["width"], height=v["height"],
        fps=25.0, n_frames=int(v["duration"] * 25), rotation=0, has_audio=v["has_audio"],
        video_codec="h264", pix_fmt="yuv420p",
    )


@pytest.fixture(scope="session")
def truth() -> dict:
    """fixtures/videos/ground_truth.json (built by fixtures/build.py)."""
    return json.loads(GROUND_TRUTH.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def processor():
    """One VideoProcessor (models loaded once) for the whole session."""
    from vidsearch.ingest.processor import VideoProcessor

    return VideoProcessor()


def index_copy(src: Path, base: Path, processor):
    """Copy the videos of ``src`` (not its JSON) to ``base/videos`` and index them into a fresh
    ``base/db``: (db_dir, IndexReport, videos_dir)."""
    from vidsearch.ingest.indexer import index_paths
    from vidsearch.store.library import Library

    videos = base / "videos"
    shutil.copytree(src, videos, ignore=shutil.ignore_patterns("*.json"))
    db = base / "db"
    with Library.open(db, processor.layout.as_dict()) as library:
        report = index_paths(library, [videos], processor)
    return db, report, videos


@pytest.fixture(scope="session")
def fixture_library(tmp_path_factory, processor):
    """The whole fixture folder indexed once into a fresh library: (db_dir, IndexReport, videos_dir).

    The videos are copied so that tests may add bad files beside them without touching fixtures/.
    """
    return index_copy(VIDEOS, tmp_path_factory.mktemp("lib"), processor)


@pytest.fixture(scope="session")
def searcher(fixture_library):
    from vidsearch.query.search import Searcher
    from vidsearch.store.library import Library

    db, _, _ = fixture_library
    library = Library.open(db, readonly=True)
    yield Searcher(library)
    library.close()
