"""Compile scenes into the final MP4: plan cacheable pieces, render the missing ones, join, mux, add sidecars.

The task layer may fan out: ``plan = plan_compile(...)``, then ``render_piece(spec, path)`` for each
piece not yet in the shared cache (on any worker), then ``assemble(plan, paths, out)``.
``compile_planned(plan, ...)`` does all of it locally with a directory cache; ``compile_video`` plans first.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Protocol

from .. import ffmpeg
from ..ffmpeg import Cancelled
from .audio import CEILING_DBFS, audio_duration, build_soundtrack, true_peak_dbtp, write_narration
from .cache import in_cache, sweep_partials, write_atomically
from .captions import to_srt, to_vtt
from .mux import joined_frames, write_mp4
from .pieces import PIECE_SUFFIX, PieceSpec, file_sha256, flat_frames, render_piece
from .plan import CompilePlan, plan_compile
from .thumbnail import thumbnail_jpeg
from .timeline import CompileSettings, Scene, Transition

ProgressCallback = Callable[[float, str], None]  # (fraction 0..1, stage text)
CancelCheck = Callable[[], bool]
AUDIO_BITRATE = "192k"
# ffmpeg's AAC encoder with its fast coder and without the mid/side search: together a quarter of the CPU
# of the defaults (the search alone is half of it), for two channels of 96 kb/s each, which speech and
# music need no more than (YouTube re-encodes every upload anyway).
AAC = ("-c:a", "aac", "-aac_coder", "fast", "-aac_ms", "0", "-b:a", AUDIO_BITRATE)
SOUNDTRACK_CODE_VERSION = 3  # bump when the audio processing changes
THUMBNAIL_CODE_VERSION = 2  # bump when the thumbnail's cropping or encoding changes
TRUE_PEAK_LIMIT_DBTP = -1.0  # measured on the encoded file
# Enough for two 1080p blends side by side (see _render_memory_mb), or a blend beside the soundtrack.
MEMORY_PER_WORKER_MB = 145


@dataclass
class CompileResult:
    """The finished files and facts about them."""

    video: Path
    srt: Path
    vtt: Path
    thumbnail: Path
    chapters: Path | None  # None when YouTube's chapter rules can't be met; see chapters_problem
    chapters_problem: str | None
    duration: float
    frames: int
    rendered_pieces: list[str] = field(default_factory=list)  # keys rendered by this call
    reused_pieces: list[str] = field(default_factory=list)  # keys found in the cache


class Progress:
    """Weighted progress over named tasks; reports never go backwards and reach 1.0 only at the end."""

    def __init__(self, callback: ProgressCallback | None, weights: dict[str, float]):
        self._callback = callback
        self._weights = weights
        self._done = dict.fromkeys(weights, 0.0)
        self._total = sum(weights.values()) or 1.0
        self._reported = 0.0
        self._stage = ""
        self._lock = threading.Lock()

    def update(self, task: str, fraction: float, stage: str | None) -> None:
        """Record a task's fraction done; stage None keeps the current stage text (background work)."""
        with self._lock:  # held while reporting too, so reports from worker threads arrive in order
            self._done[task] = max(self._done[task], min(1.0, fraction))
            value = sum(self._weights[t] * f for t, f in self._done.items()) / self._total
            self._reported = max(self._reported, min(value, 0.999))
            self._stage = stage or self._stage
            if self._callback:
                self._callback(self._reported, self._stage)

    def finish(self, stage: str) -> None:
        if self._callback:
            self._callback(1.0, stage)


def _piece_effort(spec: PieceSpec) -> float:
    """Rough encoding effort in full-HD-frame equivalents, to weight progress."""
    pixels = spec.preset.width * spec.preset.height / (1920 * 1080)
    return pixels * (3 + len(spec.frames) * (1.5 if spec.moving else 1.0))


def _render_memory_mb(spec: PieceSpec) -> float:
    """Rough peak memory of one piece: its ffmpeg and the stills it draws from (~100 MB at 1080p, more moving)."""
    megapixels = spec.preset.width * spec.preset.height / 1e6
    return 60 + megapixels * (30 if spec.moving else 20)


@dataclass
class _Job:
    """One unit of local work: a piece or the soundtrack."""

    key: str
    stage: str | None  # None: runs in the background of the pieces, so it doesn't take over the stage text
    memory_mb: float
    effort: float
    run: Callable[[Callable[[float], None], CancelCheck], object]


