"""The command line's shared context: the Typer app every command module registers on, the two
consoles, and how every command ends and speaks (one-line errors with their exit codes, JSON on
stdout, notes on stderr, a library opened for one command).

Errors are one line on stderr and an exit code: 2 when the command was pointed at the wrong thing
(bad options, no library where one was named), 1 when the library or a file let it down, 130 for
Ctrl-C. With ``--json`` the same error is one JSON object ``{"error": "..."}`` on stdout instead,
so a script reads every answer from one place. Keeping these in one place is what keeps the
commands' answers alike.

Output that is not a terminal (a pipe, a file, a log) is never wrapped: a line stays one line and
a table row one row, whatever ``COLUMNS`` says.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from vidsearch.store.library import Library


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="vidsearch: index a video library, then search it by text and land on the right second.",
)
#: Width given to a console that is not a terminal: wide enough that no table folds a cell.
UNWRAPPED_WIDTH = 100_000


def _console(stderr: bool) -> Console:
    """A console for stdout or stderr. File names and user text reach it everywhere, so markup
    and emoji codes are off unless a call asks for them (``[1080p] cat.mp4`` stays as named);
    off a terminal nothing is wrapped or folded, so piped output keeps one line per line."""
    console = Console(stderr=stderr, markup=False, emoji=False, highlight=False)
    if not console.is_terminal:
        console.soft_wrap = True
        console.width = UNWRAPPED_WIDTH
    return console


err = _console(stderr=True)
out = _console(stderr=False)

#: Set by every command's ``--json`` option (see :data:`JsonOption`): errors are then JSON on stdout.
_json_errors = False
#: Whether the command already said how Ctrl-C left it (a write command names its last commit).
interrupt_said = False


def json_mode(value: bool) -> bool:
    """``--json``'s callback: remember whether this command answers in JSON (its errors too)."""
    global _json_errors
    _json_errors = bool(value)
    return value


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """``text`` with its control characters written as escapes (a newline as ``\\n``): a file name
    may hold a newline, and an error or a note naming it must stay one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def say_error(message: str) -> None:
    """Print an error: ``{"error": MESSAGE}`` on stdout in ``--json`` mode, else ``error: MESSAGE``
    on stderr, one line either way."""
    if _json_errors:
        print_json({"error": message})
    else:
        err.print(f"[red]error:[/red] {escape(one_line(message))}", markup=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command with its error (:func:`say_error`) and exit ``code``."""
    say_error(message)
    raise typer.Exit(code)


def print_notes(lines: Iterable[str], label: str = "note") -> None:
    """Each line on stderr as ``LABEL: line`` (just the line when ``label`` is empty), never wrapped,
    never read as markup: notes, failed and skipped files, damage found."""
    for line in lines:
        line = one_line(line)
        err.print(f"{label}: {line}" if label else line, highlight=False, markup=False, soft_wrap=True)


_SURROGATE = re.compile("[\ud800-\udfff]")


def print_json(obj: object) -> None:
    """One JSON document on stdout, always valid UTF-8, other scripts as themselves (中文, not \\u escapes).

    File names that are not UTF-8 come back from the OS as lone surrogates; only those are written
    as \\udcXX escapes, so `os.fsencode(json.loads(...)["video"])` gives the exact bytes back.
    """
    text = json.dumps(obj, ensure_ascii=False, default=str)
    # A surrogate can only stand inside a JSON string, where its escape means the same character.
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.buffer.write(text.encode("utf-8") + b"\n")
    sys.stdout.flush()


