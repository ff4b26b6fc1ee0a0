"""The library on disk: an HNSW vector index plus SQLite metadata, written atomically.

One library is one directory::

    DB/
      index-*.hnsw  the main hnswlib index (space "ip"): one fused vector per segment, label =
                    segment id (``index.hnsw`` in a library from before the index had tiers;
                    ``index-*.faiss`` once it is large: :mod:`vidsearch.store.compact`)
      delta-*.hnsw  the segments added since the main index was written (when there are any)
      index.json    small header: format, layout, dim, counts, hnsw params, generation, the two
                    files, main labels deleted since, the state it replaced
      meta.sqlite   videos, segments (and their vectors, float16, for exact re-scoring), utterances,
                    removed spans, fingerprints, the exact-words index (WAL mode)
      thumbs/       <segment id>.jpg
      .lock         writers hold an exclusive flock on it

Nothing reaches the index files except through :meth:`Library.commit`: the commit protocol
(generations, tiers, recovery at open) is specified and implemented in
:mod:`vidsearch.store.journal`, whose :class:`~vidsearch.store.journal.IndexJournal` is the only
code that changes the vector index. SQLite is the source of truth: a label is a searchable
segment only if SQLite has a segment row for it with ``removed = 0``.

Damage from outside (a bad disk, a stray write) is found by :meth:`Library.check`: SQLite's
``PRAGMA quick_check``, the index file's structure and records, and a vector for every stored
segment. Writers run it on open and refuse a damaged library; :meth:`Library.repair` mends one
(SQLite rows salvaged by :mod:`vidsearch.store.salvage`, the index rebuilt from its sound vectors)
and lists what must be indexed again from the files.

Readers (``readonly=True``) load the index into memory once and never write a library file
(SQLite itself may create its ``-wal``/``-shm`` coordination files in a writable directory).
Search filters every hit through SQLite, so a reader opened before a commit keeps answering
from its snapshot: new segments appear after :meth:`Library.refresh`, deleted ones vanish at once.

The vector index is read through :class:`VectorIndex` and changed through a journal: the
library's own hnswlib tiers (:mod:`vidsearch.store.journal`), or a Milvus collection chosen when
the library is created (:mod:`vidsearch.store.milvus`), with everything else in SQLite either way.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Collection, Iterable, Iterator, Mapping, Sequence

import numpy as np

from vidsearch.fsutil import fsync_path
from vidsearch.store import lexical
from vidsearch.store.captions import Captions
from vidsearch.store.errors import LibraryError
from vidsearch.store.errors import damaged as _damaged
from vidsearch.store.hnsw import (
    HEADER_FILE,
    INDEX_FILE,
    HnswIndex,
    TieredIndex,
    VectorIndex,
    digest_problem,
    hnsw_file_problem,
    index_file_problem,
    index_paths,
    read_header,
    scan_hnsw_records,
)
from vidsearch.store.journal import CRASH_ENV, DELTA_ENV, FORMAT_VERSION, IndexJournal, remove_unnamed_files
from vidsearch.store.milvus import LOG_SCHEMA, MilvusJournal, MilvusTarget
from vidsearch.store.rows import (
    SCHEMA,
    VIDEO_COLS,
    CaptionRow,
    OcrLineRow,
    RepairReport,
    SegmentRow,
    SpokenLines,
    UtteranceRow,
    VideoRow,
    WordRow,
    add_missing_columns,
    chunks,
    columns_of,
    create_missing_tables,
    display,
    pack_fingerprint,
    path_from_key,
    path_key,
    rowid,
    unpack_fingerprint,
    video_row,
)
from vidsearch.store.salvage import describe_check, is_corrupt, quick_check, recover
from vidsearch.types import Fingerprint, IndexedVideo, Span, Utterance, Word, said_within, speech_word_logprob

__all__ = [  # what the rest of vidsearch imports from here (defined in the store's modules)
    "CRASH_ENV", "DB_FILE", "DELTA_ENV", "FORMAT_VERSION", "HEADER_FILE", "INDEX_FILE", "LOCK_FILE", "THUMBS_DIR",
    "CaptionRow", "HnswIndex", "Library", "LibraryError", "OcrLineRow", "RepairReport", "SegmentRow", "SpokenLines",
    "UtteranceRow", "VectorIndex", "VideoRow", "WordRow", "damage_message",
]

log = logging.getLogger(__name__)

DB_FILE = "meta.sqlite"
#: ``meta`` key marking a library whose lines and segments have their word confidences.
WORD_CONFIDENCE_KEY = "word_confidences"
#: No stored spoken line is longer: Whisper times every segment inside one 30 s window, and a
#: line is a segment's words (or a part of them).
LONGEST_LINE_S = 30.0
THUMBS_DIR = "thumbs"
LOCK_FILE = ".lock"
_READY = "ready.sqlite"  # a repair's complete recovered meta.sqlite, before it is swapped in


def _connect_readonly(db_dir: Path) -> sqlite3.Connection | None:
    """A read-only SQLite connection to a library's meta.sqlite, or None when there is no file."""
    db_file = db_dir / DB_FILE
    if not db_file.is_file():
        return None
    uri = "file:" + urllib.parse.quote(os.fsencode(db_file.absolute())) + "?mode=ro"
    if not os.access(db_dir, os.W_OK) and not (db_dir / (DB_FILE + "-wal")).exists():
        uri += "&immutable=1"  # read-only media: no writer can exist, no -shm to create
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


def _pack_vectors(vectors: np.ndarray) -> list[bytes]:
    """Fused vectors as stored in ``segment_vectors``: float16 rows. Each block is unit length,
    so half precision moves a cosine by under 1e-3."""
    return [row.tobytes() for row in np.asarray(vectors, dtype=np.float16)]


def _real(value: float | None) -> float | None:
    """A confidence as stored: None stays NULL, NaN too (SQLite has no NaN)."""
    return None if value is None or value != value else float(value)


