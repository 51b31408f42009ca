"""Compile scenes into the final MP4: plan cacheable pieces, render the missing ones, join, mux, add sidecars.

The task layer may fan out: ``plan = plan_compile(...)``, then ``render_piece(spec, path)`` for each
piece not yet in the shared cache (on any worker), then ``assemble(plan, paths, out)``.
``compile_video`` does all of it locally with a directory cache.
"""
from __future__ import annotations

import shutil
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from .. import ffmpeg
from ..ffmpeg import Cancelled
from .audio import audio_duration, build_soundtrack, write_narration
from .captions import Cue, ass_for_range, build_cues, caption_changes, to_srt, to_vtt
from .chapters import Chapters, build_chapters
from .pieces import PieceSpec, SourceFrames, file_sha256, make_piece, render_piece
from .presets import ticks_per_frame, track_timescale
from .thumbnail import thumbnail_jpeg
from .timeline import CompileSettings, Scene, SceneSlot, Timeline, Transition, build_timeline

ProgressCallback = Callable[[float, str], None]  # (fraction 0..1, stage text)
CancelCheck = Callable[[], bool]
AUDIO_BITRATE = "192k"


@dataclass(frozen=True)
class JoinEntry:
    """The first `frames` frames of a piece, placed next in the output."""

    key: str
    frames: int


@dataclass
class CompilePlan:
    """What to render and how to join it; plain data, computed without rendering anything."""

    scenes: list[Scene]
    settings: CompileSettings
    timeline: Timeline
    pieces: list[PieceSpec]  # unique, in order of first use
    joins: list[JoinEntry]
    cues: list[Cue]
    chapters: Chapters

    @property
    def duration(self) -> float:
        return self.timeline.duration


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
        self._lock = threading.Lock()

    def update(self, task: str, fraction: float, stage: str) -> None:
        with self._lock:
            self._done[task] = max(self._done[task], min(1.0, fraction))
            value = sum(self._weights[t] * f for t, f in self._done.items()) / self._total
            self._reported = max(self._reported, min(value, 0.999))
            reported = self._reported
        if self._callback:
            self._callback(reported, stage)

    def finish(self, stage: str) -> None:
        if self._callback:
            self._callback(1.0, stage)


def _piece_effort(spec: PieceSpec) -> float:
    """Rough encoding effort in full-HD-frame equivalents, to weight progress."""
    pixels = spec.preset.width * spec.preset.height / (1920 * 1080)
    changing = spec.transition is not None or any(s.moving for s in spec.sources)
    return pixels * (10 + spec.frames * (1.0 if changing else 0.15))


def _assembly_effort(plan: CompilePlan) -> float:
    return 10 + plan.duration * 0.6


def plan_compile(scenes: list[Scene], settings: CompileSettings) -> CompilePlan:
    """Lay out the timeline, captions and chapters, and list the pieces (keyed by their inputs) to join."""
    if not scenes:
        raise ValueError("nothing to compile: no scenes")
    preset, fps = settings.preset, settings.preset.fps
    timeline = build_timeline(scenes, fps)
    spoken = [audio_duration(s.audio) if s.audio else None for s in scenes]
    cues = build_cues(scenes, timeline, preset, spoken)
    burned = cues if settings.burn_captions else []
    hashes: dict[str, str] = {}

    def source(i: int, first: int) -> SourceFrames:
        image = str(scenes[i].image)
        sha = hashes.get(image) or hashes.setdefault(image, file_sha256(image))
        if scenes[i].motion == "off":
            return SourceFrames(image, sha)  # a still is the same whatever frames it covers: share pieces
        return SourceFrames(image, sha, scenes[i].motion, timeline.slots[i].frames, first)

    def piece(frames: int, sources: tuple[SourceFrames, ...], first: int, scene: int,
              transition: str | None = None) -> PieceSpec:
        captions = ass_for_range(burned, preset, first, frames) if burned else None
        return make_piece(frames, preset, settings.encoder, sources, transition, captions, scene)

    pieces: dict[str, PieceSpec] = {}
    joins: list[JoinEntry] = []

    def add(spec: PieceSpec, used: list[int]) -> None:
        pieces.setdefault(spec.key, spec)
        joins.extend(JoinEntry(spec.key, n) for n in used)

    unit = settings.encoder.still_unit_frames(fps)
    for slot, scene in zip(timeline.slots, scenes):
        if slot.hold_frames:
            if scene.motion == "off":
                for first, frames in _constant_stretches(slot, burned):
                    size = min(frames, unit)
                    add(piece(size, (source(slot.index, 0),), first, slot.index), _repeats(frames, size))
            else:
                spec = piece(slot.hold_frames, (source(slot.index, slot.in_frames),), slot.hold_start, slot.index)
                add(spec, [slot.hold_frames])
        if slot.out_frames:
            first = slot.end - slot.out_frames
            pair = (source(slot.index, slot.frames - slot.out_frames), source(slot.index + 1, 0))
            add(piece(slot.out_frames, pair, first, slot.index, scene.transition.kind), [slot.out_frames])
    return CompilePlan(scenes, settings, timeline, list(pieces.values()), joins, cues,
                       build_chapters(scenes, timeline))


