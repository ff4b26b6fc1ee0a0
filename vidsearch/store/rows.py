"""What a library stores in SQLite: the schema, the rows handed to callers, and the
(de)serialisation between the two.

Paths are stored as their exact bytes (``os.fsencode``), so names that are not UTF-8
round-trip; vectors as float32 blobs; lists and extra fields as JSON.
"""
from __future__ import annotations

import functools
import io
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from vidsearch.types import Fingerprint

SQL_CHUNK = 900  # stay well under SQLite's bound-parameter limit


@dataclass
class VideoRow:
    """One video (indexed or failed) as stored."""

    id: int
    path: Path
    size: int
    mtime_ns: int
    content_hash: str | None
    duration: float | None
    status: str  # "indexed" | "failed"
    error: str | None
    indexed_at: float
    n_segments: int
    language: str | None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    rotation: int | None = None
    has_audio: bool | None = None


@dataclass
class SegmentRow:
    """One segment with what it contains; ``id`` is its vector label."""

    id: int
    video_id: int
    video_path: Path
    start: float
    end: float
    scene_index: int
    speech_text: str
    ocr_text: str
    tags: list[str]
    thumbnail: Path | None
    keyframe_times: list[float] = field(default_factory=list)
    removed: bool = False
    #: Whisper's confidence in the speech here (duration-weighted mean avg_logprob of its lines);
    #: None without speech, or in a library indexed before it was kept.
    speech_logprob: float | None = None
    #: Whisper's confidence in the words said here (duration-weighted mean of its lines' mean word
    #: log-probability); None without speech, or in a library indexed before it was kept.
    speech_word_logprob: float | None = None


class SpokenLines(NamedTuple):
    """Spoken lines of several segments, flat: each line's segment id, its embedding (a row of
    ``vectors``) and Whisper's confidence in it: the mean log-probability of its words, and the
    ``avg_logprob`` of the Whisper segment it was cut from (None where unknown)."""

    segment_ids: list[int]
    vectors: np.ndarray
    word_logprobs: list[float | None]
    avg_logprobs: list[float | None]


class WordRow(NamedTuple):
    """A stored word: ``w.start`` or ``w[1]`` both work (it is the stored JSON row)."""

    text: str
    start: float
    end: float
    probability: float


@dataclass
class UtteranceRow:
    """One transcribed phrase with its words and optional text embedding."""

    id: int
    video_id: int
    start: float
    end: float
    text: str
    language: str
    words: list[WordRow]
    embedding: np.ndarray | None
    #: Whisper's confidence (see :class:`vidsearch.types.Utterance`); None: indexed before they were kept.
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    language_prob: float | None = None
    #: Mean log-probability of its words (:attr:`vidsearch.types.Utterance.word_logprob`); None: unknown.
    word_logprob: float | None = None


@dataclass
class CaptionRow:
    """One caption of the corpus: the text as given, what was embedded, and the extra fields."""

    id: str
    text: str
    clean: str
    extra: dict
    text_vec: np.ndarray
    clip_vec: np.ndarray | None = None


@dataclass
class OcrLineRow:
    """One stored line of on-screen text with where it is visible and its text embedding."""

    id: int
    video_id: int
    start: float
    end: float
    text: str
    raw: str
    score: float
    embedding: np.ndarray | None


