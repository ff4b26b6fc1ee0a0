"""`vidsearch serve`: the HTTP API and the web page over one library, loaded once.

The models, the vector index, the captions and the visual signatures are loaded when the server
starts, so a query costs milliseconds instead of a cold CLI start. The library is opened read-only;
when a writer (``index``, ``reindex``, ``captions add``) commits, the next request reloads what
changed first (requests meanwhile wait on the lock; none fails).

Endpoints (the JSON is the CLI's ``--json`` output, except that a moment's ``video`` is a display
name, never a path of the server's disk, and that it carries its ``stream`` and ``thumbnail`` URLs):

- ``GET /api/search?q=&k=&offset=&preset=&weights=&min_confidence=`` and the filters ``video_id``
  (repeatable), ``folder``, ``min_duration``, ``max_duration``, ``language``
- ``POST /api/match-clip`` (multipart field ``clip``; ``k``, ``preset``, ``weights`` as query params)
- ``GET /api/videos``, ``GET /api/videos/{video_id}`` (the indexed videos, with their stream URLs)
- ``GET /api/videos/{video_id}/transcript?q=`` (spoken and on-screen lines, the query's words marked)
- ``GET /api/videos/{video_id}/stream`` (HTTP Range: a player can seek)
- ``GET /api/segments/{segment_id}/thumbnail``, ``GET /api/segments/{segment_id}/similar?k=``
- ``GET /api/health``; the OpenAPI schema at ``/openapi.json`` and ``/docs`` (Swagger UI, served locally),
  each JSON answer described by a model of :mod:`vidsearch.app.api_models`
- ``GET /`` the web page (``vidsearch/app/web/``), everything served locally

Errors are ``{"error": "one line"}`` with a 4xx status; a server fault is a 500 with a generic
message (the traceback goes to the server log, never to the client). The Host allow-list, the
access token and the upload limits are applied by :class:`vidsearch.app.guard.Guard` before a request
reaches an endpoint.
"""
from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import os
import re
import socket
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from vidsearch import __version__
from vidsearch.app.api_models import (
    ApiErrorBody,
    HealthBody,
    MatchClipBody,
    SearchBody,
    SimilarBody,
    TranscriptBody,
    VideoBody,
    VideoListBody,
)
from vidsearch.app.guard import LOOPBACK_HOSTS, MULTIPART_SLACK, Guard, MediaSigner, clean_token
from vidsearch.channels.fusion import PRESETS, WeightsError, parse_weights
from vidsearch.media.probe import MAX_REAL_FPS, probe, stream_extent
from vidsearch.models.text_encoders import BatchingTextEncoder, CachingTextEncoder, EncoderUnavailable
from vidsearch.query.confidence import NO_GOOD_MATCH, parse_level
from vidsearch.query.filters import FilterError, SearchFilter
from vidsearch.query.matchclip import QueryVideoMatcher, check_clip
from vidsearch.query.overview import indexed_videos, library_overview
from vidsearch.query.search import MAX_QUERY_CHARS, Searcher, library_text_encoder
from vidsearch.query.transcript import video_transcript
from vidsearch.store.library import THUMBS_DIR, Library, VideoRow
from vidsearch.types import Moment, VideoError

FastAPIOffline: Callable[..., FastAPI] | None
try:  # Swagger UI's files, served locally
    from fastapi_offline import FastAPIOffline
except ImportError:  # pragma: no cover - /docs says where the schema is instead
    FastAPIOffline = None

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
MAX_K = 100
#: Deepest page of a ranking served: a page costs a ranking of ``offset + k`` moments.
MAX_OFFSET = 1000
MAX_FILTER_IDS = 100
MAX_NAME_CHARS = 64
DEFAULT_MAX_UPLOAD_MB = 100
#: Longer clips are refused after the probe, before they queue for the models.
DEFAULT_MAX_CLIP_S = 120.0
#: Uploads in the server at once (receiving, waiting for the models, matching); more get a 503.
DEFAULT_MAX_UPLOADS = 4
#: An upload's whole body must arrive within this many seconds.
DEFAULT_UPLOAD_TIMEOUT_S = 300.0
#: Larger pictures are refused (8K UHD is 33 million pixels).
MAX_CLIP_PIXELS = 36_000_000
#: Upload types refused before reading a byte (the probe decides for everything else).
NOT_VIDEO_TYPES = ("text/", "audio/", "font/")  # a photo (image/) is a one-frame query
#: Ids are SQLite integers: anything outside 64 bits names nothing.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UPLOAD_PATH = "/api/match-clip"
DOCS_ASSETS = "/docs-assets"
MAX_ERROR_CHARS = 300
_CHUNK = 1 << 20


