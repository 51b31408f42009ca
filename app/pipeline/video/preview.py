"""A still preview of burned-in captions: one frame of a scene with its first caption, drawn as a compile draws it."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

from PIL import Image

from .. import ffmpeg
from .burn import ass_for_frames
from .captions import build_cues
from .pacing import narration_span
from .pieces import BT709, prepared_still
from .style import FONTS_DIR, CaptionStyle
from .ffargs import filter_arg
from .frames import Source
from .presets import VideoPreset
from .timeline import Scene, build_timeline

PREVIEW_WIDTH = 960


def caption_preview_jpeg(scene: Scene, image_sha256: str, preset: VideoPreset, style: CaptionStyle,
                         stills_dir: Path) -> bytes:
    """The scene's picture with its first caption (in the "words" style, its second word lit), PREVIEW_WIDTH wide."""
    timeline = build_timeline([scene], preset.fps)
    speech = narration_span(scene.audio) if scene.audio else None
    cues = build_cues([scene], timeline, preset, [speech], style.size)
    frame = 0
    if cues:
        cue = cues[0]
        frame = cue.word_starts[min(1, len(cue.word_starts) - 1)] if style.style == "words" else cue.start
    still = prepared_still(Source(str(scene.image), image_sha256), preset, stills_dir)
    graph = f"setparams={BT709}"
    with tempfile.TemporaryDirectory() as work:
        captions = Path(work) / "captions.ass"
        if document := ass_for_frames(cues, preset, style, [frame]):
            captions.write_text(document, encoding="utf-8")
            graph += f",ass=filename={filter_arg(str(captions))}:fontsdir={filter_arg(str(FONTS_DIR))}"
        png = Path(work) / "frame.png"
        ffmpeg.run(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{preset.width}x{preset.height}",
                    "-i", str(still), "-vf", f"{graph},scale={PREVIEW_WIDTH}:-2:flags=lanczos,format=rgb24",
                    "-frames:v", "1", str(png)])
        with Image.open(png) as image:
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=88)
    return out.getvalue()
