"""Getting the rows back out of a damaged SQLite file (used by ``vidsearch repair``).

The damaged file is never written: it is copied (with its write-ahead log) into a work folder,
the copy's 100-byte header is rebuilt when it no longer says "SQLite format 3", and the rows
are recovered into a fresh file: by the ``sqlite3`` command line's ``.recover`` when it is
installed and works, otherwise by reading every row that can still be reached, table by
table, in rowid ranges that are halved around the damaged pages.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import struct
import subprocess
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"SQLite format 3\x00"
_PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)
#: Row-copy probes that may fail per table before the rest of it is given up.
MAX_FAILED_PROBES = 100_000


@dataclass
class Salvage:
    """A recovered copy of a damaged SQLite file: ``path`` (in the work folder), how it was
    made, and notes on what could not be read (one line each)."""

    path: Path
    method: str
    notes: list[str] = field(default_factory=list)


def is_corrupt(e: sqlite3.Error) -> bool:
    """Whether an SQLite error means a damaged file (rather than, say, a locked or full disk)."""
    code = getattr(e, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
    return "malformed" in str(e) or "not a database" in str(e)


def quick_check(db_file: Path) -> str | None:
    """One line saying how the SQLite file is damaged (``PRAGMA quick_check``), or None when it
    is sound. Other errors (a full disk, a lock) are raised: they say nothing about the file."""
    uri = "file:" + urllib.parse.quote(os.fsencode(Path(db_file).absolute())) + "?mode=ro"
    con = sqlite3.connect(uri, uri=True)
    try:
        rows = [r[0] for r in con.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as e:
        if is_corrupt(e):
            return str(e)
        raise
    finally:
        con.close()
    return describe_check(rows)


def describe_check(rows: list[str]) -> str | None:
    """``PRAGMA quick_check`` rows as one line (None when they say "ok")."""
    if not rows or rows == ["ok"]:
        return None
    text = " ".join(str(rows[0]).split())
    return text if len(rows) == 1 else f"{text}, and {len(rows) - 1} more problems"


def recover(db_file: Path, schema: str, work: Path) -> Salvage:
    """Recover the rows of ``db_file`` into a new file in the folder ``work``; ``schema`` (SQL
    statements) is created there first, so tables lost whole still exist, empty."""
    copy = work / "damaged.sqlite"
    shutil.copyfile(db_file, copy)
    wal = Path(os.fsdecode(db_file) + "-wal")
    if wal.is_file():  # committed transactions not yet checkpointed live here
        shutil.copyfile(wal, Path(os.fsdecode(copy) + "-wal"))
    notes = ["rebuilt its file header"] if mend_header(copy) else []
    out = work / "recovered.sqlite"
    if _recover_with_cli(copy, out, schema):
        method = "sqlite3 .recover"
        notes += _drop_lost_and_found(out)
    else:
        with contextlib.suppress(FileNotFoundError):
            out.unlink()
        method = "copying every readable row"
        notes += copy_readable_rows(copy, out, schema)
    return Salvage(out, method, notes)


def mend_header(path: Path) -> bool:
    """Rewrite the 100-byte header of the SQLite file at ``path`` when its magic string or page
    size is damaged (the pages after it are left alone); returns whether it did."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        head = f.read(100)
        if len(head) < 100:
            return False
        page = _page_size(head, size)
        if head[:16] == MAGIC and page == _stored_page_size(head):
            return False
        wal = head[18] if head[18] in (1, 2) else (2 if Path(os.fsdecode(path) + "-wal").is_file() else 1)
        new = bytearray(100)
        new[:16] = MAGIC
        struct.pack_into(">H", new, 16, 1 if page == 65536 else page)
        new[18] = new[19] = wal
        new[21:24] = bytes([64, 32, 32])  # payload fractions: fixed by the file format
        struct.pack_into(">IIIIII", new, 24, 1, size // page, 0, 0, 1, 4)  # counter, pages, no freelist, cookie, format 4
        struct.pack_into(">I", new, 56, 1)  # UTF-8
        struct.pack_into(">II", new, 92, 1, 3_040_000)  # valid for counter 1; written by 3.40
        f.seek(0)
        f.write(new)
    return True


def _stored_page_size(head: bytes) -> int:
    value = struct.unpack_from(">H", head, 16)[0]
    return 65536 if value == 1 else value


def _page_size(head: bytes, size: int) -> int:
    stored = _stored_page_size(head)
    if stored in _PAGE_SIZES and size % stored == 0:
        return stored
    return next((p for p in _PAGE_SIZES if size % p == 0), 4096)


def _recover_with_cli(src: Path, out: Path, schema: str) -> bool:
    """``sqlite3 SRC .recover | sqlite3 OUT``; False when the tool is missing or fails."""
    exe = shutil.which("sqlite3")
    if exe is None:
        return False
    try:
        with sqlite3.connect(os.fsdecode(out)) as con:
            con.executescript(schema)
        con.close()
        dump = subprocess.Popen([exe, os.fsdecode(src), ".recover --ignore-freelist"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        load = subprocess.run([exe, "-bail", os.fsdecode(out)], stdin=dump.stdout, capture_output=True, timeout=3600)
        if dump.stdout is not None:
            dump.stdout.close()
        dump.wait(timeout=60)
    except (OSError, subprocess.SubprocessError, sqlite3.Error):
        return False
    return dump.returncode == 0 and load.returncode == 0 and quick_check(out) is None


def _drop_lost_and_found(path: Path) -> list[str]:
    """Drop the table where ``.recover`` puts rows it could not place; a note on how many."""
    con = sqlite3.connect(os.fsdecode(path))
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'lost_and_found%'")]
        n = 0
        for name in names:
            n += con.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
            con.execute(f'DROP TABLE "{name}"')
        con.commit()
    finally:
        con.close()
    return [f"{n} row fragments could not be placed in a table"] if n else []


def copy_readable_rows(src: Path, out: Path, schema: str) -> list[str]:
    """Copy every row of ``schema``'s tables that can still be read from ``src`` into ``out``
    (created with ``schema``); a note per table with rows that could not be read."""
    dst = sqlite3.connect(os.fsdecode(out))
    dst.executescript(schema)
    tables = [r[0] for r in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%'")]
    notes = []
    try:
        source = sqlite3.connect(os.fsdecode(src))
    except sqlite3.Error as e:
        dst.close()
        return [f"nothing could be read ({e})"]
    try:
        for table in tables:
            columns = [r[1] for r in dst.execute(f'PRAGMA table_info("{table}")')]
            try:  # an older library may lack newer columns, or a newer table
                have = {r[1] for r in source.execute(f'PRAGMA table_info("{table}")')}
                if not have:
                    continue
            except sqlite3.DatabaseError:
                have = set()
            columns = [c for c in columns if c in have] or columns
            failed = _copy_table(source, dst, table, columns)
            if failed:
                notes.append(f"{table}: rows in {failed} damaged places could not be read")
        dst.commit()
    finally:
        source.close()
        dst.close()
    return notes


def _copy_table(source: sqlite3.Connection, dst: sqlite3.Connection, table: str, columns: list[str]) -> int:
    """Copy ``table`` by rowid ranges, halving each range that cannot be read; returns how many
    runs of rowids could not be read."""
    cols = ", ".join(f'"{c}"' for c in columns)
    select = f'SELECT rowid, {cols} FROM "{table}" WHERE rowid BETWEEN ? AND ? ORDER BY rowid'
    insert = f'INSERT OR IGNORE INTO "{table}"(rowid, {cols}) VALUES ({", ".join("?" * (len(columns) + 1))})'
    try:
        lo, hi = source.execute(f'SELECT MIN(rowid), MAX(rowid) FROM "{table}"').fetchone()
    except sqlite3.DatabaseError:
        lo, hi = -(1 << 40), 1 << 40  # the ends of the table cannot be read: search it all
    if lo is None:
        return 0
    failed, probes, last, todo = 0, 0, None, [(int(lo), int(hi))]
    while todo:
        a, b = todo.pop()
        try:
            rows = source.execute(select, (a, b)).fetchall()
        except sqlite3.DatabaseError:
            probes += 1
            if a == b or probes > MAX_FAILED_PROBES:
                failed += last is None or a != last + 1  # count runs of unreadable rowids, not rowids
                last = b
                continue
            mid = (a + b) // 2
            todo += [(mid + 1, b), (a, mid)]  # the lower half first: rows go in in order
            continue
        dst.executemany(insert, rows)
    return failed
