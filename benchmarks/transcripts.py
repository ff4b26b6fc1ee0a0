"""How well Whisper hears the quality benchmark's spoken lines, line by line.

Every video of the benchmark library (``make eval-data``) is transcribed the way indexing does it
(:class:`vidsearch.models.whisper.Transcriber`: VAD chunks, windows, the expected languages), and
each spoken line of the ground truth is compared with what was heard over its time: the character
error rate for Mandarin lines (punctuation and spaces aside), the word error rate for English ones
(lower case, punctuation aside), both with jiwer and capped at 1 per line so that one line of
gibberish weighs as one wrong line. It also counts the lines that gave nothing, the Mandarin
lines not written in Chinese characters (romanised or another script), which no Chinese query can
find, and what was heard where no line is spoken (over music, noise or silence: invented).

    .venv/bin/python benchmarks/transcripts.py --out after.json --compare before.json
    .venv/bin/python benchmarks/transcripts.py --whisper small      # another faster-whisper model

``--compare`` lists the lines whose transcript changed since an earlier ``--out`` file (decoding
is deterministic, so only a change of code, model, CTranslate2 version, compute type or device
moves a line). Takes about 1.5 minutes on 2 cores (the benchmark's 62 lines in 16 spoken videos,
18 videos in all).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import jiwer  # noqa: E402

from vidsearch.media.audio import analyse, load_audio  # noqa: E402
from vidsearch.media.probe import probe  # noqa: E402
from vidsearch.models.whisper import Transcriber, parse_languages  # noqa: E402
from vidsearch.text.script import has_han  # noqa: E402

DEFAULT_LIBRARY = Path(__file__).resolve().parent / "quality" / "library"
#: A heard line counts for the spoken line whose time, padded by this, it overlaps most.
PAD_S = 0.5


def _chars(text: str) -> str:
    return re.sub(r"[\W_]", "", text.lower())


def _words(text: str) -> str:
    return " ".join(re.sub(r"[^\w']+", " ", text.lower()).split())


def line_error(reference: str, heard: str, language: str) -> float:
    """CER (Chinese) or WER (otherwise) of one line, capped at 1; 1 when nothing was heard."""
    zh = language == "zh"
    ref, hyp = (_chars(reference), _chars(heard)) if zh else (_words(reference), _words(heard))
    if not hyp:
        return 1.0
    if not ref:
        return 0.0
    return min(1.0, jiwer.cer(ref, hyp) if zh else jiwer.wer(ref, hyp))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library", type=Path, default=DEFAULT_LIBRARY,
                    help="the benchmark library folder (default: benchmarks/quality/library)")
    ap.add_argument("--whisper", default=None, help="faster-whisper model name or path (default: bundled base)")
    ap.add_argument("--languages", default="zh,en", help="expected languages, as `index --language` (default zh,en)")
    ap.add_argument("--out", type=Path, help="write each line's reference, transcript and error here (JSON)")
    ap.add_argument("--compare", type=Path, help="an earlier --out file: list the lines that changed")
    args = ap.parse_args(argv)

    truth_file = args.library / "videos" / "ground_truth.json"
    if not truth_file.is_file():
        sys.exit(f"transcripts: {truth_file} missing: run `make eval-data` first")
    truth = json.loads(truth_file.read_text(encoding="utf-8"))["videos"]
    whisper = Transcriber(args.whisper, languages=parse_languages(args.languages))
    rows = []
    t0 = time.perf_counter()
    invented = []  # heard where no line is spoken: Whisper's hallucinations (music, noise, silence)
    for name, video in truth.items():
        lines = video.get("utterances", [])
        path = args.library / "videos" / name
        track = load_audio(path, probe(path))
        heard = whisper.transcribe(track, analyse(track)).utterances if track is not None else []
        # Each heard line counts for the spoken line it overlaps most (lines can be 0.8 s apart).
        assigned: dict[int, list] = {}
        for u in heard:
            overlaps = [min(u.end, ln["end"] + PAD_S) - max(u.start, ln["start"] - PAD_S) for ln in lines]
            best = max(range(len(lines)), key=overlaps.__getitem__, default=None)
            if best is None or overlaps[best] <= 0:
                invented.append(f"{name} {u.start:.1f}s: {u.text}")
            else:
                assigned.setdefault(best, []).append(u)
        for i, line in enumerate(lines):
            over = assigned.get(i, [])
            text = " ".join(u.text for u in over)
            rows.append(dict(video=name, key=line["key"], language=line["language"], reference=line["text"],
                             heard=text, heard_as=sorted({u.language for u in over}),
                             error=round(line_error(line["text"], text, line["language"]), 4)))
    seconds = time.perf_counter() - t0

    print(f"transcripts of {args.library} ({len(rows)} spoken lines, {seconds:.0f} s):")
    for language in sorted({r["language"] for r in rows}):
        mine = [r for r in rows if r["language"] == language]
        measure = "character" if language == "zh" else "word"
        mean = sum(r["error"] for r in mine) / len(mine)
        line = f"  {language}: {len(mine)} lines, mean {measure} error rate {mean:.3f}, nothing heard {sum(not r['heard'] for r in mine)}"
        if language == "zh":
            line += f", written without Chinese characters {sum(bool(r['heard']) and not has_han(r['heard']) for r in mine)}"
        print(line)
    print(f"  heard where no line is spoken: {len(invented)}" + "".join(f"\n    {x}" for x in invented))
    if args.compare:
        before = {r["key"]: r for r in json.loads(args.compare.read_text(encoding="utf-8"))}
        changed = [r for r in rows if r["key"] in before and before[r["key"]]["heard"] != r["heard"]]
        print(f"against {args.compare}: {len(changed)} lines changed")
        for r in changed:
            b = before[r["key"]]
            print(f"  {r['key']}: {b['error']:.2f} {b['heard']!r} -> {r['error']:.2f} {r['heard']!r}")
    if args.out:
        args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
