"""Scene descriptions: what the viewer sees while a scene's narration plays.

The offline suggester (offline_shots) builds a concrete shot (framing, subject, setting, light)
from the scene's own noun phrases with a small grammar; it never repeats the narration. When a chat
endpoint is configured, the model writes the description with the neighbouring scenes
and the project's visual style as context; if it fails, the offline suggester answers and
the note says why.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .llm import ChatConfig, LLMError, chat
from .offline_shots import suggest_offline

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


def _fallback_note(error: LLMError) -> str:
    return f"{error} Used the offline suggester instead."
