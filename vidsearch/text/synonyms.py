"""Label normalisation: every way of writing one label becomes one canonical form.

Copy lines and queries name the same thing in many ways: ``复古``, ``复古风格``, ``vintage``,
``retro``. A multilingual encoder puts these near each other, but not on top of each other, and
a short caption is mostly its labels, so a query that uses one variant and a caption that uses
another lose points they should not lose. ``normalise_text`` rewrites every variant to the
group's canonical form (mostly the Chinese word users type), on both sides:

>>> normalise_text("Vintage floral dress")
'复古风 碎花 连衣裙'
>>> normalise_text("复古风格 格纹衬衣")
'复古风 格子衬衫'

Matching rules (one compiled regex per table, built as a trie and cached):

* **Longest first.** At each position the longest term wins, so ``复古风格`` becomes ``复古风``
  (not ``复古风风格``) and ``trench coat`` becomes ``风衣`` (not ``trench 大衣``). Canonical
  forms are terms too and map to themselves, which makes them fixed points: ``复古风`` is never
  read as ``复古`` + ``风``.
* **Latin variants** match case-insensitively and only as whole words (``retro`` does not fire
  inside ``retrograde``); between the words of a multi-word variant any run of spaces, hyphens
  or nothing is accepted (``off shoulder`` matches ``off-shoulder`` and ``offshoulder``;
  ``off-the-shoulder`` is its own variant). A regular English plural is accepted too
  (``dress`` -> ``dresses``, ``galaxy`` -> ``galaxies``).
* **CJK variants** match as substrings (Chinese has no spaces). Three guards keep a short
  variant from firing inside a longer, unrelated word:

  1. a variant of one CJK character is refused (``喵`` -> ``猫`` would fire everywhere); a
     one-character *canonical* form (``猫``) is fine, because it only maps to itself;
  2. ``keep``: words that contain a variant but mean something else (``摩托罗拉`` Motorola,
     ``摩托艇`` jet ski, ``手机车载`` phone car mount, ``hot dog``, ``Samsung Galaxy``) are
     terms that map to themselves; being longer, they win over the variant inside them;
  3. compound splits: where a term ends in a known term plus the start of another term
     (``复古风格`` = ``复古风`` + ``格``, and ``格子`` is a term), the longer term does not match
     when the rest of that other term follows, so ``复古风格子衬衫`` reads as ``复古风`` +
     ``格子`` + ``衬衫``. These guards are derived from the table automatically.

``normalise_text`` repeats the rewrite until nothing changes (at most a few passes; one extra
pass in practice), so normalising twice gives the same text as normalising once.

The input is expected to be NFKC text (``textclean.clean_text`` output, or a typed query);
fullwidth Latin letters are not folded here.

Default groups live in ``vidsearch/data/label_synonyms.json``; ``load_synonyms(path)`` merges a
user file in the same format over them.
"""
from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from vidsearch.text.script import is_cjk

__all__ = ["SynonymTable", "default_synonyms_path", "load_synonyms", "normalise_text"]

_DEFAULTS = Path(__file__).resolve().parents[1] / "data" / "label_synonyms.json"

#: Characters that count as part of a Latin word (whole-word boundaries, plural suffixes).
_WORD_CHARS = "0-9A-Za-z\u00c0-\u024f"
_IS_WORD = re.compile(f"[{_WORD_CHARS}]")
#: Written between the words of a multi-word Latin variant; each run becomes "any separator".
_SEPARATORS = set(" \t-_\u2010\u2011\u2012\u2013")
_MAX_PASSES = 4


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _key(term: str) -> str:
    """Identity of a term: case and separators do not count (``Off-Shoulder`` == ``off shoulder``)."""
    return "".join(ch for ch in _nfkc(term).casefold() if ch not in _SEPARATORS and not ch.isspace())


def _is_word(ch: str) -> bool:
    return bool(_IS_WORD.match(ch))


@dataclass(frozen=True)
class SynonymTable:
    """Groups of ``(canonical, variants)``; hashable, so its regex is compiled once and cached.

    ``keep`` holds words that contain a variant but must stay as they are (see the module doc).
    """

    groups: tuple[tuple[str, tuple[str, ...]], ...]
    keep: tuple[str, ...] = field(default=())

    def normalise(self, text: str) -> str:
        """``text`` with every variant replaced by its canonical form (idempotent)."""
        if not text or not self.groups:
            return text
        regex, targets = _compiled(self)
        for _ in range(_MAX_PASSES):
            new = _rewrite(text, regex, targets)
            if new == text:
                break
            text = new
        return text

    def canonical(self, term: str) -> str | None:
        """The canonical form of ``term`` (a variant or a canonical form itself), else ``None``.

        Exact lookup, ignoring case, spaces and hyphens: ``canonical("Off-Shoulder")`` is
        ``一字肩``; ``canonical("dresses")`` is ``None`` (only ``normalise`` handles plurals).
        """
        return _lookup(self).get(_key(term))


