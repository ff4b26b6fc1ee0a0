"""Which engine could hold a library's vectors compactly: hnswlib (float32, today's index) against
FAISS HNSW with 8-bit scalar quantisation and usearch HNSW in float16 and int8, all followed by
the exact re-scoring search already does from each segment's stored float16 vector.

Run: `.venv/bin/python benchmarks/compact_index.py --n 200000` (about 6 minutes on 2 cores, 40 at
`--n 1000000`; the
engines are the optional `faiss-cpu` and `usearch` packages, `pip install faiss-cpu usearch`).

The vectors, queries and ground truth are those of ``benchmarks/hnsw_scale.py`` (clustered like
real encoder output, weighted queries from the presets, exact top-10 by numpy), at the library's
offline layout (1200 floats) unless ``--dim-layout clip``. Every engine is built with the same
graph degree and construction effort as the library's index (M 32, ef_construction 200) on every
core; queries run one at a time on one thread, as a search request does.

Reported per engine and search effort ``ef``:

  index MiB   what the engine says it holds (hnswlib: its layout, vectors + links; FAISS: the
              serialised index; usearch: ``memory_usage``)
  build s     adding every vector (FAISS's quantiser training included)
  p50/p95 ms  one query: the engine's top 100 candidates (search's ``RECALL_K``), then their
              stored float16 vectors re-scored exactly (an in-memory gather here; search reads
              them from SQLite, about 0.7 ms for 150 at 100k segments)
  recall@10   of the re-scored top 10 against exact full-width float32 search

What quantisation costs shows in recall before re-scoring (``ann_recall@10``); what the exact
re-scoring wins back shows in ``recall@10``.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from hnsw_scale import (  # noqa: E402
    MIB,
    WARMUP,
    SyntheticLibrary,
    exact_search,
    hnsw_bytes,
    make_layout,
    make_queries,
    one_blas_thread,
    recall_at_k,
)

from vidsearch.store.library import HnswIndex  # noqa: E402

#: Candidates the engine returns for exact re-scoring (``vidsearch.query.search.RECALL_K``).
CANDIDATES = 100
M = 32
EF_CONSTRUCTION = 200


class Hnswlib:
    name = "hnswlib float32"

    def __init__(self, dim: int, n: int, threads: int):
        self.index = HnswIndex(dim, M=M, ef_construction=EF_CONSTRUCTION, initial_capacity=n)
        self.index._index.set_num_threads(threads)
        self.n, self.dim = n, dim

    def add(self, labels: np.ndarray, x: np.ndarray) -> None:
        self.index.add(labels, x)

    def ready(self) -> None:
        self.index._index.set_num_threads(1)

    def set_ef(self, ef: int) -> None:
        self.index.ef = ef

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q, k)[0]

    def mib(self) -> float:
        return hnsw_bytes(self.n, self.dim, M) / MIB


class FaissSq8:
    name = "FAISS HNSW SQ8"

    def __init__(self, dim: int, n: int, threads: int):
        import faiss

        self.faiss = faiss
        faiss.omp_set_num_threads(threads)
        self.index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, M, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = EF_CONSTRUCTION

    def add(self, labels: np.ndarray, x: np.ndarray) -> None:
        if not self.index.is_trained:
            self.index.train(x)  # per-dimension ranges from the first 32k vectors
        self.index.add(x)  # labels are positions, as the library's are ids in order

    def ready(self) -> None:
        self.faiss.omp_set_num_threads(1)

    def set_ef(self, ef: int) -> None:
        self.index.hnsw.efSearch = ef

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q.reshape(1, -1), k)[1][0]

    def mib(self) -> float:
        return len(self.faiss.serialize_index(self.index)) / MIB


class LibraryCompact:
    """The library's own compact main tier (``vidsearch.store.compact.CompactIndex``: FAISS
    HNSW-SQ8 behind an id map, the quantiser fitted on the first chunk with a tenth of margin)."""

    name = "library compact tier (FAISS HNSW-SQ8)"

    def __init__(self, dim: int, n: int, threads: int):
        import faiss

        from vidsearch.store.compact import CompactIndex

        self.faiss = faiss
        faiss.omp_set_num_threads(threads)
        self.index = CompactIndex(dim, M=M, ef_construction=EF_CONSTRUCTION)

    def add(self, labels: np.ndarray, x: np.ndarray) -> None:
        self.index.add(labels, x)

    def ready(self) -> None:
        self.faiss.omp_set_num_threads(1)

    def set_ef(self, ef: int) -> None:
        self.index.ef = ef

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return self.index.search(q, k)[0]

    def mib(self) -> float:
        return len(self.faiss.serialize_index(self.index._index)) / MIB


class Usearch:
    def __init__(self, dim: int, n: int, threads: int, dtype: str):
        from usearch.index import Index

        self.name = f"usearch {dtype}"
        self.index = Index(ndim=dim, metric="ip", dtype=dtype, connectivity=M, expansion_add=EF_CONSTRUCTION)
        self.threads = threads

    def add(self, labels: np.ndarray, x: np.ndarray) -> None:
        self.index.add(labels, x, threads=self.threads)

    def ready(self) -> None:
        pass

    def set_ef(self, ef: int) -> None:
        self.index.expansion_search = ef

    def search(self, q: np.ndarray, k: int) -> np.ndarray:
        return np.asarray(self.index.search(q, k, threads=1).keys, dtype=np.int64)

    def mib(self) -> float:
        return self.index.memory_usage / MIB


def stored_vectors(lib: SyntheticLibrary) -> np.ndarray:
    """Every segment's float16 copy, as the library keeps it for re-scoring."""
    out = np.empty((lib.n, lib.dim), np.float16)
    for start, x in lib.chunks():
        out[start:start + len(x)] = x
    return out


