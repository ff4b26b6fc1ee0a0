"""`vidsearch serve` under hostile input: names that are not UTF-8, ids past 64 bits, upload names
that are paths, bodies that are too large, endless or slow, hour-long clips, foreign Host headers,
missing tokens and forged media URLs. Every answer is JSON with one line, never a traceback."""
from __future__ import annotations

import json
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from tests.altered_clips import make_altered_clip
from tests.conftest import VIDEOS
from tests.live_server import serving
from tests.test_server import LOCAL, assert_error, uploads_left
from vidsearch.app.guard import LOOPBACK_HOSTS, MediaSigner, allowed_hosts, clean_token, exposure_warning
from vidsearch.app.server import create_app, safe_upload_name, upload_suffix
from vidsearch.media.probe import probe

#: A file name that is not UTF-8 (Latin-1 é, a stray 0xFF): Linux allows it, the CLI indexes it.
HOSTILE = b"caf\xe9 \xff.mp4"
SHOWN = "caf\ufffd \ufffd.mp4"
SPOKEN = "the echo test has been completed"  # said in the part of go_forward.mp4 the hostile video copies
TOKEN = "s3cret-token-for-tests"


@pytest.fixture(scope="module")
def hostile_library(fixture_library, tmp_path_factory, processor):
    """The fixture library plus a video whose name is not UTF-8: (db, the video's path)."""
    from vidsearch.ingest.indexer import index_paths
    from vidsearch.store.library import Library

    db0, _, _ = fixture_library
    base = tmp_path_factory.mktemp("hostile")
    db = base / "db"
    shutil.copytree(db0, db)
    video = Path(os.fsdecode(os.path.join(os.fsencode(base), HOSTILE)))
    make_altered_clip(VIDEOS / "go_forward.mp4", video, 7.0, 6.0)
    with Library.open(db) as lib:
        report = index_paths(lib, [video], processor)
    assert report.indexed == [video], report.failed
    return db, video


@pytest.fixture(scope="module")
def client(hostile_library):
    db, _ = hostile_library
    with TestClient(create_app(db, max_upload_mb=2), base_url=LOCAL) as c:
        yield c


@pytest.fixture(scope="module")
def hostile_hit(client) -> dict:
    results = client.get("/api/search", params={"q": SPOKEN, "k": 10}).json()["results"]
    hits = [m for m in results if m["video"] == SHOWN]
    assert hits, [m["video"] for m in results]
    return hits[0]


def assert_clean_json(resp, server_dir: Path) -> dict:
    """200, strict UTF-8 JSON, and no path of the server's disk anywhere in it."""
    assert resp.status_code == 200, resp.text
    text = resp.content.decode("utf-8")  # strict: raises on anything that is not UTF-8
    assert "\\udc" not in text.lower()  # nor smuggled in as JSON escapes of lone surrogates
    assert str(server_dir) not in text and os.path.dirname(str(server_dir)) not in text
    return json.loads(text)


# ---- 1. names are bytes, JSON is text ------------------------------------------------------

def test_search_shows_a_non_utf8_name_as_text(client, hostile_library):
    db, video = hostile_library
    body = assert_clean_json(client.get("/api/search", params={"q": SPOKEN, "k": 10}), db.parent)
    names = [m["video"] for m in body["results"]]
    assert SHOWN in names and "go_forward.mp4" in names, names
    assert all("/" not in n for n in names)
    hit = next(m for m in body["results"] if m["video"] == SHOWN)
    assert hit["stream"] == f"/api/videos/{hit['video_id']}/stream"
    assert hit["thumbnail"] == f"/api/segments/{hit['segment_id']}/thumbnail"


def test_match_clip_shows_a_non_utf8_source_as_text(client, hostile_library, tmp_path):
    db, video = hostile_library
    cut = make_altered_clip(video, tmp_path / "cut.mp4", 1.0, 4.0, crop=0.05)
    with open(cut, "rb") as f:
        resp = client.post("/api/match-clip", params={"k": 5}, files={"clip": ("cut.mp4", f, "video/mp4")})
    body = assert_clean_json(resp, db.parent)
    assert body["clip"] == "cut.mp4"
    assert SHOWN in [m["video"] for m in body["moments"] if m.get("match") == "source"], body["moments"]
    assert uploads_left() == []


