"""What each kind of job does: call the pipeline, store the result, link it to the scene.

Each handler takes (job, project, segment, progress) and returns a short message. Results are
stored under a key derived from the job id, so a retried job overwrites rather than duplicates.
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

from flask import current_app
from rq import Queue

from . import jobs, production, project_settings, retention
from . import version_snapshot as snapshots
from .assets import selfhosted, voices
from .assets.reference import reference_asset, reference_bytes
from .extensions import db
from .platform.media import get_storage, project_prefix
from .pipeline import uploads
from .models import Asset, Job, Project, Segment, Workspace
from .piece_exchange import SharedPieces
from .projects.service import lock_project
from .pipeline.ffmpeg import Cancelled, FFmpegError
from .pipeline.images import ImageRequest, ProviderError, build_prompt, image_provider
from .pipeline.llm import ChatConfig
from .pipeline.segmentation import segment as segment_script
from .pipeline.suggestions import suggest
from .pipeline.video import (
    PIECE_SUFFIX,
    PieceSpec,
    compile_planned,
    plan_compile,
    render_piece,
    render_scene_preview,
)
from .pipeline.voice.base import to_flac
from .jobs import JobCancelled, JobFailed, Progress

log = logging.getLogger(__name__)


def store_asset(job: Job, project: Project, segment: Segment | None, kind: str, key: str,
                data: bytes, mime: str, **provenance) -> Asset:
    """Save bytes and their Asset row; the same key twice (a retry) updates the one row."""
    get_storage().put_bytes(key, data, mime)
    return store_asset_row(job, project, kind, key, mime, len(data), segment, **provenance)


def store_asset_row(job: Job, project: Project, kind: str, key: str, mime: str, size: int,
                    segment: Segment | None = None, **provenance) -> Asset:
    """The Asset row for a stored file; idempotent per storage key."""
    asset = db.session.scalar(db.select(Asset).filter_by(storage_key=key))
    if asset is None:
        asset = Asset(storage_key=key, workspace_id=project.workspace_id, project_id=project.id)
        db.session.add(asset)
    asset.segment_id = segment.id if segment else None
    asset.kind, asset.mime, asset.size = kind, mime, size
    asset.created_by_id = job.created_by_id
    for field, value in provenance.items():
        setattr(asset, field, value)
    db.session.flush()
    return asset


def link(segment: Segment, **values) -> None:
    """Point a scene at new media without its version check: people may be editing its text
    while the job ran, and a new image doesn't conflict with their words."""
    db.session.execute(db.update(Segment).where(Segment.id == segment.id).values(**values)
                       .execution_options(synchronize_session=False))


def attach_voice(project: Project, segment: Segment, asset: Asset, text: str | None, duration: float) -> None:
    """Make a voiceover the scene's own; a scene fitted to its audio follows the new length."""
    values = {"audio_asset_id": asset.id, "voice_text": text}
    if db.session.scalar(db.select(Segment.timing_source).where(Segment.id == segment.id)) == "audio":
        values["seconds"] = round(duration + project_settings.fit_pad(project), 2)
    link(segment, **values)


def _scene_gone(segment: Segment | None) -> bool:
    return segment is None or db.session.get(Segment, segment.id) is None


