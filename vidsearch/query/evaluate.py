"""Measure answers the way users judge them: a query file with known right moments -> numbers.

A **query file** is JSON Lines, one query per line::

    {"id": "q017", "query": "猫咪玩毛线球", "kind": "visual", "lang": "zh",
     "targets": [{"video": "cat and yarn.mp4", "start": 3.0, "end": 12.0}]}

``kind`` and ``lang`` are free labels for the breakdown; ``targets`` lists the moments that answer
the query (``video`` is a file name, or a path relative to anywhere above the file, when two
library folders hold the same name); an empty list means the right answer is "nothing in this
library". Blank lines and lines starting with ``#`` are skipped.

**When is a result right?** It is in the target's video and either its span overlaps the
target's with an intersection-over-union of at least :data:`MIN_IOU` (0.3), or its ``jump`` (where
the player starts) falls inside the target widened by :data:`JUMP_SLACK_S` (1 s) on each side. The
second rule credits a moment that is longer than what was asked for (three merged segments) but
starts playing at the right second, which is what a user sees.

**Metrics** (``k`` results per query, 10 by default), over the answerable queries:

* ``p@1`` — precision at 1: the share whose first result is right (what users call precision);
* ``r@5``, ``r@10`` — recall: the share of target moments found in the first 5 / 10 results,
  averaged per query (a query with two targets that finds one scores 0.5);
* ``mrr`` — mean of 1 / rank of the first right result (0 when none is in the top k);
* ``ndcg@10`` — binary gains, each target credited once (a second hit on the same target gains
  nothing), normalised by the ideal list;
* ``jump_err`` — localisation: median |jump - target start| of the first right result, seconds.

For **no-answer queries** (empty ``targets``) the right behaviour is to return nothing: a query
whose result list is empty counts as flagged "no good match" (an answerable query answered with
nothing is a miss). The report also compares their top scores with the top scores of the
answerable queries whose first result is right: ``auc`` is the chance that a random such right
answer outscores a random no-answer query, i.e. how well one threshold could separate them
(1.0 = perfectly, 0.5 = not at all); a no-answer query answered with nothing scores 0. ``levels``
gives, per confidence level, how many first answers had it and the share of them that was right;
``right_first_low`` the share of right first answers labelled ``low``.

**Latency** is each query's ``search`` call in this process, after one untimed warm-up query that
loads the models: p50 and p95 in milliseconds.

A **clip file** (``--clips``), for ``match-clip``, one clip per line::

    {"id": "c03", "file": "clips/c03.mp4", "source": {"video": "cat and yarn.mp4", "start": 4.0},
     "captions": ["pet-001", "pet-003"]}

(``file`` relative to the clip file's folder).

**Before and after** (``--compare FILE``, an earlier run's ``--out`` file): the queries of both
runs are paired by id, text and targets, and the report gives p@1 before and now with a 95%
interval of its change (Newcombe's, for paired shares), the queries won and lost at the first answer with a sign test of the
two counts, MRR before and now, every query whose first right rank moved, the no-answer queries
newly flagged or no longer, and caption r@1 for clips. On a benchmark of about 160 answerable
queries a change of one or two first answers is within noise; the interval says how much. Both
runs must ask for the same number of results (``k``), as ranks past it are not known.

A **removable-spans file** (``--removed``) lists what should be cut from each video, one span per
line: ``{"video": "cat and yarn.mp4", "start": 0.0, "end": 3.0, "kind": "intro"}`` (recurring
intros and outros; black or frozen padding may be listed too, kind ``padding``). The report says
which share of them the library removed with both edges within :data:`EDGE_SLACK_S` (0.3 s),
how much content (everything not listed) was removed, and the share of returned results that
lie mostly inside a listed span (a result a user would skip). Caption metrics: ``r@1``, ``r@5`` (a right caption
among the first 1 / 5) and ``mrr``; ``source_found``: the first "source" moment is the clip's video
and starts within :data:`SOURCE_SLACK_S` (1 s) of where the clip was cut; every "source" moment in
another video is listed as a **false source** (a user would believe it).
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from vidsearch.channels.fusion import SCORE_FORMULA
from vidsearch.query.confidence import fit_thresholds
from vidsearch.types import Moment

#: A result is right when its span overlaps the target's at least this much (intersection over union) ...
MIN_IOU = 0.3
#: ... or when its jump lands inside the target widened by this many seconds each side.
JUMP_SLACK_S = 1.0
#: A clip's source moment is right when it starts within this many seconds of the cut.
SOURCE_SLACK_S = 1.0
#: A removed span matches a listed one when both its edges are this close (seconds).
EDGE_SLACK_S = 0.3
#: Results kept per query in the per-query details.
DETAIL_TOP = 3


class EvalFileError(ValueError):
    """A query or clip file that cannot be scored; the message is one line, ``FILE:LINE: reason``."""


@dataclass(frozen=True)
class Target:
    """A moment that answers a query: ``video`` (file name or path) and its span in seconds."""

    video: str
    start: float
    end: float


@dataclass(frozen=True)
class EvalQuery:
    """One line of a query file."""

    id: str
    query: str
    targets: tuple[Target, ...]
    kind: str = ""
    lang: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.targets)


@dataclass(frozen=True)
class RemovableSpan:
    """A span that should be cut from a video: a recurring intro/outro, or padding."""

    video: str
    start: float
    end: float
    kind: str = ""


@dataclass(frozen=True)
class EvalClip:
    """One line of a clip file: the clip, where it was cut from, the captions that describe it."""

    id: str
    file: Path
    source_video: str
    source_start: float
    captions: tuple[str, ...]


# ----------------------------------------------------------------------------- reading files


def _records(path: Path) -> Iterable[tuple[int, dict]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalFileError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise EvalFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise EvalFileError(f"{path}: {exc.strerror or exc}") from None
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines: JSON may hold U+2028 raw
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalFileError(f"{path}:{n}: not JSON ({exc.msg}, column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise EvalFileError(f"{path}:{n}: a line must be one JSON object")
        yield n, obj


def _text(obj: dict, key: str, where: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise EvalFileError(f"{where}: {key} missing")
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise EvalFileError(f"{where}: {key} must be a non-empty string")
    return str(value).strip()


def _seconds(obj: dict, key: str, where: str) -> float:
    value = obj.get(key)
    if value is None:
        raise EvalFileError(f"{where}.{key} missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise EvalFileError(f"{where}.{key} must be a number of seconds >= 0, not {value!r}")
    return float(value)


def load_queries(path: Path | str) -> list[EvalQuery]:
    """Read and check a query file; a bad line raises :class:`EvalFileError` naming it, so a
    file is scored whole or not at all."""
    queries: list[EvalQuery] = []
    seen: dict[str, int] = {}
    for n, obj in _records(Path(path)):
        where = f"{path}:{n}"
        qid = _text(obj, "id", where)
        if qid in seen:
            raise EvalFileError(f"{where}: id {qid!r} already used on line {seen[qid]}")
        seen[qid] = n
        query = _text(obj, "query", where)
        if "targets" not in obj:
            raise EvalFileError(f"{where}: targets missing (use [] for a query with no right answer)")
        raw = obj["targets"]
        if not isinstance(raw, list):
            raise EvalFileError(f"{where}: targets must be a list")
        targets = []
        for i, t in enumerate(raw):
            tw = f"{where}: targets[{i}]"
            if not isinstance(t, dict):
                raise EvalFileError(f"{tw} must be an object with video, start, end")
            video = t.get("video")
            if not isinstance(video, str) or not video.strip():
                raise EvalFileError(f"{tw}.video " + ("missing" if video is None else "must be a file name or path"))
            video = video.strip()
            start, end = _seconds(t, "start", tw), _seconds(t, "end", tw)
            if end <= start:
                raise EvalFileError(f"{tw}.end ({end}) must be after start ({start})")
            if Target(video, start, end) in targets:
                raise EvalFileError(f"{tw} repeats an earlier target")
            targets.append(Target(video, start, end))
        queries.append(EvalQuery(qid, query, tuple(targets), _text(obj, "kind", where, required=False),
                                 _text(obj, "lang", where, required=False)))
    if not queries:
        raise EvalFileError(f"{path}: no queries")
    return queries


def load_clips(path: Path | str) -> list[EvalClip]:
    """Read and check a clip file (see the module docstring); clip files must exist."""
    path = Path(path)
    clips: list[EvalClip] = []
    seen: set[str] = set()
    for n, obj in _records(path):
        where = f"{path}:{n}"
        cid = _text(obj, "id", where)
        if cid in seen:
            raise EvalFileError(f"{where}: id {cid!r} already used")
        seen.add(cid)
        file = path.parent / _text(obj, "file", where)
        if not file.is_file():
            raise EvalFileError(f"{where}: file {file} does not exist")
        source = obj.get("source")
        if not isinstance(source, dict):
            raise EvalFileError(f"{where}: source missing (an object with video and start)")
        if not isinstance(source.get("video"), str) or not source["video"].strip():
            raise EvalFileError(f"{where}: source.video missing")
        captions = obj.get("captions")
        if not isinstance(captions, list) or not captions or not all(isinstance(c, str) for c in captions):
            raise EvalFileError(f"{where}: captions must be a non-empty list of caption ids")
        clips.append(EvalClip(cid, file, source["video"].strip(), _seconds(source, "start", f"{where}: source"),
                              tuple(captions)))
    if not clips:
        raise EvalFileError(f"{path}: no clips")
    return clips


def load_removable(path: Path | str) -> list[RemovableSpan]:
    """Read and check a removable-spans file (see the module docstring)."""
    spans = []
    for n, obj in _records(Path(path)):
        where = f"{path}:{n}"
        video = _text(obj, "video", where)
        start, end = _seconds(obj, "start", where + ": span"), _seconds(obj, "end", where + ": span")
        if end <= start:
            raise EvalFileError(f"{where}: end ({end}) must be after start ({start})")
        spans.append(RemovableSpan(video, start, end, _text(obj, "kind", where, required=False)))
    if not spans:
        raise EvalFileError(f"{path}: no spans")
    return spans


# ----------------------------------------------------------------------------- matching


def video_matches(result_video: str, target_video: str) -> bool:
    """A result's (absolute) video path names the target: the same file name, or, when the
    target holds folders, the same trailing path components."""
    want = PurePath(target_video).parts
    have = PurePath(result_video).parts
    return len(want) <= len(have) and tuple(have[-len(want):]) == want


def check_videos(named: Iterable[tuple[str, str]], library_videos: Iterable[str], source: str) -> None:
    """Every ``(where, video)`` must name exactly one video of the library (else nothing could
    ever be right, or the answer would be ambiguous): raises :class:`EvalFileError`."""
    videos = list(library_videos)
    for where, video in named:
        found = [v for v in videos if video_matches(v, video)]
        if not found:
            raise EvalFileError(f"{source}: {where} {video!r} is not in the library")
        if len(found) > 1:
            raise EvalFileError(f"{source}: {where} {video!r} names {len(found)} library videos; give more of its path")


def query_videos(queries: Iterable[EvalQuery]) -> list[tuple[str, str]]:
    """``(where, video)`` of every query target, for :func:`check_videos`."""
    return [(f"{q.id}: targets[{i}].video", t.video) for q in queries for i, t in enumerate(q.targets)]


def clip_videos(clips: Iterable[EvalClip]) -> list[tuple[str, str]]:
    """``(where, video)`` of every clip's source, for :func:`check_videos`."""
    return [(f"{c.id}: source.video", c.source_video) for c in clips]