@dataclass
class RepairReport:
    """What :meth:`Library.repair` found and did."""

    sqlite_problem: str | None = None  # what quick_check said about meta.sqlite (None: sound)
    salvaged_with: str | None = None  # how its rows were recovered
    damaged_copy: Path | None = None  # the damaged file, kept beside the library
    notes: list[str] = field(default_factory=list)  # what the salvage could not read
    index_problem: str | None = None  # what was wrong with the vector index (None: sound)
    vectors_read: int = 0  # records found in a damaged index file ...
    vectors_kept: int = 0  # ... and the sound ones the rebuilt index holds
    to_reindex: list[VideoRow] = field(default_factory=list)  # lost segments or vectors: index again
    lost: list[str] = field(default_factory=list)  # gone for good, one line each


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path BLOB NOT NULL UNIQUE,          -- os.fsencode(path): exact bytes, non-UTF-8 safe
    path_text TEXT NOT NULL,            -- for display only
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT,
    duration REAL, width INTEGER, height INTEGER, fps REAL, rotation INTEGER,
    has_audio INTEGER, language TEXT,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'failed')),
    error TEXT,
    indexed_at REAL NOT NULL,
    n_segments INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS videos_hash ON videos(content_hash);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,             -- = vector label, allocated by the store
    video_id INTEGER NOT NULL,
    start_s REAL NOT NULL, end_s REAL NOT NULL,
    scene_index INTEGER NOT NULL,
    speech_text TEXT NOT NULL, ocr_text TEXT NOT NULL,
    tags TEXT NOT NULL,                 -- JSON list of strings
    keyframes TEXT NOT NULL,            -- JSON list of times
    thumbnail TEXT,                     -- file name under thumbs/
    removed INTEGER NOT NULL DEFAULT 0,
    speech_logprob REAL,                -- mean avg_logprob of its speech, or NULL
    speech_word_logprob REAL            -- mean log-probability of its spoken words, or NULL
);
CREATE INDEX IF NOT EXISTS segments_video ON segments(video_id, start_s);
CREATE TABLE IF NOT EXISTS segment_vectors (
    id INTEGER PRIMARY KEY,             -- = segments.id
    data BLOB NOT NULL                  -- the fused vector, float16: what search re-scores with
);
CREATE TABLE IF NOT EXISTS utterances (
    id INTEGER PRIMARY KEY,
    video_id INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    start_s REAL NOT NULL, end_s REAL NOT NULL,
    text TEXT NOT NULL, language TEXT NOT NULL,
    words TEXT NOT NULL,                -- JSON [[text, start, end, prob], ...]
    embedding BLOB,                     -- float32, or NULL
    avg_logprob REAL,                   -- Whisper confidence in the line, NULL if unknown
    no_speech_prob REAL,
    language_prob REAL,
    word_logprob REAL                   -- mean log-probability of its words, NULL if unknown
);
-- (video_id, start_s, end_s): search finds which lines overlap its candidates from the index,
-- reading only those rows. It replaces utterances_video(video_id, start_s) of older libraries.
-- No semicolons in comments here.
CREATE INDEX IF NOT EXISTS utterances_span ON utterances(video_id, start_s, end_s);
DROP INDEX IF EXISTS utterances_video;
CREATE TABLE IF NOT EXISTS ocr_lines (
    id INTEGER PRIMARY KEY,
    video_id INTEGER NOT NULL,
    start_s REAL NOT NULL, end_s REAL NOT NULL,   -- where the line is visible
    text TEXT NOT NULL, raw TEXT NOT NULL, score REAL NOT NULL,
    embedding BLOB                      -- float32, or NULL
);
CREATE INDEX IF NOT EXISTS ocr_lines_video ON ocr_lines(video_id, start_s);
CREATE TABLE IF NOT EXISTS removed_spans (
    video_id INTEGER NOT NULL,
    start_s REAL NOT NULL, end_s REAL NOT NULL,
    kind TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS removed_spans_video ON removed_spans(video_id);
CREATE TABLE IF NOT EXISTS channel_stage (
    channel TEXT NOT NULL, id INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (channel, id)
);
CREATE TABLE IF NOT EXISTS fingerprints (video_id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS signatures (video_id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS captions (
    id TEXT PRIMARY KEY,                -- the user's id (re-adding it replaces the caption)
    text TEXT NOT NULL,                 -- as given, returned to the user
    clean TEXT NOT NULL,                -- cleaned and label-normalised: what was embedded
    extra TEXT NOT NULL,                -- JSON object of the other fields, kept as given
    text_vec BLOB NOT NULL,             -- float32, the library's text encoder (query side)
    clip_vec BLOB,                      -- float32, the library's CLIP text tower, or NULL
    added_at REAL NOT NULL
);
"""

VIDEO_COLS = ("id, path, size, mtime_ns, content_hash, duration, status, error, indexed_at, "
               "n_segments, language, width, height, fps, rotation, has_audio")


def create_missing_tables(db: sqlite3.Connection) -> None:
    """Add tables introduced after a library was created (every statement is IF NOT EXISTS)."""
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            db.execute(stmt)


#: Columns added after libraries were first written: (table, column, type). A writer adds the
#: missing ones when it opens a library; readers select NULL in their place (:func:`columns_of`).
ADDED_COLUMNS = (
    ("segments", "speech_logprob", "REAL"),
    ("utterances", "avg_logprob", "REAL"),
    ("utterances", "no_speech_prob", "REAL"),
    ("utterances", "language_prob", "REAL"),
    ("segments", "speech_word_logprob", "REAL"),
    ("utterances", "word_logprob", "REAL"),
)


def columns_of(db: sqlite3.Connection, table: str) -> set[str]:
    """The columns ``table`` has in this library (older libraries lack :data:`ADDED_COLUMNS`)."""
    return {r[1] for r in db.execute(f'PRAGMA table_info("{table}")')}


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Add the :data:`ADDED_COLUMNS` an older library lacks (NULL in its existing rows: unknown).

    Each ALTER TABLE is atomic on its own and only adds a nullable column, so an interrupted
    open leaves a library that every reader and writer still opens; nothing else changes.
    """
    for table, column, kind in ADDED_COLUMNS:
        if column not in columns_of(db, table):
            db.execute(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {kind}')


def path_key(path: Path | str | bytes) -> bytes:
    """Exact bytes of the absolute path: the videos key (non-UTF-8 names round-trip)."""
    return os.fsencode(os.path.abspath(os.fsencode(path)))


@functools.lru_cache(maxsize=1 << 16)
def path_from_key(key: bytes) -> Path:
    """The path a videos key stands for."""
    # Cached: a search builds rows for a hundred candidates, and pathlib is slow to construct.
    return Path(os.fsdecode(bytes(key)))


def display(path: Path | str | bytes) -> str:
    """The absolute path as text, for display (bytes that are not UTF-8 replaced)."""
    return os.fsencode(os.path.abspath(os.fsencode(path))).decode("utf-8", "replace")


def video_row(r: tuple) -> VideoRow:
    """A :class:`VideoRow` from a row selected with :data:`VIDEO_COLS`."""
    return VideoRow(
        id=r[0], path=path_from_key(r[1]), size=r[2], mtime_ns=r[3], content_hash=r[4], duration=r[5],
        status=r[6], error=r[7], indexed_at=r[8], n_segments=r[9], language=r[10], width=r[11],
        height=r[12], fps=r[13], rotation=r[14], has_audio=None if r[15] is None else bool(r[15]))


def pack_fingerprint(fp: Fingerprint) -> bytes:
    """A fingerprint as the blob stored in ``fingerprints.data`` (an ``.npz`` archive)."""
    buf = io.BytesIO()
    np.savez(buf, head_hashes=np.asarray(fp.head_hashes), tail_hashes=np.asarray(fp.tail_hashes),
             head_audio=np.asarray(fp.head_audio), tail_audio=np.asarray(fp.tail_audio),
             head_luma=np.asarray(fp.head_luma, np.float32), tail_luma=np.asarray(fp.tail_luma, np.float32),
             head_loud=np.asarray(fp.head_loud, np.float32), tail_loud=np.asarray(fp.tail_loud, np.float32),
             scalars=np.array([fp.hash_fps, fp.audio_fps, fp.duration], dtype=np.float64))
    return buf.getvalue()


def unpack_fingerprint(data: bytes) -> Fingerprint:
    """The fingerprint stored as ``data`` by :func:`pack_fingerprint`."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        hash_fps, audio_fps, duration = (float(x) for x in z["scalars"])
        # Libraries from before the luma/loudness arrays: empty, and bumper search falls back.
        extra = {k: z[k] for k in ("head_luma", "tail_luma", "head_loud", "tail_loud") if k in z.files}
        return Fingerprint(head_hashes=z["head_hashes"], tail_hashes=z["tail_hashes"], hash_fps=hash_fps,
                           head_audio=z["head_audio"], tail_audio=z["tail_audio"], audio_fps=audio_fps,
                           duration=duration, **extra)


def chunks(ids: list[int]) -> Iterator[list[int]]:
    """``ids`` in runs short enough to bind as the parameters of one SQLite statement."""
    for i in range(0, len(ids), SQL_CHUNK):
        yield ids[i:i + SQL_CHUNK]


def rowid(cursor: sqlite3.Cursor) -> int:
    """The id SQLite gave the row an INSERT just added."""
    assert cursor.lastrowid is not None  # set by every successful INSERT
    return int(cursor.lastrowid)
