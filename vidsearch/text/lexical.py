"""Terms for exact-word search: the same cut for what is indexed and what is typed.

Latin letters and digits split into words (lowercased after NFKC, so full-width ``１９９`` is
``199`` and ``Ｈello`` is ``hello``); a run of Chinese characters (and kana, Hangul) becomes its
overlapping character pairs, because Chinese has no spaces and a user's substring (``课后作业``)
must match inside a longer line (``今天的课后作业第3题``) whatever its word boundaries. A run of one
character stays one term. SQLite FTS5 indexes these terms as space-separated tokens (its
``unicode61`` tokenizer then only splits on the spaces); its ``trigram`` tokenizer was the other
candidate and was rejected because it cannot match a two-character Chinese word (``包邮``,
``猫咪``), the commonest query length in Chinese.

A Latin word also matches its inflected forms (``artists`` finds ``artist``, ``striped`` finds
``stripe``, ``galaxy`` finds ``galaxies``): words with the same English Snowball stem
(:func:`stem`) that differ only by an inflection ending (:func:`is_inflection`). The stem alone
would join different words (``busy`` and ``business``, ``import`` and ``important``). The index
keeps the words as said or shown; a query's words are looked up there together with their
indexed forms (:func:`same_stem`). Speech
recognition often gets a word's ending wrong (``borrow`` heard as ``borrowed``), and a user
types a word in whatever form comes to mind. For the same reason an English number word and
its digits are forms of each other (:func:`number_form`): Whisper writes "Go forward 10 meters"
where a user types "ten meters".

A Chinese number is held as its digits (:func:`chinese_number`: ``一百九十九`` is ``199``, ``买二送一``
is ``买2送1``), and a number beside Chinese characters is paired with them like a character
(``满199减30``: ``满199 199 199减 减30 30``; a number of two digits or more is a term of its own too).
A screen shows ``第3题`` where a teacher says ``第三题``, Whisper writes ``12个小时`` or ``十二个小时`` as
it pleases, and a user types either: before this, ``买2送1`` found nothing shown as ``买二送一``,
``五斤装`` put a card trick above the fruit stall's ``5斤装`` badge, and a number split a Chinese
phrase into lone characters that lines cut into pairs do not hold (``第3题`` typed missed the ``第``
of ``课后作业第3题``). With the benchmark's Chinese queries written with their numerals in digits,
one first answer was lost before this and none after.

Speech recognition writes Chinese by sound, and often with the wrong characters for it (``又新鲜又
便宜`` heard as ``有新鲜有便宜``, ``到出去`` as ``到处去``, ``它抱着`` as ``他抱着``): a pair of
Chinese characters in a spoken line is therefore also indexed by its toneless pinyin
(:func:`sound_key`, ``又新`` and ``有新`` are both ``0you0xin``), and a query's pair finds the spoken
lines that sound like it. Tones are left out because Whisper's wrong characters often have another
tone (``又`` you4, ``有`` you3). On-screen lines keep their characters only: a misread character
looks like the right one; it does not sound like it.

Chinese letters set apart by spaces ("限 时 秒 杀": a title with wide letter spacing as OCR reads
it, or a query typed so) are joined before they are cut (:func:`vidsearch.text.script.join_spaced_letters`);
words keep their spaces. With every Chinese benchmark query typed with a space between all its
characters, 11 first answers were lost before this, 2 after (both had their digits or English
letters spaced out too: "星 空   梵 高   1 8 8 9").

Chinese is matched in one script: every Traditional character is taken to its Simplified form,
character by character (OpenCC's t2s table), in what is indexed and in what is typed, so
``限時秒殺`` typed finds ``限时秒杀`` shown and a Traditional on-screen line is found by a Simplified
query. Whisper's lines are Simplified already; on-screen text and queries come in either. With
every Chinese benchmark query typed in Traditional, first answers fell from 0.830 to 0.799 (five
lost, on-screen prices and badges among them) before this. Character by character, not by
phrase, so that a line's characters and its terms keep their positions (the transcript marks
them); a character OpenCC would keep inside a phrase (``乾隆``) becomes its usual Simplified form
on both sides alike, which is all matching needs.

How well a line matches is the share of the query's information it contains: the sum of the
inverse document frequencies of the query terms the line holds, over the sum for all query
terms (:func:`coverage`). An exact phrase covers 1.0; a line sharing only ``the`` or ``的`` covers
almost nothing, because such terms are in most lines.
"""
from __future__ import annotations