def iou(a0: float, a1: float, b0: float, b1: float) -> float:
    """Intersection over union of two spans (0 when they do not overlap)."""
    inter = min(a1, b1) - max(a0, b0)
    if inter <= 0:
        return 0.0
    return inter / (max(a1, b1) - min(a0, b0))


def is_right(moment: Moment, target: Target) -> bool:
    """The rule of the module docstring: same video, and IoU >= 0.3 or jump inside target +- 1 s."""
    if not video_matches(moment.video, target.video):
        return False
    return (iou(moment.start, moment.end, target.start, target.end) >= MIN_IOU
            or target.start - JUMP_SLACK_S <= moment.jump <= target.end + JUMP_SLACK_S)


# ----------------------------------------------------------------------------- scoring queries


@dataclass
class QueryOutcome:
    """What one query got: its results, which were right, and how long it took."""

    query: EvalQuery
    results: list[Moment]
    #: For each result, the index of the first target it is right for, or None.
    right: list[int | None]
    latency_ms: float
    #: The whole ranking, as "show weaker matches" gives it (None: not asked for), and its rightness.
    ranked: list[Moment] | None = None
    ranked_right: list[int | None] | None = None

    @property
    def first_right(self) -> int | None:
        """1-based rank of the first right result, or None."""
        return next((i for i, t in enumerate(self.right, 1) if t is not None), None)

    @property
    def top_score(self) -> float | None:
        return float(self.results[0].score) if self.results else None

    @property
    def credit(self) -> list[int | None]:
        """For each result, the target it is credited with: in rank order, each result takes
        the first target it is right for that no earlier result took (one result, one target)."""
        taken: set[int] = set()
        out: list[int | None] = []
        for m in self.results:
            fresh = next((j for j, t in enumerate(self.query.targets) if j not in taken and is_right(m, t)), None)
            if fresh is not None:
                taken.add(fresh)
            out.append(fresh)
        return out

    def recall(self, k: int) -> float:
        """Share of the query's targets credited to a result in the first k."""
        return sum(c is not None for c in self.credit[:k]) / len(self.query.targets)

    def ndcg(self, k: int) -> float:
        dcg = sum(1.0 / math.log2(i + 1) for i, c in enumerate(self.credit[:k], 1) if c is not None)
        ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(self.query.targets), k) + 1))
        return dcg / ideal

    def jump_error(self) -> float | None:
        """|jump - target start| of the first right result (against the target it is credited with), seconds."""
        rank = self.first_right
        if rank is None:
            return None
        credited = self.credit[rank - 1]
        assert credited is not None  # the first right result is credited with a target
        m, t = self.results[rank - 1], self.query.targets[credited]
        return abs(m.jump - t.start)

    def to_json(self) -> dict:
        def brief(m: Moment, right: int | None) -> dict:
            return {"video": os.path.basename(m.video), "start": round(m.start, 2), "end": round(m.end, 2),
                    "jump": round(m.jump, 2), "score": round(float(m.score), 4), "right": right is not None}

        q = self.query
        return {"id": q.id, "query": q.query, "kind": q.kind, "lang": q.lang,
                "targets": [{"video": t.video, "start": t.start, "end": t.end} for t in q.targets],
                "rank": self.first_right, "n_results": len(self.results),
                "top_score": None if self.top_score is None else round(self.top_score, 4),
                "confidence": self.results[0].confidence if self.results else None,
                "latency_ms": round(self.latency_ms, 2),
                "top": [brief(m, r) for m, r in list(zip(self.results, self.right))[:DETAIL_TOP]]}


