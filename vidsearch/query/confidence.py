"""Confidence levels: what a calibrated score means to a user, in three words.

Scores are calibrated (see :mod:`vidsearch.query.search`) so that one threshold means the same for
every query. Each answer gets a level:

* ``"high"`` — the moment almost certainly answers the query (on the benchmark library, the first
  answers at this level are right in at least nine cases of ten);
* ``"medium"`` — probably right; worth a look;
* ``"low"`` — related at best: kept so a user can still browse, but not a claim;
* below ``low`` — not returned. A query whose every candidate falls below ``low`` gets no results
  and a "no good match" note instead of filler.

The thresholds are fitted on the benchmark library (``vidsearch eval`` reports how they separate
right first answers from queries that have no answer) and stored with each library when it is
created, so a library keeps the meaning its users learnt even when the defaults move.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from vidsearch.ingest.profile import CONFIDENCE_SETTING, default_confidence

Level = Literal["high", "medium", "low"]
LEVELS: tuple[Level, ...] = ("high", "medium", "low")


@dataclass(frozen=True)
class Thresholds:
    """Lowest calibrated score of each level (``high >= medium >= low``)."""

    high: float
    medium: float
    low: float

    def level(self, score: float) -> Level | None:
        """The level of ``score``, or None when it is below ``low`` (not an answer)."""
        if score >= self.high:
            return "high"
        if score >= self.medium:
            return "medium"
        if score >= self.low:
            return "low"
        return None

    def floor(self, minimum: Level | None) -> float:
        """The lowest score a result needs to be shown at ``minimum`` (None: ``low``)."""
        return {"high": self.high, "medium": self.medium, "low": self.low}[minimum or "low"]

    def to_json(self) -> dict[str, float]:
        return {"high": self.high, "medium": self.medium, "low": self.low}

    @classmethod
    def from_json(cls, obj: Mapping[str, float] | None, default: Thresholds) -> Thresholds:
        """Thresholds stored with a library, falling back to ``default`` where any is missing."""
        if not obj:
            return default
        try:
            high, medium, low = (float(obj[k]) for k in LEVELS)
        except (KeyError, TypeError, ValueError):
            return default
        if not high >= medium >= low:
            return default
        return cls(high, medium, low)


#: What a query whose every candidate falls below the asked level is told instead of filler.
NO_GOOD_MATCH = "no good match"
@cache
def default_thresholds() -> Thresholds:
    """The thresholds fitted on the benchmark library (package data ``confidence.json``)."""
    data = default_confidence()
    return Thresholds(data["high"], data["medium"], data["low"])


def library_thresholds(library: Any) -> Thresholds:
    """The thresholds stored with ``library`` (an open ``Library``), else the defaults."""
    raw = library.setting(CONFIDENCE_SETTING)
    try:
        stored = json.loads(raw) if raw else None
    except ValueError:
        stored = None
    return Thresholds.from_json(stored, default_thresholds())


def parse_level(text: str | None) -> Level | None:
    """``--min-confidence`` value -> level; a one-line ValueError for anything else."""
    if text is None:
        return None
    value = text.strip().lower()
    if value not in LEVELS:
        raise ValueError(f"bad confidence level {text!r}: use high, medium or low")
    return value