import functools
import itertools
import math
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import snowballstemmer

from vidsearch.text.script import is_cjk, is_han, join_spaced, join_spaced_letters

if TYPE_CHECKING:
    from opencc import OpenCC

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@functools.cache
def _t2s() -> OpenCC:
    from opencc import OpenCC

    return OpenCC("t2s")


@functools.lru_cache(maxsize=None)  # bounded by the CJK repertoire
def simplified_char(ch: str) -> str:
    """A Chinese character in its Simplified form (itself when it has none, or is not Chinese):
    OpenCC's t2s table, one character for one (checked over the unified block and extension A)."""
    out = _t2s().convert(ch)
    return out if len(out) == 1 else ch


def simplified(text: str) -> str:
    """``text`` with each Traditional character in its Simplified form, character by character
    (same length, same positions)."""
    return "".join(simplified_char(c) if is_cjk(c) else c for c in text)


def simplified_phrases(text: str) -> str:
    """``text`` in Simplified Chinese phrase by phrase (OpenCC t2s, which keeps ``乾隆``): what a
    transcript shows. Matching uses :func:`simplified`, which keeps positions."""
    return _t2s().convert(text)


#: How this release cuts text into terms; the exact-words index records the cut it was built
#: with (its format): 1, Chinese as written; 2, Chinese in one script and letter-spaced Chinese
#: joined; 3, Chinese numbers as digits too, paired with the characters beside them.
CUT = 3

#: Characters of Chinese numbers (Simplified; a Traditional ``萬`` or ``兩`` is taken there first).
NUMERALS = frozenset("零〇一二两三四五六七八九十百千万亿")


@functools.lru_cache(maxsize=65536)
def chinese_number(run: str) -> str | None:
    """A run of Chinese numerals, with or without digits, as Arabic digits (``一百九十九`` ->
    ``199``, ``二〇二六`` -> ``2026``, ``两万三`` -> ``23000``, ``3千`` -> ``3000``, ``一`` -> ``1``), by
    ``cn2an``; None where the run is no number (``万一``, ``千万``, ``十十``) or longer than
    :data:`NUMBER_MAX_CHARS` (a Whisper loop of ``一``)."""
    if len(run) > NUMBER_MAX_CHARS:
        return None
    import cn2an

    try:
        value = cn2an.cn2an(run, "smart")
    except Exception:  # a parser of arbitrary text: ValueError mostly, KeyError on "一亿五"
        return None
    # An int for a run with numerals; a float only for digits alone or decimals, never passed here.
    return str(value) if isinstance(value, int) and value >= 0 else None


#: Longer runs of numerals are no number anyone writes or says (a billion is ``十亿``).
NUMBER_MAX_CHARS = 20


def _join_spaced_units(text: str) -> str:
    """``text`` with the single spaces between lone units taken out, where a lone unit is one
    Chinese character or a number in digits (punctuation at its ends aside), and two numbers stay
    apart: what :func:`vidsearch.text.script.join_spaced_letters` does for letter-spaced Chinese,
    with numbers in the chain. "满 199 减 30", "全 场 5 折" and "第 3 题。" (as OCR reads a spaced price
    or badge, or a user types it) are cut as "满199减30", "全场5折" and "第3题。" are. Words keep
    their spaces ("Day 2 海边小城", "星空 梵高 1889", "1 2 3"); a half-spaced "第 3题" is not joined."""
    return text if text.isascii() else join_spaced(text, _units_join)  # ASCII: no Chinese to join


def _units_join(before: str, word: str) -> bool:
    a, b = _unit_kind(before), _unit_kind(word)
    return a is not None and b is not None and not (a == b == "number")


_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


def _unit_kind(word: str) -> str | None:
    """"han" for one Chinese character, "number" for digits (punctuation at the ends aside), else None."""
    core = _EDGE_PUNCT.sub("", word)
    if len(core) == 1 and is_han(core):
        return "han"
    return "number" if core.isascii() and core.isdigit() else None


def _char(c: str, cut: int) -> str:
    """One character as a term holds it: NFKC, lower case, Chinese in Simplified from cut 2."""
    n = unicodedata.normalize("NFKC", c).lower()
    return simplified_char(n) if cut >= 2 and len(n) == 1 and is_cjk(n) else n


