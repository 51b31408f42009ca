"""Scene descriptions: what the viewer sees while a scene's narration plays.

The offline suggester builds a concrete shot (subject, setting, light, composition) from
the scene's keyphrases and a few word lists; it never repeats the narration. When a chat
endpoint is configured, the model writes the description with the neighbouring scenes
and the project's visual style as context; if it fails, the offline suggester answers and
the note says why.
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .llm import ChatConfig, LLMError, chat
from .segmentation.keyphrases import Keyphrase, keyphrases
from .segmentation.words import letter_words

_SETTINGS = {
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
_LIGHT = {
    "dusk": "at dusk", "sunset": "at sunset", "evening": "in evening light", "dawn": "at dawn",
    "sunrise": "at sunrise", "morning": "in soft morning light", "night": "at night", "midnight": "at night",
    "winter": "in pale winter light", "snow": "under falling snow", "rain": "in the rain", "storm": "under a stormy sky",
    "summer": "in bright summer sun", "autumn": "in autumn colours", "spring": "in fresh spring light", "fog": "in thick fog",
}
_DEFAULT_LIGHT = ["in soft morning light", "in warm afternoon light", "in even overcast daylight", "in golden evening light"]
_PEOPLE = {
    "keeper": "a keeper", "farmer": "a farmer", "farmers": "farmers at work", "worker": "a worker",
    "workers": "workers", "scientist": "a scientist", "scientists": "scientists", "doctor": "a doctor",
    "nurse": "a nurse", "teacher": "a teacher", "student": "a student", "students": "students",
    "child": "a child", "children": "children", "family": "a family", "crowd": "a crowd", "people": "people",
    "soldier": "a soldier", "soldiers": "soldiers", "king": "a king", "queen": "a queen", "emperor": "an emperor",
    "president": "a head of state", "leader": "a leader", "leaders": "leaders", "sailor": "a sailor",
    "sailors": "sailors", "fisherman": "a fisherman", "fishermen": "fishermen", "villagers": "villagers",
    "citizens": "citizens", "protesters": "protesters", "voters": "voters queueing", "engineer": "an engineer",
    "engineers": "engineers", "explorer": "an explorer", "explorers": "explorers", "merchants": "merchants",
    "traders": "traders", "settlers": "settlers", "refugees": "refugees", "he": "a man", "she": "a woman",
}
_NUMBERS = re.compile(r"\d[\d,.]*\s*(?:%|percent|per cent|million|billion|trillion)|[$€£¥]\s?\d", re.IGNORECASE)
# Dates that call for a period look: years before 1950, "17th century", B.C.
_PERIOD = re.compile(r"\b(?:1[0-8]\d\d|19[0-4]\d)s?\b|\b\d{1,2}(?:st|nd|rd|th) centur|\bB\.C\.")
_TENSE = {"war", "wars", "crisis", "conflict", "killed", "deaths", "disaster", "coup", "violence", "famine", "collapse",
          "storm", "fear", "attack", "attacks", "fighting", "rebels", "repression", "danger"}
_BRIGHT = {"celebrate", "celebrated", "success", "growth", "win", "won", "victory", "festival", "joy", "hope",
           "peace", "independence", "discovery", "new", "launch", "launched"}
_FIGURE_WORDS = {"percent", "per cent", "million", "billion", "trillion", "km", "kg", "mph", "kmh"}
_ABSTRACT_ENDINGS = ("tion", "sion", "ism", "ity", "ness", "ment", "ance", "ence", "ship", "cy")
_MAX_WORDS = 70


@dataclass(frozen=True)
class Suggestion:
    """A proposed scene description; source is "offline" or "llm", note explains a fallback."""

    text: str
    source: str
    note: str = ""


def suggest(
    scene_text: str, *, previous: str = "", following: str = "", style: str = "", llm: ChatConfig | None = None
) -> Suggestion:
    """A description for one scene: from the chat model when configured, else (or on failure) offline."""
    if llm is not None:
        try:
            return Suggestion(suggest_with_llm(llm, scene_text, previous=previous, following=following, style=style), "llm")
        except LLMError as error:
            return Suggestion(suggest_offline(scene_text, previous=previous, following=following), "offline", _fallback_note(error))
    return Suggestion(suggest_offline(scene_text, previous=previous, following=following), "offline")


def suggest_many(
    scene_texts: list[str],
    indices: Iterable[int],
    *,
    style: str = "",
    llm: ChatConfig | None = None,
    on_progress: Callable[[float, str], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> dict[int, Suggestion]:
    """Suggestions for the scenes at indices ("suggest all empty"); after one provider failure the rest go offline."""
    wanted = list(indices)
    results: dict[int, Suggestion] = {}
    fallback_note = ""
    for done, index in enumerate(wanted):
        if should_cancel and should_cancel():
            break
        context = {
            "previous": scene_texts[index - 1] if index > 0 else "",
            "following": scene_texts[index + 1] if index + 1 < len(scene_texts) else "",
        }
        suggestion = suggest(scene_texts[index], style=style, llm=llm, **context)
        if llm is not None and suggestion.source == "offline":
            llm = None  # the provider is failing: don't make every remaining scene wait for it
            fallback_note = suggestion.note
        results[index] = Suggestion(suggestion.text, suggestion.source, suggestion.note or fallback_note)
        if on_progress:
            on_progress((done + 1) / len(wanted), f"Suggested {done + 1} of {len(wanted)} scenes")
    return results


def suggest_with_llm(config: ChatConfig, scene_text: str, *, previous: str = "", following: str = "", style: str = "") -> str:
    """The chat model's description of the scene; raises LLMError on any failure."""
    parts = []
    if style.strip():
        parts.append(f"Visual style of the whole video (applied separately; keep the description consistent with it): {style.strip()}")
    if previous.strip():
        parts.append(f"Narration of the previous scene: {previous.strip()}")
    parts.append(f"Narration of THIS scene: {scene_text.strip()}")
    if following.strip():
        parts.append(f"Narration of the next scene: {following.strip()}")
    parts.append("Reply with the scene description only.")
    reply = chat(
        config,
        [
            {
                "role": "system",
                "content": (
                    "You write scene descriptions for narrated videos: the one still image the viewer sees "
                    "while a scene's narration plays. Describe it concretely: the subject, the setting, and "
                    "the composition (shot type, framing, light, mood). One or two sentences, at most 60 words. "
                    "Do not repeat or paraphrase the narration, do not ask for captions or on-screen text, "
                    "and do not restate the visual style."
                ),
            },
            {"role": "user", "content": "\n\n".join(parts)},
        ],
        temperature=0.7,
    )
    description = re.sub(r"^(?:scene description|description)\s*:\s*", "", reply.strip(), flags=re.IGNORECASE)
    description = description.strip().strip('"“”').strip()
    if not description:
        raise LLMError("The language model sent an empty description.")
    return description


