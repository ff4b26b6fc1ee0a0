"""`info`, `serve`, `doctor` and `prepare-models`: what a library holds, serving it, and the machine's models."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table
from rich.text import Text

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
)
from vidsearch.app.cli._options import DbOption, json_option
from vidsearch.text.clock import length, span


@app.command()
def info(
    db: DbOption,
    videos_wanted: Annotated[Optional[list[Path]], typer.Argument(metavar="[VIDEO]...", help="Only these videos (paths as indexed, or file names).")] = None,
    as_json: Annotated[bool, json_option("Print one JSON object on stdout")] = False,
) -> None:
    """What the library holds: videos (indexed or failed, with reasons), segments, vector layout,
    and the spans removed from each video (black or frozen heads and tails, recurring intros and
    outros) with their kind.

    The library checks itself first: damage is reported (one line per damaged file, "problems"
    in --json) and exits 1 after showing what can be read."""
    from vidsearch.fsutil import indexed_forms
    from vidsearch.ingest.profile import library_profile

    with open_library(db) as library:
        problems = library.check()
        profile = {**library_profile(library).summary(), "vectors": library.vectors_location}
        stats = library.stats()
        rows = library.videos()
        if videos_wanted:
            wanted = {os.fsencode(form) for p in videos_wanted for form in indexed_forms(p)}
            rows = [v for v in rows if os.fsencode(v.path) in wanted or os.fsencode(v.path.name) in wanted]
            if not rows:
                fail(f"not in {db}: {', '.join(os.fsdecode(p) for p in videos_wanted)}", 1)
        videos = [
            {"video_id": v.id, "video": os.fsdecode(v.path), "status": v.status, "error": v.error,
             "duration": v.duration, "segments": v.n_segments, "language": v.language,
             "removed": [{"start": round(s.start, 2), "end": round(s.end, 2), "kind": s.kind}
                         for s in library.removed_spans(v.id)]}
            for v in rows
        ]
    print_notes((f"{problem}: run `vidsearch repair --db {db}`" for problem in problems), "damaged")
    if as_json:
        print_json({"stats": stats, "profile": profile, "videos": videos, "problems": problems})
    else:
        _print_info(db, videos, profile)
    if problems:
        raise typer.Exit(1)


def _print_info(db: Path, videos: list[dict], profile: dict) -> None:
    """``info``'s table, after one line on what the library was built with."""
    built = ", ".join(f"{k.replace('_', ' ')} {'on' if v is True else 'off' if v is False else v}"
                      for k, v in profile.items() if k != "channels" and v not in (None, ""))
    out.print(f"built with: {built}; channels: {', '.join(profile['channels'])}", soft_wrap=True)
    table = Table(title=f"{db}: {len(videos)} videos")
    for col in ("id", "video", "status", "duration", "segments", "language / error", "removed"):
        table.add_column(col, overflow="fold")
    for v in videos:
        removed = ", ".join(f"{s['kind']} {span(s['start'], s['end'])}" for s in v["removed"])
        table.add_row(str(v["video_id"]), one_line(v["video"]), v["status"], length(v["duration"] or 0), str(v["segments"] or 0),
                      (v["error"] or v["language"] or "") if v["status"] != "indexed" else (v["language"] or ""),
                      removed)
    out.print(table)



def _refuse_damaged(db: Path) -> None:
    """Exit with one line when the library at ``db`` fails its integrity check (``serve``)."""
    from vidsearch.store.library import Library

    problems = Library.verify(db)
    if problems:
        fail(f"{'; '.join(problems)}: run `vidsearch repair --db {db}`")


