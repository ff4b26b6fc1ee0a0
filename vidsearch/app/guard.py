"""What stands between the network and :mod:`vidsearch.app.server`.

:class:`Guard` is a pure ASGI middleware, so it sees every request before FastAPI parses a byte of
its body:

* **Host allow-list** — a request whose ``Host`` header names another host is refused (400): a web
  page elsewhere cannot reach a local server through a name it controls (DNS rebinding).
* **Access token** — with a token, ``/api/*`` needs ``Authorization: Bearer TOKEN`` (compared in
  constant time). A ``<video>`` or ``<img>`` element cannot send that header, so the stream and
  thumbnail URLs the API hands out carry ``exp`` and ``sig`` query parameters instead: an HMAC of
  the path and the expiry under a key derived from the token (:class:`MediaSigner`).
* **No cross-site writes** — a request with a body (an upload) that a browser marks as sent by
  another site (``Sec-Fetch-Site``, or where that is missing an ``Origin`` that is not a served
  host) is refused (403): without a token, any web page could otherwise make a visitor's browser
  post clips to a local server. Clients that are not browsers send neither header.
* **Upload limits while the body arrives** — a declared ``Content-Length`` over the limit is
  refused before reading (413); the bytes are counted as they arrive (chunked bodies too) and the
  request stops at the limit; the body must arrive within a time limit (408); at most
  ``max_uploads`` uploads are in the server at once (503 with ``Retry-After``).

Every refusal is ``{"error": "one line"}`` like the API's own errors.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import re
import socket
import time
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The names a loopback bind answers to.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Binds that listen on every interface.
WILDCARD_BINDS = frozenset({"0.0.0.0", "::", ""})
#: Signed media URLs stay valid this long (rounded up to the next whole hour, so that a thumbnail
#: keeps one URL for an hour and the browser's cache serves it).
MEDIA_URL_TTL_S = 12 * 3600
#: The paths a signed URL may open instead of the Authorization header.
MEDIA_PATH = re.compile(r"/api/(videos/[^/]+/stream|segments/[^/]+/thumbnail)")
#: Room for the multipart framing around an upload (boundaries, part headers, the small fields).
MULTIPART_SLACK = 64 * 1024
#: Headers added to every answer.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # signed media URLs stay on this page
    (b"x-frame-options", b"DENY"),
]
BUSY_RETRY_S = 2
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(value: str) -> str:
    """The host part of a Host header or a ``--host``/``--allow-host`` value, lower case, no port:
    ``Example.COM:8000`` -> ``example.com``, ``[::1]:8000`` -> ``::1``."""
    v = value.strip().lower()
    if v.startswith("["):
        v = v[1:v.index("]")] if "]" in v else v[1:]
    elif v.count(":") == 1:
        v = v.split(":", 1)[0]
    return v.rstrip(".")


#: A Host header (RFC 9110): a name or IPv4 address, or a bracketed IPv6 address, then an
#: optional port; nothing else (no user info, no path, no second colon).
_HOST_HEADER = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::\d{1,5})?")


def request_host(value: str) -> str | None:
    """The host of a ``Host`` header, lower case without port or trailing dot; None when the
    header is not one host (``localhost:80@evil``, ``[::1]x``, ``a:1:2``)."""
    m = _HOST_HEADER.fullmatch(value.strip().lower())
    if m is None:
        return None
    return m["v6"] or m["name"].rstrip(".")


def is_loopback(bind: str) -> bool:
    name = host_name(bind)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts(bind: str, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """The Host names a server bound to ``bind`` answers: 127.0.0.1, localhost and ::1 for a
    loopback bind; the bound address otherwise (for a wildcard bind, loopback and this machine's
    names); plus ``extra`` (``--allow-host``). ``None`` (no check) when ``extra`` holds ``*``."""
    names = {host_name(e) for e in extra if e.strip()}
    if "*" in names:
        return None
    if is_loopback(bind):
        names |= LOOPBACK_HOSTS
    elif host_name(bind) in WILDCARD_BINDS:
        names |= LOOPBACK_HOSTS | {host_name(socket.gethostname()), host_name(socket.getfqdn())}
    else:
        names.add(host_name(bind))
    return frozenset(n for n in names if n)


def exposure_warning(bind: str, token: str | None) -> str | None:
    """One line to print when ``serve`` listens beyond this machine with no token."""
    if token or is_loopback(bind):
        return None
    return (f"warning: serving on {bind or '*'} with no --token: anyone who can reach this port can search "
            f"the library and play its videos (set --token or VIDSEARCH_TOKEN)")


def clean_token(token: str) -> str:
    """The access token as given, surrounding blanks removed; ValueError (one line) when it is
    empty or holds anything but visible ASCII (it travels in an HTTP header: a token with a
    space or a ``中`` in it could never be sent back)."""
    token = token.strip()
    if not token:
        raise ValueError("the access token is empty")
    if not all("!" <= c <= "~" for c in token):
        raise ValueError("the access token must be visible ASCII characters, no spaces (it is sent in an "
                         "HTTP header)")
    return token


class MediaSigner:
    """Signed, expiring URLs for the stream and thumbnail endpoints (what a ``<video>`` can open)."""

    def __init__(self, token: str | None, library: str = "", ttl_s: int = MEDIA_URL_TTL_S):
        """``library`` names what is served (its folder): two servers that share a token do not
        accept each other's URLs, whose video ids mean different videos."""
        self.ttl_s = ttl_s
        self._key = None if not token else hmac.new(
            _utf8(token), b"vidsearch signed media URLs\0" + _utf8(library), hashlib.sha256).digest()

    def url(self, path: str, now: float | None = None) -> str:
        """``path`` with ``?exp=&sig=`` when a token is set (else ``path`` as is)."""
        if self._key is None:
            return path
        now = time.time() if now is None else now
        exp = (int(now) // 3600 + 1) * 3600 + self.ttl_s
        return f"{path}?exp={exp}&sig={self._sig(path, exp)}"

    def valid(self, path: str, query_string: bytes, now: float | None = None) -> bool:
        """Whether ``query_string`` signs ``path`` and has not expired."""
        if self._key is None:
            return False
        params = parse_qs(query_string.decode("latin-1"))
        exp, sig = params.get("exp", [""])[-1], params.get("sig", [""])[-1]
        if not (exp.isascii() and exp.isdigit() and len(exp) <= 12):
            return False
        if int(exp) < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(_utf8(sig), _utf8(self._sig(path, int(exp))))

    def _sig(self, path: str, exp: int) -> str:
        assert self._key is not None  # url() and valid() sign only with a token
        return hmac.new(self._key, _utf8(f"{path}\n{exp}"), hashlib.sha256).hexdigest()[:32]


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def error_message(status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> tuple[Message, Message]:
    """The two ASGI messages of a ``{"error": message}`` answer."""
    body = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8", "replace")
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         *SECURITY_HEADERS, *headers]},
            {"type": "http.response.body", "body": body})


