"""The web page in a real browser: search, click a result, the player lands on the moment's second.

Headless Debian Chromium driven by Selenium over the server started in-process on the fixture
library. Needs ``apt-get install -y chromium chromium-driver fonts-noto-cjk`` (and ``pip install
selenium``). Screenshots go to ``test-artifacts/``.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, VIDEOS
from tests.live_server import serving

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
#: A Chinese query whose first hit is the kitten scene of "cat and yarn.mp4" (see test_end_to_end).
QUERY = "猫咪玩毛线球"
QUERY_VIDEO = "cat and yarn.mp4"
WAIT_S = 15
TOKEN = "web-page-token"


def _fmt(t: float) -> str:
    """The page's time format: 4.2 -> 0:04.2."""
    tenths = round(t * 10)
    return f"{tenths // 600}:{tenths % 600 / 10:04.1f}"


@pytest.fixture(scope="module")
def base_url(fixture_library):
    """The vidsearch server (API + page) over the fixture library, in a thread of this process."""
    from vidsearch.app.server import create_app

    db, _, _ = fixture_library
    with serving(create_app(db)) as url:
        yield url


@pytest.fixture(scope="module")
def token_url(fixture_library):
    """The same server started with --token."""
    from vidsearch.app.server import create_app

    db, _, _ = fixture_library
    with serving(create_app(db, token=TOKEN, warm=False)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (the system's, with its chromedriver: Selenium Manager downloads nothing)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install selenium")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail("the browser test needs Chromium and its driver: "
                    "apt-get install -y chromium chromium-driver fonts-noto-cjk")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900", "--lang=en-US",
                "--mute-audio", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait(driver, condition, message: str, timeout: float = WAIT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message)


def _search(driver, base_url: str, query: str) -> list:
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/")
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(query)
    driver.find_element(By.ID, "search-button").click()
    return _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"),
                 f"no result card for {query!r}")


def _error_text(driver) -> str:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.ID, "error")
    return el.text.strip() if el.is_displayed() else ""


def _screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    print(f"screenshot: {path}")
    return path


def _wait_landed(driver, jump: float) -> list:
    """Wait until the player has its metadata and stands within 1 s of ``jump``: [currentTime, readyState, lastJump]."""
    def landed(d):
        state = d.execute_script("const p = document.getElementById('player');"
                                 "return [p.currentTime, p.readyState, window.vidsearchLastJump];")
        return state if state[1] >= 1 and abs(state[0] - jump) <= 1.0 else False

    return _wait(driver, landed, f"the player did not reach {jump} s")


def _external_urls(driver, base_url: str) -> list[str]:
    """Every script/stylesheet/image/media URL of the page (and every resource it fetched) not from base_url."""
    urls = driver.execute_script("""
        const out = [];
        for (const s of document.querySelectorAll('script[src]')) out.push(s.src);
        for (const l of document.querySelectorAll('link[href]')) out.push(l.href);
        for (const i of document.querySelectorAll('img[src], video[src], source[src]')) out.push(i.src);
        for (const r of performance.getEntriesByType('resource')) out.push(r.name);
        return out;""")
    return [u for u in urls if not (u.startswith(base_url + "/") or u.startswith("data:") or u.startswith("blob:"))]


def test_search_click_plays_at_the_moment(browser, base_url):
    from selenium.webdriver.common.by import By

    cards = _search(browser, base_url, QUERY)
    first = cards[0]
    assert first.get_attribute("data-video") == QUERY_VIDEO, [c.get_attribute("data-video") for c in cards]
    jump = float(first.get_attribute("data-jump"))
    start, end = float(first.get_attribute("data-start")), float(first.get_attribute("data-end"))
    assert start <= jump <= end
    assert QUERY_VIDEO in first.text and "–" in first.text  # file name and the m:ss.s–m:ss.s span
    thumb = first.find_element(By.CSS_SELECTOR, "img")
    _wait(browser, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb),
          "the thumbnail did not load")

    first.click()
    player = browser.find_element(By.ID, "player")
    current, ready, last_jump = _wait_landed(browser, jump)
    assert abs(current - jump) <= 1.0 and ready >= 1
    assert last_jump == pytest.approx(jump)
    assert player.get_attribute("src").endswith(f"/api/videos/{first.get_attribute('data-video-id')}/stream")
    now = browser.find_element(By.ID, "now-playing").text
    assert now == f"playing {QUERY_VIDEO} from {_fmt(jump)} (moment {_fmt(start)}–{_fmt(end)})", now
    assert browser.find_element(By.ID, "timeline").is_displayed()
    assert not _error_text(browser)
    assert _external_urls(browser, base_url) == []
    # Let a frame paint before the picture is taken (playback may be blocked: the seek is what counts).
    time.sleep(0.5)
    _screenshot(browser, "web-search.png")