def _units(token: str, cut: int, *, normalised: bool = True) -> list[tuple[str, int, int, str]]:
    """The units a token (letters and digits, no spaces) is cut from: ``(text, start, end, kind)``
    with ``kind`` "cjk" (one Chinese, Japanese or Korean letter), "number" (digits: written so,
    or from Chinese numerals from cut 3) or "word" (any other run: Latin letters, with any
    digits in it; digits alone at cut 1 and 2). ``normalised``: the token is NFKC and lower case already (as
    :func:`term_sequence` cuts a text; normalising character by character is slower)."""
    if token.isascii():  # most tokens: one word, or one number
        kind = "number" if cut >= 3 and token.isdigit() else "word"
        return [(token if normalised else token.lower(), 0, len(token), kind)]
    if normalised:
        flags = [is_cjk(c) for c in token]
        chars = [simplified_char(c) if cjk and cut >= 2 else c for c, cjk in zip(token, flags)]
    else:
        chars = [_char(c, cut) for c in token]
        flags = [is_cjk(c[:1]) for c in chars]
    if cut >= 3:  # "〇" (二〇二六) is a symbol to Unicode, not a letter: it joins the numerals
        flags = [f or c == "〇" for f, c in zip(flags, chars)]
    units: list[tuple[str, int, int, str]] = []
    for cjk, group in itertools.groupby(range(len(token)), key=flags.__getitem__):
        at = list(group)
        text = "".join(chars[i] for i in at)
        if not cjk:
            digits = cut >= 3 and text.isascii() and text.isdigit()
            units.append((text, at[0], at[-1] + 1, "number" if digits else "word"))
        else:
            units += [(chars[i], i, i + 1, "numeral" if cut >= 3 and chars[i] in NUMERALS else "cjk") for i in at]
    if cut < 3:
        return units
    # Numbers: a run of numerals and the digits beside them, as one number if it reads as one.
    out: list[tuple[str, int, int, str]] = []
    for numeric, same in itertools.groupby(units, key=lambda u: u[3] in ("number", "numeral")):
        run = list(same)
        value = (chinese_number("".join(u[0] for u in run))
                 if numeric and any(u[3] == "numeral" for u in run) else None)
        if value is not None:
            out.append((value, run[0][1], run[-1][2], "number"))
        else:  # numerals that are no number are characters again
            out += [(u[0], u[1], u[2], "cjk" if u[3] == "numeral" else u[3]) for u in run]
    return out


def _cut(token: str, cut: int, *, normalised: bool = True) -> Iterator[tuple[str, int, int]]:
    """The terms of one token with where each stands in it (see :func:`term_sequence`)."""
    units = _units(token, cut, normalised=normalised)
    if cut < 3:
        for cjk, group in itertools.groupby(units, key=lambda u: u[3] == "cjk"):
            run = list(group)
            if not cjk or len(run) == 1:
                yield from ((u[0], u[1], u[2]) for u in run)
            else:
                yield from ((a[0] + b[0], a[1], b[2]) for a, b in itertools.pairwise(run))
        return
    for word, group in itertools.groupby(units, key=lambda u: u[3] == "word"):
        run = list(group)
        if word or len(run) == 1:
            yield from ((u[0], u[1], u[2]) for u in run)
            continue
        # Chinese characters and numbers: overlapping pairs, so a phrase is found whichever way
        # its numbers are written (``买二送一``, ``买2送1``: ``买2 2送 送1``); a number of two digits
        # or more is a term of its own too (``满199减30``: ``满199 199 199减 减30 30``), found
        # alone. A single digit is not: ``一`` is in most Chinese lines ("一直", "一只"), and a
        # match on it alone says nothing.
        for k, unit in enumerate(run):
            if unit[3] == "number" and len(unit[0]) > 1:
                yield unit[0], unit[1], unit[2]
            if k + 1 < len(run):
                yield unit[0] + run[k + 1][0], unit[1], run[k + 1][2]


def terms(text: str, *, cut: int = CUT) -> list[str]:
    """The distinct terms of ``text`` in first-seen order (see the module docstring).

    ``cut`` below :data:`CUT` cuts as earlier releases did (what a reader of a library indexed
    then, and not rebuilt since, must look up): 1, Chinese as written and letter-spaced
    characters apart; 2, Chinese numbers as written."""
    return list(dict.fromkeys(term_sequence(text, cut=cut)))


