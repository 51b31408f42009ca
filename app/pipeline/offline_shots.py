"""The offline scene description: a shot built from the scene's own noun phrases by a small grammar.

    description := framing " of " subject [" " setting] [", " figure " in the foreground"]
                   [", " detail " in the background"] ", " light "; " mood "."
                 | "Clean infographic-style chart about " subject ", with large, bold key figures"
                   [" and simple icons for " detail] "; uncluttered layout, generous white space."

subject, figure and detail are whole noun phrases taken from the narration by the chunker (so
never a stray adjective or verb), given an article where English wants one; framing, setting,
light and mood come from the fixed phrases below. A slot whose words would repeat a word
already in the description takes its next option or stays empty. Deterministic: the only
choice not made by the text is made by a checksum of it.
"""
from __future__ import annotations

import re
import zlib

from .segmentation import sentence_spans
from .segmentation.keyphrases import Keyphrase, best_phrases, candidate_phrases, shares_word
from .segmentation.word_classes import closed_class, lemma
from .segmentation.words import letter_words, stem

SETTINGS = {
    "coast": "on a windswept coast", "shore": "on a windswept coast", "cliff": "on a rocky clifftop",
    "beach": "on a wide sandy beach", "sea": "above a grey sea", "ocean": "over the open ocean",
    "wave": "by breaking waves", "harbour": "in a busy harbour", "harbor": "in a busy harbor",
    "port": "in a busy port", "island": "on a small island", "river": "along a wide river",
    "canal": "beside a long canal", "lake": "on the shore of a still lake", "mountain": "among high mountains",
    "valley": "across a green valley", "desert": "in an open desert", "forest": "in a dense forest",
    "jungle": "in a humid jungle", "field": "across open fields", "farm": "on a working farm",
    "village": "in a small village", "town": "on a small-town street", "city": "on a busy city street",
    "capital": "over the rooftops of a capital city", "street": "on a busy street", "market": "in a crowded market",
    "factory": "inside a factory hall", "mine": "at an open-pit mine", "oil": "at an oil field",
    "laboratory": "in a bright laboratory", "lab": "in a bright laboratory", "hospital": "in a hospital ward",
    "school": "in a classroom", "classroom": "in a classroom", "university": "on a university campus",
    "office": "in an open-plan office", "kitchen": "in a home kitchen", "home": "inside a lived-in home",
    "house": "inside a lived-in home", "garden": "in a garden", "church": "inside an old church",
    "temple": "among ancient temple ruins", "palace": "in a palace hall", "parliament": "in a parliament chamber",
    "court": "in a courtroom", "border": "at a guarded border crossing", "battle": "on a smoky battlefield",
    "war": "on a smoky battlefield", "army": "at a military camp", "space": "in orbit above the Earth",
    "planet": "in deep space", "moon": "on the lunar surface", "sky": "against an open sky",
    "airport": "at an airport", "train": "at a railway station", "railway": "along a railway line",
    "road": "along an empty road", "bridge": "at a long bridge", "museum": "in a quiet museum gallery",
    "library": "in a library reading room", "stadium": "in a packed stadium", "computer": "at a desk of glowing screens",
    "software": "at a desk of glowing screens", "data": "at a desk of glowing screens", "internet": "at a desk of glowing screens",
}
LIGHTS = {
    "dusk": "at dusk", "sunset": "at sunset", "evening": "in evening light", "dawn": "at dawn",
    "sunrise": "at sunrise", "morning": "in soft morning light", "night": "at night", "midnight": "at night",
    "winter": "in pale winter light", "snow": "under falling snow", "rain": "in the rain", "storm": "under a stormy sky",
    "summer": "in bright summer sun", "autumn": "in autumn colours", "spring": "in fresh spring light", "fog": "in thick fog",
}
DEFAULT_LIGHTS = ("in soft morning light", "in warm afternoon light", "in even overcast daylight", "in golden evening light")
MOODS = ("tense, sombre mood, muted colours", "bright, hopeful mood, vivid colours", "calm, unhurried mood, natural colours")
FRAMINGS = {
    "people": ("Medium shot of", "Over-the-shoulder shot of"),
    "place": ("Wide establishing shot of", "Aerial view of"),
    "thing": ("Close-up of", "Detailed medium shot of"),
    "name": ("Documentary still of", "Detailed medium shot of"),  # a person or a place: the text does not say which
}
ABSTRACT_FRAMING = "Conceptual still life evoking"
CHART = ("Clean infographic-style chart about {subject}, with large, bold key figures{icons}; "
         "uncluttered layout, generous white space.")