@app.command()
def serve(
    db: DbOption,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface).")] = config.DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = config.DEFAULT_PORT,
    max_upload_mb: Annotated[float, typer.Option(min=0.1, help="Largest clip upload accepted by /api/match-clip, in MB.")] = config.DEFAULT_MAX_UPLOAD_MB,
    max_clip_s: Annotated[float, typer.Option(min=1.0, help="Longest clip /api/match-clip matches, in seconds.")] = config.DEFAULT_MAX_CLIP_S,
    max_uploads: Annotated[int, typer.Option(min=1, help="Uploads in the server at once; more are answered 503.")] = config.DEFAULT_MAX_UPLOADS,
    upload_timeout_s: Annotated[float, typer.Option(min=1.0, help="An upload's body must arrive within this many seconds.")] = config.DEFAULT_UPLOAD_TIMEOUT_S,
    allow_host: Annotated[list[str] | None, typer.Option("--allow-host", metavar="NAME", help="Also answer requests for this Host name (repeatable; '*' turns the Host check off).")] = None,
    token: Annotated[str | None, typer.Option(envvar="VIDSEARCH_TOKEN", help="Require 'Authorization: Bearer TOKEN' on /api/* (the page: open /#token=TOKEN).")] = None,
) -> None:
    """Serve the HTTP API and the web page (search, play the moment, match a clip) at http://HOST:PORT/.

    Models and the index are loaded once at start; a reindex is picked up without a restart. API docs: /docs.
    """
    quiet_third_party()
    import logging

    from vidsearch.app.guard import allowed_hosts, clean_token, exposure_warning
    from vidsearch.app.server import listen
    from vidsearch.app.server import serve as run_server
    from vidsearch.store.library import LibraryError

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if token is not None:
        try:
            token = clean_token(token)
        except ValueError as exc:
            fail(f"--token: {exc}", 2)
    hosts = allowed_hosts(host, allow_host or ())
    _refuse_damaged(db)
    try:
        sock = listen(host, port)
    except OSError as exc:  # the port is taken, or the address is not this machine's
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        with err.status(Text(f"loading {db}"), spinner="dots"):  # a [name] in the path is not markup
            from vidsearch.app.server import create_app

            server_app = create_app(db, max_upload_mb=max_upload_mb, max_clip_s=max_clip_s, max_uploads=max_uploads,
                             upload_timeout_s=upload_timeout_s, hosts=hosts, token=token)
    except LibraryError as exc:
        fail(str(exc), 2)
    except (RuntimeError, OSError, sqlite3.Error) as exc:  # a model that will not load, an unreadable file
        text = str(exc).strip()
        fail(f"cannot serve {db}: {text.splitlines()[0] if text else type(exc).__name__}")
    if warning := exposure_warning(host, token):
        err.print(warning, style="yellow", highlight=False, markup=False, soft_wrap=True)
    answered = "any Host" if hosts is None else "Host " + ", ".join(sorted(hosts))
    err.print(f"serving {db} on http://{host}:{port}/ to {answered}{'; token required' if token else ''} "
              f"(API docs: /docs; Ctrl-C stops)", highlight=False, markup=False, soft_wrap=True)
    run_server(server_app, sock)


@app.command()
def doctor(
    as_json: Annotated[bool, json_option("Print the rows and the live and off channels as JSON on stdout")] = False,
) -> None:
    """Which binaries and models are present, which channels are live, and what to install for the rest."""
    from vidsearch.app.doctor import channel_line, channel_status, model_report

    report = model_report()
    if as_json:
        live, off = channel_status(report)
        print_json({"rows": [{"role": r.role, "name": r.name, "available": r.available, "detail": r.detail}
                             for r in report],
                    "channels": {"live": live, "off": off}})
        return
    table = Table(title="vidsearch doctor")
    for col in ("role", "name", "status", "detail"):
        table.add_column(col, overflow="fold")
    for row in report:
        table.add_row(row.role, row.name, Text("ok", style="green") if row.available else Text("missing", style="red"),
                      row.detail)
    out.print(table)
    out.print(channel_line(report))


@app.command("prepare-models")
def prepare_models(
    clip: Annotated[Optional[str], typer.Option(
        "--clip", metavar="MODEL:PRETRAINED",
        help="Also make this CLIP ready: downloaded into the cache when the hub can be reached, or taken "
             "from --from. E.g. xlm-roberta-base-ViT-B-32:laion5b_s13b_b90k (the default) or "
             "ViT-B-32:laion2b_s34b_b79k (English).")] = None,
    from_file: Annotated[Optional[Path], typer.Option(
        "--from", metavar="FILE",
        help="The CLIP weights file for --clip (open_clip_pytorch_model.bin or open_clip_model.safetensors "
             "from the model's hub page), copied into the cache and checked to load as that model.")] = None,
    as_json: Annotated[bool, json_option("Print where the models and the cache are as JSON on stdout")] = False,
) -> None:
    """Build the offline model cache from the bundled packages (done automatically on first use),
    and with --clip make a CLIP ready for the visual channel."""
    from vidsearch.models.resolve import build_bundled_whisper, cache_dir

    if from_file is not None and not clip:
        fail("--from needs --clip MODEL:PRETRAINED: which model the file holds", 2)
    try:
        path = build_bundled_whisper()
    except (OSError, RuntimeError) as exc:  # a bundled package missing, a cache that cannot be written
        fail(f"cannot build the model cache: {exc}")
    doc: dict[str, object] = {"whisper": os.fsdecode(path), "cache": os.fsdecode(cache_dir())}
    if not as_json:
        err.print(f"whisper model ready at {path} (cache: {cache_dir()})", soft_wrap=True)
    if clip:
        from vidsearch.models.clip import ClipUnavailable, clip_report, import_clip_weights, load_clip

        try:
            if from_file is not None:
                where = import_clip_weights(clip, from_file)
            else:
                load_clip(clip)  # downloads into the cache when the hub can be reached
                where = None
        except ClipUnavailable as exc:
            fail(f"CLIP not ready: {exc}", 1)
        _, detail = clip_report(clip)
        if where is not None:
            detail = f"open_clip:{clip} ({where}, {where.stat().st_size / 2**20:.0f} MiB)"
        doc["clip"] = detail
        if not as_json:
            err.print(f"CLIP ready: {detail}", soft_wrap=True)
    if as_json:
        print_json(doc)


