"""Step 3: images and voiceovers per scene — generate, review, regenerate, upload, fit, preview."""
from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, abort, current_app, g, render_template, request
from flask_login import current_user

from .. import ledger, project_settings
from ..access import permission, project_or_404, segment_or_404
from ..extensions import db
from ..jobs import AlreadyQueued, active_jobs, cancel, enqueue
from ..models import Asset, Job, Project
from ..partials import replace_target
from ..pipeline import uploads
from ..pipeline.images import MODELS
from ..projects.routes import step_context
from ..projects.storyboard import storyboard
from ..platform.media import get_storage
from ..platform.queue import QueueUnavailable, new_job_id
from ..platform.security import GENERATE_LIMIT, UPLOAD_LIMIT, limiter, member_key
from ..text import clean
from . import reference, service, voices

bp = Blueprint("assets", __name__, url_prefix="/projects/<int:project_id>")
MAX_IMAGE_BYTES = 25 * 1024 * 1024
MAX_IMAGE_PIXELS = 60_000_000
MAX_AUDIO_BYTES = 50 * 1024 * 1024



def _latest_jobs(project: Project) -> dict[int, dict[str, Job]]:
    """The newest job of each kind (image, voice, preview) per scene, for its status lines."""
    latest: dict[int, dict[str, Job]] = {}
    for job in db.session.scalars(db.select(Job).filter(
            Job.project_id == project.id, Job.segment_id.is_not(None),
            Job.kind.in_(("image", "voice", "recording", "preview"))).order_by(Job.id)):
        latest.setdefault(job.segment_id, {})[job.kind] = job
    return latest


def _versions(project: Project, kind: str = "image") -> dict[int, list[Asset]]:
    by_scene: dict[int, list[Asset]] = {}
    for asset in db.session.scalars(db.select(Asset).filter_by(project_id=project.id, kind=kind)
                                    .order_by(Asset.id.desc())):
        if asset.segment_id:
            by_scene.setdefault(asset.segment_id, []).append(asset)
    return by_scene


def _context(project: Project) -> dict:
    plan_tier = service.plan_tier()
    running = active_jobs(project)  # repairs abandoned jobs before the status lines are read
    running = [j for j in running if j.kind != "voice_sample"]  # a sample shows beside its voice, not here
    missing = service.missing_images(project)
    # Once per page: the self-hosted tier's price and plans are instance settings.
    costs = {m: service.image_cost(m) for m in MODELS}
    allowed = {m: service.plan_allows(m) for m in MODELS}
    unavailable = service.unavailable_models()
    regenerate_scenes, regenerate_model, regenerate_total = service.regeneration(project)
    return {"project": project, "latest": _latest_jobs(project), "versions": _versions(project),
            "storyboard_of": storyboard,
            "models": MODELS, "plan_tier": plan_tier, "cost": costs.__getitem__,
            "model_for": lambda s: service.model_for(project, s),
            "allowed": allowed.__getitem__,
            "too_long": service.audio_too_long, "settings": project_settings,
            "balance": ledger.balance(project.workspace_id),
            "missing": missing, "missing_cost": sum(costs[service.model_for(project, s)] for s in missing),
            "regenerate": {"count": len(regenerate_scenes), "model": MODELS.get(regenerate_model),
                           "total": regenerate_total},
            "images_in_flight": service.in_flight(project, "image"),
            "batches": [j for j in running if j.kind.endswith("_batch")],
            "outdated": [s for s in project.segments if s.voice_outdated],
            "audio_versions": _versions(project, "audio"),
            "unavailable": unavailable, "unavailable_notes": service.unavailable_notes(unavailable),
            "any_active": bool(running)}


@bp.get("/assets")
@permission("view")
def page(project_id: int):
    project = project_or_404(project_id)
    engine = project_settings.get(project, "voice_provider")
    return render_template("assets/page.html", voices=voices.voices(engine), voice_engines=voices.engines(),
                           azure_voices=voices.AZURE_VOICES, voice_help=voices.HOW_IT_SOUNDS,
                           pitch_range=voices.PITCH_RANGE, **reference.look_context(project),
                           **{**_context(project), **step_context(project, 3)})


def _grid(project: Project, status: int = 200, **extra):
    """The scene grid and the job poller; answers every htmx action on this page."""
    return render_template("assets/_grid.html", **_context(project), **extra), status


@bp.get("/assets/status")
@permission("view")
def status(project_id: int):
    project = project_or_404(project_id)
    context = _context(project)
    if not context["any_active"]:  # the batch just ended: counts, buttons, versions refresh
        return replace_target("assets/_grid.html", "#grid", **context)
    return render_template("assets/_status.html", **context)


