"""From database rows to the video pipeline's plain inputs: scenes with local media files."""
from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

from flask import current_app

from . import project_settings
from .extensions import db
from .platform.media import get_storage, project_prefix
from .models import Asset, Project, Segment
from .pipeline.images.draft import DRAFT_VERSION, render_draft
from .pipeline.video import PRESETS, CaptionStyle, CompileSettings, Scene, Transition
from .pipeline.video.burn import caption_band
from .pipeline.video.cache import prune

log = logging.getLogger(__name__)

MIN_TRANSITION_SECONDS, MAX_TRANSITION_SECONDS = 0.0, 3.0


def local_copy(asset: Asset, workdir: Path) -> Path:
    """The asset as a local file (a worker may be on another machine than the upload)."""
    return local_file(asset.storage_key, workdir, f"asset-{asset.id}")


def local_file(storage_key: str, workdir: Path, name: str | None = None) -> Path:
    """A stored file as a local one: the file itself with local storage, else a download into workdir."""
    path = get_storage().local_path(storage_key)
    if path is not None and path.is_file():
        return path
    target = workdir / f"{name or hashlib.sha256(storage_key.encode()).hexdigest()[:16]}{Path(storage_key).suffix}"
    if not target.exists():
        get_storage().download_to(storage_key, target)
    return target


def scene_input(project: Project, segment: Segment, workdir: Path, is_last: bool) -> Scene:
    audio = segment.audio
    words = None
    if audio and audio.meta.get("words"):
        words = [(w[0], float(w[1]), float(w[2])) for w in audio.meta["words"]]
    transition = project_settings.scene_get(project, segment, "transition")
    seconds = float(project_settings.scene_get(project, segment, "transition_seconds"))
    return Scene(image=compile_image(project, segment, workdir), duration=float(segment.seconds),
                 audio=local_copy(audio, workdir) if audio else None, text=segment.text,
                 words=words, topic=segment.topic_title,
                 transition=Transition("cut" if is_last else transition, seconds),
                 motion=project_settings.scene_get(project, segment, "motion"),
                 paced=segment.timing_source == "audio" and audio is not None)


def scene_inputs(project: Project, workdir: Path) -> list[Scene]:
    segments = project.segments
    scenes = [scene_input(project, s, workdir, i == len(segments) - 1) for i, s in enumerate(segments)]
    _drop_unused_drafts(project, {image_key(project, s) for s in segments})
    return scenes


def storage_keys(project: Project, scenes: list[Scene]) -> dict[str, str]:
    """Local image path of each scene (from scene_inputs) -> the storage key of the image it shows."""
    return {str(scene.image): image_key(project, segment) for scene, segment in zip(scenes, project.segments)}


def is_draft(segment: Segment) -> bool:
    return segment.image is not None and segment.image.provider == "draft"


def caption_style(project: Project) -> CaptionStyle:
    return CaptionStyle(**{field: project_settings.get(project, f"caption_{field}")
                           for field in ("style", "position", "size", "font", "colour", "highlight", "box")})


def _draft_recipe(project: Project, segment: Segment) -> dict:
    """What a draft frame is drawn from in a compile: its prompt and seed, the badge if kept, and the
    stretch burned-in captions cover (the printed prompt stays out of it)."""
    image = segment.image
    size = (int(image.meta.get("width", 1920)), int(image.meta.get("height", 1080)))
    band = caption_band(PRESETS[output_preset(project)], caption_style(project))
    return {"v": DRAFT_VERSION, "prompt": image.prompt or "", "seed": int(image.seed or 0), "size": size,
            "badge": bool(project_settings.get(project, "keep_draft_badge")), "keep_clear": band}


