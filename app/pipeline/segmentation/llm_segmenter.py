"""Topic boundaries and chapter titles from a chat-completions model; scenes stay offline.

The model only chooses at which numbered sentence each topic starts and names it, so
whatever it answers, the result keeps every invariant of the offline segmenter
(scenes tile the text, topic boundaries are scene boundaries, durations in range).
"""
from __future__ import annotations

from ..llm import ChatConfig, LLMError, chat, parse_json_object
from .cohesion import similarity_matrix
from .model import Segmentation
from .offline import adjacent_cohesion, assemble, check_range, clean_heading
from .structure import parse_units
from .titles import cap_title

# Beyond this the prompt gets too long for many models' context windows.
MAX_SENTENCES = 1500
_TITLE_CHARS = 80

_INSTRUCTIONS = (
    "You split narration scripts for videos into chapters. Each chapter covers one topic and "
    "later becomes a YouTube chapter. You get the script as numbered sentences. Reply with JSON "
    'only, in this form: {"topics": [{"start": 0, "title": "Short Chapter Title"}, ...]} where '
    '"start" is the number of the first sentence of each chapter, in increasing order, the first '
    "being 0, and each title has 2 to 6 words. Chapters should last at least 15 seconds of speech; "
    "start a new chapter where the subject changes, not merely every paragraph."
)


def segment_with_llm(
    text: str, config: ChatConfig, *, wpm: float = 150, min_seconds: float = 4, max_seconds: float = 15
) -> Segmentation:
    """Ask the model for topics, then time scenes offline; raises LLMError on any failure."""
    check_range(wpm, min_seconds, max_seconds)
    units = parse_units(text)
    if len(units) > MAX_SENTENCES:
        raise LLMError(f"The script has {len(units)} sentences; the language model segmenter takes at most {MAX_SENTENCES}.")
    if not units:
        return Segmentation([], [], method="llm")
    numbered = "\n".join(f"[{i}] {' '.join(text[u.start:u.end].split())}" for i, u in enumerate(units))
    reply = chat(
        config,
        [{"role": "system", "content": _INSTRUCTIONS}, {"role": "user", "content": numbered}],
        temperature=0,
    )
    titles = _topic_starts(parse_json_object(reply), len(units))
    for i, unit in enumerate(units):
        if unit.heading is not None:  # the author's headings always open a chapter, under their own name
            titles[i] = clean_heading(unit.heading) or titles.get(i, "")
    starts = sorted(titles)
    runs = [(units[a:b], titles[a]) for a, b in zip(starts, starts[1:] + [len(units)])]
    cohesion = adjacent_cohesion(units, similarity_matrix([text[u.start : u.end] for u in units]))
    result = assemble(text, runs, cohesion, wpm=wpm, min_seconds=min_seconds, max_seconds=max_seconds)
    return Segmentation(result.topics, result.segments, method="llm")


def _topic_starts(answer: dict, sentence_count: int) -> dict[int, str]:
    """{first sentence: title} from the model's answer, refusing anything malformed."""
    topics = answer.get("topics")
    if not isinstance(topics, list) or not topics:
        raise LLMError("The language model's answer had no list of topics.")
    titles: dict[int, str] = {0: ""}
    for topic in topics:
        start = topic.get("start") if isinstance(topic, dict) else None
        if not isinstance(start, int) or isinstance(start, bool) or not 0 <= start < sentence_count:
            raise LLMError("The language model's answer named a sentence that does not exist.")
        title = topic.get("title")
        titles[start] = cap_title(title, _TITLE_CHARS) if isinstance(title, str) else ""
    return titles
