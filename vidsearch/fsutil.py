"""Durable writes: what "write beside, fsync, rename" needs, a file's content hash, and the path a
library keeps a file under, in one place."""
from __future__ import annotations

import hashlib
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


def file_blake2b(path: Path | str, digest_size: int = 20, chunk: int = 1 << 20) -> str:
    """BLAKE2b (hex) of a file's bytes, read in chunks."""
    h = hashlib.blake2b(digest_size=digest_size)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def indexed_path(path: Path | str) -> Path:
    """Where a library keeps the file ``path`` names: absolute, its folders resolved, its own name
    as given (a link stays the link, not its target elsewhere)."""
    absolute = Path(os.path.abspath(path))
    return Path(os.path.realpath(absolute.parent)) / absolute.name


def indexed_forms(path: Path | str) -> list[Path]:
    """The paths a library may hold the file ``path`` names under, likeliest first: as indexed now
    (:func:`indexed_path`), resolved (how links were kept before), and as given."""
    forms = [indexed_path(path)]
    try:
        forms.append(Path(path).resolve())
    except (OSError, RuntimeError):  # a link that loops names no indexed file
        pass
    return [*forms, Path(path)]