def test_stream_of_a_non_utf8_name(client, hostile_library, hostile_hit):
    _, video = hostile_library
    resp = client.get(hostile_hit["stream"])
    assert resp.status_code == 200 and resp.content == video.read_bytes()
    disposition = resp.headers["content-disposition"]
    assert disposition.isascii() and disposition.startswith("inline; ")
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded, errors="strict") == SHOWN
    part = client.get(hostile_hit["stream"], headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and part.content == video.read_bytes()[:10]
    thumb = client.get(hostile_hit["thumbnail"])
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"


# ---- 2. every bad request is a 4xx with one line ---------------------------------------------

@pytest.mark.parametrize(("url", "status"), [
    ("/api/videos/9223372036854775808/stream", 404),
    ("/api/videos/9223372036854775807/stream", 404),
    ("/api/videos/-9223372036854775809/stream", 404),
    ("/api/segments/99999999999999999999/thumbnail", 404),
    ("/api/segments/-99999999999999999999/thumbnail", 404),
    ("/api/segments/1e3/thumbnail", 422),
])
def test_ids_past_64_bits(client, url, status):
    assert_error(client.get(url), status)


@pytest.mark.parametrize(("params", "status"), [
    ({"q": "cat", "preset": "p" * 10_000}, 422),
    ({"q": "cat", "weights": "speech=1," * 1000}, 422),
    ({"q": "cat\x00\n\r\u202e"}, 200),
])
def test_hostile_query_parameters(client, params, status):
    resp = client.get("/api/search", params=params)
    if status == 200:
        assert resp.status_code == 200 and resp.content.decode("utf-8")
    else:
        assert_error(resp, status)
        assert len(resp.json()["error"]) <= 300


@pytest.mark.parametrize(("filename", "shown"), [
    ("../../../../etc/cron.d/evil.mp4", "evil.mp4"),
    ("..\\..\\windows\\evil.mp4", "evil.mp4"),
    ("/tmp/x/.hidden.mp4", "hidden.mp4"),
    ("clip\x00.mp4", "clip.mp4"),
    ("tab\tesc\x1b[31m.mp4", "tabesc[31m.mp4"),
    ("\u202egnp.mp4", "gnp.mp4"),
    ("....", "upload"),
])
def test_upload_names_are_reduced_to_a_base_name(client, filename, shown):
    # The part is written by hand: an HTTP client would escape what a hostile one sends raw.
    body = (b'--b0undary\r\nContent-Disposition: form-data; name="clip"; filename="'
            + filename.encode("utf-8") + b'"\r\nContent-Type: video/mp4\r\n\r\n\x00\x01 not a video\r\n--b0undary--\r\n')
    resp = client.post("/api/match-clip", content=body,
                       headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
    assert_error(resp, 415)
    assert resp.json()["error"].startswith(f"{shown}: "), resp.json()
    assert uploads_left() == []


def test_safe_upload_name_and_suffix():
    assert safe_upload_name("a/b\\c.mp4") == "c.mp4"
    assert safe_upload_name("\udce9t\u00e9.mov") == "\ufffdt\u00e9.mov"
    assert safe_upload_name(None) == safe_upload_name("") == safe_upload_name("..") == "upload"
    long = safe_upload_name("x" * 500 + ".webm")
    assert len(long) <= 100 and long.endswith(".webm")
    assert upload_suffix("clip.MP4") == ".mp4"
    assert upload_suffix("clip.mp4;rm -rf") == ".bin" and upload_suffix("clip") == ".bin"


def test_an_hour_long_clip_is_refused_after_the_probe(client, tmp_path):
    hour = tmp_path / "hour.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=32x32:r=1", "-t", "3600",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(hour)],
                   check=True, timeout=120)
    t0 = time.monotonic()
    with open(hour, "rb") as f:
        resp = client.post("/api/match-clip", files={"clip": ("hour.mp4", f, "video/mp4")})
    assert_error(resp, 413, "hour.mp4", "3600.0 s", "120 s")
    assert time.monotonic() - t0 < 10
    assert uploads_left() == []


def test_a_clip_whose_header_understates_its_length_is_refused_before_decoding(client, tmp_path):
    """An hour of frames in a Matroska file whose header says 5 s: the probe believes the header,
    the packet count does not."""
    hour = tmp_path / "hour.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=32x32:r=1", "-t", "3600",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(hour)],
                   check=True, timeout=120)
    data = bytearray(hour.read_bytes())
    at = data.find(bytes.fromhex("4489") + b"\x88")  # Segment Info > Duration, an 8-byte float (ms)
    assert at > 0 and struct.unpack(">d", data[at + 3:at + 11]) == (3600000.0,)
    data[at + 3:at + 11] = struct.pack(">d", 5000.0)
    liar = tmp_path / "liar.mkv"
    liar.write_bytes(bytes(data))
    assert probe(liar).duration == pytest.approx(5.0)  # what the header claims
    t0 = time.monotonic()
    resp = client.post("/api/match-clip", files={"clip": ("liar.mkv", liar.read_bytes(), "video/x-matroska")})
    assert_error(resp, 413, "liar.mkv", "3600.0 s", "header says 5.0 s", "120 s")
    assert time.monotonic() - t0 < 10
    assert uploads_left() == []


