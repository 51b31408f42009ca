"""The compiled MP4 as a user gets it: streams, timing, loudness, layout, sidecars, cache, cancel, preview."""
from __future__ import annotations

import struct
import wave
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from app.pipeline import ffmpeg
from app.pipeline.probe import probe
from app.pipeline.video.compile import check_scenes, compile_video, render_scene_preview
from app.pipeline.video.presets import PRESETS, VideoPreset
from app.pipeline.video.timeline import CompileSettings, Scene, Transition

SMALL = VideoPreset("test", 320, 180, 30)


def still(path: Path, colour: tuple[int, int, int], size=(320, 180)) -> Path:
    """A still with a colour and a pattern, so frames of different scenes differ."""
    rng = np.random.default_rng(sum(colour))
    pixels = np.clip(np.array(colour) + rng.normal(0, 12, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    pixels[size[1] // 3: size[1] // 2, size[0] // 4: size[0] // 2] = 255 - np.array(colour)
    Image.fromarray(pixels).save(path)
    return path


def tone(path: Path, seconds: float, freq: float, amplitude: float = 0.3, rate: int = 24_000,
         pulsed: bool = True) -> Path:
    """Mono speech stand-in: a tone, in bursts unless pulsed is False."""
    t = np.arange(int(seconds * rate)) / rate
    bursts = (np.sin(2 * np.pi * 1.25 * t) > -0.3).astype(float) if pulsed else 1.0
    samples = (amplitude * np.sin(2 * np.pi * freq * t) * bursts * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as c:
        return [p for p in c.demux(c.streams.video[0]) if p.size]


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(int) for f in c.decode(video=0)]


def top_level_boxes(path: Path) -> list[str]:
    boxes, data = [], path.read_bytes()
    at = 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8:at + 16])[0]
        boxes.append(kind.decode("latin-1"))
        at += size
    return boxes


def decode_audio(path: Path) -> np.ndarray:
    """Mono float samples of the file's audio at 48 kHz."""
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=48_000)
        chunks = [f.to_ndarray().ravel() for frame in c.decode(audio=0) for f in resampler.resample(frame)]
    return np.concatenate(chunks)


def integrated_lufs(path: Path, tmp_path: Path) -> float:
    log = tmp_path / "r128.txt"
    ffmpeg.run(["-i", str(path), "-af", f"ebur128=metadata=1,ametadata=mode=print:key=lavfi.r128.I:file={log}",
                "-f", "null", "-"])
    return float(log.read_text().strip().splitlines()[-1].split("=")[1])


