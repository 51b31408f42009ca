"""Queueing images, voiceovers and previews for scenes, with credits charged up front."""
from __future__ import annotations

import tempfile
from pathlib import Path

from flask import current_app, g
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from .. import ledger, project_settings
from ..extensions import db
from ..jobs import enqueue
from ..media import get_storage, project_prefix
from ..models import Asset, Job, Project, Segment
from ..pipeline import uploads
from ..pipeline.images import MODELS, credit_cost, random_seed, tier_allows
from ..queue import new_job_id


class NotAllowed(ValueError):
    """The request can't be queued; the message says why and what to do."""


def image_cost(model: str) -> int:
    return credit_cost(model, current_app.config.get("IMAGE_CREDIT_COSTS"))


def plan_tier() -> str:
    return current_app.config["PLANS"][g.workspace.plan]["max_image_level"]


def model_for(project: Project, segment: Segment) -> str:
    return project_settings.scene_get(project, segment, "image_model")


def check_model(model: str) -> None:
    if model not in MODELS:
        raise NotAllowed(f"There is no image model called “{model}”.")
    if not tier_allows(plan_tier(), model):
        raise NotAllowed(f"{MODELS[model].label} is a {MODELS[model].tier} model; the "
                         f"{g.workspace.plan} plan allows up to {plan_tier()}. Ask the workspace "
                         "owner to change the plan, or pick another model.")


def queue_image(project: Project, segment: Segment, description: str, model: str,
                batch: str | None = None) -> Job:
    """Charge for one image and queue it; InsufficientCredits or QueueUnavailable refuse it."""
    check_model(model)
    cost = image_cost(model)

    def charge(job: Job) -> None:
        ledger.charge(project.workspace_id, cost,
                      f"Image for scene {segment.position + 1} of “{project.title}” ({model})",
                      key=f"charge:job:{job.id}", project_id=project.id, segment_id=segment.id,
                      job_id=job.id, user_id=current_user.id)
    return enqueue("image", project=project, segment=segment, user_id=current_user.id,
                   batch=batch, before_enqueue=charge,
                   params={"model": model, "description": description, "seed": random_seed()})


def queue_missing_images(project: Project) -> list[Job]:
    """'Generate all missing': refuses as a whole, before queueing, if credits don't cover it."""
    missing = [s for s in project.segments if not s.image_asset_id]
    if not missing:
        return []
    models = [model_for(project, s) for s in missing]
    for model in set(models):
        check_model(model)
    total = sum(image_cost(m) for m in models)
    available = ledger.balance(project.workspace_id)
    if total > available:
        raise ledger.InsufficientCredits(total, available)
    batch = new_job_id()
    return [queue_image(project, s, s.description or s.text, m, batch=batch)
            for s, m in zip(missing, models)]


DEFAULT_VOICES = {"espeak": "gmw/en-US", "azure": "en-US-JennyNeural"}
# A few widely used neural voices; any voice of the region's list can be typed in.
AZURE_VOICES = ("en-US-JennyNeural", "en-US-GuyNeural", "en-GB-SoniaNeural", "en-AU-NatashaNeural",
                "de-DE-KatjaNeural", "fr-FR-DeniseNeural", "es-ES-ElviraNeural",
                "it-IT-ElsaNeural", "pt-BR-FranciscaNeural", "ja-JP-NanamiNeural")


def voice_providers() -> dict[str, str]:
    """Voice engines this server can use: eSpeak NG always, Azure when configured."""
    providers = {"espeak": "eSpeak NG (offline)"}
    if current_app.config["AZURE_SPEECH_KEY"] and current_app.config["AZURE_SPEECH_REGION"]:
        providers["azure"] = "Azure neural voices"
    return providers


def queue_voice(project: Project, segment: Segment, batch: str | None = None) -> Job:
    return enqueue("voice", project=project, segment=segment, user_id=current_user.id, batch=batch,
                   params={"provider": project_settings.get(project, "voice_provider"),
                           "voice": project_settings.get(project, "voice"),
                           "rate": project_settings.get(project, "voice_rate")})


def fit_to_audio(project: Project, segment: Segment) -> bool:
    """Set the scene's duration to its voiceover plus the project's pad; False without audio."""
    if not segment.audio:
        return False
    pad = float(project_settings.get(project, "fit_pad_seconds"))
    segment.seconds = round(float(segment.audio.meta.get("duration", 0)) + pad, 2)
    segment.timing_source = "audio"
    return True


def store_upload(project: Project, kind: str, data: bytes, mime: str, extension: str,
                 segment: Segment | None = None, **meta) -> Asset:
    """Keep a user's own file (already checked) as an Asset of the project."""
    key = f"{project_prefix(project.workspace_id, project.id)}{kind}/upload-{new_job_id()}.{extension}"
    get_storage().put_bytes(key, data, mime)
    asset = Asset(workspace_id=project.workspace_id, project_id=project.id,
                  segment_id=segment.id if segment else None, kind=kind, storage_key=key,
                  mime=mime, size=len(data), provider="upload", created_by_id=current_user.id,
                  meta=meta)
    db.session.add(asset)
    db.session.flush()
    return asset


def store_audio_upload(project: Project, file: FileStorage, kind: str, *, max_bytes: int,
                       max_seconds: float, segment: Segment | None = None):
    """Check a recording by its content, normalise it to 48 kHz WAV and store it.

    Returns (asset, prepared); raises UploadRejected with a message for the user.
    """
    with tempfile.TemporaryDirectory() as work:
        source, target = Path(work) / "upload", Path(work) / "audio.wav"
        file.save(source)
        prepared = uploads.prepare_audio_upload(source, target, max_bytes=max_bytes,
                                                max_seconds=max_seconds)
        asset = store_upload(project, kind, target.read_bytes(), "audio/wav", "wav", segment,
                             duration=prepared.duration, timing_source="none",
                             original_name=Path(file.filename or "").name[:200])
    return asset, prepared


def audio_too_long(segment: Segment) -> bool:
    return bool(segment.audio and segment.audio.meta.get("duration", 0) > segment.seconds + 0.01)