class ApiError(Exception):
    """A client error: HTTP status and one line."""

    def __init__(self, status: int, message: str):
        message = _one_line(message)
        message = message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS - 1] + "…"
        super().__init__(message)
        self.status = status
        self.message = message


def clean_text(text: str) -> str:
    """``text`` as valid Unicode: bytes a file name smuggled in as surrogate escapes (what Python
    makes of a name that is not UTF-8) become U+FFFD, so the text always encodes as UTF-8."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is no escaped byte
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def display_name(path: str | os.PathLike) -> str:
    """What a client sees of a library file: its base name as valid UTF-8, never a path."""
    return clean_text(os.path.basename(os.fsdecode(path)))


def content_disposition(name: str, kind: str = "inline") -> str:
    """A Content-Disposition header for ``name`` (RFC 6266 with the RFC 5987 ``filename*``), plus
    a plain ASCII ``filename`` for old clients."""
    name = clean_text(name)
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def safe_upload_name(filename: str | None) -> str:
    """An uploaded file's name reduced to a harmless base name: no folders (either slash), no
    control characters, no leading dots, at most 100 characters; ``upload`` when nothing is left."""
    name = re.split(r"[/\\]", clean_text(filename or ""))[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().lstrip(".").strip()
    if len(name) > 100:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:90] + dot + ext[:9]) if dot and len(ext) <= 9 else name[:100]
    return name or "upload"


def upload_suffix(name: str) -> str:
    """The temporary file's suffix: the name's extension when it is plain letters and digits."""
    ext = os.path.splitext(name)[1].lower()
    return ext if re.fullmatch(r"\.[a-z0-9]{1,8}", ext) else ".bin"


class SafeJSONResponse(JSONResponse):
    """JSON that is always valid UTF-8, whatever text reached it (see :func:`clean_text`)."""

    def render(self, content) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return clean_text(text).encode("utf-8")


#: A Range header this server honours: byte ranges ``a-b`` (a <= b), ``a-`` or ``-n``, comma-separated.
_BYTE_RANGES = re.compile(r"bytes=\s*(\d+-\d*|-\d+)(\s*,\s*(\d+-\d*|-\d+))*\s*", re.IGNORECASE)


def _usable_range(value: str) -> bool:
    """Whether ``value`` is a Range header of byte ranges, each in order."""
    if not _BYTE_RANGES.fullmatch(value.strip()):
        return False
    pairs = (part.strip().split("-") for part in value.strip()[len("bytes="):].split(","))
    return all(not a or not b or int(a) <= int(b) for a, b in pairs)


class MediaFileResponse(FileResponse):
    """A video file with Range support that ignores a Range header it cannot use (another unit,
    a malformed or reversed range) and answers the whole file, as RFC 9110 lets a server do, where
    Starlette answered a plain-text 400 a player cannot read. A range past the end stays a 416."""

    async def __call__(self, scope, receive, send) -> None:
        headers = scope.get("headers") or []
        if any(k.lower() == b"range" and not _usable_range(v.decode("latin-1")) for k, v in headers):
            scope = {**scope, "headers": [(k, v) for k, v in headers if k.lower() != b"range"]}
        await super().__call__(scope, receive, send)


class ReadWriteLock:
    """Many readers at once, or one writer; a waiting writer holds new readers back."""

    def __init__(self):
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self):
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self):
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class LibraryService:
    """One read-only library with its searcher and clip matcher; reloads after a commit.

    Searches run concurrently: the index is only read (hnswlib searches in parallel), SQLite
    has its own lock, and concurrent queries share one text-model call (:class:`BatchingTextEncoder`),
    with recent query vectors remembered (:class:`CachingTextEncoder`). Reloading after a commit
    takes the lock exclusively. Clips are matched one at a time: the pipeline's models are shared.
    """

    def __init__(self, db: Path | str):
        self.db = Path(db)
        self.library = Library.open(self.db, readonly=True)
        self.query_batcher = BatchingTextEncoder(library_text_encoder(self.library))
        self.query_encoder = CachingTextEncoder(self.query_batcher)
        self.searcher = Searcher(self.library, self.query_encoder)
        self.matcher = QueryVideoMatcher(self.library, searcher=self.searcher)
        self.lock = ReadWriteLock()
        self.match_lock = threading.Lock()
        self.reloads = 0
        self._seen = self.library.data_version()

    def warm_up(self) -> None:
        """Load every model and cache now, not on the first request."""
        with self.lock.write():
            self.searcher.search("warm up 预热", 1)  # Chinese too: its sound dictionary loads on first use
            _ = self.searcher.synonyms, self.searcher.clip
            _ = self.matcher.captions, self.matcher.signatures, self.matcher.processor

    def refresh(self) -> None:
        """Pick up a writer's commit: a new index generation (``index``, ``reindex``, ``delete``)
        reloads the index; any commit (``captions add`` or ``remove`` too, which leave the index
        as it was) makes the matcher and the searcher read their captions, signatures, score
        background and settings again."""
        if self._changed() is None:
            return
        with self.lock.write():
            version = self._changed()
            if version is None:
                return  # another request reloaded first
            if self.library.refresh():
                log.info("library %s changed: index reloaded", self.db)
            self.matcher.reload()
            self._seen = version
            self.reloads += 1

    def _changed(self) -> int | None:
        """SQLite's data version when a writer committed since the last reload, else None."""
        version = self.library.data_version()
        return None if version == self._seen and not self.library.stale() else version

    def close(self) -> None:
        self.query_batcher.close()
        self.library.close()


