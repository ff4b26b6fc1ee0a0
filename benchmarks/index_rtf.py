"""Indexing speed on the fixture library: real-time factor per stage, against a naive baseline.

Run: `make bench` (or `.venv/bin/python benchmarks/index_rtf.py [VIDEO_DIR] [--no-clip]`).
Everything is measured in this one run on this machine, after models are loaded, and reported as
"x faster than real time" (media seconds / processing seconds) and as a ratio to the baseline.

Pipeline configurations, each over the whole folder:
  foundation  speech + audio channels only (what issue 2 shipped)
  offline     + visual tags + on-screen text: every channel that works offline (the default)
  clip        + CLIP ViT-B-32 frame vectors and zero-shot tags (random weights: the speed is the
              same as with real ones, which cannot be downloaded here)

Baseline ("the obvious script"): decode every frame at full size to RGB, and transcribe the whole
audio track with the same Whisper model (no VAD, default beam 5, word timestamps).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402

from vidsearch.ingest.config import PipelineConfig  # noqa: E402
from vidsearch.ingest.indexer import collect_files  # noqa: E402
from vidsearch.ingest.processor import VideoProcessor  # noqa: E402
from vidsearch.media import audio as audio_mod  # noqa: E402
from vidsearch.media.probe import probe  # noqa: E402
from vidsearch.models.resolve import resolve_whisper  # noqa: E402


def naive_decode(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        n = 0
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            n += 1
    return n


def run_pipeline(processor: VideoProcessor, files: list[Path]) -> tuple[float, dict[str, float]]:
    """Wall seconds for the folder and summed per-stage seconds."""
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    for _path, iv in processor.process_many(files):
        processor.fused_vectors(iv)
        for k, v in iv.stage_seconds.items():
            stages[k] = stages.get(k, 0.0) + v
    return time.perf_counter() - t0, stages


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    folder = Path(args[0]) if args else ROOT / "fixtures" / "videos"
    files, _ = collect_files([folder])
    configs = {
        "foundation": VideoProcessor(PipelineConfig(ocr=False, tags=False)),
        "offline": VideoProcessor(PipelineConfig()),
    }
    if "--no-clip" not in sys.argv:
        from vidsearch.models.clip import load_clip

        clip = load_clip("ViT-B-32", allow_random=True, batch_size=16)
        configs["clip"] = VideoProcessor(PipelineConfig(), clip_encoder=clip)
    # Load every model and JIT-compile librosa's kernels before timing (the target is "after
    # models are loaded"): one untimed warm-up run over the first video with audio.
    whisper = WhisperModel(resolve_whisper(None), device="cpu", compute_type="int8")
    warm = next(f for f in files if probe(f).has_audio)
    for processor in configs.values():
        processor.process(warm)

    media = sum(probe(p).duration for p in files)
    runs = {name: run_pipeline(processor, files) for name, processor in configs.items()}
    pipeline_s, stages = runs["offline"]

    base_decode = base_asr = 0.0
    for path in files:
        info = probe(path)
        t0 = time.perf_counter()
        naive_decode(path)
        base_decode += time.perf_counter() - t0
        track = audio_mod.load_audio(path, info)
        if track is not None:
            t0 = time.perf_counter()
            segments, _ = whisper.transcribe(track.samples, vad_filter=False, word_timestamps=True)
            for _ in segments:
                pass
            base_asr += time.perf_counter() - t0

    base_total = base_decode + base_asr
    result = {
        "videos": len(files),
        "media_seconds": round(media, 2),
        "configs_x_realtime": {name: round(media / wall, 1) for name, (wall, _) in runs.items()},
        "configs_stage_x_realtime": {name: {k: round(media / v, 1) for k, v in st.items()}
                                     for name, (_, st) in runs.items()},
        "pipeline_seconds": round(pipeline_s, 2),
        "pipeline_x_realtime": round(media / pipeline_s, 1),
        "stage_x_realtime": {k: round(media / v, 1) for k, v in sorted(stages.items(), key=lambda kv: -kv[1])},
        "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
        "baseline_seconds": {"decode_full_frames": round(base_decode, 2), "transcribe_whole_track": round(base_asr, 2)},
        "baseline_x_realtime": round(media / base_total, 1),
        "speedup_vs_baseline": round(base_total / pipeline_s, 1),
        "cpu_count": os.cpu_count(),
    }
    print(f"{len(files)} videos, {media:.1f} s of media on {os.cpu_count()} cores")
    for name, (wall, _) in runs.items():
        print(f"  {name:<11} {wall:6.1f} s = {media / wall:5.1f}x real time")
    print(f"pipeline (offline, the default): {pipeline_s:.1f} s = {media / pipeline_s:.1f}x real time "
          "(stages overlap: per-stage seconds add up to more than the wall time)")
    for k, v in result["stage_x_realtime"].items():
        print(f"  {k:<14} {stages[k]:6.2f} s  {v:7.1f}x real time")
    print(f"baseline: {base_total:.1f} s = {media / base_total:.1f}x real time "
          f"(decode {base_decode:.1f} s, transcribe {base_asr:.1f} s)")
    print(f"pipeline is {base_total / pipeline_s:.1f}x faster than the baseline")
    if "clip" in runs:
        clip_stage = runs["clip"][1].get("clip", 0.0)
        print(f"clip stage: {clip_stage:.1f} s ({media / clip_stage:.1f}x real time) on top of the offline channels")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "index_rtf.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
