"""Keyphrases: the rarer, repeated noun-ish word groups that say what a passage is about.

No part-of-speech tagger is available offline, so phrases are runs of weighty words cut
at punctuation, common words and cheap verb and adverb cues; good enough for chapter
titles and the subject of a suggested shot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .words import stem, word_weight

# Words more common than this (zipf above ~5.6: "people", "make", "very") end a phrase.
_PHRASE_WEIGHT = 0.4
# A sentence-initial capital is only trusted as a name for words rarer than this ("Arab" yes, "Sales" no).
_COMMON_WEIGHT = 1.5
_MAX_PHRASE_WORDS = 3
_NAME_BOOST = 1.5
# Suffixes of words that are rarely the head of a noun phrase.
_NOT_HEAD = ("ly", "ed", "ing", "ous", "ful", "ive", "able", "ible", "ic", "al")
# Function words after which the word before is most likely a verb ("the keeper climbs the stairs").
_VERB_FOLLOWERS = frozenset(
    "the a an this that these those his her its their our my your to into onto on in at by with from "
    "over under through across against along toward towards up down out off away inside outside within "
    "among amid beside throughout".split()
)
# Verbs and adverbs rare enough to pass the weight filter.
_NOT_IN_PHRASES = frozenset(
    "arose arisen became become becomes began begun bore fell fought fled flew forbade forgave froze grew overthrew "
    "hid rode rose sank shook shone slew sought spoke stood strode struck swam swore swept threw "
    "thrived throve wove wept withdrew wrought above below beneath behind beyond nearby ago yet "
    "onward onwards meanwhile inside outside within among amid beside throughout despite whereas "
    "hours days weeks months decade decades century centuries".split()
)
_SENTENCE_END = {".", "!", "?", "…", ":", ";"}
_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+(?:[.,]\d+)*[^\W\d_]*|[^\w\s]")


@dataclass(frozen=True)
class Keyphrase:
    """A phrase as written (first occurrence), its score and whether it names something."""

    text: str
    score: float
    is_name: bool


@dataclass
class _Candidate:
    words: list[str]
    count: int
    first: int


def keyphrases(text: str, limit: int = 5) -> list[Keyphrase]:
    """The best-scoring phrases of text that share no word, best first; deterministic."""
    candidates: dict[tuple[str, ...], _Candidate] = {}
    for phrase in _candidate_phrases(text):
        key = tuple(stem(word.lower()) for word in phrase)
        if key in candidates:
            candidates[key].count += 1
        else:
            candidates[key] = _Candidate(phrase, 1, len(candidates))
    ranked = []
    for candidate in candidates.values():
        is_name = all(word[0].isupper() for word in candidate.words)
        score = sum(word_weight(word.lower()) for word in candidate.words) * (1 + 0.5 * (candidate.count - 1))
        score *= _NAME_BOOST if is_name else 1.0
        ranked.append((-score, candidate.first, Keyphrase(" ".join(candidate.words), round(score, 3), is_name)))
    ranked.sort(key=lambda item: item[:2])
    chosen: list[Keyphrase] = []
    for _, _, phrase in ranked:
        if len(chosen) < limit and not any(_shares_word(phrase.text, kept.text) for kept in chosen):
            chosen.append(phrase)
    return chosen


def title_case(phrase: str) -> str:
    """Capitalise each word's first letter, leaving acronyms and inner capitals alone."""
    return " ".join(word[:1].upper() + word[1:] for word in phrase.split())


def _candidate_phrases(text: str) -> list[list[str]]:
    """Runs of meaningful words, cut at punctuation, common words and likely verbs."""
    tokens = _TOKEN.findall(text)
    capitalised_inside = {
        t for i, t in enumerate(tokens) if t[0].isupper() and i and tokens[i - 1] not in _SENTENCE_END
    }
    words: list[str] = []
    sentence_start = True
    for token in tokens:
        word = token
        if sentence_start and token[0].isupper() and token not in capitalised_inside:
            if word_weight(token.lower()) < _COMMON_WEIGHT:
                word = token.lower()  # "Sales grew": a capital that only marks the sentence start
        words.append(word)
        sentence_start = token in _SENTENCE_END or (sentence_start and not token[0].isalpha())
    following = words[1:] + [""]
    usable = [_is_phrase_word(word, after) for word, after in zip(words, following)]
    for i in range(len(words) - 1):
        # English puts the plural at the end of a noun phrase: "sunlight splits water" has a verb inside.
        if usable[i] and usable[i + 1] and _verb_shaped(words[i]) and not words[i][0].isupper():
            usable[i] = False
    phrases: list[list[str]] = []
    run: list[str] = []
    for word, ok in zip(words, usable):
        if ok and not (run and word.endswith("ed") and not word[0].isupper()):
            run.append(word)
        else:
            phrases.extend(_trim_run(run))
            run = []
    phrases.extend(_trim_run(run))
    return phrases


def _is_phrase_word(word: str, following: str) -> bool:
    """Whether word can belong to a noun-ish phrase, judged by rarity and cheap verb and adverb cues."""
    kind = _word_kind(word)
    if kind == _VERB_SHAPED:
        return following.lower() not in _VERB_FOLLOWERS and not following[:1].isupper()  # "stands on", "elevated Egypt"
    return kind == _PHRASE_WORD


_NOT_PHRASE_WORD, _PHRASE_WORD, _VERB_SHAPED = range(3)


@lru_cache(maxsize=65536)
def _word_kind(word: str) -> int:
    """What word can be in a phrase, before looking at its neighbours."""
    lower = word.lower()
    if not word[0].isalpha() or word_weight(lower) < _PHRASE_WEIGHT or lower in _NOT_IN_PHRASES:
        return _NOT_PHRASE_WORD
    if word[0].isupper():
        return _PHRASE_WORD
    if lower.endswith("ly") and not lower.endswith(("ily", "ply")) and len(lower) > 5:
        return _NOT_PHRASE_WORD  # an adverb
    return _VERB_SHAPED if _verb_shaped(lower) else _PHRASE_WORD


def _verb_shaped(word: str) -> bool:
    return word.endswith("ed") or (word.endswith("s") and not word.endswith(("ss", "us", "is")))


def _trim_run(run: list[str]) -> list[list[str]]:
    """Drop trailing non-head words, then keep the last words (English heads come last)."""
    while run and run[-1].lower().endswith(_NOT_HEAD) and not run[-1][0].isupper():
        run = run[:-1]
    if not run:
        return []
    run = run[-_MAX_PHRASE_WORDS:]
    if run[-1].endswith(("'s", "’s")):
        run[-1] = run[-1][:-2]
    return [run]


def _shares_word(a: str, b: str) -> bool:
    return bool({stem(w.lower()) for w in a.split()} & {stem(w.lower()) for w in b.split()})
