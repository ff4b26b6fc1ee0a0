"""`vidsearch serve`: the HTTP API and the web page over one library, loaded once.

The models, the vector index, the captions and the visual signatures are loaded when the server
starts, so a query costs milliseconds instead of a cold CLI start. The library is opened read-only;
when a writer (``index``, ``reindex``, ``captions add``) commits, the next request reloads the index
first (requests meanwhile wait on the lock; none fails).

Endpoints (the JSON is exactly the CLI's ``--json`` output):

- ``GET /api/search?q=&k=&preset=&weights=``
- ``POST /api/match-clip`` (multipart field ``clip``; ``k``, ``preset``, ``weights`` as query params)
- ``GET /api/videos/{video_id}/stream`` (HTTP Range: a player can seek)
- ``GET /api/segments/{segment_id}/thumbnail``
- ``GET /api/health``; the OpenAPI schema at ``/openapi.json`` and ``/docs``
- ``GET /`` the web page (``vidsearch/web/``), everything served locally

Errors are ``{"error": "one line"}`` with a 4xx status; a server fault is a 500 with a generic
message (the traceback goes to the server log, never to the client).
"""
from __future__ import annotations

import contextlib
import logging
import mimetypes
import os
import tempfile
import threading
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .encoders import BatchingTextEncoder, CachingTextEncoder, EncoderUnavailable
from .fusion import PRESETS, WeightsError, parse_weights
from .matchclip import ClipMatcher
from .search import Searcher, library_text_encoder
from .store import THUMBS_DIR, Library
from .types import VideoError

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
MAX_K = 100
MAX_QUERY_CHARS = 500
DEFAULT_MAX_UPLOAD_MB = 100
#: Upload types refused before reading a byte (the probe decides for everything else).
NOT_VIDEO_TYPES = ("image/", "text/", "audio/", "font/")
_CHUNK = 1 << 20


class ApiError(Exception):
    """A client error: HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


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
        self.matcher = ClipMatcher(self.library, searcher=self.searcher)
        self.lock = ReadWriteLock()
        self.match_lock = threading.Lock()
        self.reloads = 0

    def warm_up(self) -> None:
        """Load every model and cache now, not on the first request."""
        with self.lock.write():
            self.searcher.search("warm up", 1)
            _ = self.searcher.synonyms, self.searcher.clip
            _ = self.matcher.captions, self.matcher.signatures, self.matcher.processor

    def refresh(self) -> None:
        """Pick up a writer's commit (new index generation): reload index, captions, signatures."""
        if not self.library.stale():
            return
        with self.lock.write():
            if self.library.refresh():
                self.matcher.reload()
                self.reloads += 1
                log.info("library %s changed: index reloaded", self.db)

    def close(self) -> None:
        self.query_batcher.close()
        self.library.close()


