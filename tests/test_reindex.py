"""`vidsearch reindex`: plan, cycle, crash safety, search during a reindex, Ray = local.

The library here is four short cuts of the real fixture videos (speech, on-screen text, a silent
bird, a rocket), re-encoded at test time so that each run of the per-video stage is quick.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.altered_clips import make_altered_clip
from tests.conftest import VIDEOS
from vidsearch.channels.fusion import ChannelLayout
from vidsearch.ingest.indexer import find_video, remove_videos
from vidsearch.ingest.plan import EmptiedFolderError, collect_files, plan_reindex
from vidsearch.ingest.reindex import reindex
from vidsearch.ingest.runners import InProcessRunner
from vidsearch.store.library import Library

REPO = Path(__file__).resolve().parent.parent
VIDSEARCH = [sys.executable, "-m", "vidsearch"]
#: (fixture video, start, duration) -> clip name; short, but each has something to find.
CUTS = {
    "go_forward.mp4": ("go_forward.mp4", 0.0, 6.0),      # speech
    "summer_sale.mp4": ("summer_sale.mp4", 3.0, 5.0),    # on-screen text
    "cockatoo.mp4": ("cockatoo_silent.mp4", 2.0, 4.0),   # no audio track
    "rocket.mp4": ("rocket_launch.mp4", 4.0, 5.0),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """The four cuts (made once; tests copy them into their own folders)."""
    base = tmp_path_factory.mktemp("clips")
    return {name: make_altered_clip(VIDEOS / src, base / name, start, dur)
            for name, (src, start, dur) in CUTS.items()}


def make_folder(root: Path, clips: dict[str, Path], names=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in names or clips:
        shutil.copy2(clips[name], root / name)
    return root


def snapshot(db: Path, root: Path) -> dict[str, dict]:
    """What a library holds, by path relative to ``root``: content, segments and their vectors.

    Ids and labels are left out: they depend on the order videos were committed in.
    """
    with Library.open(db, readonly=True) as lib:
        out = {}
        for v in lib.videos():
            entry = {"status": v.status, "hash": v.content_hash, "size": v.size, "mtime_ns": v.mtime_ns,
                     "error": v.error}
            if v.status == "indexed":
                segs = lib.video_segments(v.id)
                entry["segments"] = [(round(s.start, 3), round(s.end, 3), s.speech_text, s.ocr_text,
                                      tuple(s.tags), s.removed) for s in segs]
                entry["vectors"] = lib.vectors([s.id for s in segs])
                live = [s.id for s in segs if not s.removed]
                # every live segment is searchable: its own vector finds it
                for sid, vec in zip(live, lib.vectors(live)):
                    assert sid in [h for h, _ in lib.search(vec, 5)], f"{v.path.name}: segment {sid} not found"
            out[os.fsdecode(v.path.relative_to(root))] = entry
        stats = lib.stats()
        # no duplicates, no leftovers: the index holds exactly the live segments
        assert lib.index.count == stats["live_segments"], stats
        assert len(out) == len(lib.videos())
    return out


def assert_same_library(a: dict[str, dict], b: dict[str, dict]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        va, vb = a[name], b[name]
        assert {k: v for k, v in va.items() if k != "vectors"} == {k: v for k, v in vb.items() if k != "vectors"}, name
        if "vectors" in va:
            np.testing.assert_allclose(va["vectors"], vb["vectors"], atol=2e-3, err_msg=name)


def cli(*args, env=None, check_rc: int | None = 0, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([*VIDSEARCH, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr[-3000:]
    return proc


# ---- plan and cycle (in process, the session's models) ---------------------------------------

class CountingRunner(InProcessRunner):
    """The in-process runner, remembering which files it was asked to process."""

    def __init__(self, processor, layout):
        super().__init__(processor, layout)
        self.seen: list[str] = []

    def run(self, jobs):
        jobs = list(jobs)
        self.seen.extend(j.path.name for j in jobs)
        yield from super().run(jobs)


def run_reindex(db: Path, root: Path, processor, **kw):
    with Library.open(db, processor.layout.as_dict()) as lib:
        plan = plan_reindex(lib, root, retry_failed=kw.pop("retry_failed", False))
        runner = CountingRunner(processor, ChannelLayout.from_dict(lib.layout))
        report = reindex(lib, plan, runner, **kw)
    return plan, report, runner.seen


def test_add_change_delete_rename_cycle_gives_exactly_the_expected_index(tmp_path, clips, processor):
    root = make_folder(tmp_path / "videos", clips, ["go_forward.mp4", "summer_sale.mp4", "cockatoo.mp4"])
    db = tmp_path / "db"
    plan, report, seen = run_reindex(db, root, processor)
    assert sorted(p.name for p in report.added) == ["cockatoo.mp4", "go_forward.mp4", "summer_sale.mp4"]
    assert sorted(seen) == sorted(p.name for p in report.added) and not report.failed
    with Library.open(db, readonly=True) as lib:
        before = {v.path.name: v for v in lib.videos()}
        go_segments = lib.video_segments(before["go_forward.mp4"].id)

    # Nothing changed: nothing is processed, nothing written.
    plan, report, seen = run_reindex(db, root, processor)
    assert seen == [] and report.unchanged == 3 and not plan.has_work

    # rename (into a subfolder), delete, change (other content, same name), add a broken file,
    # touch without changing, and a non-video file that must be ignored.
    (root / "sub").mkdir()
    (root / "go_forward.mp4").rename(root / "sub" / "moved.mp4")
    (root / "summer_sale.mp4").unlink()
    shutil.copy2(clips["rocket.mp4"], root / "cockatoo.mp4")  # same name, new content
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    (root / "notes.txt").write_text("not a video")
    shutil.copy2(clips["summer_sale.mp4"], root / "sale_copy.mp4")
    os.utime(root / "sale_copy.mp4", ns=(1_000_000_000, 1_000_000_000))

    with Library.open(db, readonly=True) as lib:
        dry = plan_reindex(lib, root)
    # the deleted sale video and its copy have the same bytes: that is a rename too
    assert sorted((r.path.name, f.path.relative_to(root).as_posix()) for r, f in dry.renamed) == [
        ("go_forward.mp4", "sub/moved.mp4"), ("summer_sale.mp4", "sale_copy.mp4")]
    assert [f.path.name for f in dry.changed] == ["cockatoo.mp4"]
    assert [r.path.name for r in dry.removed] == []
    assert sorted(f.path.name for f in dry.new) == ["broken.mp4"]

    plan, report, seen = run_reindex(db, root, processor)
    assert sorted(seen) == ["broken.mp4", "cockatoo.mp4"]  # renames are not re-processed
    assert sorted((a.name, b.name) for a, b in report.renamed) == [("go_forward.mp4", "moved.mp4"),
                                                                  ("summer_sale.mp4", "sale_copy.mp4")]
    assert [p.name for p in report.updated] == ["cockatoo.mp4"]
    assert [(p.name, "corrupt" in r) for p, r in report.failed] == [("broken.mp4", True)]
    with Library.open(db, readonly=True) as lib:
        after = {v.path.name: v for v in lib.videos()}
        assert sorted(after) == ["broken.mp4", "cockatoo.mp4", "moved.mp4", "sale_copy.mp4"]
        moved = after["moved.mp4"]
        assert moved.id == before["go_forward.mp4"].id  # same video, same segments, not redone
        assert [s.id for s in lib.video_segments(moved.id)] == [s.id for s in go_segments]
        assert after["cockatoo.mp4"].content_hash != before["cockatoo.mp4"].content_hash
        assert after["cockatoo.mp4"].duration == pytest.approx(5.0, abs=0.2)  # now the rocket cut
        assert after["broken.mp4"].status == "failed"
        assert after["sale_copy.mp4"].mtime_ns == 1_000_000_000

    # Delete for real; touch without a change; retry the failure on request.
    (root / "sale_copy.mp4").unlink()
    os.utime(root / "cockatoo.mp4", ns=(2_000_000_000, 2_000_000_000))
    plan, report, seen = run_reindex(db, root, processor)
    assert seen == [] and [p.name for p in report.removed] == ["sale_copy.mp4"]
    assert [p.name for p in report.touched] == ["cockatoo.mp4"]
    assert [p.name for p, _ in report.failed_unchanged] == ["broken.mp4"]
    plan, report, seen = run_reindex(db, root, processor, retry_failed=True)
    assert seen == ["broken.mp4"] and [p.name for p, _ in report.failed] == ["broken.mp4"]

    # The result is exactly a clean index of the final folder.
    clean = tmp_path / "clean"
    run_reindex(clean, root, processor)
    final = snapshot(db, root)
    assert sorted(final) == ["broken.mp4", "cockatoo.mp4", "sub/moved.mp4"]
    assert_same_library(final, snapshot(clean, root))


def test_videos_from_other_folders_are_left_alone(tmp_path, clips, processor):
    a = make_folder(tmp_path / "a", clips, ["cockatoo.mp4"])
    b = make_folder(tmp_path / "b", clips, ["summer_sale.mp4"])
    db = tmp_path / "db"
    run_reindex(db, a, processor)
    run_reindex(db, b, processor)
    (a / "cockatoo.mp4").unlink()
    plan, report, _ = run_reindex(db, b, processor)
    assert report.removed == [] and report.unchanged == 1
    with Library.open(db, readonly=True) as lib:
        assert sorted(v.path.name for v in lib.videos()) == ["cockatoo.mp4", "summer_sale.mp4"]
        assert plan_reindex(lib, a).removed[0].path.name == "cockatoo.mp4"


def test_links_in_a_folder_are_its_videos_and_go_when_they_go(tmp_path, clips, processor):
    """A link to a video elsewhere is indexed once, as the link (a second reindex finds it
    unchanged) and removed with it; a linked folder is walked, a link back up the tree is not
    followed twice."""
    root = make_folder(tmp_path / "folder", clips, ["cockatoo.mp4"])
    elsewhere = make_folder(tmp_path / "elsewhere", clips, ["summer_sale.mp4"])
    shelf = make_folder(tmp_path / "shelf", clips, ["rocket.mp4"])
    (root / "link.mp4").symlink_to(elsewhere / "summer_sale.mp4")
    (root / "linked shelf").symlink_to(shelf, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    db = tmp_path / "db"
    plan, report, _ = run_reindex(db, root, processor)
    assert sorted(p.relative_to(root.resolve()).as_posix() for p in report.added) == [
        "cockatoo.mp4", "link.mp4", "linked shelf/rocket.mp4"], report.added
    plan, report, seen = run_reindex(db, root, processor)
    assert report.added == [] and report.unchanged == 3 and seen == []
    run_reindex(db, elsewhere, processor)  # the target is a video of its own folder too
    with Library.open(db) as lib:  # `delete folder/link.mp4` removes the link's entry, not the target's
        assert find_video(lib, root / "link.mp4").path == root.resolve() / "link.mp4"
        assert [p.name for _, p in remove_videos(lib, [root / "link.mp4"]).removed] == ["link.mp4"]
        lib.commit()
        assert sorted(v.path.name for v in lib.videos()) == ["cockatoo.mp4", "rocket.mp4", "summer_sale.mp4"]
    plan, report, _ = run_reindex(db, root, processor)
    assert [p.name for p in report.added] == ["link.mp4"]
    (root / "link.mp4").unlink()
    plan, report, _ = run_reindex(db, root, processor)
    assert [p.name for p in report.removed] == ["link.mp4"]
    # A file reached both as itself and through a link is kept as itself, whatever comes first.
    (root / "0 first.mp4").symlink_to(root / "cockatoo.mp4")
    assert collect_files([root])[0] == [root.resolve() / "cockatoo.mp4", root.resolve() / "linked shelf/rocket.mp4"]


def test_reindex_from_python_keeps_the_videos_of_an_empty_or_missing_folder(tmp_path, clips, processor):
    """The unmounted-disk guard holds for the Python API, not only for the command: an empty
    folder below the root keeps its videos, an emptied root is refused before anything is
    written, a missing root keeps everything; only ``allow_empty`` removes them."""
    root = make_folder(tmp_path / "videos", clips, ["cockatoo.mp4"])
    make_folder(root / "sub", clips, ["rocket.mp4"])
    db = tmp_path / "db"
    run_reindex(db, root, processor)

    def held() -> list[str]:
        with Library.open(db, readonly=True) as lib:
            return sorted(v.path.name for v in lib.videos())

    (root / "sub" / "rocket.mp4").unlink()  # the mount point of a disk not mounted
    with Library.open(db) as lib:
        runner = CountingRunner(processor, ChannelLayout.from_dict(lib.layout))
        report = reindex(lib, root, runner)
        assert report.removed == [] and report.unchanged == 1
        (root / "cockatoo.mp4").unlink()  # now nothing at all under the root
        with pytest.raises(EmptiedFolderError, match="has no videos but the library holds 1 from it"):
            reindex(lib, root, runner)
        with pytest.raises(TypeError):  # a plan was made with its own allow_missing
            reindex(lib, plan_reindex(lib, root), runner, allow_empty=True)
    assert held() == ["cockatoo.mp4", "rocket.mp4"]

    root.rename(tmp_path / "elsewhere")  # the whole folder gone
    with Library.open(db) as lib:
        report = reindex(lib, root, CountingRunner(processor, ChannelLayout.from_dict(lib.layout)))
        assert report.removed == [] and [(p, "2 of its videos" in r) for p, r in report.failed] == [(root.resolve(), True)]
    assert held() == ["cockatoo.mp4", "rocket.mp4"]

    (tmp_path / "elsewhere").rename(root)
    with Library.open(db) as lib:
        report = reindex(lib, root, CountingRunner(processor, ChannelLayout.from_dict(lib.layout)), allow_empty=True)
        assert sorted(p.name for p in report.removed) == ["cockatoo.mp4", "rocket.mp4"]
    assert held() == []


# ---- the command ----------------------------------------------------------------------------

def test_dry_run_changes_nothing_and_bad_arguments_exit_2(tmp_path, clips):
    root = make_folder(tmp_path / "videos", clips, ["cockatoo.mp4", "rocket.mp4"])
    db = tmp_path / "db"
    proc = cli("reindex", "--db", db, root, "--dry-run", "--json")
    plan = json.loads(proc.stdout)
    assert sorted(Path(p).name for p in plan["new"]) == ["cockatoo.mp4", "rocket.mp4"]
    assert plan["counts"]["removed"] == 0 and not db.exists()  # no library created
    proc = cli("reindex", "--db", db, root, "--dry-run")
    assert "would add 2" in proc.stdout

    proc = cli("reindex", "--db", db, tmp_path / "nope", check_rc=2)
    assert proc.stderr.count("\n") == 1 and "nope: no such folder" in proc.stderr
    proc = cli("reindex", "--db", db, root / "rocket.mp4", check_rc=2)
    assert "not a folder" in proc.stderr
    proc = cli("reindex", "--db", db, root, "--engine", "spark", check_rc=2)
    assert "unknown --engine 'spark'" in proc.stderr
    assert not db.exists()


def test_empty_folder_is_refused_unless_allowed(tmp_path, clips, processor):
    """An unmounted disk looks like an empty folder: removing the whole library needs a flag."""
    root = make_folder(tmp_path / "videos", clips, ["cockatoo.mp4"])
    db = tmp_path / "db"
    run_reindex(db, root, processor)
    (root / "cockatoo.mp4").unlink()
    proc = cli("reindex", "--db", db, root, check_rc=2)
    assert "no videos but the library holds 1" in proc.stderr
    with Library.open(db, readonly=True) as lib:
        assert len(lib.videos()) == 1
    proc = cli("reindex", "--db", db, root, "--allow-empty", "--json")
    assert [Path(p).name for p in json.loads(proc.stdout)["removed"]] == ["cockatoo.mp4"]


# ---- crash safety, search during a reindex, Ray -------------------------------------------

@pytest.fixture(scope="module")
def reference(tmp_path_factory, clips):
    """A clean, uninterrupted reindex of the four cuts with two worker processes."""
    base = tmp_path_factory.mktemp("reference")
    root = make_folder(base / "videos", clips)
    db = base / "db"
    proc = cli("reindex", "--db", db, root, "--workers", "2", "--json")
    report = json.loads(proc.stdout)
    assert len(report["added"]) == 4 and report["workers"] == 2 and not report["failed"]
    return snapshot(db, root)


def committed_names(db: Path) -> set[str]:
    with Library.open(db, readonly=True) as lib:
        return {v.path.name for v in lib.videos() if v.status == "indexed"}


def check_loads_and_answers(db: Path, expected: set[str]) -> None:
    """A library after a crash: opens, holds exactly ``expected``, and every video is searchable."""
    with Library.open(db, readonly=True) as lib:
        videos = {v.path.name: v for v in lib.videos()}
        assert set(videos) == expected
        for v in videos.values():
            segs = [s for s in lib.video_segments(v.id) if not s.removed]
            hits = lib.search(lib.vectors([segs[0].id])[0], 3)
            assert hits[0][0] == segs[0].id
        assert lib.index.count == lib.stats()["live_segments"]


def start_reindex(db: Path, root: Path, *extra, env=None) -> subprocess.Popen:
    return subprocess.Popen([*VIDSEARCH, "reindex", "--db", str(db), str(root), "--commit-every", "1", *map(str, extra)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})


def children_of(pid: int) -> list[int]:
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    return [int(x) for x in out.split()]


@pytest.mark.slow
def test_kill_9_at_several_points_then_rerun_equals_a_clean_index(tmp_path, clips, reference):
    root = make_folder(tmp_path / "videos", clips)
    db = tmp_path / "db"

    # 1. kill -9 (two worker processes) as soon as the first video is committed.
    proc = start_reindex(db, root, "--workers", "2")
    line = proc.stderr.readline()
    while line and "] done" not in line:
        line = proc.stderr.readline()
    workers = children_of(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    first = committed_names(db)
    assert len(first) >= 1
    check_loads_and_answers(db, first)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)  # workers die with their parent (no orphans holding the cores)
    assert not [w for w in workers if Path(f"/proc/{w}/status").exists()
                and "zombie" not in Path(f"/proc/{w}/status").read_text()]

    # 2. crash between the index header and SQLite, at this run's second commit.
    proc = start_reindex(db, root, "--json", env={"VIDSEARCH_CRASH_AFTER": "header:2"})
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 86, stderr
    second = committed_names(db)
    assert first < second and len(second) == len(first) + 1  # the first commit held, the second did not
    check_loads_and_answers(db, second)

    # 3. crash after the index file is replaced but before SQLite commits (first commit).
    proc = start_reindex(db, root, env={"VIDSEARCH_CRASH_AFTER": "hnsw:1"})
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 86, stderr
    assert committed_names(db) == second
    check_loads_and_answers(db, second)

    # 4. the rerun finishes the rest without redoing what was committed.
    proc = start_reindex(db, root, "--json")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    report = json.loads(stdout)
    assert sorted(Path(p).name for p in report["added"]) == sorted(set(CUTS) - second)
    assert report["unchanged"] == len(second)
    assert_same_library(snapshot(db, root), reference)


@pytest.mark.slow
def test_search_keeps_answering_during_a_reindex(tmp_path, clips, processor):
    """A reader in this process searches in a loop while a reindex subprocess commits batch after
    batch: no errors, and every answer comes from one committed state."""
    from vidsearch.query.search import Searcher

    root = make_folder(tmp_path / "videos", clips, ["cockatoo.mp4"])
    db = tmp_path / "db"
    run_reindex(db, root, processor)
    make_folder(root, clips, ["go_forward.mp4", "summer_sale.mp4", "rocket.mp4"])
    # change the one video too: its old segments are replaced while we search
    shutil.copy2(clips["go_forward.mp4"], root / "cockatoo.mp4")

    library = Library.open(db, readonly=True)
    searcher = Searcher(library, processor.text_encoder)
    errors: list[str] = []
    answers: list[tuple[int, set[str]]] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                library.refresh()
                moments = searcher.search("go forward", k=5)
                names = set()
                for m in moments:
                    row = library.lookup(m.video)
                    assert row is not None and row.status == "indexed", m.video
                    assert m.video_id == row.id and 0 <= m.start < m.end <= row.duration + 0.01, m
                    names.add(Path(m.video).name)
                answers.append((len(library.videos()), names))
            except Exception as exc:  # noqa: BLE001 - any error is the failure we look for
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.05)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        proc = start_reindex(db, root)
        _, stderr = proc.communicate(timeout=300)
    finally:
        stop.set()
        thread.join()
    assert proc.returncode == 0, stderr
    assert errors == []
    assert len(answers) >= 10
    library.refresh()
    final = searcher.search("go forward", k=3)
    library.close()
    assert Path(final[0].video).name in {"cockatoo.mp4", "go_forward.mp4"}  # both are the spoken cut now
    assert answers[-1][0] == 4


@pytest.mark.slow
def test_ray_engine_builds_the_same_index_as_local(tmp_path, clips, reference):
    root = make_folder(tmp_path / "videos", clips)
    db = tmp_path / "db"
    # Ray is slow to start on a busy 2-core machine (up to minutes): a generous timeout.
    proc = cli("reindex", "--db", db, root, "--engine", "ray", "--workers", "2", "--json",
               env={"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"}, timeout=900)
    report = json.loads(proc.stdout)
    assert report["engine"] == "ray" and len(report["added"]) == 4 and not report["failed"]
    assert_same_library(snapshot(db, root), reference)