def _constant_stretches(slot: SceneSlot, cues: list[Cue]) -> list[tuple[int, int]]:
    """(first frame, frames) runs of a still's hold during which the burned-in caption doesn't change."""
    edges = [slot.hold_start, *caption_changes(cues, slot.hold_start, slot.hold_frames),
             slot.hold_start + slot.hold_frames]
    return [(a, b - a) for a, b in zip(edges, edges[1:])]


def _repeats(frames: int, unit: int) -> list[int]:
    """Cover `frames` with prefixes of a `unit`-frame piece; never a lone 1-frame tail after a full unit."""
    counts = [unit] * (frames // unit) + ([frames % unit] if frames % unit else [])
    if len(counts) >= 2 and counts[-1] == 1:
        counts[-2:] = [(unit + 1) // 2, unit + 1 - (unit + 1) // 2]
    return counts


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
        elif length > scene.duration + 0.05:
            problems.append(f"Scene {n}'s narration ({length:.1f} s) is longer than the scene "
                            f"({scene.duration:.1f} s); it will be cut.")
    return problems


def _concat_list(plan: CompilePlan, piece_paths: dict[str, Path]) -> str:
    fps = plan.settings.preset.fps
    size = {p.key: p.frames for p in plan.pieces}
    lines = ["ffconcat version 1.0"]
    for entry in plan.joins:
        path = str(Path(piece_paths[entry.key]).resolve()).replace("'", "'\\''")
        lines.append(f"file '{path}'")
        if entry.frames < size[entry.key]:
            # The piece has no B-frames, so cutting at a decode timestamp keeps exactly these frames.
            lines.append(f"outpoint {(entry.frames - 0.5) / fps:.6f}")
    return "\n".join(lines) + "\n"


def assemble(plan: CompilePlan, piece_paths: dict[str, str | Path], out_path: str | Path,
             on_progress: ProgressCallback | None = None, should_cancel: CancelCheck | None = None) -> CompileResult:
    """Join the rendered pieces without re-encoding video, build and encode the soundtrack once, and
    write the MP4 (+faststart) with its SRT, VTT, chapters and thumbnail; files appear only when all are done."""
    missing = [p.key for p in plan.pieces if p.key not in piece_paths or not Path(piece_paths[p.key]).is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} piece(s) not rendered yet, e.g. {missing[0]}")
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.work-*"):  # left by a killed worker
        shutil.rmtree(stale, ignore_errors=True)
    work = out.parent / f".{out.name}.work-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    fps, duration = plan.settings.preset.fps, plan.duration
    progress = Progress(on_progress, {"narration": 1, "soundtrack": 2, "mux": 6})
    try:
        progress.update("narration", 0, "Mixing narration")
        narration = work / "narration.wav"
        write_narration(plan.scenes, plan.timeline, narration, should_cancel)
        progress.update("narration", 1, "Mixing narration")
        soundtrack = build_soundtrack(
            narration, plan.settings.music, duration, plan.settings.loudness_lufs, plan.settings.music_gap_lu,
            work, on_time=lambda t: progress.update("soundtrack", t / duration, "Mixing narration"),
            should_cancel=should_cancel)
        concat = work / "pieces.ffconcat"
        concat.write_text(_concat_list(plan, {k: Path(v) for k, v in piece_paths.items()}), encoding="utf-8")
        video_tmp = work / "video.mp4"
        ticks = ticks_per_frame(fps)
        ffmpeg.run([
            "-f", "concat", "-safe", "0", "-auto_convert", "0", "-i", str(concat), "-i", str(soundtrack.path),
            "-map", "0:v", "-map", "1:a",
            # Pieces were cut at half-frame outpoints; restamp every frame onto the exact grid (CFR).
            "-c:v", "copy", "-bsf:v", f"setts=ts=N*{ticks}:duration={ticks}",
            "-af", soundtrack.final_filter, "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", "48000", "-ac", "2",
            "-video_track_timescale", str(track_timescale(fps)), "-movflags", "+faststart", "-f", "mp4",
            str(video_tmp)],
            on_time=lambda t: progress.update("mux", t / duration, "Joining scenes"), should_cancel=should_cancel)
        progress.update("mux", 1, "Finalising")
        result = _publish(plan, out, work, video_tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress.finish("Done")
    return result


def _publish(plan: CompilePlan, out: Path, work: Path, video_tmp: Path) -> CompileResult:
    """Write the sidecars beside the finished video, then move everything into place."""
    fps = plan.settings.preset.fps
    srt, vtt = out.with_suffix(".srt"), out.with_suffix(".vtt")
    thumb, chapters = out.with_suffix(".jpg"), out.with_suffix(".chapters.txt")
    staged = {
        srt: to_srt(plan.cues, fps).encode(),
        vtt: to_vtt(plan.cues, fps).encode(),
        thumb: thumbnail_jpeg(plan.scenes[0].image, plan.settings.preset.vertical),
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
                  workers: int = 2) -> CompileResult:
    """Plan, render missing pieces into cache_dir (``workers`` at a time), and assemble the final video."""
    plan = plan_compile(scenes, settings)
    cache = Path(cache_dir)
    paths = {p.key: cache / f"{p.key}.mp4" for p in plan.pieces}
    todo = [p for p in plan.pieces if not paths[p.key].is_file()]
    weights = {p.key: _piece_effort(p) for p in todo}
    weights["assemble"] = _assembly_effort(plan)
    progress = Progress(on_progress, weights)
    total_scenes = len(scenes)
    stop = threading.Event()

    def cancelled() -> bool:
        if not stop.is_set() and should_cancel and should_cancel():
            stop.set()
        return stop.is_set()

    def render(spec: PieceSpec) -> None:
        if cancelled():
            raise Cancelled("cancelled")
        stage = f"Rendering scene {spec.scene + 1} of {total_scenes}"
        progress.update(spec.key, 0, stage)
        try:
            render_piece(spec, paths[spec.key], lambda f: progress.update(spec.key, f, stage), cancelled)
        except BaseException:
            stop.set()  # one failure stops the other renders too
            raise

    progress.update("assemble", 0, "Rendering scenes" if todo else "Joining scenes")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(render, spec) for spec in todo]
    errors = [f.exception() for f in futures if f.exception()]
    if errors:
        raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])
    result = assemble(plan, paths, out_path, lambda f, stage: progress.update("assemble", f, stage), cancelled)
    progress.finish("Done")
    result.rendered_pieces = [p.key for p in todo]
    result.reused_pieces = [p.key for p in plan.pieces if p not in todo]
    return result


def render_scene_preview(scene: Scene, settings: CompileSettings, out_path: str | Path, cache_dir: str | Path,
                         on_progress: ProgressCallback | None = None,
                         should_cancel: CancelCheck | None = None) -> CompileResult:
    """One scene through the very same piece render and mux as the full compile."""
    alone = replace(scene, transition=Transition("cut"), topic=None)
    return compile_video([alone], settings, out_path, cache_dir, on_progress, should_cancel)