def handle_image(job: Job, project: Project, segment: Segment, progress: Progress) -> str:
    if _scene_gone(segment):
        raise JobFailed("The scene was deleted before its image was made.")
    model = job.params["model"]
    prompt = build_prompt(project_settings.get(project, "style"), job.params["description"])
    request = ImageRequest(prompt=prompt, size=project_settings.image_size(project),
                           seed=job.params["seed"], model=model,
                           aspect_ratio=project_settings.get(project, "aspect_ratio"),
                           negative_prompt=job.params.get("negative_prompt", ""))
    progress(0.05, "Generating the image…")
    try:
        provider = image_provider(
            model, stability_api_key=_stability_key(project),
            stability_base_url=current_app.config["STABILITY_BASE_URL"], timeout=90,
            selfhosted=selfhosted.server())
        reference = reference_asset(project) if provider.accepts_reference else None
        if reference is not None:
            request = replace(request, reference=reference_bytes(reference),
                              reference_strength=float(project_settings.get(project, "reference_strength")))
        result = provider.generate(request, on_progress=lambda f, m: progress(0.05 + 0.85 * f, m))
    except ProviderError as exc:
        raise JobFailed(exc.user_message, retryable=exc.retryable) from exc
    progress.check_cancel()
    extension = "png" if result.mime == "image/png" else "jpg"
    key = f"{project_prefix(project.workspace_id, project.id)}images/job-{job.public_id}.{extension}"
    asset = store_asset(job, project, segment, "image", key, result.data, result.mime,
                        provider=result.provider, model=result.model, prompt=result.prompt,
                        seed=result.seed, meta={"width": result.size[0], "height": result.size[1],
                                                "description": job.params["description"],
                                                "finish_reason": result.finish_reason,
                                                "reference_asset_id": reference.id if reference else None,
                                                **result.details})
    link(segment, image_asset_id=asset.id)
    project.touch()
    db.session.commit()
    return f"Image ready ({result.model})."


def _stability_key(project: Project) -> str:
    """A workspace's own key (set by its admins) wins over the server-wide one."""
    workspace = db.session.get(Workspace, project.workspace_id)
    return workspace.stability_api_key or current_app.config["STABILITY_API_KEY"]


def handle_voice(job: Job, project: Project, segment: Segment, progress: Progress) -> str:
    if _scene_gone(segment):
        raise JobFailed("The scene was deleted before its voiceover was made.")
    progress(0.1, "Speaking the scene…")
    text = segment.text  # what it says; if the scene is edited meanwhile, it shows as out of date
    try:
        speech = voices.provider(job.params["provider"]).synthesize(
            text, job.params["voice"], job.params.get("rate"), pitch=job.params.get("pitch", 0),
            on_progress=lambda f, m: progress(0.1 + 0.8 * f, m), should_cancel=progress.cancelled)
    except ProviderError as exc:
        raise JobFailed(exc.user_message, retryable=exc.retryable) from exc
    except Cancelled as exc:
        raise JobCancelled() from exc
    progress.check_cancel()
    flac, duration = to_flac(speech.wav)  # stored compressed; lossless, so nothing is lost before the final mux
    key = f"{project_prefix(project.workspace_id, project.id)}audio/job-{job.public_id}.flac"
    asset = store_asset(job, project, segment, "audio", key, flac, "audio/flac",
                        provider=speech.provider, model=speech.voice, prompt=text,
                        meta={"duration": duration, "timing_source": speech.timing_source,
                              "words": [list(w) for w in speech.words]})
    attach_voice(project, segment, asset, text, duration)
    project.touch()
    db.session.commit()
    return f"Voiceover ready ({duration:.1f} s)."


def handle_voice_sample(job: Job, _project, _segment, _progress) -> str:
    """A few seconds of a voice at a project's speed and pitch, kept for whoever plays it next."""
    try:
        return voices.make_sample(job.params)
    except ProviderError as exc:
        raise JobFailed(exc.user_message) from exc