class Library:
    """A video library directory: the one entry point for writing and reading the index.

    Use :meth:`open`; writers must call :meth:`commit` to make changes durable and visible.
    """

    _vectors_asked: str | None = None  # where open() was asked to keep a new library's vectors

    def __init__(self, *_: object, **__: object):
        raise TypeError("use Library.open(db_dir, layout, readonly=...)")

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        db_dir: Path | str,
        layout: dict[str, int] | None = None,
        *,
        readonly: bool = False,
        vectors: str | None = None,
    ) -> "Library":
        """Open (or, for a writer given a layout, create) the library at ``db_dir``.

        ``layout`` is the ordered fused-vector layout (channel -> width). A library built with a
        different layout raises :class:`LibraryError`. ``readonly`` never writes and never locks;
        a writer takes an exclusive non-blocking lock, so a second writer fails at once.
        ``vectors``: where a new library keeps its vectors (``milvus://HOST:PORT/COLLECTION`` or
        ``milvus-lite:PATH.db/COLLECTION``, see :mod:`vidsearch.store.milvus`; None: its own
        index files); an existing library keeps where it was created with, and naming another
        place raises :class:`LibraryError`.
        """
        self = object.__new__(cls)
        self._vectors_asked = vectors
        self._init(Path(db_dir), layout, readonly)
        return self

    @classmethod
    def repair(cls, db_dir: Path | str) -> "Library":
        """Open the library at ``db_dir`` as its writer, mending what is damaged on the way.

        A ``meta.sqlite`` that fails ``PRAGMA quick_check`` is replaced by the rows that can
        still be read (the damaged file is kept beside it); rows that belong to no video are
        dropped. A vector index that cannot be loaded, or holds damaged vectors, is rebuilt
        from every sound vector still in its file. What this cannot bring back is listed in
        :attr:`repair_report`: indexed videos that lost segments or vectors (``to_reindex``:
        their files are the source of truth, index them again) and what is gone for good.
        Nothing is durable until :meth:`commit`.
        """
        self = object.__new__(cls)
        self._init(Path(db_dir), None, False, repair=True)
        return self

    def _init(self, db_dir: Path, layout: dict[str, int] | None, readonly: bool, repair: bool = False) -> None:
        self.path = db_dir
        self.readonly = readonly
        self.repair_report: RepairReport | None = None
        self._mutex = threading.RLock()  # one SQLite connection shared by server threads
        self._lock_fd: int | None = None
        self._conn: sqlite3.Connection | None = None  # None: closed (read through _db)
        self._in_txn = False
        self._columns: dict[str, set[str]] = {}  # table -> its columns, read on first use
        self._line_count: tuple[tuple[int, int], int] | None = None  # lexical lines, by database version
        self._commit_failed: str | None = None  # why the last commit failed; no commit after it
        self._new_thumbs: list[Path] = []
        self._dead_thumbs: list[Path] = []
        self._journal: IndexJournal | MilvusJournal  # the vector index and the commit protocol, once loaded
        if layout is not None:
            layout = _check_layout(layout)
        if not repair and not (db_dir / DB_FILE).exists() and _unfinished_repair(db_dir) is not None:
            # Opening would start an empty library in place of the recovered one.
            raise LibraryError(f"a repair of {db_dir} stopped before it finished: "
                               f"run `vidsearch repair --db {db_dir}` to finish it")
        try:
            try:
                if readonly:
                    self._open_reader(layout)
                else:
                    self._open_writer(layout, repair)
            except sqlite3.DatabaseError as e:
                if is_corrupt(e):
                    raise _damaged(self.path, DB_FILE, e) from None
                raise
        except BaseException:
            self._release()
            raise

    @staticmethod
    def peek(db_dir: Path | str) -> tuple[dict[str, int], dict[str, str]] | None:
        """(layout, settings) of the library at ``db_dir`` from SQLite alone, without loading its
        vector index; None when there is no readable library there (:meth:`damage` says
        whether one is there but damaged)."""
        db = _connect_readonly(Path(db_dir))
        if db is None:
            return None
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError:  # not a library (yet), or damaged: open() says which
            return None
        finally:
            db.close()
        if "layout" not in meta:
            return None
        settings = {k[len("setting."):]: v for k, v in meta.items() if k.startswith("setting.")}
        return json.loads(meta["layout"]), settings

    @staticmethod
    def damage(db_dir: Path | str) -> str | None:
        """One line when ``db_dir`` holds a metadata file that fails SQLite's quick check
        (naming it, and saying to run ``vidsearch repair``); None when it is sound or absent."""
        db_file = Path(db_dir) / DB_FILE
        try:
            problem = quick_check(db_file) if db_file.is_file() else None
        except sqlite3.Error:  # cannot be read now (locked, disk full): says nothing about damage
            return None
        return None if problem is None else str(_damaged(Path(db_dir), DB_FILE, problem))

    @staticmethod
    def held(db_dir: Path | str) -> int | None:
        """How many indexed videos the library at ``db_dir`` holds as committed (SQLite only);
        None when there is no readable library."""
        try:
            db = _connect_readonly(Path(db_dir))
            if db is None:
                return None
            try:
                return int(db.execute("SELECT COUNT(*) FROM videos WHERE status = 'indexed'").fetchone()[0])
            finally:
                db.close()
        except sqlite3.Error:
            return None

    @staticmethod
    def verify(db_dir: Path | str) -> list[str]:
        """:meth:`check` without loading the library: SQLite's quick check and the vector index
        file (not whether every segment has a vector). For a command that opens the library
        its own way (``serve``); [] when sound, or when there is no library (open says so)."""
        damage = Library.damage(db_dir)
        if damage is not None:
            return [damage.split(": run `vidsearch repair")[0]]
        found = Library.peek(db_dir)
        if found is None or not (Path(db_dir) / HEADER_FILE).exists() and Library._keeps_vectors_elsewhere(db_dir):
            return []  # no library (open says so), or its vectors are in Milvus (checked on open)
        problem = index_file_problem(Path(db_dir), found[0])
        return [] if problem is None else [problem]

    @staticmethod
    def _keeps_vectors_elsewhere(db_dir: Path | str) -> bool:
        db = _connect_readonly(Path(db_dir))
        if db is None:
            return False
        try:
            return db.execute("SELECT 1 FROM meta WHERE key = 'vectors'").fetchone() is not None
        except sqlite3.DatabaseError:
            return False
        finally:
            db.close()

    def _open_reader(self, layout: dict[str, int] | None) -> None:
        self._db = _connect_readonly(self.path)
        if self._conn is None:
            raise LibraryError(f"no library at {self.path}: run `vidsearch index` first")
        meta = self._read_meta()
        if "layout" not in meta:
            raise LibraryError(f"no library at {self.path}: run `vidsearch index` first")
        self.layout = _check_stored_layout(self.path, meta, layout)
        try:
            self._load_index(writer=False)
        except LibraryError:
            now = self._read_meta()  # a writer may have added a channel since the layout was read
            if now.get("layout") == meta.get("layout"):
                raise
            self.layout = _check_stored_layout(self.path, now, layout)
            self._load_index(writer=False)

    def _open_writer(self, layout: dict[str, int] | None, repair: bool = False) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / THUMBS_DIR).mkdir(exist_ok=True)
            self._lock_fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise LibraryError(f"cannot write library at {self.path}: {e.strerror}") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LibraryError(f"another indexer is writing {self.path}") from None
        if repair:
            self.repair_report = self._salvage_sqlite()
        try:
            self._db = sqlite3.connect(os.fsdecode(self.path / DB_FILE), isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as e:
            if is_corrupt(e):
                raise _damaged(self.path, DB_FILE, e) from None
            raise
        meta = self._read_meta()
        if repair:
            meta = self._restore_meta(meta)
        if "layout" not in meta:
            if layout is None:
                raise LibraryError(f"no library at {self.path}: a new library needs a vector layout")
            self._create(layout)
            return
        self.layout = _check_stored_layout(self.path, meta, layout)
        create_missing_tables(self._db)  # libraries from before a table was added
        add_missing_columns(self._db)  # ... or a column
        for tmp in (INDEX_FILE + ".tmp", HEADER_FILE + ".tmp"):
            with contextlib.suppress(FileNotFoundError):
                (self.path / tmp).unlink()  # leftovers of an interrupted commit
        interrupted = remove_unnamed_files(self.path)  # ... and files of commits replaced or lost
        if repair:
            self._repair_index()
            self._lexical_migration(rebuild=True)
            return
        self._lexical_migration()
        self._load_index(writer=True)
        if interrupted:
            self._remove_orphan_thumbs()  # a commit that stopped before its header was written
        problems = self.check()
        if problems:
            raise LibraryError(f"{'; '.join(problems)}: run `vidsearch repair --db {self.path}`")
        self._vector_migration()
        self._word_confidence_migration()

    def _create(self, layout: dict[str, int]) -> None:
        # Schema, layout and an empty index go in as the first commit, so a crash half-way
        # leaves no library (SQLite has no layout) rather than a broken one.
        self.layout = layout
        target = None
        if self._vectors_asked:
            try:
                target = MilvusTarget.parse(self._vectors_asked, self.path)
            except ValueError as e:
                raise LibraryError(str(e)) from None
            self._journal = MilvusJournal.create(target, self.dim, lambda: self._db, self._stored_vectors)
        else:
            self._journal = IndexJournal.create(self.path, layout)
        self._begin()
        for stmt in SCHEMA.split(";"):  # not executescript: it would COMMIT our transaction
            if stmt.strip():
                self._db.execute(stmt)
        for stmt in lexical.SCHEMA:
            self._db.execute(stmt)
        self._db.execute("DELETE FROM meta")
        self._db.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [
            ("format", str(FORMAT_VERSION)),
            ("layout", json.dumps(layout)),
            ("dim", str(self.dim)),
            ("generation", "0"),
            (WORD_CONFIDENCE_KEY, "1"),  # every line it will hold is written with its word confidence
            (lexical.FORMAT_KEY, str(lexical.FORMAT)),  # ... and indexed as this release indexes
        ])
        if target is not None:
            self._db.execute(LOG_SCHEMA)
            self._db.execute("INSERT INTO meta(key, value) VALUES ('vectors', ?)", (target.text,))
        self.commit()

    def _lexical_migration(self, *, rebuild: bool = False) -> None:
        """Give a library written before the exact-words index one (or, after a repair, a fresh
        one), and one indexed in an earlier format (without the sounds of spoken lines, with
        Traditional Chinese or Chinese numbers as written) a rebuilt one. The index is derived from rows already
        committed, so it commits on its own: a crash half-way leaves it as it was, and the next
        writer builds it again."""
        run = lexical.rebuild if rebuild else lexical.ensure
        with self._own_transaction():
            run(self._db)
        if not lexical.outdated(self._db):
            return
        # Built by an earlier release: rebuilt once (200k English lines: 12 s; 200k lines of 16
        # random Chinese characters: about 15 s, 1.4 times the 11 s it took before Chinese numbers
        # were read as digits, 0.7 s of it taking them to Simplified). Until
        # then search cuts the query as that release did (Library.lexical_cut),
        # and finds the lines as it did, so a failure is logged, not raised.
        lines = lexical.line_count(self._db)
        log.info("library %s: rebuilding the exact-words index in this release's format (the sounds of "
                 "spoken Chinese, Chinese in one script, Chinese numbers as digits; %d lines, once)", self.path, lines)
        try:
            with self._own_transaction():
                lexical.rebuild(self._db)
        except sqlite3.Error as exc:
            log.warning("library %s: exact-words index not rebuilt in this release's format (%s); "
                        "search finds its lines as they were indexed", self.path,
                        str(exc).splitlines()[0] if str(exc) else exc)

    @contextlib.contextmanager
    def _own_transaction(self) -> Iterator[None]:
        """Derived rows committed on their own, all or none; inside a transaction already open
        (a repair's changes) they commit with it instead."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise

    def _word_confidence_migration(self) -> None:
        """Give the lines and segments of a library indexed before word confidences were kept
        (:attr:`vidsearch.types.Utterance.word_logprob`) theirs, from the words stored with each
        line, as indexing computes them; committed on its own (derived from committed rows: a
        crash half-way leaves none, and the next writer computes them again). Marked done in
        ``meta`` so that lines without word timings are not looked at on every open. Search
        falls back to Whisper's segment confidence meanwhile, so a failure is logged, not raised."""
        with self._mutex:
            if self._db.execute("SELECT 1 FROM meta WHERE key = ?", (WORD_CONFIDENCE_KEY,)).fetchone():
                return
            try:
                with self._own_transaction():
                    self._fill_word_confidences()
                    self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, '1')",
                                     (WORD_CONFIDENCE_KEY,))
            except sqlite3.Error as exc:
                log.warning("library %s: word confidences not computed (%s); search uses Whisper's segment "
                            "confidence", self.path, str(exc).splitlines()[0] if str(exc) else exc)

    def _fill_word_confidences(self) -> None:
        lines: dict[int, list[Utterance]] = {}
        updates = []
        for uid, video_id, start, end, words, known in self._db.execute(
                "SELECT id, video_id, start_s, end_s, words, word_logprob FROM utterances ORDER BY video_id, ord"):
            line = Utterance("", start, end, "", [Word(str(w[0]), float(w[1]), float(w[2]), float(w[3]))
                                                  for w in json.loads(words)])
            lines.setdefault(video_id, []).append(line)
            if known is None and line.word_logprob is not None:
                updates.append((line.word_logprob, uid))
        self._db.executemany("UPDATE utterances SET word_logprob = ? WHERE id = ?", updates)
        segments = []
        for sid, video_id, start, end in self._db.execute(
                "SELECT id, video_id, start_s, end_s FROM segments WHERE speech_word_logprob IS NULL"):
            parts = [Utterance("", ws[0].start, ws[-1].end, "", ws)
                     for line in lines.get(video_id, ()) if (ws := line.words_within(start, end))]
            value = speech_word_logprob(parts)
            if value is not None:
                segments.append((value, sid))
        self._db.executemany("UPDATE segments SET speech_word_logprob = ? WHERE id = ?", segments)

    def _vector_migration(self) -> None:
        """Copy the index's vectors of segments (hidden ones too: a trim may show them again)
        that lack a ``segment_vectors`` row (a library written before the table existed) into it, committed on its own (the rows are
        derived from committed vectors): a crash half-way leaves none, and the next writer
        copies them again. About 7 s and 2 x dim bytes per segment (240 MB at 1200 floats) per
        100k segments. The copy only speeds search up (without it vectors come from the
        index), so a failure (a full disk) is logged and the library opens all the same."""
        with self._mutex:
            missing = [r[0] for r in self._db.execute(
                "SELECT id FROM segments WHERE id NOT IN (SELECT id FROM segment_vectors)")]
            if not missing:
                return
            try:
                with self._own_transaction():
                    for chunk in chunks(missing):
                        rows = self._index_vectors(chunk)
                        if rows:
                            self._db.executemany("INSERT INTO segment_vectors(id, data) VALUES (?, ?)",
                                                 zip(rows, _pack_vectors(np.stack(list(rows.values())))))
            except sqlite3.Error as exc:
                log.warning("library %s: segment vectors not copied for re-scoring (%s); search reads "
                            "them from the index", self.path, str(exc).splitlines()[0] if str(exc) else exc)

    def _index_vectors(self, labels: list[int]) -> dict[int, np.ndarray]:
        """The index's vectors of these labels (hidden ones too, where the index keeps them), by
        label; labels it has no vector for are left out."""
        index = self._journal.index
        try:
            return dict(zip(labels, index.get(labels)))
        except KeyError:
            out = {}
            for label in labels:
                with contextlib.suppress(KeyError):
                    out[label] = (index.get_any([label]) if isinstance(index, TieredIndex) else index.get([label]))[0]
            return out

    def setting(self, key: str) -> str | None:
        """A library-wide setting (e.g. which text encoder built it), or None."""
        with self._mutex:
            return self._read_meta().get(f"setting.{key}")

    def set_setting(self, key: str, value: str) -> None:
        """Record a library-wide setting; durable with the next :meth:`commit`."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (f"setting.{key}", value))

    def _read_meta(self) -> dict[str, str]:
        try:
            return dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError:  # no such table: not a library (yet)
            return {}
        except sqlite3.DatabaseError as e:
            raise _damaged(self.path, DB_FILE, e) from None

    def _load_index(self, *, writer: bool, loaded: IndexJournal | MilvusJournal | None = None) -> None:
        """Load header + index consistently, then bring the index in line with SQLite."""
        target = self._vectors_target()
        if target is not None:
            if writer:
                with self._mutex:
                    self._db.execute(LOG_SCHEMA)
            self._journal = MilvusJournal.open(target, self.dim, lambda: self._db, self._stored_vectors,
                                               writer=writer, committed=self._committed)
            return
        assert not isinstance(loaded, MilvusJournal)
        journal, recovery = IndexJournal.open(self.path, self.layout, writer=writer, loaded=loaded,
                                              committed=self._committed, live=self._live_labels)
        if recovery == "rolled back":
            log.info("library %s: index generation %d ahead of metadata %d; rolled back",
                     self.path, int(journal.header.get("generation", 0)), journal.sqlite_gen)
        elif recovery == "reconciled":
            log.warning("library %s: index and metadata disagree; reconciling all labels", self.path)
        self._journal = journal
        if writer and recovery != "in step":
            self._remove_orphan_thumbs()

    def _committed(self) -> tuple[int, int]:
        """SQLite's committed generation and its highest segment id (-1 when it has none)."""
        with self._mutex:
            meta = self._read_meta()
            max_id = self._db.execute("SELECT MAX(id) FROM segments").fetchone()[0]
        return int(meta.get("generation", 0)), -1 if max_id is None else int(max_id)

    def _vectors_target(self) -> MilvusTarget | None:
        """Where this library's vectors are when not in its own files (SQLite ``meta``); a
        ``vectors`` asked for at open that differs from it raises :class:`LibraryError`."""
        with self._mutex:
            text = self._read_meta().get("vectors")
        if (self._vectors_asked or None) != (text or None) and self._vectors_asked is not None:
            raise LibraryError(f"library at {self.path} keeps its vectors in {text or 'its own index files'}, "
                               f"not {self._vectors_asked}: index into a new --db to move them")
        return None if not text else MilvusTarget.parse(text, self.path)

    def _stored_vectors(self, labels: list[int], *, live_only: bool = False) -> dict[int, np.ndarray]:
        """The float16 copies (as float32) SQLite keeps of these labels' vectors, by label (of
        segments not removed, with ``live_only``); rows of the wrong size (damage) are left out."""
        out: dict[int, np.ndarray] = {}
        if not self._has_table("segment_vectors"):
            return out
        live = " AND s.removed = 0" if live_only else ""
        with self._mutex:
            for chunk in chunks([int(x) for x in labels]):
                q = (f"SELECT v.id, v.data FROM segment_vectors v JOIN segments s ON s.id = v.id WHERE "
                     f"v.id IN ({','.join('?' * len(chunk))}){live}")
                for label, data in self._db.execute(q, chunk):
                    if len(data) == 2 * self.dim:
                        out[int(label)] = np.frombuffer(data, np.float16).astype(np.float32)
        return out

    def _live_labels(self) -> set[int]:
        """Ids of the stored segments that are not removed: the labels that should be live."""
        with self._mutex:
            return {r[0] for r in self._db.execute("SELECT id FROM segments WHERE removed = 0")}

    # ---- checking and repairing ---------------------------------------------------------

    def check(self) -> list[str]:
        """A cheap integrity check: SQLite's ``PRAGMA quick_check``, the vector index file's
        structure, and every stored segment having a vector (when the index and SQLite are of
        the same commit). One line per problem, naming the file; [] when the library is sound.
        Writers run it on open; ``vidsearch serve`` before it starts."""
        problems = []
        db_file = self.path / DB_FILE
        with self._mutex:
            try:
                problem = describe_check([r[0] for r in self._db.execute("PRAGMA quick_check")])
            except sqlite3.DatabaseError as e:
                problem = str(e)
        if problem is not None:
            problems.append(f"{db_file} is damaged ({problem})")
        if isinstance(self._journal, MilvusJournal):
            problem = self._milvus_problem()
            return problems + ([problem] if problem else [])
        problem = index_file_problem(self.path, self.layout, self._journal.next_label - 1, self._journal.state)
        if problem is not None:
            problems.append(problem)
        if not problems:
            missing = self._segments_without_vectors()
            if missing:
                problems.append(f"{index_paths(self.path)[0]} has no vector for {len(missing)} segments of "
                                f"{len(set(missing.values()))} videos")
        return problems

    def _milvus_problem(self) -> str | None:
        """One line when the Milvus collection does not hold one vector per live segment (once
        every logged change is applied); None when it does, or while changes wait to be applied."""
        assert isinstance(self._journal, MilvusJournal)
        with self._mutex:
            pending = self._has_table("vector_log") and self._db.execute(
                "SELECT 1 FROM vector_log LIMIT 1").fetchone() is not None
            live = self._db.execute("SELECT COUNT(*) FROM segments WHERE removed = 0").fetchone()[0]
        if pending:
            return None
        held = self._journal.index.count
        if held == live:
            return None
        return (f"Milvus collection {self._journal.index.target.text} holds {held} vectors for "
                f"{live} live segments")

    def _segments_without_vectors(self) -> dict[int, int]:
        """Segment id -> video id for stored segments the loaded index has no vector for ({}
        when SQLite has moved on since the index was loaded: they cannot be compared)."""
        with self._mutex:
            own = self._in_txn
            if not own:
                self._db.execute("BEGIN")  # one snapshot for the generation and the rows
            try:
                generation = int(self._read_meta().get("generation", 0))
                rows = self._db.execute("SELECT id, video_id FROM segments").fetchall()
            finally:
                if not own:
                    self._db.execute("COMMIT")
            if generation != self._journal.sqlite_gen:
                return {}
            labels = set(self._journal.index.labels().tolist())
        return {sid: vid for sid, vid in rows if sid not in labels}

    def _salvage_sqlite(self) -> "RepairReport":
        """Repair step 1: replace a damaged meta.sqlite by what can be read from it.

        The swap survives a crash at any point: the recovered file is complete (fsynced, then
        renamed to ``.repair-*/ready.sqlite``) before the damaged one moves aside, and a repair
        that finds no meta.sqlite but a ready file finishes the swap. The damaged file's WAL moves
        aside with it: replayed into the new file it would corrupt it.
        """
        report = RepairReport()
        db_file = self.path / DB_FILE
        if not db_file.is_file():
            ready = _unfinished_repair(self.path)
            if ready is None:
                raise LibraryError(f"no library at {self.path}: nothing to repair ({DB_FILE} is missing)")
            asides = sorted(self.path.glob(f"{DB_FILE}.damaged-*[0-9]"))
            aside = asides[-1] if asides else self.path / f"{DB_FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
            self._swap_in(ready, aside)
            report.sqlite_problem = "an earlier repair stopped before its recovered file was in place"
            report.salvaged_with, report.damaged_copy = "that repair", aside
            return report
        for stale in self.path.glob(".repair-*"):  # from a repair that stopped before its swap
            shutil.rmtree(stale, ignore_errors=True)
        report.sqlite_problem = quick_check(db_file)
        if report.sqlite_problem is None:
            return report
        work = Path(tempfile.mkdtemp(prefix=".repair-", dir=self.path))
        try:
            salvage = recover(db_file, SCHEMA, work)
            fsync_path(salvage.path)
            os.replace(salvage.path, work / _READY)  # from here on the recovered file is complete
            fsync_path(work)
        except BaseException:  # nothing was swapped: the damaged file is still in place
            shutil.rmtree(work, ignore_errors=True)
            raise
        aside = self.path / f"{DB_FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        self._swap_in(work / _READY, aside)
        report.salvaged_with, report.damaged_copy, report.notes = salvage.method, aside, salvage.notes
        return report

    def _swap_in(self, ready: Path, aside: Path) -> None:
        """Move meta.sqlite (if still there) and its WAL to ``aside``, then ``ready`` into its place."""
        db_file = self.path / DB_FILE
        if db_file.exists():
            os.replace(db_file, aside)
        for suffix in ("-wal", "-shm"):  # the old log must never be applied to the new file
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.path / (DB_FILE + suffix), self.path / (aside.name + suffix))
        if os.environ.get(CRASH_ENV) == "repair":
            os._exit(86)
        os.replace(ready, db_file)
        fsync_path(self.path)
        shutil.rmtree(ready.parent, ignore_errors=True)

    def _restore_meta(self, meta: dict[str, str]) -> dict[str, str]:
        """Repair step 2: the library's own rows in ``meta`` (the layout, when lost, comes back
        from the index header)."""
        header = read_header(self.path) or {}
        wanted = {"format": str(FORMAT_VERSION), "generation": "-1"}
        if "layout" not in meta:
            if not isinstance(header.get("layout"), dict):
                raise LibraryError(f"cannot repair {self.path}: its vector layout is lost from both {DB_FILE} "
                                   f"and {HEADER_FILE}; index the videos into a new library")
            wanted["layout"] = json.dumps(header["layout"])
            assert self.repair_report is not None  # set by the repair's first step
            self.repair_report.lost.append("library settings (text encoder, CLIP, bumpers) were lost; defaults apply")
        wanted["dim"] = str(sum(json.loads(meta.get("layout") or wanted["layout"]).values()))
        with self._write() as db:
            db.executemany("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", list(wanted.items()))
        return {**wanted, **meta}

    def _sound_vectors(self, index_paths: list[Path], M: int, live: dict[int, bool]
                       ) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(labels, vectors) of the sound records of stored segments in the index files (first
        record of a label wins), how many records they have, and how many are not sound."""
        keep_labels, keep_vectors, records, damaged, seen = [], [], 0, 0, set()
        max_label = max(live, default=-1)
        for index_path in index_paths:
            if not index_path.is_file() or index_path.suffix != ".hnsw":  # (a compact tier: from SQLite)
                continue
            with open(index_path, "rb") as f:
                for labels, vectors, sound in scan_hnsw_records(f, self.layout, M, 1 << 62):
                    records += len(labels)
                    damaged += int((~sound).sum())
                    for i in np.flatnonzero(sound & (labels <= max_label)):
                        label = int(labels[i])
                        if label in live and label not in seen:
                            seen.add(label)
                            keep_labels.append(label)
                            keep_vectors.append(vectors[i])
        vectors = np.stack(keep_vectors) if keep_vectors else np.empty((0, self.dim), np.float32)
        return np.asarray(keep_labels, np.int64), vectors, records, damaged

    def _repair_index(self) -> None:
        """Repair step 3: drop rows of lost videos, then load (or rebuild) the vector index and
        list the videos whose vectors are gone."""
        report = self.repair_report
        assert report is not None  # set by the repair's first step
        with self._write() as db:
            lost_segments = db.execute("SELECT COUNT(*), COUNT(DISTINCT video_id) FROM segments WHERE video_id "
                                       "NOT IN (SELECT id FROM videos)").fetchone()
            for table in ("segments", "utterances", "ocr_lines", "removed_spans", "fingerprints", "signatures"):
                db.execute(f"DELETE FROM {table} WHERE video_id NOT IN (SELECT id FROM videos)")
            db.execute("DELETE FROM segment_vectors WHERE id NOT IN (SELECT id FROM segments)")
        if lost_segments[0]:
            report.lost.append(f"{lost_segments[0]} segments of {lost_segments[1]} videos whose records were "
                               "lost: index their files again to get them back")
        with self._mutex:
            live = dict(self._db.execute("SELECT id, removed = 0 FROM segments").fetchall())
            sqlite_gen = int(self._read_meta().get("generation", 0))
        target = self._vectors_target()
        if target is not None:
            self._repair_milvus(target, {k for k, v in live.items() if v})
            return
        header = read_header(self.path)
        # Without a readable header every index file here may hold vectors worth keeping.
        paths = index_paths(self.path, header) if header is not None else sorted(
            p for p in self.path.iterdir() if p.suffix in (".hnsw", ".faiss") and p.name.startswith(("index", "delta")))
        header = header or {}
        next_label = 0
        try:
            self._load_index(writer=True)
            next_label = self._journal.next_label
            assert isinstance(self._journal, IndexJournal)
            tiers = header if self._journal.state is None else {**header, **self._journal.state}
            paths = index_paths(self.path, tiers)  # after a lost commit: the files of the state SQLite has
            main = tiers.get("main") or {}
            problems = []
            for path in paths:
                if path.name == main.get("file") and main.get("digest"):  # a compact tier
                    problem = digest_problem(path, main["digest"])
                else:
                    with open(path, "rb") as f:
                        problem = hnsw_file_problem(f, self.dim)
                    problem = None if problem is None else f"{path} is damaged ({problem})"
                if problem is not None:
                    problems.append(problem)
            report.index_problem = "; ".join(problems) or None
        except LibraryError as e:
            report.index_problem = str(e).split(": run `vidsearch repair")[0]
        M = int(header.get("hnsw", {}).get("M", 32))
        labels, vectors, records, damaged = self._sound_vectors(paths, M, live)
        if report.index_problem is not None and any(p.suffix == ".faiss" for p in paths):
            # A compact tier's vectors are quantised and cannot be checked one by one: they come
            # back from the float16 copies SQLite keeps of every segment's vector.
            have = set(labels.tolist())
            copies = self._stored_vectors([x for x in live if x not in have])
            if copies:
                labels = np.concatenate([labels, np.asarray(list(copies), np.int64)])
                vectors = np.concatenate([vectors, np.stack(list(copies.values()))])
        if report.index_problem is None and damaged:
            report.index_problem = f"{paths[0]} is damaged ({damaged} damaged vectors)"
        if report.index_problem is None:
            if report.sqlite_problem is not None:  # rows may be gone: their vectors must go too
                self._reconcile()
        else:
            self._journal = IndexJournal.rebuilt(self.path, self.layout, header, labels, vectors, live,
                                                 sqlite_gen=sqlite_gen, next_label=next_label)
            report.vectors_kept, report.vectors_read = len(labels), records
        journal = self._journal
        assert isinstance(journal, IndexJournal)
        journal.next_label = max(journal.next_label, int(header.get("max_label", -1)) + 1,
                                 max(live, default=-1) + 1, journal.index.max_label + 1)
        if report.index_problem is not None or report.sqlite_problem is not None:
            journal.dirty = True
        with self._mutex:
            short = {r[0] for r in self._db.execute(
                "SELECT v.id FROM videos v WHERE v.status = 'indexed' AND v.n_segments != "
                "(SELECT COUNT(*) FROM segments s WHERE s.video_id = v.id)")}
        redo = short | set(self._segments_without_vectors().values())
        report.to_reindex = [v for v in self.videos() if v.id in redo]

    def _repair_milvus(self, target: MilvusTarget, live: set[int]) -> None:
        """Repair step 3 for a library whose vectors are in Milvus: the collection (created
        again when missing) is made to hold exactly the live segments' vectors, from SQLite's
        copies; videos whose copies are lost are listed to be indexed again."""
        report = self.repair_report
        assert report is not None
        try:
            self._load_index(writer=True)
        except LibraryError as e:
            if "is missing" not in str(e):
                raise
            report.index_problem = str(e).split(": run `vidsearch repair")[0]
            self._journal = MilvusJournal.create(target, self.dim, lambda: self._db, self._stored_vectors)
        assert isinstance(self._journal, MilvusJournal)
        problem = self._milvus_problem()
        if problem is not None and report.index_problem is None:
            report.index_problem = problem
        self._journal.reconcile(live)
        self._journal.dirty = True
        with self._mutex:
            lost = {r[0] for r in self._db.execute(
                "SELECT DISTINCT s.video_id FROM segments s LEFT JOIN segment_vectors v ON v.id = s.id "
                "WHERE v.id IS NULL")}
            short = {r[0] for r in self._db.execute(
                "SELECT v.id FROM videos v WHERE v.status = 'indexed' AND v.n_segments != "
                "(SELECT COUNT(*) FROM segments s WHERE s.video_id = v.id)")}
        report.to_reindex = [v for v in self.videos() if v.id in lost | short]

    def _reconcile(self) -> None:
        """Slow path: make every label's deleted flag match SQLite (live iff removed = 0)."""
        log.warning("library %s: index and metadata disagree; reconciling all labels", self.path)
        self._journal.reconcile(self._live_labels())

    def _remove_orphan_thumbs(self) -> None:
        known = {r[0] for r in self._db.execute("SELECT thumbnail FROM segments WHERE thumbnail IS NOT NULL")}
        with contextlib.suppress(OSError):
            for p in (self.path / THUMBS_DIR).iterdir():
                if p.name not in known:
                    p.unlink()

    def stale(self) -> bool:
        """Reader: whether a writer committed since this library loaded its index."""
        if not self.readonly:
            return False
        return self._journal.stale(self._sqlite_generation)

    def _sqlite_generation(self) -> int:
        """The generation SQLite has committed now."""
        with self._mutex:
            return int(self._read_meta().get("generation", 0))

    def data_version(self) -> int:
        """A number that changes whenever another connection commits anything to SQLite: videos,
        captions, settings (``PRAGMA data_version``; a reader compares it to see any commit, where
        :meth:`stale` sees only those that changed the vector index)."""
        with self._mutex:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def refresh(self) -> bool:
        """Reader: reload the index if a writer committed since; returns whether it did."""
        if not self.stale():
            return False
        with self._mutex:
            layout = json.loads(self._read_meta().get("layout") or "{}")
        if layout != self.layout:  # a channel was added: queries of this reader have the old width
            raise LibraryError(f"library at {self.path} now has channels {', '.join(layout)}: open it again "
                               "(restart `vidsearch serve`)")
        self._load_index(writer=False, loaded=self._journal)
        with self._mutex:
            self._columns.clear()  # a writer may have added tables or columns since
        return True

    # ---- properties ----------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Full fused-vector width (sum of the layout's widths)."""
        return sum(self.layout.values())

    @property
    def vectors_location(self) -> str:
        """Where the vectors are: "index files" (the library's own) or the Milvus URI it records."""
        return "index files" if isinstance(self._journal, IndexJournal) else self._journal.index.target.text

    @property
    def index(self) -> VectorIndex:
        """The vector index, for reading: every change goes through the commit protocol."""
        return self._journal.index

    # ---- writing -------------------------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        """The SQLite connection; a closed library is one clear error, not an AttributeError."""
        if self._conn is None:
            raise LibraryError(f"library at {self.path} is closed")
        return self._conn

    @_db.setter
    def _db(self, db: sqlite3.Connection | None) -> None:
        self._conn = db

    def _require_writer(self) -> None:
        if self.readonly:
            raise LibraryError(f"library at {self.path} is open read-only")
        if self._conn is None:
            raise LibraryError(f"library at {self.path} is closed")
        if self._commit_failed is not None:
            raise LibraryError(f"library at {self.path}: a commit failed ({self._commit_failed}); nothing more "
                               "is written: open it again to go on from its last commit")

    def _begin(self) -> None:
        if not self._in_txn:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_txn = True

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One logical change: all of it or nothing, inside the commit-wide transaction."""
        self._require_writer()
        with self._mutex:
            self._begin()
            self._db.execute("SAVEPOINT change")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK TO change")
                self._db.execute("RELEASE change")
                raise
            self._db.execute("RELEASE change")

    @property
    def _captions(self) -> Captions:
        # Made per call: kept on the library it would hold the library in a reference cycle,
        # and a dropped writer must release its lock as soon as it is unreferenced.
        return Captions(self._write, self._read)

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """The connection, held for one read (server threads share it)."""
        with self._mutex:
            yield self._db

    def lookup(self, path: Path | str) -> VideoRow | None:
        """The stored record for ``path`` (indexed or failed), or None."""
        with self._mutex:
            row = self._db.execute(f"SELECT {VIDEO_COLS} FROM videos WHERE path = ?",
                                   (path_key(path),)).fetchone()
        return None if row is None else video_row(row)

    def add_video(
        self,
        iv: IndexedVideo,
        vectors: np.ndarray,
        *,
        size: int,
        mtime_ns: int,
        utterance_vectors: np.ndarray | None = None,
        ocr_vectors: np.ndarray | None = None,
    ) -> int:
        """Store one indexed video, replacing any record for the same path; returns its id.

        ``vectors`` is float32 (len(iv.segments), dim), already fused; ``utterance_vectors``
        optionally one row per ``iv.transcript.utterances``, ``ocr_vectors`` one per ``iv.ocr_lines``.
        The video keeps its id when it replaces an earlier record; its segments get new ids
        (labels are never reused).
        """
        n = len(iv.segments)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (n, self.dim):
            raise ValueError(f"{iv.info.path}: expected vectors of shape ({n}, {self.dim}), "
                             f"got {vectors.shape}")
        if not np.isfinite(vectors).all():
            raise ValueError(f"{iv.info.path}: vectors contain NaN or inf")
        utts = iv.transcript.utterances
        if utterance_vectors is not None:
            utterance_vectors = np.asarray(utterance_vectors, dtype=np.float32)
            if len(utterance_vectors) != len(utts):
                raise ValueError(f"{iv.info.path}: {len(utterance_vectors)} utterance vectors "
                                 f"for {len(utts)} utterances")
            if not np.isfinite(utterance_vectors).all():
                raise ValueError(f"{iv.info.path}: utterance vectors contain NaN or inf")
        if ocr_vectors is not None:
            ocr_vectors = np.asarray(ocr_vectors, dtype=np.float32)
            if len(ocr_vectors) != len(iv.ocr_lines):
                raise ValueError(f"{iv.info.path}: {len(ocr_vectors)} OCR line vectors "
                                 f"for {len(iv.ocr_lines)} lines")
        key = path_key(iv.info.path)
        labels = np.arange(self._journal.next_label, self._journal.next_label + n, dtype=np.int64)
        removed = [_is_removed(s.start, s.end, iv.removed) for s in iv.segments]
        n_thumbs = len(self._new_thumbs)
        try:
            video_id = self._add_video_rows(iv, key, labels, vectors, removed, size, mtime_ns,
                                            utterance_vectors, ocr_vectors)
        except BaseException:
            for p in self._new_thumbs[n_thumbs:]:  # written for rows that were rolled back
                with contextlib.suppress(OSError):
                    p.unlink()
            del self._new_thumbs[n_thumbs:]
            raise
        return video_id

    def _add_video_rows(self, iv: IndexedVideo, key: bytes, labels: np.ndarray, vectors: np.ndarray,
                        removed: list[bool], size: int, mtime_ns: int,
                        utterance_vectors: np.ndarray | None, ocr_vectors: np.ndarray | None) -> int:
        info, utts, n = iv.info, iv.transcript.utterances, len(iv.segments)
        with self._write() as db:
            old = db.execute("SELECT id FROM videos WHERE path = ?", (key,)).fetchone()
            fields = dict(
                path_text=display(iv.info.path), size=int(size), mtime_ns=int(mtime_ns),
                content_hash=iv.content_hash, duration=float(info.duration), width=int(info.width),
                height=int(info.height), fps=float(info.fps), rotation=int(info.rotation),
                has_audio=int(bool(info.has_audio)), language=iv.transcript.language,
                status="indexed", error=None, indexed_at=time.time(), n_segments=n)
            if old is None:
                cols = ", ".join(fields)
                cur = db.execute(f"INSERT INTO videos(path, {cols}) VALUES (?{', ?' * len(fields)})",
                                 (key, *fields.values()))
                video_id = rowid(cur)
                dead: list[int] = []
                old_thumbs: list[Path] = []
            else:
                video_id = int(old[0])
                sets = ", ".join(f"{c} = ?" for c in fields)
                db.execute(f"UPDATE videos SET {sets} WHERE id = ?", (*fields.values(), video_id))
                dead, old_thumbs = self._drop_video_rows(video_id)
            seg_rows = []
            for label, seg, rm in zip(labels.tolist(), iv.segments, removed):
                thumb = None
                if seg.thumbnail_jpeg:
                    thumb = f"{label}.jpg"
                    self._write_thumb(thumb, seg.thumbnail_jpeg)
                seg_rows.append((
                    label, video_id, float(seg.start), float(seg.end), int(seg.scene_index),
                    seg.speech_text, seg.ocr_text or "", json.dumps(list(seg.tags), ensure_ascii=False),
                    json.dumps([float(k.time) for k in seg.keyframes]), thumb, int(rm), _real(seg.speech_logprob),
                    _real(seg.speech_word_logprob)))
            db.executemany("INSERT INTO segments(id, video_id, start_s, end_s, scene_index, "
                           "speech_text, ocr_text, tags, keyframes, thumbnail, removed, speech_logprob, "
                           "speech_word_logprob) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", seg_rows)
            db.executemany("INSERT INTO segment_vectors(id, data) VALUES (?, ?)",
                           zip(labels.tolist(), _pack_vectors(vectors)))
            db.executemany(
                "INSERT INTO utterances(video_id, ord, start_s, end_s, text, language, words, "
                "embedding, avg_logprob, no_speech_prob, language_prob, word_logprob) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(video_id, i, float(u.start), float(u.end), u.text, u.language or "",
                  json.dumps([[w.text, w.start, w.end, w.probability] for w in u.words],
                             ensure_ascii=False),
                  None if utterance_vectors is None else utterance_vectors[i].tobytes(),
                  _real(u.avg_logprob), _real(u.no_speech_prob), _real(u.language_prob), _real(u.word_logprob))
                 for i, u in enumerate(utts)])
            db.executemany(
                "INSERT INTO ocr_lines(video_id, start_s, end_s, text, raw, score, embedding) VALUES (?,?,?,?,?,?,?)",
                [(video_id, float(line.start), float(line.end), line.text, line.raw, float(line.score),
                  None if ocr_vectors is None else ocr_vectors[i].tobytes())
                 for i, line in enumerate(iv.ocr_lines)])
            # Lines that cleaning emptied (promo badges): kept with empty text, so that they reach
            # neither embeddings nor captions, but their raw reading is findable word for word.
            db.executemany(
                "INSERT INTO ocr_lines(video_id, start_s, end_s, text, raw, score, embedding) VALUES (?,?,?,'',?,?,NULL)",
                [(video_id, float(line.start), float(line.end), line.raw, float(line.score))
                 for line in iv.promo_lines])
            lexical.add_lines(db, video_id, [("speech", u.start, u.end, u.text) for u in utts])
            lexical.add_lines(db, video_id, [("screen", line.start, line.end, line.raw)
                                             for line in sorted([*iv.ocr_lines, *iv.promo_lines],
                                                                key=lambda ln: ln.start)])
            db.executemany("INSERT INTO removed_spans(video_id, start_s, end_s, kind) VALUES (?,?,?,?)",
                           [(video_id, float(s.start), float(s.end), s.kind) for s in iv.removed])
            if iv.fingerprint is not None:
                db.execute("INSERT INTO fingerprints(video_id, data) VALUES (?, ?)",
                           (video_id, pack_fingerprint(iv.fingerprint)))
            if iv.visual_signature is not None:
                db.execute("INSERT INTO signatures(video_id, data) VALUES (?, ?)",
                           (video_id, iv.visual_signature.to_bytes()))
            # Vectors last: SQLite work above is rolled back by the savepoint if anything fails,
            # and new labels that never made it into SQLite are simply never returned.
            self._journal.add(labels, vectors)  # never reuses these labels, even if it fails
            self._journal.mark_deleted(dead)
            self._journal.mark_deleted(labels[np.asarray(removed, dtype=bool)].tolist())
            self._dead_thumbs.extend(old_thumbs)
        return video_id

    def _drop_video_rows(self, video_id: int) -> tuple[list[int], list[Path]]:
        """Delete a video's dependent rows; returns (live labels to mark deleted, thumbnails).

        Thumbnails are unlinked only after SQLite commits (until then the old rows are current),
        so the caller queues them once its whole change has succeeded.
        """
        db = self._db
        rows = db.execute("SELECT id, removed, thumbnail FROM segments WHERE video_id = ?",
                          (video_id,)).fetchall()
        db.execute("DELETE FROM segment_vectors WHERE id IN (SELECT id FROM segments WHERE video_id = ?)",
                   (video_id,))
        for table in ("segments", "utterances", "ocr_lines", "removed_spans", "fingerprints", "signatures"):
            db.execute(f"DELETE FROM {table} WHERE video_id = ?", (video_id,))
        lexical.drop_video(db, video_id)
        return [r[0] for r in rows if not r[1]], [self.path / THUMBS_DIR / t for _, _, t in rows if t]

    def _write_thumb(self, name: str, data: bytes) -> None:
        p = self.path / THUMBS_DIR / name
        self._new_thumbs.append(p)  # first: a write that fails half-way is removed with the rest
        p.write_bytes(data)

    def record_failure(self, path: Path | str, reason: str, *, size: int, mtime_ns: int) -> int:
        """Remember that ``path`` (at this size/mtime) failed, replacing any record of it.

        Only that path's record changes; returns its video id.
        """
        key = path_key(path)
        with self._write() as db:
            old = db.execute("SELECT id FROM videos WHERE path = ?", (key,)).fetchone()
            fields = (display(path), int(size), int(mtime_ns), str(reason), time.time())
            if old is None:
                cur = db.execute(
                    "INSERT INTO videos(path, path_text, size, mtime_ns, error, indexed_at, status, "
                    "n_segments) VALUES (?, ?, ?, ?, ?, ?, 'failed', 0)", (key, *fields))
                return rowid(cur)
            video_id = int(old[0])
            db.execute(
                "UPDATE videos SET path_text = ?, size = ?, mtime_ns = ?, error = ?, indexed_at = ?, "
                "status = 'failed', n_segments = 0, content_hash = NULL, duration = NULL, "
                "width = NULL, height = NULL, fps = NULL, rotation = NULL, has_audio = NULL, "
                "language = NULL WHERE id = ?", (*fields, video_id))
            # The file changed into something unreadable: its old segments no longer describe it.
            dead, old_thumbs = self._drop_video_rows(video_id)
            self._journal.mark_deleted(dead)
            self._dead_thumbs.extend(old_thumbs)
        return video_id

    def touch(self, video_id: int, size: int, mtime_ns: int) -> None:
        """Record a new size/mtime for a video whose content hash shows it is unchanged."""
        with self._write() as db:
            db.execute("UPDATE videos SET size = ?, mtime_ns = ? WHERE id = ?",
                       (int(size), int(mtime_ns), int(video_id)))

    def rename_video(self, old: Path | str, new: Path | str, *, size: int, mtime_ns: int) -> bool:
        """Point an indexed video at its new path (a file moved with the same content hash), so
        its segments, ids and vectors stay as they are; False if ``old`` is unknown or ``new``
        is already in the library."""
        with self._write() as db:
            row = db.execute("SELECT id FROM videos WHERE path = ?", (path_key(old),)).fetchone()
            taken = db.execute("SELECT 1 FROM videos WHERE path = ?", (path_key(new),)).fetchone()
            if row is None or taken is not None:
                return False
            db.execute("UPDATE videos SET path = ?, path_text = ?, size = ?, mtime_ns = ? WHERE id = ?",
                       (path_key(new), display(new), int(size), int(mtime_ns), int(row[0])))
        return True

    def delete_video(self, path: Path | str) -> bool:
        """Remove a video, its segments (from search too) and thumbnails; False if unknown."""
        with self._write() as db:
            old = db.execute("SELECT id FROM videos WHERE path = ?", (path_key(path),)).fetchone()
            if old is None:
                return False
            dead, old_thumbs = self._drop_video_rows(int(old[0]))
            db.execute("DELETE FROM videos WHERE id = ?", (int(old[0]),))
            self._journal.mark_deleted(dead)
            self._dead_thumbs.extend(old_thumbs)
        return True

    def set_library_spans(self, video_id: int, spans: list[Span]) -> None:
        """Replace a video's library-level (bumper) spans and recompute its removed segments.

        Span kinds are stored with a "bumper" prefix (added when missing). A segment is removed
        when at least half of it lies inside the union of the video's removed spans; removed
        segments are hidden from the vector index, and shown again once no longer removed.
        """
        rows = [(int(video_id), float(s.start), float(s.end),
                 s.kind if s.kind.startswith("bumper") else f"bumper-{s.kind}" if s.kind else "bumper")
                for s in spans]
        with self._write() as db:
            db.execute("DELETE FROM removed_spans WHERE video_id = ? AND kind LIKE 'bumper%'",
                       (int(video_id),))
            db.executemany("INSERT INTO removed_spans(video_id, start_s, end_s, kind) VALUES (?,?,?,?)",
                           rows)
            all_spans = self._spans(int(video_id))
            hide: list[int] = []
            show: list[int] = []
            for sid, start, end, was in db.execute(
                    "SELECT id, start_s, end_s, removed FROM segments WHERE video_id = ?",
                    (int(video_id),)).fetchall():
                now = _is_removed(start, end, all_spans)
                if now != bool(was):
                    (hide if now else show).append(sid)
            db.executemany("UPDATE segments SET removed = 1 WHERE id = ?", [(i,) for i in hide])
            db.executemany("UPDATE segments SET removed = 0 WHERE id = ?", [(i,) for i in show])
            self._journal.mark_deleted(hide)
            self._journal.unmark_deleted(show)

    # ---- adding a channel to an existing library ----------------------------------------

    def stage_channel(self, channel: str, blocks: Mapping[int, np.ndarray]) -> None:
        """Keep the block of a channel the library does not have yet for these segments (float32,
        by segment id) until :meth:`add_channel`; durable with the next commit, so a backfill
        killed half-way goes on from what it had committed."""
        with self._write() as db:
            db.executemany("INSERT OR REPLACE INTO channel_stage(channel, id, data) VALUES (?, ?, ?)",
                           [(channel, int(k), np.asarray(v, np.float32).tobytes()) for k, v in blocks.items()])

    def staged(self, channel: str) -> set[int]:
        """Segment ids whose block of ``channel`` is staged."""
        with self._mutex:
            if not self._has_table("channel_stage"):
                return set()
            return {r[0] for r in self._db.execute("SELECT id FROM channel_stage WHERE channel = ?", (channel,))}

    def channel_problem(self, channel: str) -> str | None:
        """Why ``channel`` cannot be added to this library (one line), or None when it can: a
        backfill asks before it encodes anything."""
        if channel in self.layout:
            return f"{self.path} has the {channel} channel already ({self.setting('clip_model') or 'CLIP'})"
        return None if isinstance(self._journal, IndexJournal) else self._vectors_elsewhere_problem()

    def _vectors_elsewhere_problem(self) -> str:
        return (f"library at {self.path} keeps its vectors in {self.vectors_location}: a channel cannot be "
                "added there; index the videos into a new --db with it")

    def add_channel(self, channel: str, layout: Mapping[str, int], settings: Mapping[str, str]) -> None:
        """Switch the library to ``layout`` (its own plus ``channel``, in storage order): every
        segment's vector gets the staged block of ``channel`` (zero where none was staged, as
        for a segment without that input), the index is rebuilt at the new width, and
        ``settings`` (library settings) are recorded; all in one commit. A crash before it ends
        leaves the library as it was, with the staged blocks. Readers must be opened again.

        The vectors come from SQLite's float16 copies (the index's own may be hidden); rebuilding
        the index takes what building it took (about half an hour at 1M segments on 2 cores).
        """
        self._require_writer()
        if not isinstance(self._journal, IndexJournal):
            raise LibraryError(self._vectors_elsewhere_problem())
        new_layout = _check_layout(dict(layout))
        if channel in self.layout or set(new_layout) != set(self.layout) | {channel} or any(
                new_layout[c] != w for c, w in self.layout.items()):
            raise LibraryError(f"library at {self.path}: {_fmt_layout(new_layout)} is not its layout "
                               f"{_fmt_layout(self.layout)} plus channel {channel}")
        self.commit()  # what came before stands on its own
        old_slices = _slices(self.layout)
        new_slices = _slices(new_layout)
        width = new_layout[channel]
        with self._mutex:
            rows = self._db.execute("SELECT id, removed FROM segments ORDER BY id").fetchall()
            staged = dict(self._db.execute("SELECT id, data FROM channel_stage WHERE channel = ?", (channel,)))
        labels = np.asarray([r[0] for r in rows], np.int64)
        vectors = np.zeros((len(rows), sum(new_layout.values())), np.float32)
        olds = self._stored_vectors(labels.tolist())
        missing = [sid for sid, _ in rows if sid not in olds]
        olds.update(self._index_vectors(missing) if missing else {})
        for i, (sid, _) in enumerate(rows):
            old = olds.get(sid)
            if old is None:
                raise LibraryError(f"library at {self.path}: segment {sid} has no stored vector: run "
                                   f"`vidsearch repair --db {self.path}` first")
            for name, sl in old_slices.items():
                vectors[i, new_slices[name]] = old[sl]
            block = np.frombuffer(staged[sid], np.float32) if sid in staged else np.zeros(width, np.float32)
            if block.shape != (width,):
                raise LibraryError(f"library at {self.path}: the staged {channel} block of segment {sid} has "
                                   f"{block.shape[0]} values, not {width}")
            norm = float(np.linalg.norm(block))
            vectors[i, new_slices[channel]] = block / norm if norm > 0 else 0.0
        live = {int(r[0]): not r[1] for r in rows}
        header = read_header(self.path) or {}
        journal = IndexJournal.rebuilt(self.path, new_layout, header, labels, vectors, live,
                                       sqlite_gen=self._journal.sqlite_gen, next_label=self._journal.next_label,
                                       replaces=self._journal.state)
        with self._write() as db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'layout'", (json.dumps(new_layout),))
            db.execute("UPDATE meta SET value = ? WHERE key = 'dim'", (str(sum(new_layout.values())),))
            for chunk in range(0, len(labels), 4096):
                db.executemany("INSERT OR REPLACE INTO segment_vectors(id, data) VALUES (?, ?)",
                               zip(labels[chunk:chunk + 4096].tolist(), _pack_vectors(vectors[chunk:chunk + 4096])))
            db.execute("DELETE FROM channel_stage WHERE channel = ?", (channel,))
            db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                           [(f"setting.{k}", v) for k, v in settings.items()])
        self._journal = journal
        self.layout = new_layout
        self.commit()

    def commit(self) -> None:
        """Make every change since the last commit durable and visible, atomically.

        (1) header then index are written beside, fsynced and renamed into place (directory
        fsynced); (2) then the SQLite transaction commits. See :mod:`vidsearch.store.journal` for why a
        crash anywhere leaves the last committed state.
        """
        self._require_writer()
        with self._mutex:
            try:
                if self._journal.dirty:
                    self._save_index()
                self._fsync_thumbs()
                if self._in_txn:
                    if self._journal.dirty:
                        self._db.execute("UPDATE meta SET value = ? WHERE key = 'generation'",
                                         (str(self._journal.generation),))
                    self._db.execute("COMMIT")
                    self._in_txn = False
            except BaseException as exc:
                # Half a commit is a crash: the files on disk are recovered by the next open
                # (see :mod:`vidsearch.store.journal`). Writing on from here could commit SQLite's side
                # without the rows a failed COMMIT rolled back, so this writer stops.
                self._commit_failed = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if self._in_txn:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    self._in_txn = False
                raise
            self._journal.committed()
            for p in self._dead_thumbs:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            self._dead_thumbs.clear()

    @property
    def commit_failed(self) -> bool:
        """True once a commit has failed part-way: this writer commits nothing more."""
        return getattr(self, "_commit_failed", None) is not None

    def _save_index(self) -> None:
        """Commit step (1): the index header and file (see :mod:`vidsearch.store.journal`)."""
        self._begin()  # the generation bump must commit with SQLite
        self._journal.save()

    def _fsync_thumbs(self) -> None:
        if not self._new_thumbs:
            return
        for p in self._new_thumbs:
            with contextlib.suppress(FileNotFoundError):
                fsync_path(p)
        fsync_path(self.path / THUMBS_DIR)
        self._new_thumbs.clear()

    # ---- reading -------------------------------------------------------------------------

    def search(self, query: np.ndarray, k: int, *, oversample: float = 1.25) -> list[tuple[int, float]]:
        """Top-k live segments for a (weighted) query vector: [(segment id, score)], best first.

        Asks the index for ``k * oversample`` and widens until k live segments are found or the
        index is exhausted, so orphan labels never crowd out real hits. (The index skips deleted
        labels itself; the margin covers segments a writer removed since this reader loaded.)
        """
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise ValueError(f"query has {query.shape[0]} dims, library has {self.dim}")
        index = self._journal.index
        total = index.count
        if k <= 0 or total == 0:
            return []
        want = min(total, max(k, int(k * max(1.0, oversample))))
        # A writer may resize the index while another thread searches; readers never change it.
        guard = contextlib.nullcontext() if self.readonly else self._mutex
        while True:
            with guard:
                labels, scores = index.search(query, want)
            live = self._live(labels.tolist())
            hits = [(int(i), float(s)) for i, s in zip(labels.tolist(), scores.tolist()) if i in live]
            if len(hits) >= k or want >= total or len(labels) < want:
                return hits[:k]
            want = min(total, want * 4)

    def _live(self, ids: list[int]) -> set[int]:
        out: set[int] = set()
        with self._mutex:
            for chunk in chunks(ids):
                q = f"SELECT id FROM segments WHERE removed = 0 AND id IN ({','.join('?' * len(chunk))})"
                out.update(r[0] for r in self._db.execute(q, chunk))
        return out

    def segments(self, ids: list[int]) -> dict[int, SegmentRow]:
        """Segment rows by id (ids not stored are absent from the result)."""
        out: dict[int, SegmentRow] = {}
        thumbs = self.path / THUMBS_DIR
        with self._mutex:
            logprob = self._column("segments", "speech_logprob", "s.")
            word_logprob = self._column("segments", "speech_word_logprob", "s.")
            for chunk in chunks([int(i) for i in ids]):
                q = ("SELECT s.id, s.video_id, v.path, s.start_s, s.end_s, s.scene_index, s.speech_text, "
                     f"s.ocr_text, s.tags, s.thumbnail, s.keyframes, s.removed, {logprob}, {word_logprob} FROM segments s "
                     f"JOIN videos v ON v.id = s.video_id WHERE s.id IN ({','.join('?' * len(chunk))})")
                for r in self._db.execute(q, chunk):
                    out[r[0]] = SegmentRow(
                        id=r[0], video_id=r[1], video_path=path_from_key(r[2]), start=r[3], end=r[4],
                        scene_index=r[5], speech_text=r[6], ocr_text=r[7], tags=json.loads(r[8]),
                        thumbnail=thumbs / r[9] if r[9] else None, keyframe_times=json.loads(r[10]),
                        removed=bool(r[11]), speech_logprob=r[12], speech_word_logprob=r[13])
        return out

    def video_segments(self, video_id: int) -> list[SegmentRow]:
        """All segments of a video in time order (removed ones included, flagged)."""
        with self._mutex:
            ids = [r[0] for r in self._db.execute(
                "SELECT id FROM segments WHERE video_id = ? ORDER BY start_s", (int(video_id),))]
        rows = self.segments(ids)
        return [rows[i] for i in ids if i in rows]

    def vectors(self, ids: list[int]) -> np.ndarray:
        """Stored fused vectors (n, dim) of live segments; KeyError for ids without one.

        Read from SQLite's ``segment_vectors`` (float16, one row per segment, written with it),
        else from the vector index. hnswlib hands vectors out through a Python list of floats:
        re-scoring a query's ~150 candidates at 100k segments spent 3.5 ms there, about 0.3 ms
        reading the rows. A segment a writer committed after this reader loaded its index is
        found here too."""
        ids = [int(i) for i in ids]
        found = self._stored_vectors(ids, live_only=True)
        # Missing rows, and rows of the wrong size (damage), are read from the index.
        rest = [i for i in ids if i not in found]
        if rest:
            found.update(zip(rest, self._journal.index.get(rest)))
        out = np.empty((len(ids), self.dim), np.float32)
        for j, sid in enumerate(ids):
            out[j] = found[sid]
        return out

    def _has_table(self, table: str) -> bool:
        """Whether this library has ``table`` (a reader of an older library may not)."""
        with self._mutex:
            if table not in self._columns:
                self._columns[table] = columns_of(self._db, table)
            return bool(self._columns[table])

    def utterances(self, video_id: int, start: float = 0.0, end: float = float("inf")) -> list[UtteranceRow]:
        """A video's utterances overlapping [start, end), in time order."""
        with self._mutex:
            scores = ", ".join(self._column("utterances", c)
                               for c in ("avg_logprob", "no_speech_prob", "language_prob", "word_logprob"))
            rows = self._db.execute(
                f"SELECT id, video_id, start_s, end_s, text, language, words, embedding, {scores} FROM utterances "
                "WHERE video_id = ? AND start_s < ? AND end_s > ? ORDER BY ord",
                (int(video_id), float(end), float(start))).fetchall()
        return [UtteranceRow(
            id=r[0], video_id=r[1], start=r[2], end=r[3], text=r[4], language=r[5],
            words=[WordRow(t, float(s), float(e), float(p)) for t, s, e, p in json.loads(r[6])],
            embedding=None if r[7] is None else np.frombuffer(r[7], dtype=np.float32).copy(),
            avg_logprob=r[8], no_speech_prob=r[9], language_prob=r[10], word_logprob=r[11])
            for r in rows]

    def spoken_lines(self, segment_ids: list[int]) -> SpokenLines:
        """The embedded spoken lines of those segments that hold words of two or more (a segment's
        one line is its own speech passage), flat (:class:`SpokenLines`). A line belongs to every
        segment holding one of its words by the words' midpoints, the rule segments are built by
        (:func:`vidsearch.ingest.segments.build_segments`): a line that only brushes a segment's
        edge does not count for it. Embeddings that are not the ``speech`` channel's width or not
        finite (damage) are left out. Lines are found through the ``utterances_span`` index from
        :data:`LONGEST_LINE_S` before the segment on, not from the video's start; only a line
        reaching past a segment's edge has its words read."""
        empty = SpokenLines([], np.zeros((0, 0), np.float32), [], [])
        if not segment_ids:
            return empty
        with self._mutex:
            scores = ", ".join(self._column("utterances", c, "u.") for c in ("word_logprob", "avg_logprob"))
            rows = []
            for chunk in chunks([int(i) for i in segment_ids]):
                rows += self._db.execute(
                    f"SELECT s.id, s.start_s, s.end_s, u.embedding, {scores}, u.start_s, u.end_s, "
                    "CASE WHEN u.start_s < s.start_s OR u.end_s > s.end_s THEN u.words END "
                    "FROM segments s JOIN utterances u ON u.video_id = s.video_id AND u.start_s < s.end_s "
                    "AND u.start_s >= s.start_s - ? AND u.end_s > s.start_s "
                    f"WHERE s.id IN ({','.join('?' * len(chunk))}) AND u.embedding IS NOT NULL",
                    [LONGEST_LINE_S, *chunk]).fetchall()
        width = 4 * int(self.layout.get("speech", 0))
        kept = []
        for sid, start, end, blob, word_lp, avg_lp, line_start, line_end, words in rows:
            if not isinstance(blob, bytes) or len(blob) != width:
                continue
            if words is not None:  # the line reaches past the segment: does the segment hold a word of it?
                try:
                    spans = [(w[1], w[2]) for w in json.loads(words)] or [(line_start, line_end)]
                except (ValueError, TypeError, IndexError):
                    continue
                if not any(said_within(a, b, start, end) for a, b in spans):
                    continue
            kept.append((int(sid), blob, word_lp, avg_lp))
        if not kept:
            return empty
        vectors = np.frombuffer(b"".join(r[1] for r in kept), dtype=np.float32).reshape(len(kept), -1)
        finite: list[bool] = [bool(v) for v in np.isfinite(vectors).all(axis=1).reshape(-1)]
        per_segment = Counter(r[0] for r, ok in zip(kept, finite) if ok)
        keep = [j for j, (r, ok) in enumerate(zip(kept, finite)) if ok and per_segment[r[0]] > 1]
        if not keep:
            return empty
        return SpokenLines([kept[j][0] for j in keep], vectors[keep], [kept[j][2] for j in keep],
                           [kept[j][3] for j in keep])

    def _column(self, table: str, column: str, prefix: str = "") -> str:
        """``column`` to select, or NULL where this (older, opened read-only) library lacks it."""
        if table not in self._columns:
            self._columns[table] = columns_of(self._db, table)
        return f"{prefix}{column}" if column in self._columns[table] else "NULL"

    def ocr_lines(self, video_id: int, start: float = 0.0, end: float = float("inf"), *,
                  as_shown: bool = False) -> list[OcrLineRow]:
        """A video's on-screen text lines visible somewhere in [start, end), in time order
        (a line read on a single frame is visible at that instant). A line the promo cleaner
        emptied (a "限时优惠" badge) is left out, unless ``as_shown`` asks for every line on screen."""
        kept = "" if as_shown else "AND text != '' "
        with self._mutex:
            rows = self._db.execute(
                "SELECT id, video_id, start_s, end_s, text, raw, score, embedding FROM ocr_lines "
                f"WHERE video_id = ? {kept}AND start_s < ? AND (end_s > ? OR (end_s = start_s AND start_s >= ?)) "
                "ORDER BY start_s, id", (int(video_id), float(end), float(start), float(start))).fetchall()
        return [OcrLineRow(id=r[0], video_id=r[1], start=r[2], end=r[3], text=r[4], raw=r[5], score=r[6],
                           embedding=None if r[7] is None else np.frombuffer(r[7], dtype=np.float32).copy())
                for r in rows]

    def segment_spans(self, video_ids: Iterable[int]) -> dict[int, list[tuple[int, float, float]]]:
        """Live segments of these videos as ``(id, start, end)`` in time order, per video: the
        light form of :meth:`video_segments` (no text, tags or keyframes decoded)."""
        out: dict[int, list[tuple[int, float, float]]] = {}
        with self._mutex:
            for chunk in chunks(sorted({int(v) for v in video_ids})):
                marks = ",".join("?" * len(chunk))
                for vid, sid, start, end in self._db.execute(
                        f"SELECT video_id, id, start_s, end_s FROM segments WHERE removed = 0 AND video_id IN ({marks}) "
                        "ORDER BY video_id, start_s", chunk):
                    out.setdefault(vid, []).append((sid, start, end))
        return out

    def live_segment_ids(self) -> list[int]:
        """Ids of every live segment, ascending (a reader sees its last refresh)."""
        with self._mutex:
            return [r[0] for r in self._db.execute("SELECT id FROM segments WHERE removed = 0 ORDER BY id")]

    def lexical_lines(self, query_terms: Sequence[str], limit: int = 200,
                      kinds: Collection[str] = lexical.KINDS,
                      video_ids: Collection[int] | None = None) -> list[lexical.LexicalLine]:
        """Lines of the ``kinds`` asked for (spoken, on-screen) holding any of ``query_terms`` (see
        :mod:`.lexical`), best BM25 first, of ``video_ids`` only when given; lines of removed or
        deleted videos are never returned."""
        with self._mutex:
            return lexical.search(self._db, query_terms, limit, kinds, video_ids)

    def lexical_forms(self, query_terms: Sequence[str]) -> dict[str, list[str]]:
        """Per query term, the indexed words of its stem (see :func:`.lexical.forms`)."""
        return lexical.forms(self._vocab_from, query_terms)

    def _vocab_from(self, prefix: str) -> list[str]:
        with self._mutex:
            return lexical.vocab_from(self._db, prefix)

    def lexical_cut(self) -> int:
        """How the exact-words index cuts its lines into terms (the ``cut`` of
        :func:`vidsearch.text.lexical.terms`): this release's, or an earlier release's where that
        built the index and no writer has opened the library since."""
        with self._mutex:
            try:
                stored = lexical.stored_format(self._db)
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return 1  # no meta table yet: nothing is indexed either way
                raise
        return max(1, min(stored, lexical.FORMAT))

    def lexical_doc_freq(self, query_terms: Sequence[str]) -> tuple[dict[str, int], int]:
        """(lines holding each term, lines indexed): for inverse document frequencies.

        The line count is kept until the database changes (``PRAGMA data_version`` moves when
        another connection commits, ``total_changes`` when this one writes): counting 200k lines
        took 0.36 ms, a third of a query's exact-words step at 100k segments. Inside this
        connection's own transaction it is counted afresh and not kept (a rollback would undo
        what it counted without moving either number)."""
        with self._mutex:
            version = (self._db.execute("PRAGMA data_version").fetchone()[0], self._db.total_changes)
            if self._line_count is not None and self._line_count[0] == version and not self._in_txn:
                n = self._line_count[1]
            else:
                n = lexical.line_count(self._db)
                self._line_count = None if self._in_txn else (version, n)
            return lexical.doc_freq(self._db, query_terms), n

    def _spans(self, video_id: int) -> list[Span]:
        return [Span(s, e, k) for s, e, k in self._db.execute(
            "SELECT start_s, end_s, kind FROM removed_spans WHERE video_id = ? ORDER BY start_s, end_s",
            (int(video_id),))]

    def removed_spans(self, video_id: int) -> list[Span]:
        """Per-video trims and library bumpers of a video, by start time."""
        with self._mutex:
            return self._spans(video_id)

    def fingerprints(self) -> list[tuple[int, Fingerprint]]:
        """(video id, fingerprint) of every indexed video that has one."""
        with self._mutex:
            rows = self._db.execute("SELECT f.video_id, f.data FROM fingerprints f JOIN videos v "
                                    "ON v.id = f.video_id ORDER BY f.video_id").fetchall()
        return [(r[0], unpack_fingerprint(r[1])) for r in rows]

    def signatures(self) -> list[tuple[int, bytes]]:
        """(video id, packed visual signature) of every indexed video that has one (copy detection)."""
        with self._mutex:
            try:
                rows = self._db.execute("SELECT s.video_id, s.data FROM signatures s JOIN videos v "
                                        "ON v.id = s.video_id WHERE v.status = 'indexed' "
                                        "ORDER BY s.video_id").fetchall()
            except sqlite3.OperationalError:  # a library from before signatures were stored
                rows = []
        return rows

    # ---- captions ------------------------------------------------------------------------

    def put_captions(self, rows: Sequence[CaptionRow]) -> None:
        """Add captions, replacing any with the same id; durable with the next :meth:`commit`."""
        self._captions.put(rows)

    def remove_captions(self, ids: Iterable[str]) -> list[str]:
        """Remove captions by id; returns the ids that existed."""
        return self._captions.remove(ids)

    def captions(self, ids: Sequence[str] | None = None) -> list[CaptionRow]:
        """Stored captions (all, or those with ``ids``) in the order they were added."""
        return self._captions.get(ids)

    def caption_count(self) -> int:
        """How many captions are stored."""
        return self._captions.count()

    def video(self, video_id: int) -> VideoRow | None:
        """A video by id, or None."""
        with self._mutex:
            row = self._db.execute(f"SELECT {VIDEO_COLS} FROM videos WHERE id = ?",
                                   (int(video_id),)).fetchone()
        return None if row is None else video_row(row)

    def videos(self) -> list[VideoRow]:
        """Every stored video (indexed and failed), by id."""
        with self._mutex:
            rows = self._db.execute(f"SELECT {VIDEO_COLS} FROM videos ORDER BY id").fetchall()
        return [video_row(r) for r in rows]

    def stats(self) -> dict:
        """Counts for summaries: videos, failed, segments, live_segments, vector_width, layout."""
        with self._mutex:
            q = self._db.execute
            videos = q("SELECT COUNT(*) FROM videos WHERE status = 'indexed'").fetchone()[0]
            failed = q("SELECT COUNT(*) FROM videos WHERE status = 'failed'").fetchone()[0]
            segs, live = q("SELECT COUNT(*), COALESCE(SUM(removed = 0), 0) FROM segments").fetchone()
        return {"videos": videos, "failed": failed, "segments": segs, "live_segments": live,
                "captions": self.caption_count(),
                "vector_width": self.dim, "layout": dict(self.layout), "vectors": self.vectors_location,
                "index_elements": self._journal.index.n_elements}

    # ---- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close without committing: uncommitted changes are dropped (SQLite rolls back)."""
        self._release()

    def _release(self) -> None:
        journal = getattr(self, "_journal", None)
        if isinstance(journal, MilvusJournal):
            journal.index.close()  # milvus-lite serves one client at a time
        db, self._conn = getattr(self, "_conn", None), None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                if getattr(self, "_in_txn", False):
                    db.execute("ROLLBACK")
            self._in_txn = False
            db.close()
        for p in getattr(self, "_new_thumbs", []):
            with contextlib.suppress(OSError):
                p.unlink()  # thumbnails of segments that were never committed
        fd, self._lock_fd = getattr(self, "_lock_fd", None), None
        if fd is not None:
            os.close(fd)  # releases the flock

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._release()


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _slices(layout: Mapping[str, int]) -> dict[str, slice]:
    """Each channel's place in a fused vector of ``layout``."""
    out, at = {}, 0
    for name, width in layout.items():
        out[name] = slice(at, at + int(width))
        at += int(width)
    return out