PERIOD_STYLE = "Period-style"
PEOPLE = frozenset(
    "keeper farmer worker scientist doctor nurse teacher student child family crowd people soldier king queen "
    "emperor empress president leader sailor fisherman villager citizen protester voter engineer explorer merchant "
    "trader settler refugee man woman boy girl baby mother father son daughter brother sister monk nun priest "
    "pilgrim chef cook baker butcher farmer shepherd hunter miner builder mason carpenter blacksmith smith weaver "
    "potter painter sculptor artist musician singer dancer actor writer poet author reader pupil athlete player "
    "runner cyclist swimmer climber hiker surfer goalkeeper captain coach referee fan spectator pilot driver "
    "passenger traveller traveler tourist visitor guide vendor seller buyer customer shopper investor founder "
    "manager employee clerk officer policeman guard warrior knight legionary general chief elder tribe neighbour "
    "neighbor friend stranger prisoner slave servant maid milkmaid engraver printer scribe astronaut diver "
    "photographer journalist reporter nomad herder beekeeper gardener craftsman fishermen".split()
)
_NUMBERS = re.compile(r"\d[\d,.]*\s*(?:%|percent|per cent|million|billion|trillion)|[$€£¥]\s?\d", re.IGNORECASE)
# Dates that call for a period look: years before 1950, "17th century", B.C.
_PERIOD = re.compile(r"\b(?:1[0-8]\d\d|19[0-4]\d)s?\b|\b\d{1,2}(?:st|nd|rd|th) centur|\bB\.C\.")
_TENSE = frozenset("war crisis conflict kill death disaster coup violence famine collapse storm fear attack fight "
                   "rebel repression danger loss".split())
_BRIGHT = frozenset("celebrate success growth win victory festival joy hope peace independence discovery launch".split())
# Head nouns that name a stretch of time or a quantity, which no camera can show.
_UNSHOWABLE = frozenset("century decade year month week day hour minute second time era period percent per cent "
                        "million billion trillion thousand hundred dozen half kilometre kilometer mile metre meter "
                        "kind sort part lot number amount rest way example".split())
_ABSTRACT_ENDINGS = ("tion", "sion", "ism", "ity", "ness", "ment", "ance", "ence", "ship", "cy", "sis")
_OPENING_BOOST = 1.5


