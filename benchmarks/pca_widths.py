"""What reducing one channel block with PCA costs in retrieval: the curve behind the library's
choice to keep every block at full width in its compact index.

Run: `.venv/bin/python benchmarks/pca_widths.py [--n 50000] [--queries 300]` (a minute or two).

On the clustered synthetic library of ``benchmarks/hnsw_scale.py`` (offline layout, 1200 floats)
each channel block in turn is projected on its top-w principal components (fitted on the library,
the query projected the same way), the others left whole, and the exact top 10 of the reduced
vectors is compared with the exact top 10 at full width:

  recall@10        of the reduced search alone
  after re-scoring of the reduced top 100 re-scored at full width (as search re-scores its
                   candidates from the stored float16 copies)
  bytes saved      per vector, at 1 byte a dimension (the compact tier's 8-bit codes)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from hnsw_scale import SyntheticLibrary, make_layout, make_queries  # noqa: E402


def top(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    scores = q @ x.T
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:10]) & set(t[:10])) / 10 for f, t in zip(found, truth)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--widths", default="256,192,128,96,64,32")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pca_widths.json")
    args = ap.parse_args()
    layout = make_layout("offline")
    lib = SyntheticLibrary(layout, args.n, seed=11)
    x = np.concatenate([chunk for _, chunk in lib.chunks()])
    q, _ = make_queries(lib, args.queries, seed=12)
    truth = top(x, q, 10)
    rows = []
    for name, sl in layout.slices().items():
        width = sl.stop - sl.start
        block = x[:, sl]
        mean = block.mean(axis=0)
        _, _, vt = np.linalg.svd(block[:20_000] - mean, full_matrices=False)
        for w in [int(v) for v in args.widths.split(",") if int(v) < width]:
            basis = vt[:w].T  # (width, w)
            xr = np.concatenate([x[:, :sl.start], block @ basis, x[:, sl.stop:]], axis=1)
            qr = np.concatenate([q[:, :sl.start], q[:, sl] @ basis, q[:, sl.stop:]], axis=1)
            cand = top(xr, qr, 100)
            rescored = np.stack([c[np.argsort(-(x[c] @ qq))] for c, qq in zip(cand, q)])
            rows.append({"channel": name, "width": width, "reduced_to": w,
                         "recall_at_10": round(recall(cand, truth), 3),
                         "recall_at_10_rescored": round(recall(rescored, truth), 3),
                         "bytes_saved": width - w})
            print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(f"{'channel':<8} {'width':>5} {'to':>4} {'recall@10':>10} {'re-scored':>10}")
    for r in rows:
        print(f"{r['channel']:<8} {r['width']:>5} {r['reduced_to']:>4} {r['recall_at_10']:>10.3f} "
              f"{r['recall_at_10_rescored']:>10.3f}")


if __name__ == "__main__":
    main()
