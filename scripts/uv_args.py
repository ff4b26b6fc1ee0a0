"""Print pip's configuration on this machine as ``uv pip install`` flags, one per line.

uv does not read pip's configuration files or ``PIP_*`` variables, so the set-up script hands it
the indexes, find-links folders and constraints pip would use (as ``pip config list`` reports
them: files and environment alike) and asks it to choose among all indexes as pip does. The
certificate bundle pip is told to trust is printed as ``SSL_CERT_FILE=...`` on the last line.
"""
from __future__ import annotations

import subprocess
import sys

#: pip option -> uv flag; options that hold several values are space-separated in pip's config.
FLAGS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}


def main() -> int:
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                             check=True).stdout
    values: dict[str, list[str]] = {}
    cert = ""
    for line in listing.splitlines():
        key, sep, raw = line.partition("=")
        if not sep:
            continue
        option = key.rsplit(".", 1)[-1]
        value = raw.strip().strip("'\"")
        if option == "cert":
            cert = value
        elif option in FLAGS:
            found = values.setdefault(option, [])
            found.extend(v for v in value.split() if v not in found)
    args = ["--index-strategy", "unsafe-best-match"]  # pip takes the best match over every index
    for option, found in values.items():
        for value in found[-1:] if option == "index-url" else found:
            args += [FLAGS[option], value]
    print("\n".join(args))
    if cert:
        print(f"SSL_CERT_FILE={cert}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
