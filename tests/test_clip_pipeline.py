"""The visual channel end to end with a tiny open_clip model (no real CLIP weights exist offline).

Plumbing, not semantics: `index --clip MODEL --clip-checkpoint PATH` builds a library with a
visual block of the model's width, remembers which CLIP it used, and `search` encodes the query
with that same model; without the weights both commands say so once and use the other channels.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import VIDEOS
from tests.test_clip import TINY, tiny_arch  # noqa: F401  (registers the tiny architecture)
from vidsearch.app.cli import app
from vidsearch.channels.fusion import ChannelLayout
from vidsearch.models.clip import load_clip
from vidsearch.store.library import Library

runner = CliRunner()


def cli(*args):
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def clip_library(tmp_path_factory, tiny_arch):  # noqa: F811
    base = tmp_path_factory.mktemp("clip")
    torch.manual_seed(1)
    model = load_clip(tiny_arch, allow_random=True)
    checkpoint = base / "tiny.pt"
    torch.save(model.model.state_dict(), checkpoint)
    videos = base / "videos"
    videos.mkdir()
    for name in ("summer_sale.mp4", "cockatoo_silent.mp4"):  # no speech: quick to index
        shutil.copy(VIDEOS / name, videos / name)
    db = base / "db"
    result = cli("index", "--db", db, "--clip", tiny_arch, "--clip-checkpoint", checkpoint, videos)
    assert result.exit_code == 0, result.output
    return db, checkpoint, videos


def test_index_with_clip_stores_a_visual_block_and_the_model_identity(clip_library, tiny_arch):  # noqa: F811
    db, checkpoint, _ = clip_library
    encoder = load_clip(tiny_arch, checkpoint)
    with Library.open(db, readonly=True) as lib:
        assert lib.layout["visual"] == encoder.dim == 32
        assert lib.setting("clip_model") == encoder.name and "checkpoint" in encoder.name
        layout = ChannelLayout.from_dict(lib.layout)
        vis = layout.slices()["visual"]
        ids = [s.id for v in lib.videos() for s in lib.video_segments(v.id) if not s.removed]
        blocks = lib.vectors(ids)[:, vis]
        assert np.allclose(np.linalg.norm(blocks, axis=1), 1.0, atol=1e-4)  # every segment has frames
        # The block is the mean of the segment's keyframe embeddings: different scenes differ.
        assert np.linalg.norm(blocks[0] - blocks[-1]) > 1e-3
        # Zero-shot tags from the vocabulary joined the ImageNet tags (English + Chinese).
        vocab_words = {v["en"] for v in json.loads((VIDEOS.parent.parent / "vidsearch" / "data" / "tag_vocabulary.json")
                                                     .read_text(encoding="utf-8"))}
        tags = [t for v in lib.videos() for s in lib.video_segments(v.id) for t in s.tags]
        assert tags and any(t in vocab_words for t in tags)


def test_search_encodes_the_query_with_the_library_clip(clip_library, tiny_arch):  # noqa: F811
    db, checkpoint, _ = clip_library
    encoder = load_clip(tiny_arch, checkpoint)
    # Tags keep hits coming whatever the sign of a random model's cosines.
    result = cli("search", "--db", db, "--json", "-k", "3", "--weights", "visual=1,speech=0,ocr=0,tags=1", "a red motorcycle")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["results"]
    assert hits
    # The visual evidence is the calibrated CLIP similarity (vidsearch.query.calibration), computed
    # here from the library's CLIP: the query, the generic bank and the background in its space.
    from vidsearch.query.calibration import csls, generic_queries, hubness

    q = encoder.encode_texts(["a red motorcycle"])[0]
    bank = np.asarray(encoder.encode_texts(list(generic_queries())), dtype=np.float32)
    with Library.open(db, readonly=True) as lib:
        vis = ChannelLayout.from_dict(lib.layout).slices()["visual"]
        every = lib.vectors(lib.live_segment_ids())[:, vis]
        background = float((every[np.abs(every).sum(axis=1) > 0] @ q).mean())
        for h in hits:
            stored = lib.vectors([h["segment_id"]])[0, vis]
            expected = max(0.0, float(csls(np.array([q @ stored]), hubness(stored[None, :], bank), background)[0]))
            assert h["channels"]["visual"] == pytest.approx(expected, abs=1e-4)
            assert h["score"] == pytest.approx(h["channels"]["visual"] + h["channels"]["tags"], abs=1e-4)


def test_missing_clip_weights_at_search_time_leave_the_other_channels(clip_library, tmp_path):
    db, checkpoint, _ = clip_library
    moved = tmp_path / "elsewhere.pt"
    shutil.move(checkpoint, moved)
    try:
        result = cli("search", "--db", db, "--json", "-k", "3", "摩托车")
    finally:
        shutil.move(moved, checkpoint)
    assert result.exit_code == 0, result.output
    assert "visual channel not searched" in result.stderr and str(checkpoint) in result.stderr
    hits = json.loads(result.stdout)["results"]
    assert hits and all(h["channels"]["visual"] == 0.0 for h in hits)
    assert hits[0]["video"].endswith("summer_sale.mp4") and hits[0]["start"] >= 9.8  # found by its tags


def test_offline_without_weights_index_says_so_once_and_goes_on(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(VIDEOS / "cockatoo_silent.mp4", videos)
    db = tmp_path / "db"
    result = cli("index", "--db", db, "--clip", "ViT-B-32:laion2b_s34b_b79k", videos)
    assert result.exit_code == 0, result.output
    notes = [ln for ln in result.stderr.splitlines() if "visual channel off" in ln]
    assert len(notes) == 1 and "--clip-checkpoint" in notes[0], result.stderr
    with Library.open(db, readonly=True) as lib:
        assert "visual" not in lib.layout and lib.stats()["live_segments"] > 0
    # Asking for CLIP on a library created without it is a note, not a failure.
    again = cli("index", "--db", db, "--clip", "ViT-B-32:laion2b_s34b_b79k", videos)
    assert again.exit_code == 0 and "created without the visual channel" in again.stderr


def test_random_weights_are_refused_on_the_command_line(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(VIDEOS / "cockatoo_silent.mp4", videos)
    result = cli("index", "--db", tmp_path / "db", "--clip", "ViT-B-32", videos)
    assert result.exit_code == 0
    assert "refus" in result.stderr and "random" in result.stderr
    with Library.open(tmp_path / "db", readonly=True) as lib:
        assert "visual" not in lib.layout


@pytest.mark.parametrize("option", ["--ocr-rules", "--tag-vocabulary"])
def test_broken_rules_or_vocabulary_file_is_one_error_before_any_work(tmp_path, option):
    bad = tmp_path / "bad.json"
    bad.write_text('{"promo_phrases": 5', encoding="utf-8")
    result = cli("index", "--db", tmp_path / "db", option, bad, VIDEOS / "cockatoo_silent.mp4")
    assert result.exit_code == 2
    assert str(bad) in result.stderr and len(result.stderr.strip().splitlines()) <= 2
    assert not (tmp_path / "db").exists()
    missing = cli("index", "--db", tmp_path / "db", option, tmp_path / "nope.json", VIDEOS / "cockatoo_silent.mp4")
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_captions_get_clip_text_vectors_and_match_clip_uses_the_visual_channel(clip_library, tiny_arch, tmp_path,  # noqa: F811
                                                                               monkeypatch):
    """On a library with CLIP, a caption also gets the CLIP text vector of its cleaned text
    (as typed, not label-normalised), and a clip's visual block meets it in match-clip.

    The tiny CLIP has random weights, so its similarities mean nothing and every caption would fall
    below the lowest confidence level: the levels are switched off to see the channel at work."""
    from vidsearch.query import captions as captions_module
    from vidsearch.query.confidence import Thresholds

    monkeypatch.setattr(captions_module, "CAPTION_THRESHOLDS", Thresholds(9.0, 9.0, -9.0))
    from vidsearch.text.clean import clean_text
    from vidsearch.text.synonyms import normalise_text

    db, checkpoint, videos = clip_library
    copy = tmp_path / "db"
    shutil.copytree(db, copy)
    captions = tmp_path / "c.jsonl"
    captions.write_text('{"id": "moto", "text": "🔥 Red retro motorcycle BUY NOW"}\n'
                        '{"id": "bird", "text": "白色凤头鹦鹉 点击购买"}\n', encoding="utf-8")
    result = cli("captions", "add", "--db", copy, captions, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["visual"] is True
    encoder = load_clip(tiny_arch, checkpoint)
    with Library.open(copy, readonly=True) as lib:
        rows = {r.id: r for r in lib.captions()}
    cleaned = clean_text("🔥 Red retro motorcycle BUY NOW")
    assert rows["moto"].clean == normalise_text(cleaned) == "Red 复古风 摩托车"  # text encoder: normalised
    expected = encoder.encode_texts([cleaned])[0]
    np.testing.assert_allclose(rows["moto"].clip_vec, expected, atol=1e-5)  # CLIP: cleaned, as typed

    from tests.altered_clips import make_altered_clip

    clip = make_altered_clip(videos / "summer_sale.mp4", tmp_path / "cut.mp4", 10.5, 4.0, scale=0.5)
    result = cli("match-clip", "--db", copy, "--json", "-k", "2", "--weights", "visual=1,speech=0,ocr=0,tags=0", clip)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {r["caption_id"] for r in doc["results"]} == {"moto", "bird"}
    assert all(set(r["channels"]) == {"visual"} for r in doc["results"])  # only the switched-on channel
    assert doc["moments"][0]["match"] == "source" and abs(doc["moments"][0]["start"] - 10.5) < 1.0