SearchFn = Callable[[str, int], list[Moment]]


#: Results asked for per query at least: recall@10 and nDCG@10 need ten.
MIN_DEPTH = 10


def run_queries(search: SearchFn, queries: Iterable[EvalQuery], k: int = 10, *,
                progress: Callable[[EvalQuery], None] | None = None,
                clock: Callable[[], float] = time.perf_counter,
                low: float | None = None) -> list[QueryOutcome]:
    """Ask every query once (after one untimed warm-up query) and judge its results.

    ``search(query, k)`` is e.g. ``lambda q, k: searcher.search(q, k, preset=...)``; it is asked
    for ``max(k, 10)`` results, so the @5 and @10 metrics always mean what they say. With
    ``low`` (the library's threshold), ``search`` must return the whole ranking
    (``min_confidence="any"``): the outcome keeps it, and its results are what a user is shown,
    nothing when the first score is under ``low`` ("no good match"), as ``search`` decides (which
    looks at the best segment before a moment inside a span to cut is dropped: rarely different).
    """
    queries = list(queries)
    k = max(k, MIN_DEPTH)
    if queries:
        search("warm-up query: load the models before timing 预热", k)  # Chinese loads its sound dictionary
    outcomes = []
    for q in queries:
        t0 = clock()
        results = search(q.query, k)
        ms = (clock() - t0) * 1000.0
        right = [next((i for i, t in enumerate(q.targets) if is_right(m, t)), None) for m in results]
        if low is None:
            outcomes.append(QueryOutcome(q, list(results), right, ms))
        else:
            shown = bool(results) and results[0].score >= low
            outcomes.append(QueryOutcome(q, list(results) if shown else [], right if shown else [], ms,
                                         ranked=list(results), ranked_right=right))
        if progress is not None:
            progress(q)
    return outcomes


