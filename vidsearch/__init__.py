"""vidsearch: a short-video retrieval engine (index a library, search by text, land on the second)."""

from importlib.metadata import PackageNotFoundError, version

try:  # pyproject.toml holds the one version number; an installed package carries it
    __version__ = version("vidsearch")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
