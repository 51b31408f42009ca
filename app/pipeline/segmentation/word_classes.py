"""Word classes of English words, out of context: closed classes from short lists, open ones from a lexicon.

The open-class lexicon is lemminflect's (the NIH SPECIALIST lexicon: about 180,000 word forms,
each with the parts of speech it can have and its lemma; 0.8 MB, no model weights to fetch).
A word can belong to several classes ("light" is a noun, verb, adjective and adverb); choosing
one in context is the chunker's job.
"""
from __future__ import annotations

from functools import lru_cache

from lemminflect import getAllLemmas

NOUN, ADJ, VERB, ADV = "NOUN", "ADJ", "VERB", "ADV"
DET, ADP, PRON, CONJ, AUX, PART, NUM = "DET", "ADP", "PRON", "CONJ", "AUX", "PART", "NUM"

_CLOSED = {
    DET: "the a an this these those his her its their our my your every each some many few several "
         "all both any no another other such much more most either neither whose",
    ADP: "of for in on at by with from into onto over under through across against along toward towards upon "
         "about above below beneath behind beyond beside besides between among amid around near inside "
         "outside within without throughout during despite via per past than like unlike off up down out",
    PRON: "i me we us you he him she it they them myself ourselves yourself himself herself itself "
          "themselves one everyone everything someone something anyone anything nobody nothing none "
          "mine yours hers ours theirs",
    CONJ: "and or but nor yet so that because although though while whereas if unless until since as once "
          "when whenever where wherever whether which who whom what whatever how why before after",
    AUX: "be am is are was were been being have has had having do does did can could will would shall "
         "should may might must",
    PART: "to not",
    NUM: "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
         "hundred thousand million billion trillion dozen",
    ADV: "also just only still even then now there here far away almost quite rather perhaps too very "
         "again already soon often never always ever yet else instead together back ago",
}
_CLOSED_CLASSES = {word: kind for kind, words in _CLOSED.items() for word in words.split()}
# Suffixes that make an unknown lowercase word an adjective rather than a noun.
_ADJECTIVE_SUFFIXES = ("ous", "ful", "less", "ive", "able", "ible", "ic", "al", "ish", "ary", "esque")


def closed_class(word: str) -> str | None:
    """DET, ADP, PRON, CONJ, AUX, PART, NUM or the closed ADV list for a lowercase function word, else None."""
    if word.isdigit():
        return NUM
    if "-" in word and all(_CLOSED_CLASSES.get(part) == NUM for part in word.split("-")):
        return NUM  # "forty-two"
    return _CLOSED_CLASSES.get(word)


@lru_cache(maxsize=65536)
def open_classes(word: str) -> frozenset[str]:
    """NOUN, ADJ, VERB, ADV: what a lowercase content word can be; an unknown one is a noun, or an adjective by its suffix."""
    if "-" in word:
        # "U-shaped", "burnt-out" modify a noun; "close-up" can also be one.
        return frozenset({ADJ}) | (frozenset({NOUN}) & open_classes(word.rsplit("-", 1)[1] or word))
    known = in_lexicon(word)
    if known:
        return known
    if word.endswith("ly") and len(word) > 4:
        return frozenset({ADV})
    return frozenset({ADJ}) if word.endswith(_ADJECTIVE_SUFFIXES) else frozenset({NOUN})


@lru_cache(maxsize=65536)
def in_lexicon(word: str) -> frozenset[str]:
    """The open classes the lexicon gives a lowercase word; empty when it does not know it."""
    return frozenset(getAllLemmas(word)) & {NOUN, ADJ, VERB, ADV}


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    """The dictionary form of a lowercase word: the noun's if it can be one ("plates" -> "plate"), else the verb's."""
    lemmas = getAllLemmas(word.rsplit("-", 1)[-1])
    for kind in (NOUN, VERB, ADJ, ADV):
        if kind in lemmas:
            head = lemmas[kind][0].lower()
            return word.rsplit("-", 1)[0] + "-" + head if "-" in word else head
    return word


def is_past_form(word: str) -> bool:
    """A lowercase verb form that is neither its base, its "-s" form nor its "-ing" form: "printed", "left", "built"."""
    verbs = getAllLemmas(word).get(VERB, ())
    return bool(verbs) and word not in verbs and not word.endswith(("s", "ing"))


def is_plural_noun(word: str) -> bool:
    """A noun in a plural form the lexicon knows ("plates", "wolves"; not "glass", nor the unknown "mitochondria")."""
    if NOUN not in open_classes(word):
        return False
    singular = lemma(word)
    return singular != word and not word.endswith(("'s", "’s"))