def term_sequence(text: str, *, cut: int = CUT) -> list[str]:
    """Every term of ``text`` in order, repeats kept: where each word stands (:func:`terms` keeps
    each term's first place only)."""
    text = unicodedata.normalize("NFKC", text).lower()
    if cut >= 3:
        text = _join_spaced_units(text)
    elif cut == 2:
        text = join_spaced_letters(text)
    return [term for token in _WORD.findall(text) for term, _, _ in _cut(token, cut)]


def term_spans(text: str) -> list[tuple[str, int, int]]:
    """Each term of ``text`` (as this release cuts it) with the characters of ``text`` it stands
    for, ``(term, start, end)``: for marking the words a query found. Letter-spaced Chinese and
    spaced numbers are not joined here ("限 时 秒 杀", "第 3 题": found by search, not marked), and a
    character NFKC turns into letters is not part of the word here (``5㎏`` is ``5kg`` to search,
    ``5`` here)."""
    return [(term, m.start() + a, m.start() + b)
            for m in _WORD.finditer(text) for term, a, b in _cut(m.group(), CUT, normalised=False)]


_SOUND_MARK = "0"  # starts and joins a sound key: no word said or shown is written so


@functools.lru_cache(maxsize=65536)
def sound_key(term: str) -> str | None:
    """The toneless pinyin of a pair of Chinese characters as one index term (``又新`` and ``有新``:
    ``0you0xin``); None for any other term. A character with several readings gets its commonest
    (pypinyin's first), the same wherever it stands, so a pair always has one key. A digit beside
    a Chinese character (a Chinese number as the index holds it, :data:`CUT`) sounds as its
    numeral does (``5斤``: ``0wu0jin``; ``2`` is ``er``, whether written ``二`` or ``两``)."""
    if len(term) != 2 or not any(is_cjk(c) for c in term):
        return None
    sounds = [_reading(c) for c in term]
    if not all(sounds):
        return None  # not Chinese (Latin, kana, Hangul) or a character pypinyin does not know
    return _SOUND_MARK + _SOUND_MARK.join(s for s in sounds if s)


_DIGIT_READINGS = dict(zip("0123456789", "ling yi er san si wu liu qi ba jiu".split()))


@functools.lru_cache(maxsize=8192)
def _reading(char: str) -> str | None:
    """A Chinese character's commonest reading without its tone (``绿`` -> ``lv``), a digit's as a
    Chinese numeral (``5`` -> ``wu``), or None."""
    if char in _DIGIT_READINGS:
        return _DIGIT_READINGS[char]
    if not is_cjk(char):
        return None
    from pypinyin.pinyin_dict import pinyin_dict

    readings = pinyin_dict.get(ord(char))
    if not readings:
        return None
    first = unicodedata.normalize("NFD", readings.split(",")[0]).replace("u\u0308", "v")
    plain = "".join(c for c in first if not unicodedata.combining(c))
    return plain if plain.isascii() and plain.isalpha() else None


def sound_keys(words: Iterable[str]) -> list[str]:
    """The distinct sound keys of ``words``' Chinese pairs (:func:`sound_key`), in order."""
    return list(dict.fromkeys(k for w in words if (k := sound_key(w)) is not None))


#: Latin words shorter than this are their own stem (``new`` and ``news`` stay apart).
STEM_MIN_CHARS = 4
_STEMMER = snowballstemmer.stemmer("english")
_STEM_LOCK = threading.Lock()  # a Snowball stemmer keeps state between calls


@functools.lru_cache(maxsize=65536)
def stem(term: str) -> str:
    """The English Snowball stem of a Latin word of :data:`STEM_MIN_CHARS` letters or more; any
    other term (digits, Chinese pairs, short words) is its own stem."""
    if len(term) < STEM_MIN_CHARS or not term.isascii() or not term.isalpha():
        return term
    with _STEM_LOCK:
        return str(_STEMMER.stemWord(term))


#: Word endings that make another form of the same word (plural, past, -ing, comparative...).
INFLECTIONS = frozenset({"", "s", "es", "e", "ed", "d", "ing", "y", "ies", "ied", "ier", "iest", "er", "est"})


