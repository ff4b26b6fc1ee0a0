"""Copy detection accuracy on the fixture library: altered clips -> source video and start time.

Run: `.venv/bin/python benchmarks/copy_detection.py [--clips DIR] [--hours N]`

For every fixture video, a few clips (3-10 s; some spanning a cut, some running to the end) are
cut and altered in every way of tests/altered_clips.ALTERATIONS plus a few harsher ones, then
looked up among all fixture videos. Printed: top-1 video accuracy, start error (mean / max),
the true source's score, the best *other* video's score (what a clip from an unindexed video could
reach), their margin, per alteration; then the query time against N synthetic hours of signatures.
No timing assertions: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tests.altered_clips import ALTERATIONS, make_altered_clip  # noqa: E402
from vidsearch.media import signature  # noqa: E402
from vidsearch.query import copydetect as cd  # noqa: E402

VIDEOS = ROOT / "fixtures" / "videos"
#: Harsher than the tests ask for: how far the margins go.
EXTRA = {
    "bitrate80k": {"bitrate": "80k"},
    "crop8": {"crop": 0.08},
    "all_topleft": {"bitrate": "150k", "scale": 0.5, "crop": 0.05, "crop_anchor": "topleft", "mute": True},
}
#: The first 3 s of these are the same bumper: a clip inside it is legitimately ambiguous.
BUMPER_VIDEOS = ("cat and yarn.mp4", "rocket_launch.mp4", "lecture.mp4")



def clip_plan(truth: dict, seed: int = 1) -> list[tuple[str, float, float]]:
    """(video, start, duration): before each cut, a few random starts, one running to the end."""
    rng = random.Random(seed)
    plan = []
    for name, v in truth["videos"].items():
        dur = v["duration"]
        lo = 3.0 if name in BUMPER_VIDEOS else 0.0
        starts = {round(c - rng.uniform(1, 3), 2) for c in v["cuts"] if c - 2 > lo}
        starts |= {round(rng.uniform(lo, dur - 3), 2) for _ in range(3)}
        starts.add(round(dur - rng.uniform(2, 3), 2))
        plan += [(name, s, round(rng.uniform(3, 10), 2)) for s in sorted(starts)]
    return plan


def query_time(query: signature.VisualSignature, hours: float) -> tuple[float, float]:
    """(index build s, search s) against ``hours`` of random 60-s signatures."""
    rng = np.random.default_rng(0)
    n_videos = max(1, int(hours * 60))
    per = int(60 * signature.SIGNATURE_FPS)
    refs = []
    for i in range(n_videos):
        desc = rng.integers(-127, 128, size=(per, signature.DESCRIPTOR_DIM), dtype=np.int8)
        refs.append((i, signature.VisualSignature(signature.SIGNATURE_FPS, desc, np.zeros(per, bool), 0.0, query.aspect)))
    t0 = time.perf_counter()
    index = cd.SignatureIndex(refs)
    index.search(query)  # first search concatenates the rows
    t1 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        index.search(query)
    return t1 - t0, (time.perf_counter() - t1) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, help="folder to keep the altered clips in (reused if present)")
    ap.add_argument("--hours", type=float, nargs="*", default=[10.0, 100.0])
    ap.add_argument("--only", nargs="*", help="alterations to run (default: all)")
    args = ap.parse_args()
    truth = json.loads((VIDEOS / "ground_truth.json").read_text(encoding="utf-8"))
    names = list(truth["videos"])
    t = time.perf_counter()
    refs = {name: cd.signature_of(VIDEOS / name) for name in names}
    ids = {name: i for i, name in enumerate(names)}
    total_s = sum(v["duration"] for v in truth["videos"].values())
    size = sum(len(s.to_bytes()) for s in refs.values())
    print(f"signatures: {len(refs)} videos, {total_s:.0f} s, {size / total_s:.0f} bytes per second of video, "
          f"built in {time.perf_counter() - t:.1f} s (with decoding)")
    index = cd.SignatureIndex((ids[n], s) for n, s in refs.items())
    alterations = {**ALTERATIONS, **EXTRA}
    if args.only:
        alterations = {k: v for k, v in alterations.items() if k in args.only}
    clip_dir = args.clips or Path(tempfile.mkdtemp(prefix="copydetect-"))
    clip_dir.mkdir(parents=True, exist_ok=True)
    plan = clip_plan(truth)
    print(f"{len(plan)} clips x {len(alterations)} alterations\n")
    print(f"{'alteration':14s} {'top1':>7s} {'err<1s':>7s} {'err mean':>8s} {'err max':>7s} "
          f"{'true min':>8s} {'other max':>9s} {'margin min':>10s} {'query ms':>8s}")
    failures = []
    all_true, all_other, all_err, all_top = [], [], [], []
    some_query = None
    for alt, kw in alterations.items():
        top1 = ok = 0
        errs, trues, others, times = [], [], [], []
        for i, (name, start, dur) in enumerate(plan):
            path = clip_dir / f"{i:02d}_{alt}.mp4"
            if not path.exists():
                make_altered_clip(VIDEOS / name, path, start, dur, **kw)
            q = cd.signature_of(path)
            some_query = q
            t0 = time.perf_counter()
            found = index.search(q, top=len(names), min_score=-1.0)
            times.append(time.perf_counter() - t0)
            by_id = {m.video_id: m for m in found}
            true = by_id.get(ids[name])
            other = max((m.score for m in found if m.video_id != ids[name]), default=0.0)
            err = abs(true.start - start) if true else float("inf")
            first = bool(found) and found[0].video_id == ids[name]
            top1 += first
            ok += first and err < 1.0
            errs.append(err)
            trues.append(true.score if true else 0.0)
            others.append(other)
            if not (first and err < 1.0):
                failures.append((alt, name, start, dur, found[0].video_id if found else None,
                                 round(err, 2), round(trues[-1], 3), round(other, 3)))
        e, tr, ot = np.array(errs), np.array(trues), np.array(others)
        all_true += trues
        all_other += others
        all_err += errs
        all_top.append(top1)
        print(f"{alt:14s} {top1:3d}/{len(plan):<3d} {ok:3d}/{len(plan):<3d} {e.mean():8.3f} {e.max():7.2f} "
              f"{tr.min():8.3f} {ot.max():9.3f} {(tr - ot).min():10.3f} {1e3 * np.mean(times):8.1f}")
    tr, ot, e = np.array(all_true), np.array(all_other), np.array(all_err)
    print(f"\nall: top-1 {sum(all_top)}/{len(tr)}, start error < 1 s {int((e < 1).sum())}/{len(e)}, "
          f"mean {e[np.isfinite(e)].mean():.3f} s; true score min {tr.min():.3f} (p5 {np.percentile(tr, 5):.3f}), "
          f"best other video max {ot.max():.3f} (p95 {np.percentile(ot, 95):.3f}); min_score = {cd.MIN_SCORE}")
    if failures:
        print("\nnot first or off by >= 1 s (alteration, video, start, duration, first id, |err|, true, other):")
        for f in failures:
            print("  ", f)
    if some_query is not None:
        for hours in args.hours:
            build, search = query_time(some_query, hours)
            print(f"\nquery against {hours:g} h of signatures ({hours * 3600 * signature.SIGNATURE_FPS:.0f} rows): "
                  f"index build {build:.2f} s, search {1e3 * search:.0f} ms")


if __name__ == "__main__":
    main()
