"""`vidsearch serve`: every API endpoint over the fixture library, bad input included."""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

import vidsearch
from tests.altered_clips import make_altered_clip
from tests.conftest import VIDEOS
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
from vidsearch.app.server import create_app
from vidsearch.query.captions import CaptionHit

REPO = Path(__file__).resolve().parent.parent
#: The server answers only the names it is bound to (not TestClient's "testserver").
LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def client(fixture_library):
    db, _, _ = fixture_library
    with TestClient(create_app(db, max_upload_mb=2), base_url=LOCAL) as c:
        yield c


@pytest.fixture(scope="module")
def cat_clip(tmp_path_factory) -> Path:
    """A 5 s, muted, slightly cropped cut of the cat video (as a phone re-upload would be)."""
    return make_altered_clip(VIDEOS / "cat and yarn.mp4", tmp_path_factory.mktemp("clip") / "cut.mp4", 4.0, 5.0,
                             crop=0.05, mute=True)


def as_served(m: dict) -> dict:
    """A moment of the CLI's JSON as the API serves it: named, not located, with its media URLs."""
    return {**m, "video": Path(m["video"]).name, "stream": f"/api/videos/{m['video_id']}/stream",
            "thumbnail": f"/api/segments/{m['segment_id']}/thumbnail"}


def without_paging(body: dict) -> dict:
    """A search answer without the keys the CLI's JSON does not have (where the page starts, and the next)."""
    return {k: v for k, v in body.items() if k not in ("offset", "next_offset")}


def uploads_left() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob("vidsearch-upload-*"))


def assert_error(resp, status: int, *words: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and "\n" not in body["error"], body
    assert "Traceback" not in resp.text
    for w in words:
        assert w in body["error"], body


def test_health_and_openapi(client, truth):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["videos"] == 7 and health["segments"] > 20
    # What the page's empty state shows: hours of video, live channels, when it was last indexed.
    assert health["duration_s"] == pytest.approx(sum(v["duration"] for v in truth["videos"].values()), abs=0.5)
    assert health["channels"] and set(health["channels"]) <= set(health["layout"])
    assert health["last_indexed"] > 1.6e9
    assert sum(health["languages"].values()) == 7 and health["languages"]["zh"] >= 1
    schema = client.get("/openapi.json").json()
    assert {"/api/search", "/api/match-clip", "/api/videos/{video_id}/stream",
            "/api/segments/{segment_id}/thumbnail", "/api/health", "/api/videos", "/api/videos/{video_id}",
            "/api/videos/{video_id}/transcript", "/api/segments/{segment_id}/similar"} <= set(schema["paths"])
    # HEAD on the stream is served but not a second operation (one id per operation, for client generators).
    assert set(schema["paths"]["/api/videos/{video_id}/stream"]) == {"get"}
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))


def _response_schema(schema: dict, path: str, method: str, status: str = "200") -> dict:
    """The JSON schema a route declares for ``status``, its ``$ref`` resolved."""
    ref = schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_openapi_declares_the_json_answers(client):
    """/docs shows what each JSON route answers: its fields, the moments inside, the error body."""
    schema = client.get("/openapi.json").json()
    parts = schema["components"]["schemas"]
    health = _response_schema(schema, "/api/health", "get")
    assert {"status", "videos", "segments", "captions", "layout", "reloads", "duration_s", "last_indexed",
            "channels", "languages"} == set(health["properties"])
    search = _response_schema(schema, "/api/search", "get")
    assert set(search["required"]) == {"query", "results", "offset", "next_offset"}
    transcript = _response_schema(schema, "/api/videos/{video_id}/transcript", "get")
    assert set(transcript["required"]) == {"video_id", "video", "duration", "language", "query", "speech", "screen"}
    assert set(parts["MarkBody"]["properties"]) == {"from", "to", "time"}
    assert search["properties"]["results"]["items"]["$ref"].endswith("/MomentBody")
    match = _response_schema(schema, "/api/match-clip", "post")
    assert set(match["required"]) == {"clip", "duration", "results", "moments"}
    assert match["properties"]["results"]["items"]["$ref"].endswith("/CaptionHitBody")
    moment = parts["MomentBody"]
    assert {"video", "video_id", "segment_id", "start", "end", "jump", "score", "channels", "snippet", "tags",
            "ocr", "stream", "thumbnail"} == set(moment["required"])
    assert "match" in moment["properties"] and moment["additionalProperties"] is False
    for path, method, status in [("/api/search", "get", "400"), ("/api/search", "get", "422"),
                                 ("/api/match-clip", "post", "415"), ("/api/videos/{video_id}/stream", "get", "404")]:
        assert _response_schema(schema, path, method, status)["required"] == ["error"]
    assert schema["info"]["version"] == vidsearch.__version__ == importlib.metadata.version("vidsearch")


