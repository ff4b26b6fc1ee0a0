"""Soak `vidsearch serve` over a library with a hostile file name, while another process commits.

Run: `.venv/bin/python benchmarks/serve_soak.py [--searches 200] [--threads 50] [--uploads 20]`.

1. A library of three fixture videos plus a 6 s part of go_forward.mp4 saved as ``caf\\xe9 \\xff.mp4``
   (a name that is not UTF-8), indexed by ``vidsearch index`` in a temporary folder.
2. ``vidsearch serve`` on 127.0.0.1 (its own process, default limits: 4 uploads at once).
3. All at once: ``--threads`` threads share ``--searches`` searches whose answers hold the hostile
   name (every 10th also reads 1 KB of that video's stream); ``--uploads`` threads each upload a
   4 s clip once, retrying a 503 "busy" after its Retry-After as a client should; and a
   ``vidsearch index`` process commits a new copy of a fixture video into the same library.

An error is any answer that is not 200 after those retries, JSON that is not strict UTF-8, a name
that is not U+FFFD-shown or holds a path of the work folder, work not done by ``--deadline``, a
failed writer, or the new video not found afterwards. Reports the errors (must be 0), the busy
answers retried, p50/p95 per kind and the wall time; exits 1 on any error.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
from serve_latency import start_server, stats  # noqa: E402

VIDEOS = ROOT / "fixtures" / "videos"
HOSTILE = b"caf\xe9 \xff.mp4"
SHOWN = "caf\ufffd \ufffd.mp4"
NEW_NAME = "soak new copy.mp4"
#: Queries whose answers hold the hostile video (it repeats go_forward.mp4's 7-13 s) or others.
QUERIES = ["the echo test has been completed", "echo test", "go forward", "猫咪玩毛线球", "rocket launch",
           "回声测试已完成"]
NEW_QUERY = "summer dress sale"  # finds the writer's copy of summer_sale.mp4 once it is committed


def ffmpeg(*args: str | bytes) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def vidsearch(log: Path, *args: str) -> subprocess.Popen:
    """A `vidsearch` command in its own process, its messages to ``log`` (a pipe could fill and stall it)."""
    with open(log, "wb") as f:
        return subprocess.Popen([sys.executable, "-m", "vidsearch", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=f)


def tail(log: Path) -> str:
    return log.read_bytes()[-1000:].decode(errors="replace")


def _is_text(name: str) -> bool:
    """No lone surrogate (JSON's \\udcXX escapes would smuggle one past a strict UTF-8 check)."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class Tally:
    """Latencies per kind and the errors, shared by the threads."""

    def __init__(self, work: Path):
        self.work = str(work)
        self.lock = threading.Lock()
        self.ms: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.busy = 0
        self.hostile_seen = 0

    def add(self, kind: str, ms: float) -> None:
        with self.lock:
            self.ms.setdefault(kind, []).append(ms)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what[:300])

    def check_json(self, kind: str, resp: httpx.Response) -> dict | None:
        """The body when it is a 200 of strict UTF-8 JSON naming no path of the work folder."""
        if resp.status_code != 200:
            self.error(f"{kind}: HTTP {resp.status_code}: {resp.text[:200]}")
            return None
        try:
            text = resp.content.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.error(f"{kind}: not UTF-8: {exc}")
            return None
        if self.work in text:
            self.error(f"{kind}: a server path in the answer")
        body = json.loads(text)
        names = [m["video"] for m in body.get("results", []) + body.get("moments", [])]
        if any("/" in n or not _is_text(n) for n in names):
            self.error(f"{kind}: a name that is a path or not text: {names!r}")
        with self.lock:
            self.hostile_seen += names.count(SHOWN)
        return body


def searcher(base: str, tally: Tally, jobs: list[int], jobs_lock: threading.Lock, deadline: float) -> None:
    with httpx.Client(base_url=base, timeout=120) as h:
        while True:
            with jobs_lock:
                if not jobs:
                    return
                i = jobs.pop()
            if time.monotonic() > deadline:
                tally.error(f"search {i}: not asked before the deadline")
                continue
            try:
                t = time.perf_counter()
                resp = h.get("/api/search", params={"q": QUERIES[i % len(QUERIES)], "k": 10})
                tally.add("search", (time.perf_counter() - t) * 1e3)
                body = tally.check_json("search", resp)
                hostile = [m for m in (body or {}).get("results", []) if m["video"] == SHOWN]
                if i % 10 == 0 and hostile:
                    t = time.perf_counter()
                    part = h.get(hostile[0]["stream"], headers={"Range": "bytes=0-1023"})
                    tally.add("stream", (time.perf_counter() - t) * 1e3)
                    if part.status_code != 206 or len(part.content) != 1024:
                        tally.error(f"stream: HTTP {part.status_code}")
            except httpx.HTTPError as exc:
                tally.error(f"search {i}: {type(exc).__name__}: {exc}")


