"""What a library holds, in the few numbers a front page shows: videos, hours, languages, when
it was last indexed; and the indexed videos themselves, for a picker."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from vidsearch.store.library import Library, VideoRow

__all__ = ["LibraryOverview", "indexed_videos", "library_overview"]


@dataclass(frozen=True)
class LibraryOverview:
    """The indexed videos' total length in seconds, when the last one was indexed (Unix time;
    None for an empty library) and how many videos speak each language (silent ones under "").
    (How many videos there are comes with the library's other counts, ``Library.stats``.)"""

    duration_s: float
    last_indexed: float | None
    languages: dict[str, int]


def indexed_videos(library: Library) -> list[VideoRow]:
    """The library's indexed videos (failed files left out), by id."""
    return [v for v in library.videos() if v.status == "indexed"]


def library_overview(library: Library) -> LibraryOverview:
    """The library's :class:`LibraryOverview` (one pass over its video rows)."""
    videos = indexed_videos(library)
    languages = Counter(v.language or "" for v in videos)
    return LibraryOverview(
        duration_s=float(sum(v.duration or 0.0 for v in videos)),
        last_indexed=max((v.indexed_at for v in videos), default=None),
        languages=dict(languages.most_common()),
    )
