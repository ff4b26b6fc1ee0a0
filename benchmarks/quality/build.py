#!/usr/bin/env python3
"""Build the search-quality benchmark library (real media, ground truth known by construction).

    .venv/bin/python benchmarks/quality/build.py              # -> benchmarks/quality/library/
    .venv/bin/python benchmarks/quality/build.py --out DIR    # elsewhere
    .venv/bin/python benchmarks/quality/build.py --force      # rebuild even if up to date

Writes videos/*.mp4 + videos/ground_truth.json, queries.jsonl, removable.jsonl, captions.jsonl,
captions_expected.json, clips/*.mp4 + clips.jsonl, and stamp.json.  The videos are described
in spec.py and the queries in queries.py; see README.md next to this script.

Every video is assembled from real photos, footage, recorded speech and music (plus espeak-ng
lines): frames are generated in Python and piped raw into one ffmpeg per video, so every cut,
caption and subtitle sits on a frame we chose, and every speech clip sits at a sample offset we
chose.  The ground truth and the query targets follow from the spec; nothing is measured.

The build goes into a temporary folder beside the output and is renamed into place only when it
is complete and meets the minimums, so a half-built library is never used.  When the output
holds a complete build of the same script, spec, queries and building blocks (stamp.json), the
script says so and exits.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# the shared building blocks (fixtures/mediakit.py) and the clip cutter of the tests
sys.path[:0] = [str(HERE), str(ROOT / "fixtures"), str(ROOT / "tests")]

import mediakit as mk  # noqa: E402
import queries as Q  # noqa: E402
import spec  # noqa: E402

mk.PROG = "benchmarks/quality/build.py"
DEFAULT_OUT = HERE / "library"
HASHED = [HERE / "build.py", HERE / "spec.py", HERE / "queries.py", ROOT / "fixtures" / "mediakit.py",
          ROOT / "tests" / "altered_clips.py"]
FPS, SR = mk.FPS, mk.SR

LEAD = 1.0             # s from a cut to the first line of a shot
GAP = 0.8              # s between two lines
TAIL = 1.0             # s from the last line to the next cut
STEP = 0.2             # a grown shot's length is a multiple of this
MIX_GAIN_DB = -6.0     # speech (levelled to mediakit.SPEECH_DBFS) sits at -26 dBFS in the mix
JINGLE_DBFS = -28.0
FADE_FRAMES = 12       # bumper fades (0.48 s)
PORTRAIT_BOX = (720, 540)   # where a photo or footage sits in a 9:16 frame (blurred fill around it)
BED_FILES = ["manolo_camp-morning_coffee.wav", "macroform-the_simplicity.wav", "macroform-cold_day.wav"]

MINIMUMS = dict(videos=15, minutes=8.0, portrait=2, no_audio=2, intro=5, outro=5, queries=150,
                zh_queries_share=1 / 3, none=18, clips=20, distractors=15, zh_utterance_share=0.25)
KIND_MINIMUMS = {"speech-paraphrase": 30, "speech-exact": 25, "text-shown": 25, "visual": 20, "mixed": 12,
                 "none": 18}


def die(msg: str) -> None:
    mk.die(msg)


# --------------------------------------------------------------------------- preflight
def inputs() -> dict:
    """Every Debian file the spec uses -> the package that ships it."""
    files = {mk.FONT: "fonts-noto-cjk", mk.AST_TXT: "asterisk-core-sounds-en",
             mk.PS / "librivox" / "transcription": "pocketsphinx-testdata",
             mk.PS / "cards" / "cards.transcription": "pocketsphinx-testdata",
             mk.PS / "goforward.raw": "pocketsphinx-testdata"}
    for j in (spec.INTRO["jingle"], spec.OUTRO["jingle"]):
        files[mk.MOH / j["file"]] = "asterisk-moh-opsound-wav"
    for f in BED_FILES:
        files[mk.MOH / f] = "asterisk-moh-opsound-wav"
    for pic in [spec.INTRO["picture"]] + [s["source"] for v in spec.VIDEOS for s in v["shots"]]:
        if pic.startswith("opencv:"):
            files[mk.OPENCV_DATA / pic.split(":", 1)[1]] = "opencv-doc"
        elif pic.startswith("footage:"):
            path, pkg, _ = spec.FOOTAGE[pic.split(":", 1)[1]]
            files[Path(path)] = pkg
    for v in spec.VIDEOS:
        if v["bgm"]:
            files[mk.MOH / v["bgm"]["file"]] = "asterisk-moh-opsound-wav"
        for s in v["shots"]:
            for u in s["speech"]:
                if u["source"] == "asterisk":
                    files[mk.AST / f"{u['text']}.wav"] = "asterisk-core-sounds-en-wav"
                elif u["source"] == "librivox":
                    files[mk.PS / "librivox" / f"{u['text']}.wav"] = "pocketsphinx-testdata"
                elif u["source"] == "cards":
                    files[mk.PS / "cards" / f"{u['text']}.wav"] = "pocketsphinx-testdata"
    return files


def preflight() -> None:
    mk.preflight(inputs(), {"ffmpeg": "ffmpeg", "ffprobe": "ffmpeg", "espeak-ng": "espeak-ng"},
                 ["numpy", "scipy.signal", "PIL", "cv2", "skimage.data", "sklearn.datasets", "pypinyin"],
                 ".venv/bin/pip install -e '.[fixtures]'")


# --------------------------------------------------------------------------- text layout
# style -> (landscape, portrait) placement: font size (relative to the short side), top of the
# text (fraction of H), x ("center" or left edge as a fraction of W), text colour, band (rgba)
LAYOUT = {
    "price": (dict(size=0.075, y=0.52, x="center"), dict(size=0.06, y=0.745, x="center"),
              (255, 255, 255), (200, 20, 30, 0.9)),
    "badge": (dict(size=0.055, y=0.05, x=0.04), dict(size=0.045, y=0.235, x=0.05),
              (140, 20, 0), (255, 214, 0, 1.0)),
    "top": (dict(size=0.065, y=0.04, x="center"), dict(size=0.075, y=0.13, x="center"),
            (255, 255, 255), (0, 0, 0, 0.55)),
    "lower": (dict(size=0.06, y=0.70, x=0.04), dict(size=0.05, y=0.745, x=0.05),
              (255, 255, 255), (20, 20, 60, 0.75)),
    "osd": (dict(size=0.045, y=0.04, x=0.03), dict(size=0.035, y=0.04, x=0.03),
            (255, 255, 255), (0, 0, 0, 0.35)),
    "sub": (dict(size=0.058, y=0.855, x="center"), dict(size=0.045, y=0.82, x="center"),
            (255, 255, 255), (0, 0, 0, 0.6)),
}
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def wrap(text: str, f, maxw: float) -> list[str]:
    """Greedy line breaks: between words for English, between characters for Chinese."""
    d = mk.ImageDraw.Draw(mk.Image.new("L", (8, 8)))
    units = list(text) if CJK.search(text) else text.split(" ")
    sep = "" if CJK.search(text) else " "
    lines, cur = [], ""
    for u in units:
        cand = cur + sep + u if cur else u
        if d.textlength(cand, font=f) <= maxw or not cur:
            cur = cand
        else:
            lines.append(cur)
            cur = u.lstrip() if sep == "" else u
    return lines + [cur]


def items_for(text: str, style: str, size) -> list[dict]:
    """mediakit.text_overlay items for one burned-in text (subtitles wrap and grow upwards)."""
    W, H = size
    place, rgb, band = LAYOUT[style][0 if W > H else 1], LAYOUT[style][2], LAYOUT[style][3]
    f = mk.font(int(min(W, H) * place["size"]))
    lines = wrap(text, f, W * 0.9) if style == "sub" else [text]
    step = place["size"] * min(W, H) * 1.45 / H
    y0 = place["y"] - step * (len(lines) - 1)
    return [dict(text=line, size=place["size"], rgb=rgb, band=band, x=place["x"], y=y0 + i * step)
            for i, line in enumerate(lines)]


def layer(size, items):
    """(r0, r1, A, C): a text layer cut to the rows it touches (see mediakit.text_overlay)."""
    A, C = mk.text_overlay(size, items)
    rows = mk.np.nonzero((A[:, :, 0] != 1).any(axis=1))[0]
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    return r0, r1, A[r0:r1], C[r0:r1]


def box(size, items) -> tuple:
    """The rectangle around the bands of one text's lines, to check that texts shown together
    never overlap."""
    W, H = size
    d = mk.ImageDraw.Draw(mk.Image.new("L", (8, 8)))
    out = []
    for it in items:
        f = mk.font(int(min(W, H) * it["size"]))
        x = (W - d.textlength(it["text"], font=f)) / 2 if it["x"] == "center" else W * it["x"]
        left, t, r, b = d.textbbox((x, H * it["y"]), it["text"], font=f)
        pad = max(6, int(0.35 * (b - t)))
        out.append((left - pad, t - pad, r + pad, b + pad))
    return min(b[0] for b in out), min(b[1] for b in out), max(b[2] for b in out), max(b[3] for b in out)


def overlapping(bs) -> bool:
    return any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
               for i, a in enumerate(bs) for b in bs[i + 1:])


def composite(fr, layers):
    np = mk.np
    for r0, r1, A, C in layers:
        fr = np.array(fr, copy=True)
        fr[r0:r1] = np.clip(np.rint(fr[r0:r1] * A + C), 0, 255).astype(np.uint8)
    return fr


# --------------------------------------------------------------------------- pictures
def fade(frames: list) -> list:
    n = len(frames)
    out = []
    for i, fr in enumerate(frames):
        k = min(1.0, (i + 1) / FADE_FRAMES, (n - i) / FADE_FRAMES)
        out.append(fr if k >= 1 else mk.np.rint(fr * k).astype(mk.np.uint8))
    return out


def letterbox(frames: list, size) -> list:
    """Landscape frames scaled to the portrait width and centred on black."""
    np, cv2 = mk.np, mk.cv2
    W, H = size
    h = round(W * 9 / 16)
    y0 = (H - h) // 2
    out = []
    for fr in frames:
        canvas = np.zeros((H, W, 3), np.uint8)
        canvas[y0:y0 + h] = cv2.resize(fr, (W, h), interpolation=cv2.INTER_LINEAR)
        out.append(canvas)
    return out


def intro_frames() -> list:
    """The channel intro: HappyFish.jpg with a slow zoom, the channel's title, fading in and out."""
    size = spec.L
    n = round(spec.INTRO["seconds"] * FPS)
    img = mk.load_picture(spec.INTRO["picture"])
    lay = [layer(size, [dict(text=spec.INTRO["title"], size=0.13, rgb=(255, 255, 255), band=(10, 60, 140, 0.85),
                             x="center", y=0.62),
                        dict(text=spec.INTRO["subtitle"], size=0.06, rgb=(255, 230, 120), band=(10, 60, 140, 0.85),
                             x="center", y=0.82)])]
    return fade([composite(fr, lay) for fr in mk.ken_burns(img, n, size, (0.5, 0.45, 1.0), (0.5, 0.45, 1.08))])


