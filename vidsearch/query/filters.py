"""Which videos a search may answer from: by id, by folder, by duration, by spoken language.

A :class:`SearchFilter` is resolved once per query to the set of indexed videos it accepts; the
searcher then keeps only candidates of those videos (and, for a narrow filter, looks at every
segment of them, so a filter never empties the answer because the vector index's first
candidates all lay elsewhere).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vidsearch.store.library import Library, VideoRow

__all__ = ["FilterError", "SearchFilter"]


class FilterError(ValueError):
    """A filter that can match nothing by construction (a negative duration, min above max)."""


def _parts(path: str) -> list[str]:
    """A path's folder names, either slash, without empty and ``.`` parts."""
    return [p for p in re.split(r"[/\\]", path) if p not in ("", ".")]


@dataclass(frozen=True)
class SearchFilter:
    """Conditions a video must meet to be searched; a field left at None is no condition.

    ``folder``: an absolute folder takes the videos under it; a relative one (``cats`` or
    ``2024/cats``) the videos in a folder of that name anywhere in the library, so a client
    need not know where the library lies on the server's disk. ``language``: the video's main
    spoken language as transcribed (``zh``, ``en``); a silent video has none and is left out.
    """

    video_ids: frozenset[int] | None = None
    folder: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        for name in ("min_duration", "max_duration"):
            value = getattr(self, name)
            if value is not None and not value >= 0:  # NaN fails too
                raise FilterError(f"{name.replace('_', ' ')} must be 0 or more seconds, not {value}")
        if self.min_duration is not None and self.max_duration is not None and self.min_duration > self.max_duration:
            raise FilterError(f"min duration {self.min_duration:g} s is above max duration {self.max_duration:g} s")
        if self.folder is not None and not _parts(self.folder):
            object.__setattr__(self, "folder", None)  # "/" or "." names every folder
        if self.language is not None:
            object.__setattr__(self, "language", self.language.strip().lower() or None)

    @classmethod
    def of(cls, *, video_ids: list[int] | tuple[int, ...] | None = None, folder: str | None = None,
           min_duration: float | None = None, max_duration: float | None = None,
           language: str | None = None) -> SearchFilter | None:
        """A filter of the given conditions, or None when none is given (search everything)."""
        where = cls(frozenset(int(i) for i in video_ids) if video_ids else None, folder or None,
                    min_duration, max_duration, language or None)
        return where if where.active else None

    @property
    def active(self) -> bool:
        """Whether any condition is set."""
        return any(v is not None for v in (self.video_ids, self.folder, self.min_duration, self.max_duration,
                                           self.language))

    def accepts(self, video: VideoRow) -> bool:
        """Whether ``video`` (an indexed one) meets every condition."""
        if self.video_ids is not None and video.id not in self.video_ids:
            return False
        if self.min_duration is not None and (video.duration is None or video.duration < self.min_duration):
            return False
        if self.max_duration is not None and (video.duration is None or video.duration > self.max_duration):
            return False
        if self.language is not None and (video.language or "").lower() != self.language:
            return False
        return self.folder is None or self._in_folder(os.fsdecode(video.path))

    def _in_folder(self, path: str) -> bool:
        assert self.folder is not None
        want = _parts(self.folder)
        folders = _parts(path)[:-1]
        if self.folder.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[/\\]", self.folder):
            return folders[:len(want)] == want
        return any(folders[i:i + len(want)] == want for i in range(len(folders) - len(want) + 1))

    def video_ids_in(self, library: Library) -> set[int]:
        """Ids of the library's indexed videos this filter accepts."""
        return {v.id for v in library.videos() if v.status == "indexed" and self.accepts(v)}