def uploader(base: str, tally: Tally, clip: bytes, start: threading.Barrier, deadline: float) -> None:
    with httpx.Client(base_url=base, timeout=120) as h:
        start.wait()
        t_first = time.perf_counter()
        while True:
            try:
                t = time.perf_counter()
                resp = h.post("/api/match-clip", params={"k": 5}, files={"clip": ("phone clip.mp4", clip, "video/mp4")})
            except httpx.HTTPError as exc:
                tally.error(f"upload: {type(exc).__name__}: {exc}")
                return
            if resp.status_code == 503 and time.monotonic() < deadline:
                with tally.lock:
                    tally.busy += 1
                time.sleep(float(resp.headers.get("retry-after", "2")))
                continue
            tally.add("upload", (time.perf_counter() - t) * 1e3)
            tally.add("upload_with_retries", (time.perf_counter() - t_first) * 1e3)
            body = tally.check_json("upload", resp)
            if body is not None and not any(m.get("match") == "source" for m in body["moments"]):
                tally.error("upload: no source found for a cut of a library video")
            return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--searches", type=int, default=200)
    ap.add_argument("--threads", type=int, default=50)
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--deadline", type=float, default=600.0, help="seconds for the whole load (not the setup)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serve_soak.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vidsearch-soak-"))
    server = writer = None
    try:
        videos, db, extra = work / "videos", work / "db", work / "incoming"
        videos.mkdir()
        extra.mkdir()
        for name in ("cat and yarn.mp4", "go_forward.mp4", "rocket_launch.mp4"):
            shutil.copy(VIDEOS / name, videos / name)
        ffmpeg("-ss", "7", "-t", "6", "-i", str(VIDEOS / "go_forward.mp4"), "-c:v", "libx264", "-c:a", "aac",
               os.path.join(os.fsencode(videos), HOSTILE))
        ffmpeg("-ss", "4", "-t", "4", "-i", str(VIDEOS / "cat and yarn.mp4"), "-vf", "scale=320:-2", "-an",
               str(work / "clip.mp4"))
        shutil.copy(VIDEOS / "summer_sale.mp4", extra / NEW_NAME)
        t0 = time.perf_counter()
        index = vidsearch(work / "index.log", "index", "--db", str(db), str(videos))
        if index.wait(timeout=1200) != 0:
            raise SystemExit(f"indexing failed: {tail(work / 'index.log')}")
        print(f"library indexed: 4 videos, one named {HOSTILE!r} ({time.perf_counter() - t0:.0f} s)", flush=True)

        server, base = start_server(db)
        videos_before = httpx.get(f"{base}/api/health").json()["videos"]

        tally = Tally(work)
        clip = (work / "clip.mp4").read_bytes()
        jobs = list(range(args.searches))
        jobs_lock = threading.Lock()
        t_load = time.perf_counter()
        deadline = time.monotonic() + args.deadline
        barrier = threading.Barrier(args.uploads)
        threads = [threading.Thread(target=searcher, args=(base, tally, jobs, jobs_lock, deadline))
                   for _ in range(args.threads)]
        threads += [threading.Thread(target=uploader, args=(base, tally, clip, barrier, deadline))
                    for _ in range(args.uploads)]
        writer = vidsearch(work / "writer.log", "index", "--db", str(db), str(extra / NEW_NAME))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, deadline - time.monotonic() + 130))
            if t.is_alive():
                tally.error("a client thread did not finish by the deadline")
        if writer.wait(timeout=max(1.0, deadline - time.monotonic() + 300)) != 0:
            tally.error(f"the writer failed: {tail(work / 'writer.log')}")
        load_s = time.perf_counter() - t_load
        health = httpx.get(f"{base}/api/health", timeout=60).json()
        found = httpx.get(f"{base}/api/search", params={"q": NEW_QUERY, "k": 10}, timeout=60).json()["results"]
        if health["videos"] != videos_before + 1 or NEW_NAME not in [m["video"] for m in found]:
            tally.error(f"the writer's commit was not picked up: {health}")
        if not tally.hostile_seen:
            tally.error(f"no answer held the hostile name {SHOWN!r}")

        results = {
            "cores": os.cpu_count(), "searches": args.searches, "search_threads": args.threads,
            "uploads": args.uploads, "errors": len(tally.errors), "error_samples": tally.errors[:10],
            "busy_answers_retried": tally.busy, "hostile_names_served": tally.hostile_seen,
            "reloads_after_commit": health["reloads"], "load_wall_s": round(load_s, 1),
            **{kind: stats(ms, load_s) for kind, ms in tally.ms.items()},
        }
    finally:
        for proc in (writer, server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))
    for kind in ("search", "stream", "upload", "upload_with_retries"):
        if kind in results:
            r = results[kind]
            print(f"{kind:20} n={r['n']:4}  p50 {r['p50_ms']:9.1f} ms  p95 {r['p95_ms']:9.1f} ms")
    print(f"errors: {results['errors']}  (busy answers retried: {tally.busy}; load {load_s:.0f} s)")
    sys.exit(1 if results["errors"] else 0)


if __name__ == "__main__":
    main()