def _lower(text: str) -> str:
    """``text`` lower-cased character by character, keeping every index (``"İ".lower()`` is two
    characters; such a character is left as it is)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _rewrite(text: str, regex: re.Pattern[str], targets: tuple[str | None, ...]) -> str:
    """One pass: every matched term replaced by its canonical form (keep words left as they are)."""
    out: list[str] = []
    pos = 0
    for m in regex.finditer(_lower(text)):
        target = targets[m.lastindex]  # type: ignore[index]
        if target is None:
            continue
        start, end = m.span()
        out.append(text[pos:start])
        out.append(target)
        pos = end
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# --- regex construction ---------------------------------------------------------------------
#
# All terms go into one regex, built as a trie (terms sharing a start share its branch), matched
# against the lower-cased text without re.IGNORECASE. Every top-level branch then starts with a
# plain literal, so the regex engine jumps straight to the characters a term can start with, and
# at such a position it follows one branch instead of trying every term in turn. Each term ends
# in an empty named group; ``match.lastindex`` (the last group closed) says which term matched.

_GAP_WORDS = r"[\s\-_\u2010-\u2013]*"  # between the words of a Latin term: spaces, hyphens or nothing
_GAP = r"\s*"                       # elsewhere inside a term (Latin <-> CJK: "T恤", "T 恤")
_NOT_AFTER_WORD = f"(?<![{_WORD_CHARS}].)"  # after a term's first char: it did not start mid-word
_NOT_BEFORE_WORD = f"(?![{_WORD_CHARS}])"


def _plural(word: str) -> tuple[int, str]:
    """(characters to drop from the end of ``word``, regex put in their place) for an optional
    regular English plural of a term's last word."""
    if not word[-1:].isalpha():
        return 0, ""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return 0, "(?:es)?"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return 1, "(?:y|ies)"
    return 0, "s?"


def _atoms(term: str, not_followed_by: tuple[str, ...] = ()) -> tuple[list[str], str]:
    """A lower-cased term as trie atoms (one per character or gap) and the regex that ends it:
    plural, whole-word check at a Latin end, the compound guard's negative lookahead."""
    runs: list[tuple[str, str]] = []  # ("w", Latin word) | ("c", other char) | ("g", separators)
    for ch in term:
        kind = "g" if (ch in _SEPARATORS or ch.isspace()) else ("w" if _is_word(ch) else "c")
        if runs and kind in "wg" and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1] + ch)
        else:
            runs.append((kind, ch))
    runs = [r for i, r in enumerate(runs) if r[0] != "g" or 0 < i < len(runs) - 1]
    atoms: list[str] = []
    end = ""
    for i, (kind, text) in enumerate(runs):
        if kind == "g":
            atoms.append(_GAP_WORDS if runs[i - 1][0] == runs[i + 1][0] == "w" else _GAP)
            continue
        if i > 0 and runs[i - 1][0] != "g" and (kind == "w") != (runs[i - 1][0] == "w"):
            atoms.append(_GAP)
        if kind == "w" and i == len(runs) - 1:
            drop, end = _plural(text)
            text = text[: len(text) - drop]
        atoms.extend("['’]" if ch in "'’" else re.escape(ch) for ch in text)
    if runs and runs[0][0] == "w":
        atoms[0] += _NOT_AFTER_WORD
    if runs and runs[-1][0] == "w":
        end += _NOT_BEFORE_WORD
    if not_followed_by:
        end += "(?!" + "|".join(re.escape(t) for t in sorted(set(not_followed_by), key=len, reverse=True)) + ")"
    return atoms, end


def _terms(table: SynonymTable) -> dict[str, tuple[str, str | None]]:
    """key -> (term as written, canonical form or None for a keep word); canonicals included."""
    out: dict[str, tuple[str, str | None]] = {}
    for word in table.keep:
        out[_key(word)] = (_nfkc(word), None)
    for canonical, variants in table.groups:
        for term in (*variants, canonical):
            out.setdefault(_key(term), (_nfkc(term), canonical))
    return out


