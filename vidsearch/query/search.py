"""Query -> candidates -> calibrated scores -> moments (adjacent hits merged, jump at the matching words).

A text query is answered in three steps:

1. **Recall.** The weighted query vector asks the vector index for :data:`RECALL_K` segments,
   and the exact-words index (:mod:`vidsearch.store.lexical`) for the spoken and on-screen lines
   holding the query's terms; the segments those lines fall in join the candidates, so a moment
   that says or shows the query word for word is never lost to the vector index's recall.
2. **Calibrated scores.** Every candidate is re-scored exactly from its stored vector. A raw
   cosine does not mean the same for every segment: short or garbled texts sit near the centre of
   the text space and are close to everything. Each channel's evidence is therefore its CSLS
   score (:mod:`vidsearch.query.calibration`: ``2 cos - hub(segment) - background(query)``,
   floored at 0), weighted by the preset (speech: the larger of the segment passage's and its
   best spoken line's, :meth:`Searcher._best_line_evidence`); the ``text`` channel adds the share of the query's
   term weight found in one line (:func:`vidsearch.text.lexical.coverage`) when that share is at
   least :data:`LEXICAL_MIN_COVERAGE` or the line holds a specific run of the query's words in
   order (:data:`LEXICAL_RUN_WORDS`), so an exact phrase wins and a stop-word match does not.
   The strongest dense channel counts in full, the others as corroboration only
   (:func:`vidsearch.channels.fusion.corroborate`); then each moment gains ``context``, a share of
   the score of the best other moment of its video among the candidates
   (:meth:`Searcher._with_video_context`). ``channels`` holds each contribution as it counts and
   they add up to ``score``.
3. **Confidence.** Each moment's score maps to ``high``/``medium``/``low``
   (:mod:`vidsearch.query.confidence`, thresholds stored with the library); when even the best
   moment is below ``low``, nothing is returned ("no good match").
"""
from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsearch.channels import registry
from vidsearch.channels.fusion import CONTEXT, LEXICAL, VIDEO_CONTEXT, ChannelLayout, corroborate, resolve_weights
from vidsearch.ingest.profile import library_profile
from vidsearch.models.holder import LoadOnce
from vidsearch.models.text_encoders import TextEncoder, get_text_encoder
from vidsearch.query.calibration import generic_queries, item_csls
from vidsearch.query.confidence import ANY, Floor, Thresholds, library_thresholds
from vidsearch.query.filters import SearchFilter
from vidsearch.store.lexical import LexicalLine
from vidsearch.store.library import Library, OcrLineRow, SegmentRow
from vidsearch.text.lexical import (
    CUT,
    SPECIFIC_IDF,
    coverage,
    idf,
    is_form,
    run_in_order,
    sound_key,
    sound_keys,
    specificity,
    term_sequence,
    terms,
)
from vidsearch.text.phrasing import QueryForms, query_forms
from vidsearch.text.script import is_cjk
from vidsearch.text.synonyms import SynonymTable, normalise_text
from vidsearch.types import Moment, said_within

if TYPE_CHECKING:
    from vidsearch.models.clip import ClipEncoder

#: An adjacent hit joins a moment when it stands at least this share as far above the
#: candidates' median score as the moment's best segment does (scores of multilingual text
#: encoders bunch together, so a plain ratio of raw scores would merge whole videos).
MERGE_RATIO = 0.8
#: Two segments closer than this (seconds) count as adjacent.
ADJACENT_GAP_S = 0.1
#: A speech (or on-screen text) contribution of at least this share of the score makes the jump
#: follow the matching words (or the matching line's first appearance). Since channels other
#: than the strongest count only as corroboration (a tenth), that is when speech (or on-screen
#: text) is the strongest channel and not dwarfed by the exact-words boost: where the picture
#: matched best, playback starts where the moment does (benchmark: "一只狗" now starts on the
#: dog's shot at 3.0 s, not on the line about the dog at 6.0 s).
SPEECH_JUMP_SHARE = 0.25
SNIPPET_CHARS = 200
#: The longest query searched. A query is a phrase or a few sentences; a pasted page costs a
#: term-by-term exact-words lookup and a long encode (10,000 characters took 69 s) and finds nothing better.
MAX_QUERY_CHARS = 500
#: Segments recalled from the vector index per text query, then re-scored exactly.
RECALL_K = 100
#: A filtered query re-scores every live segment of the videos it allows when they hold at most
#: this many; past that it asks the vector index for :data:`FILTERED_RECALL_K` instead.
FILTERED_SCAN_SEGMENTS = 5000
FILTERED_RECALL_K = 2000
#: Lines recalled from the exact-words index per text query.
LEXICAL_LINES = 200
#: Terms found in more than this share of the indexed lines are not used to look lines up.
LEXICAL_COMMON = 0.02
#: A line counts as an exact match when it holds at least this share of the query's term weight.
LEXICAL_MIN_COVERAGE = 0.5
#: ... or when it holds at least this many of the query's terms (Latin words, or overlapping
#: Chinese pairs: 3 is four characters) in a row, in the query's order, where they stand in the
#: line's text, together as specific as one term found in one line in a thousand
#: (``SPECIFIC_IDF``; in a library of a few dozen lines any three terms are): a quote
#: half heard right ("它抱着一颗坚果", Whisper: "他抱着一口天") or half remembered ("Sense and
#: Sensibility Jane Austen chapter 1", shown on two lines). Three words of common stop words
#: ("one of the") are not specific enough, and words spread over a line are not a run. Same
#: index, benchmark library: p@1 0.824 -> 0.830 (exact words 0.895 -> 0.921; "它抱着一颗坚果" found),
#: eight other right first answers scoring higher, no no-answer query matched; runs of 2 or 3
#: words at twice that specificity won the same query and raised fewer, runs of 4 won none.
LEXICAL_RUN_WORDS = 3
#: Segments sampled once per searcher for each query's background similarity per channel.
BACKGROUND_SAMPLE = 1024
#: Whisper's confidence in the speech scales its evidence from :data:`SPEECH_TRUST_FLOOR` up to 1:
#: a garbled line is short on meaning and close to every query, so its speech counts less. The
#: confidence is the mean log-probability of the words said (:attr:`vidsearch.types.Utterance.word_logprob`),
#: from :data:`WORD_LOGPROB_BAD` to :data:`WORD_LOGPROB_GOOD`; on the benchmark library, clean
#: lines' words sat at -0.01 to -0.3 (probability 0.74 and up), garbled lines' (wrong language,
#: invented words) at -0.5 to -2.1. Taking it per line instead of per Whisper segment (below),
#: same index: p@1 0.786 -> 0.805, whole ranking 0.805 -> 0.830, no-answer flagged 0.524 -> 0.619.
WORD_LOGPROB_BAD, WORD_LOGPROB_GOOD = -1.0, -0.3
#: Where a line's word confidence is unknown (a library indexed before they were kept, until a
#: writer opens it and computes them), Whisper's mean token log-probability of the segment the
#: line was cut from stands in, often a whole 30 s window shared by clean and garbled lines:
#: garbled windows sat at -0.7 to -1.5, clean ones at -0.2 to -0.6.
SPEECH_LOGPROB_BAD, SPEECH_LOGPROB_GOOD = -1.2, -0.5
SPEECH_TRUST_FLOOR = 0.3


