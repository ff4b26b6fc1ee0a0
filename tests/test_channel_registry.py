"""A channel added by one definition and its registration works in index, search and doctor.

The toy channel is real: the mean luma of a segment's keyframes, computed from the fixture frames
indexing already decoded. It is two numbers, ``(luma, 1 - luma)``: a block is L2-normalised, so a
one-number block would always be 1; two numbers keep brightness as the block's direction, and
cosine then compares two segments' brightness. No text can meet it (``query=None``), so a text
query's brightness block is zero and only a query carrying the block (a clip's segment) uses it.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from tests.conftest import VIDEOS
from vidsearch.app.doctor import channel_line, model_report
from vidsearch.channels import registry
from vidsearch.channels.fusion import ChannelLayout, WeightsError, parse_weights, resolve_weights
from vidsearch.channels.registry import Channel, SegmentBatch
from vidsearch.types import Segment

BUILT_IN = ("visual", "speech", "ocr", "tags", "audio")
VIDEOS_USED = ("rocket_launch.mp4", "cockatoo_silent.mp4")


def mean_luma(segment: Segment) -> float | None:
    """Mean Rec. 601 luma (0..1) over the segment's keyframes, or None without keyframes."""
    if not segment.keyframes:
        return None
    rgb = np.stack([k.image for k in segment.keyframes]).astype(np.float32) / 255.0
    return float((rgb[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)).mean())


def _brightness(batch: SegmentBatch) -> list[np.ndarray | None]:
    lumas = [mean_luma(s) for s in batch.segments]
    return [None if y is None else np.array([y, 1.0 - y], np.float32) for y in lumas]


BRIGHTNESS = Channel("brightness", lambda models: 2, _brightness, needs=frozenset({"binary"}))


@pytest.fixture
def brightness():
    registry.register(BRIGHTNESS)
    try:
        yield BRIGHTNESS
    finally:
        registry.unregister(BRIGHTNESS.name)


@pytest.fixture
def bright_library(brightness, processor, tmp_path):
    """Two fixture videos indexed with the brightness channel registered: (library, processor)."""
    from vidsearch.ingest.indexer import index_paths
    from vidsearch.store.library import Library

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in VIDEOS_USED:
        shutil.copy(VIDEOS / name, videos / name)
    with Library.open(tmp_path / "db", processor.layout.as_dict()) as library:
        report = index_paths(library, [videos], processor)
    assert not report.failed, report.failed
    library = Library.open(tmp_path / "db", readonly=True)
    yield library, videos
    library.close()


def _luma_of(block: np.ndarray) -> float:
    """Undo the L2 normalisation of ``(y, 1 - y)``: y / (1 - y) is the ratio of its two numbers."""
    return float(block[0] / (block[0] + block[1]))


def test_builtin_channels_in_storage_order():
    assert registry.names() == BUILT_IN
    assert registry.in_space("text") == ("speech", "ocr", "tags")
    assert registry.in_space("clip") == ("visual",)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get("speech"))
    with pytest.raises(WeightsError, match="unknown channel 'brightness'"):
        parse_weights("brightness=1")


@pytest.mark.slow
def test_registered_channel_is_indexed_searched_and_reported(bright_library, processor, truth):
    from vidsearch.query.search import Searcher

    library, videos = bright_library
    # Index: the channel joins the layout after the built-in ones, and its block is stored.
    assert list(library.layout)[-1] == "brightness" and library.layout["brightness"] == 2
    layout = ChannelLayout.from_dict(library.layout)
    sl = layout.slices()["brightness"]
    iv = processor.process(videos / "rocket_launch.mp4")  # the same keyframes indexing saw
    video = next(v for v in library.videos() if os.path.basename(str(v.path)) == "rocket_launch.mp4")
    rows = [r for r in library.video_segments(video.id) if not r.removed]
    stored = {(round(r.start, 3), round(r.end, 3)): vec for r, vec in zip(rows, library.vectors([r.id for r in rows]))}
    checked = 0
    for seg in iv.segments:
        key = (round(seg.start, 3), round(seg.end, 3))
        if key not in stored or mean_luma(seg) is None:
            continue
        block = stored[key][sl]
        # (stored vectors are read back from their float16 copy: three significant digits)
        assert float(np.linalg.norm(block)) == pytest.approx(1.0, abs=1e-3)
        assert _luma_of(block) == pytest.approx(mean_luma(seg), abs=2e-3)
        checked += 1
    assert checked >= 2

    # Search: weights accept it; a text query cannot meet it, so the spoken line is still found.
    assert parse_weights("speech=1,brightness=0.5") == {"speech": 1.0, "brightness": 0.5}
    assert resolve_weights(None)["brightness"] == 0.0  # off unless asked for
    searcher = Searcher(library)
    qv, _ = searcher.query_vector("weasels ate our telephone system", resolve_weights(None, {"brightness": 1.0}))
    assert not np.any(qv[sl])
    moments = searcher.search("weasels ate our telephone system", 5, weights={"brightness": 1.0})
    assert os.path.basename(moments[0].video) == "rocket_launch.mp4"
    line = next(u for u in truth["videos"]["rocket_launch.mp4"]["utterances"] if "Weasels" in u["text"])
    assert line["start"] - 0.5 <= moments[0].jump <= line["end"]

    # A query carrying a brightness block (what a clip's segment has) ranks by brightness alone.
    all_rows = [r for v in library.videos() for r in library.video_segments(v.id) if not r.removed]
    lumas = {r.id: _luma_of(vec[sl]) for r, vec in zip(all_rows, library.vectors([r.id for r in all_rows]))
             if np.any(vec[sl])}
    darkest = min(lumas, key=lumas.__getitem__)
    query = layout.query({"brightness": library.vectors([darkest])[0][sl]}, {"brightness": 1.0})
    top = searcher.search_vectors([query], 3, per_video=3)
    assert top[0].channels["brightness"] == pytest.approx(1.0, abs=1e-4)
    assert lumas[top[0].segment_id] == pytest.approx(lumas[darkest], abs=1e-2)

    # Doctor: its row of the channels line, live when its needs are met.
    assert "brightness" in channel_line(model_report()).split(";")[0]


def test_unregistered_channel_leaves_everything_as_it_was(processor):
    assert "brightness" not in processor.layout.channels
    assert "brightness" not in channel_line(model_report())
    assert set(resolve_weights(None)) == set(BUILT_IN) | {"text"}  # + the exact-words channel
