"""Clean short copy lines (on-screen text, product captions) before they are embedded or shown.

E-commerce and short-video text is full of noise that carries no meaning for search and
drags every caption's vector towards every other: calls to action ("点击购买", "link in bio"),
emoji and decorative symbols (🔥 ★ 【】 👉), and stuttered repeats ("好看好看好看", "!!!").
``clean_text`` removes them and keeps the words that describe the picture:

>>> clean_text("🔥🔥限时优惠!红色碎花连衣裙 点击购买👉")
'红色碎花连衣裙'
>>> clean_text("BUY NOW!!! Waterproof camera ★★★ link in bio")
'Waterproof camera'

Steps, in order (each can be switched off in ``CleaningRules``):

1. ``normalize``: NFKC (fullwidth ASCII and the ideographic space become ASCII; CJK
   ideographs are untouched — NFKC only folds compatibility forms, e.g. "ＢＵＹ" -> "BUY",
   "！" -> "!", the Kangxi radical "⼀" -> "一"), zero-width characters dropped.
2. ``strip_symbols``: emoji, pictographs, arrows, stars, hearts, box drawing and decorative
   brackets (【】〖〗〔〕) become spaces; letters, digits, CJK, currency, ordinary
   punctuation and a few meaningful symbols (°, ℃) stay.
3. promo phrases and patterns are removed (case-insensitive; Latin phrases only as whole
   words and with optional spaces, because OCR often drops spaces: "BUYNOW").
4. ``collapse_repeats``: runs of the same punctuation mark become one ("!!!" -> "!");
   a CJK or Latin phrase repeated back to back is kept once ("新款 新款 新款" -> "新款",
   "so cute so cute" -> "so cute"); a single word needs three in a row ("wow wow wow" ->
   "wow") and a single CJK character is kept twice ("哈哈哈哈" -> "哈哈"), so reduplicated
   words (谢谢, 宝宝, "Bora Bora") survive.
5. tidy: punctuation-only leftovers and empty bracket pairs go, whitespace is collapsed,
   separators at the ends are trimmed; text with no letter or digit left becomes "".

Default rules live in ``vidsearch/data/text_cleaning.json``; ``load_rules(path)`` merges a
user file in the same format over them.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from vidsearch.text.script import CJK

__all__ = ["CleaningRules", "default_rules_path", "load_rules", "clean_text", "has_content"]

_DEFAULTS = Path(__file__).resolve().parents[1] / "data" / "text_cleaning.json"


@dataclass(frozen=True)
class CleaningRules:
    """What ``clean_text`` removes. Hashable, so compiled patterns are cached per rule set.

    ``CleaningRules()`` has the switches on but no phrase lists; ``load_rules()`` gives the
    shipped defaults (``data/text_cleaning.json``).
    """

    #: Calls to action and promo boilerplate, removed wherever they occur.
    promo_phrases: tuple[str, ...] = ()
    #: Regular expressions for promo text with variable parts ("满199减30", "50% off").
    promo_patterns: tuple[str, ...] = ()
    strip_symbols: bool = True
    collapse_repeats: bool = True
    #: NFKC, whitespace collapsing and end trimming.
    normalize: bool = True

    @classmethod
    def off(cls) -> CleaningRules:
        """Rules that change nothing: ``clean_text`` returns its input."""
        return cls((), (), strip_symbols=False, collapse_repeats=False, normalize=False)

    @property
    def enabled(self) -> bool:
        return bool(self.promo_phrases or self.promo_patterns or self.strip_symbols
                    or self.collapse_repeats or self.normalize)


def default_rules_path() -> Path:
    """The JSON file holding the default rules (shipped as package data)."""
    return _DEFAULTS


_LIST_KEYS = ("promo_phrases", "promo_patterns")
_BOOL_KEYS = ("strip_symbols", "collapse_repeats", "normalize")


def _read_rules_file(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read cleaning rules: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cleaning rules are not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: cleaning rules must be a JSON object")
    data = {k: v for k, v in data.items() if not k.startswith("_")}  # "_comment" keys
    known = set(_LIST_KEYS) | set(_BOOL_KEYS) | {"replace_defaults"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown cleaning-rule key(s) {', '.join(unknown)}; "
                         f"expected {', '.join(sorted(known))}")
    for key in _LIST_KEYS:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise ValueError(f"{path}: {key} must be a list of strings")
    for key in (*_BOOL_KEYS, "replace_defaults"):
        if key in data and not isinstance(data[key], bool):
            raise ValueError(f"{path}: {key} must be true or false")
    for pattern in data.get("promo_patterns", []):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{path}: bad promo pattern {pattern!r}: {exc}") from exc
    return data


def _merge(rules: CleaningRules, data: dict) -> CleaningRules:
    changes: dict = {k: data[k] for k in _BOOL_KEYS if k in data}
    for key in _LIST_KEYS:
        extra = [s.strip() for s in data.get(key, []) if s.strip()]
        base = [] if data.get("replace_defaults") else list(getattr(rules, key))
        changes[key] = tuple(dict.fromkeys(base + extra))  # order kept, duplicates dropped
    return replace(rules, **changes)


@lru_cache(maxsize=1)
def _default_rules() -> CleaningRules:
    return _merge(CleaningRules(), _read_rules_file(_DEFAULTS))


def load_rules(extra: str | Path | None = None) -> CleaningRules:
    """The default rules, with a user JSON file (same format as the defaults) merged over them.

    In the user file, ``promo_phrases`` / ``promo_patterns`` extend the defaults (or replace
    them with ``"replace_defaults": true``) and the switches override them. A missing or
    malformed file raises ``ValueError`` naming the file and the reason.
    """
    rules = _default_rules()
    if extra is None:
        return rules
    return _merge(rules, _read_rules_file(Path(extra)))


# --- character classes -------------------------------------------------------------------

#: Decorative brackets around promo tags ("【包邮】"); 《》「」 quote titles and names, so they stay.
_DECORATIVE = set("【】〖〗〔〕〘〙※•‣◦⁃")
#: Symbols (Unicode "So") that carry meaning: temperatures, degrees.
_KEEP_SYMBOLS = set("°℃℉")
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


@lru_cache(maxsize=4096)
def _is_noise_char(ch: str) -> bool:
    """True for emoji, pictographs, arrows, variation selectors and decorative marks."""
    if ch in _DECORATIVE:
        return True
    if ch in _KEEP_SYMBOLS:
        return False
    cp = ord(ch)
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF or 0x1F3FB <= cp <= 0x1F3FF or 0xE0000 <= cp <= 0xE007F:
        return True  # variation selectors, emoji skin tones, tag characters (flag sequences)
    if 0x2190 <= cp <= 0x21FF or 0x27F0 <= cp <= 0x27FF or 0x2900 <= cp <= 0x297F:
        return True  # arrows are "Sm" (math) but only ever decorate copy ("→ 点这里")
    cat = unicodedata.category(ch)
    # So: ★ ❤ ✔ ☎ 🔥 and all emoji; Me: the keycap combiner; Co/Cn/Cs: private use, unassigned.
    return cat in ("So", "Me", "Co", "Cn", "Cs")


#: A hashtag's "#" ("#连衣裙" -> "连衣裙"); "C#" keeps its "#" (not at a word start).
_HASHTAG = re.compile(r"(?:(?<=\s)|^)#+(?=\w)")
#: Field separators in product titles ("新款|包邮", "新款丨包邮"): never part of a word.
_SEPARATORS = str.maketrans({"|": " ", "｜": " ", "丨": " ", "¦": " "})


def _strip_symbols(text: str) -> str:
    text = "".join(" " if _is_noise_char(ch) else ch for ch in text)
    return _HASHTAG.sub("", text.translate(_SEPARATORS))


def has_content(text: str) -> bool:
    """Whether ``text`` holds at least one letter or digit (any script)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