_blas: Any = None


def _one_blas_thread() -> Any:
    """A context in which numpy's BLAS uses one thread. The products of a query are small (100
    candidates by 384 dims); left to OpenBLAS's thread pool, its spinning workers took the cores
    from the text encoder of the next query: at 100k segments p50 / p95 went from 18 / 21 ms to
    33 / 137 ms in process (benchmarks/serve_latency.py)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def speech_trust(word_logprob: float | None, logprob: float | None = None) -> float:
    """How much speech evidence counts, from Whisper's confidence in the words (``word_logprob``)
    or, where that is unknown, in the Whisper segment (``logprob``); 1 when neither is known."""
    for value, bad, good in ((word_logprob, WORD_LOGPROB_BAD, WORD_LOGPROB_GOOD),
                             (logprob, SPEECH_LOGPROB_BAD, SPEECH_LOGPROB_GOOD)):
        if value is not None and np.isfinite(value):
            return float(min(1.0, max(SPEECH_TRUST_FLOOR, (value - bad) / (good - bad))))
    return 1.0


def _check_page(k: int, offset: int) -> None:
    if k < 1:
        raise ValueError("k must be at least 1")
    if offset < 0:
        raise ValueError("offset must be 0 or more")


@dataclass
class SearchPage:
    """One page of a ranking: its moments, where it starts, and where the next page starts
    (None when the ranking ends here)."""

    moments: list[Moment]
    offset: int
    next_offset: int | None


@dataclass
class _Hit:
    segment_id: int
    score: float
    video_id: int
    video: str
    start: float
    end: float
    channels: dict[str, float]
    speech_text: str
    ocr_text: str
    tags: list[str]
    line: LexicalLine | None = None  # the exact-words line that matched best, if any


def _own_score(hit: _Hit | Moment) -> float:
    """What a hit or a moment scores by itself: its score without the video's context."""
    return hit.score - hit.channels.get(CONTEXT, 0.0)


def _spoken_terms(word: str, following: str, cut: int = CUT) -> set[str]:
    """The indexed terms a spoken word starts, sounds included: Whisper times Chinese character by
    character, so a Chinese word's pair is the word and the first character of the next one.
    ``cut``: how the index cuts lines (:func:`vidsearch.text.lexical.terms`)."""
    text = word.strip()
    after = following.strip()[:1]
    if text and after and ((is_cjk(text[-1]) and (is_cjk(after) or after.isdigit()))
                           or (text[-1].isdigit() and is_cjk(after))):
        text += after  # a number beside a Chinese character is paired with it too (``5斤``)
    found = terms(text, cut=cut)
    return {*found, *sound_keys(found)}


@dataclass
class _Reading:
    """One way of reading the query's words in a line: the words, the indexed terms that stand
    for each, how many of the library's ``n`` lines hold each word, the kinds of line it applies
    to, whether it reads Chinese pairs by their sound, and how the index cuts a line's text
    (``cut``, :func:`vidsearch.text.lexical.terms`)."""

    words: list[str]
    groups: dict[str, list[str]]
    df: dict[str, int]
    n: int
    kinds: set[str]
    by_sound: bool = False
    cut: int = CUT

    def __post_init__(self) -> None:
        self.weights = {w: idf(self.df[w], self.n) for w in self.words}
        self.word_of = {f: w for w in self.words for f in self.groups[w]}

    def distinctive(self, common: float) -> list[str]:
        """The terms of the words found in at most ``common`` lines (the others are stop words)."""
        return [f for w in self.words if self.df[w] <= common for f in self.groups[w]]

    def evidence(self, line: LexicalLine) -> float:
        """The line's coverage of the query times the matched words' specificity; 0 under
        :data:`LEXICAL_MIN_COVERAGE`, unless the line holds a run of the query's words in its
        order (:data:`LEXICAL_RUN_WORDS`)."""
        line_words = [self.word_of[x] for x in line.terms if x in self.word_of]
        cov = coverage(self.words, line_words, self.weights)
        if cov < LEXICAL_MIN_COVERAGE and not self._holds_run(line, set(line_words)):
            return 0.0
        return cov * specificity(self.words, line_words, self.weights)

    def _holds_run(self, line: LexicalLine, found: set[str]) -> bool:
        """Whether the line holds :data:`LEXICAL_RUN_WORDS` or more of the query's words one after
        another, in the query's order, as specific together as ``SPECIFIC_IDF``: read from the
        line's text, where each word stands (its indexed terms keep each term's first place only,
        and a spoken line's sounds follow its words)."""
        if len(found) < LEXICAL_RUN_WORDS or sum(self.weights[w] for w in found) < SPECIFIC_IDF:
            return False  # no run can qualify: most lines end here, without reading the text
        sequence = term_sequence(line.text, cut=self.cut)
        if self.by_sound:
            sequence = [sound_key(t) or t for t in sequence]
        run = run_in_order(self.words, [self.word_of.get(t) for t in sequence])
        return len(run) >= LEXICAL_RUN_WORDS and sum(self.weights[w] for w in run) >= SPECIFIC_IDF


def library_text_encoder(library: Library) -> TextEncoder:
    """The text encoder queries of ``library`` must use: the one it was indexed with."""
    return get_text_encoder(library_profile(library).text_encoder)