def create_app(db: Path | str, *, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, warm: bool = True) -> FastAPI:
    """The FastAPI application serving the library at ``db`` (opened now, read-only)."""
    service = LibraryService(db)
    if warm:
        service.warm_up()
    max_upload = int(max_upload_mb * (1 << 20))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        service.close()

    app = FastAPI(title="vidsearch", version="0.1.0", lifespan=lifespan,
                  description="Search a video library by text or by clip and land on the right second.")
    app.state.service = service

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("query", "path", "body"))
            parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
        return JSONResponse({"error": "; ".join(parts) or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def _server_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse({"error": "internal server error (see the server log)"}, status_code=500)

    @app.get("/api/health")
    def health() -> dict:
        """Liveness and what the library holds."""
        service.refresh()
        with service.lock.read():
            stats = service.library.stats()
        return {"status": "ok", "videos": stats["videos"], "segments": stats["live_segments"],
                "captions": stats["captions"], "layout": stats["layout"], "reloads": service.reloads}

    @app.get("/api/search")
    def search(
        q: Annotated[str, Query(description="What to look for, in any language.", max_length=MAX_QUERY_CHARS)] = "",
        k: Annotated[int, Query(ge=1, le=MAX_K, description="Number of moments.")] = 10,
        preset: Annotated[str | None, Query(description=f"Channel weights preset: {', '.join(PRESETS)}.")] = None,
        weights: Annotated[str | None, Query(description="Per-channel weights, e.g. speech=1,ocr=0.5.")] = None,
    ) -> dict:
        """The same JSON object as ``vidsearch search --json``."""
        if not q.strip():
            raise ApiError(400, "empty query: pass q=...")
        overrides = _weights(weights)
        service.refresh()
        try:
            with service.lock.read():
                moments = service.searcher.search(q, k, preset=preset, weights=overrides)
        except (WeightsError, ValueError, EncoderUnavailable) as exc:
            raise ApiError(400, str(exc)) from None
        # A JSONResponse as is: skips FastAPI's generic re-encoding of the dict (about 1 ms a request).
        return JSONResponse({"query": q, "results": [m.to_json() for m in moments]})

    @app.post("/api/match-clip")
    def match_clip(
        clip: Annotated[UploadFile, File(description="A short video clip.")],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
        preset: Annotated[str | None, Query()] = None,
        weights: Annotated[str | None, Query()] = None,
    ) -> dict:
        """The same JSON object as ``vidsearch match-clip --json``. The upload is deleted after use."""
        overrides = _weights(weights)
        name = Path(clip.filename or "upload").name
        if (clip.content_type or "").startswith(NOT_VIDEO_TYPES):
            raise ApiError(415, f"{name}: not a video ({clip.content_type})")
        suffix = Path(name).suffix.lower()[:8] if Path(name).suffix else ".bin"
        fd, tmp_name = tempfile.mkstemp(prefix="vidsearch-upload-", suffix=suffix)
        tmp = Path(tmp_name)
        try:
            size = 0
            with os.fdopen(fd, "wb") as f:
                while block := clip.file.read(_CHUNK):
                    size += len(block)
                    if size > max_upload:
                        raise ApiError(413, f"{name}: larger than the {max_upload_mb:g} MB upload limit")
                    f.write(block)
            if size == 0:
                raise ApiError(400, f"{name}: empty file")
            service.refresh()
            try:
                with service.match_lock, service.lock.read():  # queue for the models holding no read slot
                    result = service.matcher.match(tmp, k, preset=preset, weights=overrides)
            except VideoError as exc:
                raise ApiError(415, f"{name}: {exc.reason}") from None
            except (WeightsError, ValueError, EncoderUnavailable) as exc:
                raise ApiError(400, str(exc)) from None
            answer = result.to_json()
            answer["clip"] = name  # not the temporary path
            return answer
        finally:
            tmp.unlink(missing_ok=True)

    @app.get("/api/videos/{video_id}/stream")
    def stream(video_id: int) -> FileResponse:
        """The video file of an indexed video (by id: only library files), with Range support."""
        with service.lock.read():
            row = service.library.video(video_id)
        if row is None or row.status != "indexed":
            raise ApiError(404, f"no video {video_id} in the library")
        if not row.path.is_file():
            raise ApiError(410, f"video {video_id} is no longer on disk")
        media_type = mimetypes.guess_type(row.path.name)[0] or "application/octet-stream"
        return FileResponse(row.path, media_type=media_type, content_disposition_type="inline",
                            filename=row.path.name)

    @app.get("/api/segments/{segment_id}/thumbnail")
    def thumbnail(segment_id: int) -> FileResponse:
        """The segment's keyframe (JPEG)."""
        with service.lock.read():
            seg = service.library.segments([segment_id]).get(segment_id)
        if seg is None or seg.thumbnail is None:
            raise ApiError(404, f"no thumbnail for segment {segment_id}")
        path = service.db / THUMBS_DIR / seg.thumbnail.name
        if not path.is_file():
            raise ApiError(404, f"no thumbnail for segment {segment_id}")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app


def _weights(text: str | None) -> dict[str, float] | None:
    try:
        return parse_weights(text)
    except WeightsError as exc:
        raise ApiError(400, str(exc)) from None


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run ``app`` (from :func:`create_app`) until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")