def test_answers_fit_their_declared_schemas(client, cat_clip):
    """Real answers validate against the response models, which name every key they may have."""
    HealthBody.model_validate(client.get("/api/health").json())
    body = client.get("/api/search", params={"q": "猫咪玩毛线球", "k": 3}).json()
    assert SearchBody.model_validate(body).results
    with open(cat_clip, "rb") as f:
        body = client.post("/api/match-clip", params={"k": 3}, files={"clip": ("phone.mp4", f, "video/mp4")}).json()
    assert MatchClipBody.model_validate(body).moments[0].match == "source"
    # The fixture library holds no captions: a caption hit as match-clip answers it.
    hit = CaptionHit("c7", "小猫玩毛线球", 0.61, {"sku": "A-1", "price": 9.5}, {"speech": 0.2, "visual": 0.8})
    MatchClipBody.model_validate({**body, "results": [hit.to_json()]})
    ApiErrorBody.model_validate(client.get("/api/search").json())
    VideoListBody.model_validate(client.get("/api/videos").json())
    hit = client.get("/api/search", params={"q": "猫咪玩毛线球", "k": 1}).json()["results"][0]
    VideoBody.model_validate(client.get(f"/api/videos/{hit['video_id']}").json())
    TranscriptBody.model_validate(client.get(f"/api/videos/{hit['video_id']}/transcript", params={"q": "kitten"}).json())
    SimilarBody.model_validate(client.get(f"/api/segments/{hit['segment_id']}/similar").json())
    with pytest.raises(ValidationError):  # a key the model does not name is refused
        SearchBody.model_validate({"query": "x", "results": [], "unexpected": 1})


def test_search_answers_like_the_cli(client, fixture_library):
    """The CLI's JSON, except that a video is named, not located, and comes with its media URLs."""
    db, _, _ = fixture_library
    resp = client.get("/api/search", params={"q": "猫咪玩毛线球", "k": 3})
    assert resp.status_code == 200
    body = resp.json()
    assert body["results"][0]["video"] == "cat and yarn.mp4"
    cli = subprocess.run([sys.executable, "-m", "vidsearch", "search", "--db", str(db), "-k", "3", "--json",
                          "猫咪玩毛线球"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    assert body.pop("offset") == 0 and body.pop("next_offset") == 3
    assert body == {**expected, "results": [as_served(m) for m in expected["results"]]}
    # presets and weights go through as on the command line
    sale = client.get("/api/search", params={"q": "每日新鲜烘焙", "k": 1, "preset": "e-commerce"}).json()
    no_ocr = client.get("/api/search", params={"q": "每日新鲜烘焙", "k": 1, "preset": "e-commerce",
                                               "weights": "ocr=0", "min_confidence": "any"}).json()
    assert sale["results"][0]["video"] == "coffee_portrait.mp4"
    assert sale["results"][0]["score"] > no_ocr["results"][0]["score"]


def test_concurrent_searches_answer_as_one_at_a_time(client, fixture_library):
    """Eight clients at once share model calls, but each gets exactly its own answer."""
    from concurrent.futures import ThreadPoolExecutor

    from vidsearch.query.search import Searcher
    from vidsearch.store.library import Library

    db, _, _ = fixture_library
    asks = [("小猫玩耍", 5, None), ("rocket on the launch pad", 3, None), ("线路忙请稍后再拨", 5, None),
            ("fresh coffee every day", 4, "e-commerce"), ("一只鹦鹉", 5, None), ("summer dress sale", 5, "e-commerce"),
            ("the number you dialed", 2, None), ("lecture statistics", 5, None)]
    with Library.open(db, readonly=True) as lib:
        searcher = Searcher(lib)
        expected = [{"query": q, "results": [as_served(m.to_json()) for m in searcher.search(q, k, preset=p)]}
                    for q, k, p in asks]
    for body in expected:
        if not body["results"]:
            body["note"] = "no good match"
    batcher = client.app.state.service.query_batcher
    calls, encoded = batcher.calls, batcher.encoded

    def ask(a):
        q, k, p = a
        return client.get("/api/search", params={"q": q, "k": k, **({"preset": p} if p else {})})

    for _ in range(2):  # the second round's texts are remembered: no model call at all
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, asks))
        assert [r.status_code for r in answers] == [200] * len(asks)
        assert [without_paging(r.json()) for r in answers] == expected
        assert batcher.encoded - encoded == 8 and batcher.calls - calls < 8


