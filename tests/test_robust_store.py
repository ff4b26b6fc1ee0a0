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

from tests.test_store import LAYOUT, fused, make_video
from vidsearch.app import cli
from vidsearch.ingest.plan import plan_reindex
from vidsearch.models import resolve as models
from vidsearch.store import library as store
from vidsearch.store.hnsw import index_paths
from vidsearch.store.library import DB_FILE, HnswIndex, Library
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
    from vidsearch.ingest.indexer import index_paths

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
    import vidsearch.ingest.processor as pipeline

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

        # The empty mount point such a disk leaves behind: the same. Once the folder holds
        # anything, its missing video was deleted and is removed.
        lib.record_failure(videos / "mnt" / "y.mp4", "was bad", size=1, mtime_ns=1)
        lib.commit()
        (videos / "mnt").mkdir()
        plan = plan_reindex(lib, videos)
        assert plan.removed == [] and plan.kept_by_folder() == {
            videos / "gone": ("folder missing", 1), videos / "mnt": ("folder empty", 1)}
        (videos / "mnt" / ".keep").write_text("")
        assert [r.path.name for r in plan_reindex(lib, videos).removed] == ["y.mp4"]


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


# ---- Ctrl-C -------------------------------------------------------------------------------

class CtrlC:
    """The session's processor, with Ctrl-C pressed once its first video is done."""

    def __init__(self, processor):
        self._processor = processor

    def __getattr__(self, name):
        return getattr(self._processor, name)

    def process_many(self, paths):
        results = self._processor.process_many(paths)
        yield next(results)
        raise KeyboardInterrupt


def test_ctrl_c_says_where_the_library_stands_and_a_rerun_goes_on(tmp_path, library, clips, vidsearch,
                                                                    monkeypatch, processor):
    db = copy_library(library[0], tmp_path / "db")
    folder = tmp_path / "new"
    folder.mkdir()
    for name in ("new1.mp4", "new2.mp4"):
        shutil.copy2(clips[name], folder / name)
    import vidsearch.ingest.processor as pipeline

    monkeypatch.setattr(pipeline, "VideoProcessor", lambda *a, **k: CtrlC(processor))
    result = vidsearch("index", "--db", db, folder)
    assert result.exit_code == 130
    line = one_line(result, "interrupted")
    assert "the library is at its last commit (4 videos)" in line and "run the same command again" in line
    assert names(db) == ["a.mp4", "b.mp4", "inner.mp4", "new1.mp4"]  # what finished was kept

    result = vidsearch("reindex", "--db", db, folder, "--workers", "1")  # goes on with new2, then Ctrl-C
    assert result.exit_code == 130
    assert "at its last commit (5 videos)" in one_line(result, "interrupted")
    assert names(db) == ["a.mp4", "b.mp4", "inner.mp4", "new1.mp4", "new2.mp4"]


# ---- a damaged library --------------------------------------------------------------------