class Searcher:
    """Answers text queries over one library; load once, query many times."""

    def __init__(self, library: Library, text_encoder: TextEncoder | None = None, *,
                 clip_encoder: ClipEncoder | None = None):
        """``clip_encoder`` injects the frame encoder (tests); otherwise the library's own is loaded."""
        self.library = library
        self.layout = ChannelLayout.from_dict(library.layout)
        self._text = text_encoder
        self._clip: LoadOnce[ClipEncoder | None] = (
            LoadOnce.ready(clip_encoder) if clip_encoder is not None
            else LoadOnce(self._load_clip, on_unavailable=lambda exc: self.notes.append(f"visual channel not searched: {exc}")))
        self._synonyms: SynonymTable | None = None
        self._banks: dict[str, np.ndarray] = {}
        self._background: dict[str, np.ndarray] | None = None
        self._thresholds: Thresholds | None = None
        #: Why a channel of this library cannot be queried (e.g. its CLIP weights are missing here).
        self.notes: list[str] = []

    def _load_clip(self) -> ClipEncoder | None:
        """The CLIP the library's frames were encoded with (None: it has no visual channel)."""
        if "visual" not in self.layout.channels:
            return None
        from vidsearch.models.clip import configured_clip

        profile = library_profile(self.library)
        return configured_clip(profile.clip, profile.clip_checkpoint, built_with=profile.clip_model)

    @property
    def clip(self) -> ClipEncoder | None:
        """The library's CLIP model for text queries, or None (visual channel then scores 0)."""
        return self._clip.get(missing_ok=True)

    def live_channels(self) -> list[str]:
        """The library's channels that answer here, in layout order: a channel in CLIP's space
        counts only when the library's CLIP model can be loaded on this machine."""
        return [name for name in self.layout.channels if not self._model_missing(name)]

    def _model_missing(self, name: str) -> bool:
        """Whether channel ``name`` is in CLIP's space and the library's CLIP cannot be loaded
        here (CLIP is looked for only for such a channel)."""
        spec = registry.get(name)
        return spec is not None and spec.query == "clip" and self.clip is None

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text is None:
            self._text = library_text_encoder(self.library)
        return self._text

    def query_vector(self, query: str, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """(weighted fused query, plain text query vector).

        The text channels see the query with its labels normalised like the captions'
        (``vintage dress`` -> ``复古风 连衣裙``); CLIP sees it without that normalisation (what
        :func:`vidsearch.text.phrasing.query_forms` makes of it), because an English-only CLIP
        text tower would not read the Chinese canonical forms. Channels a text query cannot meet
        (``audio``: the registry's ``query=None``) get a zero block.
        """
        q_text = self.text_encoder.encode_queries([normalise_text(query, self.synonyms)])[0]
        per_channel: dict[str, np.ndarray] = {c: q_text for c in registry.in_space("text") if c in self.layout.channels}
        clip_channels = [c for c in registry.in_space("clip") if c in self.layout.channels and weights.get(c, 0) > 0]
        if clip_channels and self.clip is not None:
            q_clip = self.clip.encode_texts([query])[0]
            per_channel.update(dict.fromkeys(clip_channels, q_clip))
        return self.layout.query(per_channel, weights), q_text

    @property
    def synonyms(self) -> SynonymTable:
        """The label table the library's captions were normalised with; queries get the same."""
        if self._synonyms is None:
            from vidsearch.query.captions import library_synonyms

            self._synonyms = library_synonyms(self.library)
        return self._synonyms

    @property
    def thresholds(self) -> Thresholds:
        """The confidence thresholds of this library (stored with it, else the defaults)."""
        if self._thresholds is None:
            self._thresholds = library_thresholds(self.library)
        return self._thresholds

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        preset: str | None = None,
        weights: dict[str, float] | None = None,
        per_video: int = 2,
        min_confidence: Floor | None = None,
        where: SearchFilter | None = None,
        offset: int = 0,
    ) -> list[Moment]:
        """Best moments first, each with its confidence; at most ``per_video`` moments of one video
        unless fewer videos exist.

        When even the best moment is below ``low`` nothing answers the query: the list is empty
        ("no good match"). Otherwise the list is filled up to ``k``, the weaker moments labelled
        ``low``; ``min_confidence`` keeps only moments at or above that level, and ``"any"``
        returns the whole ranking, never "no good match" (moments under ``low`` labelled ``low``).

        ``where`` limits the answer to the videos it accepts (the confidence levels keep their
        meaning). ``offset`` skips that many moments of the ranking: a ranking's first ``n``
        moments never depend on how many are asked for, so a later page continues an earlier
        one exactly (:meth:`page` says where the next one starts).
        """
        return self.page(query, k, offset=offset, preset=preset, weights=weights, per_video=per_video,
                         min_confidence=min_confidence, where=where).moments

    def page(
        self,
        query: str,
        k: int = 10,
        *,
        offset: int = 0,
        preset: str | None = None,
        weights: dict[str, float] | None = None,
        per_video: int = 2,
        min_confidence: Floor | None = None,
        where: SearchFilter | None = None,
    ) -> SearchPage:
        """:meth:`search`'s moments ``offset`` to ``offset + k``, and the offset of the next page.

        A moment that lies wholly in a removed span is dropped after ranking and the next one
        takes its place, so a page holds ``k`` moments unless the ranking ends there.
        """
        _check_page(k, offset)
        ranked = self._ranked(query, offset + k + 1, preset=preset, weights=weights, per_video=per_video,
                              min_confidence=min_confidence, where=where)
        moments = self._placed(ranked[offset:offset + k])
        after = offset + len(moments)
        return SearchPage(moments, offset, after if len(ranked) > after else None)

    def _ranked(self, query: str, n: int, *, preset: str | None, weights: dict[str, float] | None,
                per_video: int, min_confidence: Floor | None,
                where: SearchFilter | None) -> list[tuple[Moment, _Hit, list[str], np.ndarray, int]]:
        """The first ``n`` moments of the ranking, each with its best hit, the query's indexed
        words, the plain query vector and how the words were cut (what placing its jump needs)."""
        query = query.strip()
        if not query:
            raise ValueError("empty query")
        if len(query) > MAX_QUERY_CHARS:
            raise ValueError(f"query too long: {len(query)} characters, at most {MAX_QUERY_CHARS}")
        # "find the part where X" asks for X, in Simplified Chinese as Whisper writes it and as the
        # exact-words index holds it; a query typed in Traditional characters is also embedded as
        # typed, for on-screen text and captions embedded as read (vidsearch.text.phrasing). An
        # index an earlier release built is asked the query cut as that release cut it; the first
        # held Chinese as written, and is asked the query as typed.
        forms = query_forms(query)
        cut = self.library.lexical_cut()
        q_terms = terms(forms.asked, cut=cut) if cut >= 2 else terms(query, cut=cut)
        allowed = where.video_ids_in(self.library) if where is not None and where.active else None
        if allowed is not None and not allowed:
            return []
        w = self.weights_for(preset, weights)
        qv, q_text = self.query_vector(forms.asked, w)
        hits, q_terms = self._scored_hits(forms, q_terms, qv, q_text, w, allowed, cut=cut)
        if not hits or (hits[0].score < self.thresholds.low and min_confidence != ANY):
            return []  # no good match
        merged = self._merge(hits)
        if min_confidence is not None:
            # The moments are merged from every hit, then the weak ones left out: filtering the
            # hits first would merge fewer neighbours, and a level would change the moments it shows.
            floor = self.thresholds.floor(min_confidence)
            merged = [(seed, group) for seed, group in merged if seed.score >= floor]
            if not merged:
                return []
        moments = self._first_playable(merged, n, per_video)
        by_id = {h.segment_id: h for h in hits}
        return [(m, by_id[m.segment_id], q_terms, q_text, cut) for m in moments]

    def _placed(self, ranked: list[tuple[Moment, _Hit, list[str], np.ndarray, int]]) -> list[Moment]:
        """The moments with their channels, confidence, on-screen lines and jump (done only for
        the moments given: it reads their utterances)."""
        out = []
        for m, hit, q_terms, q_text, cut in ranked:  # cut: how the query's terms were cut
            m.channels = dict(hit.channels)
            m.confidence = self.thresholds.level(m.score) or "low"
            lines = self.attach_ocr(m)
            dense = max((v for c, v in hit.channels.items() if c not in (LEXICAL, CONTEXT)), default=0.0)
            if hit.line is not None and hit.channels.get(LEXICAL, 0.0) >= dense:
                self._jump_to_line(m, hit.line, q_terms, cut)
            else:
                self._place_jump(m, q_text, lines, seed=(hit.start, hit.end))
            out.append(m)
        return out

    def weights_for(self, preset: str | None = None, overrides: dict[str, float] | None = None) -> dict[str, float]:
        """The channel weights a text query of this library is ranked with: the preset's, with
        ``overrides`` on top, and a stand-in channel (see ``Channel.stands_in_for``) raised to the
        weight of the channel it stands in for where that one cannot be searched here.

        Without CLIP, the ImageNet tags are all a library knows of what is seen; at the preset's
        0.5 (a supplement to CLIP) their best possible evidence stayed under the ``low`` threshold
        (measured when the score was the channels' sum), so a query about a squirrel the tagger
        named got "no good match". Taking the visual channel's weight, on the benchmark library (same index, same
        thresholds): p@1 0.755 -> 0.780, r@10 0.832 -> 0.885.
        """
        w = resolve_weights(preset, overrides)
        for channel in registry.channels():
            target = channel.stands_in_for
            if target is None or channel.name not in self.layout.channels or channel.name in (overrides or {}):
                continue
            if w.get(target, 0.0) <= w.get(channel.name, 0.0):
                continue  # nothing to raise: CLIP need not even be looked for
            if target not in self.layout.channels or self._model_missing(target):
                w[channel.name] = max(w.get(channel.name, 0.0), w.get(target, 0.0))
        return w

    def search_notes(self, overrides: dict[str, float] | None, preset: str | None, where: SearchFilter | None,
                     answered: bool) -> list[str]:
        """What to tell the user beside a text search's answer (the command line prints it on
        stderr, the server returns it as ``notes``): each weight that cannot count here
        (:meth:`weight_notes`), and, when nothing ``answered``, that no video passes the filters:
        nothing was searched, which a bare "no good match" hides (a typo in a language code)."""
        notes = self.weight_notes(overrides, preset)
        if not answered and where is not None and where.active and not where.video_ids_in(self.library):
            notes.append("no indexed video of this library passes the filters (video ids, folder, "
                         "durations, language)")
        return notes

    def weight_notes(self, overrides: dict[str, float] | None, preset: str | None = None, *,
                     text_query: bool = True) -> list[str]:
        """One line for each channel ``overrides`` (``--weights``) names that cannot count here,
        saying what happens instead: the library has no such channel, its model is missing here,
        or (``text_query``) a typed query cannot meet it (``audio``).

        For a text query a stand-in channel (``Channel.stands_in_for``) takes the weight of a
        channel that cannot be searched (:meth:`weights_for`); the line then says what the
        stand-in weighs with this weight and without it (a weight of 0 can lower it too). A clip
        query (``text_query=False``) has no stand-ins: the weight does nothing.
        """
        notes: list[str] = []
        overrides = overrides or {}
        for name, value in overrides.items():
            spec = registry.get(name)
            if spec is None:
                continue
            given = f"--weights {name}={value:g}"
            if name not in self.layout.channels:
                why = f"this library has no {name} channel"
            elif self._model_missing(name):
                why = f"the {name} channel cannot be searched here (its model is missing)"
            elif text_query and spec.query is None and value > 0:
                notes.append(f"{given}: a text query cannot meet the {name} channel; its weight counts only "
                             "for clip queries (match-clip)")
                continue
            else:
                continue
            stand_in = next((c.name for c in registry.channels()
                             if c.stands_in_for == name and c.name in self.layout.channels), None)
            if not text_query or stand_in is None:
                if value > 0:
                    notes.append(f"{given}: {why}, so this weight has no effect")
            elif stand_in in overrides:
                if value > 0:
                    notes.append(f"{given}: {why}; {stand_in}, which stands in for it, weighs what --weights "
                                 f"gives it ({overrides[stand_in]:g}), so this weight has no effect")
            else:
                without = {c: w for c, w in overrides.items() if c != name}
                before = self.weights_for(preset, without).get(stand_in, 0.0)
                after = self.weights_for(preset, overrides).get(stand_in, 0.0)
                if after != before:
                    notes.append(f"{given}: {why}; {stand_in} stands in for it and weighs {after:g} "
                                 f"instead of {before:g}")
                elif value > 0:
                    notes.append(f"{given}: {why}; {stand_in} stands in for it and weighs {after:g} with or "
                                 "without this weight")
        return notes

    def _scored_hits(self, forms: QueryForms, q_terms: list[str], qv: np.ndarray, q_text: np.ndarray,
                     weights: dict[str, float], allowed: set[int] | None = None, *,
                     cut: int = CUT) -> tuple[list[_Hit], list[str]]:
        """Every candidate of a text query (``q_terms``: its terms, as the exact-words index is
        cut, ``cut``: by this release or an earlier one; ``qv``, ``q_text``: ``forms.asked``
        embedded) with its calibrated per-channel contributions, best first, and the indexed words that count as the query's (its terms and
        their other forms). A query typed in another script than it is asked in (Traditional) is
        embedded as typed too, and each channel keeps the better of the two readings.
        ``allowed``: the only videos whose segments may answer (None: all)."""
        query = forms.asked
        candidates = self._candidates(qv, allowed)
        typed = self.query_vector(forms.as_typed, weights) if forms.as_typed else None
        if typed is not None:
            candidates |= self._candidates(typed[0], allowed)
        # Exact words said count only while speech is weighed, words shown only while on-screen text is.
        kinds = {kind for kind, channel in (("speech", "speech"), ("screen", "ocr")) if weights.get(channel, 0.0) > 0}
        exact, wanted = (self._exact_matches(q_terms, kinds, cut=cut, allowed=allowed)
                         if weights.get(LEXICAL, 0.0) > 0 and kinds else ({}, q_terms))
        ids = sorted(candidates | set(exact))
        rows = self.library.segments(ids)
        ids = [i for i in ids if i in rows and not rows[i].removed
               and (allowed is None or rows[i].video_id in allowed)]
        ids, vectors = self._stored_vectors(ids)
        if not ids:
            return [], wanted
        scored = [rows[i] for i in ids]
        with _one_blas_thread():
            per_channel = self._calibrated(query, vectors, q_text, weights, scored)
            if typed is not None and forms.as_typed is not None:
                as_typed = self._calibrated(forms.as_typed, vectors, typed[1], weights, scored)
                per_channel = {c: np.maximum(v, as_typed[c]) for c, v in per_channel.items()}
        hits = []
        for j, sid in enumerate(ids):
            row = rows[sid]
            channels = dict.fromkeys(self.layout.channels, 0.0)
            channels.update((c, float(v[j])) for c, v in per_channel.items())
            if weights.get(LEXICAL, 0.0) > 0:
                channels[LEXICAL] = 0.0
            line = None
            if sid in exact:
                cov, line = exact[sid]
                channels[LEXICAL] = weights[LEXICAL] * cov
            channels = corroborate(channels)
            score = sum(channels.values())
            if score <= 1e-6:  # nothing in common with the query on any live channel
                continue
            hits.append(_Hit(sid, score, row.video_id, os.fsdecode(row.video_path), row.start, row.end,
                             channels, row.speech_text, row.ocr_text, row.tags, line))
        hits = self._with_video_context(hits)
        hits.sort(key=lambda h: -h.score)
        return hits, wanted

    def _with_video_context(self, hits: list[_Hit]) -> list[_Hit]:
        """Add to each hit (in place; the list is returned) what the rest of its video says of the
        query, as ``channels["context"]``: :data:`VIDEO_CONTEXT` times the best score of another
        moment of the video. The hits are merged into moments as the ranking merges them
        (:meth:`_merge`), and every hit of a moment gains the same share of the best other
        moment's leading score: a moment never gains from its own segments, and within a video
        the moments keep their order (the best gains 0.3 of the second's score, every other 0.3 of
        the best's, which is less than the difference). :meth:`_merge` forms moments from the
        scores without it, so the moments stay those the context was counted over. About 1 ms a
        query (p50 15.9 -> 16.8 ms over the benchmark's queries, in process, 2 cores).

        A moment in a video that answers the query elsewhere too is more likely the one asked for
        than an isolated moment of an unrelated video that scores about as well: a garbled line
        of a butterfly walk ("We found a swallow-deal part of light-reston on a huge trip") beside
        its butterfly tags, over an art talk's on-screen line about a cypress tree, for "a
        swallowtail butterfly resting on a huge striped leaf". Measured on the benchmark library
        (same index), each way with the confidence thresholds its own scores fit by the same
        rule: shown first answers right 0.811 -> 0.824, recall@10 0.836 -> 0.868, no-answer
        queries flagged 0.571 either way; the whole ranking ("show weaker matches") 0.836 ->
        0.849, two first answers won and none lost. The weight: 0.3 and 0.4 won the same two,
        0.5 a third, 0.7 and 1 lost one.
        """
        if not hits:
            return hits
        moments = self._merge(hits)  # best moment first
        leaders: dict[int, list[_Hit]] = defaultdict(list)
        for seed, _ in moments:
            leaders[seed.video_id].append(seed)
        # Every bonus is taken from the scores before any is added.
        bonuses = [VIDEO_CONTEXT * next((s.score for s in leaders[seed.video_id] if s is not seed), 0.0)
                   for seed, _ in moments]
        for (_, group), bonus in zip(moments, bonuses):
            if bonus > 0:
                for h in group:
                    h.score += bonus
                    h.channels = {**h.channels, CONTEXT: bonus}
        return hits

    def _candidates(self, qv: np.ndarray, allowed: set[int] | None) -> set[int]:
        """Segment ids to re-score: the vector index's nearest; for a filter, every live segment
        of the allowed videos when they are few, else a wider recall (filtered afterwards)."""
        if allowed is None:
            return {sid for sid, _ in self.library.search(qv, RECALL_K)}
        spans = self.library.segment_spans(allowed)
        if sum(len(v) for v in spans.values()) <= FILTERED_SCAN_SEGMENTS:
            return {sid for video in spans.values() for sid, _, _ in video}
        return {sid for sid, _ in self.library.search(qv, FILTERED_RECALL_K)}

    def _calibrated(self, query: str, vectors: np.ndarray, q_text: np.ndarray, weights: dict[str, float],
                    rows: list[SegmentRow]) -> dict[str, np.ndarray]:
        """Per channel, each candidate's weighted calibrated evidence (see the module docstring)."""
        slices = self.layout.slices()
        per_channel: dict[str, np.ndarray] = {}
        for space, q in (("text", q_text), ("clip", self._clip_query(query, weights))):
            if q is None:
                continue
            bank = self._bank(space)
            for channel in registry.in_space(space):
                if channel not in slices or weights.get(channel, 0.0) <= 0:
                    continue
                blocks = vectors[:, slices[channel]]
                background = self.background.get(channel)
                bg = float((background @ q).mean()) if background is not None and len(background) else 0.0
                calibrated = np.maximum(item_csls(blocks, q, bank, bg), 0.0)
                if channel == "speech":
                    calibrated *= np.array([speech_trust(r.speech_word_logprob, r.speech_logprob) for r in rows],
                                           dtype=np.float32)
                    calibrated = np.maximum(calibrated, self._best_line_evidence(rows, q, bank, bg))
                per_channel[channel] = weights[channel] * calibrated
        return per_channel

    def _best_line_evidence(self, rows: list[SegmentRow], q: np.ndarray, bank: np.ndarray, bg: float) -> np.ndarray:
        """Per candidate, the calibrated speech evidence of its best spoken line, scaled by
        Whisper's confidence in that line (0 for a segment with fewer than two lines, whose one
        line is the segment's own passage).

        A segment's speech is embedded as one passage, so a line that is a small part of it (a
        closing "Any questions so far?" after a sentence about street art) is diluted by the
        rest. On the benchmark library (same index): p@1 0.761 -> 0.774, whole ranking 0.786 ->
        0.805, no-answer AUC 0.931 -> 0.937; a query that matches one line of a long segment
        (a one-handed lid, a card named among others) now finds it."""
        out = np.zeros(len(rows), dtype=np.float32)
        lines = self.library.spoken_lines([r.id for r in rows])
        if not lines.segment_ids:
            return out
        position = {r.id: j for j, r in enumerate(rows)}
        trust = np.array([speech_trust(w, a) for w, a in zip(lines.word_logprobs, lines.avg_logprobs)], dtype=np.float32)
        evidence = np.maximum(item_csls(lines.vectors, q, bank, bg), 0.0) * trust
        np.maximum.at(out, np.array([position[sid] for sid in lines.segment_ids]), evidence)
        return out

    def _stored_vectors(self, ids: list[int]) -> tuple[list[int], np.ndarray]:
        """The candidates whose vectors are stored, and those vectors (read from SQLite, so a
        segment a writer committed since this reader loaded its index is found too). A segment
        without a vector anywhere (removed since the candidates were read) is left out."""
        try:
            return ids, self.library.vectors(ids)
        except KeyError:
            kept, rows = [], []
            for sid in ids:
                try:
                    rows.append(self.library.vectors([sid])[0])
                except KeyError:
                    continue
                kept.append(sid)
            return kept, (np.stack(rows) if rows else np.zeros((0, self.layout.dim), np.float32))

    def _exact_matches(self, q_terms: list[str], kinds: set[str], *, cut: int = CUT,
                       allowed: set[int] | None = None) -> tuple[dict[int, tuple[float, LexicalLine]], list[str]]:
        """Segment id -> (evidence, line) of the best exact-words line in it: the line's coverage of
        the query (at least :data:`LEXICAL_MIN_COVERAGE`, or any with a run of the query's terms,
        :data:`LEXICAL_RUN_WORDS`) times the matched terms' specificity; and every indexed word that
        stands for a query term (its other forms and sounds included). ``cut``: how the index cuts
        lines (:func:`vidsearch.text.lexical.terms`; a run is read from a line's text, cut the same way).

        A line is read by the query's words as written and, if it is spoken, also by how they
        sound (a Chinese pair's toneless pinyin, :func:`vidsearch.text.lexical.sound_key`: Whisper
        writes what it hears with the wrong characters often enough); it counts by whichever
        reading gives it more. By sound, query words that sound alike are one word ("他说她说"),
        and a word is never rarer than by its characters: only spoken lines hold sounds, and a
        pair common on screen must not look distinctive because it is rare in speech.
        ``allowed``: the only videos whose lines are looked up (None: all); a word's specificity
        is still the whole library's."""
        forms = self.library.lexical_forms(q_terms)
        # Query words that are forms of one another ("paint a painting") are one term.
        keys: dict[str, str] = {}
        heads: list[str] = []  # the terms others are forms of, once each
        for t in dict.fromkeys(q_terms):
            keys[t] = next((u for u in heads if is_form(u, t)), t)
            if keys[t] == t:
                heads.append(t)
        words = list(dict.fromkeys(keys.values()))
        written = {w: list(dict.fromkeys(f for t in q_terms if keys[t] == w for f in forms[t])) for w in words}
        sound_of = {w: sound_key(w) or w for w in words}
        heard_words = list(dict.fromkeys(sound_of.values()))
        heard = {h: written[h] if h in written else [h] for h in heard_words}
        by_sound = "speech" in kinds and heard_words != words
        every = list(dict.fromkeys([*(f for w in words for f in written[w]),
                                    *(f for h in heard_words for f in heard[h] if by_sound)]))
        df_form, n = self.library.lexical_doc_freq(every)
        # A word's lines are those of any of its forms (a line holding two forms counts twice:
        # a little less specific than it is).
        df = {w: min(n, sum(df_form.get(f, 0) for f in written[w])) for w in words}
        df_heard = {h: max(min(n, sum(df_form.get(f, 0) for f in heard[h])),
                           max(df[w] for w in words if sound_of[w] == h)) for h in heard_words}
        readings = [_Reading(words, written, df, n, kinds, cut=cut)]
        if by_sound:
            readings.append(_Reading(heard_words, heard, df_heard, n, {"speech"}, by_sound=True, cut=cut))
        # Lines are looked up by the query's distinctive words only: a word in more than
        # LEXICAL_COMMON of the lines (a stop word) cannot single a line out, and ranking the
        # tens of thousands of lines holding it would cost more than the whole search. Each
        # reading looks its own lines up, so that spoken lines, which hold both, do not crowd
        # out the on-screen ones.
        common = max(50, LEXICAL_COMMON * n)
        lines: dict[int, LexicalLine] = {}
        for r in readings:
            found = self.library.lexical_lines(r.distinctive(common), LEXICAL_LINES, r.kinds, allowed)
            lines.update((line.id, line) for line in found)
        if not lines:
            return {}, every
        out: dict[int, tuple[float, LexicalLine]] = {}
        kept = []
        for line in lines.values():
            best = max((r.evidence(line) for r in readings if line.kind in r.kinds), default=0.0)
            if best > 0:
                kept.append((best, line))
        spans = self.library.segment_spans(line.video_id for _, line in kept)
        for cov, line in kept:
            for sid, start, end in spans.get(line.video_id, ()):
                inside = (start <= line.start < end) if line.end <= line.start else (start < line.end and end > line.start)
                if inside and cov > out.get(sid, (0.0, line))[0]:
                    out[sid] = (cov, line)
        return out, every

    def _clip_query(self, query: str, weights: dict[str, float]) -> np.ndarray | None:
        """The query in CLIP's space, when the library has a visual channel asked for and CLIP is here."""
        wanted = [c for c in registry.in_space("clip") if c in self.layout.channels and weights.get(c, 0) > 0]
        clip = self.clip if wanted else None
        if clip is None:
            return None
        return np.asarray(clip.encode_texts([query])[0], dtype=np.float32)

    def _bank(self, space: str) -> np.ndarray:
        """The generic queries embedded in ``space`` ("text" or "clip"), once per searcher."""
        if space not in self._banks:
            clip = self.clip
            if space == "clip" and clip is not None:
                bank = clip.encode_texts(list(generic_queries()))
            else:
                bank = self.text_encoder.encode_queries(list(generic_queries()))
            self._banks[space] = np.asarray(bank, dtype=np.float32)
        return self._banks[space]

    def reload(self) -> None:
        """Forget what was read from the library, after it changed: the segments a query's scores
        are calibrated against, the confidence thresholds and the synonym groups (a server then
        answers as a new one would, without a restart)."""
        self._background = None
        self._thresholds = None
        self._synonyms = None

    @property
    def background(self) -> dict[str, np.ndarray]:
        """Per channel, the non-zero blocks of up to :data:`BACKGROUND_SAMPLE` live segments spread
        over the library: what a query's similarity is compared with."""
        if self._background is None:
            ids = self.library.live_segment_ids()
            if len(ids) > BACKGROUND_SAMPLE:
                ids = [ids[i] for i in np.linspace(0, len(ids) - 1, BACKGROUND_SAMPLE).astype(int)]
            vectors = self.library.vectors(ids) if ids else np.zeros((0, self.layout.dim), np.float32)
            background = {}
            for channel, sl in self.layout.slices().items():
                blocks = vectors[:, sl]
                background[channel] = blocks[np.abs(blocks).sum(axis=1) > 0]
            self._background = background  # whole, at once: server threads read it concurrently
        return self._background

    def _jump_to_line(self, moment: Moment, line: LexicalLine, q_terms: list[str], cut: int = CUT) -> None:
        """Start at the exact-words line: its first matching spoken word (its terms cut as the
        query's were, ``cut``), or where the on-screen line first appears; the snippet is the line
        as said or shown."""
        jump = line.start
        if line.kind == "speech":
            wanted = set(q_terms)
            for u in self.library.utterances(moment.video_id, line.start, max(line.end, line.start + 1e-3)):
                if abs(u.start - line.start) > 1e-3:
                    continue
                jump = next((w.start for i, w in enumerate(u.words)
                             if wanted & _spoken_terms(w.text, u.words[i + 1].text if i + 1 < len(u.words) else "", cut)),
                            line.start)
                break
        moment.jump = float(min(max(jump, moment.start), moment.end))
        moment.snippet = line.text.strip()[:SNIPPET_CHARS]

    def search_vectors(self, queries: list[np.ndarray], k: int = 10, *, per_video: int = 2,
                       q_text: np.ndarray | None = None, exclude=None) -> list[Moment]:
        """Moments for weighted fused query vectors (one per part of a query clip, or one for a
        text query): a segment scores its best inner product over the queries.

        ``q_text`` (the plain text query vector) places ``jump`` on the matching words or line;
        without it a moment starts playing at its start. ``exclude(video_id, start, end)`` drops
        segments already given another way (a clip's source span).
        """
        best: dict[int, tuple[float, np.ndarray]] = {}
        for qv in queries:
            for sid, score in self.library.search(qv, max(50, 10 * k)):
                if sid not in best or score > best[sid][0]:
                    best[sid] = (score, qv)
        if not best:
            return []
        ids = sorted(best, key=lambda i: -best[i][0])
        rows = self.library.segments(ids)
        hits = []
        for sid in ids:
            row, score = rows.get(sid), best[sid][0]
            if row is None or score <= 1e-6:  # nothing in common with the query on any live channel
                continue
            if exclude is not None and exclude(row.video_id, row.start, row.end):
                continue
            hits.append(
                _Hit(sid, score, row.video_id, os.fsdecode(row.video_path), row.start, row.end,
                     {}, row.speech_text, row.ocr_text, row.tags)
            )
        merged = self._merge(hits)
        moments = self._first_playable(merged, k, per_video)
        # Per-channel scores only for the moments given (their best segment): fetching every
        # candidate's stored vector cost more than the index search itself.
        for m, vec in zip(moments, self.library.vectors([m.segment_id for m in moments])):
            m.channels = self.layout.channel_scores(best[m.segment_id][1], vec)
        for m in moments:
            lines = self.attach_ocr(m)
            if q_text is not None:
                self._place_jump(m, q_text, lines)
        return moments

    def similar(self, segment_id: int, k: int = 10, *, per_video: int = 2) -> list[Moment]:
        """Moments like a stored segment ("more like this"): its stored fused vector is the
        query, and moments overlapping the segment itself are left out. Scores are the fused
        inner products (as for a query clip), so no confidence level is given.
        Raises KeyError when the segment is not a live one."""
        row = self.library.segments([segment_id]).get(segment_id)
        if row is None or row.removed:
            raise KeyError(segment_id)
        vector = self.library.vectors([segment_id])[0]

        def itself(video_id: int, start: float, end: float) -> bool:
            return video_id == row.video_id and start < row.end and end > row.start

        return self.search_vectors([vector], k, per_video=per_video, exclude=itself)

    def attach_ocr(self, moment: Moment) -> list[OcrLineRow]:
        """Give a moment the on-screen lines visible in it, clipped to its span; returns the rows."""
        lines = self.library.ocr_lines(moment.video_id, moment.start, moment.end)
        moment.ocr = [{"text": ln.text, "start": max(ln.start, moment.start), "end": min(ln.end, moment.end)}
                      for ln in lines]
        return lines

    def _clip_to_content(self, moment: Moment) -> bool:
        """Move a moment's edges out of removed spans (bumpers, black heads); False if nothing is left.

        Segments mostly inside a removed span are never stored as live, but one that only
        touches a bumper's edge is, and its removed part must not be played.
        """
        for span in self.library.removed_spans(moment.video_id):
            if span.start <= moment.start < span.end:
                moment.start = span.end
            if span.start < moment.end <= span.end:
                moment.end = span.start
        moment.jump = min(max(moment.jump, moment.start), moment.end)
        return moment.end - moment.start > 0.05

    def _merge(self, hits: list[_Hit]) -> list[tuple[_Hit, list[_Hit]]]:
        """The hits as moments, ``(leading hit, its hits by time)``, best first: a neighbour joins a
        moment while it scores near its leading hit, measured above the median of what the hits
        score by themselves (:func:`_own_score`)."""
        floor = float(np.median([_own_score(h) for h in hits])) if hits else 0.0
        by_video: dict[int, list[_Hit]] = defaultdict(list)
        for h in hits:
            by_video[h.video_id].append(h)
        merged = []
        for video_hits in by_video.values():
            video_hits.sort(key=lambda h: h.start)
            used: set[int] = set()
            # What each hit says itself decides the moments; the video's context (added to all
            # of a moment's hits alike, from the other moments) does not move them.
            for seed in sorted(video_hits, key=lambda h: -_own_score(h)):
                if seed.segment_id in used:
                    continue
                group = [seed]
                used.add(seed.segment_id)
                pos = video_hits.index(seed)
                for step in (-1, 1):
                    i, edge = pos + step, seed
                    while 0 <= i < len(video_hits):
                        nb = video_hits[i]
                        gap = nb.start - edge.end if step > 0 else edge.start - nb.end
                        own, seed_own = _own_score(nb), _own_score(seed)
                        strong = own - floor >= MERGE_RATIO * (seed_own - floor) and seed_own > floor
                        if nb.segment_id in used or gap > ADJACENT_GAP_S or not strong:
                            break
                        group.append(nb)
                        used.add(nb.segment_id)
                        edge, i = nb, i + step
                merged.append((seed, sorted(group, key=lambda h: h.start)))
        merged.sort(key=lambda m: -m[0].score)
        return merged

    def _first_playable(self, merged: list[tuple[_Hit, list[_Hit]]], n: int, per_video: int) -> list[Moment]:
        """The first ``n`` moments of the diversified ranking that keep something to play once
        moved out of removed spans (:meth:`_clip_to_content`). A dropped moment is replaced by the
        next, so a page that holds fewer than ``n`` is the ranking's last (its first moments do
        not depend on ``n``: :meth:`_diversify` keeps its order as ``n`` grows)."""
        want = n
        while True:
            picked = self._diversify(merged, want, per_video)
            moments = [m for m in picked if self._clip_to_content(m)]
            if len(moments) >= n or len(picked) < want:
                return moments[:n]
            want += n - len(moments)

    @staticmethod
    def _diversify(merged: list[tuple[_Hit, list[_Hit]]], k: int, per_video: int) -> list[Moment]:
        chosen: list[tuple[_Hit, list[_Hit]]] = []
        overflow: list[tuple[_Hit, list[_Hit]]] = []
        counts: dict[int, int] = defaultdict(int)
        for seed, group in merged:
            (chosen if counts[seed.video_id] < per_video else overflow).append((seed, group))
            counts[seed.video_id] += 1
        # A video may exceed its share only when the others cannot fill k.
        ordered = chosen[:k] + overflow[: max(0, k - len(chosen))]
        return [
            Moment(
                video=seed.video,
                video_id=seed.video_id,
                segment_id=seed.segment_id,
                start=group[0].start,
                end=group[-1].end,
                jump=group[0].start,
                score=seed.score,
                channels=seed.channels,
                snippet=(" ".join(h.speech_text for h in group if h.speech_text)
                         or " ".join(dict.fromkeys(h.ocr_text for h in group if h.ocr_text))
                         or ", ".join(seed.tags))[:SNIPPET_CHARS],
                tags=list(dict.fromkeys(t for h in [seed, *group] for t in h.tags)),
            )
            for seed, group in ordered
        ]

    def _line_scores(self, embeddings: list[np.ndarray | None], q_text: np.ndarray,
                     trust: list[float] | None = None) -> np.ndarray:
        """CSLS of each line against the query, ``2 cos - hub`` (the query's background is the
        same for every line), a positive score scaled by ``trust`` (Whisper's confidence in a
        spoken line, as the line's evidence is scaled when it scores its segment); a line without
        an embedding scores below every other."""
        scores = np.full(len(embeddings), -np.inf, dtype=np.float32)
        have = [(i, e) for i, e in enumerate(embeddings) if e is not None]
        if have:
            items = np.stack([e for _, e in have]).astype(np.float32)
            got = item_csls(items, q_text, self._bank("text"), 0.0)
            if trust is not None:
                got = np.where(got > 0, got * np.array([trust[i] for i, _ in have], dtype=np.float32), got)
            scores[[i for i, _ in have]] = got
        return scores

    def _place_jump(self, moment: Moment, q_text: np.ndarray, lines: list[OcrLineRow],
                    seed: tuple[float, float] | None = None) -> None:
        """Start playback where the matching content starts: the first word of the best-matching
        utterance, or the first appearance of the best-matching on-screen line.

        ``seed`` is the span of the segment that scored (a moment may have merged its
        neighbours): the words and lines are looked for there, because a neighbour's line can
        sit closer to the query in raw cosine (a short or garbled line is close to everything)
        without being what matched. On the benchmark this moved a 16 s moment's jump 7.6 s on,
        onto the sentence asked for (the moment had merged the segment before it).

        Lines are compared by their CSLS score against the query (:func:`_line_scores`), as
        segments are: by raw cosine "which chip is the microcontroller" (asked in Chinese) went
        to "Thin copper traces carry the signals from one chip to the next" rather than "The
        large square chip at the bottom is the microcontroller" in the same segment. On the
        benchmark: p@1 0.755 -> 0.761, no first answer lost.
        """
        speech = moment.channels.get("speech", 0.0)
        ocr = moment.channels.get("ocr", 0.0)
        if max(speech, ocr) <= 0 or max(speech, ocr) < SPEECH_JUMP_SHARE * _own_score(moment):
            return
        lo, hi = (max(seed[0], moment.start), min(seed[1], moment.end)) if seed else (moment.start, moment.end)
        if hi <= lo:
            lo, hi = moment.start, moment.end
        if ocr > speech:
            # (a line read on one frame has end == start: it counts where it starts)
            lines = [ln for ln in lines if ln.start < hi and (ln.end > lo or ln.start >= lo)] or lines
            scores = self._line_scores([ln.embedding for ln in lines], q_text)
            best_line = lines[int(np.argmax(scores))] if lines else None
            if best_line is not None:
                moment.jump = float(min(max(best_line.start, moment.start), moment.end))
                moment.snippet = best_line.text[:SNIPPET_CHARS]
            return
        utterances = self.library.utterances(moment.video_id, lo, hi)
        if not utterances:
            return
        trust = [speech_trust(u.word_logprob, u.avg_logprob) for u in utterances]
        best = utterances[int(np.argmax(self._line_scores([u.embedding for u in utterances], q_text, trust)))]
        starts = [w[1] for w in best.words if said_within(w[1], w[2], lo, math.inf)] if best.words else [best.start]
        jump = starts[0] if starts else best.start
        moment.jump = float(min(max(jump, moment.start), moment.end))
        moment.snippet = best.text.strip()[:SNIPPET_CHARS]
