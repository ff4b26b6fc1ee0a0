"""Durable writes: what "write beside, fsync, rename" needs, in one place."""
from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path | str) -> None:
    """Flush a file's or a directory's contents (a directory: its entries, after a rename)."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
