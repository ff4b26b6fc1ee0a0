"""The open_clip frame/text encoder: plumbing on a tiny random model, and honest refusals.

No CLIP weights exist offline, so a tiny randomly initialised open_clip model (registered here,
with the BPE tokenizer that ships inside open_clip) checks shapes, batching, zero-shot tags and
checkpoint loading; semantic quality is not tested here. The production paths must refuse:
no pretrained tag, weights not cached while offline, a missing file, an unknown name.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")
skdata = pytest.importorskip("skimage.data")

from vidsearch.models.clip import (  # noqa: E402
    DEFAULT_CLIP,
    ClipEncoder,
    ClipUnavailable,
    clip_report,
    default_vocabulary_path,
    load_clip,
    load_vocabulary,
)

TINY = "vidsearch-test-tiny"
TINY_WIDE = "vidsearch-test-tiny-wide"  # same family, other widths: a wrong-architecture target
_TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory) -> str:
    """Register the tiny architectures with open_clip (process-wide, under unique names)."""
    folder = tmp_path_factory.mktemp("open_clip_cfg")
    wide = json.loads(json.dumps(_TINY_CFG))
    wide["embed_dim"] = 48
    wide["text_cfg"]["width"] = 96
    (folder / f"{TINY}.json").write_text(json.dumps(_TINY_CFG))
    (folder / f"{TINY_WIDE}.json").write_text(json.dumps(wide))
    open_clip.add_model_config(folder)
    return TINY


@pytest.fixture(scope="module")
def tiny(tiny_arch: str) -> ClipEncoder:
    torch.manual_seed(0)
    return load_clip(tiny_arch, allow_random=True, threads=2, batch_size=2)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [skdata.chelsea(), skdata.coffee(), skdata.rocket()]


@pytest.fixture(scope="module")
def vectors(tiny: ClipEncoder, photos: list[np.ndarray]) -> np.ndarray:
    return tiny.encode_images(photos)


@pytest.fixture()
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test (offline means no network at all).

    HF_HUB_OFFLINE is set after huggingface_hub was imported (which reads it once, at import):
    our own check must still keep every lookup on disk."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted while HF_HUB_OFFLINE=1")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --------------------------------------------------------------------------- shapes and batching


def test_shapes_norms_and_name(tiny: ClipEncoder, vectors: np.ndarray) -> None:
    assert tiny.name == f"open_clip:{TINY}:random"
    assert tiny.dim == 32 and tiny.batch_size == 2
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    texts = tiny.encode_texts(["rocket launch", "猫咪玩毛线球", ""])
    assert texts.shape == (3, 32) and texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert tiny.encode_images([]).shape == (0, 32)
    assert tiny.encode_texts([]).shape == (0, 32)


def test_batched_equals_one_by_one(tiny: ClipEncoder, photos: list[np.ndarray], vectors: np.ndarray) -> None:
    # batch_size=2 over three photos: one full batch and one partial one
    one_by_one = np.concatenate([tiny.encode_images([im]) for im in photos])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)
    texts = ["a cat", "a cup of coffee", "a rocket"]
    np.testing.assert_allclose(
        tiny.encode_texts(texts), np.concatenate([tiny.encode_texts([t]) for t in texts]), atol=1e-5
    )


def test_different_images_differ(tiny: ClipEncoder, photos: list[np.ndarray], vectors: np.ndarray) -> None:
    cos = vectors @ vectors.T
    assert np.all(cos[~np.eye(3, dtype=bool)] < 0.999), cos
    # a 320x180 keyframe-sized copy and a grey copy are still valid inputs
    small = np.ascontiguousarray(photos[0][::2, ::2])
    grey = photos[0].mean(axis=2).astype(np.uint8)
    out = tiny.encode_images([small, grey])
    assert out.shape == (2, 32) and np.all(np.isfinite(out))
    with pytest.raises(ValueError, match="uint8"):
        tiny.encode_images([photos[0].astype(np.float32)])


def test_trimmed_text_tower_matches_open_clip(tiny: ClipEncoder) -> None:
    """Queries skip the padding after end-of-text: same vectors as open_clip's own encode_text."""
    assert tiny._encode_tokens is not tiny.model.encode_text  # the fast path is on for plain CLIP
    texts = ["", "cat", "猫咪玩毛线球", "a photo of a teacher giving a lecture.", "long " * 100]
    tokens = tiny._tokenizer(texts)
    with torch.inference_mode():
        reference = torch.nn.functional.normalize(tiny.model.encode_text(tokens), dim=-1).numpy()
    np.testing.assert_allclose(tiny.encode_texts(texts), reference, atol=1e-5)


