"""The captions corpus: copy lines that describe clips, matched against a clip's content.

A caption is ``{"id", "text", ...extra fields}`` from a JSONL or CSV file. Before it is embedded
its text is cleaned (promo boilerplate, emoji, stutters: :mod:`vidsearch.text.clean`) and its
labels normalised (``复古``/``vintage`` -> ``复古风``: :mod:`vidsearch.text.synonyms`); the original
text and the extra fields are kept and returned as given.

Each caption is embedded into the spaces it can meet a clip in: the library's multilingual text
encoder (query side, like a search query, so a caption meets a clip's speech, on-screen text and
tags exactly as a typed query meets the library) and, when the library has a visual channel, the
CLIP text tower. The vectors live in the library's SQLite store (``captions`` table) and are
searched exactly in memory: a caption corpus is small next to a video library (100k captions x
384 floats is 150 MB and one matrix product per clip), and exact search needs no second index
to keep consistent with SQLite.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsearch.channels import registry
from vidsearch.ingest.profile import SYNONYMS_SETTING  # the user's synonym groups, as JSON
from vidsearch.query.calibration import csls, generic_queries, hubness
from vidsearch.query.confidence import Level, Thresholds
from vidsearch.store.library import CaptionRow, Library
from vidsearch.text.clean import CleaningRules, clean_text
from vidsearch.text.synonyms import SynonymTable, load_synonyms, normalise_text

__all__ = ["CAPTION_THRESHOLDS", "Caption", "CaptionFileError", "CaptionIndex", "PreparedCaption", "read_captions",
           "prepare_captions", "library_synonyms", "remember_synonyms"]

#: How much a caption's hub value (its closeness to generic queries, :mod:`vidsearch.query.calibration`)
#: is taken off. Full CSLS takes it all; but the bank is of queries and a caption meets it across
#: spaces, so its hub value overstates how generic it is. Benchmark (24 cuts, caption r@1 / MRR):
#: 0 -> 0.79 / 0.84, 0.5 -> 0.79 / 0.84, 1.0 -> 0.75 / 0.81, 1.5 -> 0.75 / 0.80.
HUB_WEIGHT = 0.5
#: Confidence levels of caption scores (``2 cos - HUB_WEIGHT hub - background``), fitted on the
#: benchmark's 24 cuts: every first caption at or above ``high`` was right (10 of 10), 4 of 6
#: between ``medium`` and ``high``, 4 of 8 below ``medium``; ``low`` keeps 95% of the right
#: captions in the first ten and drops the weakest filler. With the source moment's segments
#: matched too (:mod:`vidsearch.query.matchclip`): 11 of 11, 6 of 7, 2 of 6.
CAPTION_THRESHOLDS = Thresholds(high=0.65, medium=0.45, low=0.2)
#: The caption corpus is a background only when it is this large (most of it then describes
#: other clips; in a handful of captions the median may be the right one).
MIN_BACKGROUND_CAPTIONS = 10



class CaptionFileError(ValueError):
    """A captions file that cannot be used; ``str()`` is one line naming the file and the reason."""


@dataclass
class Caption:
    """One caption as the user gave it."""

    id: str
    text: str
    extra: dict = field(default_factory=dict)


def _no_constant(name: str) -> object:
    """Python's JSON reader takes NaN and Infinity, which are not JSON: stored in a caption's extra
    fields they would make every answer holding it invalid JSON."""
    raise ValueError(f"{name} is not a JSON number")


def _json_rows(path: Path, text: str) -> list[tuple[int, object]]:
    """(line number, parsed value) for a JSONL file, or for a JSON array of objects."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise CaptionFileError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        except ValueError as exc:
            raise CaptionFileError(f"{path}: not valid JSON ({exc})") from None
        return [(i + 1, row) for i, row in enumerate(data)]
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((lineno, json.loads(line, parse_constant=_no_constant)))
        except json.JSONDecodeError as exc:
            rows.append((lineno, CaptionFileError(f"not valid JSON ({exc.msg})")))
        except ValueError as exc:
            rows.append((lineno, CaptionFileError(f"not valid JSON ({exc})")))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[int, object]]:
    # strict: a quote left open is an error, not a cell that swallows every row after it.
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        return _csv_records(path, reader)
    except csv.Error as exc:
        raise CaptionFileError(f"{path}: not valid CSV after line {reader.line_num} ({exc})") from None


