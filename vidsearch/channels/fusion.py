"""One fused vector per segment; channel weights are a query-time choice.

Stored: [v_visual | v_speech | v_ocr | v_tags | v_audio], each block L2-normalised or zero, in the
storage order of :mod:`.registry` (which also holds what each channel is).
Query:  [w_visual q_visual | w_speech q_speech | ...], so the inner product is
sum_c w_c cos(q_c, v_c). Changing weights or presets never needs a reindex. Because every block
is unit length (or zero), ranking by inner product and by Euclidean distance agree within a
channel mix: there is no separate "cosine vs L2" choice to make. That inner product is what the
vector index recalls candidates by; a text query's candidates are then scored per channel, the
strongest channel counting in full and the others as corroboration (:func:`corroborate`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from vidsearch.channels import registry
from vidsearch.models.text_encoders import l2_normalise

#: The exact-words channel: not a block of the fused vector but a score from the library's
#: lexical index (spoken and on-screen lines), added at query time with its own weight.
LEXICAL = "text"
#: Channel weights per scenario. ``visual``/``ocr``/``tags`` contribute once their encoders exist;
#: a registered channel a preset does not name gets its ``default_weight``.
PRESETS: dict[str, dict[str, float]] = {
    "short-video": {"visual": 1.0, "speech": 1.0, "ocr": 0.6, "tags": 0.5, "audio": 0.2, LEXICAL: 0.7},
    "e-commerce": {"visual": 1.0, "speech": 0.5, "ocr": 1.0, "tags": 0.8, "audio": 0.1, LEXICAL: 0.8},
    "lecture": {"visual": 0.3, "speech": 1.0, "ocr": 0.8, "tags": 0.2, "audio": 0.1, LEXICAL: 0.7},
}
DEFAULT_PRESET = "short-video"
#: How much each channel other than a moment's strongest dense one adds to its score, per unit
#: of its weighted evidence (see :func:`corroborate`).
CORROBORATION = 0.1
#: The contribution a text query's moment gets from the rest of its video, per unit of the best
#: score of another, separate moment of that video (``channels["context"]``; see
#: :meth:`vidsearch.query.search.Searcher._with_video_context`).
VIDEO_CONTEXT = 0.3
#: The key of that contribution in ``channels``; it is there only when it is not zero.
CONTEXT = "context"
#: Names how a text query's score is made from its channels' contributions; confidence
#: thresholds fitted for one formula mean nothing under another (:mod:`vidsearch.query.confidence`).
SCORE_FORMULA = f"strongest+{CORROBORATION:g}+context{VIDEO_CONTEXT:g}"


def corroborate(contributions: Mapping[str, float]) -> dict[str, float]:
    """A moment's channel contributions as they count in its score: its strongest dense
    channel in full, every other dense channel at :data:`CORROBORATION`, the exact-words
    boost (``text``) in full. The values still add up to the score.

    What several channels say of one moment is mostly the same evidence said twice (a
    subtitle repeats the speech; a product card's text and the tags name the same product), so
    a plain sum let a moment that is half-related on every channel beat one that answers on one
    (a fruit-stall scene saying and showing "fresh and cheap" over the orange offer asked for,
    shown only in Chinese on screen). On the benchmark library (same index, thresholds refitted
    by the same rule): p@1 0.805 -> 0.830, whole ranking 0.830 -> 0.855; at the old thresholds
    the no-answer AUC (``vidsearch eval``'s, which counts a flagged query as 0) went 0.937 ->
    0.976. Measured there too: the other channels at 0.5 gave whole ranking 0.843, AUC 0.956;
    at 0.25, 0.849 / 0.964; at 0 (the strongest alone), 0.855 / 0.980, but the breakdown then
    hides every other channel.
    """
    dense = [c for c in contributions if c != LEXICAL]
    if not dense:
        return dict(contributions)
    top = max(dense, key=lambda c: contributions[c])
    return {c: v if c in (top, LEXICAL) else CORROBORATION * v for c, v in contributions.items()}


class WeightsError(ValueError):
    """A bad ``--weights``/``--preset`` value; the message is one line for the user."""


@dataclass(frozen=True)
class ChannelLayout:
    """Ordered channel widths of the stored vector; fixed when a library is created."""

    widths: tuple[tuple[str, int], ...]

    @classmethod
    def from_dict(cls, widths: Mapping[str, int]) -> "ChannelLayout":
        """The layout of these channel widths, in the registry's storage order."""
        order = registry.names()
        unknown = set(widths) - set(order)
        if unknown:
            raise ValueError(f"unknown channels {sorted(unknown)}")
        return cls(tuple((c, int(widths[c])) for c in order if c in widths))

    def as_dict(self) -> dict[str, int]:
        return dict(self.widths)

    @property
    def dim(self) -> int:
        return sum(w for _, w in self.widths)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.widths)

    def slices(self) -> dict[str, slice]:
        out, pos = {}, 0
        for channel, width in self.widths:
            out[channel] = slice(pos, pos + width)
            pos += width
        return out

    def fuse(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        """Concatenate per-channel vectors (normalised here; missing channels are zeros)."""
        out = np.zeros(self.dim, dtype=np.float32)
        for channel, sl in self.slices().items():
            v = vectors.get(channel)
            if v is None:
                continue
            v = np.asarray(v, dtype=np.float32).reshape(-1)
            if v.shape[0] != sl.stop - sl.start:
                raise ValueError(f"channel {channel}: width {v.shape[0]}, layout says {sl.stop - sl.start}")
            out[sl] = l2_normalise(v)
        return out

    def query(self, vectors: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
        """The weighted query vector: inner product with a stored vector = sum_c w_c cos_c."""
        fused = self.fuse(vectors)
        for channel, sl in self.slices().items():
            fused[sl] *= float(weights.get(channel, 0.0))
        return fused

    def channel_scores(self, query: np.ndarray, stored: np.ndarray) -> dict[str, float]:
        """Each channel's contribution w_c cos_c to the score (query already weighted)."""
        return {c: float(np.dot(query[sl], stored[sl])) for c, sl in self.slices().items()}


def parse_weights(text: str | None) -> dict[str, float]:
    """``"speech=1,audio=0.2"`` -> {"speech": 1.0, "audio": 0.2}; one-line errors for bad input."""
    if not text:
        return {}
    out: dict[str, float] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise WeightsError(f"bad weight {item!r}: expected CHANNEL=NUMBER, e.g. speech=1")
        if registry.get(name) is None and name != LEXICAL:
            raise WeightsError(f"unknown channel {name!r} in --weights (channels: {', '.join(channel_names())})")
        try:
            number = float(value)
        except ValueError:
            raise WeightsError(f"bad weight {item!r}: {value.strip()!r} is not a number") from None
        out[name] = _checked_weight(item, number)
    return out


#: The largest weight a channel may be given. Scores are summed in float32: a weight near its
#: limit (3.4e38) overflows to infinity and NaN; a thousand times the default is already "only this".
MAX_WEIGHT = 1000.0


def _checked_weight(item: str, number: object) -> float:
    """``number`` as a weight, or a one-line :class:`WeightsError` naming ``item``."""
    if isinstance(number, bool) or not isinstance(number, (int, float, np.integer, np.floating)):
        raise WeightsError(f"bad weight {item!r}: {number!r} is not a number")
    value = float(number)
    if not np.isfinite(value) or not 0 <= value <= MAX_WEIGHT:
        raise WeightsError(f"bad weight {item!r}: weights must be numbers from 0 to {MAX_WEIGHT:g}")
    return value


def channel_names() -> tuple[str, ...]:
    """Every channel a weight can name: the fused vector's, then the exact-words channel."""
    return (*registry.names(), LEXICAL)


def resolve_weights(preset: str | None, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Preset weights with per-request overrides on top."""
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise WeightsError(f"unknown preset {name!r} (presets: {', '.join(PRESETS)})")
    weights = dict(PRESETS[name])
    for channel in registry.channels():
        weights.setdefault(channel.name, channel.default_weight)
    weights.update({channel: _checked_weight(f"{channel}={value}", value) for channel, value in (overrides or {}).items()})
    if not any(v > 0 for v in weights.values()):
        raise WeightsError("all channel weights are zero: nothing to rank by")
    return weights
