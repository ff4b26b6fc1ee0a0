"""vidsearch: a short-video retrieval engine (index a library, search by text, land on the second).

The public API (:mod:`vidsearch.api`) is importable from here: ``vidsearch.index``,
``vidsearch.reindex``, ``vidsearch.search`` (with ``vidsearch.SearchFilter``),
``vidsearch.transcript``, ``vidsearch.match_clip``, ``vidsearch.profile`` and ``vidsearch.Library``. It is loaded on first use, so ``import vidsearch`` stays cheap (the models
and their libraries load only when a function needs them).
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:  # pyproject.toml holds the one version number; an installed package carries it
    __version__ = version("vidsearch")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

_API = ("BuildError", "ClipMatch", "EmptyLibraryDir", "IndexReport", "Library", "LibraryError", "LibraryProfile",
        "Moment", "ProfileConflict", "ReindexPlan", "ReindexReport", "SearchFilter", "Transcript", "index",
        "match_clip", "profile", "reindex", "search", "transcript")
__all__ = ["__version__", *_API]

if TYPE_CHECKING:
    from vidsearch.api import (  # noqa: F401
        BuildError,
        ClipMatch,
        EmptyLibraryDir,
        IndexReport,
        Library,
        LibraryError,
        LibraryProfile,
        Moment,
        ProfileConflict,
        ReindexPlan,
        ReindexReport,
        SearchFilter,
        Transcript,
        index,
        match_clip,
        profile,
        reindex,
        search,
        transcript,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        from vidsearch import api

        return getattr(api, name)
    raise AttributeError(f"module 'vidsearch' has no attribute {name!r}")