def _csv_records(path: Path, reader: csv.DictReader) -> list[tuple[int, object]]:
    # "ID" and "Text" name the two columns whatever their case; other columns keep their names as given.
    header = [("" if not h else h.strip().lower() if h.strip().lower() in ("id", "text") else h.strip())
              for h in (reader.fieldnames or [])]
    if "id" not in header or "text" not in header:
        raise CaptionFileError(f"{path}: a CSV captions file needs a header row with 'id' and 'text' columns "
                               f"(found: {', '.join(h for h in header if h) or 'none'})")
    reader.fieldnames = header
    rows: list[tuple[int, object]] = []
    for record in reader:
        lineno = reader.line_num
        if None in record:  # more cells than the header has names
            rows.append((lineno, CaptionFileError(f"{len(header) + len(record[None])} cells for "
                                                  f"{len(header)} columns")))
            continue
        rows.append((lineno, {k: v for k, v in record.items() if k}))
    return rows


def _caption(value: object) -> Caption:
    if isinstance(value, CaptionFileError):
        raise value
    if not isinstance(value, Mapping):
        raise CaptionFileError(f"expected an object with 'id' and 'text', got {type(value).__name__}")
    cid, text = value.get("id"), value.get("text")
    if cid is None or isinstance(cid, (dict, list, bool)) or not str(cid).strip():
        raise CaptionFileError("missing 'id'")
    if not isinstance(text, str) or not text.strip():
        raise CaptionFileError("missing or empty 'text'")
    return Caption(str(cid).strip(), text, {k: v for k, v in value.items() if k not in ("id", "text")})


def read_captions(path: Path | str, *, skip_invalid: bool = False) -> tuple[list[Caption], list[str]]:
    """Parse a captions file: JSONL (or a JSON array), or CSV with a header naming ``id`` and ``text``.

    The format follows the suffix (``.csv``; ``.jsonl``/``.ndjson``/``.json``), else the first
    character. Returns (captions, problems). A bad row raises :class:`CaptionFileError` naming the
    file and line, unless ``skip_invalid``: then it is left out and described in ``problems``.
    An id given twice keeps its last row (as re-adding an id replaces it).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaptionFileError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError as exc:
        raise CaptionFileError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise CaptionFileError(f"{path}: empty file, no captions")
    suffix = path.suffix.lower()
    is_json = suffix in (".jsonl", ".ndjson", ".json") or (suffix != ".csv" and text.lstrip()[:1] in "{[")
    rows = _json_rows(path, text) if is_json else _csv_rows(path, text)
    captions: dict[str, Caption] = {}
    problems: list[str] = []
    for lineno, value in rows:
        try:
            cap = _caption(value)
        except CaptionFileError as exc:
            message = f"{path}:{lineno}: {exc}"
            if not skip_invalid:
                raise CaptionFileError(message + " (use --skip-invalid to add the other rows)") from None
            problems.append(message)
            continue
        captions.pop(cap.id, None)
        captions[cap.id] = cap
    if not captions:
        raise CaptionFileError(f"{path}: no usable captions" + (f" ({problems[0]})" if problems else ""))
    return list(captions.values()), problems


@dataclass
class PreparedCaption:
    """A caption with ``cleaned`` text (what CLIP reads) and ``normalised`` text (cleaned, labels
    normalised: what the text encoder reads, as queries are)."""

    caption: Caption
    cleaned: str
    normalised: str


def prepare_captions(captions: Sequence[Caption], *, rules: CleaningRules | None = None,
                     synonyms: SynonymTable | None = None,
                     clean: bool = True) -> tuple[list[PreparedCaption], list[str]]:
    """Captions ready to embed, and problems for captions with nothing left to embed.

    Cleaning (on by default) drops promo boilerplate, emoji and repeats; label normalisation
    always applies, because queries get it too and both sides must speak the same labels.
    """
    out, problems = [], []
    for cap in captions:
        cleaned = clean_text(cap.text, rules) if clean else " ".join(cap.text.split())
        if not cleaned:
            problems.append(f"caption {cap.id!r}: nothing left after cleaning {cap.text!r}")
            continue
        out.append(PreparedCaption(cap, cleaned, normalise_text(cleaned, synonyms)))
    return out, problems


def embed_captions(prepared: Sequence[PreparedCaption], text_encoder, clip=None) -> list[CaptionRow]:
    """Rows ready for :meth:`Library.put_captions`: text vector (query side) and CLIP text vector."""
    if not prepared:
        return []
    text_vecs = text_encoder.encode_queries([p.normalised for p in prepared])
    clip_vecs = clip.encode_texts([p.cleaned for p in prepared]) if clip is not None else None
    return [CaptionRow(id=p.caption.id, text=p.caption.text, clean=p.normalised, extra=p.caption.extra,
                       text_vec=text_vecs[i], clip_vec=None if clip_vecs is None else clip_vecs[i])
            for i, p in enumerate(prepared)]


def library_synonyms(library: Library) -> SynonymTable:
    """The synonym table a library's captions were normalised with (defaults + the user's file)."""
    stored = library.setting(SYNONYMS_SETTING)
    return load_synonyms(json.loads(stored) if stored else None)


def remember_synonyms(library: Library, path: Path | str) -> SynonymTable:
    """Validate a user's synonym file and store its content in the library, so that queries are
    normalised like the captions without the file; returns the merged table."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    table = load_synonyms(data)
    library.set_setting(SYNONYMS_SETTING, json.dumps(data, ensure_ascii=False))
    return table



