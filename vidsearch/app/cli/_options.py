"""Options several command groups share, declared once so their flags and help read the same everywhere."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DbOption = Annotated[Path, typer.Option("--db", help="Library directory (created by `index`).")]
PresetOption = Annotated[Optional[str], typer.Option(help="Channel weights preset: short-video, e-commerce, lecture.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