class _JobQueue:
    """Hands jobs to local workers while their estimated memory fits the budget (always at least one)."""

    def __init__(self, jobs: list[_Job], budget_mb: float):
        self._pending = list(jobs)
        self._budget = budget_mb
        self._in_use = 0.0
        self._running = 0
        self._cond = threading.Condition()

    def take(self) -> _Job | None:
        with self._cond:
            while self._pending:
                fits = [j for j in self._pending if not self._running or self._in_use + j.memory_mb <= self._budget]
                if fits:
                    self._pending.remove(fits[0])
                    self._in_use += fits[0].memory_mb
                    self._running += 1
                    return fits[0]
                self._cond.wait()
            return None

    def release(self, job: _Job) -> None:
        with self._cond:
            self._in_use -= job.memory_mb
            self._running -= 1
            self._cond.notify_all()


class PieceExchange(Protocol):
    """Shares pieces between machines rendering the same compile (see compile_video)."""

    def fetch(self, key: str, path: Path) -> bool:
        """Copy the piece to ``path`` if another machine has published it."""

    def claim(self, key: str) -> bool:
        """Become the one renderer of this piece; False while someone else renders it."""

    def publish(self, key: str, path: Path) -> None:
        """Make a piece rendered here available to the others (and drop the claim)."""


def _shared_piece_job(spec: PieceSpec, path: Path, exchange: PieceExchange):
    """Render a piece unless another machine has it or is rendering it (then wait for theirs)."""

    def run(report, cancel) -> str:
        while not exchange.fetch(spec.key, path):
            if exchange.claim(spec.key):
                render_piece(spec, path, report, cancel)
                exchange.publish(spec.key, path)
                return "rendered"
            if cancel():
                raise Cancelled("cancelled")
            time.sleep(0.3)
        report(1.0)
        return "fetched"
    return run


def _assembly_effort(plan: CompilePlan) -> float:
    return 5 + plan.duration * 0.1


def check_scenes(scenes: list[Scene]) -> list[str]:
    """Problems to show before compiling: missing images, silent scenes, narration longer than its scene."""
    problems = []
    for n, scene in enumerate(scenes, start=1):
        if not scene.image or not Path(scene.image).is_file():
            problems.append(f"Scene {n} has no image.")
        if scene.audio is None:
            problems.append(f"Scene {n} has no narration; it will be silent.")
            continue
        length = audio_duration(scene.audio)
        if length is None:
            problems.append(f"Scene {n}'s narration cannot be read.")
        elif length > scene.duration + 0.05 and not scene.paced:
            problems.append(f"Scene {n}'s narration ({length:.1f} s) is longer than the scene "
                            f"({scene.duration:.1f} s); it will be cut.")
    return problems


