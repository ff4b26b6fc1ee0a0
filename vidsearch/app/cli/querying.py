"""`search`, `match-clip` and `eval`: the commands that ask a library (read-only) by text or by query video."""
from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from vidsearch.app.cli import config
from vidsearch.app.cli._console import (
    app,
    err,
    fail,
    open_library,
    out,
    print_json,
    print_notes,
    quiet_third_party,
)
from vidsearch.app.cli._options import DbOption, JsonOption, PresetOption
from vidsearch.app.cli.captions import read_captions_input, store_captions
from vidsearch.app.cli.indexing import build_request, index_into
from vidsearch.text.clock import clock, length, span


def _weight_overrides(weights: str | None) -> dict[str, float] | None:
    """``--weights`` as per-channel overrides; a malformed one exits 2 before the library is opened."""
    from vidsearch.channels.fusion import WeightsError, parse_weights

    try:
        return parse_weights(weights)
    except WeightsError as exc:
        fail(str(exc), 2)


@app.command()
def search(
    query: Annotated[str, typer.Argument(metavar="QUERY", help="What to look for, in any language, e.g. '猫咪玩毛线球' or 'rocket launch'.")],
    db: DbOption,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=config.MAX_K, help="Number of moments to return.")] = config.DEFAULT_K,
    preset: PresetOption = None,
    weights: Annotated[Optional[str], typer.Option(help="Per-channel weights overriding the preset, e.g. speech=1,ocr=0.5 (`vidsearch doctor` lists the channels). A channel no text can meet, like 'audio', only matters for clip queries.")] = None,
    min_confidence: Annotated[Optional[str], typer.Option("--min-confidence", metavar="LEVEL", help="Leave out answers below this level: high (almost certainly right), medium (probably) or low (related at best; the default). When nothing reaches it the answer is 'no good match'. 'any' shows the whole ranking, weaker matches included.")] = None,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many moments of the ranking (the next page starts at the moments already shown).")] = 0,
    video_id: Annotated[Optional[list[int]], typer.Option("--video-id", metavar="ID", help="Only this video (repeatable; `vidsearch info --json` lists the ids).")] = None,
    folder: Annotated[Optional[str], typer.Option(metavar="FOLDER", help="Only videos in a folder of this name (relative, e.g. cats or 2024/cats) or under this absolute folder.")] = None,
    min_duration: Annotated[Optional[float], typer.Option("--min-duration", metavar="S", min=0, help="Only videos at least this many seconds long.")] = None,
    max_duration: Annotated[Optional[float], typer.Option("--max-duration", metavar="S", min=0, help="Only videos at most this many seconds long.")] = None,
    language: Annotated[Optional[str], typer.Option(metavar="LANG", help="Only videos whose main spoken language is this (zh, en).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Search the library by text; prints moments best first with start, end, jump and confidence."""
    quiet_third_party()
    from vidsearch.channels.fusion import WeightsError
    from vidsearch.models.text_encoders import EncoderUnavailable
    from vidsearch.query.confidence import NO_GOOD_MATCH, parse_level
    from vidsearch.query.filters import SearchFilter
    from vidsearch.query.search import Searcher

    overrides = _weight_overrides(weights)
    try:
        level = parse_level(min_confidence)
        where = SearchFilter.of(video_ids=video_id, folder=folder, min_duration=min_duration,
                                max_duration=max_duration, language=language)
    except ValueError as exc:
        fail(str(exc), 2)
    with open_library(db) as library:
        try:
            searcher = Searcher(library)
            moments = searcher.search(query, k, preset=preset, weights=overrides, min_confidence=level,
                                      where=where, offset=offset)
        except (WeightsError, ValueError, EncoderUnavailable) as exc:
            fail(str(exc), 2)
        notes = searcher.search_notes(overrides, preset, where, answered=bool(moments))
    print_notes(searcher.notes)
    print_notes(notes)
    if as_json:
        body: dict[str, object] = {"query": query, "results": [m.to_json() for m in moments]}
        if not moments:
            body["note"] = NO_GOOD_MATCH
        print_json(body)
        return
    if not moments:
        out.print(NO_GOOD_MATCH)
        return
    table = Table(title=f"{query}", show_lines=False)
    for col in ("#", "video", "start", "end", "jump", "score", "confidence", "snippet"):
        table.add_column(col, overflow="fold")
    for i, m in enumerate(moments, offset + 1):
        table.add_row(str(i), Path(m.video).name, clock(m.start), clock(m.end), clock(m.jump), f"{m.score:.3f}",
                      m.confidence or "", m.snippet)
    out.print(table)


@app.command("match-clip")
def match_clip(
    video: Annotated[Path, typer.Argument(metavar="CLIP", help="A short video clip (a phone recording, a re-encoded cut, a product shot), or a photo (a one-frame query: its tags, on-screen text and CLIP when the library has it).")],
    db: DbOption,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=config.MAX_K, help="Number of captions and of moments to return.")] = config.DEFAULT_K,
    preset: PresetOption = None,
    weights: Annotated[Optional[str], typer.Option(help="Per-channel weights overriding the preset for the moments, e.g. visual=1,audio=0.5 (`vidsearch doctor` lists the channels); for captions a channel is on when its weight is above 0.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Captions that describe a clip or a photo, and library moments: where the clip was cut from (first), then look-alikes."""
    quiet_third_party()
    from vidsearch.channels.fusion import WeightsError
    from vidsearch.models.text_encoders import EncoderUnavailable
    from vidsearch.query.matchclip import QueryVideoMatcher
    from vidsearch.types import VideoError

    overrides = _weight_overrides(weights)
    with open_library(db) as library, QueryVideoMatcher(library) as matcher:
        try:
            with err.status(Text(f"reading {video.name}"), spinner="dots"):  # a [name] is not markup
                result = matcher.match(video, k, preset=preset, weights=overrides)
        except (VideoError, WeightsError, ValueError, EncoderUnavailable) as exc:
            fail(str(exc), 2)
        n_captions = len(matcher.captions)
        weight_notes = matcher.searcher.weight_notes(overrides, preset, text_query=False)
    print_notes(result.notes)
    print_notes(weight_notes)
    if as_json:
        print_json(result.to_json())
        return
    if not result.results:
        out.print("no captions" + ("" if n_captions else " (add some with `vidsearch captions add`)"))
    else:
        table = Table(title=f"captions for {video.name}")
        for col in ("#", "id", "score", "confidence", "text"):
            table.add_column(col, overflow="fold")
        for i, r in enumerate(result.results, 1):
            table.add_row(str(i), r.caption_id, f"{r.score:.3f}", r.confidence, r.text)
        out.print(table)
    table = Table(title="moments")
    for col in ("#", "match", "video", "start", "end", "score", "snippet"):
        table.add_column(col, overflow="fold")
    for i, m in enumerate(result.moments, 1):
        table.add_row(str(i), m.match or "", Path(m.video).name, clock(m.start), clock(m.end), f"{m.score:.3f}", m.snippet)
    out.print(table)


def _metric(v) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _print_eval(summary: dict) -> None:
    """The eval report as terminal tables."""
    cols = ("n", "p@1", "r@5", "r@10", "mrr", "ndcg@10", "jump_err")
    table = Table(title=f"answers (k={summary['k']}, {summary['queries']} queries)")
    table.add_column("queries", no_wrap=True)
    for c in cols:
        table.add_column(c if c != "jump_err" else "jump err s", justify="right")
    rows = [("all answerable", summary["overall"])]
    rows += [(f"kind: {k}", v) for k, v in summary["by_kind"].items()]
    rows += [(f"lang: {k}", v) for k, v in summary["by_lang"].items()]
    for label, m in rows:
        table.add_row(label, *(_metric(m.get(c)) for c in cols))
    out.print(table)
    na = summary["no_answer"]
    if na["n"]:
        out.print(f"no-answer queries: {na['n']}, flagged \"no good match\": {_metric(na['flagged'])}; "
                  f"their top score median {_metric(na['top_score_median'])} "
                  f"(p90 {_metric(na['top_score_p90'])}) vs right first answers' "
                  f"{_metric(na['right_top_score_median'])} (p10 {_metric(na['right_top_score_p10'])}); "
                  f"AUC {_metric(na['auc'])}", highlight=False, soft_wrap=True)
    lv = summary["levels"]
    out.print("first answers by confidence: " + ", ".join(
        f"{k} {lv[k]['n']} ({_metric(lv[k]['right'])} right)" for k in ("high", "medium", "low"))
        + f"; right first answers labelled low: {_metric(summary['right_first_low']['share'])}",
        highlight=False, soft_wrap=True)
    if summary["answerable_unanswered"]:
        out.print(f"answerable queries answered with nothing: {summary['answerable_unanswered']}", highlight=False)
    whole = summary.get("whole_ranking")
    if whole and whole.get("n"):
        out.print(f"the whole ranking (\"show weaker matches\"): p@1 {_metric(whole['p@1'])}, "
                  f"r@10 {_metric(whole['r@10'])}, mrr {_metric(whole['mrr'])}", highlight=False, soft_wrap=True)
    fitted = summary.get("fitted_thresholds")
    if fitted:
        out.print(f"confidence thresholds this benchmark fits: high {fitted['high']}, medium {fitted['medium']}, "
                  f"low {fitted['low']} (this library uses "
                  + ", ".join(f"{k} {v}" for k, v in summary["thresholds"].items()) + ")", highlight=False,
                  soft_wrap=True)
    lat = summary["latency_ms"]
    out.print(f"latency per query (warm, in process): p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
              f"max {lat['max']:.1f} ms", highlight=False)
    if "index" in summary:
        ix = summary["index"]
        out.print(f"indexing: {ix['indexed']} videos, {length(ix['media_seconds'])} of video in {length(ix['wall_seconds'])} "
                  f"({ix['x_real_time']:.1f}x real time), {ix['failed']} failed", highlight=False)
    if "removed" in summary:
        r = summary["removed"]
        out.print(f"trimming: {r['listed']} spans to cut, found {_metric(r['found'])} (edges within 0.3 s); content "
                  f"removed {_metric(r['content_removed'])} ({r['content_removed_s']:.1f} s); results inside spans "
                  f"to cut {_metric(r['results_inside'])}", highlight=False, soft_wrap=True)
        for m in r["missed"]:
            out.print(f"  missed {m['kind']}: {m['video']} {span(m['start'], m['end'])} (removed: {m['removed']})",
                      highlight=False, markup=False)
        for w in r["wrongly_removed"]:
            out.print(f"  content removed as {w['kind']}: {w['video']} {span(w['start'], w['end'])} "
                      f"({w['content_s']:.2f} s)", highlight=False, markup=False)
    if "clips" in summary:
        c = summary["clips"]
        out.print(f"clips: {c['n']}; captions r@1 {_metric(c['caption_r@1'])}, r@5 {_metric(c['caption_r@5'])}, "
                  f"mrr {_metric(c['caption_mrr'])}; source found {_metric(c['source_found'])}; "
                  f"false sources {len(c['false_sources'])}; p50 {c['latency_ms']['p50']:.0f} ms per clip",
                  highlight=False, soft_wrap=True)
        for f in c["false_sources"]:
            out.print(f"  false source: {f['id']} -> {f['video']} at {clock(f['start'])} (score {f['score']:.3f})",
                      highlight=False, markup=False)
        for e in c["errors"]:
            out.print(f"  clip error: {e['id']}: {e['error']}", highlight=False, markup=False)
    if "compare" in summary:
        _print_compare(summary["compare"])


def _print_compare(c: dict) -> None:
    """What changed against an earlier run."""
    def ids(xs: list[str]) -> str:
        return ", ".join(xs) if xs else "none"

    def rank(r: int | None) -> str:
        return "-" if r is None else str(r)

    say = partial(out.print, highlight=False, markup=False, soft_wrap=True)
    head = f"against the earlier run: {c['paired']} {'query' if c['paired'] == 1 else 'queries'} paired"
    if c["unpaired"]:
        head += f"; not paired (new, or asked or answered differently there): {ids(c['unpaired'])}"
    if c["dropped"]:
        head += f"; asked there, not now: {ids(c['dropped'])}"
    say(head)
    a = c["answers"]
    if a["n"]:
        say(f"  p@1 {_change(a['p@1'])}; won {len(a['won'])}, lost {len(a['lost'])} (sign test p {a['sign_test_p']:.3g})")
        say(f"  mrr {a['mrr']['before']:.3f} -> {a['mrr']['now']:.3f} ({a['mrr']['delta']:+.3f})")
        for r in c["ranks_changed"]:
            say(f"  {r['id']} {rank(r['before'])} -> {rank(r['now'])}: {r['query']}" + (f" ({r['kind']})" if r["kind"] else ""))
    na = c["no_answer"]
    if na["n"]:
        say(f"  no-answer flagged {na['flagged'][0]} -> {na['flagged'][1]} of {na['n']}; newly flagged: "
            f"{ids(na['newly_flagged'])}; no longer: {ids(na['no_longer_flagged'])}")
    if "clips" in c:
        cl = c["clips"]
        say(f"  captions r@1 {_change(cl['caption_r@1'])} over {cl['n']} clips; won: {ids(cl['won'])}; lost: "
            f"{ids(cl['lost'])}" + (f"; not paired: {ids(cl['unpaired'])}" if cl["unpaired"] else "")
            + (f"; there, not now: {ids(cl['dropped'])}" if cl["dropped"] else ""))


def _change(m: dict) -> str:
    """``before -> now (delta; 95% interval)`` of a share, or "-" when nothing was paired."""
    if m["delta"] is None:
        return "-"
    lo, hi = m["interval95"]
    return f"{m['before']:.3f} -> {m['now']:.3f} ({m['delta']:+.3f}; 95% interval {lo:+.3f} to {hi:+.3f})"


@app.command("eval")
def eval_(
    queries: Annotated[Path, typer.Argument(metavar="QUERIES.jsonl", help="One query per line: id, query, targets [{video, start, end}] ([] = no right answer), optional kind and lang.")],
    db: DbOption,
    clips: Annotated[Optional[Path], typer.Option("--clips", metavar="CLIPS.jsonl", help="Also score match-clip: one clip per line: id, file, source {video, start}, captions (a list of caption ids).")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=config.MAX_K, help="Results per query (recall and nDCG are counted within them).")] = config.DEFAULT_K,
    preset: PresetOption = None,
    weights: Annotated[Optional[str], typer.Option(help="Per-channel weights overriding the preset, e.g. speech=1,ocr=0.5 (`vidsearch doctor` lists the channels).")] = None,
    index_dir: Annotated[Optional[Path], typer.Option("--index", metavar="DIR", help="First index this folder into --db (default pipeline) and report the indexing time.")] = None,
    removable: Annotated[Optional[Path], typer.Option("--removed", metavar="SPANS.jsonl", help="Also check trimming: one span per line that should be cut ({video, start, end, kind}: recurring intros/outros, padding).")] = None,
    captions: Annotated[Optional[Path], typer.Option("--captions", metavar="FILE", help="Add these captions (JSONL or CSV, as `captions add`) to --db before scoring the clips.")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", metavar="FILE", help="Write per-query (and per-clip) details as JSON Lines: rank of the first right result, top 3, latency.")] = None,
    compare: Annotated[Optional[Path], typer.Option("--compare", metavar="FILE", help="An earlier run's --out file: report what changed query by query (won, lost, ranks moved), with a 95% interval of the p@1 change, a sign test, and MRR before and now.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score the library's answers against a query file with known right moments: precision@1,
    recall@5/@10, MRR, nDCG@10, localisation, no-answer queries, latency; by kind and language.
    A result is right when it is the target's video and its span overlaps the target with
    IoU >= 0.3, or its jump falls inside the target +- 1 s."""
    quiet_third_party()
    from vidsearch.channels.fusion import WeightsError, parse_weights, resolve_weights
    from vidsearch.ingest.indexer import collect_files
    from vidsearch.models.text_encoders import EncoderUnavailable
    from vidsearch.query.evaluate import (
        EvalFileError,
        EvalReport,
        check_depth,
        check_videos,
        clip_videos,
        load_clips,
        load_details,
        load_queries,
        load_removable,
        query_videos,
        run_clips,
        run_queries,
        score_removed,
    )
    from vidsearch.store.library import Library

    try:  # every file is checked before anything is indexed or scored
        qs = load_queries(queries)
        cuts = load_clips(clips) if clips is not None else []
        rs = load_removable(removable) if removable is not None else None
        before = load_details(compare) if compare is not None else None
        if before is not None and compare is not None:
            check_depth(before, k, compare)
        resolve_weights(preset, parse_weights(weights))
    except (EvalFileError, WeightsError) as exc:
        fail(str(exc), 2)
    caption_input = read_captions_input(captions) if captions is not None else None
    if caption_input is not None and cuts:
        known = {c.id for c in caption_input[0]}
        unknown = sorted({cid for c in cuts for cid in c.captions} - known)
        if unknown and Library.peek(db) is None:
            fail(f"{clips}: caption ids not in {captions}: {', '.join(unknown[:5])}", 2)
    # Names are checked before anything is written: the videos already in the library plus,
    # with --index, the files about to be indexed.
    expected = []
    if Library.peek(db) is not None:
        with open_library(db) as library:
            expected = [os.fsdecode(v.path) for v in library.videos() if v.status == "indexed"]
    if index_dir is not None:
        if not index_dir.is_dir():
            fail(f"{index_dir}: not a folder (--index)", 2)
        expected += [os.fsdecode(p) for p in collect_files([index_dir])[0]]  # paths as they will be indexed
    try:
        for named, source in ((query_videos(qs), queries), (clip_videos(cuts), clips),
                              ([(f"{r.video} {r.start}-{r.end}", r.video) for r in rs or []], removable)):
            check_videos(named, list(dict.fromkeys(expected)), str(source))
    except EvalFileError as exc:
        fail(str(exc), 2)
    # --out is written beside itself and renamed into place at the end, so a run that fails or
    # is stopped leaves the earlier details (what --compare reads) as they were.
    pending = out_file.with_name(out_file.name + ".partial") if out_file is not None else None
    if pending is not None:
        try:
            pending.write_bytes(b"")
            pending.unlink()
        except OSError as exc:
            fail(f"{out_file}: {exc.strerror or exc} (--out)", 2)
    index_summary = None
    if index_dir is not None:
        # The library's own settings (its profile), or the defaults for a new one.
        report = index_into(db, [index_dir], build_request(None, None, None, None, None, None, None, None))
        index_summary = {"indexed": len(report.indexed), "skipped": len(report.skipped), "failed": len(report.failed),
                         "media_seconds": round(report.media_seconds, 1), "wall_seconds": round(report.wall_seconds, 1),
                         "x_real_time": round(report.media_seconds / report.wall_seconds, 2) if report.wall_seconds else 0.0}
    if caption_input is not None:
        added = store_captions(db, *caption_input)
        err.print(f"captions: added {added['added']}, replaced {added['replaced']}, skipped {added['skipped']}",
                  highlight=False)
    overrides = _weight_overrides(weights)
    with open_library(db) as library:
        videos = [os.fsdecode(v.path) for v in library.videos() if v.status == "indexed"]
        try:  # again: a video named above may have failed to index
            for named, source in ((query_videos(qs), queries), (clip_videos(cuts), clips),
                                  ([(f"{r.video} {r.start}-{r.end}", r.video) for r in rs or []], removable)):
                check_videos(named, videos, str(source))
        except EvalFileError as exc:
            fail(str(exc), 2)
        if cuts:
            corpus = {c.id for c in library.captions()}
            unknown = sorted({cid for c in cuts for cid in c.captions} - corpus)
            if unknown:
                fail(f"{clips}: caption ids not in the library's corpus: {', '.join(unknown[:5])}", 2)
        from vidsearch.query.search import Searcher

        searcher = Searcher(library)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("queries", total=len(qs))
            try:
                outcomes = run_queries(
                    lambda q, n: searcher.search(q, n, preset=preset, weights=overrides, min_confidence="any"),
                    qs, k, progress=lambda _: bar.advance(task), low=searcher.thresholds.low)
            except EncoderUnavailable as exc:
                fail(str(exc), 2)
            cut_outcomes = []
            if cuts:
                from vidsearch.query.matchclip import QueryVideoMatcher

                with QueryVideoMatcher(library, searcher=searcher) as matcher:
                    task = bar.add_task("clips", total=len(cuts))
                    cut_outcomes = run_clips(lambda f, n: matcher.match(f, n, preset=preset, weights=overrides),
                                             cuts, k, progress=lambda _: bar.advance(task))
        removed_summary = None
        if rs is not None:
            live = [v for v in library.videos() if v.status == "indexed"]
            removed_summary = score_removed(
                rs, {os.fsdecode(v.path): [(s.start, s.end, s.kind) for s in library.removed_spans(v.id)] for v in live},
                {os.fsdecode(v.path): v.duration or 0.0 for v in live}, [m for o in outcomes for m in o.results])
    print_notes(searcher.notes)
    result = EvalReport(outcomes, k, cut_outcomes, index_summary, removed_summary, before)
    summary = result.summary()
    summary["thresholds"] = searcher.thresholds.to_json()  # what the answers above were cut with
    if out_file is not None and pending is not None:
        try:
            pending.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in result.details()),
                               encoding="utf-8")
            os.replace(pending, out_file)
        except OSError as exc:
            fail(f"{out_file}: {exc.strerror or exc} (--out)", 2)
    if as_json:
        print_json(summary)
    else:
        _print_eval(summary)


