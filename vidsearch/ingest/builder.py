"""Open a library for writing, configured the way it was built: what ``index``, ``reindex``,
``repair`` and the Python API's ``index`` share before the first video is processed."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.ingest import processor as processor_module
from vidsearch.ingest.indexer import refresh_bumpers
from vidsearch.ingest.processor import VideoProcessor
from vidsearch.ingest.profile import (
    KEEP_BUMPERS_SETTING,
    PROFILE_SETTING,
    BuildRequest,
    LibraryProfile,
    check_config,
    keep_confidence,
    read_profile,
    settle_config,
)
from vidsearch.store.library import Library, LibraryError


class BuildError(ValueError):
    """An option's file is missing or unreadable (``str()``: one line naming it and why)."""


@dataclass
class IndexingSession:
    """A library opened as the writer, the per-video stage configured from its profile, and notes
    (one line each) on what the user asked for that does not apply."""

    library: Library
    processor: VideoProcessor
    profile: LibraryProfile
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        """End the processor's worker threads and close the library (uncommitted changes are dropped)."""
        try:
            self.processor.close()
        finally:
            self.library.close()

    def __enter__(self) -> IndexingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_request_files(request: BuildRequest) -> None:
    """A broken rules or vocabulary file is the caller's one mistake, not every video's: refuse it
    before any model is loaded."""
    from vidsearch.models.clip import load_vocabulary
    from vidsearch.text.clean import load_rules

    for option, given, load in (("--ocr-rules", request.ocr_rules, load_rules),
                                ("--tag-vocabulary", request.tag_vocabulary, load_vocabulary)):
        if given is None:
            continue
        if not Path(given).is_file():
            raise BuildError(f"{given}: no such file ({option})")
        try:
            load(given)
        except ValueError as exc:
            raise BuildError(str(exc).splitlines()[0]) from None
    if request.clip_checkpoint is not None and not Path(request.clip_checkpoint).is_file():
        raise BuildError(f"{request.clip_checkpoint}: no such file (--clip-checkpoint)")


def existing_profile(db: Path | str) -> LibraryProfile | None:
    """The profile of the library at ``db`` from SQLite alone (no vector index loaded), or None
    when there is none yet; a damaged one raises :class:`LibraryError` before any model loads."""
    peek = Library.peek(db)
    if peek is None:
        damage = Library.damage(db)
        if damage is not None:
            raise LibraryError(damage)
        return None
    layout, settings = peek
    return read_profile(settings, layout)


def open_for_indexing(db: Path | str, request: BuildRequest | None = None, *, keep_bumpers: bool | None = None,
                      threads: int = 0) -> IndexingSession:
    """The library at ``db`` (created if absent) opened as the writer, with a processor configured
    by its profile and ``request``; records the profile of a new library.

    Raises :class:`~vidsearch.ingest.profile.ProfileConflict` when ``request`` contradicts the
    library, :class:`BuildError` for a bad option file, :class:`LibraryError` for a damaged or
    locked library. ``keep_bumpers`` (when given) is remembered and applied at once.
    """
    request = request or BuildRequest()
    check_request_files(request)
    existing = existing_profile(db)
    notes: list[str] = []
    if existing is not None and "visual" not in existing.layout and (
            (request.clip and request.clip.lower() != "none") or request.clip_checkpoint):
        notes.append(f"{db} was created without the visual channel; --clip needs a new --db")
    config = settle_config(db, existing, request)
    config.threads = threads
    processor = processor_module.VideoProcessor(config)  # looked up now: tests may substitute it
    library = Library.open(db, processor.layout.as_dict(), vectors=request.vectors)
    try:
        recorded = bool(library.setting(PROFILE_SETTING))
        new_thresholds = keep_confidence(library)
        profile = check_config(library, config, processor.clip.name if processor.clip is not None else None)
        if not recorded or new_thresholds:
            library.commit()  # the profile and the thresholds are kept even if no video is indexed
        if keep_bumpers is not None and library.setting(KEEP_BUMPERS_SETTING) != ("1" if keep_bumpers else "0"):
            library.set_setting(KEEP_BUMPERS_SETTING, "1" if keep_bumpers else "0")
            refresh_bumpers(library)  # takes effect now, even when no video needs indexing
            library.commit()
    except BaseException:
        processor.close()
        library.close()
        raise
    notes.extend(processor.notes)  # e.g. CLIP weights not available offline: the other channels go on
    return IndexingSession(library, processor, profile, notes)