@dataclass
class CaptionHit:
    """A caption matching a clip: ``channels`` gives each channel's cosine behind the score."""

    caption_id: str
    text: str
    score: float
    extra: dict
    channels: dict[str, float]
    #: What the score means (:mod:`vidsearch.query.confidence`); a returned caption is at least "low".
    confidence: Level = "low"

    def to_json(self) -> dict:
        return {"caption_id": self.caption_id, "text": self.text, "score": round(float(self.score), 6),
                "confidence": self.confidence,
                "channels": {k: round(float(v), 6) for k, v in self.channels.items()}, "extra": self.extra}


def background_sentences() -> list[str]:
    """Everyday sentences unrelated to any clip (the language-centring reference set, English and
    Chinese): how close a clip's channel comes to *them* is that channel's background level."""
    path = Path(__file__).resolve().parents[1] / "data" / "language_centring.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return [t for k, v in data.items() if not k.startswith("_") for t in v]


class CaptionIndex:
    """Exact search over a library's captions, loaded once (see the module docstring for why exact)."""

    def __init__(self, rows: Sequence[CaptionRow], clip=None, text_encoder=None):
        """``clip`` encodes the CLIP text of captions stored without one (added before CLIP was
        there) and, with ``text_encoder``, the background sentences each channel is measured against."""
        self.rows = list(rows)
        self.text = (np.stack([r.text_vec for r in self.rows]).astype(np.float32)
                     if self.rows else np.zeros((0, 0), np.float32))
        self.clip: np.ndarray | None = None
        stored = [r.clip_vec for r in self.rows if r.clip_vec is not None]
        if stored or (self.rows and clip is not None):
            # Captions added before the library had CLIP get their CLIP text vector now.
            missing = [i for i, r in enumerate(self.rows) if r.clip_vec is None]
            width = len(stored[0]) if stored else clip.dim
            filled = clip.encode_texts([clean_text(self.rows[i].text) for i in missing]) if missing and clip is not None \
                else np.zeros((len(missing), width), np.float32)
            vecs = dict(zip(missing, filled))
            self.clip = np.stack([vecs[i] if r.clip_vec is None else r.clip_vec
                                  for i, r in enumerate(self.rows)]).astype(np.float32)
        self.background: dict[str, np.ndarray] = {}
        #: space -> each caption's hub value: its mean top-k cosine with generic lines, encoded as
        #: the content a caption meets is (passages; CLIP texts), so a caption close to any filler
        #: a clip may say or show loses that closeness
        self.hub: dict[str, np.ndarray] = {}
        if self.rows and text_encoder is not None:
            sentences = background_sentences()
            self.background["text"] = text_encoder.encode_queries(sentences)
            self.hub["text"] = hubness(self.text, text_encoder.encode_passages(list(generic_queries())))
            if clip is not None and self.clip is not None:
                self.background["clip"] = clip.encode_texts(sentences)
                self.hub["clip"] = hubness(self.clip, clip.encode_texts(list(generic_queries())))

    @classmethod
    def load(cls, library: Library, clip=None, text_encoder=None) -> "CaptionIndex":
        return cls(library.captions(), clip, text_encoder)

    def __len__(self) -> int:
        return len(self.rows)

    def match(self, segments: Sequence[Mapping[str, np.ndarray]], weights: Mapping[str, float],
              k: int, *, thresholds: Thresholds | None = None) -> list[CaptionHit]:
        """Captions best describing a clip given as per-segment channel vectors, best first, each
        with its confidence level; captions below ``thresholds.low`` (default
        :data:`CAPTION_THRESHOLDS`) are left out.

        A caption usually names one aspect of a clip (what is said, shown in text, or seen), so
        it scores its best channel in its best segment, not a weighted mean: an unrelated channel
        (a voice-over about something else) must not dilute the one that matches. A channel's
        cosine is calibrated (:func:`vidsearch.query.calibration.csls`) before channels compete:

            score = 2 cos - HUB_WEIGHT hub(caption) - background(channel)

        The background is what this channel of this clip scores against text unrelated to it:
        the higher of its median cosine with everyday sentences and with the caption corpus
        (most captions describe other clips). The corpus term is what makes a channel's evidence
        count by how informative it is: a bag of ImageNet tags sits close to every product line
        (median 0.08-0.12 on the benchmark, against ~0 for a transcript), so tag evidence counts
        only as far as it exceeds what tags score against unrelated captions, and a transcript
        line that names the subject outranks it (benchmark, 24 cuts: caption r@1 0.75 -> 0.79,
        MRR 0.83 -> 0.84; without the corpus term 0.75). The hub term (see :data:`HUB_WEIGHT`)
        takes from captions that are close to anything. Weights switch channels on or off
        (0 = off); ``channels`` in the result are the raw cosines. ``speech``/``ocr``/``tags``
        meet the caption's text vector, ``visual`` its CLIP one (the registry's ``query``
        space); a channel no text can meet (``audio``) is skipped.
        """
        bounds = thresholds or CAPTION_THRESHOLDS  # read at call time: a test may switch the levels off
        if not self.rows or not segments:
            return []
        n = len(self.rows)
        best = np.full(n, -np.inf, dtype=np.float32)
        best_channels: list[dict[str, float]] = [{} for _ in range(n)]
        for seg in segments:
            per_channel: dict[str, np.ndarray] = {}
            lifted = []
            for channel, vec in seg.items():
                if float(weights.get(channel, 0.0)) <= 0 or vec is None or not np.any(vec):
                    continue
                # A caption meets a channel in the space a text query would (registry ``query``).
                space = spec.query if (spec := registry.get(channel)) is not None else None
                bank = self.clip if space == "clip" else self.text if space == "text" else None
                if space is None or bank is None or bank.shape[1] != len(vec):
                    continue
                vec = np.asarray(vec, dtype=np.float32)
                cos = bank @ vec
                per_channel[channel] = cos
                sentences = self.background.get(space)
                levels = [float(np.median(sentences @ vec))] if sentences is not None else []
                if n >= MIN_BACKGROUND_CAPTIONS:
                    levels.append(float(np.median(cos)))
                background = max(levels, default=0.0)
                hub = self.hub.get(space)
                lifted.append(csls(cos, HUB_WEIGHT * hub if hub is not None else np.zeros(n, np.float32),
                                   background))
            if not lifted:
                continue
            score = np.max(np.stack(lifted), axis=0)
            better = np.flatnonzero(score > best)
            best[better] = score[better]
            for i in better.tolist():
                best_channels[i] = {c: float(v[i]) for c, v in per_channel.items()}
        hits = []
        for i in np.argsort(-best, kind="stable")[:k].tolist():
            level = bounds.level(float(best[i])) if np.isfinite(best[i]) else None
            if level is None:
                break
            hits.append(CaptionHit(self.rows[i].id, self.rows[i].text, float(best[i]), self.rows[i].extra,
                                   best_channels[i], level))
        return hits
