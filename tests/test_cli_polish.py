"""The command line as a script or a pipe sees it: --json everywhere (errors too), raw UTF-8,
no wrapping off a terminal, m:ss times, delete by id, notes on weights that cannot count, the
ETA by seconds of video, and a warning for speech in no expected language."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import VIDEOS

VIDSEARCH = [sys.executable, "-m", "vidsearch"]
#: A name with Chinese and spaces, long enough that a 60-column table would fold it.
BIRD = "白色鹦鹉 a sulphur-crested cockatoo filmed in the garden.mp4"


def run(*args: str | Path, rc: int | None = 0, columns: int = 60) -> subprocess.CompletedProcess:
    """The CLI with stdout and stderr piped and a narrow COLUMNS: nothing may wrap all the same."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS=str(columns))
    proc = subprocess.run([*VIDSEARCH, *map(str, args)], capture_output=True, env=env)
    if rc is not None:
        assert proc.returncode == rc, (proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
    return proc


def one_json(proc: subprocess.CompletedProcess) -> dict:
    """stdout as exactly one JSON object on one line."""
    lines = proc.stdout.decode("utf-8").splitlines()
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


@pytest.fixture(scope="module")
def bird_library(tmp_path_factory):
    """The silent cockatoo (nothing to transcribe: fast) under a long Chinese name and the
    summer-sale clip, built by `reindex` without the visual channel: (videos, db, reindex stderr)."""
    base = tmp_path_factory.mktemp("polish")
    videos = base / "videos"
    videos.mkdir()
    shutil.copy(VIDEOS / "cockatoo_silent.mp4", videos / BIRD)
    shutil.copy(VIDEOS / "summer_sale.mp4", videos / "summer_sale.mp4")
    db = base / "db"
    proc = run("reindex", "--db", db, videos, "--clip", "none", "--workers", "1")
    return videos, db, proc.stderr.decode("utf-8")


# --------------------------------------------------------------------------- --json everywhere


def test_every_command_but_serve_has_json():
    from typer.main import get_command

    from vidsearch.app.cli import app

    def commands(group, prefix=""):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                yield from commands(cmd, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", cmd

    found = dict(commands(get_command(app)))
    assert {"delete", "doctor", "info", "repair", "captions remove", "prepare-models"} <= set(found)
    lacking = [name for name, cmd in found.items() if not any("--json" in p.opts for p in cmd.params)]
    assert lacking == ["serve"]  # it serves JSON over HTTP; its only output is the address


@pytest.mark.parametrize("args", [
    ("info", "--db", "{missing}"),
    ("delete", "--db", "{missing}", "1"),
    ("captions", "remove", "--db", "{missing}", "pet-001"),
    ("captions", "list", "--db", "{missing}"),
    ("repair", "--db", "{missing}"),
    ("search", "--db", "{missing}", "鹦鹉"),
    ("reindex", "--db", "{missing}", "{missing}/nowhere"),
    ("index", "--db", "{missing}", "{missing}", "--language", "xx"),
    ("search", "--db", "{missing}", "-k", "0", "bird"),  # a usage error, found by the parser
    ("search", "--db", "{missing}"),  # a missing argument
])
def test_errors_in_json_mode_are_one_json_object_on_stdout(tmp_path, args):
    missing = tmp_path / "no library"
    proc = run(*(a.replace("{missing}", str(missing)) for a in args), "--json", rc=None)
    assert proc.returncode in (1, 2), proc
    doc = one_json(proc)
    assert set(doc) == {"error"} and doc["error"] and "\n" not in doc["error"]
    assert b"error" not in proc.stderr  # the error is said once, where the script reads


def test_doctor_json():
    doc = one_json(run("doctor", "--json"))
    rows = {r["name"]: r for r in doc["rows"]}
    assert rows["ffmpeg"]["available"] is True and rows["ffprobe"]["available"] is True
    assert "speech" in doc["channels"]["live"]
    assert set(doc["channels"]["live"]).isdisjoint(doc["channels"]["off"])
    assert all(isinstance(missing, list) and missing for missing in doc["channels"]["off"].values())


# --------------------------------------------------------------------------- raw UTF-8


def test_json_is_raw_utf8_with_chinese_names(bird_library):
    _, db, _ = bird_library
    proc = run("info", "--db", db, "--json")
    assert "白色鹦鹉".encode() in proc.stdout and b"\\u" not in proc.stdout
    assert any(v["video"].endswith(BIRD) for v in one_json(proc)["videos"])


def test_a_name_that_is_not_utf8_leaves_the_chinese_raw(capsysbinary):
    """Only the undecodable byte is escaped, so the exact name comes back and the rest stays readable."""
    from vidsearch.app.cli._console import print_json

    name = os.fsdecode("鹦鹉 caf".encode() + b"\xe9.mp4")
    print_json({"video": name, "query": "白色"})
    raw = capsysbinary.readouterr().out
    assert "鹦鹉 caf".encode() in raw and "白色".encode() in raw and b"\\udce9" in raw
    raw.decode("utf-8")  # valid UTF-8 throughout
    assert os.fsencode(json.loads(raw)["video"]) == "鹦鹉 caf".encode() + b"\xe9.mp4"


# --------------------------------------------------------------------------- no wrapping, m:ss


def test_piped_output_never_wraps(bird_library):
    videos, db, reindex_log = bird_library
    summary = [ln for ln in reindex_log.splitlines() if ln.startswith("added ")]
    assert len(summary) == 1 and summary[0].endswith("local × 1)") and "x real time" in summary[0], reindex_log
    info = run("info", "--db", db).stdout.decode("utf-8")
    path = os.fsdecode((videos / BIRD).resolve())
    assert any(path in ln for ln in info.splitlines()), info  # the whole path on one line
    assert max(map(len, info.splitlines())) > 60  # wider than COLUMNS: nothing was folded to fit it


def test_human_times_are_m_ss_and_json_keeps_seconds(bird_library):
    _, db, _ = bird_library
    info = run("info", "--db", db).stdout.decode("utf-8")
    row = next(ln for ln in info.splitlines() if "鹦鹉" in ln)
    assert " 0:16 " in row and "16.0" not in row  # the cockatoo lasts 16 s
    doc = one_json(run("search", "--db", db, "--json", "-k", "1", "--min-confidence", "any", "summer sale"))
    best = doc["results"][0]
    assert isinstance(best["jump"], float | int) and isinstance(best["start"], float | int)
    table = run("search", "--db", db, "-k", "1", "--min-confidence", "any", "summer sale").stdout.decode("utf-8")
    row = next(ln for ln in table.splitlines() if "summer_sale.mp4" in ln)
    cells = [c.strip() for c in re.split(r"[│┃|]", row) if c.strip()]
    start, end, jump = cells[2:5]

    def mss(t: float) -> str:
        return f"{int(t) // 60}:{int(t) % 60:02d}"

    assert (start, end, jump) == (mss(best["start"]), mss(best["end"]), mss(best["jump"])), row


def test_clock():
    from vidsearch.text.clock import clock, length, span

    assert clock(151.97) == "2:31" and clock(0) == "0:00" and clock(3725.2) == "1:02:05"
    assert clock(2.99) == "0:02" and clock(2.9999999) == "0:03" and length(2.6) == "0:03"  # float noise is 3
    assert span(14.0, 20.5) == "0:14-0:20"


# --------------------------------------------------------------------------- delete by id


def test_delete_takes_the_id_info_shows(bird_library, tmp_path):
    _, db, _ = bird_library
    lib = tmp_path / "db"
    shutil.copytree(db, lib, ignore=shutil.ignore_patterns(".lock"))
    held = one_json(run("info", "--db", lib, "--json"))["videos"]
    bird = next(v for v in held if v["video"].endswith(BIRD))
    done = one_json(run("delete", "--db", lib, str(bird["video_id"]), "424242", "--json"))
    assert done == {"removed": [bird["video"]], "not_found": ["424242"]}
    after = one_json(run("info", "--db", lib, "--json"))["videos"]
    assert [v["video_id"] for v in after] == [v["video_id"] for v in held if v is not bird]
    again = run("delete", "--db", lib, str(bird["video_id"]), rc=1)
    assert again.stderr.decode().strip() == f"not in library: {bird['video_id']}"


# --------------------------------------------------------------------------- weights notes


def test_a_weight_for_a_channel_the_library_lacks_gets_a_note(bird_library):
    _, db, _ = bird_library
    assert "visual" not in one_json(run("info", "--db", db, "--json"))["profile"]["channels"]
    plain = run("search", "--db", db, "--json", "-k", "1", "--min-confidence", "any", "cockatoo")
    assert b"--weights" not in plain.stderr
    weighted = run("search", "--db", db, "--json", "-k", "1", "--min-confidence", "any", "--weights", "visual=2",
                   "cockatoo")
    notes = weighted.stderr.decode("utf-8").strip().splitlines()
    # The preset's visual weight (1) already goes to the tags; visual=2 doubles it.
    assert notes == ["note: --weights visual=2: this library has no visual channel; tags stands in for it and "
                     "weighs 2 instead of 1"]
    # And that is what happened: the tags' share of the score doubled.
    before, after = one_json(plain)["results"][0], one_json(weighted)["results"][0]
    assert before["segment_id"] == after["segment_id"] and before["channels"]["tags"] > 0
    assert after["channels"]["tags"] == pytest.approx(2 * before["channels"]["tags"], rel=1e-3)
    same = run("search", "--db", db, "--json", "-k", "1", "--weights", "visual=1", "cockatoo")
    assert same.stderr.decode("utf-8").strip() == ("note: --weights visual=1: this library has no visual channel; "
                                                  "tags stands in for it and weighs 1 with or without this weight")
    audio = run("search", "--db", db, "--json", "-k", "1", "--weights", "audio=1", "cockatoo")
    assert b"text query cannot meet the audio channel" in audio.stderr


# --------------------------------------------------------------------------- progress


def test_reindex_logs_one_line_per_file_with_an_eta(bird_library):
    _, _, log = bird_library
    lines = [ln for ln in log.splitlines() if ln.startswith("[")]
    assert [ln.split()[0] for ln in lines] == ["[1/2]", "[2/2]"], log
    assert re.search(r"\(\d+:\d\d of video in \d+:\d\d; [\d.]+ videos/min, ETA \d+:\d\d\)$", lines[0]), lines[0]


def test_time_left_counts_seconds_of_video_not_files(tmp_path):
    from vidsearch.ingest.estimate import VideoSecondsLeft

    junk = tmp_path / "not a video.mp4"
    junk.write_bytes(b"nothing to see")
    files = [VIDEOS / "lecture.mp4", VIDEOS / "cockatoo_silent.mp4", VIDEOS / "summer_sale.mp4", junk]
    left = VideoSecondsLeft(files, background=False)
    assert left.total == pytest.approx(35 + 16 + 15, abs=0.2)  # an unreadable file is no seconds
    assert left.eta(10.0) is None  # nothing done: no rate yet
    left.finished(VIDEOS / "lecture.mp4")
    # 35 s of video took 10 s: the other 31 s need about 8.9 s, not the 30 s that 3 files of 4 would say.
    assert left.eta(10.0) == pytest.approx(10.0 * 31 / 35, rel=0.02)
    left.finished(junk, 0.0)
    assert left.left() == pytest.approx(31, abs=0.2)


def test_a_file_not_measured_yet_counts_as_the_mean_of_those_that_are():
    from vidsearch.ingest.estimate import VideoSecondsLeft

    gate = threading.Event()
    lengths = {"a": 10.0, "b": 30.0, "c": 5.0}

    def measure(path: Path) -> float:
        if path.name == "c":
            gate.wait(10)
        return lengths[path.name]

    def settles_at(left: VideoSecondsLeft, total: float) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and left.total != pytest.approx(total):
            time.sleep(0.01)
        return left.total == pytest.approx(total)

    left = VideoSecondsLeft([Path("a"), Path("b"), Path("c")], measure=measure)
    assert settles_at(left, 10 + 30 + 20)  # c is still being measured: the mean of a and b
    gate.set()
    assert settles_at(left, 10 + 30 + 5)
    left.close()


# --------------------------------------------------------------------------- expected languages


@pytest.mark.slow
def test_speech_in_no_expected_language_is_warned_once(tmp_path):
    """The coffee fixture speaks Mandarin and English; expecting only Spanish, both lines fit
    none of the expected languages and indexing says so in one line (the video is still indexed).
    (Not French: heard on its own, the synthetic Mandarin line is French to Whisper at 0.21.)"""
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(VIDEOS / "coffee_portrait.mp4", videos / "coffee.mp4")
    proc = run("index", "--db", tmp_path / "db", videos, "--language", "es", "--no-ocr", "--no-tags", "--clip", "none")
    warnings = [ln for ln in proc.stderr.decode("utf-8").splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "coffee.mp4: 2 of 2 spoken lines fit none of the expected languages (es)" in \
        warnings[0], proc.stderr
    assert "--language" in warnings[0]
