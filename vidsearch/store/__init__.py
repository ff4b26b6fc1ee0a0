"""Persistence: the library (SQLite rows, the vector index, the generation/undo protocol) and
the salvage of a damaged library.
"""