# --------------------------------------------------------------------------- zero-shot tags


def test_zero_shot_tags_plumbing(tiny: ClipEncoder, vectors: np.ndarray) -> None:
    vocab = [v["en"] for v in load_vocabulary()]
    tags = tiny.zero_shot_tags(vectors, top_k=5, min_prob=0.0)
    assert len(tags) == 3
    for row in tags:
        assert len(row) == 5
        assert all(label in vocab for label, _ in row)
        probs = [p for _, p in row]
        assert probs == sorted(probs, reverse=True) and 0.0 < probs[-1] and sum(probs) <= 1.0 + 1e-6
    # min_prob drops the unsure labels, and may leave none
    cut = tags[0][2][1]
    for row in tiny.zero_shot_tags(vectors, top_k=5, min_prob=cut):
        assert all(p >= cut for _, p in row)
    assert tiny.zero_shot_tags(vectors, top_k=5, min_prob=1.01) == [[], [], []]
    # a small vocabulary: the softmax covers exactly it
    small = tiny.zero_shot_tags(vectors, ["cat", "coffee", "rocket"], top_k=3, min_prob=0.0)
    for row in small:
        assert sorted(label for label, _ in row) == ["cat", "coffee", "rocket"]
        assert sum(p for _, p in row) == pytest.approx(1.0, abs=1e-6)
    assert tiny.zero_shot_tags(np.zeros((0, 32), np.float32)) == []


def test_zero_shot_prompts_encoded_once(tiny: ClipEncoder, vectors: np.ndarray, monkeypatch) -> None:
    calls: list[int] = []
    real = tiny.encode_texts

    def counting(texts):
        calls.append(len(texts))
        return real(texts)

    monkeypatch.setattr(tiny, "encode_texts", counting)
    labels = ["parrot", "red dress", "temple"]
    first = tiny.zero_shot_tags(vectors, labels, top_k=3, min_prob=0.0)
    second = tiny.zero_shot_tags(vectors, labels, top_k=3, min_prob=0.0)
    assert calls == [3] and first == second


def test_bundled_vocabulary() -> None:
    vocab = load_vocabulary()
    assert 150 <= len(vocab) <= 250
    en = [v["en"] for v in vocab]
    assert len(set(en)) == len(en)
    assert all(v["en"].strip() and v["zh"].strip() for v in vocab)
    for must in ("cat", "dog", "bird", "parrot", "coffee", "tea", "car", "rocket", "motorcycle", "dress",
                 "red dress", "shoes", "handbag", "city", "beach", "mountain", "temple", "smartphone"):
        assert must in en, must
    assert load_vocabulary(default_vocabulary_path()) == vocab


def test_user_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps([{"en": "teapot", "zh": "茶壶"}, "kettle", {"en": "teapot", "zh": "x"}]),
                    encoding="utf-8")
    assert load_vocabulary(path) == [{"en": "teapot", "zh": "茶壶"}, {"en": "kettle", "zh": ""}]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"zh": "猫"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json"):
        load_vocabulary(bad)
    with pytest.raises(ValueError, match="missing.json"):
        load_vocabulary(tmp_path / "missing.json")


# --------------------------------------------------------------------------- loading real weights


