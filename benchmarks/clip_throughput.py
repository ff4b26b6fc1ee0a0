"""CLIP frame-encoder throughput: keyframes/s per batch size, against batch size 1 in the same run.

Run: `.venv/bin/python benchmarks/clip_throughput.py [--quick] [--json PATH]`.

Model: open_clip ViT-B-32 (the image tower of both the default multilingual model and of
ViT-B-32/laion2b) with random weights: speed does not depend on the weights, and no weights
can be fetched here. Input: real photos from scikit-image resized to 320x180 like our
keyframes, pushed through the encoder's full path (PIL preprocess -> image tower -> normalise).
Torch uses os.cpu_count() threads. Reference in the same run: the bundled EfficientNet-Lite0
ImageNet tagger. Also timed: one text query (ms/query). With CUDA, the image runs repeat on the
GPU with batch sizes up to 256.

Also timed, as ratios against open_clip's own padded ``encode_text`` in the same run: one text
query (ms/query) and the bundled zero-shot vocabulary, both through ClipEncoder's trimmed text
path (tokens after the end-of-text token cannot change a causal CLIP text tower's output).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data as skdata  # noqa: E402

from vidsearch.models.clip import PROMPT, ClipEncoder, load_clip, load_vocabulary  # noqa: E402

CPU_BATCHES = (1, 4, 8, 16, 32)
CUDA_BATCHES = (1, 4, 8, 16, 32, 64, 128, 256)
FRAME_SIZE = (320, 180)  # (w, h): our keyframes are downscaled to about this
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "cat", "hubble_deep_field", "immunohistochemistry", "retina")
QUERIES = ("rocket launch", "猫咪玩毛线球", "a cup of coffee on a table", "红色连衣裙", "city street at night",
           "kitten playing with a ball of yarn", "宠物互动玩具", "woman in a red dress walking")


def keyframes(n: int) -> list[np.ndarray]:
    """n 320x180 RGB frames cycling through the scikit-image photos (centre-cropped to 16:9)."""
    base = []
    for name in PHOTOS:
        img = Image.fromarray(getattr(skdata, name)()).convert("RGB")
        w, h = img.size
        ch = min(h, round(w * 9 / 16))
        cw = round(ch * 16 / 9)
        left, top = (w - cw) // 2, (h - ch) // 2
        base.append(np.array(img.crop((left, top, left + cw, top + ch)).resize(FRAME_SIZE, Image.BILINEAR)))
    return [base[i % len(base)] for i in range(n)]


def timed(fn, repeats: int) -> float:
    """Median wall seconds of ``fn()`` over ``repeats`` runs (the machine is shared: median, not min)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def image_rates(clip: ClipEncoder, batches: tuple[int, ...], n_frames: int, repeats: int) -> dict[int, float]:
    frames = keyframes(n_frames)
    rates: dict[int, float] = {}
    for bs in batches:
        clip.batch_size = bs
        clip.encode_images(frames[: max(bs, 2)])  # warm-up at this shape
        n = max(n_frames, bs * 2)
        work = frames if n == len(frames) else keyframes(n)
        rates[bs] = n / timed(lambda: clip.encode_images(work), repeats)
        print(f"  batch {bs:>3}: {rates[bs]:8.1f} keyframes/s", flush=True)
    return rates


def text_ms(clip: ClipEncoder, repeats: int) -> float:
    for q in QUERIES[:2]:
        clip.encode_texts([q])  # warm-up
    per = [timed(lambda q=q: clip.encode_texts([q]), repeats) for q in QUERIES]
    return 1000 * statistics.median(per)


def vocabulary_s(clip: ClipEncoder) -> float:
    """Seconds to encode the bundled vocabulary's zero-shot prompts (once per process)."""
    prompts = [PROMPT.format(v["en"]) for v in load_vocabulary()]
    t0 = time.perf_counter()
    clip.encode_texts(prompts)
    return time.perf_counter() - t0


