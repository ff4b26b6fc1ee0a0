"""The Milvus vector store on milvus-lite (the embedded Milvus): bulk insert throughput and query
latency at library scale, against the library's own hnswlib index on the same vectors in the same
run. milvus-lite is the embedded, single-process Milvus that the test suite uses; a Milvus server
or cluster is what a large library would use, so these numbers describe the client path and the
embedded engine, not a cluster.

Run: `.venv/bin/python benchmarks/milvus_store.py [--n 100000] [--queries 300]` (needs
`pip install 'vidsearch[milvus]'`; about 5 minutes at 100k on 2 cores).

Vectors: the clustered synthetic library of ``benchmarks/hnsw_scale.py`` at the offline layout
(1200 floats), queries weighted like text queries. Both engines use HNSW M 32 / ef_construction
200 and search with ef 256; recall@10 is against exact numpy search. Insert goes through
:class:`vidsearch.store.milvus.MilvusIndex` in its 1000-row requests; hnswlib through
``HnswIndex.add`` in 4096-row batches.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from hnsw_scale import SyntheticLibrary, exact_search, make_layout, make_queries, recall_at_k  # noqa: E402

from vidsearch.store.hnsw import HnswIndex  # noqa: E402
from vidsearch.store.milvus import MilvusIndex, MilvusTarget  # noqa: E402


def timed_queries(index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    found, ms = [], []
    for q in queries:
        t = time.perf_counter()
        labels, _ = index.search(q, k)
        ms.append((time.perf_counter() - t) * 1e3)
        found.append(np.pad(labels[:k], (0, k - len(labels[:k])), constant_values=-1))
    return np.asarray(found), np.asarray(ms)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "milvus_store.json")
    args = p.parse_args()
    layout = make_layout("offline")
    lib = SyntheticLibrary(layout, args.n, seed=7)
    queries, _ = make_queries(lib, args.queries, seed=8)
    truth = exact_search(lib, queries).ids[:, :10]
    rows = {}
    with tempfile.TemporaryDirectory(prefix="milvus_store-") as tmp:
        target = MilvusTarget.parse(f"milvus-lite:{tmp}/vectors.db/bench", Path(tmp))
        milvus = MilvusIndex.create(target, lib.dim)
        hnsw = HnswIndex(lib.dim, initial_capacity=args.n)
        for name, index, batch in (("milvus-lite", milvus, 10_000), ("hnswlib", hnsw, 4096)):
            t0 = time.perf_counter()
            for start, x in lib.chunks():
                for a in range(0, len(x), batch):
                    index.add(np.arange(start + a, start + a + len(x[a:a + batch]), dtype=np.int64), x[a:a + batch])
            insert = time.perf_counter() - t0
            if name == "milvus-lite":  # as a commit does: seal, then wait until it answers from its index
                index.flush()
                while True:
                    t = time.perf_counter()
                    index.search(queries[0], 10)
                    if time.perf_counter() - t < 0.05:
                        break
            ready = time.perf_counter() - t0
            found, ms = timed_queries(index, queries)
            rows[name] = {"n": args.n, "insert_s": round(insert, 1), "vectors_per_s": round(args.n / insert),
                          "ready_s": round(ready, 1),
                          "p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
                          "recall_at_10": round(float(recall_at_k(found, truth).mean()), 3)}
            print(name, json.dumps(rows[name]), flush=True)
        milvus.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"{'engine':<12} {'insert':>9} {'vectors/s':>10} {'p50':>8} {'p95':>8} {'recall@10':>10}")
    for name, r in rows.items():
        print(f"{name:<12} {r['insert_s']:>7.1f} s {r['vectors_per_s']:>10,} {r['p50_ms']:>6.2f} ms "
              f"{r['p95_ms']:>6.2f} ms {r['recall_at_10']:>10.3f}")


if __name__ == "__main__":
    main()
