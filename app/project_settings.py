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
    "voice_provider": "piper",  # projects from before Piper keep eSpeak NG (migration 0006)
    "voice": "en_US-joe-medium",
    "wpm": 160,  # one speaking rate: step 1's duration estimates and the voice both use it
    "pitch": 0,  # semitones up or down
    # Silence after a scene's narration before the next voice (longer before a new chapter).
    "pause_seconds": 0.6,
    "chapter_pause_seconds": 1.2,
    "transition": "crossfade",
    "transition_seconds": 0.5,
    "motion": "off",
    "preset": "1080p30",
    "burn_captions": False,
    # Burned-in captions' look (app.pipeline.video.style.CaptionStyle's fields, "caption_" prefixed).
    "caption_style": "plain",
    "caption_position": "bottom",
    "caption_size": "medium",
    "caption_font": "DejaVu Sans",
    "caption_colour": "#FFFFFF",
    "caption_highlight": "#FFD400",
    "caption_box": "#000000",
    "keep_draft_badge": False,  # draft frames go into a compile without their DRAFT label unless kept
    "style": "",
    # A consistent look across scenes: one seed for every image (0: a new one each time), and a
    # reference image for the image servers that take one, with how far scenes may move from it.
    "fixed_seed": 0,
    "reference_asset_id": None,
    "reference_strength": 0.65,
}


def get(project: Project, name: str):
    return project.settings.get(name, DEFAULTS[name])


def speaking_rate(project: Project) -> float:
    """Words per minute (projects from before the rates were one kept the voice's as "voice_rate")."""
    return float(project.settings.get("wpm") or project.settings.get("voice_rate") or DEFAULTS["wpm"])


def fit_pad(project: Project) -> float:
    """How long a scene fitted to its voiceover runs past it: the pause, plus the transition that overlaps
    the next scene (the compile then paces it exactly, see app.pipeline.video.pacing)."""
    return float(get(project, "pause_seconds")) + float(get(project, "transition_seconds"))


def scene_get(project: Project, segment: Segment, name: str):
    """A per-scene override if the scene has one, else the project's choice."""
    return segment.settings.get(name) or get(project, name)


def update(project: Project, **values) -> None:
    # JSON columns are replaced, not mutated, so SQLAlchemy sees the change.
    project.settings = {**project.settings, **values}


def image_size(project: Project) -> tuple[int, int]:
    """Images are stored at the project's output resolution."""
    return ASPECTS[get(project, "aspect_ratio")]
