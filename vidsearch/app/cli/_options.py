"""Options several command groups share, declared once so their flags and help read the same everywhere."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from vidsearch.app.cli._console import json_mode

DbOption = Annotated[Path, typer.Option("--db", help="Library directory (created by `index`).")]
PresetOption = Annotated[Optional[str], typer.Option(help="Channel weights preset: short-video, e-commerce, lecture.")]


def json_option(what: str = "Print exactly one JSON object on stdout") -> Any:
    """A command's ``--json`` flag, saying what it prints; errors then come as ``{"error": ...}`` on stdout too."""
    return typer.Option("--json", callback=json_mode, help=f"{what} (errors too: {{\"error\": ...}}).")


JsonOption = Annotated[bool, json_option()]