@bp.post("/assets/settings")
@permission("edit")
def save_settings(project_id: int):
    project = project_or_404(project_id)
    form, values, error = request.form, {}, None
    if "aspect_ratio" in form:
        if form["aspect_ratio"] not in project_settings.ASPECTS:
            abort(400)
        values["aspect_ratio"] = form["aspect_ratio"]
    if "image_model" in form:
        try:
            service.check_model(form["image_model"])
            values["image_model"] = form["image_model"]
        except service.NotAllowed as exc:
            error = str(exc)
    voice_values, voice_error = voices.settings_from(form, project)
    values.update(voice_values)
    error = voice_error or error
    if "wpm" in form:
        rate = form.get("wpm", type=int)
        if rate is None or not 80 <= rate <= 300:
            error = "The speaking rate must be between 80 and 300 words per minute."
        else:
            values["wpm"] = rate
    project_settings.update(project, **values)
    db.session.commit()
    if "voice_provider" in values:  # the voice field itself changes: reload the page
        return "", 204, {"HX-Refresh": "true"}
    return _grid(project, 422 if error else 200, error=error,
                 notice=None if error else "Saved.")


@bp.post("/assets/voice-sample")
@permission("edit")
def voice_sample(project_id: int):
    """A voice at the project's speed and pitch: played at once when its sample exists, else made by a worker."""
    project = project_or_404(project_id)
    engine = request.form.get("engine", "")
    voice = next((v for v in voices.voices(engine) if v.id == request.form.get("voice")), None)
    if voice is None or engine not in voices.engines():
        return render_template("assets/_voice_sample.html", error="Choose a voice from the list."), 422
    sample = voices.sample_request(project, engine, voice)
    if not voices.sample_ready(sample["key"]):
        try:
            enqueue("voice_sample", project=project, user_id=current_user.id, params=sample)
        except (AlreadyQueued, QueueUnavailable) as exc:
            return render_template("assets/_voice_sample.html", error=str(exc)), 409
    return _sample_fragment(project, sample["key"])


def _sample_fragment(project: Project, key: str):
    digest = key.removeprefix(voices.SAMPLE_PREFIX).removesuffix(".flac")
    return render_template("assets/_voice_sample.html", project=project, digest=digest,
                           ready=voices.sample_ready(key), error=voices.sample_failure(project, key))


