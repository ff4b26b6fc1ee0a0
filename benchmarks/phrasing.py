"""How much the answers depend on how a query is phrased rather than on what it asks.

Every query of a query file (``vidsearch eval``'s format) is rewritten the same way, the library
answers each rewritten set in this process, and the table gives first-answer precision (the
answers a user is shown) as written and rewritten, with the queries won and lost. The rewrites
are generic (a request framing, capitals, Traditional characters, numbers written the other way,
a typo), never tied to a query's content, so a gain here is a gain on queries written by someone
else.

    .venv/bin/python benchmarks/phrasing.py --db benchmarks/results/quality-db \\
        benchmarks/quality/library/queries.jsonl

Takes about a minute on 2 cores for the benchmark's 180 queries and seventeen rewrites.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vidsearch.query.evaluate import EvalQuery, load_queries, run_queries  # noqa: E402
from vidsearch.query.search import Searcher  # noqa: E402
from vidsearch.store.library import Library  # noqa: E402

_HAN = re.compile(r"[\u4e00-\u9fff]")


def _chinese(q: str) -> bool:
    return bool(_HAN.search(q))


def _traditional(q: str) -> str:
    from opencc import OpenCC

    return OpenCC("s2t").convert(q)


def _numbers(direction: str) -> Callable[[str], str]:
    """A Chinese query's numbers written the other way (``cn2an``): digits as Chinese numerals
    ("an2cn": ``5斤装`` -> ``五斤装``, ``199`` -> ``一百九十九``) or Chinese numerals as digits ("cn2an":
    ``买二送一`` -> ``买2送1``, ``一只狗`` -> ``1只狗``)."""
    import cn2an

    return lambda q: str(cn2an.transform(q, direction)) if _chinese(q) else q


def _typo(seed: int) -> Callable[[str], str]:
    """Two neighbouring letters swapped inside one English word of five letters or more."""
    rng = random.Random(seed)

    def rewrite(q: str) -> str:
        words = q.split(" ")
        long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if _chinese(q) or not long:
            return q
        i = rng.choice(long)
        w = words[i]
        j = rng.randrange(1, len(w) - 1)
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        return " ".join(words)
    return rewrite


def _where_it_is(q: EvalQuery) -> str:
    """Who says it or where it is written, by the query's kind: "someone says ..." for speech,
    "the screen shows ..." for on-screen text (other kinds as written)."""
    if q.kind.startswith("speech"):
        return f"有人说{q.query}" if _chinese(q.query) else f"someone says {q.query}"
    if q.kind == "text-shown":
        return f"屏幕上写着{q.query}" if _chinese(q.query) else f"the screen shows {q.query}"
    return q.query


REWRITES: dict[str, Callable[[str], str]] = {
    '"find the part where ..." / "我想找...的片段"':
        lambda q: f"我想找{q}的片段" if _chinese(q) else f"find the part where {q}",
    '"show me ..." / "视频里...的画面"': lambda q: f"视频里{q}的画面" if _chinese(q) else f"show me {q}",
    '"the moment ..." / "找一下..."': lambda q: f"找一下{q}" if _chinese(q) else f"the moment {q}",
    '"I\'m looking for ..." / "我在找..."': lambda q: f"我在找{q}" if _chinese(q) else f"I'm looking for {q}",
    '"is there a video where ..." / "有没有...的视频"':
        lambda q: f"有没有{q}的视频" if _chinese(q) else f"is there a video where {q}",
    '"... video" / "...视频"': lambda q: q + "视频" if _chinese(q) else q + " video",
    "in quotes": lambda q: f"“{q}”" if _chinese(q) else f'"{q}"',
    "all in capitals": lambda q: q.upper(),
    "as hashtags (# before every word)": lambda q: " ".join("#" + w for w in q.split()),
    "Title Case": lambda q: q.title(),
    "a question mark": lambda q: q + ("？" if _chinese(q) else "?"),
    "Chinese in Traditional characters": _traditional,
    "a typo in one English word": _typo(7),
    "a space between Chinese characters": lambda q: " ".join(q) if _chinese(q) else q,
    "Chinese: digits in Chinese numerals": _numbers("an2cn"),
    "Chinese: Chinese numerals in digits": _numbers("cn2an"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("queries", type=Path)
    ap.add_argument("--db", type=Path, required=True)
    args = ap.parse_args()
    queries = load_queries(args.queries)
    with Library.open(args.db, readonly=True) as library:
        searcher = Searcher(library)
        low = searcher.thresholds.low

        def ask(qs: list[EvalQuery]) -> dict[str, int | None]:
            outcomes = run_queries(lambda q, n: searcher.search(q, n, min_confidence="any"), qs, 10, low=low)
            return {o.query.id: o.first_right for o in outcomes if o.query.answerable}

        written = ask(queries)
        p_written = sum(r == 1 for r in written.values()) / len(written)
        print("| rewrite | queries changed | p@1 as written | p@1 rewritten | won | lost |")
        print("|---|---|---|---|---|---|")
        rewrites: dict[str, Callable[[EvalQuery], str]] = {
            name: (lambda q, f=f: f(q.query)) for name, f in REWRITES.items()}
        rewrites['"someone says ..." / "the screen shows ..." (by kind)'] = _where_it_is
        for name, rewrite in rewrites.items():
            rewritten = [replace(q, query=rewrite(q)) for q in queries]
            changed = sum(a.query != b.query for a, b in zip(queries, rewritten) if a.answerable)
            got = ask(rewritten)
            won = sum(written[i] != 1 and got[i] == 1 for i in written)
            lost = sum(written[i] == 1 and got[i] != 1 for i in written)
            p = sum(r == 1 for r in got.values()) / len(got)
            print(f"| {name} | {changed} | {p_written:.3f} | {p:.3f} | {won} | {lost} |", flush=True)


if __name__ == "__main__":
    main()