def damage_page(db_file: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with noise."""
    con = sqlite3.connect(db_file)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    size = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    with open(db_file, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(np.random.default_rng(7).bytes(size))


def test_a_damaged_sqlite_header_is_one_line_then_repair_recovers_every_row(tmp_path, library, vidsearch):
    db = copy_library(library[0], tmp_path / "db")
    with open(db / DB_FILE, "r+b") as f:
        f.write(b"\x00garbage garbage garbage garbage")  # "file is not a database"
    # Every command says so, with the exit code of damage: the write commands that need a library
    # (delete) and a reindex plan too, rather than "no library here" or a plan against nothing.
    for args in (("index", "--db", db, library[1]), ("info", "--db", db), ("search", "--db", db, "cat"),
                 ("delete", "a.mp4", "--db", db), ("reindex", library[1], "--db", db, "--dry-run")):
        result = vidsearch(*args)
        assert result.exit_code == 1, (args, result.stderr)
        line = one_line(result, DB_FILE)
        assert "is damaged (file is not a database)" in line and f"vidsearch repair --db {db}" in line
    (tmp_path / "a file").write_text("not a library")
    result = vidsearch("reindex", library[1], "--db", tmp_path / "a file", "--dry-run")
    assert result.exit_code == 2 and "is a file, not a library folder" in one_line(result, "error:")
    result = vidsearch("repair", "--db", db)
    assert result.exit_code == 0, result.stderr
    assert "rebuilt its file header" in result.stderr and "lost" not in result.stderr
    assert list(db.glob(f"{DB_FILE}.damaged-*"))  # the damaged file is kept
    assert names(db) == ["a.mp4", "b.mp4", "inner.mp4"]
    with Library.open(db, readonly=True) as lib:
        assert lib.check() == []


def test_damaged_pages_are_found_before_search_and_repair_indexes_the_videos_again(tmp_path, library, vidsearch):
    db = copy_library(library[0], tmp_path / "db")
    damage_page(db / DB_FILE, "segments")
    result = vidsearch("info", "--db", db)
    assert result.exit_code != 0
    assert "meta.sqlite is damaged (database disk image is malformed)" in one_line(result, "vidsearch repair")
    result = vidsearch("index", "--db", db, library[1])
    assert result.exit_code == 1 and "vidsearch repair" in one_line(result, "error:")
    result = vidsearch("search", "--db", db, "test pattern")
    assert result.exit_code != 0 and "vidsearch repair" in one_line(result, "error:")

    result = vidsearch("repair", "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    done = json.loads(result.stdout)
    assert done["sqlite"] and sorted(Path(p).name for p in done["reindexed"]) == ["a.mp4", "b.mp4", "inner.mp4"]
    assert done["lost"] == [] and done["problems"] == []
    result = vidsearch("search", "--db", db, "test pattern", "--json")
    body = json.loads(result.stdout)  # synthetic test patterns: an honest "no good match" is an answer too
    assert result.exit_code == 0 and (body["results"] or body["note"] == "no good match")
    result = vidsearch("info", "--db", db, "--json")
    assert sum(v["segments"] for v in json.loads(result.stdout)["videos"]) > 0


def test_a_repair_killed_during_its_swap_is_finished_by_the_next_one(tmp_path, library, vidsearch):
    """Killed with the damaged meta.sqlite moved aside and the recovered one not yet in place:
    nothing may open (an index would start an empty library there); the next repair finishes."""
    db = copy_library(library[0], tmp_path / "db")
    damage_page(db / DB_FILE, "segments")
    proc = subprocess.run([sys.executable, "-m", "vidsearch", "repair", "--db", str(db)], cwd=REPO,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", store.CRASH_ENV: "repair"})
    assert proc.returncode == 86, proc.stderr
    assert not (db / DB_FILE).exists() and list(db.glob(f"{DB_FILE}.damaged-*"))
    for args in (("info", "--db", db), ("index", "--db", db, library[1]), ("search", "--db", db, "test")):
        result = vidsearch(*args)
        assert result.exit_code != 0
        assert f"stopped before it finished: run `vidsearch repair --db {db}`" in one_line(result, "repair")
    assert not (db / DB_FILE).exists()  # no empty library was started in its place

    result = vidsearch("repair", "--db", db)
    assert result.exit_code == 0, result.stderr
    assert "an earlier repair stopped" in result.stderr and "indexed 3 of 3 videos again" in result.stderr
    assert names(db) == ["a.mp4", "b.mp4", "inner.mp4"] and not list(db.glob(".repair-*"))
    with Library.open(db, readonly=False) as lib:
        assert lib.check() == []


def test_damaged_vectors_are_found_and_rebuilt_and_what_is_lost_is_named(tmp_path, library, vidsearch):
    db = copy_library(library[0], tmp_path / "db")
    with Library.open(db, readonly=True) as lib:
        gone = next(v for v in lib.videos() if v.path.name == "b.mp4")
    con = sqlite3.connect(db / DB_FILE)  # b.mp4's file is gone by the time its vectors are
    con.execute("UPDATE videos SET path = ? WHERE id = ?", (os.fsencode(tmp_path / "moved-away.mp4"), gone.id))
    con.commit()
    con.close()
    index_file = max(index_paths(db), key=lambda p: p.stat().st_size)
    size = index_file.stat().st_size
    with open(index_file, "r+b") as f:  # every record's vector (the header stays sound)
        f.seek(200)
        f.write(np.random.default_rng(3).bytes(size - 400))
    result = vidsearch("info", "--db", db)
    assert result.exit_code == 1 and "damaged vectors" in one_line(result, "damaged:")

    result = vidsearch("repair", "--db", db)
    assert result.exit_code == 1  # one video could not be brought back
    assert "indexed 2 of 3 videos again" in result.stderr
    line = one_line(result, "lost:")
    assert "moved-away.mp4: could not be indexed again (no such file or directory)" in line and "kept" in line
    assert names(db) == ["a.mp4", "inner.mp4"]
    with Library.open(db, readonly=False) as lib:  # a writer checks itself on open
        assert lib.check() == []
        kept = lib.lookup(tmp_path / "moved-away.mp4")
        assert kept.status == "failed" and "lost its vectors in a repair" in kept.error  # not deleted
    result = vidsearch("info", "--db", db)
    assert "moved-away.mp4" in result.stdout + result.stderr

    # The file comes back (its disk is mounted again): the next index brings it back whole.
    shutil.copy2(library[1] / "b.mp4", tmp_path / "moved-away.mp4")
    result = vidsearch("index", "--db", db, tmp_path / "moved-away.mp4")
    assert result.exit_code == 0, result.stderr
    assert names(db) == ["a.mp4", "inner.mp4", "moved-away.mp4"]


# ---- a full disk --------------------------------------------------------------------------

class SmallDisk:
    """A 4 MB tmpfs (root), or, where it cannot be mounted, a full disk simulated in process."""

    def __init__(self, path: Path, real: bool, monkeypatch):
        self.path, self.real, self._monkeypatch = path, real, monkeypatch

    @contextlib.contextmanager
    def full(self, leave: int = 0):
        """The disk full but for ``leave`` bytes."""
        if self.real:
            filler = self.path / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, bytes(1 << 16))
            os.close(fd)
            os.truncate(filler, max(0, filler.stat().st_size - leave))
            try:
                yield
            finally:
                filler.unlink()
            return
        with self._monkeypatch.context() as m:
            save = HnswIndex.save

            def short_save(index, path):  # hnswlib writes on without a word when the disk is full
                save(index, path)
                os.truncate(path, os.path.getsize(path) // 2)

            def no_space(*_):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            m.setattr(HnswIndex, "save", short_save)
            m.setattr(store.shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(1 << 30, 1 << 30, 0))
            m.setattr(Library, "_write_thumb", no_space)
            yield


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    where = tmp_path / "disk"
    where.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True).returncode == 0
    yield SmallDisk(where, mounted, monkeypatch)
    if mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_during_a_commit_leaves_the_last_commit(small_disk, tmp_path):
    db = small_disk.path / "lib"
    rng = np.random.default_rng(5)
    with Library.open(db, LAYOUT) as lib:
        lib.add_video(make_video(tmp_path / "a.mp4", 3, thumbs=False), fused(rng, 3), size=1, mtime_ns=1)
        lib.commit()
        with small_disk.full(leave=16 << 10):
            lib.add_video(make_video(tmp_path / "big.mp4", 200, thumbs=False), fused(rng, 200), size=1, mtime_ns=1)
            with pytest.raises(OSError) as raised:
                lib.commit()  # the index file would come out short: never renamed into place
            assert raised.value.errno == errno.ENOSPC
        with pytest.raises(store.LibraryError, match="a commit failed"):
            lib.commit()  # space again, but a half-done commit is never retried by this writer
    assert not list(db.glob("*.tmp"))  # the space is given back
    with Library.open(db, LAYOUT) as lib:  # opens, checks itself, and holds the last commit
        assert [v.path.name for v in lib.videos()] == ["a.mp4"]


class _CommitFails:
    """A SQLite connection whose COMMIT fails the way a full disk makes it fail: SQLite rolls the
    transaction back and reports SQLITE_FULL."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def execute(self, sql: str, *args):
        if sql.strip().upper() == "COMMIT":
            self._db.execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._db, name)


