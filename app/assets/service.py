"""Queueing images, voiceovers and previews for scenes, with credits charged up front."""
from __future__ import annotations

import tempfile
from pathlib import Path

from flask import current_app, g
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from .. import ledger, project_settings
from ..extensions import db
from ..jobs import AlreadyQueued, enqueue
from ..platform.media import project_prefix, put_new_bytes, put_new_file
from ..models import Asset, Job, Project, Segment
from ..pipeline import uploads
from ..pipeline.images import MODELS, credit_cost, random_seed, tier_allows
from ..platform.queue import new_job_id
from ..workspaces.usage import human_size, storage_usage


class NotAllowed(ValueError):
    """The request can't be queued; the message says why and what to do."""


def require_storage(workspace, adding: int = 0) -> None:
    """Refuse new media when the workspace's storage quota (set by the operator) has no room."""
    usage = storage_usage(workspace)
    if usage.quota is not None and usage.used + adding > usage.quota:
        what = f"; this needs {human_size(adding)} more" if adding else ""
        raise NotAllowed(f"This workspace uses {human_size(usage.used)} of its {human_size(usage.quota)} of "
                         f"storage{what}. Delete compiles or projects you no longer need, or ask whoever "
                         "runs Scriptreel for a bigger quota.")


def image_cost(model: str) -> int:
    return credit_cost(model, current_app.config.get("IMAGE_CREDIT_COSTS"))


def plan_tier() -> str:
    return current_app.config["PLANS"][g.workspace.plan]["max_image_level"]


def model_for(project: Project, segment: Segment) -> str:
    return project_settings.scene_get(project, segment, "image_model")


def unavailable_models() -> dict[str, str]:
    """Models this workspace can't use right now, with the reason (a provider without a key)."""
    if g.workspace.stability_api_key or current_app.config["STABILITY_API_KEY"]:
        return {}
    reason = ("unavailable: no Stability AI key is set (ask your workspace admin to add one in "
              "Workspace settings, or whoever runs Scriptreel to set one for the server)")
    return {m.id: reason for m in MODELS.values() if m.provider == "stability"}


def check_model(model: str) -> None:
    if model not in MODELS:
        raise NotAllowed(f"There is no image model called “{model}”.")
    if not tier_allows(plan_tier(), model):
        raise NotAllowed(f"{MODELS[model].label} is a {MODELS[model].tier} model; the "
                         f"{g.workspace.plan} plan allows up to {plan_tier()}. Ask the workspace "
                         "owner to change the plan, or pick another model.")
    if reason := unavailable_models().get(model):
        raise NotAllowed(f"{MODELS[model].label} is {reason}.")


def queue_image(project: Project, segment: Segment, description: str, model: str, *,
                user_id: int | None, batch: str | None = None) -> Job:
    """Charge for one image (of a model already checked) and queue it; InsufficientCredits,
    AlreadyQueued or QueueUnavailable refuse it, and then nothing is charged."""
    cost = image_cost(model)

    def charge(job: Job) -> None:
        ledger.charge(project.workspace_id, cost,
                      f"Image for scene {segment.position + 1} of “{project.title}” ({model})",
                      key=f"charge:{job.public_id}", project_id=project.id, segment_id=segment.id,
                      job_id=job.id, user_id=user_id)
    return enqueue("image", project=project, segment=segment, user_id=user_id,
                   batch=batch, before_enqueue=charge,
                   params={"model": model, "description": description, "seed": random_seed()})


def in_flight(project: Project, kind: str) -> set[int]:
    """Scenes with a job of this kind ("image", "voice") queued or running, or in a batch about to be."""
    active = db.session.execute(db.select(Job.kind, Job.segment_id, Job.params).filter(
        Job.project_id == project.id, Job.kind.in_((kind, f"{kind}s_batch")), Job.state.in_(Job.ACTIVE))).all()
    return {sid for job_kind, segment_id, params in active
            for sid in ([segment_id] if job_kind == kind else params.get("scenes", []))}


def missing_images(project: Project) -> list[Segment]:
    """Scenes with no image and none being made: what 'Generate all missing' would pay for."""
    busy = in_flight(project, "image")
    return [s for s in project.segments if not s.image_asset_id and s.id not in busy]


