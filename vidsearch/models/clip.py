"""open_clip frame/text encoder for the ``visual`` channel.

No CLIP-family weights ship in any package, so this channel is live only where the user has
weights. Resolution is explicit and never touches the network when the hub is off:

1. a local checkpoint (``checkpoint=`` / ``--clip-checkpoint``): a weights file for the spec's
   architecture (ViT-B-32 by default), a folder holding one, or an open_clip model folder
   (``open_clip_config.json`` + weights);
2. the cache dir (``<vidsearch cache>/open_clip`` unless given; the Hugging Face cache is also
   read when no cache dir was passed), looked up on disk by us, not by open_clip;
3. a hub download through open_clip, only when ``HF_HUB_OFFLINE`` is not set.

Anything missing raises :class:`ClipUnavailable` with a one-line reason; callers turn it into
"visual channel off". Randomly initialised weights are refused unless ``allow_random=True``
(tests, benchmarks): open_clip 3.3 itself builds a random model with only a log line when it is
given no pretrained tag, so we ask it for ``require_pretrained`` as well.

>>> clip = load_clip("ViT-B-32:laion2b_s34b_b79k")      # doctest: +SKIP
>>> clip.encode_images([frame_rgb]).shape, clip.encode_texts(["rocket launch"]).shape  # doctest: +SKIP
((1, 512), (1, 512))
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vidsearch.models.resolve import Unavailable, hf_cached_file, hub_allowed, hub_off_reason
from vidsearch.models.resolve import cache_dir as _vidsearch_cache_dir
from vidsearch.models.text_encoders import l2_normalise

if TYPE_CHECKING:  # torch/open_clip load lazily: importing open_clip alone takes seconds
    import torch

__all__ = [
    "ClipUnavailable",
    "ClipEncoder",
    "DEFAULT_CLIP",
    "DEFAULT_ARCH",
    "PROMPT",
    "load_clip",
    "configured_clip",
    "clip_report",
    "load_vocabulary",
    "default_vocabulary_path",
]

#: Default spec for users who have the hub (or a cache filled by it). Multilingual on purpose:
#: its XLM-RoBERTa text tower reads Chinese queries (猫咪玩毛线球), which the English-only
#: ViT-B-32 text tower turns into noise; the image tower is the same ViT-B/32.
DEFAULT_CLIP = "xlm-roberta-base-ViT-B-32:laion5b_s13b_b90k"
#: Where open_clip's table says DEFAULT_CLIP's weights live (its ``hf_hub``): offline, the default
#: model is looked for there before open_clip is imported, which takes 4 s (it pulls in
#: transformers and torchvision) and would be spent by every ``index`` on a machine without CLIP
#: weights only to learn that they are missing. A test holds it to open_clip's table.
_DEFAULT_CLIP_HUB = "laion/CLIP-ViT-B-32-xlm-roberta-base-laion5B-s13B-b90k/"
#: Architecture assumed for a checkpoint file when the spec names none.
DEFAULT_ARCH = "ViT-B-32"
#: Zero-shot prompt: the plain CLIP template is as good as ensembles for short common nouns.
PROMPT = "a photo of a {}."

_LOCAL_DIR = "local-dir:"
_HF_HUB = "hf-hub:"
_CONFIG_NAME = "open_clip_config.json"
#: Weight file names inside a model folder, in open_clip's own order of preference.
_WEIGHT_NAMES = (
    "open_clip_model.safetensors", "open_clip_pytorch_model.safetensors", "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth", "model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth",
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".npz")
_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode", "fill_color")
_TEXT_BATCH = 256


class ClipUnavailable(Unavailable):
    """CLIP cannot be loaded; ``str()`` is one line naming what is missing and what to do."""


# --------------------------------------------------------------------------- vocabulary


def default_vocabulary_path() -> Path:
    """The bundled label vocabulary: common short-video / e-commerce subjects, English + Chinese."""
    return Path(__file__).resolve().parents[1] / "data" / "tag_vocabulary.json"


@functools.lru_cache(maxsize=8)
def _read_vocabulary(path: str, mtime_ns: int) -> tuple[tuple[str, str], ...]:
    # mtime is part of the key so an edited user file is re-read.
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"tag vocabulary {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise ValueError(f"tag vocabulary {path}: expected a JSON list of {{\"en\": ..., \"zh\": ...}} objects")
    entries: dict[str, str] = {}
    for i, item in enumerate(raw):
        if isinstance(item, str):  # a bare label is accepted as {"en": label}
            item = {"en": item}
        en = item.get("en") if isinstance(item, dict) else None
        if not isinstance(en, str) or not en.strip():
            raise ValueError(f"tag vocabulary {path}: entry {i} has no \"en\" label: {item!r}")
        zh = item.get("zh") or ""
        entries.setdefault(en.strip(), str(zh).strip())  # first wins: duplicates would split softmax mass
    if not entries:
        raise ValueError(f"tag vocabulary {path} is empty")
    return tuple(entries.items())


def load_vocabulary(path: str | Path | None = None) -> list[dict]:
    """Label vocabulary for zero-shot tags: ``[{"en": "cat", "zh": "猫"}, ...]``.

    ``path`` is a JSON file in the same format (a bare string entry counts as an English label);
    None reads the bundled one. Duplicated English labels keep their first entry. Raises
    ``ValueError`` naming the file when it cannot be read or has an entry without ``"en"``.
    """
    p = Path(path).expanduser() if path else default_vocabulary_path()
    try:
        mtime = p.stat().st_mtime_ns
    except OSError as exc:
        raise ValueError(f"tag vocabulary {p}: {exc.strerror or exc}") from exc
    return [{"en": en, "zh": zh} for en, zh in _read_vocabulary(str(p), mtime)]


# --------------------------------------------------------------------------- the encoder


class ClipEncoder:
    """An open_clip model as the frame encoder of the ``visual`` channel and its query encoder.

    Images and texts land in one space: ``encode_images`` for keyframes, ``encode_texts`` for
    queries, both ``(n, dim)`` float32 L2-normalised, so their inner product is the cosine the
    fused index ranks by. Built by :func:`load_clip`; the constructor takes ready parts so that
    other sources of open_clip models plug in.
    """

    def __init__(
        self,
        model: Any,
        preprocess: Callable[[Any], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        *,
        name: str,
        device: str = "cpu",
        batch_size: int = 16,
    ) -> None:
        """``model`` is an open_clip CLIP (``encode_image``/``encode_text``/``logit_scale``).

        ``name`` is stored in a library's settings: queries must use the model the library
        was indexed with. The tokenizer is exercised here, so a tokenizer that cannot work
        fails at load time rather than at the first query. Texts skip their padding where
        that provably gives the same vectors (see ``_trimmed_text_tower``).
        """
        import torch

        self.model = model.eval()
        self.name = name
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        # HF (Rust) tokenizers refuse concurrent use from several threads ("Already borrowed").
        self._tokenizer_lock = threading.Lock()
        self._labels: tuple[tuple[str, ...], np.ndarray] | None = None
        self._encode_tokens = _trimmed_text_tower(model, tokenizer) or model.encode_text
        self.dim = 0
        self.dim = int(self.encode_texts(["a photo"]).shape[1])

    def __repr__(self) -> str:
        return f"ClipEncoder(name={self.name!r}, dim={self.dim}, device={str(self.device)!r})"

    def _prepare(self, image: np.ndarray) -> torch.Tensor:
        from PIL import Image

        arr = np.asarray(image)
        if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
            raise ValueError(f"expected an (h, w, 3) uint8 RGB image, got shape {arr.shape} dtype {arr.dtype}")
        pil = Image.fromarray(np.ascontiguousarray(arr))
        if pil.mode != "RGB":  # grey or RGBA keyframes: the model wants RGB
            pil = pil.convert("RGB")
        # The model's own eval transform (resize shortest side, centre crop, its mean/std):
        # the embedding space was trained on exactly that.
        return self._preprocess(pil)

    def encode_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """``(h, w, 3)`` uint8 RGB frames -> ``(n, dim)`` float32 L2-normalised, in batches."""
        import torch

        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                chunk = images[start : start + self.batch_size]
                batch = torch.stack([self._prepare(im) for im in chunk]).to(self.device)
                out.append(self.model.encode_image(batch).float().cpu().numpy())
        return l2_normalise(np.concatenate(out))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts (queries, prompts) -> ``(n, dim)`` float32 L2-normalised.

        Texts longer than the model's context (77 tokens for CLIP) are truncated by its tokenizer.
        """
        import torch

        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[np.ndarray] = []
        with torch.inference_mode():
            for start in range(0, len(texts), _TEXT_BATCH):
                with self._tokenizer_lock:
                    tokens = self._tokenizer(texts[start : start + _TEXT_BATCH])
                out.append(self._encode_tokens(tokens.to(self.device)).float().cpu().numpy())
        return l2_normalise(np.concatenate(out))

    def _label_vectors(self, labels: tuple[str, ...]) -> np.ndarray:
        cached = self._labels
        if cached is not None and cached[0] == labels:
            return cached[1]
        vectors = self.encode_texts([PROMPT.format(label) for label in labels])
        self._labels = (labels, vectors)  # one vocabulary per library: a single slot is enough
        return vectors

    def zero_shot_tags(
        self,
        image_vectors: np.ndarray,
        vocabulary: Sequence[str] | None = None,
        top_k: int = 3,
        min_prob: float = 0.2,
    ) -> list[list[tuple[str, float]]]:
        """CLIP zero-shot labels for image vectors from :meth:`encode_images`.

        ``vocabulary`` holds English labels (None: the bundled vocabulary). Each label's prompt
        "a photo of a {label}." is encoded once and cached; probabilities are a softmax over
        ``logit_scale * cos`` across the vocabulary. Returns, per image, at most ``top_k``
        ``(label, probability)`` pairs with probability >= ``min_prob``, most probable first
        (possibly none: CLIP is unsure or the subject is not in the vocabulary).
        """
        vecs = np.asarray(image_vectors, dtype=np.float32)
        if vecs.ndim == 1:
            vecs = vecs[None, :]
        if vecs.ndim != 2 or (len(vecs) and vecs.shape[1] != self.dim):
            raise ValueError(f"expected (n, {self.dim}) image vectors, got shape {vecs.shape}")
        if vocabulary is None:
            vocabulary = [v["en"] for v in load_vocabulary()]
        labels = tuple(dict.fromkeys(str(v) for v in vocabulary))
        if len(vecs) == 0 or not labels or top_k <= 0:
            return [[] for _ in range(len(vecs))]
        text = self._label_vectors(labels)
        scale = float(self.model.logit_scale.detach().exp().clamp(max=100.0).reshape(-1)[0])
        logits = scale * (l2_normalise(vecs).astype(np.float64) @ text.T.astype(np.float64))
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        result: list[list[tuple[str, float]]] = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[:top_k]
            result.append([(labels[i], float(row[i])) for i in order if row[i] >= min_prob])
        return result