def test_a_failed_sqlite_commit_is_not_retried_into_a_library_without_its_rows(tmp_path):
    db = tmp_path / "lib"
    rng = np.random.default_rng(6)
    with Library.open(db, LAYOUT) as lib:
        lib.add_video(make_video(tmp_path / "a.mp4", 3, thumbs=False), fused(rng, 3), size=1, mtime_ns=1)
        lib.commit()
        lib.add_video(make_video(tmp_path / "b.mp4", 4, thumbs=False), fused(rng, 4), size=1, mtime_ns=1)
        real, lib._db = lib._db, _CommitFails(lib._db)
        with pytest.raises(sqlite3.OperationalError):
            lib.commit()
        lib._db = real
        # Retried, the generation would commit on its own (SQLite has no transaction any more)
        # beside an index that holds b.mp4's vectors.
        with pytest.raises(store.LibraryError, match="a commit failed"):
            lib.commit()
        with pytest.raises(store.LibraryError, match="a commit failed"):
            lib.add_video(make_video(tmp_path / "c.mp4", 2, thumbs=False), fused(rng, 2), size=1, mtime_ns=1)
    with Library.open(db, LAYOUT) as lib:
        assert [v.path.name for v in lib.videos()] == ["a.mp4"]
        assert lib.check() == []
        assert lib.stats()["segments"] == 3


def test_a_read_only_disk_is_one_line_too(library, clips, vidsearch, tmp_path, monkeypatch):
    db = copy_library(library[0], tmp_path / "[db]")  # brackets: not read as console markup
    new = shutil.copy2(clips["new1.mp4"], tmp_path / "new1.mp4")

    def read_only(lib):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(lib.path / "index.hnsw.tmp"))

    with monkeypatch.context() as m:
        m.setattr(Library, "_save_index", read_only)
        result = vidsearch("index", "--db", db, new)
    assert result.exit_code == 1
    line = one_line(result, "error:")
    assert line == (f"error: cannot write {db} ({db}/index.hnsw.tmp): Read-only file system; "
                    "the library is at its last commit (3 videos)"), line
    assert vidsearch("index", "--db", db, new).exit_code == 0
    assert names(db) == ["a.mp4", "b.mp4", "inner.mp4", "new1.mp4"]


def test_index_on_a_full_disk_is_one_line_and_the_next_run_goes_on(small_disk, library, clips, vidsearch, tmp_path):
    db = copy_library(library[0], small_disk.path / "db")
    new = shutil.copy2(clips["new1.mp4"], tmp_path / "new1.mp4")
    with small_disk.full(leave=48 << 10):
        result = vidsearch("index", "--db", db, new)
    assert result.exit_code == 1
    line = one_line(result, "error:")
    assert line.startswith(f"error: disk full while writing {db}: ")
    assert "the library is at its last commit (3 videos)" in line
    result = vidsearch("index", "--db", db, new)
    assert result.exit_code == 0, result.stderr
    assert names(db) == ["a.mp4", "b.mp4", "inner.mp4", "new1.mp4"]
