"""The one error a library raises when it cannot be opened or written, and its damage message.

Every module of the store raises :class:`LibraryError` with a one-line message that names the
file and says what to do; it lives apart so the commit protocol and the library share it.
"""
from __future__ import annotations

from pathlib import Path


class LibraryError(Exception):
    """A library that cannot be opened or written; ``str()`` is one line saying what to do."""


def damaged(db_dir: Path, name: str, detail: object) -> LibraryError:
    """The error for the library file ``name`` under ``db_dir`` found damaged (``detail``: how)."""
    return LibraryError(f"{Path(db_dir) / name} is damaged ({detail}): run `vidsearch repair --db {db_dir}`")
