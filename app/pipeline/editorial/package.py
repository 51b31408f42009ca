"""The editing package: a zip with the timeline in four formats, the media they point at, captions, README."""
from __future__ import annotations

import re
import shutil
import uuid
import zipfile
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Callable

import opentimelineio as otio

from .. import ffmpeg
from ..video.audio import audio_duration
from .levels import clip_gains
from .timeline import Cut, audio_suffix, build_timeline, markers_on_clips, media_name

ProgressCallback = Callable[[float, str], None]
TIMELINE_FILES = {"timeline.otio": "otio_json", "timeline.xml": "fcp_xml", "timeline.fcpxml": "fcpx_xml",
                  "timeline.edl": "cmx_3600"}


def _measured(cut: Cut, work: Path) -> Cut:
    """The cut with its audio lengths and the compile's volumes filled in."""
    shots = []
    for shot in cut.shots:
        seconds = audio_duration(shot.audio) if shot.audio else None
        if shot.audio and not seconds:
            raise ValueError(f"The voiceover of {shot.name} cannot be read.")
        shots.append(replace(shot, audio_seconds=seconds))
    cut = replace(cut, shots=shots, music_seconds=audio_duration(cut.music) if cut.music else None)
    narration, music = clip_gains([s.audio for s in shots if s.audio], cut.music, cut.total_frames / cut.fps, work)
    return replace(cut, narration_gain_db=narration, music_gain_db=music)


def timeline_texts(timeline: otio.schema.Timeline, fps: int) -> dict[str, str]:
    """The timeline in each format, written by OpenTimelineIO's adapters."""
    on_clips = markers_on_clips(timeline)
    picture = on_clips.deepcopy()  # an EDL is one video track (the writer changes what it is given)
    picture.tracks[:] = [picture.video_tracks()[0].deepcopy()]
    sources = {"otio_json": timeline, "fcp_xml": timeline, "fcpx_xml": on_clips, "cmx_3600": picture}
    options = {"cmx_3600": {"rate": fps}}
    texts = {name: otio.adapters.write_to_string(sources[adapter], adapter, **options.get(adapter, {}))
             for name, adapter in TIMELINE_FILES.items()}
    texts["timeline.fcpxml"] = _sized_formats(texts["timeline.fcpxml"], timeline.metadata["scriptreel"])
    return texts


def _sized_formats(fcpxml: str, frame: dict) -> str:
    """Give the FCPXML format its frame size: the adapter names formats by probing the media with an
    ffprobe on PATH, which the package's relative paths (and most servers) don't allow."""
    return re.sub(r'(<format [^>]*?) name=""', rf'\1 width="{frame["width"]}" height="{frame["height"]}"', fcpxml)


def _readme(cut: Cut) -> str:
    seconds = cut.total_frames / cut.fps
    template = resources.files(__package__).joinpath("README.txt").read_text()
    return template.format(
        title=cut.title, underline="=" * (len(cut.title) + 42), scenes=len(cut.shots), fps=cut.fps,
        width=cut.width, height=cut.height, frames=cut.total_frames,
        duration=f"{int(seconds // 60)} min {seconds % 60:.2f} s",
        narration_gain=f"{cut.narration_gain_db:+.1f} dB",
        music_gain=f"{cut.music_gain_db:+.1f} dB" if cut.music else "(no music)")


def _editable_audio(source: Path, work: Path, should_cancel) -> Path:
    """The file itself, or a WAV copy when editing apps can't read its format (FLAC)."""
    if audio_suffix(source) == source.suffix.lower():
        return source
    out = work / f"{uuid.uuid4().hex}.wav"
    ffmpeg.run(["-i", str(source), "-map", "0:a:0", "-c:a", "pcm_s16le", "-ar", "48000", str(out)],
               should_cancel=should_cancel)
    return out


def write_package(cut: Cut, captions_srt: str, out_path: str | Path, on_progress: ProgressCallback | None = None,
                  should_cancel: Callable[[], bool] | None = None) -> Path:
    """Write the zip atomically; media are stored as they are (already compressed), text deflated."""
    report = on_progress or (lambda fraction, stage: None)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.work-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        report(0.05, "Measuring the audio levels")
        cut = _measured(cut, work)
        pictures = [(media_name("scene", n, s.image), s.image) for n, s in enumerate(cut.shots, start=1)]
        sounds = [(media_name("narration", n, s.audio), s.audio) for n, s in enumerate(cut.shots, start=1) if s.audio]
        if cut.music:
            sounds.append((media_name("music", None, cut.music), cut.music))
        media = [(name, Path(path), False) for name, path in pictures] + [(n, Path(p), True) for n, p in sounds]
        partial = work / "package.zip"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as package:
            report(0.2, "Writing the timelines")
            texts = {**timeline_texts(build_timeline(cut), cut.fps), "captions.srt": captions_srt,
                     "README.txt": _readme(cut)}
            for name, text in texts.items():
                package.writestr(name, text)
            for done, (name, source, sound) in enumerate(media):
                if should_cancel and should_cancel():
                    raise ffmpeg.Cancelled("cancelled")
                report(0.25 + 0.7 * done / len(media), f"Packing the media ({done + 1} of {len(media)})")
                package.write(_editable_audio(source, work, should_cancel) if sound else source, name,
                              compress_type=zipfile.ZIP_STORED)
        partial.replace(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(1.0, "Done")
    return out