def auc(positives: list[float], negatives: list[float]) -> float | None:
    """P(a random positive scores above a random negative), ties counting half (Mann-Whitney)."""
    if not positives or not negatives:
        return None
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def _quantile(xs: list[float], q: float) -> float | None:
    return float(np.quantile(xs, q)) if xs else None


def _rounded(d: dict, digits: int = 3) -> dict:
    return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in d.items()}


def answer_metrics(outcomes: list[QueryOutcome]) -> dict:
    """p@1, r@5, r@10, mrr, ndcg@10 and jump_err over the answerable outcomes given."""
    ans = [o for o in outcomes if o.query.answerable]
    if not ans:
        return {"n": 0}
    ranks = [o.first_right for o in ans]
    errors = [e for o in ans if (e := o.jump_error()) is not None]
    return _rounded({
        "n": len(ans),
        "p@1": sum(r == 1 for r in ranks) / len(ans),
        "r@5": float(np.mean([o.recall(5) for o in ans])),
        "r@10": float(np.mean([o.recall(10) for o in ans])),
        "mrr": float(np.mean([1.0 / r if r else 0.0 for r in ranks])),
        "ndcg@10": float(np.mean([o.ndcg(10) for o in ans])),
        "jump_err": _quantile(errors, 0.5),
    })


def _groups(outcomes: list[QueryOutcome], key: Callable[[EvalQuery], str]) -> dict[str, dict]:
    labels = sorted({key(o.query) for o in outcomes if o.query.answerable and key(o.query)})
    return {label: answer_metrics([o for o in outcomes if key(o.query) == label]) for label in labels}