def is_inflection(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ only by inflection endings after their common beginning
    (``galaxy``/``galaxies``, ``run``/``running``: a doubled last letter is allowed), not by a
    derivation (``busy``/``business``)."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    rests = [a[n:], b[n:]]
    if n:
        rests = [r[1:] if r[:1] == a[n - 1] and r[1:] in INFLECTIONS else r for r in rests]
    return all(r in INFLECTIONS for r in rests)


def stem_prefix(term: str) -> str | None:
    """The prefix every indexed form of ``term`` starts with (its stem less the last letter:
    ``galaxy`` and ``galaxies`` both stem to ``galaxi``), or None when ``term`` only matches
    itself (a short word, digits, Chinese, or a stem under three letters: ``being`` -> ``be``)."""
    if len(term) < STEM_MIN_CHARS or not term.isascii() or not term.isalpha():
        return None
    s = stem(term)
    if len(s) < STEM_MIN_CHARS - 1:
        return None
    return s[:max(STEM_MIN_CHARS - 1, len(s) - 1)]


_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                 "sixteen seventeen eighteen nineteen twenty").split()
_TENS = {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
         "ninety": "90"}
#: English number words and their digits, both ways (``ten`` <-> ``10``): zero to twenty and the
#: tens. Not "hundred" or "thousand": "three hundred" is not "100", and Whisper writes "1,000",
#: two terms. "one" also stands for "1" where it is a pronoun; its inverse document frequency
#: keeps such a common word from deciding a match.
NUMBER_FORMS = {**{w: str(i) for i, w in enumerate(_NUMBER_WORDS)}, **_TENS}
NUMBER_FORMS.update({digits: word for word, digits in list(NUMBER_FORMS.items())})


def number_form(term: str) -> str | None:
    """The other way of writing a number term (``ten`` -> ``10``, ``10`` -> ``ten``), or None."""
    return NUMBER_FORMS.get(term)


def is_form(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are forms of one word: the same stem, and only inflection endings
    apart; or a number written as a word and as digits."""
    return (stem(a) == stem(b) and is_inflection(a, b)) or number_form(a) == b


def same_stem(term: str, candidates: Iterable[str]) -> list[str]:
    """``term`` and the ``candidates`` that are forms of it (:func:`is_form`)."""
    return list(dict.fromkeys([term, *(c for c in candidates if is_form(term, c))]))


def idf(df: int, n: int) -> float:
    """Inverse document frequency of a term found in ``df`` of ``n`` lines (> 0 even for df = n)."""
    return math.log((n + 1.0) / (df + 0.5))


#: Matched term weight that counts as fully specific: a term found in one line in a thousand.
SPECIFIC_IDF = math.log(1000.0)


def coverage(query_terms: Iterable[str], line_terms: Iterable[str], weights: Mapping[str, float]) -> float:
    """The share of the query's term weight (``weights``: idf per term) found in a line, 0..1."""
    q = list(dict.fromkeys(query_terms))
    total = sum(weights.get(t, 0.0) for t in q)
    if total <= 0:
        return 0.0
    have = set(line_terms)
    return sum(weights.get(t, 0.0) for t in q if t in have) / total


def run_in_order(query_terms: Sequence[str], line_terms: Sequence[str | None]) -> list[str]:
    """The longest run of the query's terms, one after another in its order, that a line holds
    one after another too: ``line_terms`` is the line's term sequence (:func:`term_sequence`), each
    term mapped to the query term it stands for (None for a term that is not the query's).
    "sense and sensibility" is a run of three in "sense and sensibility by jane austen";
    "sensibility and sense" is not. ``query_terms`` are taken once each, in first-seen order."""
    query = list(dict.fromkeys(query_terms))
    best_len, best_end = 0, 0
    # Longest common run of the two sequences (dynamic programming over the line's positions).
    previous = [0] * (len(query) + 1)
    for term in line_terms:
        current = [0] * (len(query) + 1)
        if term is not None:
            for j, q in enumerate(query, 1):
                if q == term:
                    current[j] = previous[j - 1] + 1
                    if current[j] > best_len:
                        best_len, best_end = current[j], j
        previous = current
    return query[best_end - best_len:best_end]


def specificity(query_terms: Iterable[str], line_terms: Iterable[str], weights: Mapping[str, float]) -> float:
    """How much the matched terms single a line out, 0..1: their summed idf over
    :data:`SPECIFIC_IDF`. A one-word query that is a stop word (``the``, ``的``) covers its lines
    fully but is in most of them; this keeps such a match from counting as an exact hit."""
    have = set(line_terms)
    return min(1.0, sum(weights.get(t, 0.0) for t in dict.fromkeys(query_terms) if t in have) / SPECIFIC_IDF)
