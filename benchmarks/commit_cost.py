"""What a commit costs as a library grows: the tiered index (a delta file per commit, merged
into the main file now and then) against writing the whole index at every commit, as every
commit did before the index had tiers, measured in the same run on the same library.

Run: `.venv/bin/python benchmarks/commit_cost.py [--sizes 50000,200000] [--videos 8]`
(about 10 minutes for the defaults on 2 cores; 1M segments takes ~40 minutes to build).

The library is a real one (``Library``: SQLite rows, the float16 vectors, the exact-words index,
thumbnails, the hnswlib tiers), grown with the synthetic videos of ``benchmarks/serve_latency.py``
(40 segments each, clustered vectors from ``benchmarks/hnsw_scale.py`` at the offline layout,
1200 floats). At each size it times, with ``--videos`` new videos per commit:

  delta commit   ``add_video`` x N + ``commit`` with the default merge rule (median of 5)
  whole commit   the same, with the merge forced (the index written whole: the old layout's cost)
  merge          a commit whose delta has reached its limit (once)
  refresh        a reader's ``refresh`` after a delta commit (keeps its main tier) and after a
                 merge (loads the new main file)
  search         p50 of ``Library.search`` (k=10) with and without a delta of 5 commits

Then, at the largest size, crash safety at scale: a child process commits 8 videos at a time
(a merge every few commits, ``--kill-merge-every``) and is killed with SIGKILL at a random moment,
five times; each time the library must open with ``check()`` clean, holding exactly the videos of
the commits the child reported (or one commit more: killed after SQLite committed, before it said so).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from hnsw_scale import SyntheticLibrary, make_layout  # noqa: E402
from serve_latency import SEGMENTS_PER_VIDEO, synthetic_video  # noqa: E402

from vidsearch.store.journal import DELTA_ENV, merge_limit  # noqa: E402
from vidsearch.store.library import Library  # noqa: E402


class Feeder:
    """Synthetic videos in order, from one clustered generator sized for the whole run."""

    def __init__(self, total: int, seed: int = 3, first: int = 0):
        self.synth = SyntheticLibrary(make_layout("offline"), total, seed=seed)
        self.rng = np.random.default_rng(seed)
        self._chunks = self.synth.chunks()
        self._buffer = np.empty((0, self.synth.dim), np.float32)
        self.videos = first

    def next_video(self) -> tuple:
        while len(self._buffer) < SEGMENTS_PER_VIDEO:
            _, x = next(self._chunks)
            self._buffer = np.concatenate([self._buffer, x])
        block, self._buffer = self._buffer[:SEGMENTS_PER_VIDEO], self._buffer[SEGMENTS_PER_VIDEO:]
        self.videos += 1
        video, line_vectors = synthetic_video(self.videos, block, self.rng, self.synth.layout.slices()["speech"])
        return video, block, line_vectors


def add_videos(lib: Library, feed: Feeder, n: int) -> None:
    for _ in range(n):
        iv, block, line_vectors = feed.next_video()
        lib.add_video(iv, block, size=1, mtime_ns=1, utterance_vectors=line_vectors)


def timed_commit(lib: Library, feed: Feeder, n_videos: int, limit: str | None) -> float:
    if limit is None:
        os.environ.pop(DELTA_ENV, None)
    else:
        os.environ[DELTA_ENV] = limit
    add_videos(lib, feed, n_videos)
    t = time.perf_counter()
    lib.commit()
    return time.perf_counter() - t


def search_p50(lib: Library, queries: np.ndarray) -> float:
    ms = []
    for q in queries:
        t = time.perf_counter()
        lib.search(q, 10)
        ms.append((time.perf_counter() - t) * 1e3)
    return float(np.percentile(ms, 50))


def child(db: Path, videos: int, merge_every: int) -> None:
    """Commit ``videos`` new videos at a time until killed, saying after each commit how many
    videos the library holds (a merge forced every ``merge_every`` commits)."""
    feed = Feeder(400 * videos * SEGMENTS_PER_VIDEO, seed=int.from_bytes(os.urandom(2), "little"),
                  first=10**6 + int.from_bytes(os.urandom(3), "little") * 1000)
    with Library.open(db) as lib:
        for i in range(400):
            os.environ[DELTA_ENV] = "0" if i % merge_every == merge_every - 1 else "1000000"
            add_videos(lib, feed, videos)
            lib.commit()
            print(len(lib.videos()), flush=True)


def kill_test(db: Path, videos: int, merge_every: int, rounds: int = 5) -> list[dict]:
    """SIGKILL a committing child at random moments; the library must open at a commit it made."""
    out = []
    rng = np.random.default_rng(11)
    for _ in range(rounds):
        with Library.open(db, readonly=True) as ro:
            before = len(ro.videos())
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(db), "--videos", str(videos),
                                 "--kill-merge-every", str(merge_every)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # it has opened the library and committed once
        time.sleep(float(rng.uniform(0.5, 8.0)))
        os.kill(proc.pid, signal.SIGKILL)
        said = [int(x) for x in [first, *proc.stdout.read().split()] if str(x).strip()]
        proc.wait()
        t = time.perf_counter()
        with Library.open(db) as lib:
            problems = lib.check()
            n = len(lib.videos())
            live = lib.index.count
            stats = lib.stats()
        reopen = time.perf_counter() - t
        last = said[-1] if said else before
        ok = not problems and n in (last, last + videos) and live == stats["live_segments"]
        out.append({"commits_seen": len(said), "videos_said": last, "videos_found": n, "problems": problems,
                    "index_live": live, "sqlite_live": stats["live_segments"], "reopen_s": round(reopen, 2),
                    "ok": ok})
        print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        args = sys.argv[2:]
        child(Path(args[0]), int(args[args.index("--videos") + 1]), int(args[args.index("--kill-merge-every") + 1]))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="50000,200000", help="library sizes in segments (ascending)")
    p.add_argument("--videos", type=int, default=8, help="videos per timed commit (40 segments each)")
    p.add_argument("--kill-merge-every", type=int, default=4, help="in the kill test, a merge every N commits")
    p.add_argument("--kill-rounds", type=int, default=5, help="SIGKILLs in the kill test (0: skip it)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "commit_cost.json")
    args = p.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    per_commit = args.videos * SEGMENTS_PER_VIDEO
    feed = Feeder(sizes[-1] + 40 * per_commit + 10 * SEGMENTS_PER_VIDEO)
    layout = feed.synth.layout.as_dict()
    rng = np.random.default_rng(5)
    queries = rng.normal(size=(200, feed.synth.dim)).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory(prefix="commit_cost-") as tmp:
        db = Path(tmp) / "lib"
        lib = Library.open(db, layout)
        t0 = time.perf_counter()
        for size in sizes:
            while lib.index.n_elements < size:  # grow with merges every ~20k segments
                os.environ[DELTA_ENV] = "20000"
                add_videos(lib, feed, min(100, max(1, (size - lib.index.n_elements) // SEGMENTS_PER_VIDEO)))
                lib.commit()
                print(f"  {lib.index.n_elements:,} segments ({time.perf_counter() - t0:.0f} s)", flush=True)
            timed_commit(lib, feed, 1, "0")  # start from an empty delta
            ro = Library.open(db, readonly=True)
            base_search = search_p50(ro, queries)
            delta = [timed_commit(lib, feed, args.videos, None) for _ in range(5)]
            t = time.perf_counter()
            kept_main = ro.index.main
            ro.refresh()
            refresh_delta = time.perf_counter() - t
            kept = ro.index.main is kept_main  # False when a commit of N videos is past the limit
            delta_search = search_p50(ro, queries)
            whole = timed_commit(lib, feed, args.videos, "0")
            t = time.perf_counter()
            ro.refresh()
            refresh_merge = time.perf_counter() - t
            ro.close()
            n = lib.index.n_elements
            os.environ.pop(DELTA_ENV, None)
            row = {
                "segments": n, "videos_per_commit": args.videos, "merge_limit": merge_limit(n),
                "delta_commit_s": round(statistics.median(delta), 3), "delta_commit_max_s": round(max(delta), 3),
                "whole_commit_s": round(whole, 3), "whole_over_delta": round(whole / statistics.median(delta), 1),
                "refresh_after_delta_s": round(refresh_delta, 3), "refresh_kept_main": kept, "refresh_after_merge_s": round(refresh_merge, 3),
                "search_p50_ms": round(base_search, 2), "search_p50_with_delta_ms": round(delta_search, 2),
                "index_files_mb": round(sum(f.stat().st_size for f in db.glob("*.hnsw")) / 2**20, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        lib.close()
        kills = kill_test(db, args.videos, args.kill_merge_every, args.kill_rounds) if args.kill_rounds else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"sizes": rows, "kill_test": kills}, indent=1))
    print(f"{'segments':>9} {'delta commit':>13} {'whole commit':>13} {'refresh (delta/merge)':>22} "
          f"{'search p50 (no delta/delta)':>28}")
    for r in rows:
        print(f"{r['segments']:>9,} {r['delta_commit_s']:>11.3f} s {r['whole_commit_s']:>11.3f} s "
              f"{r['refresh_after_delta_s']:>9.3f} / {r['refresh_after_merge_s']:.3f} s "
              f"{r['search_p50_ms']:>12.2f} / {r['search_p50_with_delta_ms']:.2f} ms")
    if kills:
        print(f"kill -9 while committing: {sum(k['ok'] for k in kills)}/{len(kills)} reopened at a commit the "
              f"child made, check() clean (reopen {max(k['reopen_s'] for k in kills):.1f} s at most)")
        if not all(k["ok"] for k in kills):
            sys.exit(1)


if __name__ == "__main__":
    main()