def test_no_good_match_then_weaker_matches_on_request(browser, base_url):
    """A query nothing answers shows "no good match" and no filler cards; the weaker matches come
    only when asked for, each labelled low."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/")
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("quantum chromodynamics of gluon plasma")
    browser.find_element(By.ID, "search-button").click()
    weaker = _wait(browser, lambda d: d.find_element(By.ID, "weaker") if d.find_element(By.ID, "weaker").is_displayed()
                   else False, "no 'show weaker matches' button")
    assert "no good match" in browser.find_element(By.ID, "status").text
    assert browser.find_elements(By.CSS_SELECTOR, "#results .card") == []
    weaker.click()
    cards = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"), "no weaker matches shown")
    assert all("low" in c.find_element(By.CSS_SELECTOR, ".confidence").text for c in cards)
    assert "weaker matches" in browser.find_element(By.ID, "results-title").text
    assert not browser.find_element(By.ID, "weaker").is_displayed()
    assert not _error_text(browser)


def test_phone_screen_one_column(browser, base_url):
    from selenium.webdriver.common.by import By

    size = browser.get_window_size()
    browser.set_window_size(390, 844)
    try:
        cards = _search(browser, base_url, "rocket launch")
        assert len(cards) >= 2 and cards[0].get_attribute("data-video") == "rocket_launch.mp4"
        viewport = browser.execute_script("return document.documentElement.clientWidth")
        assert viewport <= 420
        rects = [c.rect for c in cards]
        assert len({round(r["x"]) for r in rects}) == 1, rects  # one column
        assert all(r["x"] >= 0 and r["x"] + r["width"] <= viewport + 1 for r in rects), (viewport, rects)
        assert all(r["width"] >= viewport * 0.8 for r in rects), (viewport, rects)
        assert all(b["y"] > a["y"] for a, b in zip(rects, rects[1:]))
        cards[0].click()  # the player shows up, full width, and lands on the moment
        _wait_landed(browser, float(cards[0].get_attribute("data-jump")))
        player = browser.find_element(By.ID, "player").rect
        assert player["width"] >= viewport * 0.9, (viewport, player)
        assert browser.execute_script("return document.documentElement.scrollWidth") <= viewport + 1
        time.sleep(0.5)
        _screenshot(browser, "web-phone.png")
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_empty_query_shows_the_api_error(browser, base_url):
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/")
    browser.find_element(By.ID, "search-button").click()
    text = _wait(browser, _error_text, "no error shown for an empty query")
    assert "empty query" in text
    assert not browser.find_elements(By.CSS_SELECTOR, "#results .card")


def _upload(driver, base_url: str, path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/")
    driver.find_element(By.ID, "clip").send_keys(str(path))
    driver.find_element(By.ID, "clip-button").click()


def test_uploading_a_non_video_shows_an_error(browser, base_url, tmp_path):
    from selenium.webdriver.common.by import By

    note = tmp_path / "notes.txt"
    note.write_text("not a video at all\n", encoding="utf-8")
    _upload(browser, base_url, note)
    text = _wait(browser, _error_text, "no error shown for a text upload")
    assert "notes.txt" in text and "not a video" in text, text
    assert not browser.find_elements(By.CSS_SELECTOR, "#results .card")


def test_uploading_a_photo_finds_the_moments_that_look_like_it(browser, base_url, tmp_path):
    import cv2
    from selenium.webdriver.common.by import By
    from skimage import data

    photo = tmp_path / "chelsea.jpg"  # a tabby cat
    cv2.imwrite(str(photo), cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR))
    _upload(browser, base_url, photo)
    cards = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card") or _error_text(d),
                  "no moment listed for the uploaded photo", timeout=30)
    assert not isinstance(cards, str), f"the upload failed: {cards}"
    assert cards[0].get_attribute("data-video") == "cat and yarn.mp4"
    assert all(c.get_attribute("data-match") == "similar" for c in cards)


def test_uploading_a_clip_finds_its_source(browser, base_url, tmp_path):
    from selenium.webdriver.common.by import By

    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "4", "-t", "5", "-i", str(VIDEOS / QUERY_VIDEO),
                    "-an", str(clip)], check=True, timeout=60)
    _upload(browser, base_url, clip)
    cards = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card") or _error_text(d),
                  "no moment listed for the uploaded clip", timeout=30)
    assert not isinstance(cards, str), f"the upload failed: {cards}"
    assert not _error_text(browser)
    assert browser.find_element(By.ID, "captions-panel").is_displayed()  # the caption list (may be empty)
    first = cards[0]
    assert first.get_attribute("data-match") == "source", [(c.get_attribute("data-video"), c.get_attribute("data-match")) for c in cards]
    assert first.get_attribute("data-video") == QUERY_VIDEO
    assert "source" in first.text.lower()
    start, end = float(first.get_attribute("data-start")), float(first.get_attribute("data-end"))
    assert start < 9 and end > 4, (start, end)  # overlaps the 4-9 s the clip was cut from
    # Source moments come first, then the similar ones.
    matches = [c.get_attribute("data-match") for c in cards]
    assert matches == sorted(matches, key=lambda m: m != "source"), matches
    _screenshot(browser, "web-match-clip.png")


def test_the_page_works_with_a_token(browser, token_url):
    """Opened as /#token=..., the page keeps the token for the tab, and plays from signed URLs."""
    from selenium.webdriver.common.by import By

    browser.get(f"{token_url}/#token={TOKEN}")
    assert "token" not in browser.current_url  # taken out of the address bar at once
    cards = _search(browser, token_url, QUERY)  # a new page load: the tab's sessionStorage holds it
    first = cards[0]
    assert first.get_attribute("data-video") == QUERY_VIDEO
    thumb = first.find_element(By.CSS_SELECTOR, "img")
    _wait(browser, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", thumb),
          "the signed thumbnail did not load")
    first.click()
    _wait_landed(browser, float(first.get_attribute("data-jump")))
    src = browser.find_element(By.ID, "player").get_attribute("src")
    assert "/stream?exp=" in src and "&sig=" in src, src
    assert not _error_text(browser)
    assert _external_urls(browser, token_url) == []


