"""Query latency of `vidsearch serve` over HTTP, 1 and 8 concurrent clients, against the floor:
the same searches in process (``Searcher.search``), in the same run on this machine.

Run: `.venv/bin/python benchmarks/serve_latency.py [--segments 100000] [--requests 200]`.

Libraries:
  fixtures  the 7 fixture videos, indexed by the real pipeline;
  synthetic the fixture library plus synthetic videos up to ``--segments`` segments: vectors from
            ``benchmarks/hnsw_scale.py``'s clustered generator at the library's own layout, with
            made-up words, so the index, SQLite and the result assembly all work at that size.
The server is the real command (`vidsearch serve`, a separate process, uvicorn); the clients are
httpx in threads of this process. Every timed request asks a query the server has not seen
(40 Chinese and English phrases x 20 modifiers), except the last row, where 8 clients repeat the
40 phrases (the server's query-vector cache answers those).
Reported: p50 / p95 / mean milliseconds per request and requests per second.
Target (issue 6): p95 under 50 ms at 100k segments on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from vidsearch.channels.fusion import ChannelLayout  # noqa: E402
from vidsearch.ingest.indexer import index_paths  # noqa: E402
from vidsearch.ingest.processor import VideoProcessor  # noqa: E402
from vidsearch.query.search import Searcher, library_text_encoder  # noqa: E402
from vidsearch.store.library import Library  # noqa: E402
from vidsearch.types import IndexedVideo, Keyframe, Scene, Segment, Transcript, Utterance, VideoInfo, Word  # noqa: E402

QUERIES = [
    "猫咪玩毛线球", "rocket launch", "所有线路都忙", "红色碎花连衣裙", "摩托车", "weasels ate our telephone system",
    "coffee beans", "每日新鲜烘焙", "a bird on a branch", "go forward", "summer sale", "lecture about statistics",
    "小猫", "火箭发射", "咖啡", "鹦鹉", "夏季促销", "please hold the line", "the number you have dialed",
    "vintage dress", "wireless earbuds", "城市夜景", "海边日落", "cooking pasta", "football goal", "熊猫吃竹子",
    "mountain bike", "雪山", "birthday party", "新年快乐", "street food", "地铁", "guitar solo", "跳舞",
    "thank you for calling", "限时优惠", "product unboxing", "化妆教程", "morning coffee", "good night",
]
#: Every request asks a query no earlier request asked (the server remembers query vectors, and
#: a repeated query would measure that cache, not the search): QUERIES x MODIFIERS, shuffled.
MODIFIERS = ["", "高清", "video", "慢动作", "close-up", "视频", "at night", "白天", "outdoor", "室内", "for kids",
             "教程", "4k", "搞笑", "live", "现场", "slow motion", "特写", "compilation", "合集"]
DISTINCT = [f"{q} {m}".strip() for m in MODIFIERS for q in QUERIES]
np.random.default_rng(0).shuffle(DISTINCT)
WORDS = ("video clip scene person street city market food music light night morning cat dog car phone "
         "sale price dress shoes coffee tea rain snow river mountain beach game goal team school lesson").split()
SEGMENTS_PER_VIDEO = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats(ms: list[float], wall: float) -> dict:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "mean_ms": round(float(a.mean()), 2), "requests_per_s": round(len(a) / wall, 1), "n": len(a)}


def synthetic_video(i: int, vectors: np.ndarray, rng: np.random.Generator,
                    speech: slice) -> tuple[IndexedVideo, np.ndarray]:
    """A made-up video of ``len(vectors)`` 3 s segments, each with two spoken lines whose
    embeddings lie near the segment's speech block (search reads the lines of multi-line
    segments), and those line embeddings."""
    n = len(vectors)
    segs, utts, line_vectors = [], [], []
    for j in range(n):
        start, end = j * 3.0, (j + 1) * 3.0
        lines = []
        for a, b in ((start, start + 1.4), (start + 1.5, end - 0.2)):
            text = " ".join(rng.choice(WORDS, 3))
            lines.append(Utterance(text, a, b, "en", [Word(w, a, a + 0.3, 0.9) for w in text.split()]))
            v = vectors[j, speech] + rng.normal(0, 0.02, speech.stop - speech.start)
            line_vectors.append(v / np.linalg.norm(v))
        utts.extend(lines)
        segs.append(Segment(start=start, end=end, scene_index=j, keyframes=[Keyframe(start + 1.0, np.zeros((1, 1, 3), np.uint8), 1.0)],
                            utterances=lines, ocr_text="", tags=list(rng.choice(WORDS, 2))))
    info = VideoInfo(path=Path(f"/synthetic/video{i:06d}.mp4"), duration=n * 3.0, width=640, height=360, fps=25.0,
                     n_frames=int(n * 75), rotation=0, has_audio=True, video_codec="h264", pix_fmt="yuv420p")
    video = IndexedVideo(info=info, content_hash=f"synthetic{i}", segments=segs, removed=[], fingerprint=None,
                         scenes=[Scene(s.start, s.end, 0, 1) for s in segs], transcript=Transcript("en", utts))
    return video, np.asarray(line_vectors, dtype=np.float32)


def grow(db: Path, target: int) -> int:
    """Add synthetic videos to the library at ``db`` until it holds ``target`` segments."""
    from hnsw_scale import SyntheticLibrary

    with Library.open(db) as lib:
        have = lib.stats()["segments"]
        layout = ChannelLayout.from_dict(lib.layout)
        need = max(0, target - have)
        if need == 0:
            return have
        synth = SyntheticLibrary(layout, need, seed=1)
        rng = np.random.default_rng(1)
        t0 = time.perf_counter()
        i = 0
        for start, x in synth.chunks():
            for a in range(0, len(x), SEGMENTS_PER_VIDEO):
                block = x[a:a + SEGMENTS_PER_VIDEO]
                video, line_vectors = synthetic_video(i, block, rng, layout.slices()["speech"])
                lib.add_video(video, block, size=1, mtime_ns=1, utterance_vectors=line_vectors)
                i += 1
            lib.commit()
            print(f"  {start + len(x):,}/{need:,} synthetic segments ({time.perf_counter() - t0:.0f} s)", flush=True)
        return lib.stats()["segments"]


def in_process(db: Path, n: int) -> dict:
    with Library.open(db, readonly=True) as lib:
        searcher = Searcher(lib)
        for q in QUERIES[:5]:
            searcher.search(q, 10)
        ms = []
        t0 = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            searcher.search(DISTINCT[-1 - i % len(DISTINCT)], 10)
            ms.append((time.perf_counter() - t) * 1e3)
        return stats(ms, time.perf_counter() - t0)


def encoder_alone(db: Path, rounds: int = 20) -> dict:
    """The query text model by itself: one query per call, and 8 per call (what 8 clients
    asking at once cost at best). 8 clients cannot average below the 8-per-call time."""
    with Library.open(db, readonly=True) as lib:
        enc = library_text_encoder(lib)
    out = {}
    for per_call in (1, 8):
        ms = []
        for r in range(rounds):
            texts = [DISTINCT[(r * 8 + j) % len(DISTINCT)] for j in range(per_call)]
            t = time.perf_counter()
            enc.encode_queries(texts)
            ms.append((time.perf_counter() - t) * 1e3)
        out[f"{per_call}_per_call_ms"] = round(float(np.median(ms)), 2)
    return out


def start_server(db: Path) -> tuple[subprocess.Popen, str]:
    """`vidsearch serve` over ``db`` on a free port of 127.0.0.1, answering: (process, base URL)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "vidsearch", "serve", "--db", str(db), "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"{base}/api/health", timeout=5).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit(f"server did not start: {server.stderr.read()[-2000:]}")
        time.sleep(0.5)