# ---- 3. limits while the body arrives (a real server, raw sockets) ---------------------------

@pytest.fixture(scope="module")
def live(hostile_library):
    """A real server with small limits: 1 MB uploads, one upload at a time, 1.5 s to send a body."""
    db, _ = hostile_library
    with serving(create_app(db, max_upload_mb=1, max_uploads=1, upload_timeout_s=1.5, warm=False)) as url:
        yield int(url.rsplit(":", 1)[1])


def _open(port: int, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=8)
    sock.sendall(head.encode("latin-1"))
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict, dict]:
    """Read one response: (status, headers, JSON body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    answer = json.loads(body)
    assert set(answer) == {"error"} and "\n" not in answer["error"], answer
    return int(lines[0].split()[1]), headers, answer


def _post_head(length: int | None = None) -> str:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return ("POST /api/match-clip HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary=b0undary\r\n{framing}\r\n")


def test_declared_length_over_the_limit_is_refused_before_reading(live):
    with _open(live, _post_head(12 << 20)) as sock:  # not one byte of the body is sent
        status, headers, body = _answer(sock)
    assert status == 413 and "1 MB" in body["error"]
    assert headers.get("connection") == "close"


def test_a_chunked_body_is_counted_while_it_arrives(live):
    total = 24 << 20
    sent = 0
    block = b"x" * 65536
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    part = b'--b0undary\r\nContent-Disposition: form-data; name="clip"; filename="big.mp4"\r\n\r\n'
    with _open(live, _post_head()) as sock:
        sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        sock.settimeout(2)
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += len(block)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server stopped reading: what counts is that it answered
        sock.settimeout(8)
        status, _, body = _answer(sock)
    assert status == 413 and "1 MB" in body["error"]
    assert sent < total, "the server read the whole 24 MB before answering"


def test_a_slow_body_times_out(live):
    t0 = time.monotonic()
    with _open(live, _post_head(4096) + "--b0undary\r\n") as sock:
        status, _, body = _answer(sock)
    assert status == 408 and "1.5 s" in body["error"]
    assert time.monotonic() - t0 < 6


def test_uploads_in_flight_are_bounded(live):
    with _open(live, _post_head(4096) + "--b0undary\r\n") as first:  # holds the only upload slot
        time.sleep(0.3)
        with _open(live, _post_head(10) + "0123456789") as second:
            status, headers, body = _answer(second)
        assert status == 503 and headers.get("retry-after", "").isdigit() and "busy" in body["error"]
        assert _answer(first)[0] == 408
    with _open(live, _post_head(10) + "0123456789") as third:  # the slot is free again
        assert _answer(third)[0] in (400, 422)


# ---- 4. Host allow-list and token ------------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "", "[::2]",
                                  "localhost:80@evil.example", "localhost:8000:1", "[::1]evil", "localhost/x",
                                  "localhost:", "localhost:port"])
def test_foreign_hosts_are_refused(client, host):
    for url in ("/api/health", "/", "/static/app.js", "/docs"):
        resp = client.get(url, headers={"Host": host})
        assert_error(resp, 400, "Host")


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "http://evil.example"}, {"Origin": "null"},
                                     {"Origin": "http://localhost:80@evil.example"}])
def test_a_browser_cannot_post_a_clip_from_another_site(client, headers):
    """Without a token, a page on any site could make its visitor's browser post to a local
    server (a form post needs no CORS preflight): a body from another site is refused."""
    clip = VIDEOS / "go_forward.mp4"  # a real cut the same request without these headers matches
    resp = client.post("/api/match-clip", headers=headers, files={"clip": ("cut.mp4", clip.read_bytes(), "video/mp4")})
    assert_error(resp, 403, "another")


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://127.0.0.1:8000"},
                                     {"Origin": "http://localhost:8000", "Sec-Fetch-Site": "same-origin"}])
def test_a_same_origin_or_non_browser_post_goes_through(client, headers):
    resp = client.post("/api/match-clip", headers=headers, files={"clip": ("cut.mp4", b"not a video", "video/mp4")})
    assert_error(resp, 415, "cut.mp4")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8000", "LOCALHOST", "[::1]:8000", "127.0.0.1:1",
                                  "localhost."])
def test_loopback_hosts_are_answered(client, host):
    assert client.get("/api/health", headers={"Host": host}).status_code == 200


def test_allowed_hosts_follow_the_bind():
    assert allowed_hosts("127.0.0.1") == allowed_hosts("localhost") == allowed_hosts("::1") == LOOPBACK_HOSTS
    assert allowed_hosts("192.168.1.5") == {"192.168.1.5"}
    assert allowed_hosts("192.168.1.5", ["Media.LAN", "[fe80::1]"]) == {"192.168.1.5", "media.lan", "fe80::1"}
    wildcard = allowed_hosts("0.0.0.0", ["media.lan"])
    assert LOOPBACK_HOSTS | {"media.lan", socket.gethostname().lower()} <= wildcard
    assert allowed_hosts("0.0.0.0", ["*"]) is None
    assert exposure_warning("127.0.0.1", None) is None and exposure_warning("0.0.0.0", TOKEN) is None
    warning = exposure_warning("0.0.0.0", None)
    assert "\n" not in warning and "--token" in warning


@pytest.fixture(scope="module")
def token_client(hostile_library):
    db, _ = hostile_library
    with TestClient(create_app(db, token=TOKEN, warm=False), base_url=LOCAL) as c:
        yield c


def test_the_api_needs_the_token(token_client):
    c = token_client
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": f"Bearer {TOKEN}x"}):
        resp = c.get("/api/health", headers=headers)
        assert_error(resp, 401, "token")
        assert resp.headers["www-authenticate"].startswith("Bearer")
    assert c.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert c.get("/api/health", headers={"Authorization": f"bearer  {TOKEN}"}).status_code == 200
    for url in ("/", "/static/app.js", "/docs", "/openapi.json"):  # no library data there
        assert c.get(url).status_code == 200
    schema = c.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


def test_a_token_is_trimmed_and_must_be_sendable(hostile_library):
    assert clean_token(f"  {TOKEN}\n") == TOKEN
    for bad in ("", "   ", "two words", "令牌", "tab\there"):
        with pytest.raises(ValueError, match="access token"):
            clean_token(bad)
    db, _ = hostile_library
    with TestClient(create_app(db, token=f" {TOKEN} ", warm=False), base_url=LOCAL) as c:
        assert c.get("/api/health", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    proc = subprocess.run([sys.executable, "-m", "vidsearch", "serve", "--db", str(db), "--token", "令牌"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "300"})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--token" in proc.stderr, proc.stderr


def test_media_urls_are_signed_and_expire(token_client, hostile_library):
    c = token_client
    auth = {"Authorization": f"Bearer {TOKEN}"}
    results = c.get("/api/search", params={"q": SPOKEN, "k": 10}, headers=auth).json()["results"]
    hit = next(m for m in results if m["video"] == SHOWN)
    other = next(m for m in results if m["video_id"] != hit["video_id"])
    stream, thumb = hit["stream"], hit["thumbnail"]
    assert "sig=" in stream and "exp=" in thumb
    resp = c.get(stream, headers={"Range": "bytes=0-9"})  # what a <video> sends: no header
    assert resp.status_code == 206 and resp.content == hostile_library[1].read_bytes()[:10]
    assert c.get(thumb).status_code == 200
    path, query = stream.split("?")
    other_path = f"/api/videos/{other['video_id']}/stream"
    served = os.fsdecode(hostile_library[0].resolve())
    expired = MediaSigner(TOKEN, served).url(path, now=time.time() - 2 * 86400)
    forged = MediaSigner("another token", served).url(path)
    other_library = MediaSigner(TOKEN, served + "2").url(path)  # same token, another server's library
    flipped = stream[:-1] + ("0" if stream[-1] != "0" else "1")
    for url in (path, f"{other_path}?{query}", expired, forged, other_library, flipped, f"{path}?exp=99999999999&sig=00",
                f"/api/search?q=cat&{query}", path + "?" + query.replace("exp=", "exp=1")):
        assert_error(c.get(url), 401, "token")
    with open(hostile_library[1], "rb") as f:  # a signature opens media, never an upload
        assert_error(c.post(f"/api/match-clip?{query}", files={"clip": ("a.mp4", f, "video/mp4")}), 401)


# ---- 5. /docs without a CDN ------------------------------------------------------------------

def test_docs_are_served_locally(client):
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in page.text and client.get(asset).status_code == 200
    assert client.get("/redoc").status_code == 404