def image_key(project: Project, segment: Segment) -> str:
    """Storage key of the image a compile shows for the scene: its own, or for a draft frame one drawn for
    the compile (stored, so helper workers on other machines fetch it like any image)."""
    if not is_draft(segment):
        return segment.image.storage_key
    digest = hashlib.sha256(json.dumps(_draft_recipe(project, segment), sort_keys=True).encode()).hexdigest()
    return f"{project_prefix(project.workspace_id, project.id)}compile-drafts/{digest[:32]}.png"


def compile_image(project: Project, segment: Segment, workdir: Path) -> Path:
    """The scene's image as a compile shows it: draft frames are drawn again without their DRAFT badge
    (unless the project keeps it) and with their text clear of burned-in captions."""
    if not is_draft(segment):
        return local_copy(segment.image, workdir)
    key = image_key(project, segment)
    storage = get_storage()
    if not storage.exists(key):
        recipe = _draft_recipe(project, segment)
        frame = render_draft(recipe["prompt"], recipe["seed"], recipe["size"], badge=recipe["badge"],
                             keep_clear=recipe["keep_clear"])
        png = io.BytesIO()
        frame.save(png, "PNG", compress_level=3)
        storage.put_bytes(key, png.getvalue(), "image/png")
    return local_file(key, workdir)


def _drop_unused_drafts(project: Project, keep: set[str]) -> None:
    """Compile drafts no scene shows any more go (one compile of a project runs at a time)."""
    storage = get_storage()
    for key in storage.list_keys(f"{project_prefix(project.workspace_id, project.id)}compile-drafts/"):
        if key not in keep:
            storage.delete(key)


def compile_settings(project: Project, music: Path | None = None) -> CompileSettings:
    preset = PRESETS[output_preset(project)]
    return CompileSettings(preset=preset, music=music,
                           burn_captions=bool(project_settings.get(project, "burn_captions")),
                           captions=caption_style(project),
                           pause_seconds=float(project_settings.get(project, "pause_seconds")),
                           chapter_pause_seconds=float(project_settings.get(project, "chapter_pause_seconds")))


def output_preset(project: Project) -> str:
    """The chosen preset, kept consistent with the project's aspect ratio."""
    aspect = project_settings.get(project, "aspect_ratio")
    chosen = project_settings.get(project, "preset")
    if aspect == "9:16":
        return "vertical1080x1920"
    if aspect == "1:1":
        return "square1080"
    return chosen if chosen in ("1080p30", "720p30") else "1080p30"


def music_file(project: Project, workdir: Path) -> Path | None:
    """The project's background music, if one was uploaded."""
    asset_id = project.settings.get("music_asset_id")
    asset = db.session.get(Asset, asset_id) if asset_id else None
    return local_copy(asset, workdir) if asset and asset.project_id == project.id else None


def settings_summary(project: Project) -> dict:
    """The choices a compile was made with, for the list of previous compiles."""
    return {"preset": output_preset(project),
            "transition": project_settings.get(project, "transition"),
            "transition_seconds": project_settings.get(project, "transition_seconds"),
            "motion": project_settings.get(project, "motion"),
            "captions": bool(project_settings.get(project, "burn_captions")),
            "music": bool(project.settings.get("music_asset_id"))}


def piece_cache_dir() -> Path:
    """This machine's copy of rendered pieces; shared storage holds the authoritative set."""
    path = Path(current_app.instance_path) / "cache" / "pieces"
    path.mkdir(parents=True, exist_ok=True)
    return path


def prune_piece_cache() -> None:
    """Keep this machine's piece cache under PIECE_CACHE_MB, least recently used first; a file used
    within a compile's time limit stays (a compile that planned with it may still read it)."""
    from .jobs import KINDS
    pruned = prune(piece_cache_dir(), current_app.config["PIECE_CACHE_MB"] * 2**20, KINDS["compile"].timeout)
    if pruned.removed_files:
        log.info("piece cache: removed %d file(s), %.0f MB; %.0f MB kept", pruned.removed_files,
                 pruned.removed_bytes / 2**20, pruned.kept_bytes / 2**20)