def _convert_upload(job: Job, project: Project, progress: Progress, kind: str,
                    segment: Segment | None, timings=None) -> tuple[Asset, float]:
    """The uploaded original (kept since the request) as a compressed Asset; the original goes.

    ``timings(converted_path)`` gives the meta that says when its words are spoken (none without it).
    """
    incoming = db.session.get(Asset, job.params["asset_id"])
    if incoming is None:
        raise JobFailed("The uploaded file is gone; upload it again.")
    max_seconds = float(job.params["max_seconds"])
    try:
        with tempfile.TemporaryDirectory() as work:
            source = production.local_copy(incoming, Path(work))
            checked = uploads.check_audio_upload(source, max_bytes=incoming.size, max_seconds=max_seconds)
            out = Path(work) / f"converted.{checked.encoding.extension}"
            prepared = uploads.convert_audio_upload(source, out, checked, max_seconds=max_seconds,
                                                    on_progress=progress, should_cancel=progress.cancelled)
            progress.check_cancel()
            words = timings(out) if timings else {}  # before storing: SQLite lets one writer at a time
            key = f"{project_prefix(project.workspace_id, project.id)}{kind}/upload-{job.public_id}.{prepared.extension}"
            asset = store_asset(job, project, segment, kind, key, out.read_bytes(), prepared.mime,
                                provider="upload", prompt=job.params.get("voice_text"),
                                meta={"duration": prepared.duration, "timing_source": "none",
                                      "original_name": incoming.meta.get("original_name", ""),
                                      "original_format": prepared.original_format, **words})
    except uploads.UploadRejected as exc:
        raise JobFailed(exc.user_message) from exc
    except Cancelled as exc:
        raise JobCancelled() from exc
    return asset, prepared.duration


def _drop_incoming(job: Job) -> None:
    incoming = db.session.get(Asset, job.params["asset_id"])
    if incoming is not None:
        db.session.delete(incoming)
        db.session.commit()
        get_storage().delete(incoming.storage_key)


def handle_recording(job: Job, project: Project, segment: Segment, progress: Progress) -> str:
    """A user's recording of a scene's narration: converted, then attached as its voiceover."""
    try:
        if _scene_gone(segment):
            raise JobFailed("The scene was deleted before its recording was ready.")
        asset, duration = _convert_upload(
            job, project, progress, "audio", segment,
            timings=lambda path: voices.recording_timings(path, job.params.get("voice_text"), project, progress))
        attach_voice(project, segment, asset, job.params.get("voice_text"), duration)
        project.touch()
        db.session.commit()
    finally:
        db.session.rollback()
        _drop_incoming(job)
    return f"Recording attached ({duration:.1f} s)."


def handle_music(job: Job, project: Project, _segment, progress: Progress) -> str:
    """Uploaded background music: converted, then set as the project's music (replacing any)."""
    try:
        asset, duration = _convert_upload(job, project, progress, "music", None)
        db.session.commit()
        project = lock_project(project)
        project_settings.update(project, music_asset_id=asset.id)
        db.session.commit()
        retention.collect(project)  # the music it replaced
    finally:
        db.session.rollback()
        _drop_incoming(job)
    return f"Music added ({duration:.0f} s)."


def handle_preview(job: Job, project: Project, segment: Segment, progress: Progress) -> str:
    """One scene through the compile's own piece render and mux: what you see is what you get."""
    if _scene_gone(segment) or segment.image is None:
        raise JobFailed("The scene has no image to preview.")
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        scene = production.scene_input(project, segment, workdir, is_last=True)
        out = workdir / "preview.mp4"
        try:
            render_scene_preview(scene, production.compile_settings(project), out,
                                 production.piece_cache_dir(), on_progress=progress,
                                 should_cancel=progress.cancelled)
        except Cancelled as exc:
            raise JobCancelled() from exc
        finally:
            production.prune_piece_cache()
        key = f"{project_prefix(project.workspace_id, project.id)}previews/job-{job.public_id}.mp4"
        asset = store_asset(job, project, segment, "preview", key, out.read_bytes(), "video/mp4",
                            meta={"duration": scene.duration})
    job.result = {"asset_id": asset.id}
    db.session.commit()
    retention.collect(project)  # the scene's earlier preview
    return "Preview ready."


