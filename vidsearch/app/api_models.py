"""The JSON the HTTP API answers, as pydantic models: the response schemas of ``/openapi.json``.

The routes still build their answers as plain dicts and send them as they are (FastAPI does not
re-validate a response object, which saves about a millisecond a request), so these models
document the answers rather than produce them; the API tests validate real answers against them,
which keeps the two from drifting apart. Every model forbids fields it does not name, so the
schema says exactly which keys an answer has.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ApiErrorBody", "CaptionHitBody", "HealthBody", "MatchClipBody", "MomentBody", "OcrLineBody",
           "SearchBody", "SimilarBody", "TranscriptBody", "VideoBody", "VideoListBody"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiErrorBody(_Body):
    """Every error: a 4xx (or 503) status with one line; a server fault says only where to look."""

    error: str = Field(description="What went wrong, in one line.")


class OcrLineBody(_Body):
    """An on-screen line visible in a moment, clipped to the moment's span."""

    text: str
    start: float = Field(description="Seconds into the video.")
    end: float = Field(description="Seconds into the video.")


class MomentBody(_Body):
    """One moment of a video: the CLI's ``--json`` moment, named instead of located, with media URLs."""

    video: str = Field(description="The video's file name (never a path of the server's disk).")
    video_id: int
    segment_id: int = Field(description="The best segment of the moment; -1 when it is no stored segment.")
    start: float = Field(description="Seconds into the video.")
    end: float = Field(description="Seconds into the video.")
    jump: float = Field(description="Where to start playing: at the words that matched, when they are known.")
    score: float
    channels: dict[str, float] = Field(description="Each channel's contribution to the score as it counts (they add "
                                                   "up to it): for a text query the strongest channel in full, the "
                                                   "other channels at a tenth, the exact-words channel 'text' in full, and "
                                                   "'context' (only when not zero): 0.3 times the score of the best "
                                                   "other moment of the same video among the candidates.")
    snippet: str
    tags: list[str]
    ocr: list[OcrLineBody]
    confidence: Literal["high", "medium", "low"] | None = Field(
        default=None, description="Text queries: how sure the answer is (high: almost certainly right; medium: "
                                  "probably; low: related at best). Absent for clip matches.")
    match: Literal["source", "similar"] | None = Field(
        default=None, description="Clip matches only (absent otherwise): the clip was cut from here, or looks "
                                  "or sounds like it.")
    stream: str = Field(description="URL of the video file (HTTP Range: a player can seek).")
    thumbnail: str | None = Field(description="URL of the segment's keyframe; null when there is none.")


class HealthBody(_Body):
    """``GET /api/health``: liveness and what the library holds."""

    status: Literal["ok"]
    videos: int = Field(description="Indexed videos.")
    segments: int = Field(description="Live segments (searchable).")
    captions: int
    layout: dict[str, int] = Field(description="The library's channels and their vector widths, in order.")
    reloads: int = Field(description="How often the server reloaded the library after a writer's commit.")
    duration_s: float = Field(description="Total length of the indexed videos, in seconds.")
    last_indexed: float | None = Field(description="When the last video was indexed (Unix time); null when none is.")
    channels: list[str] = Field(description="The library's channels that answer on this server (a CLIP channel "
                                            "only when its model is here).")
    languages: dict[str, int] = Field(description="Videos per main spoken language ('' for silent ones).")


class SearchBody(_Body):
    """``GET /api/search``: the JSON of ``vidsearch search --json``, and where the next page starts."""

    query: str
    results: list[MomentBody] = Field(description="Best first; empty when nothing reaches the asked confidence.")
    note: str | None = Field(default=None, description='"no good match" when the results are empty.')
    notes: list[str] = Field(default_factory=list, description="What the command line says beside the answer: "
                             "a weight that cannot count in this library, filters no video passes.")
    offset: int = Field(description="Moments of the ranking skipped before these.")
    next_offset: int | None = Field(description="The offset of the next page; null when the ranking ends here.")


class SimilarBody(_Body):
    """``GET /api/segments/{segment_id}/similar``: moments like a stored segment, best first."""

    segment_id: int
    results: list[MomentBody] = Field(description="Other moments whose stored vectors are nearest the segment's "
                                                  "(the segment's own span left out); no confidence level.")


class VideoBody(_Body):
    """An indexed video."""

    video_id: int
    video: str = Field(description="The video's file name (never a path of the server's disk).")
    duration: float | None = Field(description="Seconds.")
    language: str | None = Field(description="Main spoken language as transcribed; null when silent.")
    segments: int
    stream: str = Field(description="URL of the video file (HTTP Range: a player can seek).")


class VideoListBody(_Body):
    """``GET /api/videos``: the indexed videos, by id."""

    videos: list[VideoBody]


class MarkBody(_Body):
    """Characters ``from`` to ``to`` of a line hold a query word, said at ``time``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: int = Field(alias="from")
    to: int
    time: float = Field(description="Seconds into the video: when the word is said (an on-screen line: when it appears).")


class LineBody(_Body):
    """A spoken or on-screen line."""

    start: float = Field(description="Seconds into the video.")
    end: float = Field(description="Seconds into the video.")
    text: str
    language: str | None = None
    marks: list[MarkBody] = Field(description="Where the query's words are in ``text`` (empty without a query).")


class TranscriptBody(_Body):
    """``GET /api/videos/{video_id}/transcript``: a video's lines, the query's words marked."""

    video_id: int
    video: str = Field(description="The video's file name.")
    duration: float | None
    language: str | None
    query: str
    speech: list[LineBody] = Field(description="Utterances in time order.")
    screen: list[LineBody] = Field(description="On-screen text lines in time order.")


class CaptionHitBody(_Body):
    """A caption that fits a clip."""

    caption_id: str
    text: str
    score: float
    confidence: Literal["high", "medium", "low"] = Field(
        description="What the score means: high (almost certainly describes the clip), medium (probably), low (related at best).")
    channels: dict[str, float] = Field(description="Each channel's cosine behind the score.")
    extra: dict[str, Any] = Field(description="The caption's other fields, as they were added.")


class MatchClipBody(_Body):
    """``POST /api/match-clip``: the JSON of ``vidsearch match-clip --json``."""

    clip: str = Field(description="The uploaded file's name.")
    duration: float = Field(description="The clip's length in seconds.")
    results: list[CaptionHitBody] = Field(description="Captions that fit the clip, best first.")
    moments: list[MomentBody] = Field(description="Where the clip comes from first, then moments like it.")
