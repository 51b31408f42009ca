"""Keyphrases: the noun phrases that say what a passage is about.

Candidates come from the noun-phrase chunker, so a keyphrase is always a whole noun phrase
as written ("the spiral stairs", "Suez Canal"), never a run of adjectives or a verb. They
are ranked by the rarity of their rarest word in English, how often their head noun comes
back, and whether they name something.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from .noun_phrases import NounPhrase, noun_phrases
from .words import stem, word_weight

# A head noun more common than this (zipf above ~5.6: "people", "way", "time") says nothing.
_HEAD_WEIGHT = 0.4
_NAME_BOOST = 1.5
_REPEAT_BONUS = 0.5


@dataclass(frozen=True)
class Keyphrase:
    """A noun phrase as first written, its score, and what a sentence built around it needs to know."""

    text: str
    score: float
    is_name: bool
    lemmas: tuple[str, ...] = ()
    determiner: str = ""  # the determiner it had in the text ("the", "a", "their"), if any
    plural: bool = False
    start: int = 0  # where it is first written

    @property
    def head(self) -> str:
        """The lemma of the head noun: "stair" for "the spiral stairs"."""
        return self.lemmas[-1] if self.lemmas else self.text.lower()


def keyphrases(text: str, limit: int = 5) -> list[Keyphrase]:
    """The best-scoring noun phrases of text that share no word, best first; deterministic."""
    return best_phrases(candidate_phrases(text), limit)


def candidate_phrases(text: str) -> list[Keyphrase]:
    """Every distinct noun phrase of text with a meaningful head, scored, in order of first use."""
    phrases = noun_phrases(text)
    head_counts = Counter(phrase.lemmas[-1] for phrase in phrases)
    seen: set[tuple[str, ...]] = set()
    candidates = []
    for phrase in phrases:
        if phrase.lemmas in seen or not _meaningful(phrase):
            continue
        seen.add(phrase.lemmas)
        candidates.append(_scored(phrase, head_counts[phrase.lemmas[-1]]))
    return candidates


def best_phrases(
    candidates: list[Keyphrase], limit: int, key: Callable[[Keyphrase], tuple[float, ...]] = lambda p: (p.score,)
) -> list[Keyphrase]:
    """Up to limit candidates by descending key (ties: earlier first) that share no word with a better one."""
    ranked = sorted(enumerate(candidates), key=lambda item: (tuple(-value for value in key(item[1])), item[0]))
    chosen: list[Keyphrase] = []
    for _, phrase in ranked:
        if len(chosen) < limit and not any(shares_word(phrase, kept) for kept in chosen):
            chosen.append(phrase)
    return chosen


def shares_word(a: Keyphrase, b: Keyphrase) -> bool:
    """Whether two phrases have a word in common, plural or singular."""
    return bool({stem(word) for word in a.lemmas} & {stem(word) for word in b.lemmas})


def _meaningful(phrase: NounPhrase) -> bool:
    return phrase.is_name or word_weight(phrase.lemmas[-1].split("-")[-1]) >= _HEAD_WEIGHT


def _scored(phrase: NounPhrase, head_count: int) -> Keyphrase:
    # The rarest word says what the phrase is about; more modifiers do not make it more so.
    rarity = max(word_weight(part) for word in phrase.lemmas for part in word.split("-") if part)
    score = rarity * (1 + _REPEAT_BONUS * (head_count - 1)) * (_NAME_BOOST if phrase.is_name else 1.0)
    return Keyphrase(phrase.text, round(score, 3), phrase.is_name, phrase.lemmas, phrase.determiner, phrase.plural,
                     phrase.start)