@pytest.mark.parametrize(("params", "status", "words"), [
    ({}, 400, ["empty query"]),
    ({"q": "   "}, 400, ["empty query"]),
    ({"q": "cat", "k": 100000}, 422, ["k"]),
    ({"q": "cat", "k": 0}, 422, ["k"]),
    ({"q": "cat", "k": "ten"}, 422, ["k"]),
    ({"q": "cat", "weights": "speech=loud"}, 400, ["speech"]),
    ({"q": "cat", "weights": "smell=1"}, 400, ["smell"]),
    ({"q": "cat", "preset": "cinema"}, 400, ["cinema"]),
    ({"q": "x" * 501}, 422, ["q"]),
    ({"q": "cat", "offset": -1}, 422, ["offset"]),
    ({"q": "cat", "offset": 5000}, 422, ["offset"]),
    ({"q": "cat", "min_duration": -3}, 422, ["min_duration"]),
    ({"q": "cat", "min_duration": 30, "max_duration": 10}, 400, ["min duration 30 s is above max duration 10 s"]),
    ({"q": "cat", "video_id": "cat"}, 422, ["video_id"]),
])
def test_search_bad_input_is_a_json_error(client, params, status, words):
    assert_error(client.get("/api/search", params=params), status, *words)


def _videos(body: dict) -> list[str]:
    return [m["video"] for m in body["results"]]


def test_search_pages_continue_the_ranking(client):
    """offset + next_offset walk the ranking a page at a time: the pages laid end to end are the
    ranking asked for at once, and the last page says there is no next one."""
    ask = {"q": "kitten playing", "min_confidence": "any"}
    whole = client.get("/api/search", params={**ask, "k": 6}).json()
    assert len(whole["results"]) == 6
    pages, offset = [], 0
    while offset is not None and offset < 6:
        body = client.get("/api/search", params={**ask, "k": 2, "offset": offset}).json()
        assert body["offset"] == offset and body["results"]
        pages += body["results"]
        offset = body["next_offset"]
    assert [(m["video"], m["start"]) for m in pages] == [(m["video"], m["start"]) for m in whole["results"]]
    last = client.get("/api/search", params={**ask, "k": 100}).json()
    assert last["next_offset"] is None
    past = client.get("/api/search", params={**ask, "k": 5, "offset": len(last["results"])}).json()
    assert past["results"] == [] and past["next_offset"] is None


def test_search_filters_narrow_the_answer(client, truth):
    ask = {"q": "kitten playing", "min_confidence": "any", "k": 20}
    every = client.get("/api/search", params=ask).json()
    videos = {v["video"]: v for v in client.get("/api/videos").json()["videos"]}
    assert set(videos) == set(truth["videos"])
    assert len(set(_videos(every))) >= 4
    short = client.get("/api/search", params={**ask, "max_duration": 20}).json()
    assert short["results"] and {truth["videos"][v]["duration"] <= 20 for v in _videos(short)} == {True}
    assert "cat and yarn.mp4" not in _videos(short)  # 24 s long: its best moment is filtered out
    long_ = client.get("/api/search", params={**ask, "min_duration": 30}).json()
    assert set(_videos(long_)) == {"lecture.mp4"}
    two = [videos["cockatoo_silent.mp4"]["video_id"], videos["summer_sale.mp4"]["video_id"]]
    by_id = client.get("/api/search", params=[*ask.items(), ("video_id", two[0]), ("video_id", two[1])]).json()
    assert by_id["results"] and set(_videos(by_id)) <= {"cockatoo_silent.mp4", "summer_sale.mp4"}
    zh = client.get("/api/search", params={"q": "咖啡", "language": "zh"}).json()
    assert set(_videos(zh)) == {"coffee_portrait.mp4"}
    folder = client.get("/api/search", params={**ask, "folder": "videos"}).json()
    assert _videos(folder) == _videos(every)  # the fixture videos all sit in a folder called videos
    nowhere = client.get("/api/search", params={**ask, "folder": "no-such-folder"}).json()
    assert nowhere["results"] == [] and nowhere["note"] == "no good match"
    assert nowhere["notes"] == ["no indexed video of this library passes the filters (video ids, folder, "
                                "durations, language)"]  # nothing was searched: said, as the CLI says it
    assert "notes" not in folder
    # A weight that cannot count here is explained, as the command line explains it on stderr.
    unseen = client.get("/api/search", params={**ask, "weights": "visual=1"}).json()
    (note,) = SearchBody.model_validate(unseen).notes
    assert note.startswith("--weights visual=1: this library has no visual channel"), note