def handle_compile(job: Job, project: Project, _segment, progress: Progress) -> str:
    """Render (or reuse) every scene piece, join them, and store the MP4 with its sidecars."""
    from .video.service import preflight, scenes_summary
    blocking = [p.message for p in preflight(project) if p.blocking]
    if blocking:
        raise JobFailed(" ".join(blocking))
    storage = get_storage()
    prefix = project_prefix(project.workspace_id, project.id)
    cache = production.piece_cache_dir()
    with tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        progress(0.01, "Fetching images and audio")
        scenes = production.scene_inputs(project, workdir)
        settings = production.compile_settings(project, production.music_file(project, workdir))
        exchange = SharedPieces(storage, jobs.redis_connection(), prefix)
        try:
            plan = plan_compile(scenes, settings)
            board = snapshots.snapshot(project, plan)  # what this version shows, as planned
            missing = [p for p in plan.pieces if not (cache / f"{p.key}{PIECE_SUFFIX}").is_file()
                       and not exchange.available(p.key)]
            _ask_other_workers_to_help(job, missing, production.storage_keys(project, scenes))
            by_scene = _pieces_by_scene(plan)
            out = workdir / "video.mp4"
            result = compile_planned(plan, out, cache, on_progress=_ScenesReady(progress, by_scene, cache),
                                     should_cancel=progress.cancelled,
                                     workers=current_app.config["COMPILE_THREADS"], exchange=exchange)
            _keep_only_latest_shared_pieces(exchange, plan)
        except Cancelled as exc:
            raise JobCancelled() from exc
        except FFmpegError as exc:
            raise JobFailed(f"The video could not be rendered: {exc.stderr_tail or exc}") from exc
        finally:
            exchange.close()
            production.prune_piece_cache()
        progress(0.995, "Saving the video")
        files = {"video": (result.video, "video/mp4"), "srt": (result.srt, "application/x-subrip"),
                 "vtt": (result.vtt, "text/vtt"), "thumbnail": (result.thumbnail, "image/jpeg")}
        if result.chapters:
            files["chapters"] = (result.chapters, "text/plain")
        ids = {}
        for kind, (path, mime) in files.items():
            key = f"{prefix}compiles/job-{job.public_id}/{kind}{path.suffix}"
            storage.put_file(key, path, mime)
            asset = store_asset_row(job, project, kind, key, mime, path.stat().st_size)
            ids[kind] = asset.id
    project.thumbnail_asset_id = ids["thumbnail"]
    to_render = {p.key for p in missing}
    rendered_scenes = sum(1 for keys in by_scene if keys & to_render)
    reused_scenes = len(by_scene) - rendered_scenes
    job.result = {**ids, "duration": result.duration, "frames": result.frames,
                  "chapters_problem": result.chapters_problem,
                  "rendered": len(result.rendered_pieces), "reused": len(result.reused_pieces),
                  "scenes_rendered": rendered_scenes, "scenes_reused": reused_scenes,
                  "settings": production.settings_summary(project),
                  "storyboard": board, "version": snapshots.next_version(project)}
    project.touch()
    db.session.commit()
    return f"Video ready: {result.duration:.1f} s, {scenes_summary(rendered_scenes, reused_scenes)}."


def _pieces_by_scene(plan) -> list[set[str]]:
    """The keys of the pieces each scene's stretch of the video is joined from (a piece shared by
    scenes with the same picture belongs to each of them)."""
    slots = plan.timeline.slots
    keys: list[set[str]] = [set() for _ in slots]
    at, i = 0, 0
    for join in plan.joins:
        while i < len(slots) - 1 and at >= slots[i].end:
            i += 1
        keys[i].add(join.key)
        at += join.frames
    return keys


class _ScenesReady:
    """The compile's progress, its stage told as scenes finished ("3 of 12 scenes ready"): pieces
    finish out of order, so "Rendering scene N" (the scene a piece starts on) would jump back."""

    def __init__(self, progress: Progress, by_scene: list[set[str]], cache: Path):
        self.progress, self.by_scene, self.cache = progress, by_scene, cache
        self.ready: set[int] = set()

    def __call__(self, fraction: float, stage: str | None = None) -> None:
        if stage and stage.startswith("Rendering scene"):
            for i, keys in enumerate(self.by_scene):  # a piece in the cache stays there till the end
                if i not in self.ready and all((self.cache / f"{k}{PIECE_SUFFIX}").is_file() for k in keys):
                    self.ready.add(i)
            stage = f"{len(self.ready)} of {len(self.by_scene)} scenes ready"
        self.progress(fraction, stage)


