"""A compile's storyboard snapshot: which scene, image, voiceover and words sat on which frames.

Stored in the compile Job's result when it is planned, so a review link shows (and a comment stays attached
to) exactly what that version was, and an editing package lines up with its MP4 frame for frame.
"""
from __future__ import annotations

from dataclasses import dataclass

from .extensions import db
from .models import Job, Project
from .pipeline.editorial import chapter_marks


def snapshot(project: Project, plan) -> dict:
    """The plan's layout with the rows it came from (the project's scenes, in order, as planned)."""
    timeline, preset = plan.timeline, plan.settings.preset
    return {
        "fps": timeline.fps, "width": preset.width, "height": preset.height, "frames": timeline.total_frames,
        "music": project.settings.get("music_asset_id") if plan.settings.music else None,
        "chapters": [list(mark) for mark in chapter_marks(plan.scenes, timeline)],
        "scenes": [{"segment": segment.id, "image": segment.image_asset_id, "audio": segment.audio_asset_id,
                    "text": scene.text, "start": slot.start, "frames": slot.frames, "in": slot.in_frames,
                    "out": slot.out_frames, "transition": scene.transition.kind,
                    "onset": round(speech.onset, 4) if speech else 0.0}
                   for segment, scene, slot, speech in zip(project.segments, plan.scenes, timeline.slots,
                                                           plan.narration)],
    }


def next_version(project: Project) -> int:
    """The number the compile finishing now gets: one more than the project's highest so far."""
    results = db.session.scalars(db.select(Job.result).filter_by(project_id=project.id, kind="compile",
                                                                 state="done"))
    return 1 + max((r.get("version", 0) for r in results), default=0)


def of(job: Job) -> dict | None:
    """The compile's snapshot, or None for compiles made before snapshots existed."""
    return (job.result or {}).get("storyboard")


def asset_ids(result: dict) -> set[int]:
    """Images, voiceovers and music a compile's snapshot points at (kept as long as the compile)."""
    board = result.get("storyboard") or {}
    ids = {i for scene in board.get("scenes", []) for i in (scene["image"], scene["audio"]) if i}
    return ids | ({board["music"]} if board.get("music") else set())


def scene_at(board: dict, seconds: float) -> int:
    """The scene number (1-based) on screen at a time; in a transition, the incoming scene."""
    frame = int(seconds * board["fps"])
    return max((n for n, s in enumerate(board["scenes"], start=1) if s["start"] <= frame), default=1)


@dataclass(frozen=True)
class SceneChange:
    number: int
    status: str  # "new", "changed" or "same"


@dataclass(frozen=True)
class Comparison:
    """How a version differs from the one before it, scene by scene."""

    previous_version: int
    scenes: list[SceneChange]
    removed: int

    @property
    def changed(self) -> list[int]:
        return [c.number for c in self.scenes if c.status != "same"]


def compare(board: dict, previous: dict, previous_version: int) -> Comparison:
    """Scenes are matched by the project's scene they came from; a scene changed if its picture, voiceover,
    words or length did."""
    before = {s["segment"]: s for s in previous["scenes"]}
    changes = []
    for number, scene in enumerate(board["scenes"], start=1):
        old = before.get(scene["segment"])
        if old is None:
            status = "new"
        else:
            same = all(old[k] == scene[k] for k in ("image", "audio", "text", "frames"))
            status = "same" if same else "changed"
        changes.append(SceneChange(number, status))
    kept = {s["segment"] for s in board["scenes"]}
    return Comparison(previous_version, changes, sum(1 for s in previous["scenes"] if s["segment"] not in kept))


def previous_compile(job: Job) -> Job | None:
    """The project's latest finished compile before this one that has a snapshot."""
    earlier = db.session.scalars(db.select(Job).filter(
        Job.project_id == job.project_id, Job.kind == "compile", Job.state == "done", Job.id < job.id)
        .order_by(Job.id.desc()))
    return next((j for j in earlier if of(j)), None)