def outro_frames() -> list:
    """The end card: a fixed gradient with the thanks and follow lines, fading in and out."""
    n = round(spec.OUTRO["seconds"] * FPS)
    c = mk.card(spec.L, spec.OUTRO["bg_top"], spec.OUTRO["bg_bottom"], spec.OUTRO["lines"])
    return fade([c] * n)


def portrait_fill(fg):
    """A 4:3 picture in the middle of a 9:16 frame over a blurred, darkened copy of itself."""
    np, cv2 = mk.np, mk.cv2
    W, H = spec.P
    w, h = PORTRAIT_BOX
    cw = round(h * W / H)
    x0 = (w - cw) // 2
    small = cv2.resize(np.ascontiguousarray(fg[:, x0:x0 + cw]), (W // 16, H // 16), interpolation=cv2.INTER_AREA)
    bg = cv2.resize(cv2.GaussianBlur(small, (0, 0), 2.0), (W, H), interpolation=cv2.INTER_LINEAR) // 2
    y0 = (H - h) // 2
    bg[y0:y0 + h] = fg
    return bg


def footage(name: str, t0: float, n: int, size, tmp: Path):
    """n frames of real footage from t0 s, cropped to the output's aspect, taken to 25 fps."""
    path = Path(spec.FOOTAGE[name][0])
    if path.suffix == ".gz":
        plain = tmp / path.stem
        if not plain.exists():
            plain.write_bytes(gzip.decompress(path.read_bytes()))
        path = plain
    W, H = size
    a = W / H
    vf = (f"fps={FPS},crop='min(iw,ih*{a:.6f})':'min(ih,iw/{a:.6f})',"
          f"scale={W}:{H}:flags=area+accurate_rnd+bitexact")
    # decoded from the start and cut after the filters (output seeking): seeking in the input
    # lands on broken frames in some of these files
    frames = mk.decode_frames(path, size, vf, after_input=["-ss", f"{t0:.3f}", "-t", f"{n / FPS + 0.5:.3f}"])
    if len(frames) < n:
        die(f"footage {name} from {t0}s has {len(frames)} frames, {n} needed")
    return frames[:n]


def shot_frames(sh: dict, size, tmp: Path):
    portrait = size[1] > size[0]
    src = sh["source"]
    inner = PORTRAIT_BOX if portrait and src != "card" else size
    if src == "card":
        c = sh["card"]
        pics = mk.ken_burns(mk.card(size, c["bg_top"], c["bg_bottom"], c["lines"]), sh["n"], size,
                            *(sh["motion"] or ((0.5, 0.5, 1.0), (0.5, 0.5, 1.05))))
    elif src.startswith("footage:"):
        pics = iter(footage(src.split(":", 1)[1], sh["t0"], sh["n"], inner, tmp))
    else:
        pics = mk.ken_burns(mk.load_picture(src), sh["n"], inner, *sh["motion"])
    fixed = [layer(size, items_for(t["text"], t["style"], size)) for t in sh["text"]]
    subs = [(u["sub_f0"], u["sub_f1"], layer(size, items_for(u["sub_text"], "sub", size)))
            for u in sh["utts"] if u.get("sub_text")]
    for i, fr in enumerate(pics):
        if portrait and src != "card":
            fr = portrait_fill(fr)
        f = sh["f0"] + i
        yield composite(fr, fixed + [lay for f0, f1, lay in subs if f0 <= f < f1])


# --------------------------------------------------------------------------- one video
def speech_of(u: dict):
    kinds = {"en": "espeak-en", "zh": "espeak-zh", "asterisk": "asterisk", "librivox": "librivox",
             "cards": "cards", "goforward": "goforward"}
    speed = 140 if u["source"] == "zh" else 150
    return mk.Speech(kinds[u["source"]], u["text"], voice=u["voice"], speed=speed)


def jingle(j: dict, seconds: float):
    a = mk.music_excerpt(j["file"], j["start"], seconds, 0.3, 0.8)
    return a * 10 ** ((JINGLE_DBFS - mk.rms_db(a)) / 20)


def build_video(v: dict, out_dir: Path, frames_cache: dict) -> dict:
    np = mk.np
    name, size = v["name"], v["size"]
    W, H = size
    gain = 10 ** (MIX_GAIN_DB / 20)
    level = mk.SPEECH_DBFS + MIX_GAIN_DB
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        # ---- timeline: shots in frames, each line placed inside its shot
        shots, f0 = [], 0
        if v["intro"]:
            shots.append(dict(key="intro", kind="intro", f0=0, n=round(spec.INTRO["seconds"] * FPS), utts=[]))
            f0 = shots[-1]["n"]
        for s in v["shots"]:
            sh = dict(s, kind="content", f0=f0, utts=[])
            t = f0 / FPS + LEAD
            for u in s["speech"]:
                sp = speech_of(u)
                start = round(t * SR) / SR
                sh["utts"].append(dict(u, sp=sp, off=round(t * SR), start=start, end=start + sp.dur))
                t = round(start + sp.dur + GAP, 2)
            need = (sh["utts"][-1]["end"] + TAIL - f0 / FPS) if sh["utts"] else 0.0
            seconds = s["seconds"]
            if need > seconds:
                if s["source"].startswith("footage:"):
                    die(f"{name}/{s['key']}: the speech needs {need:.2f}s, the footage shot has {seconds}s")
                seconds = math.ceil(need / STEP - 1e-9) * STEP
            sh["n"] = round(seconds * FPS)
            for u in sh["utts"]:
                if u["sub"]:
                    u["sub_text"] = u["sp"].text if u["sub"] is True else u["sub"]
                    u["sub_f0"] = math.floor(u["start"] * FPS)
                    u["sub_f1"] = min(math.ceil(u["end"] * FPS), f0 + sh["n"])
            shots.append(sh)
            f0 += sh["n"]
        if v["outro"]:
            shots.append(dict(key="outro", kind="outro", f0=f0, n=round(spec.OUTRO["seconds"] * FPS), utts=[]))
            f0 += shots[-1]["n"]
        nframes = f0
        duration = nframes / FPS

        # texts shown together must not overlap
        for sh in shots:
            fixed = [items_for(t["text"], t["style"], size) for t in sh.get("text", [])]
            for u in [None] + [u for u in sh["utts"] if u.get("sub_text")]:
                groups = fixed + ([items_for(u["sub_text"], "sub", size)] if u else [])
                if overlapping([box(size, g) for g in groups]):
                    die(f"{name}/{sh['key']}: burned-in texts overlap")

        # ---- audio: speech, music beds under chosen lines, background music, jingles
        wav = None
        if v["audio"]:
            speech = np.zeros(round(duration * SR))
            music = np.zeros_like(speech)
            if v["intro"]:
                j = jingle(spec.INTRO["jingle"], spec.INTRO["seconds"])
                music[:len(j)] += j
            if v["outro"]:
                j = jingle(spec.OUTRO["jingle"], spec.OUTRO["seconds"])
                o = shots[-1]["f0"] * SR // FPS
                music[o:o + len(j)] += j[:len(music) - o]
            content = [sh for sh in shots if sh["kind"] == "content"]
            if v["bgm"]:
                c0, c1 = content[0]["f0"] / FPS, (content[-1]["f0"] + content[-1]["n"]) / FPS
                a = mk.music_excerpt(v["bgm"]["file"], v["bgm"]["start"], c1 - c0, 1.0, 1.5)
                a = a * 10 ** ((v["bgm"]["dbfs"] - mk.rms_db(a)) / 20)
                o = round(c0 * SR)
                music[o:o + len(a)] += a
            beds = []
            for sh in content:
                s0, s1 = sh["f0"] / FPS, (sh["f0"] + sh["n"]) / FPS
                for j, u in enumerate(sh["utts"]):
                    a = u["sp"].audio * gain
                    speech[u["off"]:u["off"] + len(a)] += a
                    if u["music"] is not None:
                        if v["bgm"]:
                            die(f"{name}: a music bed under a line and background music at once")
                        # the bed stays clear of the neighbouring lines
                        prev_end = sh["utts"][j - 1]["end"] if j else s0
                        next_start = sh["utts"][j + 1]["start"] if j + 1 < len(sh["utts"]) else s1
                        b0 = max(s0 + 0.3, prev_end + 0.25, u["start"] - 1.5)
                        b1 = min(s1 - 0.3, next_start - 0.25, u["end"] + 1.0)
                        k = sum(1 for w in spec.VIDEOS[:spec.VIDEOS.index(v)] for s in w["shots"]
                                for x in s["speech"] if x["music"] is not None) + len(beds)
                        bed = mk.music_excerpt(BED_FILES[k % len(BED_FILES)], 20.0 + 9.0 * k, b1 - b0, 0.3, 0.5)
                        o = round(b0 * SR)
                        i0, i1 = u["off"] - o, u["off"] - o + len(u["sp"].audio)
                        bed = bed * 10 ** ((level - u["music"] - mk.rms_db(bed[i0:i1])) / 20)
                        music[o:o + len(bed)] += bed
                        beds.append(dict(start=mk.tsec(b0), end=mk.tsec(b1), under=u["key"],
                                         file=BED_FILES[k % len(BED_FILES)]))
            for sh in content:
                for u in sh["utts"]:
                    seg = music[u["off"]:u["off"] + len(u["sp"].audio)]
                    m = mk.rms_db(seg)
                    u["over_music"] = bool(m > -70)
                    if u["over_music"]:
                        u["music_db"] = float(round(level - m, 1)) + 0.0       # no -0.0
                        if u["music"] is not None and abs(u["music_db"] - u["music"]) > 0.05:
                            die(f"{name}: bed under {u['key']} at {u['music_db']} dB, not {u['music']}")
            wav = tmp / "a.wav"
            mk.write_wav(wav, speech + music)

        # ---- pictures
        def frames():
            for sh in shots:
                if sh["kind"] in ("intro", "outro"):
                    yield from frames_cache[(sh["kind"], size)]
                else:
                    yield from shot_frames(sh, size, tmp)

        mk.encode(tmp / "out.mp4", size, frames(), nframes, wav=wav)
        shutil.move(str(tmp / "out.mp4"), str(out_dir / name))

    # ---- ground truth
    gt_shots, texts, utts = [], [], []
    for sh in shots:
        s0, s1 = mk.tsec(sh["f0"] / FPS), mk.tsec((sh["f0"] + sh["n"]) / FPS)
        if sh["kind"] == "intro":
            gt_shots.append(dict(start=s0, end=s1, source=spec.INTRO["picture"], subject="channel intro bumper",
                                 bumper="intro", on_screen_text=[spec.INTRO["title"], spec.INTRO["subtitle"]]))
            continue
        if sh["kind"] == "outro":
            gt_shots.append(dict(start=s0, end=s1, source="pillow:end card", subject="channel end card",
                                 bumper="outro", on_screen_text=[t for t, _, _ in spec.OUTRO["lines"]]))
            continue
        src = sh["source"]
        if src.startswith("footage:"):
            src = f"{src}[{sh['t0']:.1f}:{sh['t0'] + sh['n'] / FPS:.1f}]"
        elif src == "card":
            src = "pillow:card"
        d = dict(start=s0, end=s1, key=sh["key"], source=src, subject=sh["subject"])
        shown = ([t for t, _, _ in sh["card"]["lines"]] if sh["card"] else []) + [t["text"] for t in sh["text"]]
        if shown:
            d["on_screen_text"] = shown
        promo = [t["text"] for t in sh["text"] if t["promo"]]
        if promo:
            d["promo_text"] = promo
        gt_shots.append(d)
        for t in ([dict(text=t, style="card", promo=False) for t, _, _ in sh["card"]["lines"]] if sh["card"]
                  else []) + sh["text"]:
            texts.append(dict(text=t["text"], start=s0, end=s1, kind="promo" if t["promo"] else t["style"]))
        for u in sh["utts"]:
            sp = u["sp"]
            x = dict(key=u["key"], text=sp.text, start=mk.tsec(u["start"]), end=mk.tsec(u["end"]),
                     language=sp.language, source=sp.source, over_music=u.get("over_music", False))
            if u.get("over_music"):
                x["music_db"] = u["music_db"]
            if hasattr(sp, "voice"):
                x["voice"] = sp.voice
            if hasattr(sp, "pinyin"):
                x["pinyin"] = sp.pinyin
            if u.get("sub_text"):
                x["subtitle"] = dict(text=u["sub_text"], start=mk.tsec(u["sub_f0"] / FPS),
                                     end=mk.tsec(u["sub_f1"] / FPS))
                texts.append(dict(text=u["sub_text"], start=x["subtitle"]["start"], end=x["subtitle"]["end"],
                                  kind="subtitle", utterance=u["key"]))
            utts.append(x)
    # the same text in consecutive shots is one span
    merged = []
    for t in sorted(texts, key=lambda t: (t["text"], t["start"])):
        if merged and merged[-1]["text"] == t["text"] and merged[-1]["end"] == t["start"] \
                and merged[-1]["kind"] == t["kind"]:
            merged[-1]["end"] = t["end"]
        else:
            merged.append(dict(t))
    merged.sort(key=lambda t: (t["start"], t["text"]))
    first, last = gt_shots[0], gt_shots[-1]
    return dict(
        duration=mk.tsec(duration), width=W, height=H, has_audio=v["audio"], category=v["category"],
        shots=gt_shots, utterances=utts, on_screen_text=merged,
        intro=dict(start=first["start"], end=first["end"]) if v["intro"] else None,
        outro=dict(start=last["start"], end=last["end"]) if v["outro"] else None,
        music_beds=beds if v["audio"] else [],
        background_music=(dict(file=v["bgm"]["file"], dbfs=v["bgm"]["dbfs"]) if v["bgm"] else None),
    )


# --------------------------------------------------------------------------- queries
def resolve(gt: dict) -> list[dict]:
    """queries.QUERIES -> queries.jsonl records with targets in seconds."""
    by_id = {v["id"]: v for v in spec.VIDEOS}
    out = []
    for i, q in enumerate(Q.QUERIES, 1):
        text, kind, targets = q
        if kind not in KIND_MINIMUMS:
            die(f"query '{text}': unknown kind {kind}")
        lang = "zh" if CJK.search(text) else "en"
        res = []
        for t in targets:
            vid = t[0]
            if vid not in by_id:
                die(f"query '{text}': no video {vid}")
            name = by_id[vid]["name"]
            g = gt[name]
            if len(t) == 3:
                spans = [(float(t[1]), float(t[2]))]
            else:
                kind_, _, key = t[1].partition(":")
                if kind_ == "u":
                    spans = [(u["start"], u["end"]) for u in g["utterances"] if u["key"] == key]
                elif kind_ == "s":
                    spans = [(s["start"], s["end"]) for s in g["shots"] if s.get("key") == key]
                elif kind_ == "sub":
                    spans = [(u["subtitle"]["start"], u["subtitle"]["end"]) for u in g["utterances"]
                             if u["key"] == key and "subtitle" in u]
                elif kind_ == "text":
                    spans = [(x["start"], x["end"]) for x in g["on_screen_text"] if x["text"] == key]
                else:
                    spans = []
                if not spans:
                    die(f"query '{text}': anchor {t} resolves to nothing")
            for s0, s1 in spans:
                for b in (g["intro"], g["outro"]):
                    if b and s0 < b["end"] and b["start"] < s1:
                        die(f"query '{text}': target {t} overlaps an intro/outro")
                res.append(dict(video=name, start=s0, end=s1))
        if (kind == "none") != (not res):
            die(f"query '{text}': kind {kind} with {len(res)} targets")
        out.append(dict(id=f"q{i:03d}", query=text, kind=kind, lang=lang, targets=res))
    seen = {}
    for q in out:
        if q["query"] in seen:
            die(f"query '{q['query']}' written twice")
        seen[q["query"]] = q
    return out


# --------------------------------------------------------------------------- clips
ALTER = {"reencode": dict(bitrate="150k"), "scaled": dict(scale=0.5), "cropped": dict(crop=0.05),
         "muted": dict(mute=True)}


def make_clips(out: Path, gt: dict) -> list[dict]:
    """Altered copies of moments of the library (tests/altered_clips.make_altered_clip, whose
    x264 runs on one thread: the same bytes on every run and every machine)."""
    from altered_clips import make_altered_clip
    by_id = {v["id"]: v for v in spec.VIDEOS}
    (out / "clips").mkdir()
    recs = []
    for i, (vid, key, off, length, alteration) in enumerate(spec.CLIPS, 1):
        name = by_id[vid]["name"]
        sh = next(s for s in gt[name]["shots"] if s.get("key") == key)
        start = mk.tsec(sh["start"] + off)
        if not (4.0 <= length <= 8.0) or start + length > sh["end"]:
            die(f"clip {vid}/{key}: {length}s from {off}s does not fit its shot")
        kw = {}
        for a in alteration.split("+"):
            kw.update(ALTER[a])
        cid = f"c{i:02d}"
        make_altered_clip(out / "videos" / name, out / "clips" / f"{cid}.mp4", start, length, **kw)
        recs.append(dict(id=cid, file=f"clips/{cid}.mp4", source=dict(video=name, start=start),
                         duration=length, captions=[c["id"] for c in spec.CAPTIONS[(vid, key)]],
                         alteration=alteration))
    return recs


def captions_files(out: Path, gt: dict) -> tuple[int, int]:
    by_id = {v["id"]: v for v in spec.VIDEOS}
    rows = [c for cs in spec.CAPTIONS.values() for c in cs] + spec.DISTRACTORS
    ids = [c["id"] for c in rows]
    if len(ids) != len(set(ids)):
        die("a caption id is used twice")
    with open(out / "captions.jsonl", "w", encoding="utf-8") as f:
        for c in rows:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    scenes = []
    for (vid, key), cs in spec.CAPTIONS.items():
        name = by_id[vid]["name"]
        sh = next(s for s in gt[name]["shots"] if s.get("key") == key)
        scenes.append(dict(video=name, start=sh["start"], end=sh["end"], subject=sh["subject"],
                           captions=[c["id"] for c in cs]))
    (out / "captions_expected.json").write_text(mk.to_json(dict(
        _comment="What captions.jsonl describes: the shots each caption was written for, and the ids of "
                 "the distractors, which describe nothing in the library.",
        scenes=scenes, distractors=[c["id"] for c in spec.DISTRACTORS])) + "\n", encoding="utf-8")
    return len(rows), len(spec.DISTRACTORS)


# --------------------------------------------------------------------------- counts
def counts(gt: dict, queries: list, clips: list, n_captions: int, n_distractors: int) -> tuple[dict, list]:
    vids = gt.values()
    utts = [u for v in vids for u in v["utterances"]]
    c = dict(
        videos=len(gt), minutes=round(sum(v["duration"] for v in vids) / 60, 2),
        portrait=sum(v["height"] > v["width"] for v in vids), no_audio=sum(not v["has_audio"] for v in vids),
        intro=sum(v["intro"] is not None for v in vids), outro=sum(v["outro"] is not None for v in vids),
        utterances=len(utts), utterances_by_language={k: sum(u["language"] == k for u in utts) for k in ("en", "zh")},
        short_utterances=sum(len(u["text"].split()) <= 4 if u["language"] == "en" else len(u["text"]) <= 8
                             for u in utts),
        speech_over_music={"0 dB": sum(u.get("music_db") == 0 for u in utts),
                           "-5 dB": sum(u.get("music_db") == -5 for u in utts),
                           "quiet background": sum(u["over_music"] and u.get("music_db", 0) > 0 for u in utts)},
        queries=len(queries), queries_by_kind={k: sum(q["kind"] == k for q in queries) for k in KIND_MINIMUMS},
        queries_by_lang={k: sum(q["lang"] == k for q in queries) for k in ("en", "zh")},
        no_answer=sum(not q["targets"] for q in queries), clips=len(clips), captions=n_captions,
        distractors=n_distractors)
    bad = []
    m = MINIMUMS
    for k in ("videos", "minutes", "portrait", "no_audio", "intro", "outro", "queries", "clips", "distractors"):
        if c[k] < m[k]:
            bad.append(f"{k} {c[k]} < {m[k]}")
    if c["no_answer"] < m["none"]:
        bad.append(f"no-answer queries {c['no_answer']} < {m['none']}")
    if c["queries_by_lang"]["zh"] < m["zh_queries_share"] * len(queries):
        bad.append("under a third of the queries are Chinese")
    if c["utterances_by_language"]["zh"] < m["zh_utterance_share"] * len(utts):
        bad.append("under a quarter of the utterances are Mandarin")
    for k, n in KIND_MINIMUMS.items():
        if c["queries_by_kind"][k] < n:
            bad.append(f"{k} queries {c['queries_by_kind'][k]} < {n}")
    for name, v in gt.items():
        if not 20 <= v["duration"] <= 90:
            bad.append(f"{name}: {v['duration']}s is not 20-90 s")
    if c["speech_over_music"]["0 dB"] < 1 or c["speech_over_music"]["-5 dB"] < 1:
        bad.append("speech over music at 0 dB and at -5 dB missing")
    return c, bad


def report(c: dict) -> str:
    return "\n".join(f"  {k:24s} {json.dumps(v, ensure_ascii=False)}" for k, v in c.items())


# --------------------------------------------------------------------------- main
def digest() -> str:
    h = hashlib.sha256()
    for p in HASHED:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def removable(gt: dict) -> list[dict]:
    """The spans `vidsearch eval --removed` checks: every recurring intro and end card."""
    return [dict(video=name, start=g[kind]["start"], end=g[kind]["end"], kind=kind)
            for name, g in gt.items() for kind in ("intro", "outro") if g.get(kind)]


def up_to_date(out: Path, dig: str) -> dict | None:
    try:
        st = json.loads((out / "stamp.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if st.get("hash") != dig:
        return None
    for rel, size in st.get("files", {}).items():
        p = out / rel
        if not p.is_file() or p.stat().st_size != size:
            return None
    return st


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT.relative_to(ROOT)})")
    ap.add_argument("--force", action="store_true", help="rebuild even when the output is complete and up to date")
    args = ap.parse_args()
    out = args.out.resolve()
    dig = digest()
    st = None if args.force else up_to_date(out, dig)
    if st:
        print(f"{out} is complete and up to date (stamp {dig[:12]}); --force rebuilds it.\n{report(st['counts'])}")
        return
    preflight()
    t_start = time.time()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    os.chmod(tmp, 0o755)                    # mkdtemp makes it private; the library is not
    try:
        (tmp / "videos").mkdir()
        cache = {}
        lf, of = intro_frames(), outro_frames()
        for size in {v["size"] for v in spec.VIDEOS}:
            cache[("intro", size)] = lf if size == spec.L else letterbox(lf, size)
            cache[("outro", size)] = of if size == spec.L else letterbox(of, size)

        def one(v):
            t = time.time()
            g = build_video(v, tmp / "videos", cache)
            print(f"  {v['name']:44s} {g['duration']:5.1f}s {g['width']}x{g['height']} "
                  f"{(tmp / 'videos' / v['name']).stat().st_size / 1e6:5.2f} MB ({time.time() - t:.1f}s)", flush=True)
            return g

        # two videos at a time; each encoder is pinned to 2 threads, so the bytes do not depend
        # on the machine's core count
        order = sorted(spec.VIDEOS, key=lambda v: -sum(s["seconds"] for s in v["shots"]) * v["size"][0] * v["size"][1])
        with ThreadPoolExecutor(max_workers=2) as pool:
            built = dict(zip([v["name"] for v in order], pool.map(one, order)))
        gt = {v["name"]: built[v["name"]] for v in spec.VIDEOS}
        said = [u["text"].lower() for g in gt.values() for u in g["utterances"]]
        if len(said) != len(set(said)):
            die("the same sentence is spoken in two places")
        (tmp / "videos" / "ground_truth.json").write_text(mk.to_json(dict(
            fps=FPS, audio_sample_rate=SR, speech_dbfs=mk.SPEECH_DBFS + MIX_GAIN_DB,
            intro=dict(seconds=spec.INTRO["seconds"], picture=spec.INTRO["picture"],
                       title=[spec.INTRO["title"], spec.INTRO["subtitle"]],
                       audio=f"asterisk-moh-opsound-wav:{spec.INTRO['jingle']['file']}"
                             f"[{spec.INTRO['jingle']['start']:.1f}:{spec.INTRO['jingle']['start'] + 3:.1f}]"),
            outro=dict(seconds=spec.OUTRO["seconds"], text=[t for t, _, _ in spec.OUTRO["lines"]],
                       audio=f"asterisk-moh-opsound-wav:{spec.OUTRO['jingle']['file']}"
                             f"[{spec.OUTRO['jingle']['start']:.1f}:{spec.OUTRO['jingle']['start'] + 3:.1f}]"),
            videos=gt)) + "\n", encoding="utf-8")
        queries = resolve(gt)
        with open(tmp / "queries.jsonl", "w", encoding="utf-8") as f:
            for q in queries:
                f.write(json.dumps(q, ensure_ascii=False) + "\n")
        with open(tmp / "removable.jsonl", "w", encoding="utf-8") as f:
            for r in removable(gt):
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        n_cap, n_dis = captions_files(tmp, gt)
        clips = make_clips(tmp, gt)
        with open(tmp / "clips.jsonl", "w", encoding="utf-8") as f:
            for c in clips:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
        c, bad = counts(gt, queries, clips, n_cap, n_dis)
        print(report(c))
        if bad:
            die("minimums not met:\n  " + "\n  ".join(bad))
        files = {str(p.relative_to(tmp)): p.stat().st_size for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / "stamp.json").write_text(json.dumps(dict(hash=dig, counts=c, files=files), ensure_ascii=False,
                                                   indent=1) + "\n", encoding="utf-8")
        # swap the finished build in
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "x")
        os.rename(tmp, out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"wrote {c['videos']} videos ({c['minutes']} min), {c['queries']} queries, {c['clips']} clips, "
          f"{c['captions']} captions to {out} in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
