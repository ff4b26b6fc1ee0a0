"""The captions table of a library: a corpus of user captions, each stored with its embeddings.

:class:`Captions` holds the SQL; :class:`~vidsearch.store.library.Library` exposes it as
``put_captions``, ``remove_captions``, ``captions`` and ``caption_count`` and supplies the
connection: a write joins the library's open transaction (durable with its next commit), a
read runs under the library's lock. A library from before captions existed has no table and
reads as having none.
"""
from __future__ import annotations

import json
import sqlite3
import time
from typing import Callable, ContextManager, Iterable, Sequence

import numpy as np

from vidsearch.store.rows import CaptionRow

Connect = Callable[[], ContextManager[sqlite3.Connection]]


class Captions:
    """The captions of one library; ``write()`` and ``read()`` lend its SQLite connection."""

    def __init__(self, write: Connect, read: Connect) -> None:
        self._write = write
        self._read = read

    def put(self, rows: Sequence[CaptionRow]) -> None:
        """Add captions, replacing any with the same id."""
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO captions(id, text, clean, extra, text_vec, clip_vec, added_at) "
                "VALUES (?,?,?,?,?,?,?)",
                [(r.id, r.text, r.clean, json.dumps(r.extra, ensure_ascii=False),
                  np.asarray(r.text_vec, dtype=np.float32).tobytes(),
                  None if r.clip_vec is None else np.asarray(r.clip_vec, dtype=np.float32).tobytes(), now)
                 for r in rows])

    def remove(self, ids: Iterable[str]) -> list[str]:
        """Remove captions by id; returns the ids that existed."""
        removed = []
        with self._write() as db:
            for cid in ids:
                if db.execute("DELETE FROM captions WHERE id = ?", (str(cid),)).rowcount:
                    removed.append(str(cid))
        return removed

    def get(self, ids: Sequence[str] | None = None) -> list[CaptionRow]:
        """Stored captions (all, or those with ``ids``) in the order they were added."""
        q = "SELECT id, text, clean, extra, text_vec, clip_vec FROM captions"
        args: list = []
        if ids is not None:
            if not ids:
                return []
            q += f" WHERE id IN ({','.join('?' * len(ids))})"
            args = [str(i) for i in ids]
        with self._read() as db:
            try:
                rows = db.execute(q + " ORDER BY added_at, rowid", args).fetchall()
            except sqlite3.OperationalError:  # a library from before captions existed
                return []
        return [CaptionRow(id=r[0], text=r[1], clean=r[2], extra=json.loads(r[3]),
                           text_vec=np.frombuffer(r[4], dtype=np.float32),
                           clip_vec=None if r[5] is None else np.frombuffer(r[5], dtype=np.float32))
                for r in rows]

    def count(self) -> int:
        """How many captions are stored."""
        with self._read() as db:
            try:
                return int(db.execute("SELECT COUNT(*) FROM captions").fetchone()[0])
            except sqlite3.OperationalError:
                return 0