def _compound_guards(terms: dict[str, tuple[str, str | None]]) -> dict[str, tuple[str, ...]]:
    """For a CJK term V = p + s where p is a term and s starts another term W = s + t, V must
    not match when followed by t: p + W then covers more text than V (``复古风格`` + ``子``)."""
    by_first: dict[str, list[str]] = {}
    for k in terms:
        by_first.setdefault(k[0], []).append(k)
    guards: dict[str, tuple[str, ...]] = {}
    for key in terms:
        found: list[str] = []
        for i in range(1, len(key)):
            if not (is_cjk(key[i - 1]) and is_cjk(key[i])) or key[:i] not in terms:
                continue
            rest = key[i:]
            for other in by_first.get(rest[0], ()):
                if len(other) > len(rest) and other.startswith(rest):
                    found.append(other[len(rest):])
        if found:
            guards[key] = tuple(found)
    return guards


class _Node:
    __slots__ = ("children", "ends", "depth")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.ends: list[str] = []  # end regexes of the terms that stop here, each with its group
        self.depth = 0  # longest path below, to try longer terms first

    def regex(self) -> str:
        kids = sorted(self.children.items(), key=lambda kv: -kv[1].depth)
        branches = [atom + child.regex() for atom, child in kids] + self.ends
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


@lru_cache(maxsize=16)
def _compiled(table: SynonymTable) -> tuple[re.Pattern[str], tuple[str | None, ...]]:
    terms = _terms(table)
    guards = _compound_guards(terms)
    root = _Node()
    targets: list[str | None] = [None]  # term n ends in the empty group "t<n>"
    for key, (written, canonical) in sorted(terms.items()):
        atoms, end = _atoms(written.lower(), guards.get(key, ()))
        path = [root]
        for atom in atoms:
            path.append(path[-1].children.setdefault(atom, _Node()))
        path[-1].ends.append(f"{end}(?P<t{len(targets)}>)")
        targets.append(canonical)
        for depth, node in enumerate(reversed(path)):
            node.depth = max(node.depth, depth)
    # Top level: one branch per first character (no wrapping group, so the engine can use the
    # set of first characters to skip ahead).
    kids = sorted(root.children.items(), key=lambda kv: -kv[1].depth)
    pattern = "|".join(atom + child.regex() for atom, child in kids) or "(?!)"
    regex = re.compile(pattern)
    by_group: list[str | None] = [None] * (regex.groups + 1)
    for name, number in regex.groupindex.items():
        by_group[number] = targets[int(name[1:])]
    return regex, tuple(by_group)


@lru_cache(maxsize=16)
def _lookup(table: SynonymTable) -> dict[str, str]:
    return {k: c for k, (_, c) in _terms(table).items() if c is not None}


# --- loading ----------------------------------------------------------------------------------


def default_synonyms_path() -> Path:
    """The JSON file holding the shipped synonym groups (package data)."""
    return _DEFAULTS


_TOP_KEYS = {"groups", "keep", "replace_defaults"}
_GROUP_KEYS = {"canonical", "variants"}