def create_app(
    db: Path | str,
    *,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
    max_clip_s: float = DEFAULT_MAX_CLIP_S,
    max_uploads: int = DEFAULT_MAX_UPLOADS,
    upload_timeout_s: float = DEFAULT_UPLOAD_TIMEOUT_S,
    hosts: Iterable[str] | None = LOOPBACK_HOSTS,
    token: str | None = None,
    warm: bool = True,
) -> FastAPI:
    """The FastAPI application serving the library at ``db`` (opened now, read-only).

    ``hosts``: the Host names answered (None: any; see :func:`vidsearch.app.guard.allowed_hosts`);
    ``token``: required on ``/api/*`` when set. The upload limits are described in
    :mod:`vidsearch.app.guard`; ``max_clip_s`` refuses longer clips after the probe.
    """
    if token is not None:
        token = clean_token(token)
    service = LibraryService(db)
    if warm:
        service.warm_up()
    max_upload = int(max_upload_mb * (1 << 20))
    limit_text = f"{max_upload_mb:g} MB upload"
    signer = MediaSigner(token, os.fsdecode(Path(db).resolve()))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        service.close()

    docs = {"docs_url": "/docs", "static_url": DOCS_ASSETS} if FastAPIOffline else {"docs_url": None}
    app = (FastAPIOffline or FastAPI)(
        title="vidsearch", version=__version__, lifespan=lifespan, default_response_class=SafeJSONResponse,
        redoc_url=None, **docs,
        swagger_ui_parameters={"validatorUrl": None},  # no validator badge fetched from outside
        description="Search a video library by text or by clip and land on the right second.")
    app.state.service = service
    app.add_middleware(Guard, hosts=None if hosts is None else frozenset(hosts), token=token, signer=signer,
                       max_body=max_upload + MULTIPART_SLACK, body_limit_text=limit_text, upload_paths=[UPLOAD_PATH],
                       max_uploads=max_uploads, body_timeout_s=upload_timeout_s)

    def moment_json(m: Moment) -> dict:
        """A moment as the API answers it: a display name, and URLs the browser can open."""
        out = m.to_json()
        out["video"] = display_name(m.video)
        out["stream"] = signer.url(f"/api/videos/{m.video_id}/stream")
        out["thumbnail"] = signer.url(f"/api/segments/{m.segment_id}/thumbnail") if m.segment_id >= 0 else None
        return out

    def video_json(v: VideoRow) -> dict:
        return {"video_id": v.id, "video": display_name(v.path), "duration": v.duration, "language": v.language,
                "segments": v.n_segments, "stream": signer.url(f"/api/videos/{v.id}/stream")}

    def indexed_video(video_id: int) -> VideoRow:
        row = None
        if INT64_MIN <= video_id <= INT64_MAX:
            with service.lock.read():
                row = service.library.video(video_id)
        if row is None or row.status != "indexed":
            raise ApiError(404, f"no video {video_id} in the library")
        return row

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return SafeJSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return SafeJSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path", "body"))
            parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
        return SafeJSONResponse({"error": " ".join("; ".join(parts).split()) or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def _server_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return SafeJSONResponse({"error": "internal server error (see the server log)"}, status_code=500)

    @app.get("/api/health", response_model=HealthBody)
    def health() -> SafeJSONResponse:
        """Liveness and what the library holds."""
        service.refresh()
        with service.lock.read():
            stats = service.library.stats()
            overview = library_overview(service.library)
            channels = service.searcher.live_channels()
        return SafeJSONResponse({"status": "ok", "videos": stats["videos"], "segments": stats["live_segments"],
                                 "captions": stats["captions"], "layout": stats["layout"],
                                 "reloads": service.reloads, "duration_s": round(overview.duration_s, 3),
                                 "last_indexed": overview.last_indexed, "channels": channels,
                                 "languages": overview.languages})

    @app.get("/api/search", response_model=SearchBody, responses=_errors(400, 422, 503))
    def search(
        q: Annotated[str, Query(description="What to look for, in any language.", max_length=MAX_QUERY_CHARS)] = "",
        k: Annotated[int, Query(ge=1, le=MAX_K, description="Number of moments.")] = 10,
        preset: Annotated[str | None, Query(description=f"Channel weights preset: {', '.join(PRESETS)}.",
                                            max_length=MAX_NAME_CHARS)] = None,
        weights: Annotated[str | None, Query(description="Per-channel weights, e.g. speech=1,ocr=0.5.",
                                             max_length=MAX_QUERY_CHARS)] = None,
        min_confidence: Annotated[str | None, Query(description="Leave out answers below this level: high, medium "
                                                    "or low (the default); any: the whole ranking, weaker "
                                                    "matches included.", max_length=MAX_NAME_CHARS)] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Moments of the ranking to skip (the "
                                     "previous answer's next_offset).")] = 0,
        video_id: Annotated[list[int] | None, Query(max_length=MAX_FILTER_IDS, description="Only these videos "
                                                    "(repeatable).")] = None,
        folder: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS, description="Only videos in a folder of "
                                            "this name (relative, e.g. cats or 2024/cats) or under this absolute "
                                            "folder.")] = None,
        min_duration: Annotated[float | None, Query(ge=0, description="Only videos at least this long (s).")] = None,
        max_duration: Annotated[float | None, Query(ge=0, description="Only videos at most this long (s).")] = None,
        language: Annotated[str | None, Query(max_length=MAX_NAME_CHARS, description="Only videos whose main "
                                              "spoken language is this (zh, en).")] = None,
    ) -> SafeJSONResponse:
        """The JSON object of ``vidsearch search --json``, with display names and media URLs, and
        where the next page starts (``next_offset``)."""
        if not q.strip():
            raise ApiError(400, "empty query: pass q=...")
        overrides = _weights(weights)
        try:
            level = parse_level(min_confidence)
            where = SearchFilter.of(video_ids=video_id, folder=folder, min_duration=min_duration,
                                    max_duration=max_duration, language=language)
        except (ValueError, FilterError) as exc:
            raise ApiError(400, str(exc)) from None
        service.refresh()
        try:
            with service.lock.read():
                page = service.searcher.page(q, k, offset=offset, preset=preset, weights=overrides,
                                             min_confidence=level, where=where)
                notes = service.searcher.search_notes(overrides, preset, where, answered=bool(page.moments))
        except (WeightsError, ValueError) as exc:
            raise ApiError(400, str(exc)) from None
        except EncoderUnavailable as exc:
            raise _model_missing(exc) from None
        moments = page.moments
        body: dict[str, Any] = {"query": q, "results": [moment_json(m) for m in moments]}
        if not moments:
            body["note"] = NO_GOOD_MATCH
        if notes:
            body["notes"] = notes
        body["offset"], body["next_offset"] = page.offset, page.next_offset
        # A response as is: skips FastAPI's generic re-encoding of the dict (about 1 ms a request).
        return SafeJSONResponse(body)

    @app.post(UPLOAD_PATH, response_model=MatchClipBody, responses=_errors(400, 413, 415, 422, 503))
    def match_clip(
        # The form field stays "clip" (the web page and clients send it); in here it is the query video.
        video: Annotated[UploadFile, File(alias="clip", description="A short video clip.")],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        preset: Annotated[str | None, Query(max_length=MAX_NAME_CHARS)] = None,
        weights: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None,
    ) -> SafeJSONResponse:
        """The JSON object of ``vidsearch match-clip --json``, with display names and media URLs.
        The upload is deleted after use."""
        overrides = _weights(weights)
        name = safe_upload_name(video.filename)
        if (video.content_type or "").startswith(NOT_VIDEO_TYPES):
            raise ApiError(415, f"{name}: not a video ({clean_text(video.content_type or '')[:60]})")
        fd, tmp_name = tempfile.mkstemp(prefix="vidsearch-upload-", suffix=upload_suffix(name))
        tmp = Path(tmp_name)

        def reason(exc: VideoError) -> str:  # the temporary path never reaches the client
            return exc.reason.replace(tmp_name, name).replace(tmp.name, name)

        try:
            size = 0
            with os.fdopen(fd, "wb") as f:
                while block := video.file.read(_CHUNK):
                    size += len(block)
                    if size > max_upload:
                        raise ApiError(413, f"{name}: larger than the {limit_text} limit")
                    f.write(block)
            if size == 0:
                raise ApiError(400, f"{name}: empty file")
            try:  # before the match lock: a bad or long clip never queues for the models
                info = probe(tmp)
                check_clip(info)
            except VideoError as exc:
                raise ApiError(415, f"{name}: {reason(exc)}") from None
            if info.duration > max_clip_s:
                raise ApiError(413, f"{name}: {info.duration:.1f} s long; clips up to {max_clip_s:g} s are matched")
            try:  # the header's duration can lie: count what the decoders would really get
                span, frames = stream_extent(tmp)
            except VideoError as exc:
                raise ApiError(415, f"{name}: {reason(exc)}") from None
            if span > max_clip_s + 1 or frames > max_clip_s * MAX_REAL_FPS:
                raise ApiError(413, f"{name}: its packets run {span:.1f} s ({frames} frames) though its header says "
                                    f"{info.duration:.1f} s; clips up to {max_clip_s:g} s are matched")
            if info.width * info.height > MAX_CLIP_PIXELS:
                raise ApiError(422, f"{name}: {info.width}x{info.height} pictures are too large to match")
            service.refresh()
            try:
                with service.match_lock, service.lock.read():  # queue for the models holding no read slot
                    result = service.matcher.match(tmp, k, preset=preset, weights=overrides)
            except VideoError as exc:
                raise ApiError(415, f"{name}: {reason(exc)}") from None
            except (WeightsError, ValueError) as exc:
                raise ApiError(400, str(exc)) from None
            except EncoderUnavailable as exc:
                raise _model_missing(exc) from None
            answer = result.to_json()
            answer["clip"] = name  # not the temporary path
            answer["moments"] = [moment_json(m) for m in result.moments]
            return SafeJSONResponse(answer)
        finally:
            tmp.unlink(missing_ok=True)

    @app.get("/api/videos", response_model=VideoListBody)
    def videos() -> SafeJSONResponse:
        """The indexed videos, by id: names, lengths, languages and stream URLs."""
        service.refresh()
        with service.lock.read():
            rows = indexed_videos(service.library)
        return SafeJSONResponse({"videos": [video_json(v) for v in rows]})

    @app.get("/api/videos/{video_id}", response_model=VideoBody, responses=_errors(404, 422))
    def video(video_id: int) -> SafeJSONResponse:
        """One indexed video (what a shared link ``?v=ID&t=SEC`` opens)."""
        service.refresh()
        return SafeJSONResponse(video_json(indexed_video(video_id)))

    @app.get("/api/videos/{video_id}/transcript", response_model=TranscriptBody, responses=_errors(404, 422))
    def transcript(
        video_id: int,
        q: Annotated[str, Query(description="Mark this query's words in the lines.", max_length=MAX_QUERY_CHARS)] = "",
    ) -> SafeJSONResponse:
        """The video's spoken lines (utterances) and on-screen lines, in time order, with the
        query's words marked and the second each marked word is said."""
        service.refresh()
        found = None
        if INT64_MIN <= video_id <= INT64_MAX:
            with service.lock.read():
                found = video_transcript(service.library, video_id, q)
        if found is None:
            raise ApiError(404, f"no video {video_id} in the library")
        body = found.to_json()
        body["video"] = display_name(found.video)
        return SafeJSONResponse(body)

    @app.get("/api/segments/{segment_id}/similar", response_model=SimilarBody, responses=_errors(404, 422))
    def similar(segment_id: int, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10) -> SafeJSONResponse:
        """More like this: moments whose stored vectors are nearest this segment's."""
        service.refresh()
        moments = None
        if INT64_MIN <= segment_id <= INT64_MAX:
            with service.lock.read():
                with contextlib.suppress(KeyError):
                    moments = service.searcher.similar(segment_id, k)
        if moments is None:
            raise ApiError(404, f"no segment {segment_id} in the library")
        return SafeJSONResponse({"segment_id": segment_id, "results": [moment_json(m) for m in moments]})

    @app.get("/api/videos/{video_id}/stream", responses=_errors(404, 410, 422))
    @app.head("/api/videos/{video_id}/stream", include_in_schema=False)  # one operation in the schema
    def stream(video_id: int) -> FileResponse:
        """The video file of an indexed video (by id: only library files), with Range support
        (HEAD too: a player may ask for the size and type first)."""
        row = indexed_video(video_id)
        if not row.path.is_file():
            raise ApiError(410, f"video {video_id} is no longer on disk")
        media_type = mimetypes.guess_type(row.path.name)[0] or "application/octet-stream"
        return MediaFileResponse(row.path, media_type=media_type,
                            headers={"Content-Disposition": content_disposition(display_name(row.path))})

    @app.get("/api/segments/{segment_id}/thumbnail", responses=_errors(404, 422))
    def thumbnail(segment_id: int) -> FileResponse:
        """The segment's keyframe (JPEG)."""
        seg = None
        if INT64_MIN <= segment_id <= INT64_MAX:
            with service.lock.read():
                seg = service.library.segments([segment_id]).get(segment_id)
        if seg is None or seg.thumbnail is None:
            raise ApiError(404, f"no thumbnail for segment {segment_id}")
        path = service.db / THUMBS_DIR / seg.thumbnail.name
        if not path.is_file():
            raise ApiError(404, f"no thumbnail for segment {segment_id}")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers={"Content-Security-Policy": PAGE_CSP})

    _docs(app, token is not None)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app