async def _refuse(send: Send, status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    for m in error_message(status, message, headers):
        await send(m)


_CLOSE = [(b"connection", b"close")]  # the unread body is dropped with the connection


class _BodyAborted(Exception):
    """Raised from ``receive`` when the body breaks a limit: the app stops reading."""


class Guard:
    """The pure ASGI middleware in front of the app (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str] | None, token: str | None, signer: MediaSigner,
                 max_body: int, body_limit_text: str, upload_paths: Iterable[str] = (), max_uploads: int = 4,
                 body_timeout_s: float = 300.0):
        self.app = app
        self.hosts = hosts
        self.token = _utf8(token) if token else None
        self.signer = signer
        self.max_body = max_body
        self.body_limit_text = body_limit_text
        self.upload_paths = frozenset(upload_paths)
        self.max_uploads = max_uploads
        self.body_timeout_s = body_timeout_s
        self.uploads = 0  # in flight (touched only on the event loop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.hosts is not None:
            raw = headers.get("host", "")
            name = request_host(raw)
            if name is None or name not in self.hosts:
                shown = "".join(c if c.isprintable() else "?" for c in (name or raw.strip())[:80]) or "(none)"
                await _refuse(send, 400, f"Host {shown} is not served here: start serve with --allow-host {shown} "
                                         f"to accept it")
                return
        path = scope["path"]
        if self.token is not None and path.startswith("/api/") and not self._authorised(scope, headers):
            await _refuse(send, 401, "this server needs its access token: send Authorization: Bearer TOKEN",
                          [(b"www-authenticate", b'Bearer realm="vidsearch"')])
            return
        if scope["method"] in _NO_BODY_METHODS:
            await self.app(scope, receive, _with_security_headers(send))
            return
        foreign = self._cross_site(headers)
        if foreign is not None:
            await _refuse(send, 403, f"refused a {scope['method']} {foreign}: use the page this server serves",
                          _CLOSE)
            return
        length = headers.get("content-length")
        if length is not None and not (length.isascii() and length.isdigit()):
            await _refuse(send, 400, "bad Content-Length header", _CLOSE)
            return
        if length is not None and int(length) > self.max_body:
            await _refuse(send, 413, f"upload larger than the {self.body_limit_text} limit", _CLOSE)
            return
        upload = scope["method"] == "POST" and path in self.upload_paths
        if upload and self.uploads >= self.max_uploads:
            await _refuse(send, 503, f"busy: {self.max_uploads} uploads are in progress; try again in a few seconds",
                          [(b"retry-after", str(BUSY_RETRY_S).encode()), *_CLOSE])
            return
        self.uploads += upload
        try:
            await self._limited(scope, receive, send)
        finally:
            self.uploads -= upload

    def _cross_site(self, headers: Headers) -> str | None:
        """Why a browser sent this request from another site, or None (same origin, not a browser)."""
        site = headers.get("sec-fetch-site")
        if site is not None:
            return None if site in ("same-origin", "none") else f"sent from another site (Sec-Fetch-Site: {site[:20]})"
        origin = headers.get("origin")
        if origin is None:
            return None
        try:
            name = request_host(urlsplit(origin.strip()).netloc) if origin.strip() != "null" else None
        except ValueError:
            name = None
        served = self.hosts if self.hosts is not None else {request_host(headers.get("host", ""))}
        if name is None or name not in served:
            return "sent from another origin"
        return None

    def _authorised(self, scope: Scope, headers: Headers) -> bool:
        assert self.token is not None  # asked only when the server has a token
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(_utf8(given.strip()), self.token):
            return True
        return (scope["method"] in ("GET", "HEAD") and MEDIA_PATH.fullmatch(scope["path"]) is not None
                and self.signer.valid(scope["path"], scope.get("query_string", b"")))

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with a ``receive`` that counts the body and times it out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        received = 0
        body_done = False
        refusal: tuple[int, str] | None = None
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_done, refusal
            if body_done:
                return await receive()
            if refusal is not None:
                raise _BodyAborted
            try:
                message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
            except asyncio.TimeoutError:
                refusal = (408, f"the request body did not arrive within {self.body_timeout_s:g} s")
                raise _BodyAborted from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    refusal = (413, f"upload larger than the {self.body_limit_text} limit")
                    raise _BodyAborted
                body_done = not message.get("more_body", False)
            return message

        secured = _with_security_headers(send)

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refusal is not None and not started:
                return  # the app's answer to the aborted body: ours goes out instead
            started = started or message["type"] == "http.response.start"
            await secured(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyAborted:
            pass
        if refusal is not None and not started:
            await _refuse(send, *refusal, _CLOSE)


def _with_security_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
        await send(message)

    return wrapped