def _trimmed_text_tower(model: Any, tokenizer: Callable[[list[str]], torch.Tensor]) -> Callable | None:
    """``model.encode_text`` without the padding: the same vectors, several times faster.

    open_clip pads every text to 77 tokens and runs all of them, but in a CLIP text tower
    (causal mask, features taken at the end-of-text token) no token attends to a later one,
    so positions after the longest end-of-text in a batch cannot change the result. A query
    or a zero-shot prompt is ~5-12 tokens: on CPU a query drops from ~60 ms to ~10, and the
    bundled vocabulary's prompts from seconds to under one. Used only for the plain ``CLIP``
    class and only after it reproduces ``encode_text`` on probe texts; otherwise None.
    """
    try:
        import open_clip
        import torch
        from open_clip.transformer import text_global_pool

        if type(model) is not open_clip.CLIP or getattr(model, "text_pool_type", None) != "argmax" \
                or getattr(model, "attn_mask", None) is None or getattr(model, "cls_emb", None) is not None:
            return None

        def encode(tokens: torch.Tensor) -> torch.Tensor:
            n = int(tokens.argmax(dim=1).max()) + 1  # the end-of-text token has the highest id
            tokens = tokens[:, :n]
            cast = model.transformer.get_cast_dtype()
            x = model.token_embedding(tokens).to(cast) + model.positional_embedding[:n].to(cast)
            x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:n, :n]))
            x = text_global_pool(x, tokens, "argmax")
            proj = model.text_projection
            if proj is not None:
                x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
            return x

        probe = tokenizer(["a photo of a cat.", "猫咪玩毛线球", "kitten playing with a ball of yarn on a sofa"])
        probe = probe.to(next(model.parameters()).device)
        with torch.inference_mode():
            full = torch.nn.functional.normalize(model.encode_text(probe).float(), dim=-1)
            short = torch.nn.functional.normalize(encode(probe).float(), dim=-1)
        return encode if torch.allclose(full, short, atol=1e-4) else None
    except Exception:  # any surprise in open_clip's internals: keep its own encode_text
        return None


