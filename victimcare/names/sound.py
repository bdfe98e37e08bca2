"""The sound of a name: normalisation and the keys that same-sounding names share.

Pure functions, no database, no keys: ``sound_keys(name)`` gives the plaintext keys, which only ever
leave this module as keyed HMACs (``names.index``). Three kinds:

- ``full``: toneless pinyin of the whole name without spaces ("zhangli"), one per reading;
- ``family``: toneless pinyin of the family name ("zhang", "ouyang");
- ``initials``: the first letter of each syllable ("zl").

Chinese characters: every reading pypinyin knows (polyphonic characters give every combination, the
most common readings first, at most ``MAX_READINGS`` per name); the family name read as a surname
(``surnames``). Traditional characters: pypinyin reads them itself (張麗 -> zhang li), no conversion.
A character pypinyin does not know (𠮷) stands for itself.

Latin input ("Zhāng Lì", "ZHANG Li", "zhangli"): tones and other marks dropped, ü -> v (pypinyin's
spelling), case folded. The full key ignores spaces, so "zhang li" and "zhangli" agree without
deciding where syllables end. Family name and initials need syllables: spaces, hyphens, apostrophes
and capitals ("ZhangLi") separate words; a word is then split into pinyin syllables with the syllable
table pypinyin's own dictionary implies, every possible split ("xian" -> xian | xi an, at most
``MAX_SPLITS``). A word that is not pinyin ("Maria") stays one syllable.
"""
from __future__ import annotations

import functools
import re
import unicodedata

from pypinyin import Style, pinyin
from pypinyin.pinyin_dict import pinyin_dict

from .surnames import COMPOUND_READINGS, COMPOUND_SURNAMES, SURNAME_READINGS

KINDS = ("full", "family", "initials")
MAX_READINGS = 16     # combinations of readings kept per name (most likely first)
MAX_CHAR_READINGS = 4  # readings kept per character (pypinyin lists the common ones first)
MAX_SPLITS = 3         # ways to split one unspaced Latin word into syllables
# Middle dots in transliterated names (阿依古丽·买买提), apostrophes in pinyin (xi'an), hyphens.
SEPARATORS = frozenset(" \t\r\n·•・‧∙⋅'’‘`-‐‑‒–—_.,，、。;；:：/\\()（）[]【】")

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_COMBINING = re.compile("[\u0300-\u036f]")
_VOWEL = re.compile("[aeiouv]")