def _read_file(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read synonym file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: synonym file is not UTF-8 (bad byte at offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: synonym file is not valid JSON (line {exc.lineno}: {exc.msg})") from None


def _parse(data: object, source: str) -> tuple[list[tuple[str, list[str]]], list[str], bool]:
    """Check one file's content: (groups, keep words, replace_defaults). Errors name ``source``."""
    def fail(problem: str) -> ValueError:
        return ValueError(f"{source}: {problem}")

    if not isinstance(data, Mapping):
        raise fail("a synonym file must be a JSON object with a \"groups\" list")
    data = {k: v for k, v in data.items() if not str(k).startswith("_")}  # "_comment"
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(map(repr, unknown))}; expected {', '.join(sorted(_TOP_KEYS))}")
    replace = data.get("replace_defaults", False)
    if not isinstance(replace, bool):
        raise fail("\"replace_defaults\" must be true or false")
    raw_groups = data.get("groups", [])
    if not isinstance(raw_groups, list):
        raise fail("\"groups\" must be a list of {\"canonical\": ..., \"variants\": [...]} objects")
    keep = data.get("keep", [])
    if not isinstance(keep, list) or not all(isinstance(w, str) and _key(w) for w in keep):
        raise fail("\"keep\" must be a list of non-empty strings")

    groups: list[tuple[str, list[str]]] = []
    owner: dict[str, str] = {}  # variant key -> canonical, within this file
    canonicals: dict[str, str] = {}
    for n, group in enumerate(raw_groups, 1):
        where = f"group {n}"
        if not isinstance(group, Mapping):
            raise fail(f"{where} must be an object with \"canonical\" and \"variants\"")
        if all(str(k).startswith("_") for k in group):
            continue  # {"_comment": "..."}: a heading between groups
        extra = sorted(k for k in group if not str(k).startswith("_") and k not in _GROUP_KEYS)
        if extra:
            raise fail(f"{where}: unknown key(s) {', '.join(map(repr, extra))}; expected canonical, variants")
        canonical = group.get("canonical")
        if not isinstance(canonical, str) or not _key(canonical):
            raise fail(f"{where}: \"canonical\" must be a non-empty string")
        canonical = _nfkc(canonical)
        where = f"group {canonical!r}"
        variants = group.get("variants", [])
        if not isinstance(variants, list) or not all(isinstance(v, str) and _key(v) for v in variants):
            raise fail(f"{where}: \"variants\" must be a list of non-empty strings")
        ckey = _key(canonical)
        if ckey in canonicals:
            raise fail(f"canonical form {canonical!r} is given by two groups")
        canonicals[ckey] = canonical
        kept: list[str] = []
        for variant in map(_nfkc, variants):
            vkey = _key(variant)
            if vkey == ckey or vkey in {_key(k) for k in kept}:
                continue
            if len(vkey) == 1 and is_cjk(vkey):
                raise fail(f"{where}: variant {variant!r} is a single CJK character; it would fire "
                           f"inside unrelated words (make it a canonical form or use a longer word)")
            if vkey in owner and owner[vkey] != canonical:
                raise fail(f"variant {variant!r} is in two groups ({owner[vkey]!r} and {canonical!r})")
            owner[vkey] = canonical
            kept.append(variant)
        groups.append((canonical, kept))
    for ckey, canonical in canonicals.items():
        if ckey in owner and owner[ckey] != canonical:
            raise fail(f"{canonical!r} is a canonical form and also a variant of {owner[ckey]!r}; "
                       f"a canonical form must map to itself")
    for word in keep:
        if _key(word) in owner or _key(word) in canonicals:
            raise fail(f"keep word {word!r} is also a synonym term; a word cannot be both")
    return groups, [_nfkc(w) for w in keep], replace


def _merge(base: SynonymTable, groups: list[tuple[str, list[str]]], keep: list[str], replace: bool) -> SynonymTable:
    """The user's groups over ``base``. A group with an existing canonical form extends it; a
    term the user places in a group (or in ``keep``) leaves the default group it was in; a
    default canonical form the user makes a variant takes its group along (``{"canonical":
    "猫咪", "variants": ["猫"]}`` makes every variant of 猫 a variant of 猫咪)."""
    old_groups: list[tuple[str, tuple[str, ...]]] = [] if replace else list(base.groups)
    old_keep = [] if replace else list(base.keep)
    owner = {_key(t): c for c, vs in groups for t in (c, *vs)}  # term key -> the user's canonical
    kept = {_key(w) for w in keep}
    merged: dict[str, tuple[str, list[str]]] = {}
    for canonical, old_variants in old_groups:
        target = owner.get(_key(canonical), canonical)
        bucket = merged.setdefault(_key(target), (target, []))[1]
        bucket.extend(v for v in old_variants if _key(v) not in owner and _key(v) not in kept)
    for canonical, new_variants in groups:
        merged.setdefault(_key(canonical), (canonical, []))[1].extend(new_variants)
    out = []
    for ckey, (canonical, all_variants) in merged.items():
        unique: dict[str, str] = {}
        for v in all_variants:
            if _key(v) != ckey:
                unique.setdefault(_key(v), v)
        out.append((canonical, tuple(unique.values())))
    new_keep = [w for w in old_keep if _key(w) not in owner] + keep
    return SynonymTable(groups=tuple(out), keep=tuple({_key(w): w for w in new_keep}.values()))


@lru_cache(maxsize=1)
def _default_table() -> SynonymTable:
    groups, keep, _ = _parse(_read_file(_DEFAULTS), str(_DEFAULTS))
    return _merge(SynonymTable(()), groups, keep, replace=True)


def load_synonyms(extra: str | Path | Mapping | None = None) -> SynonymTable:
    """The shipped synonym table, with a user file (same format) merged over it.

    ``extra`` is a path to a JSON file, or its already-parsed content (a mapping). In it,
    ``groups`` extend the defaults: a group whose canonical form exists gains the variants, a
    new canonical form adds a group, and a term the user places in a group (or in ``keep``)
    is taken out of any default group it was in. ``"replace_defaults": true`` drops the
    defaults (groups and keep words). A missing or malformed file raises ``ValueError`` with
    one line naming the file and the problem.
    """
    table = _default_table()
    if extra is None:
        return table
    if isinstance(extra, Mapping):
        source = "synonyms"
        data: object = extra
    else:
        source = str(extra)
        data = _read_file(Path(extra))
    groups, keep, replace = _parse(data, source)
    return _merge(table, groups, keep, replace)


def normalise_text(text: str, table: SynonymTable | None = None) -> str:
    """``text`` with every label variant replaced by its canonical form (shipped table by default)."""
    return (table if table is not None else _default_table()).normalise(text)