def soundtrack_key(plan: CompilePlan) -> str:
    """Cache key of the encoded soundtrack: the audio inputs and where they sit, not the pictures."""
    identity = {
        "v": SOUNDTRACK_CODE_VERSION, "fps": plan.timeline.fps,
        "narration": [[file_sha256(s.audio) if s.audio else None, slot.start, slot.frames,
                       speech.onset if speech else None]
                      for s, slot, speech in zip(plan.scenes, plan.timeline.slots, plan.narration)],
        "music": file_sha256(plan.settings.music) if plan.settings.music else None,
        "target": plan.settings.loudness_lufs, "gap": plan.settings.music_gap_lu, "bitrate": AUDIO_BITRATE,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def render_soundtrack(plan: CompilePlan, out_path: str | Path, on_progress: Callable[[float], None] | None = None,
                      should_cancel: CancelCheck | None = None) -> Path:
    """Narration on the frame grid, ducked music, loudness to target, encoded to AAC once (an .m4a) whose
    true peak is measured: over TRUE_PEAK_LIMIT_DBTP, it is encoded again under a lower ceiling."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.work-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    duration = plan.duration
    report = on_progress or (lambda fraction: None)
    try:
        narration = work / "narration.wav"
        write_narration(plan.scenes, plan.timeline, plan.narration, narration, should_cancel)
        report(0.1)
        soundtrack = build_soundtrack(
            narration, plan.settings.music, duration, plan.settings.loudness_lufs, plan.settings.music_gap_lu,
            work, on_time=lambda t: report(0.1 + 0.2 * min(1.0, t / duration)), should_cancel=should_cancel)
        encoded, ceiling = work / "soundtrack.m4a", CEILING_DBFS
        for _ in range(3):
            ffmpeg.run(["-i", str(soundtrack.path), "-af", soundtrack.final_filter(ceiling), *AAC,
                        "-ar", "48000", "-ac", "2", "-f", "mp4", str(encoded)],
                       on_time=lambda t: report(0.3 + 0.6 * min(1.0, t / duration)), should_cancel=should_cancel)
            peak = true_peak_dbtp(encoded, work, should_cancel)
            if peak <= TRUE_PEAK_LIMIT_DBTP:
                break
            ceiling -= peak - TRUE_PEAK_LIMIT_DBTP + 0.2
        else:
            raise RuntimeError(f"the soundtrack's true peak stays at {peak:.1f} dBTP")
        encoded.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(1.0)
    return out


def _thumbnail(plan: CompilePlan) -> bytes:
    return thumbnail_jpeg(plan.scenes[0].image)


def thumbnail_key(plan: CompilePlan) -> str:
    """Cache key of the thumbnail: the first image's bytes."""
    return f"{THUMBNAIL_CODE_VERSION}-{plan.image_sha256[str(plan.scenes[0].image)][:32]}"


def assemble(plan: CompilePlan, piece_paths: dict[str, str | Path], out_path: str | Path,
             on_progress: ProgressCallback | None = None, should_cancel: CancelCheck | None = None,
             soundtrack: str | Path | None = None, thumbnail: str | Path | None = None,
             wait_for: Callable[[str], None] | None = None) -> CompileResult:
    """Join the rendered pieces without re-encoding video, add the soundtrack and thumbnail (made here unless
    given), and write the MP4 (+faststart) with its SRT, VTT, chapters and thumbnail; files appear only when
    all are done. With ``wait_for(key)``, pieces may still be rendering: each is waited for when needed."""
    if wait_for is None:
        missing = [p.key for p in plan.pieces if p.key not in piece_paths or not Path(piece_paths[p.key]).is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} piece(s) not rendered yet, e.g. {missing[0]}")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.work-*"):  # left by a killed worker
        shutil.rmtree(stale, ignore_errors=True)
    work = out.parent / f".{out.name}.work-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    progress = Progress(on_progress, {"audio": 0 if soundtrack else 3, "mux": 2})
    paths = {k: Path(v) for k, v in piece_paths.items()}
    try:
        if soundtrack is None:
            progress.update("audio", 0, "Mixing audio")
            soundtrack = render_soundtrack(plan, work / "soundtrack.m4a",
                                           lambda f: progress.update("audio", f, "Mixing audio"), should_cancel)
        progress.update("audio", 1, "Joining scenes")
        video_tmp = work / "video.mp4"
        frames = joined_frames(plan, paths, wait_for or (lambda key: None))
        write_mp4(plan, frames, Path(soundtrack), video_tmp, lambda f: progress.update("mux", f, "Joining scenes"),
                  should_cancel)
        progress.update("mux", 1, "Finalising")
        result = _publish(plan, out, work, video_tmp, thumbnail)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress.finish("Done")
    return result


def _publish(plan: CompilePlan, out: Path, work: Path, video_tmp: Path,
             thumbnail: str | Path | None) -> CompileResult:
    """Write the sidecars beside the finished video, then move everything into place."""
    fps = plan.settings.preset.fps
    srt, vtt = out.with_suffix(".srt"), out.with_suffix(".vtt")
    thumb, chapters = out.with_suffix(".jpg"), out.with_suffix(".chapters.txt")
    staged = {
        srt: to_srt(plan.cues, fps).encode(),
        vtt: to_vtt(plan.cues, fps).encode(),
        thumb: Path(thumbnail).read_bytes() if thumbnail else _thumbnail(plan),
    }
    if plan.chapters.text:
        staged[chapters] = plan.chapters.text.encode()
    for final, data in staged.items():
        (work / final.name).write_bytes(data)
    for final in staged:
        (work / final.name).replace(final)
    if not plan.chapters.text:
        chapters.unlink(missing_ok=True)  # don't leave an older compile's chapters beside this video
    video_tmp.replace(out)
    return CompileResult(out, srt, vtt, thumb, chapters if plan.chapters.text else None, plan.chapters.problem,
                         plan.duration, plan.timeline.total_frames)


def compile_video(scenes: list[Scene], settings: CompileSettings, out_path: str | Path, cache_dir: str | Path,
                  on_progress: ProgressCallback | None = None, should_cancel: CancelCheck | None = None,
                  **options) -> CompileResult:
    """Plan, then compile_planned (which takes the same options)."""
    return compile_planned(plan_compile(scenes, settings), out_path, cache_dir, on_progress, should_cancel,
                           **options)


