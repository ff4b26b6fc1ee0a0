"""The per-video stage's worker threads end with it, and a model that cannot load here turns its
channel off once, without changing the caller's settings."""
from __future__ import annotations

import dataclasses
import importlib.util
import threading

import numpy as np

import vidsearch
from tests.conftest import VIDEOS
from vidsearch.ingest.config import PipelineConfig
from vidsearch.ingest.processor import VideoProcessor
from vidsearch.types import IndexedVideo


def _worker_threads(since: set[threading.Thread]) -> list[str]:
    """Names of the processor worker threads alive now that were not alive at ``since``."""
    return [t.name for t in threading.enumerate() if t not in since and t.name.startswith("vidsearch-")]


def test_index_and_match_clip_through_the_api_leave_no_worker_threads(tmp_path):
    before = set(threading.enumerate())
    seen: list[str] = []

    def progress(event, path):
        if event == "done":
            seen.extend(_worker_threads(before))

    db = tmp_path / "db"
    report = vidsearch.index(db, [VIDEOS / "cockatoo_silent.mp4", VIDEOS / "summer_sale.mp4"], clip="none",
                             tags=False, progress=progress)
    assert len(report.indexed) == 2 and not report.failed
    assert any(name.startswith("vidsearch-prepare") for name in seen)  # the pools did run
    assert _worker_threads(before) == []
    match = vidsearch.match_clip(db, VIDEOS / "summer_sale.mp4", k=3)
    assert match.moments and _worker_threads(before) == []


def test_close_ends_the_threads_and_the_processor_can_run_again(processor):
    before = set(threading.enumerate())
    config = PipelineConfig(clip=None, tags=False, ocr=False)
    videos = [VIDEOS / "cockatoo_silent.mp4", VIDEOS / "summer_sale.mp4", VIDEOS / "coffee_portrait.mp4"]
    with VideoProcessor(config, text_encoder=processor.text_encoder) as own:
        results = own.process_many(videos)
        path, first = next(results)  # the next video is being prepared ahead now
        assert path == videos[0] and isinstance(first, IndexedVideo)
        assert _worker_threads(before)
    assert _worker_threads(before) == []  # closed with a video prepared ahead: nothing left running
    again = own.process(videos[0])  # threads start anew; the models were kept
    assert np.array_equal(own.fused_vectors(again), own.fused_vectors(first))
    own.close()
    assert _worker_threads(before) == []


def test_ocr_not_installed_turns_on_screen_text_off_once_and_keeps_the_given_config(processor, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rapidocr_onnxruntime" else real(name, *a))
    given = PipelineConfig(clip=None, tags=False)
    with VideoProcessor(given, text_encoder=processor.text_encoder) as own:
        layout = own.layout
        videos = [iv for _, iv in own.process_many([VIDEOS / "summer_sale.mp4", VIDEOS / "go_forward.mp4"])]
        assert all(isinstance(iv, IndexedVideo) for iv in videos)
        # The sale video shows prices on screen: nothing was read, and the channel layout is as before.
        assert all(not iv.ocr_lines and not any(s.ocr_text for s in iv.segments) for iv in videos)
        assert own.layout == layout and own.ocr_reader is None
        assert len(own.notes) == 1 and own.notes[0].startswith("on-screen text off: ")
        assert "pip install rapidocr-onnxruntime" in own.notes[0]
        # What the processor runs with says OCR is off (batch workers are handed that); the
        # caller's settings are left as given.
        assert own.config.ocr is False and own.config == dataclasses.replace(given, ocr=False)
        assert given.ocr is True
