"""The pictures a piece feeds the encoder, as raw yuv420p frames: held stills, Ken Burns moves, transition steps.

A prepared still is a raw BT.709 yuv420p frame (see pieces.prepared_still). A held still is that frame
as it is; a moving still was prepared once at the size its move needs, and each frame is resampled
from the window the move has reached, with sub-pixel precision. Transitions blend two such pictures
in limited range, so no frame leaves legal levels (luma 16-235, chroma 16-240).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from .presets import VideoPreset

# (zoom gained over the scene, share of the spare margin the window drifts across)
MOTION = {"subtle": (0.06, 0.6), "strong": (0.16, 0.9)}
_DRIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))
BLACK_Y, NEUTRAL_C = 16, 128  # legal black


@dataclass(frozen=True)
class Source:
    """A scene's still, and how it moves over the scene's frames."""

    image: str
    image_sha256: str
    motion: str = "off"
    scene_frames: int = 0  # the move spans the whole scene; 0 for a still

    @property
    def moving(self) -> bool:
        return self.motion != "off"


class Frame(NamedTuple):
    """One picture fed to the encoder: a source at a frame of its scene, or a step of a transition into another."""

    source: int
    at: int = 0  # frame of the source's scene: where its move is
    into: int | None = None  # the incoming source, during a transition
    into_at: int = 0
    step: int = 0  # transition step, 1..steps
    steps: int = 0


@dataclass(frozen=True)
class Window:
    """The part of a moving still one frame shows, in pixels of the still as prepared for its move."""

    x: float
    y: float
    width: float
    height: float


def _even(value: float) -> int:
    return 2 * round(value / 2)


def prepared_size(preset: VideoPreset, motion: str) -> tuple[int, int]:
    """The size a still is prepared at: the frame, or for a move the frame magnified by its largest zoom, so
    every frame of the move is a downscale (or 1:1) of it and stays sharp."""
    if motion == "off":
        return preset.width, preset.height
    zoom = 1 + MOTION[motion][0]
    return _even(preset.width * zoom), _even(preset.height * zoom)


def motion_window(source: Source, at: int, preset: VideoPreset) -> Window:
    """Where the move is at frame `at` of its scene: the window glides at constant speed between the whole
    still and its zoomed-in part (drifted toward one side), in or out as the image's hash picks; every
    coordinate changes by the same sub-pixel step every frame."""
    zoom, drift = MOTION[source.motion]
    seed = int(source.image_sha256[:8], 16)
    dx, dy = _DRIFTS[(seed >> 1) % len(_DRIFTS)]
    progress = at / max(1, source.scene_frames - 1)
    big_w, big_h = prepared_size(preset, source.motion)
    near_w, near_h = big_w / (1 + zoom), big_h / (1 + zoom)
    near = ((big_w - near_w) / 2 * (1 + dx * drift), (big_h - near_h) / 2 * (1 + dy * drift), near_w, near_h)
    whole = (0.0, 0.0, float(big_w), float(big_h))
    a, b = (whole, near) if seed & 1 else (near, whole)
    return Window(*(u + (v - u) * progress for u, v in zip(a, b)))


class Planes:
    """A yuv420p picture: its raw bytes (one buffer, or one per plane), and views of them as arrays and images."""

    def __init__(self, parts: list[bytes], width: int, height: int):
        self.parts, self.width, self.height = parts, width, height

    @cached_property
    def data(self) -> bytes:
        return self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w, h = self.width, self.height
        cw, ch = w // 2, h // 2
        data = np.frombuffer(self.data, np.uint8)
        return (data[:w * h].reshape(h, w), data[w * h:w * h + cw * ch].reshape(ch, cw),
                data[w * h + cw * ch:].reshape(ch, cw))

    @cached_property
    def whole(self) -> Image.Image:
        """All three planes as one image (yuv420p is planar: its rows are 1.5 x height), for blending."""
        return Image.frombuffer("L", (self.width, self.height * 3 // 2), self.data, "raw", "L", 0, 1)


def _black(preset: VideoPreset) -> Planes:
    w, h = preset.width, preset.height
    return Planes([bytes([BLACK_Y]) * (w * h) + bytes([NEUTRAL_C]) * (w * h // 2)], w, h)


class Pictures:
    """Renders the frames of one piece from its sources' prepared stills."""

    def __init__(self, preset: VideoPreset, sources: tuple[Source, ...], stills: list[Path],
                 transition: str | None = None):
        self.preset, self.sources, self.transition = preset, sources, transition
        self._stills = [Planes([Path(path).read_bytes()], *prepared_size(preset, s.motion))
                        for s, path in zip(sources, stills)]

    def frame(self, frame: Frame) -> list[bytes]:
        """The raw yuv420p bytes of one frame (in parts that follow each other)."""
        a = self._picture(frame.source, frame.at)
        if frame.into is None:
            return a.parts
        b = self._picture(frame.into, frame.into_at)
        return [blend(self.transition, frame.step / (frame.steps + 1), a, b, self.preset)]

    def _picture(self, index: int, at: int) -> Planes:
        source, still = self.sources[index], self._stills[index]
        if not source.moving:
            return still
        window = motion_window(source, at, self.preset)
        w, h = self.preset.width, self.preset.height
        return Planes([_resampled(plane, window, scale, (round(w * scale), round(h * scale)))
                       for plane, scale in zip(still.arrays, (1, 0.5, 0.5))], w, h)


