"""Chapter titles for topics without a heading: the chapter's most central keyphrase.

Central means closest to the chapter as a whole: each sentence's cohesion vector (the same
weighted terms the segmenter compares sentences with) is normalised and summed into the
chapter's centroid, and a phrase scores the centroid weight of its words. A word that comes
back across the chapter ("engraving") beats a rarer one that fills a single sentence
("pewter"), and a word used all over the script weighs little, so titles tell chapters apart.
"""
from __future__ import annotations

import math

from .cohesion import term_vectors
from .keyphrases import Keyphrase, best_phrases, candidate_phrases
from .words import letter_words, stem, word_weight

TITLE_CHARS = 60
_FALLBACK_WORDS = 6
# Lowercase inside a title ("Kingdom of Kongo"), and never at its end.
_MINOR_WORDS = frozenset("a an the and or but nor of in on at by for to with from into as de la von van da del".split())
# Leading modifiers this common add nothing to a title: "old lighthouse" -> "Lighthouse".
_GENERIC_WEIGHT = 0.4
# A chapter's opening sentence usually names its subject ("Sourdough begins with a starter..."), so it counts
# this many times in the centroid; tuned on chapters other than the test scripts.
_OPENING_WEIGHT = 2.0


def chapter_titles(chapters: list[list[str]], given: list[str]) -> list[str]:
    """A title per chapter (its sentences): the given one where there is one, else its most central keyphrase."""
    if all(given):
        return list(given)
    sentences = [sentence for chapter in chapters for sentence in chapter]
    vectors = iter(term_vectors(sentences))
    titles: list[str] = []
    for chapter, title in zip(chapters, given):
        centroid = _centroid([next(vectors) for _ in chapter])
        taken = {t.lower() for t in titles + given if t}
        titles.append(title or _central_title(" ".join(chapter), centroid, taken) or _opening_words(chapter, len(titles)))
    return titles


def title_case(phrase: str) -> str:
    """Capitalise a phrase as a title: minor words stay lowercase inside it; names and acronyms keep their capitals."""
    words = phrase.split()
    cased = []
    for i, word in enumerate(words):
        if 0 < i < len(words) - 1 and word in _MINOR_WORDS:
            cased.append(word)
        elif any(letter.isupper() for letter in word):
            cased.append(word)  # "McDonald", "NASA", "Suez"
        else:
            cased.append("-".join(part[:1].upper() + part[1:] for part in word.split("-")))
    return " ".join(cased)


def cap_title(title: str, limit: int = TITLE_CHARS) -> str:
    """title cut to at most limit characters at a word boundary, with no minor word or punctuation left at its end."""
    title = " ".join(title.split())
    if len(title) > limit:
        cut = title.rfind(" ", 0, limit + 1)
        # No space at all: an unspaced script (Chinese, Japanese), where any character ends a word.
        title = title[:cut] if cut > 0 else title[:limit]
    words = title.split(" ")
    while len(words) > 1 and words[-1].lower().strip(",;:–—-") in _MINOR_WORDS | {""}:
        words.pop()
    return " ".join(words).rstrip(",;:–—-")


def _centroid(vectors: list[dict[str, float]]) -> dict[str, float]:
    """Sum of the unit-length sentence vectors, the opening one counted more: terms that recur across the chapter weigh most."""
    centroid: dict[str, float] = {}
    for index, vector in enumerate(vectors):
        norm = math.sqrt(sum(weight * weight for weight in vector.values())) or 1.0
        scale = (_OPENING_WEIGHT if index == 0 else 1.0) / norm
        for term, weight in vector.items():
            centroid[term] = centroid.get(term, 0.0) + weight * scale
    return centroid


def _central_title(body: str, centroid: dict[str, float], taken: set[str]) -> str:
    """The body's most central keyphrase not yet used as a title, title-cased, or ""."""
    candidates = [p for p in candidate_phrases(body) if title_case(_without_generic_lead(p)).lower() not in taken]

    def centrality(phrase: Keyphrase) -> tuple[float, float]:
        terms = [stem(m.group().lower()) for m in letter_words(phrase.text) if word_weight(m.group().lower()) > 0]
        weight = sum(centroid.get(term, 0.0) for term in terms) / math.sqrt(len(terms)) if terms else 0.0
        return round(weight, 6), phrase.score

    best = best_phrases(candidates, 1, key=centrality)
    return cap_title(title_case(_without_generic_lead(best[0]))) if best else ""


def _without_generic_lead(phrase: Keyphrase) -> str:
    """The phrase without leading common modifiers ("old", "great", "first"), unless it is a name."""
    words = phrase.text.split()
    if phrase.is_name:
        return phrase.text
    while len(words) > 1 and word_weight(words[0].lower()) < _GENERIC_WEIGHT:
        words.pop(0)
    return " ".join(words)


def _opening_words(chapter: list[str], index: int) -> str:
    """For text with no noun phrase to go on: its first few words, or "Part N"."""
    words = " ".join(chapter).split()[:_FALLBACK_WORDS]
    return cap_title(" ".join(words)) or f"Part {index + 1}"
