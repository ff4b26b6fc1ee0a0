"""Add the CLIP visual channel to a library that was built without it, from the keyframes it
already stores (each segment's thumbnail), without decoding a video again.

Two steps, each safe to interrupt: (1) every segment's thumbnail is encoded and its block staged
in the library (:meth:`Library.stage_channel`), committed every ``commit_every`` segments, so a
run killed half-way goes on from what it committed; (2) once all are staged, the library switches
to the wider layout in one commit (:meth:`Library.add_channel`), recording the CLIP in its profile
so that later ``index``/``reindex`` runs and searches use the same one.

What differs from indexing with CLIP from the start: the visual block is the thumbnail's (the
segment's first keyframe) embedding, where indexing averages all of the segment's keyframes, and
the ``tags`` of these segments keep their ImageNet words (CLIP zero-shot labels are added to
videos indexed from now on).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from vidsearch.channels.fusion import ChannelLayout
from vidsearch.ingest.profile import PROFILE_SETTING
from vidsearch.media.frames import decode_jpeg
from vidsearch.models.clip import ClipEncoder
from vidsearch.store.library import Library, LibraryError

#: Segments encoded between commits (and at most a minute apart): a crash loses at most these.
COMMIT_EVERY = 256


@dataclass
class BackfillReport:
    """What :func:`add_visual_channel` did: segments encoded in this run, found staged by an
    earlier one, without a thumbnail (zero block), and the CLIP and width recorded."""

    encoded: int = 0
    resumed: int = 0
    no_picture: list[int] = field(default_factory=list)
    clip_model: str = ""
    width: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"encoded": self.encoded, "resumed": self.resumed, "no_picture": len(self.no_picture),
                "clip_model": self.clip_model, "width": self.width, "seconds": round(self.seconds, 1)}


def add_visual_channel(
    library: Library,
    clip: ClipEncoder,
    *,
    clip_spec: str | None,
    clip_checkpoint: str | None,
    progress: Callable[[int, int], None] | None = None,
    commit_every: int = COMMIT_EVERY,
) -> BackfillReport:
    """Give ``library`` (open as its writer, without a visual channel) the visual channel of
    ``clip`` from its stored thumbnails; ``clip_spec``/``clip_checkpoint`` are how ``clip`` was
    asked for (recorded so that later runs load the same model). ``progress(done, total)``
    follows the encoding. Raises :class:`LibraryError` (before encoding anything) when the channel
    cannot be added (:meth:`Library.channel_problem`)."""
    t0 = time.perf_counter()
    problem = library.channel_problem("visual")
    if problem is not None:
        raise LibraryError(problem)
    report = BackfillReport(clip_model=clip.name, width=clip.dim)
    done = library.staged("visual")
    segments = [s for v in library.videos() if v.status == "indexed" for s in library.video_segments(v.id)]
    todo = [s for s in segments if s.id not in done]
    report.resumed = len(segments) - len(todo)
    last_commit = time.monotonic()
    since_commit = 0
    batch: list = []

    def flush() -> None:
        nonlocal last_commit, since_commit
        pictures = [(s.id, decode_jpeg(s.thumbnail.read_bytes())) for s in batch
                    if s.thumbnail is not None and s.thumbnail.is_file()]
        blocks = dict(zip([i for i, _ in pictures], clip.encode_images([im for _, im in pictures])))
        for s in batch:
            if s.id not in blocks:
                report.no_picture.append(s.id)
                blocks[s.id] = np.zeros(clip.dim, np.float32)  # staged as done; zero like a segment without frames
        library.stage_channel("visual", blocks)
        report.encoded += len(pictures)
        since_commit += len(batch)
        batch.clear()
        if since_commit >= commit_every or time.monotonic() - last_commit > 60:
            library.commit()
            last_commit, since_commit = time.monotonic(), 0

    for i, segment in enumerate(todo, 1):
        batch.append(segment)
        if len(batch) >= clip.batch_size:
            flush()
        if progress is not None:
            progress(report.resumed + i, len(segments))
    if batch:
        flush()
    library.commit()
    layout = ChannelLayout.from_dict({**library.layout, "visual": clip.dim}).as_dict()
    data = json.loads(library.setting(PROFILE_SETTING) or "{}")
    if data:
        pipeline = {**(data.get("pipeline") or {}), "clip": clip_spec, "clip_checkpoint": clip_checkpoint}
        data.update(pipeline=pipeline, clip_model=clip.name, layout=layout)
    settings = {"clip_model": clip.name, **({PROFILE_SETTING: json.dumps(data)} if data else {})}
    if not data:  # a library from before profiles keeps its CLIP in the older settings
        settings.update({"clip": clip_spec or "", "clip_checkpoint": clip_checkpoint or ""})
    library.add_channel("visual", layout, settings)
    report.seconds = time.perf_counter() - t0
    return report


def checkpoint_path(value: str | Path | None) -> str | None:
    """A CLIP checkpoint as a library records it (absolute), or None."""
    return str(Path(value).expanduser().resolve()) if value else None