def test_docs_render_offline(browser, base_url):
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/docs")
    ops = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"), "Swagger UI showed no endpoint")
    assert any("/api/search" in op.text for op in ops)
    assert _external_urls(browser, base_url) == []


# ---- moments: deep links, transcript, filters, paging, language, export ---------------------------

def _api(base_url: str, path: str):
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base_url}{path}", timeout=WAIT_S) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _video_id(base_url: str, name: str) -> int:
    return next(v["video_id"] for v in _api(base_url, "/api/videos")["videos"] if v["video"] == name)


def _player(driver) -> dict:
    return driver.execute_script("const p = document.getElementById('player');"
                                 "return {t: p.currentTime, paused: p.paused, ready: p.readyState, src: p.src};")


def _url_params(driver) -> dict:
    from urllib.parse import parse_qs, urlparse

    return {k: v[0] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def _card_videos(driver) -> list[str]:
    """The listed cards' video names, read in one script (cards are replaced while a search answers)."""
    return driver.execute_script("return [...document.querySelectorAll('#results .card')].map(c => c.dataset.video)")


def test_empty_state_shows_the_library(browser, base_url, truth):
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/")
    facts = _wait(browser, lambda d: {e.get_attribute("data-fact"): e.text
                                      for e in d.find_elements(By.CSS_SELECTOR, "#library-facts dd")} or False,
                  "no library status shown")
    assert facts["videos"] == str(len(truth["videos"]))
    assert facts["length"] == "3 min"  # 154.6 s of fixture video
    assert "speech" in facts["channels"] and facts["last-indexed"]
    assert not browser.find_element(By.ID, "player").is_displayed()  # no large black box


def test_deep_link_opens_the_video_at_t_and_plays(browser, base_url):
    from selenium.webdriver.common.by import By

    vid = _video_id(base_url, QUERY_VIDEO)
    browser.get(f"{base_url}/?v={vid}&t=14.5")
    state = _wait(browser, lambda d: (s := _player(d))["ready"] >= 1 and s["t"] >= 14.4 and s, "the link did not seek")
    assert state["src"].endswith(f"/api/videos/{vid}/stream") and state["t"] < 16
    _wait(browser, lambda d: not _player(d)["paused"] and _player(d)["t"] > 14.6, "the linked video does not play")
    assert browser.find_element(By.ID, "now-playing").text.startswith(f"playing {QUERY_VIDEO} from 0:14.5")
    # The address follows playback, and "copy link" hands out this second.
    _wait(browser, lambda d: float(_url_params(d).get("t", 0)) > 14.5, "the address did not follow playback")
    browser.find_element(By.ID, "copy-link").click()
    copied = _wait(browser, lambda d: d.find_element(By.ID, "link-box").get_attribute("value"), "no link made")
    assert f"v={vid}" in copied and "t=1" in copied, copied
    assert not _error_text(browser)


def test_clicked_moment_is_in_the_address_and_its_link_reopens_it(browser, base_url):
    cards = _search(browser, base_url, "rocket launch")
    first = cards[0]
    jump = float(first.get_attribute("data-jump"))
    first.click()
    _wait_landed(browser, jump)
    params = _wait(browser, lambda d: (p := _url_params(d)).get("v") and p, "no v= in the address")
    assert params["q"] == "rocket launch" and params["v"] == first.get_attribute("data-video-id")
    assert abs(float(params["t"]) - jump) <= 1.5
    browser.get(browser.current_url)  # the shared link: the same search, the same video and second
    _wait(browser, lambda d: _card_videos(d), "the link did not search")
    _wait(browser, lambda d: (s := _player(d))["ready"] >= 1 and abs(s["t"] - float(params["t"])) <= 1.5,
          "the link did not open the moment")


def test_transcript_highlights_the_query_and_seeks(browser, base_url):
    from selenium.webdriver.common.by import By

    cards = _search(browser, base_url, "kitten playing")
    assert cards[0].get_attribute("data-video") == QUERY_VIDEO
    cards[0].click()
    marks = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#transcript-speech mark"), "nothing marked")
    assert [m.text.lower() for m in marks] == ["kitten", "playing"]
    line = marks[0].find_element(By.XPATH, "./ancestor::li")
    assert "matched" in line.get_attribute("class") and line.text.startswith("0:0")  # m:ss.s, not seconds
    lines = browser.find_elements(By.CSS_SELECTOR, "#transcript-speech li.line")
    other = next(li for li in lines if "matched" not in li.get_attribute("class"))
    start = float(other.get_attribute("data-start"))
    other.click()
    _wait(browser, lambda d: abs(_player(d)["t"] - start) <= 0.6, f"the line click did not seek to {start}")
    word_time = float(marks[0].get_attribute("data-time"))
    assert float(line.get_attribute("data-start")) < word_time  # the word, later than its line
    marks[0].click()
    _wait(browser, lambda d: abs(_player(d)["t"] - word_time) <= 0.6, f"the word click did not seek to {word_time}")
    screen = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#transcript-screen li")]
    assert any("vidsearch demo" in s for s in screen), screen
    time.sleep(0.3)
    _screenshot(browser, "web-transcript.png")


def test_a_filter_narrows_the_results(browser, base_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _search(browser, base_url, "kitten playing")
    before = _card_videos(browser)
    assert len(set(before)) >= 3, before
    browser.find_element(By.CSS_SELECTOR, "#filters summary").click()
    vid = _video_id(base_url, QUERY_VIDEO)
    picker = _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#f-video option")) > 1
                   and d.find_element(By.ID, "f-video"), "no videos to pick")
    Select(picker).select_by_value(str(vid))
    _wait(browser, lambda d: (v := _card_videos(d)) and set(v) == {QUERY_VIDEO}, "the filter did not narrow")
    assert len(_card_videos(browser)) < len(before)
    assert _url_params(browser)["video_id"] == str(vid)
    assert browser.find_element(By.ID, "filter-count").text == "(1)"
    browser.find_element(By.ID, "f-clear").click()
    _wait(browser, lambda d: len(set(_card_videos(d))) >= 3, "clearing the filter did not widen the results")


def test_load_more_appends(browser, base_url):
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/?q=kitten+playing&k=2")
    _wait(browser, lambda d: len(_card_videos(d)) == 2, "no first page")
    first_page = _card_videos(browser)
    more = browser.find_element(By.ID, "load-more")
    assert more.is_displayed()
    more.click()
    _wait(browser, lambda d: len(_card_videos(d)) == 4, "load more did not append")
    assert _card_videos(browser)[:2] == first_page
    starts = [(c.get_attribute("data-video"), c.get_attribute("data-start"))
              for c in browser.find_elements(By.CSS_SELECTOR, "#results .card")]
    assert len(set(starts)) == 4  # no moment twice
    for _ in range(5):
        if not more.is_displayed():
            break
        n = len(_card_videos(browser))
        more.click()
        _wait(browser, lambda d, n=n: len(_card_videos(d)) > n or not more.is_displayed(), "load more hung")
    assert not more.is_displayed()
    assert "moments for" in browser.find_element(By.ID, "results-title").text
    assert str(len(_card_videos(browser))) in browser.find_element(By.ID, "results-title").text


def test_export_json_and_csv(browser, base_url):
    import csv
    import io
    import json

    from selenium.webdriver.common.by import By

    cards = _search(browser, base_url, QUERY)
    browser.find_element(By.ID, "export-json").click()
    exported = _wait(browser, lambda d: d.execute_script("return window.vidsearchLastExport"), "nothing exported")
    body = json.loads(exported["text"])
    assert exported["name"].endswith(".json") and body["query"] == QUERY
    assert [m["video"] for m in body["results"]] == [c.get_attribute("data-video") for c in cards]
    assert f"v={body['results'][0]['video_id']}" in body["results"][0]["link"]
    browser.find_element(By.ID, "export-csv").click()
    exported = _wait(browser, lambda d: (e := d.execute_script("return window.vidsearchLastExport"))["name"].endswith(".csv")
                     and e, "no CSV exported")
    rows = list(csv.DictReader(io.StringIO(exported["text"].lstrip("\ufeff"))))
    assert len(rows) == len(cards) and rows[0]["video"] == QUERY_VIDEO
    assert rows[0]["jump"] == _fmt(float(cards[0].get_attribute("data-jump")))  # m:ss.s, as on the page


def test_more_like_this(browser, base_url):
    from selenium.webdriver.common.by import By

    cards = _search(browser, base_url, "rocket launch")
    segment = cards[0].get_attribute("data-segment-id")
    cards[0].find_element(By.CSS_SELECTOR, ".more-like").click()
    _wait(browser, lambda d: "moments like rocket_launch.mp4" in d.find_element(By.ID, "results-title").text,
          "no 'more like this' answer")
    ids = [c.get_attribute("data-segment-id") for c in browser.find_elements(By.CSS_SELECTOR, "#results .card")]
    assert ids and segment not in ids
    assert not _player(browser)["src"]  # the button does not play the card


def test_times_are_minutes_and_seconds(browser, base_url):
    """Every time the page shows is m:ss.s: no raw seconds such as 151.97."""
    import re

    from selenium.webdriver.common.by import By

    cards = _search(browser, base_url, "kitten playing")
    cards[0].click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#transcript-speech .line-time"), "no transcript")
    clock = re.compile(r"\d+:\d\d\.\d")
    texts = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".span-badge, .line-time")]
    texts += [e.get_attribute("textContent") for e in browser.find_elements(By.CSS_SELECTOR, ".card .time")]
    assert texts and all(clock.fullmatch(x) or clock.search(x) for x in texts), texts
    for x in texts + [browser.find_element(By.ID, "now-playing").text]:
        assert not re.search(r"(?<![\d:.])\d+\.\d{2,}", x), x


