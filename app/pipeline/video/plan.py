"""Plan a compile: pace the scenes, lay them on the frame grid, cut captions and chapters, and list the pieces.

The output is a run of keyframe intervals; each one is the first frames of a piece, every frame held
for as many output frames as its place in the layout says (the join repeats it by skipped frames).
A still scene needs one piece: its picture, then the steps of its transition into the next scene;
every keyframe interval of its hold uses the first frame of that piece (with no lookahead, x264
encodes a piece's first frames the same whatever follows them). With burned captions a hold's
picture changes at every caption (or spoken word), so each interval has its own piece, and its
keyframes come further apart (EncoderSettings.captioned_keyint_seconds): a change is a small P frame,
a keyframe a whole picture. A moving scene's frames all differ: a piece per keyframe interval.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .burn import ass_for_frames, state_changes
from .captions import Cue, build_cues
from .chapters import Chapters, build_chapters
from .frames import Frame, Source
from .pacing import narration_span, pace
from .pieces import PieceSpec, make_piece
from .timeline import CompileSettings, Narration, Scene, SceneSlot, Timeline, build_timeline


@dataclass(frozen=True)
class JoinEntry:
    """One keyframe interval of the output: the first len(layout) frames of a piece, frame n shown
    for layout[n] output frames."""

    key: str
    layout: tuple[int, ...]

    @property
    def frames(self) -> int:
        return sum(self.layout)


@dataclass
class CompilePlan:
    """What to render and how to join it; plain data, computed without rendering anything."""

    scenes: list[Scene]  # as paced
    settings: CompileSettings
    timeline: Timeline
    narration: list[Narration | None]  # where each scene's speech is in its audio file
    pieces: list[PieceSpec]  # unique, in order of first use
    joins: list[JoinEntry]
    cues: list[Cue]
    chapters: Chapters
    image_sha256: dict[str, str]  # image path -> SHA-256 of its bytes

    @property
    def duration(self) -> float:
        return self.timeline.duration


def _checked_image_sha256(path: str, index: int) -> str:
    """The image's SHA-256, read once; a damaged image fails here, naming the scene, not deep inside ffmpeg."""
    data = Path(path).read_bytes()
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"Scene {index + 1}'s image cannot be read ({exc.__class__.__name__}).") from exc
    return hashlib.sha256(data).hexdigest()


def intervals(frames: int, longest: int) -> list[int]:
    """Cover `frames` with keyframe intervals of at most `longest` frames; never a lone 1-frame interval
    (two keyframes in a row with the same id would be taken for one picture)."""
    counts = [longest] * (frames // longest) + ([frames % longest] if frames % longest else [])
    if len(counts) >= 2 and counts[-1] == 1:
        counts[-2:] = [(longest + 1) // 2, longest + 1 - (longest + 1) // 2]
    return counts


class _Planner:
    """Builds the pieces and joins of one compile, scene by scene."""

    def __init__(self, scenes: list[Scene], settings: CompileSettings, timeline: Timeline, burned: list[Cue]):
        self.scenes, self.settings, self.timeline, self.burned = scenes, settings, timeline, burned
        self.hashes: dict[str, str] = {}
        self.pieces: dict[str, PieceSpec] = {}
        self.joins: list[JoinEntry] = []

    def source(self, i: int) -> Source:
        image = str(self.scenes[i].image)
        if image not in self.hashes:
            self.hashes[image] = _checked_image_sha256(image, i)
        if self.scenes[i].motion == "off":  # a still is the same whatever frames it covers: share pieces
            return Source(image, self.hashes[image])
        return Source(image, self.hashes[image], self.scenes[i].motion, self.timeline.slots[i].frames)

    def transition_frames(self, slot: SceneSlot, moving: tuple[bool, bool]) -> tuple[Frame, ...]:
        """The steps of the slot's outgoing transition (source 0 into source 1)."""
        first = slot.frames - slot.out_frames
        return tuple(Frame(0, first + k if moving[0] else 0, 1, k if moving[1] else 0, k + 1, slot.out_frames)
                     for k in range(slot.out_frames))

    def add(self, spec: PieceSpec, layout: tuple[int, ...]) -> None:
        self.pieces.setdefault(spec.key, spec)
        self.joins.append(JoinEntry(spec.key, layout))

    def piece(self, slot: SceneSlot, sources: tuple[Source, ...], frames: tuple[Frame, ...],
              shown: list[int]) -> PieceSpec:
        """A piece of the slot's scene; shown[n] is the output frame whose captions fed frame n carries."""
        captions = (ass_for_frames(self.burned, self.settings.preset, self.settings.captions, shown)
                    if self.burned else None)
        transition = self.scenes[slot.index].transition.kind if any(f.into is not None for f in frames) else None
        return make_piece(self.settings.preset, self.settings.encoder, sources, frames, transition, captions,
                          slot.index)

    def scene(self, slot: SceneSlot) -> None:
        """The pieces and joins of a scene's hold and its outgoing transition."""
        i = slot.index
        sources = (self.source(i),) + ((self.source(i + 1),) if slot.out_frames else ())
        outgoing = self.transition_frames(slot, tuple(s.moving for s in sources) + (False,))
        tail_first = slot.end - slot.out_frames
        tail_layout = (1,) * slot.out_frames
        captioned = bool(self.burned)
        longest = self.settings.encoder.keyint(self.settings.preset.fps, captioned and not sources[0].moving)
        chunks = intervals(slot.hold_frames, longest) if slot.hold_frames else []
        if not chunks:  # all transition: the first step is the keyframe
            self.add(self.piece(slot, sources, outgoing, list(range(tail_first, slot.end))), tail_layout)
            return
        shared = None
        start = slot.hold_start
        for n, size in enumerate(chunks):
            last = n + 1 == len(chunks)
            if sources[0].moving:
                at = start - slot.start
                frames = tuple(Frame(0, at + k) for k in range(size))
                shown, layout = list(range(start, start + size)), (1,) * size
            else:
                changes = state_changes(self.burned, start, size, self.settings.captions) if captioned else []
                shown = [start, *changes]
                frames = (Frame(0),) * len(shown)
                layout = tuple(b - a for a, b in zip(shown, shown[1:] + [start + size]))
            if last:
                frames, layout = frames + outgoing, layout + tail_layout
                shown = shown + list(range(tail_first, slot.end))
            if not captioned and not sources[0].moving:
                # Every interval of a plain hold shows the piece's first frame: one piece, the last interval's.
                shared = shared or self.piece(slot, sources, (Frame(0),) + outgoing,
                                              [start] + list(range(tail_first, slot.end)))
                spec = shared
            else:
                spec = self.piece(slot, sources, frames, shown)
            self.add(spec, layout)
            start += size


def plan_compile(scenes: list[Scene], settings: CompileSettings) -> CompilePlan:
    """Pace and lay out the scenes, cut captions and chapters, and list the pieces (keyed by their inputs)."""
    if not scenes:
        raise ValueError("nothing to compile: no scenes")
    fps = settings.preset.fps
    narration = [narration_span(s.audio) if s.audio else None for s in scenes]
    scenes = pace(scenes, narration, settings, fps)
    timeline = build_timeline(scenes, fps)
    cues = build_cues(scenes, timeline, settings.preset, narration, settings.captions.size)
    planner = _Planner(scenes, settings, timeline, cues if settings.burn_captions else [])
    for slot in timeline.slots:
        planner.scene(slot)
    return CompilePlan(scenes, settings, timeline, narration, list(planner.pieces.values()), planner.joins, cues,
                       build_chapters(scenes, timeline), planner.hashes)
