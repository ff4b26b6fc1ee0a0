"""`vidsearch` command line: a thin layer over the library (index, reindex, search, captions, match-clip, serve, delete, repair, doctor).

The commands live in one module per group (:mod:`.indexing`, :mod:`.querying`, :mod:`.captions`,
:mod:`.admin`) and register themselves on the one Typer app of :mod:`._console`, which also holds
how they all print and fail; :mod:`.config` holds their defaults.
"""
from __future__ import annotations

import sys

import typer

from vidsearch.app.cli import _console, admin, captions, indexing, querying  # noqa: F401 (importing registers their commands)
from vidsearch.app.cli._console import app, err, print_json

#: What Ctrl-C prints where the command did not say more itself.
INTERRUPTED = "interrupted: the library keeps its last committed state"


def _say_interrupted(as_json: bool) -> None:
    if _console.interrupt_said:
        return
    if as_json:
        print_json({"error": INTERRUPTED})
    else:
        err.print(INTERRUPTED, soft_wrap=True)

__all__ = ["app", "main"]

#: Help lists the commands in the order a user meets them (index before search), not by module.
_ORDER = ("index", "reindex", "add-channel", "search", "match-clip", "eval", "delete", "info", "repair", "serve", "doctor",
          "prepare-models")
app.registered_commands.sort(
    key=lambda c: _ORDER.index(c.name or getattr(c.callback, "__name__", "").replace("_", "-")))


def asks_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON (``--json`` before any ``--`` that ends the options)."""
    options = args[:args.index("--")] if "--" in args else args
    return "--json" in options


def main() -> None:
    """The console-script entry point: run the app; Ctrl-C outside a write command exits 130 with one line.

    With ``--json``, a usage error (a bad option value, a missing argument) is one
    ``{"error": ...}`` object on stdout with click's exit code (2), like every other error.
    """
    as_json = asks_json(sys.argv[1:])
    try:
        if not as_json:
            try:
                app()
            except SystemExit as exc:  # Typer turns Ctrl-C into a silent exit 130
                if exc.code == 130:
                    _say_interrupted(False)
                raise
            return
        try:  # not standalone: click's usage errors come here instead of being printed as text
            code = app(standalone_mode=False)
        except typer.TyperException as exc:  # click's usage errors derive from it
            print_json({"error": exc.format_message()})
            sys.exit(exc.exit_code)
        except typer.Abort:
            code = 130
        if code == 130:
            _say_interrupted(True)
        sys.exit(code if isinstance(code, int) else 0)
    except KeyboardInterrupt:  # before or after the command itself ran
        _say_interrupted(as_json)
        sys.exit(130)


if __name__ == "__main__":
    main()
