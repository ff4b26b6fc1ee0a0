"""One model, loaded once: :class:`LoadOnce` holds a loader and what it gave (or why it could not).

Every owner of models (the per-video stage, the searcher) holds each of them the same way: the
loader runs on first use, under a lock (the per-video stage loads from two threads), at most
once. A model that proves unavailable here (an :class:`~vidsearch.models.resolve.Unavailable`:
weights missing offline, a package not installed) is remembered as such, so a batch does not try
again for every video; callers then either get the same one-line error again or None, whichever
fits them (``get(missing_ok=True)`` for an optional channel). Any other exception is not
remembered: it is a bug or a bad input of the moment, and the next call tries again.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Literal, TypeVar, cast, overload

from vidsearch.models.resolve import Unavailable

__all__ = ["LoadOnce"]

T = TypeVar("T")

_UNSET = object()


class LoadOnce(Generic[T]):
    """A model loaded on first :meth:`get`, once, thread-safely; a failure to load is remembered."""

    def __init__(self, loader: Callable[[], T], *, on_unavailable: Callable[[Unavailable], None] | None = None,
                 lock: threading.RLock | None = None) -> None:
        """``loader`` builds the model (it may return None for "not configured").
        ``on_unavailable`` is called once, with the error, when the loader raises
        :class:`Unavailable` (e.g. to note that a channel is off). Holders given the same
        ``lock`` never load at the same time (models that set process-wide thread counts)."""
        self._loader = loader
        self._on_unavailable = on_unavailable
        self._lock = lock if lock is not None else threading.RLock()
        self._value: object = _UNSET
        self._error: Unavailable | None = None

    @classmethod
    def ready(cls, value: T) -> LoadOnce[T]:
        """A holder of a model already loaded elsewhere (shared with another owner, or a test's)."""
        holder: LoadOnce[T] = cls(lambda: value)
        holder._value = value
        return holder

    @property
    def loaded(self) -> bool:
        """True once the loader has returned (its value is held)."""
        return self._value is not _UNSET

    @property
    def error(self) -> Unavailable | None:
        """Why the model is unavailable here (remembered from the one failed load), else None."""
        return self._error

    @overload
    def get(self, *, missing_ok: Literal[False] = ...) -> T: ...

    @overload
    def get(self, *, missing_ok: Literal[True]) -> T | None: ...

    def get(self, *, missing_ok: bool = False) -> T | None:
        """The model, loading it on the first call. When it is unavailable, raises that
        :class:`Unavailable` again (the one from the failed load), or returns None with
        ``missing_ok``."""
        if self._value is _UNSET and self._error is None:
            with self._lock:
                if self._value is _UNSET and self._error is None:
                    try:
                        self._value = self._loader()
                    except Unavailable as exc:
                        self._error = exc
                        if self._on_unavailable is not None:
                            self._on_unavailable(exc)
        if self._error is not None:
            if missing_ok:
                return None
            raise self._error
        return cast(T, self._value)  # not _UNSET: the loader returned
