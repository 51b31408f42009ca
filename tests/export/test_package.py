"""The editing package against a real compile: frame-exact timelines in four formats, media that resolve
and play, Apple's FCPXML DTD, and golden files guarding the structure the adapters write."""
from __future__ import annotations

import os
import wave
import zipfile
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest
from PIL import Image

from app.pipeline.editorial import (Cut, Shot, build_timeline, chapter_marks, shots_from_plan, timeline_texts,
                                   write_package)
from app.pipeline.probe import probe
from app.pipeline.video import CompileSettings, Scene, Transition, compile_planned, plan_compile
from app.pipeline.video.presets import VideoPreset

from .timelines import check_against_board, fcpxml_is_valid, visible_ranges

SMALL = VideoPreset("test", 320, 180, 30)
GOLDEN = Path(__file__).parent / "golden"


def _tone(path: Path, seconds: float, freq: float) -> Path:
    t = np.arange(int(seconds * 24_000)) / 24_000
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes((0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Five scenes (one short, one silent, crossfades and a cut, two topics, music) compiled for real."""
    d = tmp_path_factory.mktemp("compile")
    scenes = []
    for i, (seconds, kind) in enumerate([(3.0, "crossfade"), (1.0, "fadeblack"), (2.5, "cut"), (2.2, "wipe"),
                                         (2.0, "cut")]):
        image = d / f"scene{i}.png"
        Image.new("RGB", (640 + 2 * i, 360), (40 * i, 120, 200)).save(image)  # bigger than the frame: full size
        scenes.append(Scene(image=image, duration=seconds, audio=_tone(d / f"voice{i}.wav", seconds * 0.8, 220 + 40 * i)
                            if i != 2 else None, text=f"Scene {i + 1} narration.", topic=("Start", None, "Middle", None,
                                                                                                None)[i],
                            transition=Transition(kind, 0.3 if i == 3 else 0.5)))
    settings = CompileSettings(preset=SMALL, music=_tone(d / "music.wav", 3.3, 110))
    plan = plan_compile(scenes, settings)
    result = compile_planned(plan, d / "video.mp4", d / "cache")
    board = {"fps": 30, "frames": plan.timeline.total_frames, "chapters": chapter_marks(plan.scenes, plan.timeline),
             "scenes": [{"start": s.start, "frames": s.frames, "in": s.in_frames, "out": s.out_frames,
                         "audio": bool(sc.audio)} for sc, s in zip(plan.scenes, plan.timeline.slots)]}
    cut = Cut("Harbour", 30, 320, 180, shots_from_plan(plan), board["chapters"],
              music=settings.music)
    package = write_package(cut, result.srt.read_text(), d / "harbour.zip")
    return result, board, package, d


def test_every_format_matches_the_compiled_video_frame_for_frame(compiled):
    result, board, package, _ = compiled
    with av.open(str(result.video)) as mp4:
        assert sum(1 for p in mp4.demux(video=0) if p.size) == board["frames"]
    assert [s["in"] for s in board["scenes"]][1:] == [15, 15, 0, 9]  # a hold-less scene, a cut, an odd split
    check_against_board(package, board)


def test_media_are_full_size_and_play(compiled, tmp_path):
    _, board, package, source = compiled
    with zipfile.ZipFile(package) as z:
        z.extractall(tmp_path)
        names = sorted(n for n in z.namelist() if n.startswith("media/"))
    assert names == ["media/music.wav", *(f"media/narration-00{n}.wav" for n in (1, 2, 4, 5)),
                     *(f"media/scene-00{n}.png" for n in range(1, 6))]
    for n in range(5):
        info = probe(tmp_path / f"media/scene-00{n + 1}.png")
        assert (info.video.width, info.video.height) == (640 + 2 * n, 360)  # the original, not the frame
    assert abs(probe(tmp_path / "media/narration-001.wav").duration - 2.4) < 0.01
    assert probe(tmp_path / "media/music.wav").audio.sample_rate == 24_000
    assert (tmp_path / "captions.srt").read_text() == (source / "video.srt").read_text()
    readme = (tmp_path / "README.txt").read_text()
    assert "Premiere" in readme and "Resolve" in readme and "Final Cut" in readme
    assert f"({board['frames']} frames)" in readme


def test_music_volume_and_dissolves_are_in_the_fcp7_xml(compiled):
    _, _, package, _ = compiled
    xml = zipfile.ZipFile(package).read("timeline.xml").decode()
    assert xml.count("<transitionitem") == 3 and "<effectid>Cross Dissolve</effectid>" in xml
    assert xml.count("<effectid>audiolevels</effectid>") >= 5  # every narration and music clip


def test_fcpxml_validates_against_apples_dtd(compiled):
    _, _, package, _ = compiled
    assert fcpxml_is_valid(zipfile.ZipFile(package).read("timeline.fcpxml").decode()) == []


def _golden_cut() -> Cut:
    shots = [Shot("Scene 1", Path("a.png"), Path("a.flac"), 0, 90, 0, 14, "crossfade", "One.", audio_onset=0.2,
                  audio_seconds=3.5),
             Shot("Scene 2", Path("b.jpg"), None, 76, 60, 14, 0, "cut", "Two."),
             Shot("Scene 3", Path("c.png"), Path("c.m4a"), 136, 75, 0, 0, "cut", "Three.", audio_seconds=3.1)]
    return Cut("Golden", 30, 1920, 1080, shots, [(0, "Intro"), (136, "End")], Path("song.flac"), 4.0, 3.5, -11.25)


@pytest.mark.parametrize("name", ["timeline.otio", "timeline.xml", "timeline.fcpxml", "timeline.edl"])
def test_timeline_structure_matches_the_golden_file(name):
    """If an adapter upgrade changes these on purpose, rewrite them with SCRIPTREEL_UPDATE_GOLDEN=1."""
    text = timeline_texts(build_timeline(_golden_cut()), 30)[name]
    if os.environ.get("SCRIPTREEL_UPDATE_GOLDEN"):
        (GOLDEN / name).write_text(text)
    assert text == (GOLDEN / name).read_text()
    if name == "timeline.fcpxml":
        assert fcpxml_is_valid(text) == []


def test_fcpxml_times_are_read_back_exactly():
    """A 123-frame clip is written as 41/10 s; read back it is 123 frames, with no gap after it (the
    adapter's own reader would truncate it to 122 and add a one-frame gap; timelines.py reads it exactly)."""
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    timeline = otio.schema.Timeline(name="t")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for n, frames in enumerate((100, 123, 119)):
        track.append(otio.schema.Clip(name=f"Scene {n + 1}", source_range=tr(rt(7, 30), rt(frames, 30)),
                                      media_reference=otio.schema.ExternalReference(
                                          target_url=f"media/scene-{n + 1:03d}.png", available_range=tr(rt(0, 30), rt(400, 30)))))
    text = otio.adapters.write_to_string(timeline, "fcpx_xml")
    assert 'duration="41/10s"' in text
    back = otio.adapters.read_from_string(text, "fcpx_xml").video_tracks()[0]
    assert visible_ranges(back) == [("Scene 1", 0, 100), ("Scene 2", 100, 223), ("Scene 3", 223, 342)]