def measure(engine, lib: SyntheticLibrary, queries: np.ndarray, truth: np.ndarray, stored: np.ndarray,
            efs: list[int]) -> dict:
    gc.collect()
    t0 = time.perf_counter()
    for start, x in lib.chunks():
        engine.add(np.arange(start, start + len(x), dtype=np.int64), x)
    build_s = time.perf_counter() - t0
    engine.ready()
    rows = []
    with one_blas_thread():
        for ef in efs:
            engine.set_ef(ef)
            for q in queries[:WARMUP]:
                engine.search(q, CANDIDATES)
            ms = np.empty(len(queries))
            ann = np.full((len(queries), 10), -1, np.int64)
            found = np.full((len(queries), 10), -1, np.int64)
            for i, q in enumerate(queries):
                t = time.perf_counter_ns()
                cand = engine.search(q, CANDIDATES)
                cand = cand[cand >= 0]
                scores = stored[cand].astype(np.float32) @ q
                top = cand[np.argsort(-scores, kind="stable")[:10]]
                ms[i] = (time.perf_counter_ns() - t) / 1e6
                ann[i, :min(10, len(cand))] = cand[:10]
                found[i, :len(top)] = top
            rows.append({"ef": ef, "p50_ms": round(float(np.percentile(ms, 50)), 3),
                         "p95_ms": round(float(np.percentile(ms, 95)), 3),
                         "ann_recall@10": round(float(recall_at_k(ann, truth).mean()), 4),
                         "recall@10": round(float(recall_at_k(found, truth).mean()), 4)})
            print(f"  {engine.name:18} ef {ef:4}  p50 {rows[-1]['p50_ms']:6.2f} ms  p95 {rows[-1]['p95_ms']:6.2f} ms  "
                  f"recall@10 {rows[-1]['recall@10']:.3f} (engine alone {rows[-1]['ann_recall@10']:.3f})", flush=True)
    return {"engine": engine.name, "index_mib": round(engine.mib(), 1), "build_s": round(build_s, 1),
            "bytes_per_vector": round(engine.mib() * MIB / lib.n, 1), "ef_sweep": rows}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="indexed segments (default 200,000)")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--dim-layout", choices=("clip", "offline"), default="offline")
    ap.add_argument("--ef", default="100,200", help="search effort values (default 100,200; at least 100)")
    ap.add_argument("--engines", default="hnswlib,faiss-sq8,usearch-f16,usearch-i8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "compact_index.json")
    args = ap.parse_args(argv)
    efs = [max(CANDIDATES, int(e)) for e in args.ef.split(",")]
    lib = SyntheticLibrary(make_layout(args.dim_layout), args.n, args.seed)
    queries, _ = make_queries(lib, args.queries, args.seed)
    print(f"{args.n:,} segments x {lib.dim} floats; exact ground truth ...", flush=True)
    truth = exact_search(lib, queries).ids
    stored = stored_vectors(lib)
    makers = {"hnswlib": lambda: Hnswlib(lib.dim, lib.n, args.threads),
              "faiss-sq8": lambda: FaissSq8(lib.dim, lib.n, args.threads),
              "library-compact": lambda: LibraryCompact(lib.dim, lib.n, args.threads),
              "usearch-f16": lambda: Usearch(lib.dim, lib.n, args.threads, "f16"),
              "usearch-i8": lambda: Usearch(lib.dim, lib.n, args.threads, "i8")}
    results = {"n": args.n, "dim": lib.dim, "queries": args.queries, "candidates": CANDIDATES,
               "M": M, "ef_construction": EF_CONSTRUCTION, "engines": []}
    for name in args.engines.split(","):
        engine = makers[name]()
        row = measure(engine, lib, queries, truth, stored, efs)
        print(f"{row['engine']}: {row['index_mib']:.0f} MiB ({row['bytes_per_vector']:.0f} B/vector), "
              f"built in {row['build_s']:.0f} s", flush=True)
        results["engines"].append(row)
        del engine
        gc.collect()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