@cache
def _opencv():
    """OpenCV, loaded by the first move (a compile of stills never needs it), on one thread: pieces already
    render side by side, one per core."""
    import cv2

    cv2.setNumThreads(1)
    return cv2


def _resampled(plane: np.ndarray, window: Window, scale: float, size: tuple[int, int]) -> bytes:
    """The window (in luma pixels; ``scale`` for chroma) of a plane, resampled to ``size`` with bilinear
    weights: positions follow the window to 1/32 pixel (OpenCV's interpolation table), far below what shows,
    and a weighted mean of legal levels stays legal.

    OpenCV's vectorised warp takes under half the time of Pillow's resize (5 against 12 ms a 1080p plane),
    which is most of what a moving frame costs before the encoder. Every step of a move is a 0.94-1x
    downscale, too close to 1:1 for the aliasing an unfiltered bilinear step allows to show."""
    cv2 = _opencv()
    sx, sy = window.width * scale / size[0], window.height * scale / size[1]
    # Output pixel centre (j + 0.5) maps to window.x + (j + 0.5) * sx in the plane, whose pixel centres
    # are at i + 0.5: the affine map from output to source index.
    matrix = np.float32([[sx, 0, window.x * scale + 0.5 * sx - 0.5], [0, sy, window.y * scale + 0.5 * sy - 0.5]])
    return cv2.warpAffine(plane, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE).tobytes()


def blend(kind: str, t: float, a: Planes, b: Planes, preset: VideoPreset) -> bytes:
    """Step t (0..1, exclusive) of a transition from picture a to picture b."""
    if kind == "crossfade":
        return Image.blend(a.whole, b.whole, t).tobytes()
    if kind == "fadeblack":  # down to legal black, then up from it
        black = _black(preset).whole
        return (Image.blend(a.whole, black, 2 * t) if t < 0.5 else Image.blend(black, b.whole, 2 * t - 1)).tobytes()
    w, h = preset.width, preset.height
    edge = min(w, max(0, _even(t * w)))  # whole, even columns: chroma stays aligned with luma
    pa, pb = (np.frombuffer(p.data, np.uint8) for p in (a, b))
    out = np.empty(w * h * 3 // 2, np.uint8)
    for (start, pw, ph), e in zip(((0, w, h), (w * h, w // 2, h // 2), (w * h * 5 // 4, w // 2, h // 2)),
                                  (edge, edge // 2, edge // 2)):
        src_a = pa[start:start + pw * ph].reshape(ph, pw)
        src_b = pb[start:start + pw * ph].reshape(ph, pw)
        dst = out[start:start + pw * ph].reshape(ph, pw)
        if kind == "slide":  # a leaves to the left as b comes in from the right
            dst[:, :pw - e] = src_a[:, e:]
            dst[:, pw - e:] = src_b[:, :e]
        elif kind == "wipe":  # b is uncovered from the right
            dst[:, :pw - e] = src_a[:, :pw - e]
            dst[:, pw - e:] = src_b[:, pw - e:]
        else:
            raise ValueError(f"unknown transition {kind!r}")
    return out.tobytes()