# --------------------------------------------------------------------------- resolution


@dataclass
class _Plan:
    """What :func:`load_clip` will build, decided without loading or downloading anything."""

    arch: str  # open_clip model_name: a built-in name, "local-dir:<dir>" or "hf-hub:<repo>"
    label: str  # how messages name the model
    name: str  # ClipEncoder.name
    source: str  # where the weights come from, for clip_report
    weights: Path | None = None  # file passed as open_clip's pretrained=
    tag_cfg: dict = field(default_factory=dict)  # the pretrained tag's config (preprocess, quick_gelu)
    model_cfg: dict = field(default_factory=dict)
    download: bool = False  # the tag's weights come from the hub at load time
    random: bool = False
    tokenizer_cache: str | None = None


def _import_open_clip():
    if importlib.util.find_spec("open_clip") is None:
        raise ClipUnavailable("open_clip is not installed: pip install open_clip_torch (the visual channel needs it)")
    import open_clip

    return open_clip


def _first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's gist on one line (torch's "Error(s) in loading state_dict for CLIP:" needs
    the line after it to say anything)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    text = " ".join(lines[:2]) if lines[0].endswith(":") else lines[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _file_id(path: Path) -> str:
    """Content identity of a weights file: sha1 of its size, first and last MiB (cheap on GBs)."""
    h = hashlib.sha1()
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), os.SEEK_END)
            h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def _weights_in_dir(folder: Path) -> Path | None:
    for name in _WEIGHT_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    return found[0] if len(found) == 1 else None  # several unknown files: ambiguous, ask for one