# --- promo phrases ------------------------------------------------------------------------

def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _phrase_regex(phrase: str) -> str:
    """A phrase as a regex: spaces optional between words and between CJK characters
    (OCR drops and inserts them), whole words only at Latin edges ("shop now" must not
    fire inside "workshop nowhere")."""
    phrase = unicodedata.normalize("NFKC", phrase).strip()
    parts: list[str] = []
    prev = ""
    for ch in phrase:
        if ch.isspace():
            prev = " "
            continue
        if parts and not (_is_word_char(prev) and _is_word_char(ch)):
            parts.append(r"\s*")
        parts.append("['’]" if ch == "'" else re.escape(ch))
        prev = ch
    body = "".join(parts)
    if phrase and _is_word_char(phrase[0]):
        body = r"(?<![A-Za-z0-9])" + body
    if phrase and _is_word_char(phrase[-1]):
        body += r"(?![A-Za-z0-9])"
    return body


@lru_cache(maxsize=32)
def _promo_regexes(rules: CleaningRules) -> tuple[re.Pattern[str], ...]:
    out = []
    if rules.promo_patterns:
        out.append(re.compile("|".join(f"(?:{p})" for p in rules.promo_patterns), re.IGNORECASE))
    phrases = sorted({p for p in rules.promo_phrases if p.strip()}, key=len, reverse=True)  # longest first
    if phrases:
        out.append(re.compile("|".join(_phrase_regex(p) for p in phrases), re.IGNORECASE))
    return tuple(out)


