"""vidsearch: a short-video retrieval engine (index a library, search by text, land on the second)."""

__version__ = "0.1.0"
