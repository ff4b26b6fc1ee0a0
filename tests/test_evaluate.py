"""`vidsearch eval`: the metrics by hand-computed truth, file errors in one line, and a real run
over the fixture library (queries with known answers, a miss, a no-answer query, an altered clip)."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.altered_clips import make_altered_clip
from tests.conftest import ROOT
from vidsearch.app.cli._console import out
from vidsearch.app.cli.querying import _print_compare
from vidsearch.channels.fusion import SCORE_FORMULA
from vidsearch.query.evaluate import (
    ClipOutcome,
    EvalClip,
    EvalFileError,
    EvalQuery,
    EvalReport,
    QueryOutcome,
    RemovableSpan,
    Target,
    answer_metrics,
    auc,
    check_depth,
    check_videos,
    compare_runs,
    is_right,
    load_clips,
    load_details,
    load_queries,
    load_removable,
    query_videos,
    score_removed,
    summarise,
    video_matches,
)
from vidsearch.types import Moment


def moment(video: str, start: float, end: float, jump: float | None = None, score: float = 0.5,
           confidence: str | None = None) -> Moment:
    return Moment(video=f"/lib/{video}", video_id=1, segment_id=1, start=start, end=end,
                  jump=start if jump is None else jump, score=score, channels={}, snippet="", confidence=confidence)


def outcome(targets: list[Target], results: list[Moment], qid: str = "q", kind: str = "", lang: str = "") -> QueryOutcome:
    q = EvalQuery(qid, "text", tuple(targets), kind, lang)
    right = [next((i for i, t in enumerate(q.targets) if is_right(m, t)), None) for m in results]
    return QueryOutcome(q, results, right, 1.0)


def test_a_result_is_right_by_overlap_or_by_where_it_starts_playing():
    t = Target("a.mp4", 10.0, 14.0)
    assert is_right(moment("a.mp4", 10.0, 14.0), t)
    assert not is_right(moment("b.mp4", 10.0, 14.0), t)                 # another video
    assert is_right(moment("a.mp4", 12.0, 16.0, jump=16.0), t)          # IoU 2/6 = 0.33, whatever the jump
    assert not is_right(moment("a.mp4", 12.0, 18.0, jump=15.5), t)      # IoU 2/8 = 0.25, jump past 14 + 1
    # a long moment (IoU 4/30) that starts playing inside the target +- 1 s
    assert is_right(moment("a.mp4", 0.0, 30.0, jump=14.9), t)
    assert is_right(moment("a.mp4", 0.0, 30.0, jump=9.0), t)
    assert not is_right(moment("a.mp4", 0.0, 30.0, jump=15.1), t)
    assert not is_right(moment("a.mp4", 0.0, 30.0, jump=8.9), t)


def test_metrics_by_hand():
    ta, tb = Target("a.mp4", 0.0, 5.0), Target("b.mp4", 20.0, 25.0)
    hit_a, hit_b = moment("a.mp4", 0.0, 5.0, confidence="medium"), moment("b.mp4", 20.0, 25.0)
    miss = moment("c.mp4", 0.0, 5.0, confidence="low")
    outcomes = [
        outcome([ta], [hit_a, miss], kind="x", lang="en"),                 # rank 1
        outcome([ta], [miss, miss, hit_a], kind="x", lang="zh"),           # rank 3
        outcome([ta, tb], [hit_a, hit_a, miss, miss, miss, hit_b], kind="y", lang="zh"),  # two targets
        outcome([ta], [miss] * 10, kind="y", lang="en"),                   # not found
        outcome([], [moment("a.mp4", 0, 5, score=0.2)], kind="none"),      # no answer, answered anyway
        outcome([], []),                                                   # no answer, flagged
    ]
    m = answer_metrics(outcomes)
    assert m["n"] == 4
    assert m["p@1"] == 0.5                                       # ranks 1, 3, 1, none
    assert m["r@5"] == round((1 + 1 + 0.5 + 0) / 4, 3)          # b found at rank 6 only
    assert m["r@10"] == round((1 + 1 + 1 + 0) / 4, 3)
    assert m["mrr"] == round((1 + 1 / 3 + 1 + 0) / 4, 3)
    # nDCG@10: [1], [1/log2(4)], two targets: hits at 1 and 6 (the repeat at 2 gains nothing) over 1 + 1/log2(3)
    ndcg3 = (1 + 1 / math.log2(7)) / (1 + 1 / math.log2(3))
    assert m["ndcg@10"] == round((1 + 1 / math.log2(4) + ndcg3 + 0) / 4, 3)
    assert m["jump_err"] == 0.0
    s = summarise(outcomes, 10)
    assert s["by_kind"]["x"]["p@1"] == 0.5 and s["by_kind"]["y"]["n"] == 2 and "none" not in s["by_kind"]
    assert s["by_lang"]["zh"]["mrr"] == round((1 / 3 + 1) / 2, 3)
    assert s["no_answer"]["n"] == 2 and s["no_answer"]["flagged"] == 0.5
    # right first answers (score 0.5, twice) against the no-answer top score 0.2: fully separable
    assert s["no_answer"]["auc"] == 1.0
    # first answers by level: the two right ones were labelled medium, the two wrong ones low
    assert s["levels"]["medium"] == {"n": 2, "right": 1.0} and s["levels"]["low"] == {"n": 2, "right": 0.0}
    assert s["levels"]["high"] == {"n": 0, "right": None} and s["right_first_low"]["share"] == 0.0


def test_auc_counts_ties_as_half():
    assert auc([0.9, 0.5], [0.5, 0.1]) == (2 + 1 + 0.5) / 4
    assert auc([], [0.1]) is None


def test_video_names_match_by_file_name_or_trailing_path():
    assert video_matches("/data/lib/shop/cat.mp4", "cat.mp4")
    assert video_matches("/data/lib/shop/cat.mp4", "shop/cat.mp4")
    assert not video_matches("/data/lib/shop/cat.mp4", "pets/cat.mp4")
    assert not video_matches("/data/lib/shop/bobcat.mp4", "cat.mp4")
    lib = ["/x/shop/cat.mp4", "/x/pets/cat.mp4", "/x/dog.mp4"]
    queries = [EvalQuery("q1", "t", (Target("dog.mp4", 0, 1),))]
    check_videos(query_videos(queries), lib, "q.jsonl")
    with pytest.raises(EvalFileError, match=r"q.jsonl: q2: targets\[0\].video 'cat.mp4' names 2 library videos"):
        check_videos(query_videos([EvalQuery("q2", "t", (Target("cat.mp4", 0, 1),))]), lib, "q.jsonl")
    with pytest.raises(EvalFileError, match="'bird.mp4' is not in the library"):
        check_videos(query_videos([EvalQuery("q3", "t", (Target("bird.mp4", 0, 1),))]), lib, "q.jsonl")


@pytest.mark.parametrize("line, message", [
    ('{"id": "b", "query": "x", "targets": [{"video": "a.mp4", "start": 1}]}', "targets[0].end missing"),
    ('{"id": "b", "query": "x"}', "targets missing"),
    ('{"id": "b", "targets": []}', "query missing"),
    ('{"id": "b", "query": "  ", "targets": []}', "query must be a non-empty string"),
    ('{"id": "b", "query": "x", "targets": [{"video": "a.mp4", "start": 3, "end": 2}]}', "targets[0].end (2.0) must be after start"),
    ('{"id": "b", "query": "x", "targets": [{"start": 1, "end": 2}]}', "targets[0].video missing"),
    ('{"id": "b", "query": "x", "targets": [{"video": "a.mp4", "start": "1", "end": 2}]}', "targets[0].start must be a number"),
    ('{"id": "a", "query": "x", "targets": []}', "id 'a' already used on line 1"),
    ('{"id": "b", "query": "x", "targets": {}}', "targets must be a list"),
    ('{"id": "b", "query": "x", "targets": [{"video": "a.mp4", "start": 1, "end": 2}, {"video": "a.mp4", "start": 1, "end": 2}]}',
     "targets[1] repeats an earlier target"),
    ('not json', "not JSON"),
])
def test_a_bad_query_line_is_named_and_nothing_is_scored(tmp_path, line, message):
    f = tmp_path / "q.jsonl"
    f.write_text('{"id": "a", "query": "ok", "targets": []}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(EvalFileError) as exc:
        load_queries(f)
    assert str(exc.value).startswith(f"{f}:3: {message}")
    assert "\n" not in str(exc.value)


def test_clip_file_lines_are_checked(tmp_path):
    (tmp_path / "c1.mp4").write_bytes(b"x")
    f = tmp_path / "clips.jsonl"
    f.write_text('{"id": "c1", "file": "c1.mp4", "source": {"video": "a.mp4", "start": 2.5}, "captions": ["p1"]}\n'
                 '{"id": "c2", "file": "gone.mp4", "source": {"video": "a.mp4", "start": 0}, "captions": ["p1"]}\n',
                 encoding="utf-8")
    with pytest.raises(EvalFileError, match=r"clips.jsonl:2: file .*gone.mp4 does not exist"):
        load_clips(f)
    f.write_text(f.read_text().splitlines()[0] + "\n", encoding="utf-8")
    (clip,) = load_clips(f)
    assert clip.file == tmp_path / "c1.mp4" and clip.source_start == 2.5 and clip.captions == ("p1",)


def run_cli(*args, check_rc: int = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="200")
    proc = subprocess.run([sys.executable, "-m", "vidsearch", *map(str, args)], capture_output=True, text=True, env=env)
    assert proc.returncode == check_rc, proc.stderr
    return proc


def test_eval_cli_rejects_a_bad_file_in_one_line_before_loading_anything(tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text('{"id": "a", "query": "ok", "targets": [{"video": "a.mp4", "start": 1}]}\n', encoding="utf-8")
    proc = run_cli("eval", "--db", tmp_path / "no-such-library", q, check_rc=2)
    assert proc.stderr.strip() == f"error: {q}:1: targets[0].end missing"
    q.write_text('{"id": "a", "query": "ok", "targets": []}\n', encoding="utf-8")
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text('{"id": "a", "query": "ok", "targets": []}\n', encoding="utf-8")  # a query file, not --out
    proc = run_cli("eval", "--db", tmp_path / "no-such-library", q, "--compare", earlier, check_rc=2)
    assert proc.stderr.strip() == f"error: {earlier}:1: not a query row of `eval --out` (rank missing)"


def test_eval_on_the_fixture_library(fixture_library, truth, tmp_path):
    """Four queries: two whose first answer is right (a spoken line, the cat scene), one whose
    target the first answer cannot be (its words are said in another video), one with no right
    answer; and one cropped, muted cut of the cat scene. Every number follows by hand from the
    ranks in the details file."""
    _, _, videos = fixture_library
    db = tmp_path / "db"
    shutil.copytree(fixture_library[0], db)
    weasels = next(u for u in truth["videos"]["rocket_launch.mp4"]["utterances"] if u["text"].startswith("Weasels"))
    cat = next(s for s in truth["videos"]["cat and yarn.mp4"]["shots"] if s["subject"] == "cat")
    lines = [
        {"id": "said", "query": "weasels ate our telephone system", "kind": "speech", "lang": "en",
         "targets": [{"video": "rocket_launch.mp4", "start": weasels["start"], "end": weasels["end"]}]},
        {"id": "seen", "query": "猫咪玩毛线球", "kind": "visual", "lang": "zh",
         "targets": [{"video": "cat and yarn.mp4", "start": cat["start"], "end": cat["end"]}]},
        {"id": "miss", "query": "Please hold while we try to connect you", "kind": "speech", "lang": "en",
         "targets": [{"video": "cat and yarn.mp4", "start": cat["start"], "end": cat["end"]}]},
        {"id": "nothing", "query": "quantum chromodynamics lecture", "kind": "none", "lang": "en", "targets": []},
    ]
    q = tmp_path / "queries.jsonl"
    q.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    make_altered_clip(videos / "cat and yarn.mp4", tmp_path / "cat cut.mp4", 4.0, 5.0, crop=0.05, mute=True)
    clips = tmp_path / "clips.jsonl"
    clips.write_text(json.dumps({"id": "c1", "file": "cat cut.mp4", "source": {"video": "cat and yarn.mp4", "start": 4.0},
                                 "captions": ["pet-001", "pet-002", "pet-003"]}) + "\n", encoding="utf-8")
    # An earlier run, as its --out file would hold it: the spoken line's answer was third, the
    # visual query was asked in other words, "miss" was not asked, the no-answer query got two
    # answers and the cut's captions were all wrong.
    earlier = [{**lines[0], "rank": 3, "n_results": 10}, {**lines[1], "query": "一只猫", "rank": 1, "n_results": 10},
               {**lines[3], "rank": None, "n_results": 2},
               {"clip": True, "id": "c1", "caption_rank": None}]
    before = tmp_path / "before.jsonl"
    before.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in earlier), encoding="utf-8")
    details = tmp_path / "details.jsonl"
    proc = run_cli("eval", "--db", db, q, "-k", "3", "--clips", clips, "--json", "--out", details,
                   "--captions", ROOT / "fixtures" / "captions" / "captions.jsonl", "--compare", before)
    report = json.loads(proc.stdout)
    rows = {r["id"]: r for r in map(json.loads, details.read_text(encoding="utf-8").splitlines())}

    assert report["k"] == 10 and rows["said"]["n_results"] >= 1  # -k 3 still asks for 10: r@10 needs them
    assert [rows[i]["rank"] for i in ("said", "seen")] == [1, 1]
    assert Path(rows["miss"]["top"][0]["video"]).name == "rocket_launch.mp4"
    r = rows["miss"]["rank"]                                     # wherever the cat shot came, if at all
    assert r != 1
    overall = report["overall"]
    assert overall["n"] == 3 and overall["p@1"] == 0.667
    assert overall["mrr"] == round((1 + 1 + (1 / r if r else 0)) / 3, 3)
    assert overall["r@5"] == round((2 + bool(r and r <= 5)) / 3, 3)
    assert overall["r@10"] == round((2 + bool(r)) / 3, 3)
    assert overall["ndcg@10"] == round((2 + (1 / math.log2(r + 1) if r else 0)) / 3, 3)
    assert report["by_kind"]["speech"]["p@1"] == 0.5 and report["by_kind"]["visual"]["p@1"] == 1.0
    assert report["by_lang"]["zh"]["n"] == 1 and report["by_lang"]["en"]["p@1"] == 0.5
    # jump: the first word of the matching line, within Whisper's word-time error of the truth
    assert abs(rows["said"]["top"][0]["jump"] - weasels["start"]) < 0.8
    na = report["no_answer"]
    assert na["n"] == 1 and na["flagged"] == 1.0                # answered "no good match"
    tops = [rows["said"]["top_score"], rows["seen"]["top_score"]]
    none_top = rows["nothing"]["top_score"] or 0.0  # nothing returned: scores 0
    assert na["auc"] == round(sum((t > none_top) + 0.5 * (t == none_top) for t in tops) / 2, 3)
    # the whole ranking ("show weaker matches") holds at least what was shown, and the library's
    # thresholds are reported beside the ones these first answers would fit
    assert report["whole_ranking"]["n"] == 3 and report["whole_ranking"]["r@10"] >= overall["r@10"]
    assert set(report["thresholds"]) >= {"high", "medium", "low"}
    fitted = report["fitted_thresholds"]
    assert fitted is not None and fitted["low"] <= fitted["medium"] <= fitted["high"]
    assert fitted["score"] == SCORE_FORMULA  # what confidence.json needs to use them
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"]

    c = report["clips"]
    assert c["n"] == 1 and c["source_found"] == 1.0 and c["false_sources"] == [] and c["errors"] == []
    clip_row = rows["c1"]
    assert clip_row["clip"] and clip_row["caption_rank"] == 1 and clip_row["captions"][0].startswith("pet-")
    assert c["caption_r@1"] == 1.0 and c["caption_mrr"] == 1.0

    # against the earlier run: only "said" and "nothing" are the same questions
    cmp = report["compare"]
    assert cmp["paired"] == 2 and cmp["unpaired"] == ["seen", "miss"] and cmp["dropped"] == []
    assert cmp["answers"]["won"] == ["said"] and cmp["answers"]["lost"] == []
    p1 = cmp["answers"]["p@1"]
    assert (p1["before"], p1["now"], p1["delta"]) == (0.0, 1.0, 1.0) and p1["interval95"][0] < 0  # one query: no evidence
    assert cmp["ranks_changed"] == [{"id": "said", "query": lines[0]["query"], "kind": "speech", "before": 3, "now": 1}]
    assert cmp["no_answer"] == {"n": 1, "flagged": [0, 1], "newly_flagged": ["nothing"], "no_longer_flagged": []}
    assert cmp["clips"]["won"] == ["c1"] and cmp["clips"]["caption_r@1"]["delta"] == 1.0
    assert json.loads(details.read_text(encoding="utf-8").splitlines()[0])["k"] == 10
    assert not details.with_name(details.name + ".partial").exists()


def test_eval_cli_names_a_target_video_the_library_does_not_hold(fixture_library, tmp_path):
    db, _, _ = fixture_library
    q = tmp_path / "q.jsonl"
    q.write_text('{"id": "x1", "query": "ok", "targets": [{"video": "holiday.mp4", "start": 0, "end": 2}]}\n',
                 encoding="utf-8")
    proc = run_cli("eval", "--db", db, q, check_rc=2)
    assert proc.stderr.strip() == f"error: {q}: x1: targets[0].video 'holiday.mp4' is not in the library"


def test_trimming_is_scored_against_the_spans_to_cut(tmp_path):
    truth = [RemovableSpan("a.mp4", 0.0, 3.0, "intro"), RemovableSpan("a.mp4", 27.0, 30.0, "outro"),
             RemovableSpan("b.mp4", 0.0, 3.0, "intro")]
    removed = {"/lib/a.mp4": [(0.2, 2.9, "bumper-intro")],                      # found: edges 0.2 / 0.1 off
               "/lib/b.mp4": [(0.7, 2.8, "bumper-intro"), (18.0, 20.0, "frozen-tail")]}  # intro 0.7 off; 2 s of content
    durations = {"/lib/a.mp4": 30.0, "/lib/b.mp4": 20.0}
    results = [moment("a.mp4", 27.5, 30.0), moment("a.mp4", 5.0, 9.0), moment("b.mp4", 2.0, 6.0),
               moment("b.mp4", 1.0, 4.0)]                                       # 1st and 4th mostly inside
    r = score_removed(truth, removed, durations, results)
    assert r["listed"] == 3 and r["found"] == round(1 / 3, 3)
    assert {(m["video"], m["kind"]) for m in r["missed"]} == {("a.mp4", "outro"), ("b.mp4", "intro")}
    assert next(m for m in r["missed"] if m["kind"] == "intro")["removed"] == [0.7, 2.8]
    # content: (30 - 6) + (20 - 3) = 41 s; removed outside the listed spans: b's 2 s frozen tail
    assert r["content_removed_s"] == 2.0 and r["content_removed"] == round(2 / 41, 3)
    assert r["wrongly_removed"] == [{"video": "b.mp4", "kind": "frozen-tail", "start": 18.0, "end": 20.0, "content_s": 2.0}]
    assert r["results_inside"] == 0.5
    f = tmp_path / "spans.jsonl"
    f.write_text('{"video": "a.mp4", "start": 0, "end": 3, "kind": "intro"}\n{"video": "a.mp4", "start": 5}\n')
    with pytest.raises(EvalFileError, match=r"spans.jsonl:2: span.end missing"):
        load_removable(f)


def test_one_result_is_credited_with_one_target_and_jump_error_is_a_median():
    """A long result covering two targets counts once (recall and nDCG agree); the jump error is
    the median over queries of the first right result's distance to its target's start."""
    ta, tb = Target("a.mp4", 0.0, 4.0), Target("a.mp4", 4.0, 8.0)
    both = moment("a.mp4", 0.0, 8.0, jump=4.5)                # IoU 0.5 with each target
    o = outcome([ta, tb], [both, moment("a.mp4", 0.0, 4.0, jump=1.0)])
    assert o.credit == [0, None]                               # the second result is right for ta, already taken
    assert o.recall(1) == 0.5 and o.recall(10) == 0.5
    assert o.ndcg(10) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert o.jump_error() == 4.5                               # 4.5 - ta.start
    errs = [outcome([Target("a.mp4", 10.0, 14.0)], [moment("a.mp4", 10.0, 14.0, jump=10.0 + e)]) for e in (0.2, 0.9, 3.5)]
    assert answer_metrics(errs)["jump_err"] == 0.9             # median, not mean (1.53)


def test_two_runs_are_compared_query_by_query_with_an_interval_and_a_sign_test():
    """Won, lost and moved ranks by hand; queries asked or judged differently are not paired; the
    interval of the p@1 change agrees with the sign test: one won against one lost is no evidence;
    of 159 queries, four won and none lost is not quite (p 0.125), six and none is (p 0.031)."""
    t = [Target("a.mp4", 10.0, 14.0)]
    right, wrong = moment("a.mp4", 10.0, 14.0), moment("b.mp4", 0.0, 5.0)
    now = [outcome(t, [right], "won"), outcome(t, [wrong, wrong, right], "lost"), outcome(t, [right], "same"),
           outcome(t, [right], "reworded"), outcome(t, [right], "retimed"), outcome(t, [right], "new"),
           outcome([], [], "flagged now"), outcome([], [wrong], "answered now")]
    target = [{"video": "a.mp4", "start": 10.0, "end": 14.0}]
    rows = {r["id"]: {"query": "text", "targets": target, "n_results": 1, **r}
            for r in ({"id": "won", "rank": 2}, {"id": "lost", "rank": 1}, {"id": "same", "rank": 1},
                      {"id": "reworded", "rank": 1, "query": "other text"},
                      {"id": "retimed", "rank": None, "targets": [{"video": "a.mp4", "start": 50.0, "end": 60.0}]},
                      {"id": "gone", "rank": 1},
                      {"id": "flagged now", "rank": None, "targets": [], "n_results": 3},
                      {"id": "answered now", "rank": None, "targets": [], "n_results": 0})}
    c = compare_runs((rows, {}), now)
    assert c["paired"] == 5 and c["unpaired"] == ["reworded", "retimed", "new"] and c["dropped"] == ["gone"]
    a = c["answers"]
    assert a["n"] == 3 and a["won"] == ["won"] and a["lost"] == ["lost"] and a["sign_test_p"] == 1.0
    assert a["p@1"]["before"] == a["p@1"]["now"] == 0.667 and a["p@1"]["delta"] == 0.0
    low, high = a["p@1"]["interval95"]
    assert -1.0 <= low < 0.0 < high <= 1.0
    assert a["mrr"] == {"before": round((0.5 + 1 + 1) / 3, 3), "now": round((1 + 1 / 3 + 1) / 3, 3),
                        "delta": round((1 + 1 / 3 + 1) / 3 - (0.5 + 1 + 1) / 3, 3)}
    assert [(r["id"], r["before"], r["now"]) for r in c["ranks_changed"]] == [("won", 2, 1), ("lost", 1, 3)]
    assert c["no_answer"] == {"n": 2, "flagged": [1, 1], "newly_flagged": ["flagged now"],
                              "no_longer_flagged": ["answered now"]}
    assert "clips" not in c

    def on_159(won: int) -> dict:
        """159 answerable queries, 120 right before and now, ``won`` more right now only."""
        kept = [outcome(t, [right], f"r{i}") for i in range(120)]
        gained = [outcome(t, [right], f"w{i}") for i in range(won)]
        missed = [outcome(t, [wrong], f"m{i}") for i in range(39 - won)]
        earlier = {o.query.id: {"query": "text", "targets": target, "rank": 1 if o in kept else None, "n_results": 1}
                   for o in kept + gained + missed}
        return compare_runs((earlier, {}), kept + gained + missed)["answers"]

    four, six = on_159(4), on_159(6)
    assert four["sign_test_p"] == 0.125 and four["p@1"]["interval95"] == [-0.004, 0.056]
    assert six["sign_test_p"] == 0.0312 and six["p@1"]["interval95"] == [0.005, 0.073]
    assert on_159(0)["p@1"]["interval95"] == [-0.017, 0.017]  # nothing moved: the sample's own spread


def test_a_run_compared_with_its_own_details_file_changes_nothing(tmp_path):
    """What --out writes is what --compare reads: every query and clip pairs, nothing moves."""
    t = [Target("a.mp4", 10.0, 14.0)]
    runs = [outcome(t, [moment("a.mp4", 10.0, 14.0)], "q1", "speech", "en"),
            outcome(t, [moment("b.mp4", 0.0, 5.0)], "q2"), outcome([], [], "q3")]
    clip = ClipOutcome(EvalClip("c1", tmp_path / "c1.mp4", "a.mp4", 10.0, ("cap-1",)), ["cap-2", "cap-1"], [], 5.0)
    report = EvalReport(runs, 10, [clip])
    f = tmp_path / "details.jsonl"
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in report.details()), encoding="utf-8")
    before = load_details(f)
    check_depth(before, 3, f)  # -k 3 still asks for 10
    with pytest.raises(EvalFileError, match="that run asked for 10 results per query, this one for 20"):
        check_depth(before, 20, f)
    c = compare_runs(before, runs, [clip])
    assert c["paired"] == 3 and c["unpaired"] == c["dropped"] == [] and c["ranks_changed"] == []
    p1 = c["answers"]["p@1"]
    assert (p1["before"], p1["now"], p1["delta"]) == (0.5, 0.5, 0.0) and p1["interval95"][0] == -p1["interval95"][1] < 0
    assert c["clips"]["n"] == 1 and c["clips"]["won"] == c["clips"]["lost"] == []
    with out.capture() as captured:
        _print_compare(c)
    lines = captured.get().splitlines()
    assert lines[0] == "against the earlier run: 3 queries paired"
    assert lines[1] == (f"  p@1 0.500 -> 0.500 (+0.000; 95% interval {p1['interval95'][0]:+.3f} to "
                        f"{p1['interval95'][1]:+.3f}); won 0, lost 0 (sign test p 1)")


@pytest.mark.parametrize("line, message", [
    ('{"id": "q1", "query": "x", "targets": []}', "not a query row of `eval --out` (rank missing)"),
    ('{"id": "q1", "query": "x", "targets": [], "rank": "1", "n_results": 1}', "rank, n_results, targets or k malformed"),
    ('{"id": "q1", "query": "x", "targets": [], "rank": null, "n_results": -1}', "rank, n_results, targets or k malformed"),
    ('{"clip": true, "id": "c1"}', "not a clip row of `eval --out`"),
    ('{"id": "q0", "query": "y", "targets": [], "rank": null, "n_results": 0}', "query id 'q0' repeated"),
    ('{"id": "q1", "query": "x", "targets": [], "rank": null, "n_results": 0, "k": 0}', "targets or k malformed"),
    ('[1, 2]', "a line must be one JSON object"),
])
def test_an_earlier_run_that_is_not_an_out_file_is_named_by_line(tmp_path, line, message):
    f = tmp_path / "before.jsonl"
    f.write_text('{"id": "q0", "query": "y", "targets": [], "rank": null, "n_results": 0}\n' + line + "\n",
                 encoding="utf-8")
    with pytest.raises(EvalFileError) as exc:
        load_details(f)
    assert str(exc.value).startswith(f"{f}:2: ") and message in str(exc.value)


def test_an_earlier_run_without_query_rows_is_refused(tmp_path):
    f = tmp_path / "before.jsonl"
    f.write_text("", encoding="utf-8")  # what an interrupted run used to leave
    with pytest.raises(EvalFileError, match=r"before.jsonl: no query rows of `eval --out` in it"):
        load_details(f)