def start_batch(project: Project, kind: str, scenes: list[Segment]) -> tuple[Job, int]:
    """Queue an "images" or "voices" batch job for these scenes (at most MAX_BATCH_SCENES of them);
    the request returns at once and the worker queues the scenes' jobs. Returns it and how many."""
    chosen = [s.id for s in scenes[:current_app.config["MAX_BATCH_SCENES"]]]
    job = enqueue(f"{kind}_batch", project=project, user_id=current_user.id, params={"scenes": chosen})
    return job, len(chosen)


def generate_missing_images(project: Project) -> tuple[Job | None, int]:
    """'Generate all missing': refuses as a whole, before queueing, if credits don't cover it.

    Scenes whose image is already on its way are skipped; the batch is one job per project (a
    second click or tab is refused by the database), and each scene at most one image job.
    """
    missing = missing_images(project)[:current_app.config["MAX_BATCH_SCENES"]]
    if not missing:
        return None, 0
    require_storage(g.workspace)
    models = [model_for(project, s) for s in missing]
    for model in set(models):
        check_model(model)
    total = sum(image_cost(m) for m in models)
    available = ledger.balance(project.workspace_id)
    if total > available:
        raise ledger.InsufficientCredits(total, available)
    return start_batch(project, "images", missing)


def queue_batch_scene(job: Job, project: Project, segment: Segment) -> bool:
    """One scene of a batch job (run by the worker): queue its image or voiceover unless it no
    longer needs one or already has one on its way. True when queued."""
    try:
        if job.kind == "images_batch":
            if segment.image_asset_id:
                return False
            queue_image(project, segment, segment.description or segment.text, model_for(project, segment),
                        user_id=job.created_by_id, batch=job.public_id)
        else:
            queue_voice(project, segment, user_id=job.created_by_id, batch=job.public_id)
    except AlreadyQueued:
        return False
    return True


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


def queue_voice(project: Project, segment: Segment, *, user_id: int | None, batch: str | None = None) -> Job:
    return enqueue("voice", project=project, segment=segment, user_id=user_id, batch=batch,
                   params={"provider": project_settings.get(project, "voice_provider"),
                           "voice": project_settings.get(project, "voice"),
                           "rate": project_settings.speaking_rate(project)})


def voice_scenes(project: Project, wanted) -> tuple[Job | None, int]:
    """Voice the scenes ``wanted(segment)`` picks that have no voiceover on its way, as a batch job."""
    busy = in_flight(project, "voice")
    targets = [s for s in project.segments if wanted(s) and s.id not in busy]
    return start_batch(project, "voices", targets) if targets else (None, 0)


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
    put_new_bytes(key, data, mime)
    asset = Asset(workspace_id=project.workspace_id, project_id=project.id,
                  segment_id=segment.id if segment else None, kind=kind, storage_key=key,
                  mime=mime, size=len(data), provider="upload", created_by_id=current_user.id,
                  meta=meta)
    db.session.add(asset)
    db.session.flush()
    return asset


def receive_recording(project: Project, file: FileStorage, kind: str, *, max_bytes: int,
                      max_seconds: float, segment: Segment | None = None) -> Job:
    """Accept a recording judged by its content and stated length, and queue its conversion.

    The upload is kept as it came until the job has stored the compressed version (a voiceover
    of ``segment``, or the project's music when ``kind`` is "music"); UploadRejected says why not.
    """
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "upload"
        file.save(source)
        uploads.check_audio_upload(source, max_bytes=max_bytes, max_seconds=max_seconds)
        require_storage(g.workspace, source.stat().st_size)
        key = (f"{project_prefix(project.workspace_id, project.id)}incoming/"
               f"{new_job_id()}{Path(file.filename or '').suffix[:10].lower()}")
        put_new_file(key, source, "application/octet-stream")
        incoming = Asset(workspace_id=project.workspace_id, project_id=project.id, kind="incoming",
                         storage_key=key, mime="application/octet-stream", size=source.stat().st_size,
                         provider="upload", created_by_id=current_user.id,
                         meta={"original_name": Path(file.filename or "").name[:200]})
        db.session.add(incoming)
        db.session.flush()
    return enqueue("recording" if kind == "audio" else "music", project=project, segment=segment,
                   user_id=current_user.id,
                   params={"asset_id": incoming.id, "max_seconds": max_seconds,
                           "voice_text": segment.text if segment else None})


def audio_too_long(segment: Segment) -> bool:
    return bool(segment.audio and segment.audio.meta.get("duration", 0) > segment.seconds + 0.01)