def _keep_only_latest_shared_pieces(exchange: SharedPieces, plan) -> None:
    """The shared store keeps the latest compile's pieces; older ones live on only in the machines'
    caches, while those have room. Housekeeping: a storage hiccup here must not fail the compile."""
    try:
        exchange.keep_only({p.key for p in plan.pieces})
    except Exception:  # noqa: BLE001 - logged; the next compile tries again
        log.warning("could not remove a project's outdated shared pieces", exc_info=True)


def _ask_other_workers_to_help(job: Job, missing: list[PieceSpec], storage_keys: dict[str, str]) -> None:
    """Queue one helper job per missing piece (in neither this machine's cache nor the shared store),
    last scene first: idle workers (on any machine) render from the end while this one renders from
    the start; busy ones find them done.
    Each helper gets the piece's spec with its images named by storage key, so it fetches just those."""
    queue = Queue("video", connection=jobs.redis_connection())
    for spec in reversed(missing[1:]):
        queue.enqueue_call("app.handlers.render_shared_piece", args=(job.id, helper_spec(spec, storage_keys)),
                           timeout=1800, result_ttl=0, failure_ttl=3600)


def helper_spec(spec: PieceSpec, storage_keys: dict[str, str]) -> PieceSpec:
    """The piece's spec with its images named by storage key, for a worker on any machine."""
    return replace(spec, sources=tuple(replace(s, image=storage_keys[s.image]) for s in spec.sources))


def render_shared_piece(job_id: int, spec: PieceSpec) -> str:
    """RQ entry point of a helper: render one piece of a running compile (spec from helper_spec) into
    this machine's cache and publish it, unless it's done or taken."""
    db.engine.dispose(close=False)
    job = db.session.get(Job, job_id)
    if job is None or not job.active:
        return "compile no longer running"
    project = db.session.get(Project, job.project_id)
    exchange = SharedPieces(get_storage(), jobs.redis_connection(), project_prefix(project.workspace_id, project.id))
    try:
        if exchange.available(spec.key) or not exchange.claim(spec.key):
            return "already done or in hand"
        path = production.piece_cache_dir() / f"{spec.key}{PIECE_SUFFIX}"
        with tempfile.TemporaryDirectory() as work:
            try:
                local = replace(spec, sources=tuple(replace(s, image=str(production.local_file(s.image, Path(work))))
                                                    for s in spec.sources))
                if not path.is_file():
                    render_piece(local, path, should_cancel=lambda: jobs.cancel_requested(job_id))
            except BaseException:
                exchange.release(spec.key)  # the compile renders it itself, without waiting for the claim to lapse
                raise
        exchange.publish(spec.key, path)
        return "rendered"
    finally:
        exchange.close()
        db.session.remove()


def llm_config() -> ChatConfig | None:
    """The OpenAI-compatible endpoint, when the operator configured one."""
    config = current_app.config
    if not (config["LLM_BASE_URL"] and config["LLM_MODEL"]):
        return None
    return ChatConfig(config["LLM_BASE_URL"], config["LLM_API_KEY"], config["LLM_MODEL"])