def summarise(outcomes: list[QueryOutcome], k: int) -> dict:
    """The report as one JSON-ready dict: overall, by kind, by lang, no-answer, latency."""
    none = [o for o in outcomes if not o.query.answerable]
    right_first = [o for o in outcomes if o.query.answerable and o.first_right == 1]
    right_tops = [o.top_score for o in right_first if o.top_score is not None]
    # A flagged no-answer query (nothing returned) scores 0: below every answer that was given.
    none_tops = [o.top_score if o.top_score is not None else 0.0 for o in none]
    firsts = [o for o in outcomes if o.query.answerable and o.results]
    ranked = [o for o in outcomes if o.ranked is not None]
    behind_toggle = [QueryOutcome(o.query, o.ranked or [], o.ranked_right or [], o.latency_ms) for o in ranked]
    fitted = fit_thresholds([(o.ranked[0].score, bool(o.ranked_right and o.ranked_right[0] is not None))
                             for o in ranked if o.query.answerable and o.ranked])
    levels = {}
    for level in ("high", "medium", "low"):
        at = [o for o in firsts if o.results[0].confidence == level]
        levels[level] = {"n": len(at), "right": (sum(o.first_right == 1 for o in at) / len(at)) if at else None}
    latency = [o.latency_ms for o in outcomes]
    return {
        "k": max(k, MIN_DEPTH),
        "queries": len(outcomes),
        "overall": answer_metrics(outcomes),
        "by_kind": _groups(outcomes, lambda q: q.kind),
        "by_lang": _groups(outcomes, lambda q: q.lang),
        "no_answer": _rounded({
            "n": len(none),
            "flagged": (sum(not o.results for o in none) / len(none)) if none else None,
            "top_score_median": _quantile(none_tops, 0.5),
            "top_score_p90": _quantile(none_tops, 0.9),
            "right_top_score_median": _quantile(right_tops, 0.5),
            "right_top_score_p10": _quantile(right_tops, 0.1),
            "auc": auc(right_tops, none_tops),
        }),
        # First answers per confidence level and how often they were right; right first answers
        # labelled "low" (a user is told they are weak).
        "levels": {k: _rounded(v) for k, v in levels.items()},
        "right_first_low": _rounded({"share": (sum(o.results[0].confidence == "low" for o in right_first)
                                                / len(right_first)) if right_first else None}),
        "answerable_unanswered": sum(o.query.answerable and not o.results for o in outcomes),
        # The whole ranking ("show weaker matches"), and the thresholds this benchmark would fit.
        "whole_ranking": answer_metrics(behind_toggle) if ranked else None,
        "whole_ranking_by_kind": _groups(behind_toggle, lambda q: q.kind) if ranked else None,
        # What confidence.json would hold if these were packaged: they fit this score formula only.
        "fitted_thresholds": {**fitted.to_json(), "score": SCORE_FORMULA} if fitted else None,
        "latency_ms": _rounded({"p50": _quantile(latency, 0.5), "p95": _quantile(latency, 0.95),
                                "max": max(latency) if latency else None}, 1),
    }


# ----------------------------------------------------------------------------- scoring clips


@dataclass
class ClipOutcome:
    """What one clip got from ``match-clip``."""

    clip: EvalClip
    caption_ids: list[str]
    sources: list[Moment]
    latency_ms: float
    error: str | None = None

    @property
    def caption_rank(self) -> int | None:
        return next((i for i, c in enumerate(self.caption_ids, 1) if c in self.clip.captions), None)

    @property
    def source_found(self) -> bool:
        if not self.sources:
            return False
        m = self.sources[0]
        return video_matches(m.video, self.clip.source_video) and abs(m.start - self.clip.source_start) <= SOURCE_SLACK_S

    @property
    def false_sources(self) -> list[Moment]:
        return [m for m in self.sources if not video_matches(m.video, self.clip.source_video)]

    def to_json(self) -> dict:
        return {"id": self.clip.id, "file": str(self.clip.file), "error": self.error,
                "caption_rank": self.caption_rank, "captions": self.caption_ids[:5],
                "source_found": self.source_found,
                "sources": [{"video": os.path.basename(m.video), "start": round(m.start, 2),
                             "score": round(float(m.score), 4)} for m in self.sources],
                "latency_ms": round(self.latency_ms, 1)}


