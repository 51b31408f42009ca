"""Step 4's caption and pacing settings, and the caption preview: the first scene's picture with its first
caption, in the project's caption style, drawn by the compile's own code."""
from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import astuple
from pathlib import Path

from werkzeug.datastructures import MultiDict

from .. import production
from ..models import Project, Segment
from ..pipeline.video import PRESETS, CaptionStyle
from ..pipeline.video.pieces import file_sha256
from ..pipeline.video.style import FONTS
from ..pipeline.video.preview import caption_preview_jpeg


PAUSES = {"pause_seconds": (0.2, 3.0), "chapter_pause_seconds": (0.2, 5.0)}
CAPTION_FIELDS = ("style", "position", "size", "font", "colour", "highlight", "box")
CHOICES = {  # the form's labels for CaptionStyle's choices
    "style": {"plain": "Plain", "words": "Word by word (the spoken word lit)"},
    "position": {"bottom": "Bottom", "middle": "Middle", "top": "Top"},
    "size": {"small": "Small", "medium": "Medium", "large": "Large"},
    "font": {family: family for family in FONTS},
}


def settings_from(form: MultiDict) -> tuple[dict, str | None]:
    """The caption style, draft label and pause settings of step 4's form, checked; or why they can't be saved."""
    values = {f"caption_{field}": form[f"caption_{field}"] for field in CAPTION_FIELDS if f"caption_{field}" in form}
    try:
        CaptionStyle(**{k.removeprefix("caption_"): v for k, v in values.items()})
    except ValueError as exc:
        return {}, f"Caption style: {exc}."
    for name, (low, high) in PAUSES.items():
        if name in form:
            seconds = form.get(name, type=float)
            if seconds is None or not low <= seconds <= high:
                return {}, f"A pause lasts between {low:g} and {high:g} seconds."
            values[name] = seconds
    values["keep_draft_badge"] = form.get("keep_draft_badge") == "on"
    return values, None


def _first_scene(project: Project) -> Segment | None:
    return next((s for s in project.segments if s.image is not None), None)


def version(project: Project) -> str | None:
    """Changes whenever the preview would (a URL part, so browsers fetch the new one); None: nothing to show."""
    segment = _first_scene(project)
    if segment is None:
        return None
    identity = [production.image_key(project, segment), segment.audio_asset_id, segment.text,
                production.output_preset(project), astuple(production.caption_style(project))]
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]


def caption_preview(project: Project) -> bytes | None:
    """The preview as JPEG (cached by version), or None when no scene has a picture yet."""
    segment, key = _first_scene(project), version(project)
    if segment is None:
        return None
    cached = production.piece_cache_dir() / f"caption-preview-{key}.jpg"
    if cached.is_file():
        return cached.read_bytes()
    with tempfile.TemporaryDirectory() as work:
        scene = production.scene_input(project, segment, Path(work), is_last=True)
        jpeg = caption_preview_jpeg(scene, file_sha256(scene.image), PRESETS[production.output_preset(project)],
                                    production.caption_style(project), production.piece_cache_dir())
    cached.write_bytes(jpeg)
    return jpeg
