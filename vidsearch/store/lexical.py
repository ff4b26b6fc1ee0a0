"""The exact-words index of a library: every spoken line and every on-screen line, by its terms.

One row per line in ``lexical_lines`` (video, kind ``speech`` or ``screen``, where it is said or
visible, its text) and the same row id in the SQLite FTS5 table ``lexical``, which indexes the
line's terms (:func:`vidsearch.text.lexical.terms`, space-separated; FTS5's ``unicode61``
tokenizer then splits on the spaces only). ``lexical_vocab`` (``fts5vocab``) gives each term's
number of lines, for inverse document frequencies.

A spoken line's Chinese pairs are also indexed by their sound
(:func:`vidsearch.text.lexical.sound_key`): Whisper writes what it hears with the wrong characters
often enough that a query must find the line by how it sounds. Chinese is indexed in its
Simplified form (:func:`vidsearch.text.lexical.simplified`), as queries are looked up, lone
letters set apart by spaces are joined ("限 时 秒 杀"), and Chinese numbers are held as digits
(``买二送一`` as ``买2送1``). The value of :data:`FORMAT_KEY` in ``meta`` says which of these the
index holds (:data:`FORMAT`: 1, sounds; 2, Simplified and joined too; 3, numbers as digits too); a
library indexed before has its index rebuilt once by its next writer (:func:`outdated`).

On-screen lines are indexed **as read**, before promo cleaning: a badge such as ``限时秒杀`` that
cleaning keeps out of the embeddings and captions can still be found by a user who types it.

The index is derived data: every line comes from the ``utterances`` and ``ocr_lines`` tables
(``raw`` text), written in the same transaction as them, and rebuilt from them when a library
written before this index existed is opened by a writer, or after a repair. It is kept out of
the salvage schema for that reason: a damaged file's rows are recovered, then the index is
rebuilt from them.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from vidsearch.text.lexical import CUT, number_form, same_stem, sound_keys, stem_prefix, terms

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lexical_lines (id INTEGER PRIMARY KEY, video_id INTEGER NOT NULL, "
    "kind TEXT NOT NULL, start_s REAL NOT NULL, end_s REAL NOT NULL, text TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS lexical_lines_video ON lexical_lines(video_id)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS lexical USING fts5(terms, tokenize = 'unicode61 remove_diacritics 0')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS lexical_vocab USING fts5vocab(lexical, 'row')",
)
TABLES = ("lexical_vocab", "lexical", "lexical_lines")
#: The kinds of line indexed: said, and shown on screen.
KINDS = ("speech", "screen")
#: ``meta`` key holding the index's format (named for the first change it recorded, the sounds of
#: spoken lines' Chinese pairs), and the format this release writes: the terms as this release
#: cuts them (:data:`vidsearch.text.lexical.CUT`, 3: Chinese in one script, letter-spaced Chinese
#: joined, Chinese numbers as digits).
FORMAT_KEY = "lexical_sounds"
FORMAT = CUT


@dataclass(frozen=True)
class LexicalLine:
    """One indexed line: ``kind`` is "speech" or "screen"; ``terms`` as indexed."""

    id: int
    video_id: int
    kind: str
    start: float
    end: float
    text: str
    terms: tuple[str, ...]


def ensure(db: sqlite3.Connection) -> None:
    """Create the index if the library has none, and fill it from the library's lines when it is
    empty while they are not (a library written before the index existed). An index built
    in an earlier format is left as it is (:func:`outdated`)."""
    for stmt in SCHEMA:
        db.execute(stmt)
    empty = db.execute("SELECT 1 FROM lexical_lines LIMIT 1").fetchone() is None
    if empty and (db.execute("SELECT 1 FROM utterances LIMIT 1").fetchone()
                  or db.execute("SELECT 1 FROM ocr_lines LIMIT 1").fetchone()):
        rebuild(db)


def outdated(db: sqlite3.Connection) -> bool:
    """Whether the index was built in an earlier format (by an earlier release): without the
    sounds of spoken lines, with Traditional Chinese as written, or Chinese numbers as written."""
    return stored_format(db) < FORMAT


def stored_format(db: sqlite3.Connection) -> int:
    """The format the index was built in (0 where none is recorded, or it is unreadable)."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (FORMAT_KEY,)).fetchone()
    try:
        return 0 if row is None else int(row[0])
    except ValueError:
        return 0


def rebuild(db: sqlite3.Connection) -> None:
    """Drop and rebuild the whole index from the ``utterances`` and ``ocr_lines`` tables."""
    for table in TABLES:
        db.execute(f"DROP TABLE IF EXISTS {table}")
    for stmt in SCHEMA:
        db.execute(stmt)
    lines = [(v, "speech", s, e, t) for v, s, e, t in db.execute(
        "SELECT video_id, start_s, end_s, text FROM utterances ORDER BY video_id, ord")]
    lines += [(v, "screen", s, e, t) for v, s, e, t in db.execute(
        "SELECT video_id, start_s, end_s, raw FROM ocr_lines ORDER BY video_id, start_s")]
    _insert(db, lines)
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (FORMAT_KEY, str(FORMAT)))