def _parse_spec(spec: str | None) -> tuple[str | None, str | None]:
    """``"MODEL:PRETRAINED"`` -> (model, pretrained); schema specs (``hf-hub:``) stay whole."""
    spec = (spec or "").strip()
    if not spec:
        return None, None
    if spec.startswith((_HF_HUB, _LOCAL_DIR)):
        return spec, None
    model, _, pretrained = spec.partition(":")  # model names have no ':'; a path after it may
    return model.strip().replace("/", "-") or None, pretrained.strip() or None  # "ViT-B/32" as open_clip does


def _model_cfg(open_clip: Any, model: str) -> dict:
    cfg = open_clip.get_model_config(model)
    if cfg is None:
        close = [m for m in open_clip.list_models() if model.lower() in m.lower()][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else " (e.g. ViT-B-32, xlm-roberta-base-ViT-B-32)"
        raise ClipUnavailable(f"unknown open_clip model {model!r}{hint}: see open_clip.list_models()")
    return cfg


def _tag_cfg(open_clip: Any, model: str, tag: str) -> dict:
    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model)
        shown = ", ".join(tags[:8]) + (f", ... ({len(tags)} in all)" if len(tags) > 8 else "")
        known = f"known tags: {shown}" if tags else "open_clip knows no pretrained weights for it"
        raise ClipUnavailable(
            f"unknown pretrained tag {tag!r} for open_clip model {model} ({known}); "
            "or pass a weights file with --clip-checkpoint"
        )
    return dict(cfg)


def _cache_dirs(cache: Path, user_given: bool) -> list[Path | None]:
    # None = the default Hugging Face cache: read only when the caller did not pin a cache dir,
    # so weights a user already fetched with open_clip are found, and tests stay hermetic.
    return [cache] if user_given else [cache, None]


def _cached_tag_weights(tag_cfg: dict, cache: Path, user_given: bool) -> Path | None:
    """The tag's weights file in a cache, found the way open_clip stores downloads."""
    if tag_cfg.get("file"):
        p = Path(tag_cfg["file"]).expanduser()
        return p if p.is_file() else None
    hub = tag_cfg.get("hf_hub") or ""
    if hub:
        repo, filename = os.path.split(hub)  # "org/name/" -> default file name; "org/name/x.bin"
        if filename in ("", "open_clip_pytorch_model.bin"):
            names = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        elif filename.endswith((".bin", ".pth")):
            names = [filename[:-4] + ".safetensors", filename]
        else:
            names = [filename]
        for d in _cache_dirs(cache, user_given):
            for name in names:
                hit = hf_cached_file(repo, name, d)
                if hit is not None:
                    return hit
    url = tag_cfg.get("url") or ""
    if url:  # open_clip's URL downloads land as <cache_dir>/<basename>
        dirs = [cache] if user_given else [cache, Path("~/.cache/clip").expanduser()]
        for d in dirs:
            p = d / os.path.basename(url)
            if p.is_file():
                return p
    return None


