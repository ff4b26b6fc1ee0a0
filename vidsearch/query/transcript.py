"""A video's spoken and on-screen lines with their times, the query's words marked in them.

What the web page's transcript panel shows beside the player: every utterance (Whisper's line,
with word timestamps) and every on-screen text line of one video as it was read (promo words too:
they are kept out of embeddings and captions, not out of sight), in time order. With a query,
each line carries ``marks``: the character spans of its text that hold the query's words, cut as
the exact-words index cuts them (:func:`vidsearch.text.lexical.terms`: Latin words and their
inflected forms, Chinese by character pairs, and in a spoken line also the pairs that sound like
the query's), each with the time its spoken word starts, so a click on a marked word seeks to the
second it is said.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from vidsearch.store.library import Library, UtteranceRow
from vidsearch.text.lexical import sound_key, sound_keys, term_spans, terms
from vidsearch.text.phrasing import query_forms

__all__ = ["Mark", "Transcript", "TranscriptLine", "query_words", "video_transcript"]

#: English words too common to be worth marking (the query "the cat" marks "cat" only).
FUNCTION_WORDS = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been it its this that these "
    "those i you he she we they me him her us them my your our their do does did not no so than then".split())


@dataclass(frozen=True)
class Mark:
    """A span ``[start, end)`` of a line's text holding a query word; ``time``: when it is said
    (the line's start for an on-screen line, or when the word's timestamp is unknown)."""

    start: int
    end: int
    time: float

    def to_json(self) -> dict:
        return {"from": self.start, "to": self.end, "time": round(self.time, 3)}


@dataclass
class TranscriptLine:
    """One utterance or on-screen line."""

    start: float
    end: float
    text: str
    language: str | None = None
    marks: list[Mark] = field(default_factory=list)

    def to_json(self) -> dict:
        out: dict = {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
                     "marks": [m.to_json() for m in self.marks]}
        if self.language:
            out["language"] = self.language
        return out


@dataclass
class Transcript:
    """A video's lines: ``speech`` (utterances) and ``screen`` (on-screen text), each in time order."""

    video_id: int
    video: str
    duration: float | None
    language: str | None
    query: str
    speech: list[TranscriptLine]
    screen: list[TranscriptLine]

    def to_json(self) -> dict:
        return {"video_id": self.video_id, "video": self.video, "duration": self.duration,
                "language": self.language, "query": self.query,
                "speech": [ln.to_json() for ln in self.speech], "screen": [ln.to_json() for ln in self.screen]}


def query_words(library: Library, query: str) -> set[str]:
    """The indexed words that stand for ``query``'s terms: the terms themselves, their inflected
    forms found in the library and the sounds of their Chinese pairs (as search counts them),
    common function words left out."""
    q_terms = [t for t in terms(query_forms(query).asked) if t not in FUNCTION_WORDS]
    if not q_terms:
        return set()
    forms = library.lexical_forms(q_terms)
    return set(q_terms) | {f for t in q_terms for f in forms.get(t, ())} | set(sound_keys(q_terms))


def marked_spans(text: str, wanted: set[str], *, spoken: bool = False) -> list[tuple[int, int]]:
    """Character spans of ``text`` whose term is in ``wanted``, cut as :func:`terms` cuts
    (adjacent or overlapping Chinese pairs join into one span; a Chinese number written in
    numerals is the number, ``第三题`` holds ``第3`` and ``3题``); in a ``spoken`` line, also the Chinese pairs
    whose sound is (:func:`vidsearch.text.lexical.sound_key`). A pair across the space of a
    letter-spaced line ("限 时 秒 杀") is found by search but not marked here."""
    if not wanted:
        return []
    spans = sorted((a, b) for term, a, b in term_spans(text)
                   if term in wanted or (spoken and sound_key(term) in wanted))
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _word_starts(text: str, u: UtteranceRow) -> list[tuple[int, int, float]]:
    """(first char, end char, start time) of each timed word of ``u`` found in ``text``, in order."""
    out = []
    pos = 0
    for w in u.words:
        word = w.text.strip()
        at = text.find(word, pos) if word else -1
        if at < 0:
            continue
        out.append((at, at + len(word), w.start))
        pos = at + len(word)
    return out


def _speech_line(u: UtteranceRow, wanted: set[str]) -> TranscriptLine:
    text = u.text.strip()
    words = _word_starts(text, u)
    marks = []
    for a, b in marked_spans(text, wanted, spoken=True):
        # The word the mark starts in says when it is heard; Whisper's Chinese "words" are
        # often single characters, so the pair's first character is looked up.
        time = next((t for wa, wb, t in words if wa <= a < wb), u.start)
        marks.append(Mark(a, b, time))
    return TranscriptLine(u.start, u.end, text, u.language, marks)


def video_transcript(library: Library, video_id: int, query: str = "") -> Transcript | None:
    """The lines of an indexed video with ``query``'s words marked; None when no such video."""
    video = library.video(video_id)
    if video is None or video.status != "indexed":
        return None
    wanted = query_words(library, query) if query.strip() else set()
    speech = [_speech_line(u, wanted) for u in library.utterances(video_id) if u.text.strip()]
    # The on-screen lines as read, promo words included: the exact-words index holds them so
    # (a search for "限时秒杀" lands on the badge), and the panel shows what the screen shows.
    shown = [(ln, ln.raw or ln.text) for ln in library.ocr_lines(video_id, as_shown=True)]
    screen = [TranscriptLine(ln.start, ln.end, text, None,
                             [Mark(a, b, ln.start) for a, b in marked_spans(text, wanted)])
              for ln, text in shown if text.strip()]
    return Transcript(video_id, os.fsdecode(video.path), video.duration, video.language, query.strip(),
                      speech, screen)