def test_transcript_marks_the_query_words(client):
    hit = client.get("/api/search", params={"q": "kitten playing with yarn", "k": 1}).json()["results"][0]
    body = client.get(f"/api/videos/{hit['video_id']}/transcript", params={"q": "kitten playing"}).json()
    assert body["video"] == "cat and yarn.mp4" and body["duration"] == pytest.approx(24.0, abs=0.1)
    starts = [ln["start"] for ln in body["speech"]]
    assert starts == sorted(starts) and len(starts) >= 2
    marked = [ln for ln in body["speech"] if ln["marks"]]
    assert len(marked) == 1, body["speech"]
    line = marked[0]
    words = [line["text"][m["from"]:m["to"]].lower() for m in line["marks"]]
    assert words == ["kitten", "playing"], line
    kitten = line["marks"][0]["time"]
    assert line["start"] <= kitten < line["end"] and kitten > line["start"] + 0.3  # the word, not the line
    assert any(ln["text"] == "vidsearch demo" for ln in body["screen"])  # the bumper's on-screen text
    plain = client.get(f"/api/videos/{hit['video_id']}/transcript").json()
    assert all(not ln["marks"] for ln in plain["speech"] + plain["screen"])
    # Chinese: marked by character pairs, in speech and on screen
    coffee = next(v for v in client.get("/api/videos").json()["videos"] if v["video"] == "coffee_portrait.mp4")
    zh = client.get(f"/api/videos/{coffee['video_id']}/transcript", params={"q": "咖啡"}).json()
    assert [ln["text"][m["from"]:m["to"]] for ln in zh["screen"] for m in ln["marks"]] == ["咖啡"]


def test_video_and_more_like_this(client):
    hit = client.get("/api/search", params={"q": "rocket launch", "k": 1}).json()["results"][0]
    video = client.get(f"/api/videos/{hit['video_id']}").json()
    assert video["video"] == "rocket_launch.mp4" and video["stream"] == hit["stream"]
    assert video["duration"] == pytest.approx(25.0, abs=0.1) and video["segments"] >= 3
    more = client.get(f"/api/segments/{hit['segment_id']}/similar", params={"k": 4}).json()
    assert more["segment_id"] == hit["segment_id"] and 0 < len(more["results"]) <= 4
    assert hit["segment_id"] not in {m["segment_id"] for m in more["results"]}  # never the segment itself
    scores = [m["score"] for m in more["results"]]
    assert scores == sorted(scores, reverse=True)