#: The web page loads nothing but this server's own files.
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


def _docs(app: FastAPI, bearer: bool) -> None:
    """``/docs`` is Swagger UI from the ``fastapi-offline`` package (its files served from here, no
    CDN); where that package is missing, ``/docs`` is a one-line note pointing to ``/openapi.json``.
    With a token, the schema declares bearer auth, so the Authorize button lets "Try it out" send it."""
    if FastAPIOffline is None:
        @app.get("/docs", include_in_schema=False)
        def docs_note() -> HTMLResponse:
            return HTMLResponse('<p>Swagger UI is not installed here (pip install fastapi-offline); '
                                'the API schema is at <a href="/openapi.json">/openapi.json</a>.</p>')

    if bearer:
        # Built now, when every route is declared; FastAPI serves the schema it keeps in openapi_schema.
        schema = app.openapi()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["token"] = {
            "type": "http", "scheme": "bearer", "description": "vidsearch serve --token"}
        schema["security"] = [{"token": []}]
        app.openapi_schema = schema


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route declares in the schema: each is ``{"error": "one line"}``."""
    return {status: {"model": ApiErrorBody, "description": HTTPStatus(status).phrase} for status in statuses}


def _model_missing(exc: EncoderUnavailable) -> ApiError:
    """A model the library needs is missing on the server: its paths go to the log, not the client."""
    log.error("model unavailable: %s", exc)
    return ApiError(503, "a model this library needs is not available on the server (see the server log)")


def _one_line(exc: Exception | str) -> str:
    return " ".join(str(exc).split())


def _weights(text: str | None) -> dict[str, float] | None:
    try:
        return parse_weights(text)
    except WeightsError as exc:
        raise ApiError(400, str(exc)) from None


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port``, for :func:`serve`.

    Bound before the models load, so a port already taken or an address this machine does not have
    fails at once with ``OSError`` (uvicorn binds only once it runs, after the command has said
    it is serving, and exits by itself).
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart reuses the port
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Run ``app`` (from :func:`create_app`) on ``sock`` (from :func:`listen`) until interrupted."""
    import uvicorn

    uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False)).run(sockets=[sock])
