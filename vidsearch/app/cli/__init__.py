"""`vidsearch` command line: a thin layer over the library (index, reindex, search, captions, match-clip, serve, delete, repair, doctor).

The commands live in one module per group (:mod:`.indexing`, :mod:`.querying`, :mod:`.captions`,
:mod:`.admin`) and register themselves on the one Typer app of :mod:`._console`, which also holds
how they all print and fail; :mod:`.config` holds their defaults.
"""
from __future__ import annotations

import sys

from vidsearch.app.cli import admin, captions, indexing, querying  # noqa: F401 (importing registers their commands)
from vidsearch.app.cli._console import app, err

__all__ = ["app", "main"]

#: Help lists the commands in the order a user meets them (index before search), not by module.
_ORDER = ("index", "reindex", "add-channel", "search", "match-clip", "eval", "delete", "info", "repair", "serve", "doctor",
          "prepare-models")
app.registered_commands.sort(
    key=lambda c: _ORDER.index(c.name or getattr(c.callback, "__name__", "").replace("_", "-")))


def main() -> None:
    """The console-script entry point: run the app; Ctrl-C outside a write command exits 130 with one line."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted: the library keeps its last committed state")
        sys.exit(130)


if __name__ == "__main__":
    main()
