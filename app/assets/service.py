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
from . import selfhosted


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
    if model in MODELS and MODELS[model].provider == "selfhosted":
        return selfhosted.credit_cost()
    return credit_cost(model, current_app.config.get("IMAGE_CREDIT_COSTS"))


def plan_tier() -> str:
    return current_app.config["PLANS"][g.workspace.plan]["max_image_level"]


def model_for(project: Project, segment: Segment) -> str:
    return project_settings.scene_get(project, segment, "image_model")


def plan_allows(model: str) -> bool:
    """Whether the workspace's plan includes ``model`` (for the self-hosted tier: the operator's choice)."""
    if MODELS[model].provider == "selfhosted":
        return g.workspace.plan in selfhosted.allowed_plans()
    return tier_allows(plan_tier(), model)


def unavailable_models() -> dict[str, str]:
    """Models this workspace can't use right now, with the reason (a provider without a key or server)."""
    unavailable = {}
    if not (g.workspace.stability_api_key or current_app.config["STABILITY_API_KEY"]):
        reason = ("unavailable: no Stability AI key is set (ask your workspace admin to add one in "
                  "Workspace settings, or whoever runs Scriptreel to set one for the server)")
        unavailable.update({m.id: reason for m in MODELS.values() if m.provider == "stability"})
    if problem := selfhosted.problem():
        unavailable["selfhosted"] = f"unavailable: {problem}"
    return unavailable


def unavailable_notes(unavailable: dict[str, str]) -> list[str]:
    """One sentence per provider whose models are unavailable, for the model picker's hint."""
    names = {"stability": "Stability AI models are", "selfhosted": "Your GPU server (self-hosted) is"}
    return list(dict.fromkeys(f"{names[MODELS[m].provider]} {reason}." for m, reason in unavailable.items()))


def check_model(model: str) -> None:
    if model not in MODELS:
        raise NotAllowed(f"There is no image model called “{model}”.")
    if MODELS[model].provider == "selfhosted" and not plan_allows(model):
        raise NotAllowed(f"{MODELS[model].label} is not included in the {g.workspace.plan} plan: whoever runs "
                         "Scriptreel chooses which plans may use it. Ask them, or pick another model.")
    if not plan_allows(model):
        raise NotAllowed(f"{MODELS[model].label} is a {MODELS[model].tier} model; the "
                         f"{g.workspace.plan} plan allows up to {plan_tier()}. Ask the workspace "
                         "owner to change the plan, or pick another model.")
    if reason := unavailable_models().get(model):
        raise NotAllowed(f"{MODELS[model].label} is {reason}.")


def queue_image(project: Project, segment: Segment, description: str, model: str, *,
                user_id: int | None, batch: str | None = None) -> Job:
    """Charge for one image (of a model already checked) and queue it; InsufficientCredits,
    AlreadyQueued or QueueUnavailable refuse it, and then nothing is charged. A free model
    (the operator may price their own GPU at 0) writes no ledger entry."""
    cost = image_cost(model)
    seed = project_settings.get(project, "fixed_seed") or random_seed()

    def charge(job: Job) -> None:
        ledger.charge(project.workspace_id, cost,
                      f"Image for scene {segment.position + 1} of “{project.title}” ({model})",
                      key=f"charge:{job.public_id}", project_id=project.id, segment_id=segment.id,
                      job_id=job.id, user_id=user_id)
    return enqueue("image", project=project, segment=segment, user_id=user_id,
                   batch=batch, before_enqueue=charge if cost else None,
                   params={"model": model, "description": description, "seed": seed})


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


def start_batch(project: Project, kind: str, scenes: list[Segment], **params) -> tuple[Job, int]:
    """Queue an "images" or "voices" batch job for these scenes (at most MAX_BATCH_SCENES of them);
    the request returns at once and the worker queues the scenes' jobs. Returns it and how many."""
    chosen = [s.id for s in scenes[:current_app.config["MAX_BATCH_SCENES"]]]
    job = enqueue(f"{kind}_batch", project=project, user_id=current_user.id, params={"scenes": chosen, **params})
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


def regeneration(project: Project) -> tuple[list[Segment], str, int]:
    """What "Regenerate all" would do: its scenes, the project's model, and the total it costs."""
    scenes = project.segments[:current_app.config["MAX_BATCH_SCENES"]]
    model = project_settings.get(project, "image_model")
    return scenes, model, image_cost(model) * len(scenes)


def regenerate_all_images(project: Project, confirmed_total: int | None) -> tuple[Job | None, int]:
    """Every scene's image again with the project's model, style, seed and reference, as one batch.

    Refused while any image of the project is being made (a second click can't pay twice), and
    when the total is not the one the user confirmed (the price, model or scenes changed since).
    """
    scenes, model, total = regeneration(project)
    if not scenes:
        return None, 0
    if busy := in_flight(project, "image"):
        raise NotAllowed(f"Images are still being made for {len(busy)} scene{'s' if len(busy) != 1 else ''}: "
                         "wait for them to finish (or cancel them) before regenerating all.")
    require_storage(g.workspace)
    check_model(model)
    if confirmed_total != total:
        raise NotAllowed(f"Regenerating all {len(scenes)} images now costs {total} credit{'s' if total != 1 else ''}, "
                         f"not the {confirmed_total} you confirmed (the price, model or scenes changed). Check the "
                         "new total and confirm again.")
    available = ledger.balance(project.workspace_id)
    if total > available:
        raise ledger.InsufficientCredits(total, available)
    return start_batch(project, "images", scenes, model=model, replace=True)


def queue_batch_scene(job: Job, project: Project, segment: Segment) -> bool:
    """One scene of a batch job (run by the worker): queue its image or voiceover unless it no
    longer needs one (a "regenerate all" batch replaces images) or already has one on its way.
    True when queued."""
    try:
        if job.kind == "images_batch":
            if segment.image_asset_id and not job.params.get("replace"):
                return False
            queue_image(project, segment, segment.description or segment.text,
                        job.params.get("model") or model_for(project, segment),
                        user_id=job.created_by_id, batch=job.public_id)
        else:
            queue_voice(project, segment, user_id=job.created_by_id, batch=job.public_id)
    except AlreadyQueued:
        return False
    return True


def queue_voice(project: Project, segment: Segment, *, user_id: int | None, batch: str | None = None) -> Job:
    return enqueue("voice", project=project, segment=segment, user_id=user_id, batch=batch,
                   params={"provider": project_settings.get(project, "voice_provider"),
                           "voice": project_settings.get(project, "voice"),
                           "rate": project_settings.speaking_rate(project),
                           "pitch": project_settings.get(project, "pitch")})


def voice_scenes(project: Project, wanted) -> tuple[Job | None, int]:
    """Voice the scenes ``wanted(segment)`` picks that have no voiceover on its way, as a batch job."""
    busy = in_flight(project, "voice")
    targets = [s for s in project.segments if wanted(s) and s.id not in busy]
    return start_batch(project, "voices", targets) if targets else (None, 0)


def fit_to_audio(project: Project, segment: Segment) -> bool:
    """Set the scene's duration to its voiceover plus the project's pad; False without audio."""
    if not segment.audio:
        return False
    pad = project_settings.fit_pad(project)
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
