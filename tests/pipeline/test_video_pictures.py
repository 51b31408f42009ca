"""What a viewer sees, measured on the MP4: legal levels through every transition, burned captions that
change only where a caption or word does and never cover a draft frame's text, thumbnails YouTube takes."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from app.pipeline.ffmpeg import ffmpeg_exe
from app.pipeline.images.draft import render_draft
from app.pipeline.video.burn import caption_band
from app.pipeline.video.compile import compile_video
from app.pipeline.video.plan import plan_compile
from app.pipeline.video.presets import PRESETS, VideoPreset
from app.pipeline.video.style import CaptionStyle
from app.pipeline.video.timeline import CompileSettings, Scene, Transition

from .test_video_compile import frames, still

SMALL = VideoPreset("test", 320, 180, 30)


def luma_range(path, first: int, last: int) -> tuple[int, int]:
    """Lowest and highest luma (8-bit code values) over frames first..last, from ffmpeg's signalstats."""
    run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path), "-vf",
                          f"select='between(n,{first},{last})',signalstats,metadata=print", "-an", "-f", "null", "-"],
                         capture_output=True, text=True, check=True)
    lows = [int(float(v)) for v in re.findall(r"lavfi.signalstats.YMIN=([\d.]+)", run.stderr)]
    highs = [int(float(v)) for v in re.findall(r"lavfi.signalstats.YMAX=([\d.]+)", run.stderr)]
    assert len(lows) == last - first + 1
    return min(lows), max(highs)


@pytest.mark.parametrize("kind", ["crossfade", "fadeblack", "slide", "wipe"])
def test_every_transition_stays_in_legal_range(tmp_path, kind):
    """Luma 16-235 (limited range) on every frame of the transition; fading through black reaches black
    (16), not below it."""
    scenes = [Scene(still(tmp_path / "a.png", (200, 60, 60)), 1.0, transition=Transition(kind, 0.5)),
              Scene(still(tmp_path / "b.png", (60, 60, 200)), 1.0)]
    result = compile_video(scenes, CompileSettings(preset=SMALL), tmp_path / "t.mp4", tmp_path / "cache")
    low, high = luma_range(result.video, 15, 29)  # the 15 frames the two scenes share
    assert low >= 16 and high <= 235
    if kind == "fadeblack":
        middle = frames(result.video)[22]
        assert middle.max() <= 20, "fades all the way to black"


def test_burned_captions_are_held_pictures(tmp_path):
    """Word by word over a held still: the encoder is fed one picture per highlighted word (and one for the
    gap), and the video holds each exactly until the next word starts."""
    words = [("Ships", 0.0, 0.3), ("sail", 0.45, 0.8), ("home", 0.9, 1.3), ("tonight.", 1.4, 1.9)]
    scene = Scene(still(tmp_path / "a.png", (40, 60, 80)), 3.0, text="Ships sail home tonight.", words=words)
    settings = CompileSettings(preset=SMALL, burn_captions=True, captions=CaptionStyle(style="words"))
    plan = plan_compile([scene], settings)
    assert [len(p.frames) for p in plan.pieces] == [5], "4 words lit in turn, then the caption goes"
    decoded = frames(compile_video([scene], settings, tmp_path / "w.mp4", tmp_path / "cache").video)
    changes = [n for n in range(1, len(decoded)) if np.abs(decoded[n] - decoded[n - 1]).max() > 6]
    assert changes == [14, 27, 42, plan.cues[0].end], "the picture changes where a word starts, nowhere else"


def text_rows(image: np.ndarray) -> set[int]:
    """Rows holding a draft frame's printed prompt (pure white letters)."""
    return set(np.flatnonzero((image.min(axis=2) >= 250).sum(axis=1) >= 3))


@pytest.mark.parametrize("position", ["bottom", "middle", "top"])
def test_burned_captions_never_cover_a_draft_frames_text(tmp_path, position):
    preset = VideoPreset("t", 640, 360, 30)
    style = CaptionStyle(position=position)
    prompt = "A lighthouse on a rocky coast at dawn, waves breaking on the rocks below, gulls over the water"
    render_draft(prompt, 7, (640, 360), badge=False, keep_clear=caption_band(preset, style)).save(tmp_path / "d.png")
    text = "Every harbour town wakes before the sun does, and the fishermen go first."
    scene = Scene(tmp_path / "d.png", 4.0, text=text)
    with_captions = frames(compile_video([scene], CompileSettings(preset=preset, burn_captions=True, captions=style),
                                         tmp_path / "c.mp4", tmp_path / "cache").video)[15]
    without = frames(compile_video([scene], CompileSettings(preset=preset), tmp_path / "n.mp4",
                                   tmp_path / "cache").video)[15]
    caption = set(np.flatnonzero((np.abs(with_captions - without).max(axis=2) > 40).sum(axis=1) > 0))
    printed = text_rows(np.asarray(Image.open(tmp_path / "d.png").convert("RGB")))
    assert caption and printed, "both texts are there"
    assert not caption & printed, f"caption rows {min(caption)}-{max(caption)} cover the printed text"


@pytest.mark.parametrize("preset", ["1080p30", "720p30", "vertical1080x1920", "square1080"])
def test_thumbnail_is_youtubes_size_for_every_preset(tmp_path, preset):
    size = (PRESETS[preset].width, PRESETS[preset].height)
    picture = np.zeros((size[1], size[0], 3), np.uint8)
    picture[:, :] = (200, 160, 40)
    picture[: size[1] // 10] = (20, 200, 20)  # a green band along the top edge
    Image.fromarray(picture).save(tmp_path / "p.png")
    result = compile_video([Scene(tmp_path / "p.png", 0.3)], CompileSettings(preset=PRESETS[preset]),
                           tmp_path / "v.mp4", tmp_path / "cache")
    with Image.open(result.thumbnail) as im:
        assert (im.format, im.size) == ("JPEG", (1280, 720))
        thumb = np.asarray(im.convert("RGB")).astype(int)
    green = (thumb[..., 1] > 150) & (thumb[..., 0] < 80)
    if size[1] > size[0] * 0.7:  # portrait or square: shown whole, its top band included
        assert green.any() and abs(thumb[360, 640] - (200, 160, 40)).max() < 12
        assert thumb[360, 20].sum() < thumb[360, 640].sum(), "a darker fill beside it"
    else:
        assert green[:36].mean() > 0.9, "a landscape picture fills the frame"