def run_clips(match: Callable[[Path, int], Any], clips: Iterable[EvalClip], k: int = 10, *,
              progress: Callable[[EvalClip], None] | None = None,
              clock: Callable[[], float] = time.perf_counter) -> list[ClipOutcome]:
    """Match every clip (``match(file, k)`` returns a :class:`vidsearch.query.matchclip.ClipMatch`).

    A clip that cannot be read is recorded with its one-line error and scores as a miss.
    """
    from vidsearch.types import VideoError

    outcomes = []
    for c in clips:
        t0 = clock()
        try:
            result = match(c.file, k)
        except VideoError as exc:
            outcomes.append(ClipOutcome(c, [], [], (clock() - t0) * 1000.0, str(exc)))
        else:
            outcomes.append(ClipOutcome(c, [r.caption_id for r in result.results],
                                        [m for m in result.moments if m.match == "source"],
                                        (clock() - t0) * 1000.0))
        if progress is not None:
            progress(c)
    return outcomes


def summarise_clips(outcomes: list[ClipOutcome]) -> dict:
    """Caption r@1 / r@5 / mrr, the share of clips whose source was found, the false sources."""
    n = len(outcomes)
    ranks = [o.caption_rank for o in outcomes]
    return {
        **_rounded({
            "n": n,
            "caption_r@1": sum(r == 1 for r in ranks) / n,
            "caption_r@5": sum(r is not None and r <= 5 for r in ranks) / n,
            "caption_mrr": float(np.mean([1.0 / r if r else 0.0 for r in ranks])),
            "source_found": sum(o.source_found for o in outcomes) / n,
        }),
        "errors": [{"id": o.clip.id, "error": o.error} for o in outcomes if o.error],
        "false_sources": [{"id": o.clip.id, "video": os.path.basename(m.video), "start": round(m.start, 2),
                           "score": round(float(m.score), 4)} for o in outcomes for m in o.false_sources],
        "latency_ms": _rounded({"p50": _quantile([o.latency_ms for o in outcomes], 0.5)}, 1),
    }


# ----------------------------------------------------------------------------- comparing runs


def load_details(path: Path | str) -> tuple[dict[str, dict], dict[str, dict]]:
    """An earlier run's ``--out`` file: its query rows and its clip rows, each by id.

    A line that is not such a row, a repeated id or a file without query rows raises
    :class:`EvalFileError` naming it (``FILE:LINE: reason``).
    """
    queries: dict[str, dict] = {}
    clips: dict[str, dict] = {}
    for n, obj in _records(Path(path)):
        where = f"{path}:{n}"
        ident = _text(obj, "id", where)
        if obj.get("clip"):
            rank = obj.get("caption_rank")
            if "caption_rank" not in obj or not (rank is None or _is_rank(rank)):
                raise EvalFileError(f"{where}: not a clip row of `eval --out` (caption_rank missing or not a rank)")
            if ident in clips:
                raise EvalFileError(f"{where}: clip id {ident!r} repeated")
            clips[ident] = obj
            continue
        for key in ("query", "targets", "rank", "n_results"):
            if key not in obj:
                raise EvalFileError(f"{where}: not a query row of `eval --out` ({key} missing)")
        if not (obj["rank"] is None or _is_rank(obj["rank"])) or not _is_count(obj["n_results"]) \
                or not isinstance(obj["targets"], list) or not (obj.get("k") is None or _is_rank(obj["k"])):
            raise EvalFileError(f"{where}: not a query row of `eval --out` (rank, n_results, targets or k malformed)")
        if ident in queries:
            raise EvalFileError(f"{where}: query id {ident!r} repeated")
        queries[ident] = obj
    if not queries:
        raise EvalFileError(f"{path}: no query rows of `eval --out` in it")
    return queries, clips


def check_depth(before: tuple[dict[str, dict], dict[str, dict]], k: int, path: Path | str) -> None:
    """Refuse an earlier run that asked for another number of results than ``k`` (this run's,
    at least :data:`MIN_DEPTH`): a rank past the shorter list would read as a miss."""
    depth = max(k, MIN_DEPTH)
    other = next((row["k"] for row in before[0].values() if row.get("k") not in (None, depth)), None)
    if other is not None:
        raise EvalFileError(f"{path}: that run asked for {other} results per query, this one for {depth}: "
                            "compare runs with the same -k")


