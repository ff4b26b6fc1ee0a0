"""`captions add`, `list` and `remove`: the corpus of copy lines that `match-clip` returns for a query video."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from vidsearch.app.cli._console import app, err, fail, open_library, out, print_json, print_notes, quiet_third_party
from vidsearch.app.cli._options import DbOption, json_option

captions_app = typer.Typer(no_args_is_help=True, help="The captions corpus: copy lines that `match-clip` returns for a clip.")
app.add_typer(captions_app, name="captions")


@captions_app.command("add")
def captions_add(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="JSONL ({\"id\", \"text\", ...}) or CSV with a header naming id and text; other fields are kept.")],
    db: DbOption,
    clean: Annotated[bool, typer.Option("--clean/--no-clean", help="Strip promo boilerplate, emoji and repeats before embedding (the original text is kept).")] = True,
    rules: Annotated[Optional[Path], typer.Option(metavar="JSON", help="Extra cleaning rules merged over the defaults (same format as --ocr-rules).")] = None,
    synonyms: Annotated[Optional[Path], typer.Option(metavar="JSON", help="Extra label synonyms merged over the defaults; stored in the library, so queries use them too.")] = None,
    skip_invalid: Annotated[bool, typer.Option(help="Add the good rows of a file with bad ones (each bad row is reported).")] = False,
    as_json: Annotated[bool, json_option("Print the summary as JSON on stdout")] = False,
) -> None:
    """Add captions to the library's corpus; re-adding an id replaces that caption."""
    quiet_third_party()
    captions, problems, cleaning = read_captions_input(file, rules, synonyms, skip_invalid)
    summary = store_captions(db, captions, problems, cleaning, synonyms, clean)
    if as_json:
        print_json(summary)
    else:
        err.print(f"added {summary['added']}, replaced {summary['replaced']}, skipped {summary['skipped']}"
                  f" — {summary['captions']} captions in {db}", highlight=False)
    if not summary["added"] + summary["replaced"]:
        raise typer.Exit(1)


def read_captions_input(file: Path, rules: Path | None = None, synonyms: Path | None = None,
                         skip_invalid: bool = False):
    """(captions, problems, cleaning rules) from a captions file, checked before any library is
    touched; a bad file or option exits 2 with one line."""
    from vidsearch.query.captions import read_captions
    from vidsearch.text.clean import load_rules

    for option, given in (("FILE", file), ("--rules", rules), ("--synonyms", synonyms)):
        if given is not None and not given.is_file():
            fail(f"{given}: no such file ({option})", 2)
    try:
        captions, problems = read_captions(file, skip_invalid=skip_invalid)
        cleaning = load_rules(rules) if rules else None
        if synonyms is not None:
            from vidsearch.text.synonyms import load_synonyms

            load_synonyms(synonyms)  # a broken file fails here, before the library is touched
    except ValueError as exc:
        fail(str(exc).splitlines()[0], 2)
    return captions, problems, cleaning


def store_captions(db: Path, captions, problems: list[str], cleaning, synonyms: Path | None = None,
                    clean: bool = True) -> dict:
    """Clean, embed and commit captions into the library at ``db``; prints notes and skipped
    rows, returns the summary (added, replaced, skipped, captions, visual)."""
    from vidsearch.query.captions import embed_captions, library_synonyms, prepare_captions
    from vidsearch.query.search import Searcher

    with open_library(db, "write", existing=True) as library:
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
    print_notes(searcher.notes)
    print_notes(problems, "skipped")
    return {"added": len(rows) - len(replaced), "replaced": len(replaced), "skipped": len(problems),
            "captions": total, "visual": searcher.clip is not None}


@captions_app.command("list")
def captions_list(
    db: DbOption,
    as_json: Annotated[bool, json_option("Print one JSON object on stdout")] = False,
) -> None:
    """List the captions: id, text as given, the cleaned text that was embedded, extra fields."""
    with open_library(db) as library:
        rows = library.captions()
    if as_json:
        print_json({"captions": [{"id": r.id, "text": r.text, "clean": r.clean, "extra": r.extra} for r in rows]})
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
    as_json: Annotated[bool, json_option("Print the ids removed and those not in the corpus as JSON on stdout")] = False,
) -> None:
    """Remove captions by id. Exits 1 when none of them was in the corpus."""
    ids = [cid.strip() for cid in ids]  # as `captions add` stores them
    with open_library(db, "write", existing=True) as library:
        removed = library.remove_captions(ids)
        library.commit()
        total = library.caption_count()
    asked = list(dict.fromkeys(ids))
    missing = [cid for cid in asked if cid not in removed]
    if as_json:
        print_json({"removed": [cid for cid in asked if cid in removed], "not_found": missing, "captions": total})
    else:
        print_notes((cid for cid in asked if cid in removed), "removed")
        print_notes(missing, "not in corpus")
    if not removed:
        raise typer.Exit(1)