@pytest.fixture(scope="module")
def tiny_checkpoint(tiny: ClipEncoder, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(tiny.model.state_dict(), path)
    return path


def _same_embeddings(a: ClipEncoder, b: ClipEncoder, photos: list[np.ndarray]) -> None:
    """The same weights (bit for bit) and so the same embeddings. The embeddings are compared to
    float32 rounding: two model instances may run different CPU kernels (seen on a 2-core Xeon:
    6e-8 apart), while other weights put them ~0.1 apart."""
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for name, tensor in sa.items():
        assert torch.equal(tensor, sb[name]), name
    np.testing.assert_allclose(a.encode_images(photos), b.encode_images(photos), rtol=0, atol=1e-6)
    np.testing.assert_allclose(a.encode_texts(["rocket launch"]), b.encode_texts(["rocket launch"]), rtol=0, atol=1e-6)


def test_checkpoint_roundtrip(tiny: ClipEncoder, tiny_checkpoint: Path, photos, no_network, tmp_path) -> None:
    loaded = load_clip(TINY, tiny_checkpoint)  # no allow_random: the file gives the weights
    _same_embeddings(tiny, loaded, photos)
    assert loaded.name.startswith(f"open_clip:{TINY}:checkpoint:")
    ident = loaded.name.rsplit(":", 1)[1]
    assert len(ident) == 16 and int(ident, 16) >= 0
    # "MODEL:PATH" says the same; a copy elsewhere keeps the identity, other weights change it
    assert load_clip(f"{TINY}:{tiny_checkpoint}").name == loaded.name
    copy = tmp_path / "copy.pt"
    shutil.copyfile(tiny_checkpoint, copy)
    assert load_clip(TINY, copy).name == loaded.name
    state = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    state["logit_scale"] += 1.0
    torch.save(state, tmp_path / "other.pt")
    assert load_clip(TINY, tmp_path / "other.pt").name != loaded.name
    ok, detail = clip_report(TINY, tiny_checkpoint)
    assert ok and str(tiny_checkpoint) in detail


def test_model_folder_and_offline_hub_cache(tiny: ClipEncoder, photos, no_network, tmp_path) -> None:
    """An open_clip model folder, and the same folder as a cached hub repo, load without network."""
    from safetensors.torch import save_file

    folder = tmp_path / "tiny-model"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in tiny.model.state_dict().items()}, folder / "open_clip_model.safetensors")
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": _TINY_CFG, "preprocess_cfg": {}}))
    _same_embeddings(tiny, load_clip(None, folder), photos)

    cache = tmp_path / "cache"
    repo = cache / "models--acme--tiny-clip"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    shutil.copytree(folder, repo / "snapshots" / "0123abcd")
    from_hub = load_clip("hf-hub:acme/tiny-clip", cache_dir=cache)
    assert from_hub.name == "open_clip:hf-hub:acme/tiny-clip"
    _same_embeddings(tiny, from_hub, photos)


def test_pretrained_tag_from_cache_offline(tiny, tiny_checkpoint, photos, no_network, monkeypatch, tmp_path) -> None:
    """MODEL:TAG resolves to the weights in the cache dir, laid out as open_clip downloads them."""
    import open_clip.pretrained as pretrained

    monkeypatch.setitem(pretrained._PRETRAINED, TINY, {"fake": {"url": "", "hf_hub": "acme/tiny-weights/"}})
    snapshot = tmp_path / "models--acme--tiny-weights" / "snapshots" / "feed"
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("feed")
    shutil.copyfile(tiny_checkpoint, snapshot / "open_clip_pytorch_model.bin")
    loaded = load_clip(f"{TINY}:fake", cache_dir=tmp_path)
    assert loaded.name == f"open_clip:{TINY}:fake"
    _same_embeddings(tiny, loaded, photos)
    ok, detail = clip_report(f"{TINY}:fake", cache_dir=tmp_path)
    assert ok and str(tmp_path) in detail
    ok, detail = clip_report(f"{TINY}:fake", cache_dir=tmp_path / "empty")
    assert not ok and "--clip-checkpoint" in detail


# --------------------------------------------------------------------------- refusals