def handle_suggest(job: Job, project: Project, segment: Segment, progress: Progress) -> str:
    """Describe a scene; fill an empty description, else keep it and offer the suggestion."""
    if _scene_gone(segment):
        raise JobFailed("The scene was deleted.")
    scenes = project.segments
    index = scenes.index(segment)
    progress(0.1, "Thinking about the scene…")
    result = suggest(segment.text, style=project_settings.get(project, "style"), llm=llm_config(),
                     previous=scenes[index - 1].text if index else "",
                     following=scenes[index + 1].text if index + 1 < len(scenes) else "")
    # Fill the description only if it is still empty at this instant: never overwrite typing.
    filled = db.session.execute(
        db.update(Segment).where(Segment.id == segment.id, db.func.trim(Segment.description) == "")
        .values(description=result.text, version=Segment.version + 1)
        .execution_options(synchronize_session=False)).rowcount
    if not filled:
        db.session.refresh(segment)
        link(segment, settings={**segment.settings, "suggestion": {
            "text": result.text, "source": result.source, "note": result.note}})
    db.session.commit()
    return f"Suggested ({result.source}). {result.note}".strip()


def script_fingerprint(script: str) -> str:
    """Identifies the script a segmentation job was asked to cut."""
    return hashlib.sha256(script.encode()).hexdigest()[:16]


def _refuse_if_script_changed(job: Job, project: Project) -> None:
    if script_fingerprint(project.script) != job.params["script"]:
        raise JobFailed("The script changed while it was being cut; cut it again.")


def handle_segment(job: Job, project: Project, _segment, progress: Progress) -> str:
    """Cut the script (a long one offline, or with the language model's topics, falling back
    offline if it fails); undoable like any cut."""
    from .script import editing, history
    _refuse_if_script_changed(job, project)
    config = llm_config() if job.params.get("method") == "llm" else None
    if job.params.get("method") == "llm" and config is None:
        raise JobFailed("No language model is configured any more; cut the script offline.")
    progress(0.1, "Asking the language model for topics…" if config else "Finding the topics and scenes…")
    cut = segment_script(project.script, llm=config, wpm=job.params["wpm"], min_seconds=job.params["min_seconds"],
                         max_seconds=job.params["max_seconds"])
    progress(0.8, "Replacing the scenes…")
    project = lock_project(project)
    _refuse_if_script_changed(job, project)
    before = history.snapshot(project)
    editing.replace_with(project, cut)
    history.record(project, "Automatic segmentation (language model)" if config else "Automatic segmentation",
                   before)
    db.session.commit()
    retention.collect(project)
    topics = len(cut.topics)
    how = "." if not config else ("by the language model." if cut.method == "llm" else f"offline. {cut.note}")
    return f"Cut into {len(cut.segments)} scenes in {topics} topic{'s' if topics != 1 else ''}{' ' if config else ''}{how}"


def handle_batch(job: Job, project: Project, _segment, progress: Progress) -> str:
    """Queue each scene's image (charging it) or voiceover, so a long batch never holds up a request."""
    from .assets.service import queue_batch_scene
    from .ledger import InsufficientCredits
    ids = job.params["scenes"]
    what = "image" if job.kind == "images_batch" else "voiceover"
    queued = 0
    for done, segment_id in enumerate(ids):
        progress.check_cancel()
        segment = db.session.get(Segment, segment_id)
        if segment is None or segment.project_id != project.id:
            continue  # deleted or merged away since the batch was asked for
        try:
            queued += queue_batch_scene(job, project, segment)
        except InsufficientCredits as exc:
            return f"Queued {queued} {what}s of {len(ids)}, then the credits ran out: {exc}"
        progress((done + 1) / len(ids), f"Queued {queued} {what}{'s' if queued != 1 else ''} of {len(ids)}")
    return f"Queued {queued} {what}{'s' if queued != 1 else ''}."


def handle_export(job: Job, project: Project, _segment, progress: Progress) -> str:
    """A compile's editing package for Premiere, Resolve and Final Cut (see app/editing)."""
    from .editing.service import build_package
    return build_package(job, project, progress)


HANDLERS = {
    "images_batch": handle_batch,
    "voices_batch": handle_batch,
    "segment": handle_segment,
    "compile": handle_compile,
    "export": handle_export,
    "suggest": handle_suggest,
    "preview": handle_preview,
    "image": handle_image,
    "voice": handle_voice,
    "voice_sample": handle_voice_sample,
    "recording": handle_recording,
    "music": handle_music,
}