def _is_han(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


def normalise_name(text: str) -> str:
    """The name as typed, made comparable: NFKC, no spaces or middle dots."""
    return "".join(c for c in unicodedata.normalize("NFKC", text or "") if c not in SEPARATORS)


def _latin_letter(char: str) -> str:
    """A letter without tone marks or accents; ü (any tone) -> v as pypinyin spells it."""
    decomposed = unicodedata.normalize("NFD", char)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    if base.lower() == "u" and "\u0308" in decomposed:
        return "v" if base == "u" else "V"
    return base


def _pieces(text: str) -> list[tuple[str, str]]:
    """Split into ("han", char) and ("word", letters) pieces; separators end a word."""
    pieces: list[tuple[str, str]] = []
    word: list[str] = []

    def end_word():
        if word:
            for part in _CAMEL.split("".join(word)):
                pieces.append(("word", part))
            word.clear()

    for char in unicodedata.normalize("NFKC", text or ""):
        if _is_han(char):
            end_word()
            pieces.append(("han", char))
        elif char in SEPARATORS or not (char.isalnum() or unicodedata.combining(char)):
            end_word()
        else:
            word.append(_latin_letter(char))
    end_word()
    return [(kind, value.casefold()) if kind == "word" else (kind, value) for kind, value in pieces
            if value.strip()]


@functools.lru_cache(maxsize=32768)
def _char_readings(char: str) -> tuple[str, ...]:
    readings = pinyin(char, style=Style.NORMAL, heteronym=True, errors="default")[0]
    readings = [r for r in readings if r and r != char and r.isascii()]
    return tuple(dict.fromkeys(readings))[:MAX_CHAR_READINGS] or (char,)


@functools.cache
def syllables() -> frozenset[str]:
    """Every toneless syllable in pypinyin's dictionary (about 410): the pinyin syllable table.
    Tone marks are dropped from the whole dictionary text at once (per reading it takes a second)."""
    toned = unicodedata.normalize("NFD", ",".join(pinyin_dict.values())).replace("u\u0308", "v")
    plain = _COMBINING.sub("", toned)
    # Interjections without a vowel (n, ng, m, hm) would split "zhang" into zha-ng.
    return frozenset(s for s in plain.split(",") if s.isascii() and s.isalpha() and _VOWEL.search(s))


@functools.lru_cache(maxsize=4096)  # bounded: search entries are words too
def split_word(word: str) -> tuple[tuple[str, ...], ...]:
    """Every split of an unspaced Latin word into pinyin syllables (fewest syllables first), or the
    word alone when it is not pinyin."""
    table, longest = syllables(), 6
    splits: dict[int, list[tuple[str, ...]]] = {len(word): [()]}
    for start in range(len(word) - 1, -1, -1):
        found = []
        for end in range(start + 1, min(len(word), start + longest) + 1):
            if word[start:end] in table:
                found += [(word[start:end], *rest) for rest in splits.get(end, [])]
        if found:
            splits[start] = sorted(found, key=_split_cost)[:MAX_SPLITS * 4]
    best = [s for s in sorted(splits.get(0, []), key=_split_cost) if _split_cost(s)[0] <= 1]
    return tuple(best[:MAX_SPLITS]) or ((word,),)


def _split_cost(split: tuple[str, ...]) -> tuple[int, int]:
    """Written pinyin puts an apostrophe before a syllable starting with a, o or e (xi'an), but
    people leave it out: such a split is allowed once, and ranks after the others."""
    return sum(1 for s in split[1:] if s[0] in "aoe"), len(split)


def is_pinyin(word: str) -> bool:
    return split_word(word) != ((word,),) or word in syllables()


def _units(text: str) -> tuple[list[list[tuple[str, ...]]], int]:
    """The name as units, each a list of alternative syllable sequences (most likely first), and
    how many leading units make the family name."""
    pieces = _pieces(text)
    units: list[list[tuple[str, ...]]] = []
    # One Latin word ("zhangli"): the family name is its first syllable(s), see _families.
    family_units = 0 if len(pieces) == 1 and pieces[0][0] == "word" else 1
    han = "".join(v for k, v in pieces[:2] if k == "han")
    if len(han) == 2 and han in COMPOUND_SURNAMES and pieces[0][0] == pieces[1][0] == "han":
        units.append([COMPOUND_SURNAMES[han]])
        pieces = pieces[2:]
    elif pieces and pieces[0][0] == "han" and pieces[0][1] in SURNAME_READINGS:
        char = pieces[0][1]
        first = SURNAME_READINGS[char]
        units.append([(r,) for r in dict.fromkeys(first + _char_readings(char))])
        pieces = pieces[1:]
    for kind, value in pieces:
        if kind == "han":
            units.append([(r,) for r in _char_readings(value)])
        else:
            units.append(list(split_word(value)) if value.isascii() and value.isalpha() else [(value,)])
    return units, family_units


def _best(units: list[list[tuple[str, ...]]], limit: int = MAX_READINGS) -> list[tuple[str, ...]]:
    """The ``limit`` most likely whole readings: beam search on the sum of each unit's reading rank
    (exact for an additive score), so a long name of polyphonic characters cannot explode."""
    beam: list[tuple[int, tuple[str, ...]]] = [(0, ())]
    for alternatives in units:
        beam = sorted(((score + rank, path + alt) for score, path in beam
                       for rank, alt in enumerate(alternatives)), key=lambda item: item[0])[:limit]
    return [path for _score, path in beam]


def _families(units, family_units: int) -> set[str]:
    if family_units:
        return {"".join(path) for path in _best(units[:family_units])}
    found = set()  # one Latin word: its first syllable, or two when they make a compound surname
    for split in units[0]:
        found.add(split[0])
        if len(split) > 2 and split[0] + split[1] in COMPOUND_READINGS:
            found.add(split[0] + split[1])
    return found


def sound_keys(name: str | None) -> dict[str, set[str]]:
    """The plaintext sound keys of a name, by kind (empty sets for an empty name)."""
    units, family_units = _units(name or "")
    if not units:
        return {kind: set() for kind in KINDS}
    readings = _best(units)
    return {
        "full": {"".join(path) for path in readings},
        "family": _families(units, family_units),
        "initials": {"".join(s[0] for s in path) for path in readings},
    }


def query_keys(text: str) -> dict[str, set[str]]:
    """What a search box entry is looked up as, by kind.

    Its whole sound is compared with whole names and with family names (a child may remember
    only "张" or "ouyang"). Initials are looked up only for a short Latin entry that is not pinyin
    ("zl", "Z.L."): "li" or "an" are syllables, and reading them as initials would list every
    L-I... or A-N... person as a match."""
    keys = sound_keys(text)
    full = keys["full"]
    initials = set()
    letters = "".join(v for k, v in _pieces(text) if k == "word")
    if letters and letters == "".join(full) and letters.isascii() and letters.isalpha() \
            and 2 <= len(letters) <= 6 and not is_pinyin(letters):
        initials = {letters}
    return {"full": full, "family": set(full), "initials": initials}