def _check_layout(layout: dict[str, int]) -> dict[str, int]:
    out = {str(k): int(v) for k, v in layout.items()}
    if not out or any(v <= 0 for v in out.values()):
        raise LibraryError(f"invalid vector layout {_fmt_layout(out)}: widths must be positive")
    return out


def _fmt_layout(layout: dict[str, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in layout.items()) or "(empty)"


def _check_stored_layout(path: Path, meta: dict[str, str], layout: dict[str, int] | None) -> dict[str, int]:
    stored = {str(k): int(v) for k, v in json.loads(meta["layout"]).items()}
    if layout is not None and list(layout.items()) != list(stored.items()):
        raise LibraryError(
            f"library at {path} was built with vector layout {_fmt_layout(stored)} but "
            f"{_fmt_layout(layout)} is configured: rebuild it (delete {path} and run `vidsearch index`)")
    return stored


def _is_removed(start: float, end: float, spans: Sequence[Span]) -> bool:
    """At least half of [start, end) lies inside the union of ``spans``."""
    if end <= start:
        return any(s.contains(start) for s in spans)
    covered, cur = 0.0, start
    for s in sorted(spans, key=lambda s: s.start):
        lo, hi = max(s.start, cur), min(s.end, end)
        if hi > lo:
            covered += hi - lo
            cur = hi
    return covered >= 0.5 * (end - start)


def _unfinished_repair(db_dir: Path) -> Path | None:
    """The newest complete recovered meta.sqlite a repair left before swapping it in, or None."""
    ready = sorted(db_dir.glob(f".repair-*/{_READY}"), key=lambda p: p.stat().st_mtime)
    return ready[-1] if ready else None


def damage_message(db_dir: Path | str, exc: BaseException) -> str | None:
    """One line for an SQLite error met while reading the library at ``db_dir`` when it means
    the file is damaged (None otherwise)."""
    if isinstance(exc, sqlite3.DatabaseError) and is_corrupt(exc):
        return str(_damaged(Path(db_dir), DB_FILE, exc))
    return None
