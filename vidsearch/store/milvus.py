"""The vectors of a library in Milvus (a server, a cluster, or the embedded milvus-lite): the
:class:`VectorIndex` on a Milvus collection, and the commit protocol that keeps it in step with
the library's SQLite.

Where the vectors live is chosen when a library is created (``--vectors``) and recorded in its
SQLite ``meta`` (``vectors``): ``milvus://HOST:PORT/COLLECTION`` for a Milvus server or cluster,
``milvus-lite:PATH.db/COLLECTION`` for the embedded one (a relative path is taken from the library
directory). Everything else (videos, segments, words, the float16 copy of every vector that
search re-scores with) stays in the library's SQLite.

Commit protocol
---------------
SQLite is the source of truth, and Milvus is written only after SQLite has committed: every
label change of a commit is also a row of ``vector_log`` (label, live), written in the same
SQLite transaction as the change. After the commit, the writer upserts the vectors of labels that
became live (from the float16 copy in SQLite when the commit did not bring them), deletes the
others, and then removes those log rows. Both steps are idempotent, so a crash, or a Milvus that
cannot be reached, leaves log rows that the next writer applies when it opens. Until then,
search filters every hit through SQLite as always: a deleted segment never shows; a new one
shows once its vector is in Milvus. Labels are never reused (the highest ever given is kept in
``meta`` as ``max_label`` with each commit), and a lost commit never reached Milvus.

milvus-lite serves one process at a time (it locks its file): use a Milvus server when ``serve``
must read while ``index`` writes.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from vidsearch.store.errors import LibraryError

log = logging.getLogger(__name__)

LOG_SCHEMA = "CREATE TABLE IF NOT EXISTS vector_log(seq INTEGER PRIMARY KEY, label INTEGER NOT NULL, live INTEGER NOT NULL)"
#: Test hook: "milvus" makes a commit exit the process after SQLite committed, before Milvus is written.
CRASH_ENV = "VIDSEARCH_CRASH_AFTER"
_BATCH = 1000  # rows per Milvus request (a request of 1000 x 1712 floats is ~7 MB)
_lite_users: dict[str, int] = {}  # milvus-lite file -> open clients in this process
_lite_lock = threading.Lock()


@dataclass(frozen=True)
class MilvusTarget:
    """Where a library's vectors are: a Milvus ``uri`` (``http://HOST:PORT`` or a milvus-lite
    file) and the ``collection``; ``text`` is how the library records it."""

    uri: str
    collection: str
    text: str

    @classmethod
    def parse(cls, text: str, db_dir: Path) -> "MilvusTarget":
        """``milvus://HOST[:PORT]/COLLECTION`` or ``milvus-lite:PATH.db/COLLECTION``; ValueError
        saying what is wrong otherwise."""
        if text.startswith("milvus://"):
            host, _, name = text[len("milvus://"):].partition("/")
            if not host or not name:
                raise ValueError(f"--vectors {text}: expected milvus://HOST:PORT/COLLECTION")
            if ":" not in host:
                host += ":19530"
            return cls(f"http://{host}", _check_name(name, text), text)
        if text.startswith("milvus-lite:"):
            path, _, name = text[len("milvus-lite:"):].rpartition("/")
            if not path.endswith(".db") or not name:
                raise ValueError(f"--vectors {text}: expected milvus-lite:PATH.db/COLLECTION")
            file = Path(path) if Path(path).is_absolute() else Path(db_dir) / path
            return cls(os.fsdecode(file), _check_name(name, text), text)
        raise ValueError(f"--vectors {text}: expected milvus://HOST:PORT/COLLECTION or "
                         "milvus-lite:PATH.db/COLLECTION (leave it out for the library's own index files)")


def _check_name(name: str, text: str) -> str:
    if not (name[0].isalpha() or name[0] == "_") or not all(c.isalnum() or c == "_" for c in name):
        raise ValueError(f"--vectors {text}: a collection name is letters, digits and _ (not starting with a digit)")
    return name


def _client(target: MilvusTarget) -> Any:
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise LibraryError(f"the library's vectors are in Milvus ({target.text}), and pymilvus is not "
                           "installed: pip install 'vidsearch[milvus]'") from None
    # pymilvus prints every failed call and some warnings to stderr itself; vidsearch says
    # what went wrong in one line of its own.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    lite = not target.uri.startswith("http")
    if lite:
        Path(target.uri).parent.mkdir(parents=True, exist_ok=True)
    try:
        client = MilvusClient(target.uri)
    except Exception as e:  # pymilvus raises its own MilvusException, or grpc's errors
        why = _one_line(e)
        if lite and "Open local milvus failed" in why:
            why = "its file is open in another process: milvus-lite serves one process at a time"
        raise LibraryError(f"cannot reach Milvus at {target.text} ({why})") from None
    if lite:
        with _lite_lock:
            _lite_users[target.uri] = _lite_users.get(target.uri, 0) + 1
    return client


def _release(target: MilvusTarget) -> None:
    """One client of a milvus-lite file closed: stop its in-process server (which locks the
    file) once no client of this process uses it."""
    with _lite_lock:
        left = _lite_users.get(target.uri, 0) - 1
        if left > 0:
            _lite_users[target.uri] = left
            return
        _lite_users.pop(target.uri, None)
    with contextlib.suppress(Exception):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(target.uri)


def _one_line(e: BaseException) -> str:
    text = str(getattr(e, "message", None) or e).strip()  # MilvusException: its message alone
    return text.splitlines()[0][:200] if text else type(e).__name__


class MilvusIndex:
    """:class:`~vidsearch.store.hnsw.VectorIndex` on one Milvus collection (int64 primary key
    ``id`` = label, ``vector`` FLOAT_VECTOR, inner product, HNSW M 32 / ef_construction 200 as
    the library's own index, searched with ef 256). A deleted label is deleted from Milvus; one
    shown again is inserted again (its vector comes from SQLite)."""

    def __init__(self, client: Any, target: MilvusTarget, dim: int, ef: int = 256) -> None:
        self._client, self.target, self._dim, self.ef = client, target, int(dim), int(ef)

    @classmethod
    def create(cls, target: MilvusTarget, dim: int) -> "MilvusIndex":
        """A new, empty collection; LibraryError when one of that name already holds vectors."""
        from pymilvus import DataType, MilvusClient

        client = _client(target)
        if client.has_collection(target.collection):
            index = cls(client, target, dim)
            if index.count:
                raise LibraryError(f"Milvus collection {target.collection} at {target.text} already holds "
                                   f"{index.count} vectors: choose another name, or drop it first")
            client.drop_collection(target.collection)
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dim))
        params = client.prepare_index_params()
        params.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                         params={"M": 32, "efConstruction": 200})
        client.create_collection(target.collection, schema=schema, index_params=params)
        return cls(client, target, dim)

    @classmethod
    def connect(cls, target: MilvusTarget, dim: int) -> "MilvusIndex":
        """The library's collection; LibraryError when it is missing or of another width."""
        client = _client(target)
        if not client.has_collection(target.collection):
            raise LibraryError(f"Milvus collection {target.collection} at {target.text} is missing: "
                               "run `vidsearch repair` to fill a new one from the library")
        fields = client.describe_collection(target.collection).get("fields", [])
        width = next((int(f.get("params", {}).get("dim", -1)) for f in fields if f.get("name") == "vector"), -1)
        if width != int(dim):
            raise LibraryError(f"Milvus collection {target.collection} at {target.text} holds {width}-d "
                               f"vectors, the library {dim}-d")
        client.load_collection(target.collection)  # a restarted Milvus holds it released
        return cls(client, target, dim)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def count(self) -> int:
        rows = self._client.query(self.target.collection, output_fields=["count(*)"], consistency_level="Strong")
        return int(rows[0]["count(*)"]) if rows else 0

    @property
    def n_elements(self) -> int:
        return self.count

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(labels), self._dim)
        for i in range(0, len(labels), _BATCH):
            self._client.upsert(self.target.collection, [
                {"id": int(x), "vector": v.tolist()} for x, v in zip(labels[i:i + _BATCH], vectors[i:i + _BATCH])])

    def mark_deleted(self, labels: Iterable[int]) -> int:
        ids = [int(x) for x in labels]
        for i in range(0, len(ids), _BATCH):
            self._client.delete(self.target.collection, ids=ids[i:i + _BATCH])
        return len(ids)

    def flush(self) -> None:
        """Seal what was written so that Milvus indexes it: until then it searches new rows
        without the index (on milvus-lite, 240 ms a query at 3000 vectors, 4 ms after)."""
        self._client.flush(self.target.collection)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k labels (int64) and inner products (float32), best first."""
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        q = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        hits = self._client.search(self.target.collection, [q], limit=int(min(k, 16384)), output_fields=["id"],
                                   search_params={"metric_type": "IP", "params": {"ef": max(self.ef, int(k))}})[0]
        return (np.asarray([h["id"] for h in hits], np.int64),
                np.asarray([h["distance"] for h in hits], np.float32))

    def get(self, labels: Sequence[int]) -> np.ndarray:
        """Stored vectors, float32 (n, dim). Raises KeyError naming labels it does not hold."""
        ids = [int(x) for x in labels]
        found: dict[int, np.ndarray] = {}
        for i in range(0, len(ids), _BATCH):
            for row in self._client.get(self.target.collection, ids=ids[i:i + _BATCH], output_fields=["vector"]):
                found[int(row["id"])] = np.asarray(row["vector"], np.float32)
        missing = [x for x in ids if x not in found]
        if missing:
            raise KeyError(f"no live vector for labels {missing[:10]}")
        return np.stack([found[x] for x in ids]) if ids else np.empty((0, self._dim), np.float32)

    def labels(self) -> np.ndarray:
        """Every label the collection holds."""
        it = self._client.query_iterator(self.target.collection, batch_size=_BATCH * 10, output_fields=["id"])
        out: list[int] = []
        try:
            while True:
                batch = it.next()
                if not batch:
                    break
                out.extend(int(r["id"]) for r in batch)
        finally:
            it.close()
        return np.asarray(out, np.int64)

    def close(self) -> None:
        """Close the connection (and a milvus-lite file's server, once nothing here uses it)."""
        if self._client is None:
            return
        with contextlib.suppress(Exception):
            self._client.close()
        self._client = None
        if not self.target.uri.startswith("http"):
            _release(self.target)


class MilvusJournal:
    """The commit protocol above, with the interface of :class:`~vidsearch.store.journal.IndexJournal`
    that the library uses. ``db()`` is the library's SQLite connection (inside its transaction
    while a change is made)."""

    def __init__(self, index: MilvusIndex, db: Callable[[], sqlite3.Connection],
                 vectors: Callable[[list[int]], dict[int, np.ndarray]], *, sqlite_gen: int, next_label: int) -> None:
        self._index = index
        self._db = db
        self._vectors = vectors  # labels -> their float16 copies in SQLite (as float32)
        self.sqlite_gen = sqlite_gen
        self.next_label = next_label
        self.dirty = False
        self.header: dict = {"generation": sqlite_gen, "vectors": index.target.text}
        self._pending: dict[int, np.ndarray] = {}  # vectors added by the open commit

    @classmethod
    def create(cls, target: MilvusTarget, dim: int, db: Callable[[], sqlite3.Connection],
               vectors: Callable[[list[int]], dict[int, np.ndarray]]) -> "MilvusJournal":
        """A new library's empty collection (one of that name holding vectors is refused)."""
        journal = cls(MilvusIndex.create(target, dim), db, vectors, sqlite_gen=0, next_label=0)
        journal.dirty = True
        return journal

    @classmethod
    def open(cls, target: MilvusTarget, dim: int, db: Callable[[], sqlite3.Connection],
             vectors: Callable[[list[int]], dict[int, np.ndarray]], *, writer: bool,
             committed: Callable[[], tuple[int, int]]) -> "MilvusJournal":
        """Connect to the library's collection (``committed()``: SQLite's generation and highest
        segment id); a writer first applies what a commit logged and never wrote."""
        sqlite_gen, max_id = committed()
        row = db().execute("SELECT value FROM meta WHERE key = 'max_label'").fetchone()
        top = max(max_id, int(row[0]) if row else -1)  # labels of deleted segments are never reused
        journal = cls(MilvusIndex.connect(target, dim), db, vectors, sqlite_gen=sqlite_gen, next_label=top + 1)
        if writer:
            journal.apply_log()
        return journal

    @property
    def index(self) -> MilvusIndex:
        return self._index

    @property
    def generation(self) -> int:
        return int(self.header["generation"])

    def stale(self, sqlite_generation: Callable[[], int]) -> bool:
        """Never: readers ask Milvus itself, which a writer updates after each commit."""
        return False

    def _log(self, labels: Sequence[int], live: bool) -> None:
        self._db().executemany("INSERT INTO vector_log(label, live) VALUES (?, ?)", [(int(x), int(live)) for x in labels])
        if len(labels):
            self.dirty = True

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if not len(labels):
            return
        self.next_label = max(self.next_label, int(labels.max()) + 1)
        self._log(labels.tolist(), True)
        self._pending.update(zip(labels.tolist(), np.asarray(vectors, np.float32)))

    def mark_deleted(self, labels: Iterable[int]) -> None:
        self._log([int(x) for x in labels], False)

    def unmark_deleted(self, labels: Iterable[int]) -> None:
        self._log([int(x) for x in labels], True)

    def reconcile(self, live: set[int]) -> None:
        """Make the collection hold exactly the ``live`` labels (a repair): upsert every one of
        them from SQLite's copies, delete every other label it holds."""
        held = set(self._index.labels().tolist())
        self._index.mark_deleted(sorted(held - live))
        todo = sorted(live)
        for i in range(0, len(todo), _BATCH):
            got = self._vectors(todo[i:i + _BATCH])
            if got:
                self._index.add(np.asarray(list(got), np.int64), np.stack(list(got.values())))

    def save(self) -> None:
        """Commit step (1), inside the commit's SQLite transaction: nothing to write to Milvus
        yet; the generation moves on and the highest label ever used is kept (never reused)."""
        self.header = {**self.header, "generation": self.sqlite_gen + 1}
        self._db().execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('max_label', ?)",
                           (str(self.next_label - 1),))

    def committed(self) -> None:
        """SQLite has committed: write the logged changes to Milvus (see :meth:`apply_log`)."""
        if self.dirty:
            self.sqlite_gen = self.generation
        self.dirty = False
        if os.environ.get(CRASH_ENV) == "milvus":
            os._exit(86)
        pending, self._pending = self._pending, {}
        self.apply_log(pending)

    def rolled_back(self) -> None:
        """The open commit was dropped: forget its vectors."""
        self._pending.clear()
        self.dirty = False

    def apply_log(self, pending: dict[int, np.ndarray] | None = None) -> None:
        """Apply ``vector_log`` to Milvus in order (the last state of each label wins), then
        remove the rows applied. A Milvus error is logged and leaves the rows for the next try."""
        db = self._db()
        rows = db.execute("SELECT seq, label, live FROM vector_log ORDER BY seq").fetchall()
        if not rows:
            return
        state = {int(label): bool(live) for _, label, live in rows}
        up = [x for x, v in state.items() if v]
        down = [x for x, v in state.items() if not v]
        try:
            self._index.mark_deleted(down)
            for i in range(0, len(up), _BATCH):
                chunk = up[i:i + _BATCH]
                have = {x: pending[x] for x in chunk if pending and x in pending}
                rest = [x for x in chunk if x not in have]
                if rest:
                    have.update(self._vectors(rest))
                if have:
                    self._index.add(np.asarray(list(have), np.int64), np.stack(list(have.values())))
            self._index.flush()  # once per commit
        except Exception as e:  # a Milvus that cannot be reached: try again at the next commit or open
            log.warning("Milvus at %s not updated (%s): %d logged changes kept for the next writer",
                        self._index.target.text, _one_line(e), len(state))
            return
        last = rows[-1][0]
        own = not db.in_transaction
        try:
            if own:
                db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM vector_log WHERE seq <= ?", (last,))
            if own:
                db.execute("COMMIT")
        except sqlite3.Error as e:  # the rows stay and are applied again (idempotent) by the next writer
            if own and db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            log.warning("library log of Milvus changes not cleared (%s): applied again next time", e)