def _sample_key(digest: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{32}", digest):
        abort(404)
    return f"{voices.SAMPLE_PREFIX}{digest}.flac"


@bp.get("/assets/voice-samples/<digest>")
@permission("view")
def voice_sample_status(project_id: int, digest: str):
    """The sample's player once it is made (the fragment polls until then)."""
    return _sample_fragment(project_or_404(project_id), _sample_key(digest))


@bp.get("/assets/voice-samples/<digest>.flac")
@permission("view")
def voice_sample_audio(project_id: int, digest: str):
    """The sample itself (a few seconds of FLAC, so no range requests)."""
    project_or_404(project_id)
    key = _sample_key(digest)
    if not voices.sample_ready(key):
        abort(404)
    with get_storage().open_read(key) as sample:
        return sample.read(), 200, {"Content-Type": "audio/flac", "Cache-Control": "private, max-age=86400"}


STALE = ("Scene {n} was changed in another tab or by someone else since this page was loaded, "
         "so nothing was done. What you typed is kept below; send it again to use it.")
REFUSALS = (service.NotAllowed, ledger.InsufficientCredits, QueueUnavailable, AlreadyQueued)


def _size_of(file) -> int:
    """The upload's real size (only the first bytes past the limit are ever read)."""
    file.stream.seek(0, 2)
    size = file.stream.tell()
    file.stream.seek(0)
    return size


def _stale(segment) -> bool:
    sent = request.form.get("version", type=int)
    return sent is not None and sent != segment.version


def _refuse_stale(project: Project, segment, **typed):
    return _grid(project, 409, error=STALE.format(n=segment.position + 1), error_for=segment.id,
                 typed={segment.id: typed})


@bp.post("/assets/scenes/<int:segment_id>/image")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def generate_image(project_id: int, segment_id: int):
    """Generate (or regenerate) one scene's image with the description as edited here."""
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    description = clean(request.form.get("description", segment.description)).strip()[:4000]
    if _stale(segment):
        return _refuse_stale(project, segment, description=description)
    model = request.form.get("model") or service.model_for(project, segment)
    if not description and not segment.text.strip():
        return _grid(project, 422, error="Describe the scene first.", error_for=segment.id)
    if description != segment.description:
        segment.description = description
    try:
        service.require_storage(g.workspace)
        service.check_model(model)
        if model != project_settings.get(project, "image_model"):
            segment.settings = {**segment.settings, "image_model": model}
        service.queue_image(project, segment, description or segment.text, model, user_id=current_user.id)
    except REFUSALS as exc:
        db.session.rollback()
        return _grid(project_or_404(project_id), 409 if isinstance(exc, AlreadyQueued) else 422,
                     error=str(exc), error_for=segment_id)
    return _grid(project)


@bp.post("/assets/images/missing")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def generate_missing(project_id: int):
    project = project_or_404(project_id)
    try:
        _job, count = service.generate_missing_images(project)
    except REFUSALS as exc:
        return _grid(project, 409 if isinstance(exc, AlreadyQueued) else 422, error=str(exc))
    return _grid(project, notice=_batch_notice(count, "image", "Every scene has an image or one on its way."))


@bp.post("/assets/images/regenerate")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def regenerate_all(project_id: int):
    """Every scene's image again in the project's style, model, seed and reference, for the total
    the confirmation showed."""
    project = project_or_404(project_id)
    try:
        _job, count = service.regenerate_all_images(project, request.form.get("total", type=int))
    except REFUSALS as exc:
        return _grid(project, 409 if isinstance(exc, AlreadyQueued) else 422, error=str(exc))
    return _grid(project, notice=_batch_notice(count, "new image", "There are no scenes to regenerate."))


def _batch_notice(count: int, what: str, nothing: str) -> str:
    if not count:
        return nothing
    cap = current_app.config["MAX_BATCH_SCENES"]
    more = " That is the most one batch does: start another when it is done." if count == cap else ""
    return f"Queueing {count} {what}{'s' if count != 1 else ''}; progress shows on each scene.{more}"


@bp.post("/assets/scenes/<int:segment_id>/<any(image, audio):kind>/<int:asset_id>/use")
@permission("edit")
def use_version(project_id: int, segment_id: int, kind: str, asset_id: int):
    """Switch a scene to an earlier image (with the description it was made from) or voiceover."""
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    asset = db.session.scalar(db.select(Asset).filter_by(id=asset_id, project_id=project.id,
                                                         segment_id=segment.id, kind=kind))
    if asset is None:
        abort(404)
    if kind == "image":
        segment.image_asset_id = asset.id
        if asset.meta.get("description"):
            segment.description = asset.meta["description"]
    else:
        segment.audio, segment.voice_text = asset, asset.prompt
        if segment.timing_source == "audio":
            service.fit_to_audio(project, segment)
    project.touch()
    db.session.commit()
    return _grid(project, notice=f"Scene {segment.position + 1} uses the chosen version.")


@bp.post("/assets/scenes/<int:segment_id>/image/upload")
@limiter.limit(UPLOAD_LIMIT, key_func=member_key)
@permission("edit")
def upload_image(project_id: int, segment_id: int):
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    file = request.files.get("image")
    fit = request.form.get("fit", "crop")
    description = clean(request.form.get("image_description"), multiline=False).strip()[:4000]
    if _stale(segment):
        return _refuse_stale(project, segment, image_description=description)
    if file is None or not file.filename:
        return _grid(project, 422, error="Choose a PNG, JPEG or WebP image.", error_for=segment.id)
    try:
        prepared = uploads.prepare_image_upload(
            file.stream.read(MAX_IMAGE_BYTES + 1), project_settings.image_size(project),
            fit="letterbox" if fit == "letterbox" else "crop",
            max_bytes=MAX_IMAGE_BYTES, max_pixels=MAX_IMAGE_PIXELS, file_size=_size_of(file))
        service.require_storage(g.workspace, len(prepared.data))
    except (uploads.UploadRejected, service.NotAllowed) as exc:
        return _grid(project, 422, error=str(exc), error_for=segment.id)
    name = Path(file.filename).name[:200]
    asset = service.store_upload(project, "image", prepared.data, prepared.mime,
                                 "png" if prepared.mime == "image/png" else "jpg", segment,
                                 width=prepared.size[0], height=prepared.size[1], fit=fit,
                                 original_name=name, description=description,
                                 original_size=list(prepared.original_size))
    segment.image_asset_id = asset.id
    if description:
        segment.description = description
    project.touch()
    db.session.commit()
    return _grid(project, notice=f"Scene {segment.position + 1}: your image is in use (no credits used).")


@bp.post("/assets/scenes/<int:segment_id>/audio/upload")
@limiter.limit(UPLOAD_LIMIT, key_func=member_key)
@permission("edit")
def upload_audio(project_id: int, segment_id: int):
    """A recording of the scene's narration: checked now, converted and attached by a job."""
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    file = request.files.get("audio")
    if _stale(segment):
        return _refuse_stale(project, segment)
    if file is None or not file.filename:
        return _grid(project, 422, error="Choose a WAV, FLAC, MP3, M4A or OGG recording.",
                     error_for=segment.id)
    try:
        service.receive_recording(project, file, "audio", max_bytes=MAX_AUDIO_BYTES,
                                  max_seconds=current_app.config["MAX_VOICEOVER_MINUTES"] * 60,
                                  segment=segment)
    except (uploads.UploadRejected, service.NotAllowed, QueueUnavailable, AlreadyQueued) as exc:
        return _grid(project, 422, error=getattr(exc, "user_message", str(exc)), error_for=segment.id)
    return _grid(project, notice=f"Scene {segment.position + 1}: converting your recording…")


@bp.post("/assets/scenes/<int:segment_id>/voice")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def generate_voice(project_id: int, segment_id: int):
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    try:
        service.require_storage(g.workspace)
        service.queue_voice(project, segment, user_id=current_user.id)
    except (service.NotAllowed, QueueUnavailable, AlreadyQueued) as exc:
        return _grid(project, 422, error=str(exc), error_for=segment.id)
    return _grid(project)


@bp.post("/assets/scenes/<int:segment_id>/voice/keep")
@permission("edit")
def keep_voice(project_id: int, segment_id: int):
    """The user listened: the voiceover still fits the edited text, so it is no longer flagged."""
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    if _stale(segment):
        return _refuse_stale(project, segment)
    if segment.audio_asset_id:
        segment.voice_text = segment.text  # what it says now counts as the scene's words
        db.session.commit()
    return _grid(project, notice=f"Scene {segment.position + 1} keeps its voiceover.")


@bp.post("/assets/voice/<any(all, outdated):which>")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def voice_many(project_id: int, which: str):
    """Voice the scenes without a current voiceover (every scene with redo=1), or only those whose
    voiceover is out of date."""
    project = project_or_404(project_id)
    redo = request.form.get("redo") == "1"
    wanted = {"all": lambda s: redo or s.voice_state != "current",
              "outdated": lambda s: s.voice_outdated}[which]
    try:
        service.require_storage(g.workspace)
        _job, count = service.voice_scenes(project, wanted)
    except (service.NotAllowed, QueueUnavailable, AlreadyQueued) as exc:
        return _grid(project, 422, error=str(exc))
    return _grid(project, notice=voicing_notice(count))


def voicing_notice(count: int) -> str:
    return _batch_notice(count, "voiceover", "Nothing to voice: every scene has a current voiceover or one on its way.")


@bp.post("/assets/scenes/<int:segment_id>/fit")
@permission("edit")
def fit(project_id: int, segment_id: int):
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    if not service.fit_to_audio(project, segment):
        return _grid(project, 422, error="This scene has no voiceover to fit to.",
                     error_for=segment.id)
    db.session.commit()
    return _grid(project)


@bp.post("/assets/fit/all")
@permission("edit")
def fit_all(project_id: int):
    project = project_or_404(project_id)
    fitted = sum(service.fit_to_audio(project, s) for s in project.segments)
    db.session.commit()
    return _grid(project, notice=f"Fitted {fitted} scene{'s' if fitted != 1 else ''} to their audio.")


@bp.post("/assets/scenes/<int:segment_id>/preview")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def preview(project_id: int, segment_id: int):
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    if not segment.image_asset_id:
        return _grid(project, 422, error="Give the scene an image first.", error_for=segment.id)
    try:
        enqueue("preview", project=project, segment=segment, user_id=current_user.id)
    except (QueueUnavailable, AlreadyQueued) as exc:
        return _grid(project, 422, error=str(exc), error_for=segment.id)
    return _grid(project)


@bp.post("/assets/cancel")
@permission("edit")
def cancel_all(project_id: int):
    project = project_or_404(project_id)
    count = cancel([j for j in active_jobs(project) if j.kind in ("image", "voice", "recording", "preview")])
    return _grid(project, notice=f"Cancelling {count} job{'s' if count != 1 else ''}. "
                                 "Credits for images not made are refunded.")


@bp.post("/assets/scenes/<int:segment_id>/retry")
@limiter.limit(GENERATE_LIMIT, key_func=member_key)
@permission("edit")
def retry(project_id: int, segment_id: int):
    """Run a scene's failed job again (a new image is a new charge; the failed one was refunded)."""
    project = project_or_404(project_id)
    segment = segment_or_404(project, segment_id)
    kind = request.form.get("kind")
    try:
        service.require_storage(g.workspace)
        if kind == "image":
            model = service.model_for(project, segment)
            service.check_model(model)
            service.queue_image(project, segment, segment.description or segment.text, model,
                                user_id=current_user.id)
        elif kind == "voice":
            service.queue_voice(project, segment, user_id=current_user.id)
        else:
            abort(400)
    except REFUSALS as exc:
        return _grid(project, 422, error=str(exc), error_for=segment.id)
    return _grid(project)