def _is_rank(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _first_right_change(before: list[bool], now: list[bool]) -> dict:
    """A share of right first answers before and now, its change and a 95% interval of it.

    The interval is Newcombe's for a difference of paired proportions (method 10 of Newcombe,
    Statistics in Medicine 17, 1998: Wilson score intervals of the two shares, joined through
    their correlation), which keeps its coverage when only a few of many queries changed. On
    159 queries it agrees with the sign test: four won and none lost gives -0.004 to +0.056 (sign
    test p 0.125), six and none +0.005 to +0.073 (p 0.031). A bootstrap of the per-query changes,
    mostly zeros, reads too narrow there: four and none gave +0.006 to +0.050.
    """
    from scipy import stats

    n = len(before)
    if n == 0:
        return {"before": None, "now": None, "delta": None, "interval95": None}
    both = sum(b and a for b, a in zip(before, now))
    lost = sum(b and not a for b, a in zip(before, now))
    won = sum(a and not b for b, a in zip(before, now))
    neither = n - both - lost - won
    p1, p2 = (both + lost) / n, (both + won) / n

    def wilson(k: int) -> tuple[float, float]:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        return float(ci.low), float(ci.high)

    (l1, u1), (l2, u2) = wilson(both + lost), wilson(both + won)
    spread = math.sqrt((both + lost) * (won + neither) * (both + won) * (lost + neither))
    cross = float(both * neither - lost * won)
    if cross > 0:  # Newcombe's correction of the correlation toward 0
        cross = max(cross - n / 2, 0.0)
    phi = cross / spread if spread else 0.0
    delta = p2 - p1
    below = math.sqrt(max((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2, 0.0))
    above = math.sqrt(max((u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1) + (p1 - l1) ** 2, 0.0))
    return {"before": round(p1, 3), "now": round(p2, 3), "delta": round(delta, 3),
            "interval95": [round(delta - below, 3), round(delta + above, 3)]}


def _sign_test(won: int, lost: int) -> float:
    """Two-sided sign test of won against lost (ties left out): the chance of a split at least
    this uneven if the change made no difference, to three significant digits."""
    from scipy import stats

    p = 1.0 if won + lost == 0 else float(stats.binomtest(won, won + lost, 0.5).pvalue)
    return float(f"{p:.3g}")


def _targets(targets: tuple[Target, ...]) -> list[dict]:
    return [{"video": t.video, "start": t.start, "end": t.end} for t in targets]


def compare_runs(before: tuple[dict[str, dict], dict[str, dict]], queries: list[QueryOutcome],
                 clips: Iterable[ClipOutcome] = ()) -> dict:
    """This run against an earlier one (:func:`load_details`), query by query.

    Only queries in both runs with the same id, text and targets are paired; this run's others are
    listed as ``unpaired`` and the earlier run's missing now as ``dropped``. Over the paired
    answerable queries: p@1 before and now, its change with a 95% interval, the queries
    whose first answer became right (``won``) or wrong (``lost``) and a two-sided sign test of the
    two counts (8 won and 3 lost: p 0.23, a split that is common when nothing changed), MRR
    before and now; every query whose first right rank moved, and every no-answer query newly
    answered "no good match" or no longer. Clips are paired by id on their first right caption.
    """
    rows, clip_rows = before
    paired: list[tuple[dict, QueryOutcome]] = []
    unpaired: list[str] = []
    for o in queries:
        row = rows.get(o.query.id)
        if row is None or row["query"] != o.query.query or row["targets"] != _targets(o.query.targets):
            unpaired.append(o.query.id)
        else:
            paired.append((row, o))
    asked = {o.query.id for o in queries}
    ans = [(row, o) for row, o in paired if o.query.answerable]
    none = [(row, o) for row, o in paired if not o.query.answerable]
    won = [o.query.id for row, o in ans if row["rank"] != 1 and o.first_right == 1]
    lost = [o.query.id for row, o in ans if row["rank"] == 1 and o.first_right != 1]

    def reciprocal(rank: int | None) -> float:
        return 1.0 / rank if rank else 0.0

    mrr = ([reciprocal(row["rank"]) for row, _ in ans], [reciprocal(o.first_right) for _, o in ans])
    out: dict[str, Any] = {
        "paired": len(paired),
        "unpaired": unpaired,
        "dropped": [i for i in rows if i not in asked],
        "answers": {
            "n": len(ans),
            "p@1": _first_right_change([row["rank"] == 1 for row, _ in ans], [o.first_right == 1 for _, o in ans]),
            "won": won,
            "lost": lost,
            "sign_test_p": _sign_test(len(won), len(lost)),
            "mrr": _rounded({"before": float(np.mean(mrr[0])), "now": float(np.mean(mrr[1])),
                             "delta": float(np.mean(mrr[1]) - np.mean(mrr[0]))}) if ans else None,
        },
        "ranks_changed": [{"id": o.query.id, "query": o.query.query, "kind": o.query.kind,
                           "before": row["rank"], "now": o.first_right}
                          for row, o in ans if row["rank"] != o.first_right],
        "no_answer": {
            "n": len(none),
            "flagged": [sum(row["n_results"] == 0 for row, _ in none), sum(not o.results for _, o in none)],
            "newly_flagged": [o.query.id for row, o in none if row["n_results"] > 0 and not o.results],
            "no_longer_flagged": [o.query.id for row, o in none if row["n_results"] == 0 and o.results],
        },
    }
    clips = list(clips)
    if clips or clip_rows:
        clip_pairs = [(clip_rows[c.clip.id], c) for c in clips if c.clip.id in clip_rows]
        out["clips"] = {
            "n": len(clip_pairs),
            "unpaired": [c.clip.id for c in clips if c.clip.id not in clip_rows],
            "dropped": [i for i in clip_rows if i not in {c.clip.id for c in clips}],
            "caption_r@1": _first_right_change([row["caption_rank"] == 1 for row, _ in clip_pairs],
                                               [c.caption_rank == 1 for _, c in clip_pairs]),
            "won": [c.clip.id for row, c in clip_pairs if row["caption_rank"] != 1 and c.caption_rank == 1],
            "lost": [c.clip.id for row, c in clip_pairs if row["caption_rank"] == 1 and c.caption_rank != 1],
        }
    return out


# ----------------------------------------------------------------------------- scoring trims


def _overlap(spans: Iterable[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end) covered by the union of ``spans``."""
    covered, cur = 0.0, start
    for a, b in sorted(spans):
        lo, hi = max(a, cur), min(b, end)
        if hi > lo:
            covered += hi - lo
            cur = hi
    return covered


def score_removed(truth: list[RemovableSpan], removed: dict[str, list[tuple[float, float, str]]],
                  durations: dict[str, float], results: Iterable[Moment] = ()) -> dict:
    """Compare the spans a library removed with the spans that should go.

    ``removed``: library video path -> [(start, end, kind)]; ``durations``: path -> seconds;
    ``results``: every result returned to the queries (to count those inside listed spans).
    """
    def spans_of(video: str) -> list[RemovableSpan]:
        return [t for t in truth if video_matches(video, t.video)]

    found = 0
    missed = []
    for t in truth:
        got = [r for v, rs in removed.items() if video_matches(v, t.video) for r in rs]
        if any(abs(a - t.start) <= EDGE_SLACK_S and abs(b - t.end) <= EDGE_SLACK_S for a, b, _ in got):
            found += 1
        else:
            near = max(got, key=lambda r: iou(r[0], r[1], t.start, t.end), default=None)
            missed.append({"video": os.path.basename(t.video), "kind": t.kind, "start": t.start, "end": t.end,
                           "removed": None if near is None or iou(near[0], near[1], t.start, t.end) == 0
                           else [round(near[0], 2), round(near[1], 2)]})
    content = wrong = 0.0
    wrong_spans = []
    for video, duration in durations.items():
        listed = [(t.start, t.end) for t in spans_of(video)]
        content += duration - _overlap(listed, 0.0, duration)
        for a, b, kind in removed.get(video, []):
            extra = (b - a) - _overlap(listed, a, b)
            if extra > 0.05:
                wrong += extra
                wrong_spans.append({"video": os.path.basename(video), "kind": kind, "start": round(a, 2),
                                    "end": round(b, 2), "content_s": round(extra, 2)})
    results = list(results)
    inside = sum(_overlap([(t.start, t.end) for t in spans_of(m.video)], m.start, m.end) > 0.5 * (m.end - m.start)
                 for m in results if m.end > m.start)
    return {
        **_rounded({"listed": len(truth), "found": found / len(truth) if truth else None,
                    "content_removed": wrong / content if content else 0.0,
                    "results_inside": inside / len(results) if results else 0.0}),
        "content_removed_s": round(wrong, 2), "missed": missed, "wrongly_removed": wrong_spans,
    }


@dataclass
class EvalReport:
    """Everything ``vidsearch eval`` prints: summaries plus the per-query and per-clip details."""

    queries: list[QueryOutcome]
    k: int
    clips: list[ClipOutcome] = field(default_factory=list)
    index: dict | None = None
    removed: dict | None = None
    #: An earlier run's details (:func:`load_details`) to compare this one with.
    before: tuple[dict[str, dict], dict[str, dict]] | None = None

    def summary(self) -> dict:
        out = summarise(self.queries, self.k)
        if self.clips:
            out["clips"] = summarise_clips(self.clips)
        if self.before is not None:
            out["compare"] = compare_runs(self.before, self.queries, self.clips)
        if self.removed is not None:
            out["removed"] = self.removed
        if self.index is not None:
            out["index"] = self.index
        return out

    def details(self) -> list[dict]:
        """One JSON object per query (then per clip, ``"clip": true``), for diffing runs; each
        query's says how many results were asked for (``k``), which ranks depend on."""
        k = max(self.k, MIN_DEPTH)
        return [{**o.to_json(), "k": k} for o in self.queries] + [{"clip": True, **o.to_json()} for o in self.clips]
