"""Noun phrases of English prose: a small rule-based chunker over a word-class lexicon.

A phrase is optional modifiers (adjectives, nouns, names, possessives, a participle such as
"crushed" or "grilling") followed by a noun head; it never ends on an adjective or a verb.
Which class an ambiguous word takes comes from its neighbours: a word after "the" or "of"
starts a phrase, a word after "they", "has" or "to" is a verb, and a verb-like word after a
noun ("the keeper climbs the stairs") ends the phrase. Precision matters more than recall
here: a phrase the rules are unsure of is left out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .word_classes import (
    ADJ, ADP, ADV, AUX, CONJ, DET, NOUN, NUM, PART, PRON, VERB,
    closed_class, in_lexicon, is_past_form, is_plural_noun, lemma, open_classes,
)

PROPN = "PROPN"
_TOKEN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+(?:[.,]\d+)*(?:st|nd|rd|th|s)?|[^\w\s]")
_SENTENCE_END = {".", "!", "?", "…", ":", ";", "#", "\"", "“", "”"}
_POSSESSIVE = ("'s", "’s")
# Words that join two names into one: "Kingdom of Kongo", "Republic of the Congo".
_NAME_LINKS = {"of", "de", "da", "del", "di", "du", "des", "la", "le", "el", "von", "van"}
# Words that tend to follow a verb but rarely a plural noun: "climbs the", "dived to".
_AFTER_VERB = {DET, PRON, NUM, PART}
_COORDINATORS = {"and", "or", "but", "nor"}
# Words that open a relative clause, which often follows a plural noun: "protests that began".
_RELATIVES = {"that", "which", "who", "whom", "whose"}
_MAX_WORDS = 4
_MAX_NAME_WORDS = 6


@dataclass(frozen=True)
class NounPhrase:
    """A noun phrase as written (a sentence-initial capital lowered), where it starts and its parts."""

    text: str
    start: int
    lemmas: tuple[str, ...]
    determiner: str  # the article or determiner just before it ("the", "a", "their"), or ""
    is_name: bool  # every word is a name: "Johannes Gutenberg", "Suez Canal"
    plural: bool


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int
    kind: str  # a closed class, PROPN, "PUNCT" or "OPEN"
    classes: frozenset[str]  # what an "OPEN" word can be: NOUN, ADJ, VERB, ADV
    possessive: bool
    lowered: bool  # a sentence-initial capital that only marks the start of a sentence


# What the previous words make of the next open-class word.
_CLAUSE = "clause"  # sentence start, punctuation, "when": a subject or a verb
_PHRASE = "phrase"  # after "the", "of", "two": a noun phrase
_VERB = "verb"  # after "they", "has", "to", "still": a verb
_OBJECT = "object"  # after a verb: its object, or a verb joined by "and"
_SUBJECT = "subject"  # after a noun phrase: a verb, or a noun phrase joined by "and"


def noun_phrases(text: str) -> list[NounPhrase]:
    """Every noun phrase of text, in order."""
    tokens = _tokens(text)
    phrases: list[NounPhrase] = []
    state = _CLAUSE
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind not in ("OPEN", PROPN):
            state = _state_after(token, state)
            i += 1
        elif token.kind == "OPEN" and _is_verb_here(tokens, i, state):
            # After an adverb the verb is still to come ("rarely caught smallpox").
            state = state if token.classes == {ADV} else _OBJECT
            i += 1
        else:
            end, head = _extent(tokens, i)
            if head is None:
                state = _SUBJECT  # an adjective with no noun ("grew nervous as", "the female lays"): a verb may follow
            else:
                phrases.append(_phrase(text, tokens, i, head))
                state = _SUBJECT
            i = end
    return phrases


def _tokens(text: str) -> list[_Token]:
    """Words, numbers and punctuation with their class, sentence-initial capitals resolved."""
    raw = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    capitalised_inside = {
        word for i, (word, _, _) in enumerate(raw) if word[0].isupper() and i and raw[i - 1][0] not in _SENTENCE_END
    }
    tokens = []
    sentence_start = True
    for i, (word, start, end) in enumerate(raw):
        if len(word) <= 2 and word[0].isalpha() and i + 1 < len(raw) and raw[i + 1][0] == ".":
            word = "."  # an initial or abbreviation ("B.C.", "ca."): no phrase, and no sentence start after it
        tokens.append(_classify(word, start, end, sentence_start, capitalised_inside))
        sentence_start = word in _SENTENCE_END or (sentence_start and not word[0].isalnum())
    return tokens


def _classify(word: str, start: int, end: int, sentence_start: bool, capitalised_inside: set[str]) -> _Token:
    if not word[0].isalnum():
        return _Token(word, start, end, "PUNCT", frozenset(), False, False)
    if word[0].isdigit():
        return _Token(word, start, end, NUM, frozenset(), False, False)
    possessive = word.endswith(_POSSESSIVE) and len(word) > 2
    bare = word[:-2] if possessive else word
    lower = bare.lower()
    closed = closed_class(lower)
    if closed and not possessive:
        return _Token(word, start, end, closed, frozenset(), False, False)
    if "'" in bare or "’" in bare:
        if re.search(r"['’][A-Z]", bare):
            return _Token(word, start, end, PROPN, frozenset(), possessive, False)  # "O'Brien", "d'Ivoire"
        return _Token(word, start, end, AUX, frozenset(), False, False)  # "don't", "we'll", "it's"
    if bare[0].isupper():
        # At a sentence start a capital says nothing, unless the word is capitalised elsewhere or unknown.
        if not sentence_start or bare in capitalised_inside or bare.isupper() or not in_lexicon(lower.rsplit("-", 1)[-1]):
            return _Token(word, start, end, PROPN, frozenset(), possessive, False)
        return _Token(word, start, end, "OPEN", open_classes(lower), possessive, True)
    return _Token(word, start, end, "OPEN", open_classes(lower), possessive, False)


def _state_after(token: _Token, state: str) -> str:
    """How the next open-class word reads after this closed-class word or punctuation."""
    if token.text.lower() in _COORDINATORS:
        # "yeasts and bacteria", "bubble and smell": "and" joins two of a kind.
        return {_SUBJECT: _PHRASE, _OBJECT: _VERB}.get(state, state)
    if token.kind in (DET, ADP, NUM):
        return _PHRASE
    if token.kind in (PRON, AUX, PART, ADV) or state == _SUBJECT and token.text.lower() in _RELATIVES:
        return _VERB  # "they carry", "has guarded", "to light", "still guards", "a tradition that puzzles"
    return _CLAUSE


def _is_verb_here(tokens: list[_Token], i: int, state: str) -> bool:
    """Whether the open-class word at i, where no phrase is open, is better read as a verb or adverb."""
    classes = tokens[i].classes
    word = tokens[i].text.lower()
    before = tokens[i - 1].text.lower() if i else ""
    if state in (_VERB, _SUBJECT):
        return bool(classes & {VERB, ADV})
    if VERB in classes and word.endswith("ing") and (tokens[i - 1].kind == ADP or before in _COORDINATORS | {","}):
        return True  # a gerund or participle clause: "by buying flour", "grinding the bedrock and carving valleys"
    if state == _PHRASE and _participle_modifier(tokens, i):
        return False  # "from dissolved gases"
    if not classes & {NOUN, ADJ}:
        return True
    if VERB in classes and before in _COORDINATORS and _next_kind(tokens, i) in _AFTER_VERB:
        return True  # "puzzles visitors but delights the crowd"
    if state in (_PHRASE, _OBJECT):
        return False
    if VERB in classes and is_past_form(word):
        return True  # "which included", "and preyed on"
    return VERB in classes and (_next_kind(tokens, i) in _AFTER_VERB or _next_is_preposition(tokens, i))  # "cuts the wax"


def _participle_modifier(tokens: list[_Token], i: int) -> bool:
    """A verb-only "-ing"/"-ed" word used as an adjective before a plain noun: "grilling stalls", "crushed peanuts"."""
    word = tokens[i].text.lower()
    if tokens[i].classes != {VERB} or not word.endswith(("ing", "ed")) or i + 1 >= len(tokens):
        return False
    following = tokens[i + 1]
    return following.kind == "OPEN" and NOUN in following.classes and ADJ not in following.classes


def _extent(tokens: list[_Token], i: int) -> tuple[int, int | None]:
    """(index after the phrase, index of its head) for a phrase starting at i; head None when there is no noun."""
    k = i
    head: int | None = None
    while k < len(tokens):
        token = tokens[k]
        if token.kind == PROPN:
            previous = tokens[k - 1]
            if k > i and previous.kind == "OPEN" and not previous.possessive and ADJ not in previous.classes:
                break  # "the engraver Johann" is two phrases, "present-day Togo" one
        elif token.kind == "OPEN":
            if k > i and _ends_phrase(tokens, k):
                break
            if not token.classes & {NOUN, ADJ} and k > i:
                break
        elif not _name_link(tokens, k):
            break
        if token.possessive:
            head = None  # "the keeper's daughter": the owner is a modifier
        elif token.kind == PROPN or NOUN in token.classes:
            head = k
        k += 1
        if head == k - 1 and token.kind != PROPN and is_plural_noun(token.text.lower()) and not _noun_only_next(tokens, k):
            break  # English puts the plural at the end of a noun phrase
    if head == i and tokens[i].kind == "OPEN" and ADJ in tokens[i].classes:
        head = None  # "a long, slow rise": one word that may be an adjective is no phrase
    return max(k, i + 1), head


def _ends_phrase(tokens: list[_Token], k: int) -> bool:
    """Whether the open-class word at k, after a noun-phrase word, is a verb that ends the phrase."""
    token = tokens[k]
    word = token.text.lower()
    previous = tokens[k - 1]
    if VERB not in token.classes:
        return False
    if not token.classes & {NOUN, ADJ}:
        return True  # "the engraver worked", "Armstrong stepping"
    after_noun = previous.kind == PROPN or (NOUN in previous.classes and not previous.possessive)
    if not after_noun:
        return False
    if is_past_form(word):
        return True  # "the plate printed in mirror image", "a blocked canal left ships waiting"
    following = _next_kind(tokens, k)
    if following in _AFTER_VERB or _next_is_preposition(tokens, k):
        return True  # "the keeper climbs the stairs", "the town sits on a hill"
    third_person = word.endswith("s") and previous.kind == "OPEN" and previous.classes & {NOUN, ADJ} == {NOUN}
    following_word = tokens[k + 1].text.lower() if k + 1 < len(tokens) else ""
    # "the chef spends years", "a volcano forms where"; but "wild yeasts and bacteria"
    return third_person and not is_plural_noun(previous.text.lower()) and (
        following == "OPEN" or (following == CONJ and following_word not in _COORDINATORS | _RELATIVES))


def _name_link(tokens: list[_Token], k: int) -> bool:
    """ "of" or "of the" between two names: "Kingdom of Kongo", "Republic of the Congo"."""
    if k == 0 or tokens[k - 1].kind != PROPN or tokens[k].text.lower() not in _NAME_LINKS:
        return False
    after = k + 2 if k + 2 < len(tokens) and tokens[k + 1].text.lower() == "the" else k + 1
    return after < len(tokens) and tokens[after].kind == PROPN


def _next_is_preposition(tokens: list[_Token], k: int) -> bool:
    """A preposition other than "of", which follows nouns far more often than verbs."""
    return k + 1 < len(tokens) and tokens[k + 1].kind == ADP and tokens[k + 1].text.lower() != "of"


def _next_kind(tokens: list[_Token], k: int) -> str:
    return tokens[k + 1].kind if k + 1 < len(tokens) else "PUNCT"


def _noun_only_next(tokens: list[_Token], k: int) -> bool:
    """The next word can only be a noun: "sales figures" goes on, "gases pushes" does not."""
    return k < len(tokens) and tokens[k].kind == "OPEN" and tokens[k].classes == {NOUN}


def _phrase(text: str, tokens: list[_Token], first: int, head: int) -> NounPhrase:
    """The phrase from first to head, keeping the last words (English heads come last)."""
    is_name = all(t.kind == PROPN or t.text.lower() in _NAME_LINKS | {"the"} for t in tokens[first : head + 1])
    limit = _MAX_NAME_WORDS if is_name else _MAX_WORDS
    words = [i for i in range(first, head + 1) if tokens[i].kind in ("OPEN", PROPN) or tokens[i].kind in (ADP, DET)]
    start_index = words[-limit] if len(words) > limit else first
    while tokens[start_index].kind not in ("OPEN", PROPN):
        start_index += 1  # never open on "of" or "the"
    first_token, last = tokens[start_index], tokens[head]
    end = last.end - (2 if last.possessive else 0)
    written = " ".join(text[first_token.start : end].split())
    if first_token.lowered:
        written = written[0].lower() + written[1:]
    determiner = tokens[first - 1].text.lower() if start_index == first and first and tokens[first - 1].kind == DET else ""
    lemmas = tuple(
        lemma(t.text.lower().removesuffix("'s").removesuffix("’s"))
        for t in tokens[start_index : head + 1]
        if t.kind in ("OPEN", PROPN)
    )
    return NounPhrase(written, first_token.start, lemmas, determiner, is_name,
                      last.kind != PROPN and is_plural_noun(last.text.lower()))