def suggest_offline(scene_text: str, *, previous: str = "", following: str = "") -> str:
    """A concrete shot description from keyphrases and simple rules; deterministic."""
    phrases = [p for p in keyphrases(scene_text, limit=4) if p.text.lower() not in _FIGURE_WORDS]
    if not phrases:  # "Then everything changed.": borrow the subject from the neighbours
        phrases = keyphrases(f"{previous} {following}", limit=4)
    words = {m.group().lower() for m in letter_words(scene_text)}
    nearby = words | {m.group().lower() for m in letter_words(f"{previous} {following}")}
    pick = zlib.crc32(scene_text.encode("utf-8"))
    scenery = {w for key in (*_SETTINGS, *_LIGHT) for w in (key, f"{key}s")}
    # The setting and light get their own words; the subject is the first phrase that is neither.
    phrases.sort(key=lambda p: not p.is_name and bool(scenery & set(p.text.lower().split())))
    subject = _subject(phrases)
    setting = _first_match(words, _SETTINGS) or _first_match(nearby, _SETTINGS)
    subject_is_place = bool(phrases) and bool(scenery & set(phrases[0].text.lower().split()))
    if subject_is_place and set(setting.split()) & set(phrases[0].text.lower().split()):
        setting = ""  # "Suez Canal beside a long canal"
    light = _first_match(words, _LIGHT) or _DEFAULT_LIGHT[pick % len(_DEFAULT_LIGHT)]
    taken = scenery | set(_PEOPLE)
    detail = next((p.text for p in phrases[1:] if not taken & set(p.text.lower().split()) and not _is_abstract([p])), "")

    if _NUMBERS.search(scene_text):
        icons = f", with simple icons for {detail}" if detail else ""
        return _finish(f"Clean infographic-style chart about {subject}, the key figures large and bold{icons}; "
                       "uncluttered layout, generous white space.")
    person = _first_match(words, _PEOPLE)
    if _is_abstract(phrases):
        shot, person = "Conceptual still life symbolising", ""
    elif person:
        shot = ["Medium shot of", "Over-the-shoulder shot of"][pick % 2]
    elif setting or subject_is_place:
        shot = ["Wide establishing shot of", "Aerial view of"][pick % 2]
    else:
        shot = ["Close-up of", "Detailed medium shot of"][pick % 2]
    if _PERIOD.search(scene_text):
        shot = "Period-style " + shot[0].lower() + shot[1:]
    parts = [f"{shot} {subject}"]
    if setting:
        parts.append(f" {setting}")
    if person:
        parts.append(f", {person} in the foreground")
    if detail:
        parts.append(f", {detail} in view")
    return _finish("".join(parts) + f", {light}; {_mood(nearby)}.")


def _fallback_note(error: LLMError) -> str:
    return f"{error} Used the offline suggester instead."


def _subject(phrases: list[Keyphrase]) -> str:
    """The main keyphrase with an article where English wants one."""
    if not phrases:
        return "a quiet, evocative scene"
    phrase = phrases[0].text
    if phrases[0].is_name or phrase.lower().endswith("s"):
        return phrase
    if any(word[0].isupper() for word in phrase.split()):
        return f"the {phrase}"  # "the Nile River flood"
    vowel_sound = phrase[0].lower() in "aeiou" and not phrase.lower().startswith(("uni", "use", "eu", "one"))
    return f"{'an' if vowel_sound else 'a'} {phrase}"


def _first_match(words: set[str], table: dict[str, str]) -> str:
    """The value of the first table key (in table order) among words, or of its plural."""
    for key, value in table.items():
        if key in words or f"{key}s" in words:
            return value
    return ""


def _is_abstract(phrases: list[Keyphrase]) -> bool:
    """True when the main phrase is an idea rather than a thing (independence, growth of trade...)."""
    return bool(phrases) and not phrases[0].is_name and phrases[0].text.lower().split()[-1].endswith(_ABSTRACT_ENDINGS)


def _mood(words: set[str]) -> str:
    if words & _TENSE:
        return "tense, sombre mood, muted colours"
    if words & _BRIGHT:
        return "bright, hopeful mood"
    return "calm, documentary framing"


def _finish(description: str) -> str:
    """Tidy spacing and cap the length."""
    words = " ".join(description.split()).split(" ")
    return " ".join(words[:_MAX_WORDS])