def over_http(db: Path, n: int, clients: list[int]) -> dict:
    """Per client count, ``n`` requests of queries this server has not seen; then 8 clients
    over the 40 base queries again and again (what the query-vector cache gives)."""
    server, base = start_server(db)
    fresh = iter(DISTINCT)
    fresh_lock = threading.Lock()

    def next_fresh() -> str:
        with fresh_lock:
            return next(fresh)

    try:
        out = {}
        phases = [(f"{c}_clients", c, None) for c in clients] + [("8_clients_repeated", 8, QUERIES)]
        for name, c, repeated in phases:
            per_client = max(1, n // c)
            ms: list[float] = []
            lock = threading.Lock()

            def client(k: int) -> None:
                with httpx.Client(base_url=base, timeout=30) as h:
                    h.get("/api/health")  # connect
                    mine = []
                    for i in range(per_client):
                        q = repeated[(k * 7 + i) % len(repeated)] if repeated else next_fresh()
                        t = time.perf_counter()
                        r = h.get("/api/search", params={"q": q, "k": 10})
                        mine.append((time.perf_counter() - t) * 1e3)
                        assert r.status_code == 200, r.text
                    with lock:
                        ms.extend(mine)

            threads = [threading.Thread(target=client, args=(k,)) for k in range(c)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            out[name] = stats(ms, time.perf_counter() - t0)
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serve_latency.json")
    ap.add_argument("--work", type=Path, default=None,
                    help="keep the two libraries in this folder and reuse them on the next run")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="vidsearch-serve-bench-"))
    results: dict = {"cores": os.cpu_count(), "requests": args.requests}
    try:
        fixtures = work / "fixtures"
        if not (fixtures / "index.json").exists():
            shutil.rmtree(fixtures, ignore_errors=True)
            t0 = time.perf_counter()
            processor = VideoProcessor()
            with Library.open(fixtures, processor.layout.as_dict()) as lib:
                lib.set_setting("text_encoder", processor.config.text_encoder)
                index_paths(lib, [ROOT / "fixtures" / "videos"], processor)
            del processor
            print(f"fixture library indexed ({time.perf_counter() - t0:.0f} s)", flush=True)
        big = work / "synthetic"
        if not big.exists():
            shutil.copytree(fixtures, big)
        n_big = grow(big, args.segments)
        for name, db in (("fixtures", fixtures), (f"{n_big // 1000}k_segments", big)):
            with Library.open(db, readonly=True) as lib:
                n_seg = lib.stats()["segments"]
            row = {"segments": n_seg, "query_encoder": encoder_alone(db), "in_process": in_process(db, args.requests)}
            row.update(over_http(db, args.requests, [1, 8]))
            results[name] = row
            print(f"{name} ({n_seg:,} segments):", flush=True)
            print(f"  query text model alone: {row['query_encoder']['1_per_call_ms']:.1f} ms for 1 query, "
                  f"{row['query_encoder']['8_per_call_ms']:.1f} ms for 8 in one call", flush=True)
            for k, v in row.items():
                if isinstance(v, dict) and "p50_ms" in v:
                    print(f"  {k:12} p50 {v['p50_ms']:7.2f} ms  p95 {v['p95_ms']:7.2f} ms  "
                          f"mean {v['mean_ms']:7.2f} ms  {v['requests_per_s']:6.1f} req/s", flush=True)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
