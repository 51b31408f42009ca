"""Ken Burns moves: the path is sub-pixel smooth, and the rendered video really moves every frame, evenly."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app.pipeline.video.compile import compile_video
from app.pipeline.video.frames import Source, motion_window
from app.pipeline.video.presets import PRESETS, VideoPreset
from app.pipeline.video.timeline import CompileSettings, Scene

from .test_video_compile import frames


@pytest.mark.parametrize("motion", ["subtle", "strong"])
@pytest.mark.parametrize("scene_frames", [30, 180, 1800])
def test_every_coordinate_moves_monotonically_and_never_repeats(motion, scene_frames):
    # Sixteen images: both zoom directions and all eight drifts.
    for n in range(16):
        source = Source("x.png", hashlib.sha256(str(n).encode()).hexdigest(), motion, scene_frames)
        path = [motion_window(source, at, PRESETS["1080p30"]) for at in range(scene_frames)]
        for coordinate in ("x", "y", "width", "height"):
            steps = np.diff([getattr(w, coordinate) for w in path])
            assert (steps > 0).all() or (steps < 0).all(), (n, coordinate, steps)
            # A steady move: every step the same size (a zoom at constant speed).
            assert np.ptp(steps) <= 1e-6 * abs(steps).mean() + 1e-9, (n, coordinate)


def dots(path, size=(640, 360)) -> list[tuple[int, int]]:
    """A dark still with small bright dots near its corners, where a zoom moves things most."""
    w, h = size
    centres = [(w // 5, h // 5), (4 * w // 5, h // 5), (w // 5, 4 * h // 5), (4 * w // 5, 4 * h // 5)]
    image = Image.new("RGB", size, (40, 40, 40))
    draw = ImageDraw.Draw(image)
    for x, y in centres:
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(230, 230, 230))
    image.save(path)
    return centres


def centroid(frame: np.ndarray, around: tuple[float, float], radius: int = 14) -> tuple[float, float]:
    x0, y0 = int(around[0]) - radius, int(around[1]) - radius
    patch = frame[y0:y0 + 2 * radius, x0:x0 + 2 * radius].mean(axis=2)
    weight = np.clip(patch - 60, 0, None)
    ys, xs = np.mgrid[0:patch.shape[0], 0:patch.shape[1]]
    return x0 + (weight * xs).sum() / weight.sum(), y0 + (weight * ys).sum() / weight.sum()


@pytest.mark.parametrize("motion", ["subtle", "strong"])
def test_rendered_motion_moves_every_frame_by_an_even_step(tmp_path, motion):
    """Tracked to a hundredth of a pixel, each dot moves every frame, always the same way, by near-equal
    steps: whole-pixel positions (ffmpeg's zoompan), nearest-pixel resampling or an encoder that skips
    blocks that barely moved would all make it stand still for frames, then jump."""
    preset = VideoPreset("t", 640, 360, 30)
    centres = dots(tmp_path / "dots.png")
    result = compile_video([Scene(tmp_path / "dots.png", 3.0, motion=motion)], CompileSettings(preset=preset),
                           tmp_path / "m.mp4", tmp_path / "cache")
    decoded = frames(result.video)
    assert len(decoded) == 90
    moving = 0
    for centre in centres:
        track, at = [], centre
        for frame in decoded:
            at = centroid(frame, at)
            track.append(at)
        for axis in (0, 1):
            steps = np.diff([p[axis] for p in track])
            if abs(steps.sum()) < 4:
                continue  # near the point the zoom holds still: nothing to see
            moving += 1
            assert (steps > 0.01).all() or (steps < -0.01).all(), f"a dot stood still or turned back: {steps}"
            # Even steps: none strays from the dot's mean step by more than half of it, or 0.08 px on a slow
            # drift, where the centroid's own error and the resampler's 1/32 px positions are that size
            # (a whole-pixel path strays by nearly a pixel).
            assert np.abs(steps - steps.mean()).max() <= max(0.5 * abs(steps.mean()), 0.08), \
                f"uneven steps (judder): {steps}"
    assert moving >= 4
