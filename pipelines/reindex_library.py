"""Example batch job: keep a library in sync with a folder, using only the public API.

    python pipelines/reindex_library.py --db LIB VIDEOS_DIR [--workers N] [--engine local|ray]

Prints one line per failed file and a summary; exits 1 when a file failed, 2 when the folder is
empty while the library holds videos from it (an unmounted disk?: nothing is removed).
"""
from __future__ import annotations

import argparse
import os
import sys

import vidsearch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("library_dir")
    parser.add_argument("--db", required=True)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--engine", default="local", choices=("local", "ray"))
    args = parser.parse_args(argv)
    try:
        report = vidsearch.reindex(args.db, args.library_dir, workers=args.workers, engine=args.engine)
    except (vidsearch.EmptyLibraryDir, vidsearch.ProfileConflict, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, reason in report.failed:
        print(f"failed: {os.fsdecode(path)}: {reason}", file=sys.stderr)
    print(f"added {len(report.added)}, updated {len(report.updated)}, renamed {len(report.renamed)}, "
          f"removed {len(report.removed)}, failed {len(report.failed)}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