def compile_planned(plan: CompilePlan, out_path: str | Path, cache_dir: str | Path,
                    on_progress: ProgressCallback | None = None, should_cancel: CancelCheck | None = None,
                    workers: int = 2, memory_budget_mb: float | None = None,
                    exchange: PieceExchange | None = None) -> CompileResult:
    """Render the plan's missing pieces, soundtrack and thumbnail into cache_dir (up to ``workers`` at a
    time, within the memory budget: by default MEMORY_PER_WORKER_MB each) while joining them, in order,
    into the final video.

    With an ``exchange``, pieces other machines already published are fetched instead of rendered, a piece
    another machine is rendering is waited for, and each piece rendered here is published as soon as it is
    done — so several workers can render one compile's pieces side by side, and a crash loses only the
    pieces in flight."""
    scenes = plan.scenes
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    sweep_partials(cache)
    paths = {p.key: cache / f"{p.key}{PIECE_SUFFIX}" for p in plan.pieces}
    flat_frames(plan.settings.preset, plan.settings.encoder, cache)  # what the join repeats stills with
    audio = cache / f"soundtrack-{soundtrack_key(plan)}.m4a"
    thumb = cache / f"thumbnail-{thumbnail_key(plan)}.jpg"
    # Scene by scene (so the stage text moves forward), the longest piece of a scene first: the
    # last pieces to start are then short ones, and both workers finish at about the same time.
    todo = sorted((p for p in plan.pieces if not in_cache(paths[p.key])), key=lambda p: (p.scene, -_piece_effort(p)))
    outcomes: dict[str, str] = {}

    def piece_job(p: PieceSpec):
        def render_here(report, cancel) -> str:
            render_piece(p, paths[p.key], report, cancel)
            return "rendered"
        run = _shared_piece_job(p, paths[p.key], exchange) if exchange else render_here

        def record(report, cancel):
            outcomes[p.key] = run(report, cancel)
        return record
    jobs = [_Job(p.key, f"Rendering scene {p.scene + 1} of {len(scenes)}", _render_memory_mb(p), _piece_effort(p),
                 piece_job(p)) for p in todo]
    if not in_cache(audio):
        # Second in line: it runs beside the first piece, and the join can't start without it.
        stage = None if jobs else "Mixing audio"
        jobs.insert(min(1, len(jobs)), _Job("soundtrack", stage, 60, 5 + plan.duration * 0.3,
                                            lambda report, cancel: render_soundtrack(plan, audio, report, cancel)))
    weights = {job.key: job.effort for job in jobs}
    weights["assemble"] = _assembly_effort(plan)
    progress = Progress(on_progress, weights)
    stop = threading.Event()
    finished = {job.key: threading.Event() for job in jobs}

    def cancelled() -> bool:
        if not stop.is_set() and should_cancel and should_cancel():
            stop.set()
        return stop.is_set()

    def wait_for(key: str) -> None:
        """Block until a job of this compile is done (no-op for pieces that were cached)."""
        while key in finished and not finished[key].wait(0.2):
            if cancelled():
                raise Cancelled("cancelled")

    queue = _JobQueue(jobs, memory_budget_mb or MEMORY_PER_WORKER_MB * workers)
    errors: list[BaseException] = []

    def worker() -> None:
        while not stop.is_set() and (job := queue.take()) is not None:
            progress.update(job.key, 0, job.stage)
            try:
                job.run(lambda f, job=job: progress.update(job.key, f, job.stage), cancelled)
                finished[job.key].set()
            except BaseException as exc:
                errors.append(exc)
                stop.set()  # one failure stops the other jobs and the join too
            finally:
                queue.release(job)

    def assembly_progress(fraction: float, stage: str) -> None:
        # While pieces still render, the join follows them: keep their stage text.
        progress.update("assemble", fraction, stage if all(e.is_set() for e in finished.values()) else None)

    progress.update("assemble", 0, "Rendering scenes" if todo else "Joining scenes")
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(workers, len(jobs))))]
    for thread in threads:
        thread.start()
    result, assembly_error = None, None
    try:
        if not in_cache(thumb):
            write_atomically(thumb, _thumbnail(plan))
        wait_for("soundtrack")
        result = assemble(plan, paths, out_path, assembly_progress, cancelled, soundtrack=audio, thumbnail=thumb,
                          wait_for=wait_for)
    except BaseException as exc:
        assembly_error = exc
        stop.set()
    for thread in threads:
        thread.join()
    failures = [e for e in errors if not isinstance(e, Cancelled)]
    if failures:
        raise failures[0]  # the real error, not the "cancelled" it caused elsewhere
    if assembly_error is not None:
        raise assembly_error
    progress.finish("Done")
    result.rendered_pieces = [p.key for p in todo if outcomes.get(p.key) == "rendered"]
    result.reused_pieces = [p.key for p in plan.pieces if p.key not in result.rendered_pieces]
    return result


def render_scene_preview(scene: Scene, settings: CompileSettings, out_path: str | Path, cache_dir: str | Path,
                         on_progress: ProgressCallback | None = None,
                         should_cancel: CancelCheck | None = None) -> CompileResult:
    """One scene through the very same piece render and mux as the full compile."""
    alone = replace(scene, transition=Transition("cut"), topic=None)
    return compile_video([alone], settings, out_path, cache_dir, on_progress, should_cancel)