def quiet_third_party() -> None:
    """Keep the output readable: model libraries log to stderr at import and load time."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    logging.getLogger("faster_whisper").setLevel(logging.WARNING)


@contextlib.contextmanager
def open_library(db: Path, mode: Literal["read", "write", "repair"] = "read", *,
                 existing: bool = False) -> Iterator[Library]:
    """The library at ``db`` for one command, closed when the block ends.

    ``read`` opens it read-only; one that cannot be opened exits 2 (the command was pointed at no
    library), and damage met while reading exits 1 with the line that says which file is damaged.
    ``write`` opens it as the writer and exits 1 when it cannot; with ``existing``, where there is
    no library at all it exits 2 rather than starting one. ``repair`` opens it through
    ``Library.repair`` (its ``repair_report`` says what was found), exiting 2 when there is none.
    """
    from vidsearch.store.library import Library, LibraryError, damage_message

    if existing and Library.peek(db) is None:
        refuse_unusable(db)
        fail(f"no library at {db}: run `vidsearch index --db {db} VIDEOS...` first", 2)
    try:
        if mode == "repair":
            library = Library.repair(db)
        else:
            library = Library.open(db, readonly=mode == "read")
    except LibraryError as exc:
        fail(str(exc), 1 if mode == "write" or Library.damage(db) is not None else 2)
    with library:
        if mode != "read":
            yield library
            return
        try:
            yield library
        except sqlite3.DatabaseError as exc:  # a damaged page met on the way
            fail(damage_message(db, exc) or str(exc))


def refuse_unusable(db: Path) -> None:
    """Exit with one line where ``db`` cannot hold a library a command could use: a file (exit 2),
    or a library whose metadata file is damaged (exit 1, the line naming the file and saying to run
    ``vidsearch repair``). A damaged library is not "no library": indexing into it would fail too."""
    from vidsearch.store.library import Library

    if db.exists() and not db.is_dir():
        fail(f"{db} is a file, not a library folder", 2)
    if (damage := Library.damage(db)) is not None:
        fail(damage, 1)


def at_last_commit(db: Path) -> str:
    """"the library is at its last commit (N videos)", read from what is committed."""
    from vidsearch.store.library import Library

    n = Library.held(db)
    if n is None:
        return f"nothing was committed to {db}"
    return f"the library is at its last commit ({n} video{'' if n == 1 else 's'})"


def disk_full(exc: BaseException | None) -> BaseException | None:
    """The error in ``exc``'s chain that says the disk (or quota) is full, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc
        if isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF == 13  # SQLITE_FULL
                                               or "disk is full" in str(exc)):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def writes(command):
    """Run a write command (one with a ``db`` parameter) inside :func:`writing`."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        with writing(kwargs["db"]):
            return command(*args, **kwargs)

    return run


@contextlib.contextmanager
def writing(db: Path) -> Iterator[None]:
    """Whatever stops a write command half-way ends it with one line, the library at its last
    commit: Ctrl-C (exit 130), a full disk or a damaged library (exit 1)."""
    from vidsearch.store.library import LibraryError, damage_message

    global interrupt_said
    try:
        yield
    except KeyboardInterrupt:
        interrupt_said = True
        if _json_errors:
            say_error(f"interrupted: {at_last_commit(db)}; run the same command again to go on")
        else:
            err.print(f"interrupted: {at_last_commit(db)}; run the same command again to go on", soft_wrap=True)
        raise typer.Exit(130) from None
    except (OSError, sqlite3.Error) as exc:
        full = disk_full(exc)
        if full is not None:
            detail = full.strerror if isinstance(full, OSError) and full.strerror else str(full)
            fail(f"disk full while writing {db}: {detail}; {at_last_commit(db)}: free some space "
                 "and run the same command again")
        damage = damage_message(db, exc)
        if damage is not None:
            fail(damage)
        if isinstance(exc, OSError):  # a read-only disk, a lost network mount, an I/O error
            where = f" ({os.fsdecode(exc.filename)})" if exc.filename else ""
            fail(f"cannot write {db}{where}: {exc.strerror or exc}; {at_last_commit(db)}")
        fail(f"cannot write {db}: {exc}; {at_last_commit(db)}")
    except LibraryError as exc:
        fail(str(exc))
