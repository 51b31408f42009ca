"""Plain inputs of a compile and the frame-exact timing maths shared by video, audio and captions."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .presets import DEFAULT_PRESET, EncoderSettings, VideoPreset
from .style import CaptionStyle

TRANSITION_KINDS = ("cut", "crossfade", "fadeblack", "slide", "wipe")
MOTION_LEVELS = ("off", "subtle", "strong")
# The shortest transition worth drawing; a single blended frame would sit between two
# keyframes with identical headers, which some hardware decoders merge into one picture.
MIN_TRANSITION_FRAMES = 2

WordTiming = tuple[str, float, float]  # (word, start s, end s), relative to the scene's audio


@dataclass(frozen=True)
class Transition:
    """How a scene hands over to the next one."""

    kind: str = "cut"
    duration: float = 0.5

    def __post_init__(self):
        if self.kind not in TRANSITION_KINDS:
            raise ValueError(f"unknown transition {self.kind!r}; use one of {', '.join(TRANSITION_KINDS)}")
        if self.duration < 0:
            raise ValueError("transition duration must not be negative")


@dataclass
class Scene:
    """One segment of the video: a still, its narration and how it leads into the next scene."""

    image: str | Path
    duration: float
    audio: str | Path | None = None
    text: str = ""
    words: list[WordTiming] | None = None
    transition: Transition = field(default_factory=Transition)
    motion: str = "off"
    topic: str | None = None
    paced: bool = False  # fitted to its narration: the compile sets its duration (see pacing.py)

    @property
    def opens_chapter(self) -> bool:
        return bool(self.topic and self.topic.strip())

    def __post_init__(self):
        if self.motion not in MOTION_LEVELS:
            raise ValueError(f"unknown motion {self.motion!r}; use one of {', '.join(MOTION_LEVELS)}")
        if self.duration <= 0:
            raise ValueError("scene duration must be positive")


@dataclass(frozen=True)
class Narration:
    """Where speech is in a scene's audio file: its first and last sound, in seconds from the file's start."""

    onset: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.onset


@dataclass(frozen=True)
class CompileSettings:
    """Project-wide output settings."""

    preset: VideoPreset = DEFAULT_PRESET
    music: str | Path | None = None
    burn_captions: bool = False
    captions: CaptionStyle = field(default_factory=CaptionStyle)
    loudness_lufs: float = -14.0
    music_gap_lu: float = 12.0  # how far below the narration the music sits before ducking
    pause_seconds: float = 0.6  # silence after a paced scene's narration, before the next voice
    chapter_pause_seconds: float = 1.2  # the same before a scene that opens a chapter
    encoder: EncoderSettings = field(default_factory=EncoderSettings)


@dataclass(frozen=True)
class SceneSlot:
    """Where one scene sits in the output, in frames."""

    index: int
    start: int  # first frame of the scene, including its incoming transition
    frames: int
    in_frames: int  # frames shared with the previous scene
    out_frames: int  # frames shared with the next scene

    @property
    def end(self) -> int:
        return self.start + self.frames

    @property
    def hold_start(self) -> int:
        return self.start + self.in_frames

    @property
    def hold_frames(self) -> int:
        return self.frames - self.in_frames - self.out_frames


@dataclass(frozen=True)
class Timeline:
    """Frame-exact layout: scenes overlap by their transition frames."""

    fps: int
    slots: tuple[SceneSlot, ...]

    @property
    def total_frames(self) -> int:
        return self.slots[-1].end if self.slots else 0

    @property
    def duration(self) -> float:
        return self.total_frames / self.fps

    def seconds(self, frame: int) -> float:
        return frame / self.fps


def transition_frames(scenes: list[Scene], fps: int) -> list[int]:
    """Frames of each scene's outgoing transition, clamped so every scene keeps a hold of >= 2 frames or none."""
    frames = [max(1, round(s.duration * fps)) for s in scenes]
    result = []
    for i, scene in enumerate(scenes):
        if i == len(scenes) - 1 or scene.transition.kind == "cut":
            result.append(0)
            continue
        wanted = round(scene.transition.duration * fps)
        # Each scene may give at most half its frames to each neighbour.
        n = min(wanted, frames[i] // 2, frames[i + 1] // 2)
        result.append(n if n >= MIN_TRANSITION_FRAMES else 0)
    for i in range(len(scenes)):
        incoming = result[i - 1] if i else 0
        if frames[i] - incoming - result[i] == 1 and result[i]:
            result[i] -= 1  # a one-frame hold would also sit between two keyframes
            if result[i] < MIN_TRANSITION_FRAMES:
                result[i] = 0
    return result


def build_timeline(scenes: list[Scene], fps: int) -> Timeline:
    """Lay scenes out on the frame grid; a transition overlaps the end of one scene and the start of the next."""
    outs = transition_frames(scenes, fps)
    slots, start = [], 0
    for i, scene in enumerate(scenes):
        frames = max(1, round(scene.duration * fps))
        incoming = outs[i - 1] if i else 0
        slots.append(SceneSlot(i, start, frames, incoming, outs[i]))
        start += frames - outs[i]
    return Timeline(fps, tuple(slots))