class _Words:
    """The content words already in the description, so that no slot repeats one."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def fits(self, phrase: str) -> bool:
        return not (content_lemmas(phrase) & self.used)

    def take(self, phrase: str) -> str:
        self.used |= content_lemmas(phrase)
        return phrase

    def first_fitting(self, options) -> str:
        """The first option that repeats no word, taken; "" if none does."""
        return next((self.take(option) for option in options if option and self.fits(option)), "")


def suggest_offline(scene_text: str, *, previous: str = "", following: str = "") -> str:
    """A concrete shot description of the scene from its own noun phrases; deterministic."""
    phrases, opening_end = _showable_phrases(scene_text)
    if not phrases:  # "Then everything changed.": borrow the subject from the neighbours
        phrases, opening_end = _showable_phrases(f"{previous} {following}")
    scene_words = _lemmas_of(scene_text)
    nearby_words = scene_words | _lemmas_of(f"{previous} {following}")
    words = _Words()
    if _NUMBERS.search(scene_text):
        return _chart(phrases, words)
    pick = zlib.crc32(scene_text.encode("utf-8"))
    words.take("foreground background")

    def best(candidates: list[Keyphrase]) -> Keyphrase | None:
        # The opening sentence is where narration names its subject.
        ranked = best_phrases(candidates, 1, key=lambda p: (p.score * (_OPENING_BOOST if p.start < opening_end else 1),))
        return ranked[0] if ranked else None

    people = [p for p in phrases if _is_person(p)]
    # Light and bare places ("at dusk", "the city") go to the light and setting slots; "the textile factory" is a subject.
    scenery = [p for p in phrases if not p.is_name and (p.head in LIGHTS or p.head in SETTINGS and len(p.lemmas) == 1)]
    things = [p for p in phrases if p not in people and p not in scenery]
    concrete = [p for p in things if not _is_abstract(p)]
    subject_phrase = best(concrete + people) or best(things)
    figure_phrase = best([p for p in people if p is not subject_phrase and not _shares(p, subject_phrase)])
    cast = [p for p in (subject_phrase, figure_phrase) if p]
    details = best_phrases([p for p in concrete if not any(p is c or shares_word(p, c) for c in cast)], 3)

    subject = words.take(with_article(subject_phrase) if subject_phrase else "a quiet, evocative scene")
    figure = words.first_fitting([with_article(figure_phrase)] if figure_phrase else [])
    setting = words.first_fitting([_first_match(scene_words, SETTINGS) or _first_match(nearby_words, SETTINGS)])
    detail = words.first_fitting(with_article(p) for p in details)
    light = words.first_fitting([_first_match(scene_words, LIGHTS), *_rotated(DEFAULT_LIGHTS, pick)])
    mood = words.first_fitting([_mood(nearby_words), *MOODS])
    if subject_phrase in people or figure:
        framings = _rotated(FRAMINGS["people"], pick)
    elif setting or subject_phrase is not None and subject_phrase.head in SETTINGS:
        framings = _rotated(FRAMINGS["place"], pick)
    elif subject_phrase is not None and subject_phrase.is_name:
        framings = _rotated(FRAMINGS["name"], pick)
    elif subject_phrase is None or subject_phrase in concrete:
        framings = _rotated(FRAMINGS["thing"], pick)
    else:
        framings = [ABSTRACT_FRAMING]
    framing = words.first_fitting([*framings, *(f for group in FRAMINGS.values() for f in group)]) or framings[0]
    if _PERIOD.search(scene_text) and words.fits(PERIOD_STYLE):
        framing = f"{PERIOD_STYLE} {framing[0].lower()}{framing[1:]}"
    parts = [f"{framing} {subject}", f" {setting}" if setting else ""]
    parts += [f", {figure} in the foreground" if figure else "", f", {detail} in the background" if detail else ""]
    parts += [f", {light}" if light else "", f"; {mood}" if mood else ""]
    return "".join(parts) + "."


def _showable_phrases(text: str) -> tuple[list[Keyphrase], int]:
    """The noun phrases of text a camera could show, and where its first sentence ends."""
    spans = sentence_spans(text)
    phrases = [p for p in candidate_phrases(text) if p.is_name or p.head not in _UNSHOWABLE]
    return phrases, spans[0][1] if spans else len(text)


def with_article(phrase: Keyphrase) -> str:
    """The phrase as a description names it: "the great lamp", "spiral stairs", "the Titanic", "Mainz"."""
    named = phrase.is_name or phrase.text.split()[-1][0].isupper()  # "Suez Canal", "present-day Benin"
    if named or phrase.text.split()[0].endswith(("'s", "’s")):  # "Gabon's early history"
        return f"the {phrase.text}" if phrase.determiner == "the" else phrase.text
    if phrase.plural or _is_abstract(phrase):
        return phrase.text
    # "the" suits mass and count nouns alike ("the sugar", "the lamp"), where "a" would not.
    return f"the {phrase.text}"


def content_lemmas(phrase: str) -> set[str]:
    """Lemmas and stems of the words of a phrase that carry meaning (articles, prepositions and the like left out)."""
    words = [part.lower() for match in letter_words(phrase) for part in match.group().split("-")]
    return {form for word in words if word and not closed_class(word) for form in (lemma(word), stem(word))}


def _chart(phrases: list[Keyphrase], words: _Words) -> str:
    """Figures call for a chart: about what is measured (a common noun first), with icons for the rest."""
    words.take(CHART.format(subject="", icons=""))
    ranked = [with_article(p) for p in sorted(phrases, key=lambda p: p.is_name)]  # stable: "sales" before "Europe"
    subject = words.first_fitting(ranked) or "the numbers"
    icons = words.first_fitting(ranked[1:3])
    return CHART.format(subject=subject, icons=f" and simple icons for {icons}" if icons else "")


def _shares(a: Keyphrase | None, b: Keyphrase | None) -> bool:
    return a is not None and b is not None and shares_word(a, b)


def _is_person(phrase: Keyphrase) -> bool:
    head = phrase.head
    return not phrase.is_name and (head in PEOPLE or head.endswith(("man", "men")) and head not in ("ottoman", "caiman"))


def _is_abstract(phrase: Keyphrase) -> bool:
    """An idea rather than a thing: "independence", "careful research" is not caught, "negotiation" is."""
    return not phrase.is_name and phrase.head.endswith(_ABSTRACT_ENDINGS)


def _lemmas_of(text: str) -> set[str]:
    return {lemma(match.group().lower()) for match in letter_words(text)}


def _first_match(words: set[str], table: dict[str, str]) -> str:
    """The value of the first table key (in table order) among the words."""
    return next((value for key, value in table.items() if key in words), "")


def _rotated(options: tuple[str, ...], pick: int) -> list[str]:
    """All options, starting at the one the checksum picks: a default that varies from scene to scene."""
    start = pick % len(options)
    return list(options[start:] + options[:start])


def _mood(words: set[str]) -> str:
    if words & _TENSE:
        return MOODS[0]
    if words & _BRIGHT:
        return MOODS[1]
    return MOODS[2]
