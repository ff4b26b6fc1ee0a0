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
created, so a library keeps the meaning its users learnt even when the defaults move. They are
kept per score formula (``confidence:<formula>``): a library an older release made, whose
thresholds were fitted for another formula, is searched with the packaged ones, and gets them
recorded the next time it is indexed (``index``, ``reindex``); an older release reading a newer
library finds none for its own formula and uses its own packaged ones.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, cast

import numpy as np

from vidsearch.channels.fusion import SCORE_FORMULA
from vidsearch.ingest.profile import confidence_setting, default_confidence

Level = Literal["high", "medium", "low"]
LEVELS: tuple[Level, ...] = ("high", "medium", "low")
#: ``--min-confidence any``: the whole ranking, moments under ``low`` included (labelled
#: ``low``), never "no good match": what the web page's "show weaker matches" asks for.
ANY: Literal["any"] = "any"
Floor = Literal["high", "medium", "low", "any"]


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

    def floor(self, minimum: Floor | None) -> float:
        """The lowest score a result needs to be shown at ``minimum`` (None: ``low``)."""
        if minimum == ANY:
            return float("-inf")
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
    """The thresholds stored with ``library`` (an open ``Library``) for the score formula searches
    use now (:data:`vidsearch.channels.fusion.SCORE_FORMULA`), else the packaged ones: thresholds
    of another formula (those an older release stored) would put the levels in the wrong place."""
    raw = library.setting(confidence_setting(SCORE_FORMULA))
    try:
        stored = json.loads(raw) if raw else None
    except ValueError:
        stored = None
    return Thresholds.from_json(stored if isinstance(stored, dict) else None, default_thresholds())


def parse_level(text: str | None) -> Floor | None:
    """``--min-confidence`` value -> level (or ``any``); a one-line ValueError for anything else."""
    if text is None:
        return None
    value = text.strip().lower()
    if value == ANY:
        return ANY
    if value not in LEVELS:
        raise ValueError(f"bad confidence level {text!r}: use high, medium, low or any")
    return cast(Floor, value)


#: How :func:`fit_thresholds` places each level, as shares of the benchmark's first answers.
HIGH_PRECISION = 0.95
MEDIUM_RIGHT_BELOW = 0.05
LOW_RIGHT_BELOW = 0.025


def fit_thresholds(first_answers: list[tuple[float, bool]]) -> Thresholds | None:
    """Thresholds fitted on a benchmark's first answers, ``(score, right)`` per answerable query
    (the whole ranking's first, as if nothing abstained): ``high`` is the lowest score above
    which at least 95% of first answers are right, ``medium`` the 5th percentile of the right
    ones' scores, ``low`` (under it: "no good match") their 2.5th percentile. ``vidsearch eval``
    prints them; the packaged defaults (``confidence.json``) are its numbers on the benchmark."""
    right = sorted(s for s, ok in first_answers if ok)
    if len(right) < 2:
        return None
    ordered = sorted(first_answers, key=lambda a: (-a[0], not a[1]))
    # Never precise enough: nothing is labelled high (just above the best score).
    high, hits = ordered[0][0] + 0.001, 0
    for i, (score, ok) in enumerate(ordered, 1):
        hits += ok
        if hits / i >= HIGH_PRECISION:
            high = score
    medium = float(np.quantile(right, MEDIUM_RIGHT_BELOW))
    low = min(float(np.quantile(right, LOW_RIGHT_BELOW)), medium)
    return Thresholds(round(max(high, medium), 3), round(medium, 3), round(low, 3))
