"""Every channel of the fused vector, registered once, in storage order.

A :class:`Channel` says everything the rest of the engine asks about a channel: its width (known
from the models: the text encoder's or CLIP's dim, or a constant), how a segment is encoded from
what the per-video stage already computed (:class:`SegmentBatch`: transcript, on-screen text,
tags, keyframes and their CLIP vectors, the audio analysis; a channel decodes nothing itself, so
indexing costs what its encoder costs), how a text query meets it, which ``vidsearch doctor``
rows make it live, and its weight where a preset does not name it. Adding a channel is one
module defining a ``Channel`` plus ``register(...)``.

A query meets a channel in one of two spaces: ``"text"`` (the library's text encoder, the query
label-normalised like the captions) or ``"clip"`` (CLIP's text tower). A channel with
``query=None`` (``audio``, or any signal computed from pixels or sound) is **not searched by
text**: a text query's block for it is zero, so its weight changes nothing for a typed query.
It still counts where the query side has content of its own: a clip query (``match-clip``) runs
the clip through the same stage, so its segments carry the block and the weight applies there.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from vidsearch.channels.frame_text import tag_text
from vidsearch.types import AudioAnalysis, Segment

if TYPE_CHECKING:
    from vidsearch.models.text_encoders import TextEncoder

QuerySpace = Literal["text", "clip"] | None


class ChannelModels(Protocol):
    """The models a channel's width depends on (a ``VideoProcessor`` is one)."""

    @property
    def text_encoder(self) -> TextEncoder: ...

    @property
    def clip(self) -> Any: ...


@dataclass
class SegmentBatch:
    """What the per-video stage computed for one video's segments, handed to each encoder."""

    segments: Sequence[Segment]
    text_encoder: TextEncoder
    analysis: AudioAnalysis | None = None
    #: Per segment, the CLIP vectors of its keyframes ``(n_keyframes, dim)``; None when CLIP is off.
    frame_vectors: Sequence[np.ndarray | None] | None = None


#: Per segment, its vector (any scale: the layout L2-normalises it) or None when it has none.
Encoder = Callable[[SegmentBatch], list[np.ndarray | None]]


@dataclass(frozen=True)
class Channel:
    """One channel of the fused vector: see the module docstring for what each field drives."""

    name: str
    #: The block's width for these models, or None when the channel is off (CLIP not loaded).
    width: Callable[[ChannelModels], int | None]
    encode: Encoder
    query: QuerySpace = None
    #: ``vidsearch doctor`` roles that must all be available for the channel to be live.
    needs: frozenset[str] = frozenset({"binary"})
    #: Weight in a preset that does not name the channel (0: used only when asked by ``--weights``).
    default_weight: float = 0.0
    #: Text channels: the passage embedded per segment, and (optional) the labels that passage
    #: joins, which caption matching embeds one by one (a list of labels reads as no sentence).
    passage: Callable[[Segment], str] | None = None
    labels: Callable[[Segment], Sequence[str]] | None = None
    #: The channel whose evidence this one approximates (``tags``: ImageNet words for what CLIP's
    #: ``visual`` block sees). Where that channel cannot be searched (not in the library, or its
    #: model missing here) this one takes its weight when higher, unless a weight names it.
    stands_in_for: str | None = None
    #: What the segment's sound holds (speech, audio): a cut under a new soundtrack is not
    #: described by these channels of the moment it shows (:mod:`vidsearch.query.matchclip`).
    heard: bool = False


_REGISTRY: dict[str, Channel] = {}


def register(channel: Channel) -> Channel:
    """Add ``channel`` after those registered so far (its storage position); returns it."""
    if channel.name in _REGISTRY:
        raise ValueError(f"channel {channel.name!r} is already registered")
    if not channel.name.isidentifier():
        raise ValueError(f"bad channel name {channel.name!r}: use letters, digits and _")
    _REGISTRY[channel.name] = channel
    return channel


def unregister(name: str) -> None:
    """Remove a channel (libraries built with it then no longer open: their layout names it)."""
    _REGISTRY.pop(name, None)


def channels() -> tuple[Channel, ...]:
    """The registered channels, in storage order."""
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    """The registered channel names, in storage order."""
    return tuple(_REGISTRY)


def get(name: str) -> Channel | None:
    """The channel called ``name``, or None when none is registered under it."""
    return _REGISTRY.get(name)


def in_space(space: str) -> tuple[str, ...]:
    """Names of the channels a text query meets in ``space`` ("text" or "clip")."""
    return tuple(c.name for c in _REGISTRY.values() if c.query == space)


def text_encoded(passage: Callable[[Segment], str]) -> Encoder:
    """An encoder embedding each segment's non-empty passage with the text encoder, in one batch."""

    def encode(batch: SegmentBatch) -> list[np.ndarray | None]:
        texts = [passage(s) for s in batch.segments]
        out: list[np.ndarray | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t]
        if todo:
            for i, v in zip(todo, batch.text_encoder.encode_passages([texts[i] for i in todo])):
                out[i] = v
        return out

    return encode


def text_channel(name: str, passage: Callable[[Segment], str], role: str, **kw: Any) -> Channel:
    """A channel of text embedded by the library's text encoder and searched by text queries."""
    return Channel(name, lambda m: m.text_encoder.dim, text_encoded(passage), query="text",
                   needs=frozenset({role, "text embedding", "binary"}), passage=passage, **kw)


def _clip_mean(batch: SegmentBatch) -> list[np.ndarray | None]:
    """Mean CLIP vector over each segment's keyframes."""
    if batch.frame_vectors is None:
        return [None] * len(batch.segments)
    return [v.mean(axis=0) if v is not None and len(v) else None for v in batch.frame_vectors]


def _audio_dim(models: ChannelModels) -> int:
    from vidsearch.media.audio import AUDIO_DIM  # scipy: loaded when a layout is built, not on import

    return AUDIO_DIM


def _audio(batch: SegmentBatch) -> list[np.ndarray | None]:
    """The sound embedding of each segment's span (None where it is silent or there is no track)."""
    from vidsearch.media import audio as audio_mod

    if batch.analysis is None:
        return [None] * len(batch.segments)
    vecs = [audio_mod.audio_embedding(batch.analysis, s.start, s.end) for s in batch.segments]
    return [v if np.any(v) else None for v in vecs]


# The built-in channels, in storage order (a library's vector layout depends on it: never reorder).
register(Channel("visual", lambda m: m.clip.dim if m.clip is not None else None, _clip_mean,
                 query="clip", needs=frozenset({"frame embedding"})))
register(text_channel("speech", lambda s: s.speech_text, "speech", heard=True))
register(text_channel("ocr", lambda s: s.ocr_text, "on-screen text"))
register(text_channel("tags", lambda s: tag_text(s.tags), "visual tags", labels=lambda s: s.tags,
                      stands_in_for="visual"))
register(Channel("audio", _audio_dim, _audio, heard=True))