def _check_text_tower(open_clip: Any, plan: _Plan, user_given: bool, cache: Path, local_tokenizer: bool) -> None:
    """Models with a Hugging Face text tower (xlm-roberta, nllb) need transformers and, even
    with our weights file, the tower's config and tokenizer from the HF hub or its cache."""
    text_cfg = plan.model_cfg.get("text_cfg", {}) or {}
    hf_model = text_cfg.get("hf_model_name") or ""
    hf_tok = text_cfg.get("hf_tokenizer_name") or ""
    if not (hf_model or hf_tok):
        return
    label = plan.label
    if importlib.util.find_spec("transformers") is None:
        raise ClipUnavailable(
            f"CLIP model {label} has a Hugging Face text tower ({hf_model or hf_tok}) and needs transformers: "
            "pip install transformers (or choose ViT-B-32, whose tokenizer ships in open_clip)"
        )
    tok_cached = None
    if hf_tok and not local_tokenizer:
        for d in _cache_dirs(cache, user_given):
            if any(hf_cached_file(hf_tok, f, d) for f in ("tokenizer_config.json", "tokenizer.json")):
                tok_cached = d
                break
        plan.tokenizer_cache = str(tok_cached) if tok_cached is not None else None
    if hub_allowed():
        return
    missing = []
    # open_clip builds the tower from AutoConfig with no cache_dir: the default HF cache only.
    if hf_model and hf_cached_file(hf_model, "config.json", None) is None:
        missing.append(f"config of {hf_model}")
    if hf_tok and not local_tokenizer and tok_cached is None:
        missing.append(f"tokenizer of {hf_tok}")
    if missing:
        raise ClipUnavailable(
            f"CLIP model {label} needs the Hugging Face {' and '.join(missing)}, which is not cached, and "
            f"{hub_off_reason()}: run once with network, or choose ViT-B-32 with --clip-checkpoint PATH"
        )


