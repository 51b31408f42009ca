"""Steps 1–4 in one call, without a database: script text in, MP4 with captions and chapters out."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .editorial import Cut, chapter_marks, shots_from_plan, write_package
from .images import ImageRequest, SelfHostedServer, build_prompt, image_provider
from .segmentation import segment
from .suggestions import suggest_offline
from .video import (
    PRESETS,
    CompileResult,
    CaptionStyle,
    CompileSettings,
    Scene,
    Transition,
    compile_planned,
    plan_compile,
)
from .voice import DEFAULT_VOICES, voice_provider

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class RenderOptions:
    image_model: str = "draft"
    voice_provider: str = "piper"
    voice: str | None = None  # None: the engine's default voice
    rate: int = 160
    transition: str = "crossfade"
    transition_seconds: float = 0.5
    preset: str = "1080p30"
    motion: str = "off"
    burn_captions: bool = False
    caption_style: str = "plain"  # or "words": the spoken word lit
    style: str = ""
    seed: int = 1
    stability_api_key: str | None = None
    selfhosted: SelfHostedServer | None = None  # the operator's GPU server, for image_model "selfhosted"
    azure_key: str | None = None
    azure_region: str | None = None


def render_script(text: str, out: Path, workdir: Path, cache_dir: Path, options: RenderOptions,
                  on_progress: Progress | None = None, timeline: Path | None = None) -> CompileResult:
    """Cut the script, draw and voice every scene, then compile (and, given ``timeline``, write the
    editing package of the same cut there); progress covers all of it."""
    report = on_progress or (lambda fraction, stage: None)
    preset = PRESETS[options.preset]
    cut = segment(text)
    if not cut.segments:
        raise ValueError("The script has no words to turn into scenes.")
    images = image_provider(options.image_model, stability_api_key=options.stability_api_key,
                            selfhosted=options.selfhosted)
    voices = voice_provider(options.voice_provider, key=options.azure_key,
                            region=options.azure_region)
    aspect = "9:16" if preset.vertical else ("1:1" if preset.width == preset.height else "16:9")
    first_of_topic = {}
    for index, scene in enumerate(cut.segments):
        first_of_topic.setdefault(scene.topic, index)
    scenes, total = [], len(cut.segments)
    for index, part in enumerate(cut.segments):
        narration = " ".join(line for line in part.text.splitlines()
                             if not line.lstrip().startswith("#")).strip()
        if not narration:
            continue
        report(0.4 * index / total, f"Preparing scene {index + 1} of {total}")
        description = suggest_offline(narration)
        picture = images.generate(ImageRequest(
            prompt=build_prompt(options.style, description), size=(preset.width, preset.height),
            seed=options.seed + index, model=options.image_model, aspect_ratio=aspect))
        image_path = workdir / f"scene-{index:03d}.png"
        image_path.write_bytes(picture.data)
        speech = voices.synthesize(narration, options.voice or DEFAULT_VOICES[options.voice_provider], options.rate)
        audio_path = workdir / f"scene-{index:03d}.wav"
        audio_path.write_bytes(speech.wav)
        last = index == total - 1
        scenes.append(Scene(
            image=image_path, audio=audio_path, text=narration,
            duration=max(part.seconds, speech.duration), paced=True,  # the compile fits it to its narration
            words=[(w[0], w[1], w[2]) for w in speech.words], motion=options.motion,
            topic=cut.topics[part.topic].title if first_of_topic[part.topic] == index else None,
            transition=Transition("cut" if last else options.transition,
                                  options.transition_seconds)))
    settings = CompileSettings(preset=preset, burn_captions=options.burn_captions,
                               captions=CaptionStyle(style=options.caption_style))
    plan = plan_compile(scenes, settings)
    share = 0.5 if timeline else 0.6
    result = compile_planned(plan, out, cache_dir, on_progress=lambda f, stage: report(0.4 + share * f, stage))
    if timeline:
        cut = Cut(title=out.stem, fps=preset.fps, width=preset.width, height=preset.height,
                  shots=shots_from_plan(plan),
                  chapters=chapter_marks(plan.scenes, plan.timeline))
        write_package(cut, result.srt.read_text(encoding="utf-8"), timeline,
                      on_progress=lambda f, stage: report(0.9 + 0.1 * f, f"Editing package: {stage}"))
    return result
