"""Reindex throughput on the fixture library: 1 and 2 local workers and Ray, against `index`.

Run: `.venv/bin/python benchmarks/reindex_throughput.py [VIDEO_DIR] [--copies N] [--repeat N] [--ray-workers N]`.

Every configuration is the real command in a fresh process into a fresh library, so model loading,
worker start-up and commits are all counted (a cold start, as a user runs it), in this one run on
this machine. The baseline is the foundation's sequential `vidsearch index` over the same folder.
Reported per configuration (best of --repeat): wall seconds, videos per minute, times real time
(media seconds / wall seconds) and the ratio of throughput to `index`; plus, from the reindex
report, the wall time inside the batch (after the parent loaded its models). ``--copies N`` puts
N copies of every video in the library (under other names) so that start-up weighs less.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIDSEARCH = [sys.executable, "-m", "vidsearch"]
RESULTS_DIR = ROOT / "benchmarks" / "results"


def timed(args: list[str]) -> tuple[float, dict | None]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    t0 = time.perf_counter()
    proc = subprocess.run([*VIDSEARCH, *args], capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return wall, json.loads(proc.stdout) if proc.stdout.strip() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="?", type=Path, default=ROOT / "fixtures" / "videos")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--copies", type=int, default=1, help="copies of every video in the library (default 1)")
    ap.add_argument("--ray-workers", type=int, default=2)
    args = ap.parse_args()

    files = sorted(p for p in args.videos.iterdir() if p.suffix == ".mp4")
    work = Path(tempfile.mkdtemp(prefix="vidsearch-bench-"))
    lib = work / "videos"
    lib.mkdir()
    for i in range(args.copies):
        for f in files:
            shutil.copy2(f, lib / (f.name if i == 0 else f"{f.stem}.copy{i}{f.suffix}"))
    n_videos = len(files) * args.copies
    configs = {
        "index (sequential baseline)": lambda db: ["index", "--db", db, str(lib), "--json"],
        "reindex --workers 1": lambda db: ["reindex", "--db", db, str(lib), "--workers", "1", "--json"],
        "reindex --workers 2": lambda db: ["reindex", "--db", db, str(lib), "--workers", "2", "--json"],
        f"reindex --engine ray --workers {args.ray_workers}":
            lambda db: ["reindex", "--db", db, str(lib), "--engine", "ray", "--workers", str(args.ray_workers), "--json"],
    }
    rows = {}
    media = None
    try:
        for name, make in configs.items():
            best = None
            for r in range(args.repeat):
                db = str(work / f"db-{len(rows)}-{r}")
                wall, report = timed(make(db))
                media = report["media_seconds"]
                inner = report["wall_seconds"]
                if best is None or wall < best[0]:
                    best = (wall, inner)
                shutil.rmtree(db)
            wall, inner = best
            rows[name] = {"wall_s": round(wall, 1), "batch_wall_s": round(inner, 1),
                          "videos_per_min": round(n_videos / wall * 60, 1),
                          "x_realtime": round(media / wall, 2)}
            print(f"{name:40} {wall:6.1f} s  {rows[name]['videos_per_min']:5.1f} videos/min  "
                  f"{rows[name]['x_realtime']:5.2f}x real time  (batch {inner:.1f} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = rows["index (sequential baseline)"]["wall_s"]
    for row in rows.values():
        row["throughput_vs_index"] = round(base / row["wall_s"], 2)
    result = {"videos": n_videos, "copies": args.copies, "media_seconds": media, "cores": os.cpu_count(), "repeat": args.repeat,
              "configs": rows}
    out = RESULTS_DIR / ("reindex_throughput.json" if args.copies == 1 else f"reindex_throughput_x{args.copies}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