def band_level(samples: np.ndarray, freq: float, start: float, end: float) -> float:
    """dB level of one frequency in a stretch of audio."""
    part = samples[int(start * 48_000):int(end * 48_000)]
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    bins = np.fft.rfftfreq(len(part), 1 / 48_000)
    near = (bins > freq - 15) & (bins < freq + 15)
    return 20 * np.log10(spectrum[near].max() + 1e-9)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Three scenes (crossfade, fade through black, then a cut) with narration; one has word timings."""
    d = tmp_path_factory.mktemp("project")
    scenes = [
        Scene(still(d / "a.png", (200, 40, 40)), 2.0, tone(d / "a.wav", 1.6, 330), text="First scene speaks.",
              transition=Transition("crossfade", 0.5), topic="Intro"),
        Scene(still(d / "b.png", (40, 200, 40)), 2.0, tone(d / "b.wav", 1.5, 440), text="Hello brave new world",
              words=[("Hello", 0.2, 0.5), ("brave", 0.6, 0.9), ("new", 1.0, 1.2), ("world", 1.25, 1.5)],
              transition=Transition("fadeblack", 0.4)),
        Scene(still(d / "c.png", (40, 40, 200)), 1.5, None, text="A silent ending.", topic="End"),
    ]
    out = d / "out" / "video.mp4"
    updates = []
    result = compile_video(scenes, CompileSettings(preset=SMALL), out, d / "cache",
                           on_progress=lambda f, stage: updates.append((f, stage)))
    return scenes, result, updates


def test_streams_are_what_youtube_wants(project):
    _, result, _ = project
    info = probe(result.video)
    assert info.video.codec == "h264" and info.video.profile == "High"
    assert info.video.pix_fmt == "yuv420p"
    assert (info.video.color_primaries, info.video.color_transfer, info.video.color_space) == ("bt709",) * 3
    assert (info.video.width, info.video.height, info.video.frame_rate) == (320, 180, 30)
    assert info.audio.codec == "aac" and info.audio.profile == "LC"
    assert (info.audio.sample_rate, info.audio.channels) == (48_000, 2)


def test_samples_hold_only_pictures_and_their_parameter_sets(project):
    """Every MP4 sample is length-prefixed NAL units of slices (and SPS/PPS/SEI at keyframes); no access unit
    delimiters, which the join leaves out, and nothing else."""
    _, result, _ = project
    types = set()
    with av.open(str(result.video)) as container:
        for packet in container.demux(video=0):
            data, at = bytes(packet), 0
            while at < len(data):
                size = struct.unpack(">I", data[at:at + 4])[0]
                types.add(data[at + 4] & 0x1F)
                at += 4 + size
    assert types <= {1, 5, 6, 7, 8} and {1, 5} <= types, types  # slices, SEI (x264 says who made it), SPS, PPS


def test_duration_and_constant_frame_rate(project):
    _, result, _ = project
    expected = 2.0 + 2.0 + 1.5 - 0.5 - 0.4  # transitions overlap neighbouring scenes
    video = packets(result.video)
    assert len(video) == round(expected * 30) == result.frames
    assert len({p.duration for p in video}) == 1, "every frame lasts the same"
    steps = {b.pts - a.pts for a, b in zip(video, video[1:])}
    assert steps == {video[0].duration}
    assert abs(probe(result.video).duration - expected) <= 1 / 30
    assert len(frames(result.video)) == len(video), "every frame decodes"


def test_loudness_is_normalised(project, tmp_path):
    _, result, _ = project
    assert abs(integrated_lufs(result.video, tmp_path) - -14.0) <= 1.5


def test_moov_comes_before_mdat(project):
    boxes = top_level_boxes(project[1].video)
    assert boxes.index("moov") < boxes.index("mdat")


def test_sound_and_pictures_are_interleaved_for_progressive_playback(tmp_path):
    """A player streaming the file finds each second's sound near its pictures: no run of one track in the
    file covers more than two seconds (the muxer's own reordering gives up after ten)."""
    scenes = [Scene(still(tmp_path / f"{n}.png", (60 * n, 90, 90)), 12.0, tone(tmp_path / f"{n}.wav", 11, 300))
              for n in range(2)]
    result = compile_video(scenes, CompileSettings(preset=SMALL), tmp_path / "long.mp4", tmp_path / "cache")
    with av.open(str(result.video)) as c:
        stored = sorted((p.pos, p.stream.type, float(p.duration * p.time_base)) for p in c.demux() if p.size)
    runs, kind, covered = [], None, 0.0
    for _, stream, seconds in stored:
        if stream != kind:
            runs.append((kind, covered))
            kind, covered = stream, 0.0
        covered += seconds
    runs.append((kind, covered))
    assert {k for k, _ in runs} >= {"audio", "video"}
    assert max(seconds for _, seconds in runs) <= 2.0, runs


def test_narration_starts_with_its_scene(project):
    _, result, _ = project
    samples = decode_audio(result.video)
    second_scene_start = 2.0 - 0.5
    assert band_level(samples, 440, 0.2, second_scene_start - 0.05) < band_level(
        samples, 440, second_scene_start + 0.05, second_scene_start + 0.35) - 30


def test_transitions_blend_and_cuts_dont(project):
    _, result, _ = project
    decoded = frames(result.video)
    a, b = decoded[10], decoded[70]  # inside scene 1's and scene 2's holds
    middle = decoded[45 + 7]  # halfway through the 15-frame crossfade starting at frame 45
    assert np.abs(middle - a).mean() > 20 and np.abs(middle - b).mean() > 20
    assert np.abs(middle - (a + b) / 2).mean() < 15
    black = decoded[93 + 6]  # middle of the 12-frame fade through black that starts scene 3
    assert black.mean() < 40
    assert np.abs(decoded[11] - decoded[10]).max() <= 2, "a held still doesn't flicker"


def test_captions_follow_word_timings(project):
    _, result, _ = project
    srt = result.srt.read_text()
    vtt = result.vtt.read_text()
    scene_two = 1.5  # starts where the crossfade begins
    assert f"00:00:0{scene_two + 0.2:.3f}".replace(".", ",") + " --> " in srt
    assert "Hello brave new world" in srt
    assert vtt.startswith("WEBVTT\n\n") and f"00:00:0{scene_two + 0.2:.3f} --> " in vtt
    assert "First scene speaks." in srt and "A silent ending." in srt


def test_short_chapters_are_refused_with_a_reason(project):
    _, result, _ = project
    assert result.chapters is None
    assert "at least 3 chapters" in result.chapters_problem


def test_thumbnail(project):
    _, result, _ = project
    assert result.thumbnail.stat().st_size < 2 * 1024 * 1024
    with Image.open(result.thumbnail) as im:
        assert (im.format, im.size) == ("JPEG", (1280, 720))


def test_progress_is_monotonic_and_reaches_one(project):
    _, _, updates = project
    values = [f for f, _ in updates]
    assert values == sorted(values)
    assert values[-1] == 1.0 and all(v < 1.0 for v in values[:-1])
    stages = {stage for _, stage in updates}
    assert "Rendering scene 1 of 3" in stages and "Joining scenes" in stages


def test_output_folder_holds_only_the_results(project):
    _, result, _ = project
    names = sorted(p.name for p in result.video.parent.iterdir())
    assert names == ["video.jpg", "video.mp4", "video.srt", "video.vtt"]


def test_changing_one_scene_rerenders_only_its_pieces(project, tmp_path):
    scenes, first, _ = project
    cache = first.video.parent.parent / "cache"
    edited = list(scenes)
    edited[2] = replace(scenes[2], image=still(tmp_path / "c2.png", (220, 220, 40)))
    again = compile_video(edited, CompileSettings(preset=SMALL), tmp_path / "again.mp4", cache)
    # A scene's piece holds its still and ends in its transition: scene 3's piece and scene 2's (which
    # fades into scene 3) changed; scene 1's did not.
    assert len(again.rendered_pieces) == 2
    assert set(again.reused_pieces) <= set(first.rendered_pieces) and len(again.reused_pieces) == 1
    assert frames(again.video)[-1][90, 20, 2] < 120, "the new image is in the video"
    unchanged = compile_video(edited, CompileSettings(preset=SMALL), tmp_path / "same.mp4", cache)
    assert unchanged.rendered_pieces == []


@pytest.mark.parametrize("stage", ["Rendering scene", "Mixing audio", "Joining scenes"])
def test_cancel_leaves_no_partial_files(tmp_path, stage):
    scenes = [Scene(still(tmp_path / f"{n}.png", (50 * n, 90, 90)), 1.0, tone(tmp_path / f"{n}.wav", 0.8, 300),
                    motion="strong", transition=Transition("wipe", 0.3)) for n in range(4)]
    out_dir, cache = tmp_path / "out", tmp_path / "cache"
    if stage == "Mixing audio":  # the soundtrack has the stage to itself once the pieces are cached
        compile_video(scenes, CompileSettings(preset=SMALL), tmp_path / "first.mp4", cache)
    stages = []
    with pytest.raises(ffmpeg.Cancelled):
        compile_video(scenes, CompileSettings(preset=SMALL, loudness_lufs=-16), out_dir / "v.mp4", cache,
                      on_progress=lambda f, s: stages.append(s),
                      should_cancel=lambda: any(s.startswith(stage) for s in stages))
    assert not out_dir.exists() or not any(out_dir.iterdir())
    assert all(not p.name.startswith(".") for p in cache.iterdir())
    if stage == "Mixing audio":
        assert len(list(cache.glob("soundtrack-*"))) == 1, "the cancelled soundtrack was not cached"


def test_failure_leaves_no_partial_files(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    scenes = [Scene(still(tmp_path / "ok.png", (10, 10, 10)), 1.0), Scene(broken, 1.0)]
    with pytest.raises(ValueError, match="Scene 2's image cannot be read"):
        compile_video(scenes, CompileSettings(preset=SMALL), tmp_path / "out" / "v.mp4", tmp_path / "cache")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_piece_failing_while_the_join_runs_stops_everything_and_says_why(tmp_path):
    scenes = [Scene(still(tmp_path / f"{n}.png", (60 * n, 90, 90)), 1.0, transition=Transition("crossfade", 0.3))
              for n in range(4)]
    last = Path(scenes[-1].image)

    def spoil_the_last_image(fraction, stage):  # it vanishes after planning, before its pieces render
        if stage.startswith("Rendering scene 1"):
            last.write_bytes(b"gone")
    with pytest.raises(OSError, match="cannot identify image"):  # the real error, not "cancelled"
        compile_video(scenes, CompileSettings(preset=SMALL), tmp_path / "out" / "v.mp4", tmp_path / "cache",
                      on_progress=spoil_the_last_image)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert all(not p.name.startswith(".") for p in (tmp_path / "cache").iterdir())


def test_long_held_still_has_regular_keyframes_and_never_changes(tmp_path):
    scene = Scene(still(tmp_path / "a.png", (90, 140, 200)), 5.0)
    result = compile_video([scene], CompileSettings(preset=SMALL), tmp_path / "long.mp4", tmp_path / "cache")
    video = packets(result.video)
    assert len(video) == 150
    assert [n for n, p in enumerate(video) if p.is_keyframe] == [0, 60, 120], "a keyframe every 2 s for seeking"
    decoded = frames(result.video)
    settled = decoded[20]
    # Keyframes start a little softer than the refined picture, too little to see (PSNR > 40 dB).
    assert all(((f - settled) ** 2).mean() < 255 ** 2 / 10 ** 4 for f in decoded), "the held picture stays put"
    assert all(np.array_equal(decoded[n], settled) for n in (30, 59, 80, 119, 149))


@pytest.mark.parametrize("kind", ["cut", "crossfade", "fadeblack", "slide", "wipe"])
def test_every_transition_renders(tmp_path, kind):
    scenes = [Scene(still(tmp_path / "a.png", (220, 30, 30)), 1.0, transition=Transition(kind, 0.4)),
              Scene(still(tmp_path / "b.png", (30, 30, 220)), 1.0)]
    result = compile_video(scenes, CompileSettings(preset=SMALL), tmp_path / "t.mp4", tmp_path / "cache")
    decoded = frames(result.video)
    overlap = 0 if kind == "cut" else 12
    assert len(decoded) == 60 - overlap
    mid = decoded[30 - overlap + overlap // 2]
    if kind == "cut":
        assert np.abs(decoded[29] - decoded[30]).mean() > 50
    else:
        assert np.abs(mid - decoded[0]).mean() > 10 and np.abs(mid - decoded[-1]).mean() > 10


def test_stills_of_another_shape_are_fitted_not_stretched(tmp_path):
    square = np.zeros((300, 300, 3), np.uint8)
    square[:, :] = (200, 40, 40)
    square[:, :30] = (40, 200, 40)  # a green band down the left edge
    Image.fromarray(square).save(tmp_path / "square.png")
    scenes = [Scene(tmp_path / "square.png", 1.0, transition=Transition("crossfade", 0.4)),
              Scene(still(tmp_path / "tall.png", (60, 60, 200), size=(200, 400)), 1.0)]
    result = compile_video(scenes, CompileSettings(preset=SMALL), tmp_path / "f.mp4", tmp_path / "cache")
    first = frames(result.video)[0]
    # Fitted: the 180x180 square starts at x=70, so its band covers x 70..88; stretched, it would end at x 32.
    assert first[90, 79][1] > 150 and first[90, 79][0] < 100
    assert first[90, 120][0] > 150


@pytest.mark.parametrize("motion", ["off", "subtle", "strong"])
def test_motion_levels(tmp_path, motion):
    scene = Scene(still(tmp_path / "a.png", (120, 160, 40), size=(400, 300)), 1.5, motion=motion)
    result = compile_video([scene], CompileSettings(preset=SMALL), tmp_path / "m.mp4", tmp_path / "cache")
    decoded = frames(result.video)
    assert len(decoded) == 45
    change = np.abs(decoded[0] - decoded[-1]).mean()
    if motion == "off":
        assert change < 1
    else:
        assert change > 2
        steps = [np.abs(a - b).mean() for a, b in zip(decoded, decoded[1:])]
        assert min(steps) > 0, "every frame moves: no judder from whole-pixel steps"


def test_music_is_ducked_under_the_voice(tmp_path):
    music = tone(tmp_path / "music.wav", 2.0, 180, amplitude=0.5, rate=48_000, pulsed=False)
    voice = tone(tmp_path / "v.wav", 2.0, 1000, pulsed=False)
    scenes = [Scene(still(tmp_path / "a.png", (90, 90, 90)), 2.0, voice),
              Scene(still(tmp_path / "b.png", (10, 90, 90)), 2.0, None)]
    result = compile_video(scenes, CompileSettings(preset=SMALL, music=music), tmp_path / "m.mp4",
                           tmp_path / "cache")
    samples = decode_audio(result.video)
    under_voice = band_level(samples, 180, 0.4, 1.9)
    alone = band_level(samples, 180, 2.4, 3.5)  # before the final fade-out
    assert alone - under_voice > 6
    assert alone > band_level(samples, 1000, 2.4, 3.5) + 20, "the music plays on when the voice stops"


def test_burned_captions_show_while_spoken(tmp_path):
    scene = Scene(still(tmp_path / "a.png", (30, 30, 30)), 2.0, text="مرحبا بالعالم and hello",
                  words=[("مرحبا", 0.0, 0.4), ("بالعالم", 0.4, 0.8), ("and", 0.8, 0.9), ("hello", 0.9, 1.0)])
    result = compile_video([scene], CompileSettings(preset=SMALL, burn_captions=True), tmp_path / "c.mp4",
                           tmp_path / "cache")
    decoded = frames(result.video)
    band = slice(120, 170)  # the lower part of the frame, where captions sit
    ink = [(decoded[n][band].mean(axis=2) > 180).sum() for n in (10, 55)]
    assert ink[0] > 40 and ink[1] == 0, "white letters while spoken, none after"
    assert np.abs(decoded[55] - decoded[59]).max() <= 2


def caption_ink(tmp_path: Path, text: str) -> np.ndarray:
    """How many bright caption pixels each column of a 640x360 frame holds, the caption burned in."""
    image = tmp_path / "dark.png"
    if not image.exists():
        still(image, (30, 30, 30), size=(640, 360))
    result = compile_video([Scene(image, 0.5, text=text)],
                           CompileSettings(preset=VideoPreset("t", 640, 360, 30), burn_captions=True),
                           tmp_path / f"{len(list(tmp_path.glob('*.mp4')))}.mp4", tmp_path / "cache")
    return (frames(result.video)[5][200:].mean(axis=2) > 200).sum(axis=0)


def extent(ink: np.ndarray) -> tuple[int, int]:
    columns = np.flatnonzero(ink)
    return columns.min(), columns.max()


def test_burned_arabic_letters_join(tmp_path):
    joined = extent(caption_ink(tmp_path, "ببببب"))
    apart = extent(caption_ink(tmp_path, "\u200c".join("ببببب")))  # zero-width non-joiners: isolated forms
    assert joined[1] - joined[0] < 0.7 * (apart[1] - apart[0])


@pytest.mark.parametrize("first_word, reads_right_to_left", [("שלום", True), ("مرحبا", True), ("hello", False)])
def test_burned_captions_take_their_direction_from_their_first_letters(tmp_path, first_word, reads_right_to_left):
    ink = caption_ink(tmp_path, f"{first_word} XXXXXXXXXX")
    left, right = extent(ink)
    xs_centre = (ink * np.arange(len(ink))).sum() / ink.sum()  # the ten wide Xs outweigh the word
    assert (xs_centre < (left + right) / 2) == reads_right_to_left


def test_full_hd_output(tmp_path):
    scenes = [Scene(still(tmp_path / f"{n}.png", (60 * n, 100, 150), size=(1920, 1080)), 0.6,
                    transition=Transition("crossfade", 0.2)) for n in range(2)]
    result = compile_video(scenes, CompileSettings(preset=PRESETS["1080p30"]), tmp_path / "hd.mp4",
                           tmp_path / "cache")
    info = probe(result.video)
    assert (info.video.width, info.video.height, info.video.profile, info.video.pix_fmt) == (1920, 1080, "High",
                                                                                              "yuv420p")
    assert info.video.color_primaries == "bt709"
    assert len(packets(result.video)) == 36 - 6


def test_vertical_preset(tmp_path):
    preset = VideoPreset("vertical-small", 180, 320, 30)
    scene = Scene(still(tmp_path / "wide.png", (150, 90, 30), size=(320, 180)), 0.5)
    result = compile_video([scene], CompileSettings(preset=preset), tmp_path / "v.mp4", tmp_path / "cache")
    assert (probe(result.video).video.width, probe(result.video).video.height) == (180, 320)


def test_preview_is_one_scene_through_the_same_pipeline(project, tmp_path):
    scenes, _, _ = project
    result = render_scene_preview(scenes[1], CompileSettings(preset=SMALL), tmp_path / "p.mp4", tmp_path / "cache")
    info = probe(result.video)
    assert info.video.profile == "High" and info.audio.sample_rate == 48_000
    assert len(packets(result.video)) == 60
    assert "Hello brave new world" in result.srt.read_text()


def test_problems_are_listed_before_compiling(tmp_path):
    image = still(tmp_path / "a.png", (10, 10, 10))
    scenes = [Scene(image, 2.0, tone(tmp_path / "ok.wav", 1.5, 300)),
              Scene(tmp_path / "missing.png", 2.0, tone(tmp_path / "long.wav", 3.0, 300)),
              Scene(image, 2.0, None)]
    assert check_scenes(scenes) == [
        "Scene 2 has no image.",
        "Scene 2's narration (3.0 s) is longer than the scene (2.0 s); it will be cut.",
        "Scene 3 has no narration; it will be silent.",
    ]