def add_lines(db: sqlite3.Connection, video_id: int,
              lines: Iterable[tuple[str, float, float, str]]) -> None:
    """Index a video's lines: ``(kind, start, end, text)``."""
    _insert(db, [(int(video_id), kind, float(s), float(e), text) for kind, s, e, text in lines])


def _insert(db: sqlite3.Connection, lines: Sequence[tuple[int, str, float, float, str]]) -> None:
    for video_id, kind, start, end, text in lines:
        words = terms(text)
        if not words:
            continue
        if kind == "speech":
            words += sound_keys(words)
        cur = db.execute("INSERT INTO lexical_lines(video_id, kind, start_s, end_s, text) VALUES (?,?,?,?,?)",
                         (video_id, kind, start, end, text))
        db.execute("INSERT INTO lexical(rowid, terms) VALUES (?, ?)", (cur.lastrowid, " ".join(words)))


def drop_video(db: sqlite3.Connection, video_id: int) -> None:
    """Remove a video's lines from the index."""
    db.execute("DELETE FROM lexical WHERE rowid IN (SELECT id FROM lexical_lines WHERE video_id = ?)",
               (int(video_id),))
    db.execute("DELETE FROM lexical_lines WHERE video_id = ?", (int(video_id),))


def _rows(db: sqlite3.Connection, sql: str, params: Sequence[object] = ()) -> list[tuple]:
    """The rows of a read of the index; none for a library without it (an older one opened
    read-only: its next writer builds it)."""
    try:
        return db.execute(sql, tuple(params)).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def search(db: sqlite3.Connection, query_terms: Sequence[str], limit: int,
           kinds: Collection[str] = KINDS, video_ids: Collection[int] | None = None) -> list[LexicalLine]:
    """Lines of the ``kinds`` given holding any of ``query_terms``, best BM25 first, at most
    ``limit``; only lines of ``video_ids`` when given (a filtered search: the best lines of the
    whole library could crowd out every line of the videos it allows); [] for a library without
    the index (an older one opened read-only)."""
    kinds = [k for k in KINDS if k in kinds]
    if not query_terms or not kinds or (video_ids is not None and not video_ids):
        return []
    match = " OR ".join(f'"{t}"' for t in query_terms)  # terms are letters and digits only
    marks = ",".join("?" * len(kinds))
    # The videos as one JSON array: any number of them, without SQLite's limit on parameters.
    only = "" if video_ids is None else "AND l.video_id IN (SELECT value FROM json_each(?)) "
    chosen = () if video_ids is None else (json.dumps(sorted(int(v) for v in video_ids)),)
    rows = _rows(db, "SELECT l.id, l.video_id, l.kind, l.start_s, l.end_s, l.text, x.terms FROM lexical x "
                     f"JOIN lexical_lines l ON l.id = x.rowid WHERE lexical MATCH ? AND l.kind IN ({marks}) "
                     f"{only}ORDER BY x.rank LIMIT ?",
                 (match, *kinds, *chosen, int(limit)))
    return [LexicalLine(r[0], r[1], r[2], r[3], r[4], r[5], tuple(r[6].split())) for r in rows]


#: Indexed forms a query word is looked up with at most (its own and the commonest others).
MAX_FORMS = 16


def vocab_from(db: sqlite3.Connection, prefix: str) -> list[str]:
    """Indexed terms starting with ``prefix``, the commonest first ([] for a library without the
    index); a range scan of the FTS5 vocabulary."""
    rows = _rows(db, "SELECT term FROM lexical_vocab WHERE term >= ? AND term < ? ORDER BY doc DESC",
                 (prefix, prefix + "\U0010ffff"))
    return [r[0] for r in rows]


def forms(vocab_from: Callable[[str], list[str]], query_terms: Sequence[str]) -> dict[str, list[str]]:
    """Per query term, the indexed words that are forms of it (the term itself first, whether
    indexed or not): ``artists`` -> ``[artists, artist]`` where those were said or shown, and a
    number's other writing (``ten`` -> ``[ten, 10]``, whether indexed or not).
    ``vocab_from(prefix)`` lists the indexed terms starting with a prefix (:func:`vocab_from`)."""
    out: dict[str, list[str]] = {}
    for term in query_terms:
        prefix = stem_prefix(term)
        out[term] = [term] if prefix is None else same_stem(term, vocab_from(prefix))[:MAX_FORMS]
        number = number_form(term)
        if number is not None and number not in out[term]:
            out[term].append(number)
    return out


def line_count(db: sqlite3.Connection) -> int:
    """Lines in the index (0 for a library without it)."""
    rows = _rows(db, "SELECT COUNT(*) FROM lexical_lines")
    return int(rows[0][0]) if rows else 0


def doc_freq(db: sqlite3.Connection, query_terms: Sequence[str]) -> dict[str, int]:
    """Lines holding each term."""
    if not query_terms:
        return {}
    marks = ",".join("?" * len(query_terms))
    found = dict(_rows(db, f"SELECT term, doc FROM lexical_vocab WHERE term IN ({marks})", list(query_terms)))
    return {t: int(found.get(t, 0)) for t in query_terms}