def test_match_clip_upload(client, cat_clip):
    with open(cat_clip, "rb") as f:
        resp = client.post("/api/match-clip", params={"k": 3}, files={"clip": ("phone.mp4", f, "video/mp4")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["clip"] == "phone.mp4" and body["duration"] == pytest.approx(5.0, abs=0.2)
    source = body["moments"][0]
    assert source["match"] == "source" and source["video"] == "cat and yarn.mp4"
    assert source["start"] == pytest.approx(4.0, abs=1.0)
    assert uploads_left() == []  # deleted after use


@pytest.mark.parametrize(("name", "data", "ctype", "status", "words"), [
    ("notes.txt", b"hello, not a video", "text/plain", 415, ["notes.txt", "not a video"]),
    ("photo.png", (REPO / "fixtures" / "README.md").read_bytes()[:100], "image/png", 415, ["photo.png"]),
    ("fake.mp4", b"\x00\x00\x00\x18ftypmp42 but nothing else", "video/mp4", 415, ["fake.mp4"]),
    ("empty.mp4", b"", "video/mp4", 400, ["empty.mp4", "empty"]),
    ("big.mp4", b"\x00" * (3 << 20), "video/mp4", 413, ["2 MB"]),  # refused by its length, before reading
])
def test_match_clip_bad_uploads(client, name, data, ctype, status, words):
    resp = client.post("/api/match-clip", files={"clip": (name, data, ctype)})
    assert_error(resp, status, *words)
    assert uploads_left() == []


def test_a_photo_upload_is_a_one_frame_query_and_the_clip_field_is_required(client, tmp_path):
    import cv2
    from skimage import data

    photo = tmp_path / "chelsea.jpg"  # a tabby cat, from scikit-image's sample photos
    cv2.imwrite(str(photo), cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR))
    with open(photo, "rb") as f:
        resp = client.post("/api/match-clip", params={"k": 3}, files={"clip": ("chelsea.jpg", f, "image/jpeg")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["clip"] == "chelsea.jpg" and body["moments"]
    top = body["moments"][0]
    assert top["video"] == "cat and yarn.mp4" and top["match"] == "similar" and top["channels"]["tags"] > 0
    assert uploads_left() == []
    assert_error(client.post("/api/match-clip"), 422, "clip")


def test_stream_with_ranges(client, fixture_library):
    db, _, videos = fixture_library
    hit = client.get("/api/search", params={"q": "rocket launch", "k": 1}).json()["results"][0]
    data = (videos / hit["video"]).read_bytes()
    url = hit["stream"]

    full = client.get(url)
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "video/mp4" and full.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == data[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(data)}"
    tail = client.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]
    rest = client.get(url, headers={"Range": f"bytes={len(data) - 10}-"})
    assert rest.status_code == 206 and rest.content == data[-10:]
    past = client.get(url, headers={"Range": f"bytes={len(data) + 5}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(data)}"
    over = client.get(url, headers={"Range": f"bytes=10-{len(data) + 1000}"})  # clipped to the end
    assert over.status_code == 206 and over.content == data[10:]
    # A Range it cannot use (another unit, reversed, malformed) is ignored: the whole file, as
    # RFC 9110 allows, not a plain-text 400 a player cannot read.
    for odd in ("items=0-1", "bytes=5-2", "bytes=abc", "bytes="):
        whole = client.get(url, headers={"Range": odd})
        assert whole.status_code == 200 and whole.content == data, odd
    head = client.head(url)  # a player may ask for the size and type first
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(data)


@pytest.mark.parametrize(("url", "status"), [
    ("/api/videos/999999/stream", 404),
    ("/api/videos/-1/stream", 404),
    ("/api/videos/..%2F..%2Fetc%2Fpasswd/stream", 404),  # decoded to extra path parts: no route
    ("/api/videos/1.5/stream", 422),
    ("/api/segments/999999/thumbnail", 404),
    ("/api/segments/abc/thumbnail", 422),
    ("/api/videos/999999", 404),
    ("/api/videos/999999/transcript", 404),
    ("/api/videos/99999999999999999999/transcript", 404),
    ("/api/segments/999999/similar", 404),
    ("/api/segments/x/similar", 422),
    ("/api/nothing", 404),
    ("/static/../server.py", 404),
])
def test_unknown_ids_and_paths(client, url, status):
    assert_error(client.get(url), status)


def test_thumbnail_and_page(client):
    hit = client.get("/api/search", params={"q": "rocket launch", "k": 1}).json()["results"][0]
    thumb = client.get(hit["thumbnail"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


def test_server_fault_is_a_generic_json_error(fixture_library):
    db, _, _ = fixture_library
    app = create_app(db, warm=False)

    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail /root/path")

    app.state.service.searcher.page = broken
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as c:
        resp = c.get("/api/search", params={"q": "cat"})
    assert_error(resp, 500, "internal server error")
    assert "secret" not in resp.text


def test_serve_binds_to_localhost_by_default():
    proc = subprocess.run([sys.executable, "-m", "vidsearch", "serve", "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert proc.returncode == 0 and "127.0.0.1" in proc.stdout


def test_serve_answers_on_its_port_and_a_taken_port_fails_before_saying_it_serves(fixture_library):
    """The command line's server answers over a real socket; a second one asked for the same port
    ends with one line and exit 1, without loading the library or claiming to serve."""
    db, _, _ = fixture_library
    with socket.socket() as probe:  # a port free now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="300")
    serve = [sys.executable, "-m", "vidsearch", "serve", "--db", str(db), "--port", str(port)]
    server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:  # the port is bound before the models load: a request may wait for them
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=60) as resp:
                    assert resp.status == 200
                    break
            except OSError:  # refused, reset or timed out (URLError is one too)
                assert time.monotonic() < deadline, "the server did not answer within 2 minutes"
                time.sleep(0.5)
        second = subprocess.run(serve, capture_output=True, text=True, timeout=120, env=env)
        assert second.returncode == 1, second.stderr
        assert second.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_server_calibrates_against_what_the_library_holds_now(fixture_library, tmp_path):
    """After a writer's commit the server scores as a new server would: the segments a query is
    calibrated against are read again, not kept from the library as it was."""
    from vidsearch.query.search import Searcher
    from vidsearch.store.library import Library

    db = tmp_path / "db"
    shutil.copytree(fixture_library[0], db)
    app = create_app(db, warm=False)
    with TestClient(app, base_url=LOCAL) as c:
        assert c.get("/api/search", params={"q": "a cat"}).status_code == 200
        searcher = app.state.service.searcher
        before = {channel: len(rows) for channel, rows in searcher.background.items()}
        with Library.open(db) as writer:
            gone = max(writer.videos(), key=lambda v: v.n_segments)
            assert writer.delete_video(gone.path)
            writer.commit()
        answer = c.get("/api/search", params={"q": "a cat"}).json()["results"]
        served = {channel: len(rows) for channel, rows in searcher.background.items()}
    with Library.open(db, readonly=True) as library:
        fresh = Searcher(library, text_encoder=searcher.text_encoder)
        assert served == {channel: len(rows) for channel, rows in fresh.background.items()}
        assert sum(served.values()) < sum(before.values())
        assert [(m["video_id"], m["start"], m["score"]) for m in answer] == [
            (m.video_id, m.start, pytest.approx(m.score, abs=1e-5)) for m in fresh.search("a cat", 10)]


def test_captions_added_or_removed_while_serving_answer_the_next_clip(fixture_library, tmp_path, cat_clip):
    """`captions add` and `captions remove` leave the vector index as it was; the server still
    reads the corpus again for the next clip."""
    db = tmp_path / "db"
    shutil.copytree(fixture_library[0], db)
    env = dict(os.environ, HF_HUB_OFFLINE="1")

    def captions(*args: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "vidsearch", "captions", *args, "--db", str(db)],
                              capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, proc.stderr

    def ask(c: TestClient) -> list[str]:
        with open(cat_clip, "rb") as f:
            body = c.post("/api/match-clip", params={"k": 3}, files={"clip": ("cut.mp4", f, "video/mp4")}).json()
        return [hit["caption_id"] for hit in body["results"]]

    with TestClient(create_app(db, warm=False), base_url=LOCAL) as c:
        assert ask(c) == []  # the fixture library holds no captions
        captions("add", str(REPO / "fixtures" / "captions" / "captions.jsonl"))
        first, *_ = ask(c)
        captions("remove", first)
        assert first not in ask(c)
        assert c.get("/api/health").json()["captions"] > 0


@pytest.mark.slow
def test_reindex_is_picked_up_without_a_failed_request(fixture_library, tmp_path, processor):
    """A writer commits new videos while clients search: every request answers, and the new
    video is found afterwards without a restart."""
    from vidsearch.ingest.indexer import index_paths
    from vidsearch.store.library import Library

    db0, _, _ = fixture_library
    db = tmp_path / "db"
    shutil.copytree(db0, db)
    # The coffee shot with "The echo test has been completed." (mid-video: no shared intro)
    new = make_altered_clip(VIDEOS / "go_forward.mp4", tmp_path / "new_clip.mp4", 7.0, 6.0)
    query = {"q": "the echo test has been completed", "k": 20}
    statuses: list[int] = []
    stop = threading.Event()
    with TestClient(create_app(db), base_url=LOCAL) as c:
        videos_before = c.get("/api/health").json()["videos"]
        before = c.get("/api/search", params=query).json()["results"]
        assert "new_clip.mp4" not in {Path(m["video"]).name for m in before}

        def loop() -> None:
            while not stop.is_set():
                statuses.append(c.get("/api/search", params={**query, "k": 5}).status_code)

        thread = threading.Thread(target=loop)
        thread.start()
        try:
            with Library.open(db) as lib:
                report = index_paths(lib, [new], processor)
        finally:
            stop.set()
            thread.join()
        assert [p.name for p in report.indexed] == ["new_clip.mp4"], report.failed
        health = c.get("/api/health").json()
        after = c.get("/api/search", params=query).json()["results"]
    assert statuses and set(statuses) == {200}
    assert health["videos"] == videos_before + 1 and health["reloads"] >= 1
    assert "new_clip.mp4" in {Path(m["video"]).name for m in after}, after
