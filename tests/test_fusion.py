"""Fusion layout and query weights: the score really is sum_c w_c cos(q_c, v_c)."""
import numpy as np
import pytest

from vidsearch.channels.fusion import PRESETS, ChannelLayout, WeightsError, parse_weights, resolve_weights


def _unit(rng, n):
    v = rng.normal(size=n).astype(np.float32)
    return v / np.linalg.norm(v)


def test_inner_product_equals_weighted_sum_of_cosines():
    rng = np.random.default_rng(0)
    layout = ChannelLayout.from_dict({"audio": 8, "speech": 16, "ocr": 16})
    assert layout.channels == ("speech", "ocr", "audio")  # storage order follows the registry
    seg = {"speech": _unit(rng, 16) * 3.0, "audio": _unit(rng, 8)}  # un-normalised input gets normalised
    q = {"speech": _unit(rng, 16), "ocr": _unit(rng, 16), "audio": _unit(rng, 8)}
    weights = {"speech": 1.0, "ocr": 0.5, "audio": 0.2}
    stored, query = layout.fuse(seg), layout.query(q, weights)
    expected = 1.0 * float(q["speech"] @ (seg["speech"] / 3.0)) + 0.2 * float(q["audio"] @ seg["audio"])
    assert float(stored @ query) == pytest.approx(expected, abs=1e-5)
    parts = layout.channel_scores(query, stored)
    assert parts["ocr"] == 0.0  # absent channel contributes nothing
    assert sum(parts.values()) == pytest.approx(expected, abs=1e-5)


def test_zero_weight_removes_a_channel_from_ranking():
    rng = np.random.default_rng(1)
    layout = ChannelLayout.from_dict({"speech": 4, "audio": 4})
    q = {"speech": _unit(rng, 4), "audio": _unit(rng, 4)}
    a = layout.fuse({"speech": q["speech"], "audio": -q["audio"]})  # speech match
    b = layout.fuse({"speech": -q["speech"], "audio": q["audio"]})  # audio match
    speech_first = layout.query(q, {"speech": 1, "audio": 0})
    audio_first = layout.query(q, {"speech": 0, "audio": 1})
    assert a @ speech_first > b @ speech_first
    assert b @ audio_first > a @ audio_first


def test_width_mismatch_is_an_error():
    layout = ChannelLayout.from_dict({"speech": 4})
    with pytest.raises(ValueError, match="speech"):
        layout.fuse({"speech": np.ones(5)})


def test_parse_weights_and_presets():
    assert parse_weights("speech=1, audio=0.2") == {"speech": 1.0, "audio": 0.2}
    assert parse_weights(None) == {}
    for bad, msg in [("speech", "CHANNEL=NUMBER"), ("smell=1", "unknown channel"), ("speech=x", "not a number"),
                     ("speech=-1", "from 0 to 1000"), ("speech=nan", "from 0 to 1000"),
                     ("speech=1e39", "from 0 to 1000")]:  # 1e39 overflows float32 scores to inf and NaN
        with pytest.raises(WeightsError, match=msg):
            parse_weights(bad)
    assert parse_weights("speech=1000") == {"speech": 1000.0}
    for bad_value in (float("nan"), float("inf"), -0.5, 1e39, "1", None, True):  # the Python API's overrides too
        with pytest.raises(WeightsError, match="bad weight 'speech="):
            resolve_weights(None, {"speech": bad_value})
    w = resolve_weights("lecture", {"audio": 0.0})
    assert w["speech"] == PRESETS["lecture"]["speech"] and w["audio"] == 0.0
    with pytest.raises(WeightsError, match="unknown preset"):
        resolve_weights("nope")
    with pytest.raises(WeightsError, match="all channel weights are zero"):
        resolve_weights("lecture", {c: 0.0 for c in PRESETS["lecture"]})
