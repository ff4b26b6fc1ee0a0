"""Print pip's configuration on this machine as ``uv pip install`` flags, one per line.

uv does not read pip's configuration files or ``PIP_*`` variables, so the set-up script hands it
the indexes, find-links folders and constraints pip would use for ``pip install``, as
``pip config list`` reports them: the ``global`` section, then ``install``, then the environment,
a later one replacing an option as it does for pip. It asks uv to choose among all indexes as pip
does. The certificate bundle pip trusts is printed as ``SSL_CERT_FILE=...`` on the last line.

Exits 1 (and the set-up script lets pip install) when pip is configured with an option this
translation does not carry over (``no-index``, ``trusted-host``, a proxy, ...): uv would
otherwise install from elsewhere than pip would.
"""
from __future__ import annotations

import ast
import subprocess
import sys

#: pip option -> uv flag; options that hold several values are whitespace-separated in pip's config.
FLAGS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}
#: Options that do not change what is installed or from where.
HARMLESS = {
    "default-timeout", "timeout", "retries", "disable-pip-version-check", "progress-bar", "root-user-action",
    "no-color", "quiet", "verbose", "no-input", "cache-dir", "no-cache-dir", "require-virtualenv", "log",
}
#: The sections ``pip install`` reads, weakest first.
SECTIONS = ("global", "install", ":env:")


def main() -> int:
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                             check=True).stdout
    settings: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        key, sep, raw = line.partition("=")
        section, _, option = key.rpartition(".")
        if not sep or section not in SECTIONS:
            continue
        try:
            value = str(ast.literal_eval(raw))  # pip prints each value as a Python string literal
        except (ValueError, SyntaxError):
            value = raw.strip().strip("'\"")
        rank = SECTIONS.index(section)
        if option not in settings or settings[option][0] <= rank:
            settings[option] = (rank, value)
    unknown = sorted(set(settings) - set(FLAGS) - HARMLESS - {"cert"})
    if unknown:
        print(f"pip is configured with {', '.join(unknown)}, which uv is not told here", file=sys.stderr)
        return 1
    args = ["--index-strategy", "unsafe-best-match"]  # pip takes the best match over every index
    for option, flag in FLAGS.items():
        if option in settings:
            for value in settings[option][1].split():
                args += [flag, value]
    print("\n".join(args))
    if "cert" in settings:
        print(f"SSL_CERT_FILE={settings['cert'][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