def test_chinese_ui_when_the_browser_prefers_it(browser, base_url):
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Emulation.setLocaleOverride", {"locale": "zh-CN"})
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": browser.execute_script("return navigator.userAgent"),
                                                              "acceptLanguage": "zh-CN,zh"})
    try:
        browser.get(f"{base_url}/")
        assert browser.execute_script("return navigator.language").startswith("zh")
        assert browser.find_element(By.ID, "search-button").text == "搜索"
        assert browser.execute_script("return document.documentElement.lang") == "zh-CN"
        _wait(browser, lambda d: "视频" in d.find_element(By.ID, "library-facts").text, "library status not in Chinese")
        box = browser.find_element(By.ID, "q")
        box.send_keys(QUERY)
        browser.find_element(By.ID, "search-button").click()
        _wait(browser, lambda d: "个片段" in d.find_element(By.ID, "results-title").text, "no Chinese results title")
        cards = browser.find_elements(By.CSS_SELECTOR, "#results .card")
        assert "跳到" in cards[0].text and cards[0].find_element(By.CSS_SELECTOR, ".confidence").text in ("高", "中", "低")
        cards[0].click()
        _wait(browser, lambda d: d.find_element(By.ID, "now-playing").text.startswith("正在播放"), "player not in Chinese")
        _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".transcript-panel h2").text == "字幕", "no transcript")
        time.sleep(0.3)
        _screenshot(browser, "web-zh.png")
        # The switch turns the page to English and keeps the choice.
        browser.find_element(By.ID, "lang-switch").click()
        assert browser.find_element(By.ID, "search-button").text == "Search"
        browser.get(f"{base_url}/")
        assert browser.find_element(By.ID, "search-button").text == "Search"
    finally:
        browser.execute_script("localStorage.clear()")
        browser.execute_cdp_cmd("Emulation.setLocaleOverride", {})
        browser.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": browser.execute_script("return navigator.userAgent"),
                                                                  "acceptLanguage": "en-US,en"})