# --- repeats and tidying ------------------------------------------------------------------

_PUNCT_RUN = re.compile(r"([!?.,;:~。，、；：*#=_\-])\1+")
_CJK_PHRASE_REPEAT = re.compile(rf"([{CJK}]{{2,8}}?)(?:[\s,，、!！~]*\1)+")
_CJK_CHAR_RUN = re.compile(rf"([{CJK}])\1{{2,}}")
_WORD = r"[A-Za-z][A-Za-z']*"
_LATIN_PHRASE_REPEAT = re.compile(
    rf"(?<![A-Za-z])({_WORD}(?:\s+{_WORD}){{1,3}})(?:[\s,.!?]+\1(?![A-Za-z]))+", re.IGNORECASE)
_LATIN_WORD_REPEAT = re.compile(rf"(?<![A-Za-z])({_WORD})(?:[\s,.!?]+\1(?![A-Za-z])){{2,}}", re.IGNORECASE)
_EMPTY_BRACKETS = re.compile(r"[(\[{（【《「『〈<]\s*[)\]}）】》」』〉>]")
#: Kept even when they stand alone between spaces ("Q & A", "3 + 1").
_LONE_KEEP = set("&+")
#: Trimmed from the end of a line (a trailing "!" or "。" is part of the sentence; a "|" is not).
_TRAILING_SEPARATORS = ",，、;；:：-—–_|/\\·~"
#: Not trimmed from the start: opening brackets, quotes, currency.
_LEADING_KEEP = set("(（[{《「『“‘\"'<〈$¥€£")


def _is_punct(text: str) -> bool:
    return all(unicodedata.category(ch)[0] == "P" or ch in "~|^`" for ch in text)


def _collapse(text: str) -> str:
    text = _PUNCT_RUN.sub(r"\1", text)
    text = _CJK_CHAR_RUN.sub(r"\1\1", text)
    text = _CJK_PHRASE_REPEAT.sub(r"\1", text)
    text = _LATIN_PHRASE_REPEAT.sub(r"\1", text)
    return _LATIN_WORD_REPEAT.sub(r"\1", text)


def _tidy(text: str) -> str:
    for _ in range(3):  # nested leftovers: "【（）】"
        text = _EMPTY_BRACKETS.sub(" ", text)
    # Punctuation left standing alone once its words were removed ("BUY NOW!!! x" -> "! x").
    tokens = [t for t in text.split() if not _is_punct(t) or set(t) <= _LONE_KEEP]
    text = " ".join(tokens)
    start = 0
    while start < len(text) and _is_punct(text[start]) and text[start] not in _LEADING_KEEP:
        start += 1
    text = text[start:].rstrip(_TRAILING_SEPARATORS + " ")
    return text


def clean_text(text: str, rules: CleaningRules | None = None) -> str:
    """Strip promo phrases, emoji/symbols and repeats from one line; ``""`` if nothing is left.

    ``rules`` defaults to ``load_rules()`` (the shipped defaults); ``CleaningRules.off()``
    returns the text unchanged.
    """
    if rules is None:
        rules = _default_rules()
    if not text or not rules.enabled:
        return text
    if rules.normalize:
        text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    if rules.strip_symbols:
        text = _strip_symbols(text)
    for regex in _promo_regexes(rules):
        text = regex.sub(" ", text)
    if rules.collapse_repeats:
        text = _collapse(text)
    if rules.normalize or rules.strip_symbols or rules.promo_phrases or rules.promo_patterns:
        text = _tidy(text)
    return text if has_content(text) else ""
