"""The compact main tier of a large library: FAISS HNSW over 8-bit scalar-quantised vectors.

Measured on the synthetic library of ``benchmarks/compact_index.py`` (1200 floats, M 32 /
ef_construction 200, candidates re-scored from the float16 copies as search does, 2 cores): at 1M
segments hnswlib's float32 index takes 4925 MiB where this one takes 1412 MiB (1480 bytes a
vector: one byte per float plus the graph), builds in 364 s, and finds 0.986 of the exact top 10
at ef 800 in 1.88 ms p50 (hnswlib: 0.982 at ef 400 in 1.67 ms). usearch's float16 saved little
and its int8 lost too much. Reducing each channel block with PCA was not needed to meet 1.5 GB at
1M, and the reduced search alone misses much of the top 10 (``benchmarks/pca_widths.py``), so the
blocks keep their full width.

A library's main tier becomes this index at the first merge that finds it holding
:data:`COMPACT_FROM` vectors or more (the delta tier stays hnswlib float32: it is small and
rewritten at every commit). FAISS cannot delete from an HNSW graph, so deleted labels are kept
here (and in the library header) and left out of every search by an id selector. The quantiser's
per-dimension ranges are fitted on the first :data:`TRAIN_SAMPLE` vectors the index is built from,
widened by a tenth so that later additions are not clipped.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from vidsearch.fsutil import file_blake2b

#: Main tiers of this many vectors or more are built compact (env override for tests and
#: benchmarks: VIDSEARCH_COMPACT_FROM). Below it hnswlib float32 is small enough and exact-er.
COMPACT_FROM = 200_000
COMPACT_ENV = "VIDSEARCH_COMPACT_FROM"
ENGINE = "faiss-hnsw-sq8"
#: Search breadth: SQ8 needs a larger ef than float32 for the same recall (0.986 at 800, 1M).
DEFAULT_EF = 800
#: Vectors the quantiser's ranges are fitted on when a main tier is made compact.
TRAIN_SAMPLE = 65_536


def compact_from() -> int:
    """The size from which a main tier is built compact (see :data:`COMPACT_FROM`)."""
    forced = os.environ.get(COMPACT_ENV, "").strip()
    return int(forced) if forced.isdigit() else COMPACT_FROM


def _faiss():
    import faiss

    return faiss


class CompactIndex:
    """The main-tier interface of :class:`~vidsearch.store.hnsw.HnswIndex` on FAISS HNSW-SQ8
    (inner product), labels through ``IndexIDMap2``. ``get`` returns the quantised vectors (the
    library re-scores from its float16 copies)."""

    def __init__(self, dim: int, *, M: int = 32, ef_construction: int = 200, ef: int = DEFAULT_EF,
                 _index=None, deleted: Iterable[int] = ()) -> None:
        faiss = _faiss()
        self._dim, self.M, self.ef_construction = int(dim), int(M), int(ef_construction)
        if _index is None:
            base = faiss.IndexHNSWSQ(self._dim, faiss.ScalarQuantizer.QT_8bit, self.M, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = self.ef_construction
            _index = faiss.IndexIDMap2(base)
        self._index = _index
        self._ids = np.sort(faiss.vector_to_array(_index.id_map).astype(np.int64))
        self._deleted: set[int] = set(int(x) for x in deleted)
        self._selector: tuple | None = None  # (IDSelectorBatch, IDSelectorNot) of the deleted labels
        self.ef = int(ef)

    @classmethod
    def load(cls, path: Path, dim: int, *, M: int = 32, ef_construction: int = 200, ef: int = DEFAULT_EF,
             deleted: Iterable[int] = ()) -> "CompactIndex":
        """A saved index (FileNotFoundError when there is no file); ``deleted``: its hidden labels."""
        if not Path(path).is_file():
            raise FileNotFoundError(2, "No such file or directory", os.fsdecode(path))
        faiss = _faiss()
        try:
            index = faiss.read_index(os.fsdecode(path))
        except RuntimeError as e:  # FAISS validates the graph as it reads: say why in one short line
            if not Path(path).is_file():  # removed by a writer's commit meanwhile: the caller looks again
                raise FileNotFoundError(2, "No such file or directory", os.fsdecode(path)) from None
            text = str(e).strip().splitlines()[-1] if str(e).strip() else "cannot be read"
            raise ValueError(f"FAISS cannot read it: {text[-160:]}") from None
        if index.d != int(dim):
            raise ValueError(f"{Path(path).name} holds {index.d}-d vectors, not {dim}-d")
        return cls(dim, M=M, ef_construction=ef_construction, ef=ef, _index=index, deleted=deleted)

    # ---- the tier interface ------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def count(self) -> int:
        return max(0, self.n_elements - len(self._deleted))

    @property
    def n_elements(self) -> int:
        return int(self._index.ntotal)

    @property
    def n_deleted(self) -> int:
        return len(self._deleted)

    @property
    def capacity(self) -> int:
        return self.n_elements

    @property
    def max_label(self) -> int:
        return int(self._ids[-1]) if len(self._ids) else -1

    @property
    def deleted(self) -> list[int]:
        """The hidden labels, sorted (recorded in the library header: the file has no flags)."""
        return sorted(self._deleted)

    def set_deleted_count(self, n: int) -> None:
        """(Counts are exact here: the hidden labels are a set.)"""

    def _held(self, labels: Sequence[int] | np.ndarray) -> np.ndarray:
        arr = np.asarray(labels, np.int64)
        pos = np.searchsorted(self._ids, arr)
        pos[pos >= len(self._ids)] = 0
        return (self._ids[pos] == arr) if len(self._ids) else np.zeros(len(arr), bool)

    @property
    def trained(self) -> bool:
        """Whether the quantiser's ranges are fitted (by :meth:`train`, or the first :meth:`add`)."""
        return bool(self._index.is_trained)

    def train(self, vectors: np.ndarray) -> None:
        """Fit the quantiser's per-dimension ranges on ``vectors``, widened by a tenth; a
        dimension the sample never uses (a channel absent from every sampled segment) gets the
        whole [-1, 1] a coordinate of a unit-length block can take, so that later vectors are
        not clipped to nothing there."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self._dim)
        lo, hi = vectors.min(axis=0), vectors.max(axis=0)
        unused = np.maximum(np.abs(lo), np.abs(hi)) < 1e-6
        lo, hi = np.where(unused, -1.0, lo), np.where(unused, 1.0, hi)
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * 1.1
        self._index.train(np.vstack([vectors, (mid - half)[None, :], (mid + half)[None, :]]))

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add new labels (the first add fits the quantiser when :meth:`train` was not called)."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(labels), self._dim)
        if not len(labels):
            return
        if self._held(labels).any():
            raise ValueError("a compact index only takes new labels")
        if not self._index.is_trained:
            self.train(vectors)
        self._index.add_with_ids(vectors, labels)
        self._ids = np.union1d(self._ids, labels)

    def mark_deleted(self, labels: Iterable[int]) -> int:
        labels = [int(x) for x in labels]
        if not labels:
            return 0
        new = [x for x, held in zip(labels, self._held(labels)) if held and x not in self._deleted]
        self._deleted.update(new)
        if new:
            self._selector = None
        return len(new)

    def unmark_deleted(self, labels: Iterable[int]) -> int:
        back = [int(x) for x in labels if int(x) in self._deleted]
        self._deleted.difference_update(back)
        if back:
            self._selector = None
        return len(back)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k live labels and (quantised) inner products, best first."""
        faiss = _faiss()
        k = min(int(k), self.count)
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef, k)
        # A local reference keeps the selectors alive for the whole call (another thread may
        # replace them; some FAISS versions keep no reference of their own).
        selector = self._selector
        if self._deleted and selector is None:
            batch = faiss.IDSelectorBatch(np.asarray(sorted(self._deleted), np.int64))
            selector = self._selector = (batch, faiss.IDSelectorNot(batch))  # the batch outlives the Not
        if self._deleted and selector is not None:
            params.sel = selector[1]
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self._dim)
        scores, labels = self._index.search(q, k, params=params)
        del selector
        keep = labels[0] >= 0
        return labels[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def get(self, labels: Sequence[int]) -> np.ndarray:
        """The quantised vectors of live labels; KeyError naming labels missing or deleted."""
        ids = [int(x) for x in labels]
        missing = [x for x in ids if x in self._deleted]
        if missing:
            raise KeyError(f"no live vector for labels {missing[:10]}")
        return self.vectors_of(ids)[0]

    def vectors_of(self, labels: Sequence[int]) -> tuple[np.ndarray, list[int]]:
        """The (quantised) vectors of these labels, deleted ones too, and which are deleted;
        KeyError naming labels it does not hold."""
        ids = [int(x) for x in labels]
        missing = [x for x, held in zip(ids, self._held(ids)) if not held]
        if missing:
            raise KeyError(f"no vector for labels {missing[:10]}")
        out = np.empty((len(ids), self._dim), np.float32)
        for i, label in enumerate(ids):
            out[i] = self._index.reconstruct(label)
        return out, [x for x in ids if x in self._deleted]

    def labels(self) -> np.ndarray:
        return self._ids.copy()

    def save(self, path: Path) -> None:
        _faiss().write_index(self._index, os.fsdecode(path))


def file_digest(path: Path) -> str:
    """BLAKE2b of a file's bytes: how a compact tier's file is checked (it has no structure
    that can be checked record by record the way an hnswlib file can)."""
    return file_blake2b(path, 16, 1 << 22)
