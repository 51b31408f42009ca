"""Words: counting for timing, and rarity weights and stems for lexical cohesion."""
from __future__ import annotations

import math
import re
from collections.abc import Iterator
from functools import lru_cache

import wordfreq

_COUNTED_WORD = re.compile(r"\w+(?:[’'.,\-]\w+)*")
_LETTER_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
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
    spoken = _HEADING_LINE.sub("", text) if "#" in text else text
    tokens = _COUNTED_WORD.findall(spoken)
    if not _UNSPACED.search(spoken):
        return len(tokens)
    count = 0
    for token in tokens:
        unspaced = sum(len(run) for run in _UNSPACED.findall(token))
        count += math.ceil(unspaced / 2) + (1 if len(token) > unspaced else 0) if unspaced else 1
    return count


def estimate_seconds(text: str, wpm: float = 150) -> float:
    """Narration time of text at wpm words per minute, rounded to 0.1 s."""
    if wpm <= 0:
        raise ValueError("wpm must be positive")
    return round(word_count(text) * 60.0 / wpm, 1)


def letter_words(text: str) -> Iterator[re.Match[str]]:
    """Every run of letters (with inner apostrophes) in text."""
    return _LETTER_WORD.finditer(text)


@lru_cache(maxsize=1)
def _frequencies() -> dict[str, float]:
    # The small list loads in ~10 ms (the large one in ~300 ms) and covers every
    # word common enough to matter; rarer words all get the maximum weight anyway.
    return wordfreq.get_frequency_dict(_LANGUAGE, wordlist="small")


@lru_cache(maxsize=65536)
def word_weight(word: str) -> float:
    """Inverse-frequency weight of a lowercase word: 0 for function words, 3.5 for rare ones."""
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
