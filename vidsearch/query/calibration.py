"""Hubness: why a raw cosine does not mean the same for every segment, and the correction.

Short or garbled texts (a three-word speech fragment, a Whisper line in the wrong language, a
promo badge) embed near the centre of the text space, so they sit close to *every* query: on the
benchmark library two such segments were the wrong first answer to a fifth of the misses. The
correction is the cross-domain similarity local scaling (CSLS) family: an item's similarity to a
query counts only as far as it exceeds the item's similarity to queries in general,

    calibrated(q, v) = 2 cos(q, v) - hub(v) - background(q)

where ``hub(v)`` is the mean of the item's ``HUB_K`` highest cosines against a fixed bank of
generic queries (:data:`GENERIC_QUERIES`: greetings, fillers and "a video" in English and Chinese,
no subject words) and ``background(q)`` the query's mean cosine over a sample of the library's
items in the same channel. A hub loses what it gains from being central; an item far from the
centre keeps its score.
"""
from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np

#: Items' similarity to generic queries: the mean of their this many highest cosines.
HUB_K = 5


@cache
def generic_queries() -> tuple[str, ...]:
    """The bank of generic queries (English and Chinese), from the package data."""
    data = json.loads(resources.files("vidsearch.data").joinpath("generic_queries.json").read_text("utf-8"))
    return tuple(data["queries"])


def hubness(items: np.ndarray, bank: np.ndarray, k: int = HUB_K) -> np.ndarray:
    """Per item (rows of ``items``, unit vectors or zeros), its mean top-``k`` cosine to ``bank``.

    A zero row (the item has nothing in this channel) gets 0.
    """
    if items.size == 0 or bank.size == 0:
        return np.zeros(len(items), dtype=np.float32)
    sims = items @ bank.T
    k = min(k, sims.shape[1])
    top = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
    return np.where(np.abs(items).sum(axis=1) > 0, top, 0.0).astype(np.float32)


def csls(cos: np.ndarray, hub: np.ndarray, background: float) -> np.ndarray:
    """``2 cos - hub - background`` (see the module docstring)."""
    return 2.0 * cos - hub - background


def item_csls(vectors: np.ndarray, q: np.ndarray, bank: np.ndarray, background: float) -> np.ndarray:
    """CSLS of items (rows of ``vectors``: channel blocks or lines) against the query ``q``; an
    all-zero row (nothing embedded there) gets 0."""
    scores = csls(vectors @ q, hubness(vectors, bank), background)
    return np.where(np.abs(vectors).sum(axis=1) > 0, scores, 0.0).astype(np.float32)