def text_rows(clip: ClipEncoder, repeats: int, where: str) -> tuple[list[str], dict]:
    """Query and vocabulary encoding, trimmed (ours) against open_clip's padded encode_text."""
    trimmed = clip._encode_tokens
    numbers: dict[str, float] = {}
    for label, fn in (("padded", clip.model.encode_text), ("trimmed", trimmed)):
        clip._encode_tokens = fn
        numbers[f"{label}_ms_per_query"] = text_ms(clip, repeats)
        numbers[f"{label}_vocabulary_s"] = vocabulary_s(clip)
    clip._encode_tokens = trimmed
    n = len(load_vocabulary())
    lines = [
        f"  text query ({where}, one at a time): {numbers['trimmed_ms_per_query']:.1f} ms/query trimmed, "
        f"{numbers['padded_ms_per_query']:.1f} padded to 77 tokens "
        f"({numbers['padded_ms_per_query'] / numbers['trimmed_ms_per_query']:.2f}x)",
        f"  zero-shot vocabulary ({n} prompts, once per process): {numbers['trimmed_vocabulary_s']:.2f} s trimmed, "
        f"{numbers['padded_vocabulary_s']:.2f} s padded "
        f"({numbers['padded_vocabulary_s'] / numbers['trimmed_vocabulary_s']:.2f}x)",
    ]
    if trimmed is clip.model.encode_text:
        lines.append("  (trimming is off for this model: its text tower did not pass the self-check)")
    return lines, numbers


def preprocess_ms(clip: ClipEncoder, n: int) -> float:
    frames = keyframes(n)
    t0 = time.perf_counter()
    for f in frames:
        clip._prepare(f)
    return 1000 * (time.perf_counter() - t0) / n


def table(title: str, rates: dict[int, float]) -> list[str]:
    base = rates[min(rates)]
    lines = [title, f"  {'batch':>5}  {'keyframes/s':>11}  {'ms/frame':>8}  {'vs batch 1':>10}"]
    for bs, r in rates.items():
        lines.append(f"  {bs:>5}  {r:>11.1f}  {1000 / r:>8.1f}  {r / base:>9.2f}x")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and repeats (smoke run)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # open_clip logs "initialized randomly" on purpose here

    threads = os.cpu_count() or 1
    n_frames, repeats = (32, 1) if args.quick else (64, 3)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU: {platform.processor() or platform.machine()}, {threads} threads, torch {torch.__version__}, "
          f"load average {load:.1f} at start (other processes on the machine slow every number)")
    t0 = time.perf_counter()
    clip = load_clip("ViT-B-32", allow_random=True, threads=threads)
    print(f"ViT-B-32 (random weights) loaded in {time.perf_counter() - t0:.1f}s, dim {clip.dim}")

    print("CLIP ViT-B-32 image tower, CPU:")
    cpu = image_rates(clip, CPU_BATCHES, n_frames, repeats)
    prep = preprocess_ms(clip, n_frames)
    text_lines, text_numbers = text_rows(clip, repeats, "CPU")

    from vidsearch.models.tagger import ImageNetTagger

    tagger = ImageNetTagger(threads=threads)  # its own default batch (4: fastest on CPU)
    frames = keyframes(n_frames)
    tagger.probabilities(frames[:4])
    tagger_rate = n_frames / timed(lambda: tagger.probabilities(frames), repeats)

    lines = [""] + table(f"CLIP ViT-B-32 on CPU ({threads} threads, {n_frames} frames of 320x180, median of {repeats}):", cpu)
    lines += [
        f"  of which PIL preprocess (resize/crop/normalise): {prep:.1f} ms/frame",
        *text_lines,
        f"EfficientNet-Lite0 tagger (bundled), batch {tagger.batch_size}: {tagger_rate:.1f} keyframes/s "
        f"({tagger_rate / cpu[1]:.2f}x CLIP batch 1, {tagger_rate / max(cpu.values()):.2f}x CLIP's best batch)",
    ]
    result: dict = {
        "threads": threads, "frames": n_frames, "repeats": repeats, "frame_size": FRAME_SIZE,
        "cpu_keyframes_per_s": cpu, "cpu_preprocess_ms_per_frame": prep, "cpu_text": text_numbers,
        "tagger_keyframes_per_s": tagger_rate,
    }
    if torch.cuda.is_available():
        gpu_clip = load_clip("ViT-B-32", allow_random=True, device="cuda")
        print(f"CLIP ViT-B-32 image tower, CUDA ({torch.cuda.get_device_name()}):")
        gpu = image_rates(gpu_clip, CUDA_BATCHES, max(256, n_frames) * 2, repeats)
        gpu_text_lines, gpu_text = text_rows(gpu_clip, repeats, "CUDA")
        lines += [""] + table(f"CLIP ViT-B-32 on CUDA ({torch.cuda.get_device_name()}), fp32:", gpu) + gpu_text_lines
        result.update(cuda_device=torch.cuda.get_device_name(), cuda_keyframes_per_s=gpu, cuda_text=gpu_text)
    if hasattr(os, "getloadavg"):
        lines.append(f"load average at start {load:.1f}, at end {os.getloadavg()[0]:.1f} ({threads} CPUs)")
        result.update(load_start=load, load_end=os.getloadavg()[0])
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
