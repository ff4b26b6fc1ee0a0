"""The public API: what the command line and the server do, callable from Python with the same
guards (a library's profile is checked and recorded, an emptied folder never empties the library,
bad files are reported one line each and never stop the rest).

    import vidsearch

    report = vidsearch.index("my-library", ["videos/"])            # IndexReport
    moments = vidsearch.search("my-library", "猫咪玩毛线球", k=5)       # list[Moment]
    lines = vidsearch.transcript("my-library", moments[0].video_id, "毛线球")  # Transcript
    match = vidsearch.match_clip("my-library", "upload.mp4")        # ClipMatch
    report = vidsearch.reindex("my-library", "videos/", workers=2)  # ReindexReport

For many queries, open the library once and keep a :class:`~vidsearch.query.search.Searcher`
(or :class:`~vidsearch.query.matchclip.QueryVideoMatcher`): the models then load once.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from vidsearch.ingest.builder import BuildError, open_for_indexing
from vidsearch.ingest.indexer import IndexReport, collect_files, index_paths
from vidsearch.ingest.plan import EmptiedFolderError, ReindexPlan, plan_reindex
from vidsearch.ingest.profile import BuildRequest, LibraryProfile, ProfileConflict, library_profile
from vidsearch.ingest.reindex import ReindexReport
from vidsearch.ingest.reindex import reindex as _apply_plan
from vidsearch.ingest.runners import make_runner
from vidsearch.query.filters import SearchFilter
from vidsearch.query.matchclip import ClipMatch, QueryVideoMatcher
from vidsearch.query.search import Searcher
from vidsearch.query.transcript import Transcript, video_transcript
from vidsearch.store.library import Library, LibraryError
from vidsearch.types import Moment

__all__ = ["BuildError", "ClipMatch", "EmptyLibraryDir", "IndexReport", "Library", "LibraryError", "LibraryProfile",
           "Moment", "ProfileConflict", "ReindexPlan", "ReindexReport", "SearchFilter", "Transcript", "index",
           "match_clip", "profile", "reindex", "search", "transcript"]


#: ``reindex`` of a folder that holds no videos while the library holds videos from it: most
#: likely an unmounted disk, so nothing is removed unless ``allow_empty=True``.
EmptyLibraryDir = EmptiedFolderError


def index(db: str | Path, paths: Iterable[str | Path], *, whisper_model: str | None = None,
          text_encoder: str | None = None, clip: str | None = None, clip_checkpoint: str | Path | None = None,
          ocr: bool | None = None, ocr_rules: str | Path | None = None, tags: bool | None = None,
          tag_vocabulary: str | Path | None = None, retry_failed: bool = False, keep_bumpers: bool | None = None,
          languages: str | None = None, progress: Callable[[str, Path | None], None] | None = None) -> IndexReport:
    """Index video files and folders (searched recursively) into the library at ``db``, creating it
    if needed. Settings left at None take the library's own (its profile), else the defaults; one
    that contradicts the library raises :class:`ProfileConflict`. Unchanged files are skipped; a bad
    file is in ``report.failed`` with its reason, and a path or folder that cannot be read too.
    ``languages``: the expected languages of the speech ("zh,en", "en", "auto"; see
    :attr:`~vidsearch.ingest.config.PipelineConfig.languages`)."""
    request = BuildRequest.of(whisper_model=whisper_model, text_encoder=text_encoder, clip=clip,
                              clip_checkpoint=clip_checkpoint, ocr=ocr, ocr_rules=ocr_rules, tags=tags,
                              tag_vocabulary=tag_vocabulary, languages=languages)
    session = open_for_indexing(db, request, keep_bumpers=keep_bumpers)
    files, missing = collect_files(Path(p) for p in paths)
    with session:
        return index_paths(session.library, [*files, *(p for p, _ in missing)], session.processor,
                           progress=progress, retry_failed=retry_failed)


def reindex(db: str | Path, library_dir: str | Path, *, engine: str = "local", workers: int = 1,
            ray_address: str | None = None, retry_failed: bool = False, commit_every: int = 8,
            allow_empty: bool = False, keep_bumpers: bool | None = None,
            progress: Callable[[int, int, Any], None] | None = None, **settings: Any) -> ReindexReport:
    """Bring the library at ``db`` in line with the folder ``library_dir``: index new files, redo
    changed ones, follow renames, remove deleted ones. ``settings`` are :func:`index`'s.

    Raises :class:`EmptyLibraryDir` (nothing removed) when the folder has no videos but the library
    holds some from it, unless ``allow_empty``; videos under a missing or unreadable sub-folder are
    kept (``report`` lists them) for the same reason. Work is committed in batches: an interrupted
    run keeps every committed video, and running it again goes on.
    """
    root = Path(library_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"{os.fsdecode(root)}: {'not a folder' if root.exists() else 'no such folder'}")
    session = open_for_indexing(db, BuildRequest.of(**settings), keep_bumpers=keep_bumpers)
    library = session.library
    with session:
        plan = plan_reindex(library, root, retry_failed=retry_failed, allow_missing=allow_empty)
        plan.refuse_emptied()
        with make_runner(engine, workers, config=session.processor.config, processor=session.processor,
                         layout=session.processor.layout, address=ray_address) as runner:
            return _apply_plan(library, plan, runner, progress=progress, commit_every=commit_every)


def search(db: str | Path | Library, query: str, k: int = 10, *, preset: str | None = None,
           weights: dict[str, float] | None = None, offset: int = 0, where: SearchFilter | None = None
           ) -> list[Moment]:
    """The best moments for a text query (Chinese or English), best first; ``offset`` skips
    that many of the ranking (a later page), ``where`` keeps only the videos it accepts, e.g.
    ``SearchFilter(folder="cats", max_duration=60)``."""
    with _reading(db) as library:
        return Searcher(library).search(query, k, preset=preset, weights=weights, offset=offset, where=where)


def transcript(db: str | Path | Library, video_id: int, query: str = "") -> Transcript | None:
    """A video's spoken and on-screen lines in time order, ``query``'s words marked; None when
    the library has no such indexed video."""
    with _reading(db) as library:
        return video_transcript(library, video_id, query)


def match_clip(db: str | Path | Library, path: str | Path, k: int = 10, *, preset: str | None = None,
               weights: dict[str, float] | None = None) -> ClipMatch:
    """Captions, the source video and moments for a query video (processed as the library's videos were)."""
    with _reading(db) as library, QueryVideoMatcher(library) as matcher:
        return matcher.match(path, k, preset=preset, weights=weights)


def profile(db: str | Path | Library) -> LibraryProfile:
    """What the library at ``db`` was built with."""
    with _reading(db) as library:
        return library_profile(library)


class _reading:
    """A library opened read-only for one call (closed after), or the caller's open one (left open)."""

    def __init__(self, db: str | Path | Library):
        self._given = db if isinstance(db, Library) else None
        self._db = None if isinstance(db, Library) else Path(db)
        self._opened: Library | None = None

    def __enter__(self) -> Library:
        if self._given is not None:
            return self._given
        assert self._db is not None
        self._opened = Library.open(self._db, readonly=True)
        return self._opened

    def __exit__(self, *exc: object) -> None:
        if self._opened is not None:
            self._opened.close()