def _plan_checkpoint(open_clip: Any, model: str | None, tag: str | None, path: Path) -> _Plan:
    if not path.exists():
        raise ClipUnavailable(f"CLIP checkpoint {path} does not exist (--clip-checkpoint)")
    if path.is_dir() and (path / _CONFIG_NAME).is_file():
        # An open_clip model folder (e.g. a downloaded hub repo): its config names the architecture.
        weights = _weights_in_dir(path)
        if weights is None:
            raise ClipUnavailable(f"CLIP model folder {path} has {_CONFIG_NAME} but no weights file")
        try:
            raw = json.loads((path / _CONFIG_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ClipUnavailable(f"CLIP model folder {path}: unreadable {_CONFIG_NAME}: {_first_line(exc)}") from exc
        label = model or path.name
        return _Plan(
            arch=f"{_LOCAL_DIR}{path}", label=label, name=f"open_clip:{label}:checkpoint:{_file_id(weights)}",
            source=f"model folder {path}", model_cfg=raw.get("model_cfg", raw),
        )
    if path.is_dir():
        found = _weights_in_dir(path)
        if found is None:
            raise ClipUnavailable(f"CLIP checkpoint folder {path} holds no single weights file: pass the file")
        path = found
    arch = model or DEFAULT_ARCH
    cfg = _model_cfg(open_clip, arch)
    tag_cfg = _tag_cfg(open_clip, arch, tag) if tag else {}
    return _Plan(
        arch=arch, label=arch, name=f"open_clip:{arch}:checkpoint:{_file_id(path)}",
        source=f"checkpoint {path}", weights=path, tag_cfg=tag_cfg, model_cfg=cfg,
    )


def _plan_hub_repo(model: str, cache: Path, user_given: bool) -> _Plan:
    repo = model[len(_HF_HUB):]
    for d in _cache_dirs(cache, user_given):
        config = hf_cached_file(repo, _CONFIG_NAME, d)
        if config is not None and _weights_in_dir(config.parent) is not None:
            raw = json.loads(config.read_text(encoding="utf-8"))
            return _Plan(
                arch=f"{_LOCAL_DIR}{config.parent}", label=model, name=f"open_clip:{model}",
                source=f"cache {config.parent}", model_cfg=raw.get("model_cfg", raw),
            )
    if hub_allowed():
        return _Plan(arch=model, label=model, name=f"open_clip:{model}", source=f"hub download into {cache} on first use",
                     download=True, tokenizer_cache=str(cache))
    raise ClipUnavailable(
        f"CLIP model {model} is not in the cache ({cache}) and {hub_off_reason()}: "
        "pass --clip-checkpoint PATH or run once with network"
    )


def _not_cached(label: str, cache: Path, needs_transformers: bool) -> ClipUnavailable:
    also = ""
    if needs_transformers and importlib.util.find_spec("transformers") is None:
        also = " (it also needs transformers: pip install transformers)"
    return ClipUnavailable(
        f"CLIP model {label} is not in the cache ({cache}) and {hub_off_reason()}: "
        f"pass --clip-checkpoint PATH or run once with network{also}"
    )


def _looks_like_file(value: str) -> bool:
    return "/" in value or os.sep in value or value.endswith(_WEIGHT_SUFFIXES) or Path(value).expanduser().exists()


def _plan(
    spec: str | None, checkpoint: str | Path | None, cache_dir: Path | None, allow_random: bool
) -> _Plan:
    """Decide where the weights come from (no loading, no network); ClipUnavailable if nowhere."""
    user_given = cache_dir is not None
    cache = Path(cache_dir).expanduser() if cache_dir is not None else _vidsearch_cache_dir() / "open_clip"
    ckpt = Path(checkpoint).expanduser() if checkpoint not in (None, "") else None
    if not (spec or "").strip() and ckpt is None:
        spec = DEFAULT_CLIP
    if spec == DEFAULT_CLIP and ckpt is None and importlib.util.find_spec("open_clip") is not None \
            and _cached_tag_weights({"hf_hub": _DEFAULT_CLIP_HUB}, cache, user_given) is None and not hub_allowed():
        raise _not_cached(DEFAULT_CLIP, cache, needs_transformers=True)
    open_clip = _import_open_clip()
    model, tag = _parse_spec(spec)
    if model and model.startswith(_LOCAL_DIR):
        ckpt, model = ckpt or Path(model[len(_LOCAL_DIR):]).expanduser(), None
    if model and model.startswith(_HF_HUB):
        plan = _plan_hub_repo(model, cache, user_given)
        _check_text_tower(open_clip, plan, user_given, cache, local_tokenizer=not plan.download)
        return plan
    if tag and ckpt is None and not open_clip.get_pretrained_cfg(model or DEFAULT_ARCH, tag) and _looks_like_file(tag):
        ckpt, tag = Path(tag).expanduser(), None  # "ViT-B-32:/path/to/weights.pt"
    if ckpt is not None:
        plan = _plan_checkpoint(open_clip, model, tag, ckpt)
        _check_text_tower(open_clip, plan, user_given, cache, local_tokenizer=plan.arch.startswith(_LOCAL_DIR))
        return plan
    assert model is not None
    cfg = _model_cfg(open_clip, model)
    if tag is None:
        if not allow_random:
            raise ClipUnavailable(
                f"refusing randomly initialised CLIP weights for {model!r}: give a pretrained tag "
                f"({model}:TAG, e.g. {DEFAULT_CLIP}) or a weights file with --clip-checkpoint PATH"
            )
        plan = _Plan(arch=model, label=model, name=f"open_clip:{model}:random", source="random init (testing only)",
                     model_cfg=cfg, random=True)
        _check_text_tower(open_clip, plan, user_given, cache, local_tokenizer=False)
        return plan
    tag_cfg = _tag_cfg(open_clip, model, tag)
    tag = tag.lower().replace("-", "_")  # open_clip's own tag normalisation: one weights set, one name
    label = f"{model}:{tag}"
    plan = _Plan(arch=model, label=label, name=f"open_clip:{label}", source="", tag_cfg=tag_cfg, model_cfg=cfg)
    cached = _cached_tag_weights(tag_cfg, cache, user_given)
    if cached is not None:
        plan.weights, plan.source = cached, f"cache {cached}"
    elif hub_allowed():
        plan.download, plan.source = True, f"hub download into {cache} on first use"
    else:
        text_cfg = cfg.get("text_cfg", {}) or {}
        needs_transformers = bool(text_cfg.get("hf_model_name") or text_cfg.get("hf_tokenizer_name"))
        raise _not_cached(label, cache, needs_transformers)
    _check_text_tower(open_clip, plan, user_given, cache, local_tokenizer=False)
    return plan


def _build(plan: _Plan, cache: Path, device: str, batch_size: int) -> ClipEncoder:
    open_clip = _import_open_clip()
    from open_clip.transform import PreprocessCfg, image_transform_v2

    weights = plan.weights
    if plan.download and not plan.arch.startswith(_HF_HUB):
        try:
            weights = Path(open_clip.download_pretrained(plan.tag_cfg, cache_dir=str(cache)))
        except Exception as exc:  # network, auth, disk: any of them means "not available"
            raise ClipUnavailable(f"downloading CLIP {plan.label} into {cache} failed: {_first_line(exc)}") from exc
    overrides = {k: plan.tag_cfg[k] for k in _PREPROCESS_KEYS if k in plan.tag_cfg}
    # open_clip 3.3 only warns when a tag was trained with QuickGELU and the config lacks it
    # (ViT-B-32:openai): the embeddings would then be subtly wrong, so switch it on instead.
    quick_gelu = bool(plan.tag_cfg.get("quick_gelu")) and not plan.model_cfg.get("quick_gelu", False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = open_clip.create_model(
                plan.arch,
                pretrained=str(weights) if weights is not None else None,
                device=device,
                force_quick_gelu=quick_gelu,
                force_preprocess_cfg=overrides or None,
                pretrained_text=not plan.random,  # a random test model must not fetch text weights
                require_pretrained=not plan.random,  # belt and braces against a silent random model
                cache_dir=str(cache) if plan.download else None,
            )
    except ClipUnavailable:
        raise
    except Exception as exc:
        hint = ""
        if weights is not None and not plan.download and plan.source.startswith("checkpoint"):
            # Usually weights of another architecture, or not an open_clip checkpoint at all.
            hint = f" (is it an open_clip {plan.label} checkpoint? name its architecture with --clip MODEL)"
        raise ClipUnavailable(
            f"cannot load CLIP {plan.label} from {plan.source}{hint}: {type(exc).__name__}: {_first_line(exc)}"
        ) from exc
    try:
        preprocess = image_transform_v2(PreprocessCfg(**open_clip.get_model_preprocess_cfg(model)), is_train=False)
        tokenizer = open_clip.get_tokenizer(plan.arch, cache_dir=plan.tokenizer_cache)
        return ClipEncoder(model, preprocess, tokenizer, name=plan.name, device=device, batch_size=batch_size)
    except Exception as exc:  # HF tokenizer missing offline, etc.: fail now, not at the first query
        raise ClipUnavailable(f"CLIP {plan.label}: cannot build its tokenizer/preprocessing: {_first_line(exc)}") from exc


def load_clip(
    spec: str | None = None,
    checkpoint: str | Path | None = None,
    *,
    cache_dir: Path | None = None,
    device: str = "cpu",
    threads: int | None = None,
    batch_size: int = 16,
    allow_random: bool = False,
) -> ClipEncoder:
    """Load an open_clip model for the ``visual`` channel.

    ``spec`` is ``"MODEL:PRETRAINED"`` (an open_clip architecture and pretrained tag, e.g.
    ``ViT-B-32:laion2b_s34b_b79k``), or ``"MODEL"`` when ``checkpoint`` gives the weights, or
    ``"hf-hub:org/repo"``; None with no checkpoint means :data:`DEFAULT_CLIP`. ``checkpoint``
    is a local weights file (architecture: spec's MODEL, default ViT-B-32), a folder holding
    one, or an open_clip model folder. Otherwise weights come from ``cache_dir`` (default
    ``<vidsearch cache>/open_clip``; the Hugging Face cache is read too when it is not given),
    then from the hub only when ``HF_HUB_OFFLINE`` is unset.

    ``threads`` sets ``torch.set_num_threads`` (process-wide) when given. Raises
    :class:`ClipUnavailable` (one line) for a missing file, an unknown model or tag, weights
    not cached while offline, or a spec without weights unless ``allow_random`` (tests and
    benchmarks only).
    """
    plan = _plan(spec, checkpoint, cache_dir, allow_random)
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, int(threads)))
    cache = Path(cache_dir).expanduser() if cache_dir is not None else _vidsearch_cache_dir() / "open_clip"
    return _build(plan, cache, device, batch_size)


def configured_clip(
    spec: str | None, checkpoint: str | Path | None, *, threads: int = 0, built_with: str | None = None
) -> ClipEncoder:
    """The CLIP a processor or a library is configured with: how indexing and searching both load it.

    ``spec``/``checkpoint`` as for :func:`load_clip` (real weights only, on the CPU);
    ``threads`` 0 leaves torch's own thread count. ``built_with`` is the name of the CLIP a
    library's frames were encoded with: another model here (other weights under the same spec)
    would give vectors in another space, so it is refused like missing weights. Raises
    :class:`ClipUnavailable` with a one-line reason.
    """
    encoder = load_clip(spec, checkpoint, threads=threads or None)
    if built_with and encoder.name != built_with:
        raise ClipUnavailable(f"the library was indexed with {built_with}, this machine has {encoder.name}")
    return encoder


def import_clip_weights(spec: str, source: str | Path, *, cache_dir: Path | None = None) -> Path:
    """Put a weights file for ``spec`` (``MODEL:PRETRAINED``) where :func:`load_clip` looks for
    that tag's weights (the vidsearch cache, laid out as the Hugging Face cache keeps a download),
    then load it from there to prove it is that model; returns where it now is. For a machine that
    cannot reach the hub: fetch the file elsewhere, copy it over, import it.

    Raises :class:`ClipUnavailable` (one line; nothing is left in the cache) for an unknown model
    or tag, a missing file, or a file that does not load as ``spec``.
    """
    open_clip = _import_open_clip()
    model, tag = _parse_spec(spec)
    if not model or not tag or model.startswith((_HF_HUB, _LOCAL_DIR)):
        raise ClipUnavailable(f"--clip {spec}: importing weights needs MODEL:PRETRAINED, e.g. {DEFAULT_CLIP}")
    source = Path(source).expanduser()
    if not source.is_file():
        raise ClipUnavailable(f"{source}: no such file")
    _model_cfg(open_clip, model)
    tag_cfg = _tag_cfg(open_clip, model, tag)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else _vidsearch_cache_dir() / "open_clip"
    made: list[Path] = []
    hub, url = tag_cfg.get("hf_hub") or "", tag_cfg.get("url") or ""
    if hub:
        repo, filename = os.path.split(hub)
        name = filename or ("open_clip_model.safetensors" if source.suffix == ".safetensors"
                            else "open_clip_pytorch_model.bin")
        root = cache / f"models--{repo.replace('/', '--')}"
        revision = _file_id(source)
        dest = root / "snapshots" / revision / name
        refs = root / "refs" / "main"
    elif url:
        dest, refs, revision = cache / os.path.basename(url), None, ""
    else:
        raise ClipUnavailable(f"open_clip names no download for {model}:{tag}: pass the file with --clip-checkpoint")
    old_ref = refs.read_text() if refs is not None and refs.is_file() else None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
        made.append(dest)
        if refs is not None:
            refs.parent.mkdir(parents=True, exist_ok=True)
            refs.write_text(revision)
        load_clip(spec, cache_dir=cache)
    except BaseException as exc:
        for p in made:
            p.unlink(missing_ok=True)
        if refs is not None:
            if old_ref is None:
                refs.unlink(missing_ok=True)
            else:
                refs.write_text(old_ref)
        if isinstance(exc, ClipUnavailable):
            raise ClipUnavailable(f"{source} is not usable as CLIP {model}:{tag}: {exc}") from None
        if isinstance(exc, OSError):
            raise ClipUnavailable(f"cannot copy {source} into {cache}: {exc.strerror or exc}") from None
        raise
    return dest


def clip_report(
    spec: str | None = None, checkpoint: str | Path | None = None, *, cache_dir: Path | None = None
) -> tuple[bool, str]:
    """For ``vidsearch doctor``: are the configured CLIP weights usable, and from where / why not.

    Looks at files only: nothing is loaded or downloaded (when the hub is allowed and the
    weights are not cached, it says they download on first use).
    """
    try:
        plan = _plan(spec, checkpoint, cache_dir, allow_random=False)
    except ClipUnavailable as exc:
        return False, str(exc)
    return True, f"{plan.name} ({plan.source})"
