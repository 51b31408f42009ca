"""A project's production choices, with defaults, and the per-scene overrides that apply."""
from __future__ import annotations

from .models import Project, Segment

ASPECTS = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}
TRANSITIONS = {"cut": "Cut", "crossfade": "Crossfade", "fadeblack": "Fade through black",
               "slide": "Slide", "wipe": "Wipe"}
MOTIONS = {"off": "Off", "subtle": "Subtle zoom/pan", "strong": "Strong zoom/pan"}
DEFAULTS = {
    "aspect_ratio": "16:9",
    "image_model": "draft",
    "voice_provider": "espeak",
    "voice": "gmw/en-US",
    "wpm": 160,  # one speaking rate: step 1's duration estimates and the voice both use it
    "fit_pad_seconds": 0.3,
    "transition": "crossfade",
    "transition_seconds": 0.5,
    "motion": "off",
    "preset": "1080p30",
    "burn_captions": False,
    "style": "",
}


def get(project: Project, name: str):
    return project.settings.get(name, DEFAULTS[name])


def speaking_rate(project: Project) -> float:
    """Words per minute (projects from before the rates were one kept the voice's as "voice_rate")."""
    return float(project.settings.get("wpm") or project.settings.get("voice_rate") or DEFAULTS["wpm"])


def scene_get(project: Project, segment: Segment, name: str):
    """A per-scene override if the scene has one, else the project's choice."""
    return segment.settings.get(name) or get(project, name)


def update(project: Project, **values) -> None:
    # JSON columns are replaced, not mutated, so SQLAlchemy sees the change.
    project.settings = {**project.settings, **values}


def image_size(project: Project) -> tuple[int, int]:
    """Images are stored at the project's output resolution."""
    return ASPECTS[get(project, "aspect_ratio")]
