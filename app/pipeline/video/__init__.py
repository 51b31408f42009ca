"""Video assembly: scenes (still, narration, transition, motion) in; MP4, captions, chapters, thumbnail out.

Locally: ``compile_video(scenes, settings, out, cache_dir, on_progress, should_cancel)``.
Shared between workers: ``plan_compile`` once, then ``compile_planned(plan, ..., exchange=...)`` with a
``PieceExchange``; helpers on other machines render single pieces of the same plan with ``render_piece``
and publish them. See compile.py.
"""
from .compile import (
                      CompileResult,
                      PieceExchange,
                      assemble,
                      check_scenes,
                      compile_planned,
                      compile_video,
                      render_scene_preview,
                      render_soundtrack,
                      soundtrack_key,
)
from .pieces import PIECE_SUFFIX, PieceSpec, render_piece
from .plan import CompilePlan, plan_compile
from .style import CaptionStyle
from .presets import (
                      DEFAULT_PRESET,
                      PRESETS,
                      EncoderSettings,
                      VideoPreset,
                      preset_for_aspect,
)
from .timeline import CompileSettings, Scene, Transition

__all__ = [
    "DEFAULT_PRESET", "PIECE_SUFFIX", "PRESETS", "CaptionStyle", "CompilePlan", "CompileResult", "CompileSettings",
    "EncoderSettings", "PieceExchange", "PieceSpec", "Scene", "Transition", "VideoPreset", "assemble",
    "check_scenes", "compile_planned", "compile_video", "plan_compile", "preset_for_aspect", "render_piece",
    "render_scene_preview", "render_soundtrack", "soundtrack_key",
]
