"""The public API as a Python user calls it: reindex a folder, search it, and the guards."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vidsearch
from tests.conftest import VIDEOS

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_cheap_and_exports_the_api():
    code = "import sys, vidsearch; print('torch' in sys.modules, 'vidsearch.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    for name in ("Library", "index", "reindex", "search", "match_clip", "profile"):
        assert callable(getattr(vidsearch, name))


def test_reindex_search_and_the_emptied_folder_guard(tmp_path):
    folder, db = tmp_path / "videos", tmp_path / "db"
    folder.mkdir()
    shutil.copy(VIDEOS / "cockatoo_silent.mp4", folder / "bird.mp4")
    report = vidsearch.reindex(db, folder, clip="none")
    assert [p.name for p in report.added] == ["bird.mp4"] and not report.failed
    moments = vidsearch.search(db, "鹦鹉", k=3)  # a cockatoo is a parrot: found by its tags
    assert moments and moments[0].video.endswith("bird.mp4")
    (folder / "bird.mp4").unlink()
    with pytest.raises(vidsearch.EmptyLibraryDir, match="nothing removed"):
        vidsearch.reindex(db, folder)
    with vidsearch.Library.open(db, readonly=True) as library:
        assert [v.path.name for v in library.videos()] == ["bird.mp4"]  # still there
    # The example job uses only this API, with the same guard.
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "pipelines/reindex_library.py", "--db", str(db), str(folder)],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "an unmounted disk?" in proc.stderr, proc.stderr
    report = vidsearch.reindex(db, folder, allow_empty=True)
    assert [p.name for p in report.removed] == ["bird.mp4"]