def _refused(*args, reported: bool = True, **kwargs) -> str:
    """load_clip's one-line refusal; clip_report (files only, no loading) agrees when ``reported``."""
    with pytest.raises(ClipUnavailable) as info:
        load_clip(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message
    if reported:
        ok, reason = clip_report(*args, cache_dir=kwargs.get("cache_dir"))
        assert not ok and reason == message
    return message


def test_refuses_random_weights(no_network) -> None:
    assert "refusing randomly initialised" in _refused("ViT-B-32")


def test_refuses_uncached_weights_offline(no_network, tmp_path) -> None:
    message = _refused("ViT-B-32:laion2b_s34b_b79k", cache_dir=tmp_path)
    assert "--clip-checkpoint" in message and str(tmp_path) in message and "HF_HUB_OFFLINE" in message
    # the default (multilingual) model likewise, and a hub repo spec
    assert "--clip-checkpoint" in _refused(None, cache_dir=tmp_path)
    assert "--clip-checkpoint" in _refused(DEFAULT_CLIP, cache_dir=tmp_path)
    assert "--clip-checkpoint" in _refused("ViT-B-32:openai", cache_dir=tmp_path)  # a tag with a URL too
    assert "--clip-checkpoint" in _refused("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", cache_dir=tmp_path)


def test_refuses_missing_or_bad_checkpoint(tiny_arch, tiny_checkpoint, no_network, tmp_path) -> None:
    missing = tmp_path / "nowhere" / "clip.pt"
    assert str(missing) in _refused(TINY, missing)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    # only loading finds out these two (clip_report does not read the weights)
    assert str(junk) in _refused(TINY, junk, reported=False)
    # weights of another architecture: one line, naming the file
    assert str(tiny_checkpoint) in _refused(TINY_WIDE, tiny_checkpoint, reported=False)


def test_hf_text_tower_checked_at_load(tiny_checkpoint, no_network, monkeypatch, tmp_path) -> None:
    """xlm-roberta's text tower needs transformers and its HF config/tokenizer: refused up front,
    not at the first query."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        assert "pip install transformers" in _refused("xlm-roberta-base-ViT-B-32", tiny_checkpoint)
        assert "pip install transformers" in _refused(None, cache_dir=tmp_path)  # the default spec
    else:
        import huggingface_hub.constants as hf_constants

        monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
        message = _refused("xlm-roberta-base-ViT-B-32", tiny_checkpoint)
        assert "xlm-roberta-base" in message and "not cached" in message


def test_refuses_unknown_names(no_network) -> None:
    assert "ViT-Q-99" in _refused("ViT-Q-99:laion2b_s34b_b79k")
    message = _refused("ViT-B-32:no_such_tag")
    assert "no_such_tag" in message and "laion2b_s34b_b79k" in message



# --------------------------------------------------------------------------- the default, missing


def test_the_default_model_is_looked_for_where_open_clip_keeps_it(no_network, monkeypatch, tmp_path) -> None:
    """Offline, the default model is looked up before open_clip is imported, at the place open_clip's
    own table names: when its weights are there, the lookup goes on to what else it needs."""
    import importlib.util

    import huggingface_hub.constants as hf_constants

    from vidsearch.models import clip as clip_module

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    model, tag = DEFAULT_CLIP.split(":")
    assert open_clip.get_pretrained_cfg(model, tag)["hf_hub"] == clip_module._DEFAULT_CLIP_HUB
    assert not open_clip.get_pretrained_cfg(model, tag).get("url")  # no other download to look for
    also = "" if importlib.util.find_spec("transformers") else " (it also needs transformers: pip install transformers)"
    assert _refused(None, cache_dir=tmp_path) == (
        f"CLIP model {DEFAULT_CLIP} is not in the cache ({tmp_path}) and the hub is off (HF_HUB_OFFLINE=1): "
        f"pass --clip-checkpoint PATH or run once with network{also}")
    if also:
        return  # the text tower without transformers: test_hf_text_tower_checked_at_load
    repo = tmp_path / ("models--" + clip_module._DEFAULT_CLIP_HUB.strip("/").replace("/", "--"))
    (repo / "snapshots" / "feed").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("feed")
    (repo / "snapshots" / "feed" / "open_clip_pytorch_model.bin").write_bytes(b"weights")
    message = _refused(DEFAULT_CLIP, cache_dir=tmp_path)
    assert "is not in the cache" not in message and "xlm-roberta-base" in message and "not cached" in message


def test_the_default_model_missing_offline_costs_no_open_clip_import(tmp_path) -> None:
    """Every ``index`` asks for the default CLIP; where its weights are not, learning so must not
    cost open_clip's import (4 s of every start: it pulls in transformers and torchvision)."""
    code = (
        "import sys\n"
        "from vidsearch.models.clip import ClipUnavailable, load_clip\n"
        "try:\n"
        "    load_clip(None, cache_dir=sys.argv[1])\n"
        "except ClipUnavailable as exc:\n"
        "    print(exc)\n"
        "print(sorted(m for m in ('open_clip', 'transformers', 'torchvision') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    refusal, imported = out.stdout.strip().splitlines()
    assert "--clip-checkpoint" in refusal and imported == "[]"
