"""Words: counting for timing, and weighted content terms for lexical cohesion."""
from __future__ import annotations

import math
import re
from functools import lru_cache

import wordfreq

_COUNTED_WORD = re.compile(r"\w+(?:[’'.,\-]\w+)*")
_TERM = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
# Han and kana are written without spaces; about two characters make one spoken word.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_HEADING_LINE = re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t].*)?$", re.MULTILINE)

# Zipf frequency (log10 per billion words) above which a word carries no topic:
# "the" is 7.7, "government" 5.2, "egypt" 4.5, "nile" 3.6.
_TOPICLESS_ZIPF = 6.0
# Words missing from the small list are rarer than about zipf 3; cap their weight there.
_RARE_ZIPF = 2.5
_LANGUAGE = "en"


def word_count(text: str) -> int:
    """Spoken words in text: Markdown heading lines are titles, not narration."""
    spoken = _HEADING_LINE.sub("", text)
    count = 0
    for match in _COUNTED_WORD.finditer(spoken):
        token = match.group()
        unspaced = sum(len(run) for run in _UNSPACED.findall(token))
        if unspaced:
            count += math.ceil(unspaced / 2) + (1 if len(token) > unspaced else 0)
        else:
            count += 1
    return count


def estimate_seconds(text: str, wpm: float = 150) -> float:
    """Narration time of text at wpm words per minute, rounded to 0.1 s."""
    if wpm <= 0:
        raise ValueError("wpm must be positive")
    return round(word_count(text) * 60.0 / wpm, 1)


@lru_cache(maxsize=1)
def _frequencies() -> dict[str, float]:
    # The small list loads in ~10 ms (the large one in ~300 ms) and covers every
    # word common enough to matter; rarer words all get the maximum weight anyway.
    return wordfreq.get_frequency_dict(_LANGUAGE, wordlist="small")


@lru_cache(maxsize=65536)
def word_weight(word: str) -> float:
    """Inverse-frequency weight of a lowercase word: 0 for function words, ~3.5 for rare ones."""
    frequency = _frequencies().get(word)
    zipf = math.log10(frequency) + 9 if frequency else _RARE_ZIPF
    return max(0.0, _TOPICLESS_ZIPF - max(zipf, _RARE_ZIPF))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light English stem so that plural and inflected forms share one term."""
    if word.endswith(("'s", "’s")):
        word = word[:-2]
    if len(word) <= 3:
        return word
    if word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith(("sses", "shes", "ches", "xes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) >= 6:
        word = word[:-3]
    elif word.endswith("ed") and len(word) >= 5:
        word = word[:-2]
    bare = word.rstrip("e")
    return bare if len(bare) >= 3 else word


def terms(text: str) -> list[tuple[str, str]]:
    """(stem, lowercase surface word) for every letter word in text, in order."""
    return [(stem(word), word) for word in (m.group().lower() for m in _TERM.finditer(text))]


def term_vector(text: str) -> dict[str, float]:
    """Bag of stems of text, each counted with its surface word's weight."""
    vector: dict[str, float] = {}
    for term, word in terms(text):
        weight = word_weight(word)
        if weight > 0:
            vector[term] = vector.get(term, 0.0) + weight
    return vector
