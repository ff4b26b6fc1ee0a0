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
