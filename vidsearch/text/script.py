"""Which script a character is written in: Han, kana, Hangul, CJK punctuation.

Stages ask different questions of the same characters, so the classes stay apart and each
caller picks what it means: "is this text Chinese" (Traditional -> Simplified conversion,
language centring, a lone OCR character worth keeping) is :func:`is_han`; "is this a letter
of a script where one character is a weak, substring-matching unit" (synonym variants,
repeated-character runs) is :func:`is_cjk`; "is this written without spaces around it"
(joining Whisper word tokens) is :func:`is_unspaced`, which adds CJK punctuation and
fullwidth forms but leaves out Hangul, since Korean puts spaces between its words.

The constants are regex character-class bodies (``f"[{CJK}]"``) for callers that build
patterns; the functions test one character against the same ranges.
"""
from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["HAN", "KANA", "HANGUL", "CJK", "CJK_PUNCT", "is_han", "is_cjk", "is_cjk_punct",
           "is_unspaced", "has_han", "has_cjk", "han_count", "join_spaced", "join_spaced_letters"]

#: Han ideographs: extension A, the unified block, compatibility ideographs, and the
#: supplementary and tertiary ideographic planes (extension B onwards, compatibility supplement).
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"
#: Hiragana, katakana (with its phonetic extensions) and halfwidth katakana.
KANA = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
#: Hangul syllables, conjoining jamo and compatibility jamo ("ㅋㅋ").
HANGUL = "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
#: Letters of the CJK scripts: Han, kana and Hangul.
CJK = HAN + KANA + HANGUL
#: CJK symbols and punctuation (ideographic space, 、。「」【】), vertical forms, fullwidth ASCII
#: (ＡＢＣ１２３，！) and halfwidth CJK punctuation (｡｢｣､･), fullwidth currency signs (￥).
CJK_PUNCT = "\u3000-\u303f\ufe30-\ufe4f\uff01-\uff65\uffe0-\uffe6"

_HAN = re.compile(f"[{HAN}]")
_CJK = re.compile(f"[{CJK}]")
_CJK_PUNCT = re.compile(f"[{CJK_PUNCT}]")
_UNSPACED = re.compile(f"[{HAN}{KANA}{CJK_PUNCT}]")
_SPACES = re.compile(r"(\s+)")


def is_han(ch: str) -> bool:
    """Whether the character ``ch`` is a Han ideograph (Chinese, Japanese kanji, hanja)."""
    return _HAN.fullmatch(ch) is not None


def is_cjk(ch: str) -> bool:
    """Whether ``ch`` is a letter of a CJK script: Han, kana or Hangul (not punctuation)."""
    return _CJK.fullmatch(ch) is not None


def is_cjk_punct(ch: str) -> bool:
    """Whether ``ch`` is CJK punctuation or a fullwidth/halfwidth form (ＡＢＣ１２３ included)."""
    return _CJK_PUNCT.fullmatch(ch) is not None


def is_unspaced(ch: str) -> bool:
    """Whether ``ch`` is written without spaces beside it: Han, kana, CJK punctuation and
    fullwidth forms. Hangul is not: Korean separates its words with spaces."""
    return _UNSPACED.fullmatch(ch) is not None


def has_han(text: str) -> bool:
    """Whether ``text`` holds at least one Han ideograph."""
    return _HAN.search(text) is not None


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds at least one Han, kana or Hangul letter."""
    return _CJK.search(text) is not None


def han_count(text: str) -> int:
    """Number of Han ideographs in ``text``."""
    return len(_HAN.findall(text))


def join_spaced_letters(text: str) -> str:
    """``text`` with the single spaces between lone Han characters taken out: "限 时 秒 杀" (a
    title set with wide letter spacing, as OCR reads it, or a query typed so) is "限时秒杀". Only
    runs of single characters join, across one space; words keep their spaces ("星空 梵高 1889",
    "小 猫咪"), since a space between Chinese words says they may come in any order, and a wider
    gap stays. Korean and Japanese are left alone: Korean puts a space between its words, one
    syllable long or not ("그 집 좋아"). A list of one-character words ("猫 狗 鱼") joins too, and
    is then found by its pairs, not by a single character.
    """
    return join_spaced(text, lambda before, word: _is_lone(before) and _is_lone(word))


def join_spaced(text: str, joins: Callable[[str, str], bool]) -> str:
    """``text`` with each single space taken out between two words that ``joins`` accepts,
    judged as written (a word joined to the one before it still counts alone): a chain of
    accepted pairs becomes one word."""
    parts = _SPACES.split(text)  # words at even places, the whitespace between them at odd ones
    out = [parts[0]]
    for before, gap, word in zip(parts[0::2], parts[1::2], parts[2::2]):
        if gap == " " and joins(before, word):
            out[-1] += word
        else:
            out += [gap, word]
    return "".join(out)


def _is_lone(word: str) -> bool:
    return len(word) == 1 and is_han(word)
