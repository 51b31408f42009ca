"""What a listener hears, measured on the MP4 with ffmpeg's own meters: loudness and true peak after AAC,
the pause between scenes, voices that never overlap, chapters that start with their first word."""
from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from app.pipeline.ffmpeg import ffmpeg_exe
from app.pipeline.video.compile import compile_video
from app.pipeline.video.presets import VideoPreset
from app.pipeline.video.timeline import CompileSettings, Scene, Transition

from .test_video_compile import decode_audio, still, tone

SMALL = VideoPreset("test", 320, 180, 30)


def ffmpeg_log(path: Path, audio_filter: str) -> str:
    """ffmpeg's own report of an audio filter run over the file (its info-level log)."""
    run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-af", audio_filter,
                          "-f", "null", "-"], capture_output=True, text=True, check=True)
    return run.stderr


def loudness(path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) from ebur128's summary."""
    summary = ffmpeg_log(path, "ebur128=peak=true").rsplit("Summary:", 1)[1]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return integrated, peak


def silences(path: Path, min_seconds: float = 0.15) -> list[tuple[float, float]]:
    """(start, end) of each stretch quieter than -50 dBFS, from silencedetect."""
    log = ffmpeg_log(path, f"silencedetect=noise=-50dB:d={min_seconds}")
    starts = [float(v) for v in re.findall(r"silence_start: (-?[\d.]+)", log)]
    ends = [float(v) for v in re.findall(r"silence_end: ([\d.]+)", log)]
    return list(zip(starts, ends))


def speech(path: Path, seconds: float, lead: float = 0.0, tail: float = 0.0, freq: float = 330.0,
           square: bool = False) -> Path:
    """A voice stand-in: `lead` s of silence, `seconds` of syllable-like bursts, `tail` s of silence."""
    rate = 24_000
    t = np.arange(int(seconds * rate)) / rate
    wave_ = np.sign(np.sin(2 * np.pi * freq * t)) if square else np.sin(2 * np.pi * freq * t)
    bursts = np.clip(np.sin(2 * np.pi * 3 * t + 1.2), 0.2, 1) ** 0.5  # never silent inside the speech
    body = 0.9 * wave_ * bursts if square else 0.3 * wave_ * bursts
    pcm = np.concatenate([np.zeros(int(lead * rate)), body, np.zeros(int(tail * rate))])
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((pcm * 32767).astype("<i2").tobytes())
    return path


def test_the_mp4s_true_peak_and_loudness(tmp_path):
    """Square-wave "speech" over music: inter-sample peaks and the AAC encoding both push past a sample
    limiter; measured on the MP4, the true peak stays at or under -1 dBTP and loudness at -14 LUFS."""
    music = tone(tmp_path / "music.wav", 8.0, 110, amplitude=0.9, rate=48_000, pulsed=False)
    scenes = [Scene(still(tmp_path / f"{n}.png", (60 * n, 90, 90)), 3.0,
                    speech(tmp_path / f"{n}.wav", 2.5, freq=200 + 150 * n, square=True),
                    transition=Transition("crossfade", 0.5)) for n in range(3)]
    result = compile_video(scenes, CompileSettings(preset=SMALL, music=music), tmp_path / "loud.mp4",
                           tmp_path / "cache")
    integrated, peak = loudness(result.video)
    assert peak <= -1.0
    assert abs(integrated - -14.0) <= 1.0


def paced_project(tmp_path: Path) -> list[Scene]:
    """Four paced scenes whose recordings start and end with different silences; the third opens a chapter."""
    recordings = [(1.4, 0.0, 0.0), (2.1, 0.35, 0.6), (1.2, 0.1, 0.0), (1.7, 0.5, 0.25)]
    return [Scene(still(tmp_path / f"{n}.png", (50 * n, 80, 120)), 9.0,
                  speech(tmp_path / f"{n}.wav", seconds, lead, tail, freq=300 + 120 * n),
                  transition=Transition("crossfade", 0.5), topic={0: "Start", 2: "Middle"}.get(n), paced=True)
            for n, (seconds, lead, tail) in enumerate(recordings)]


@pytest.fixture(scope="module")
def paced(tmp_path_factory):
    d = tmp_path_factory.mktemp("paced")
    scenes = paced_project(d)
    result = compile_video(scenes, CompileSettings(preset=SMALL), d / "paced.mp4", d / "cache")
    return scenes, result


def test_scenes_end_the_configured_pause_after_their_narration(paced):
    _, result = paced
    gaps = [(start, end) for start, end in silences(result.video) if end < result.duration - 0.05]
    assert len(gaps) == 3, gaps
    ordinary = [end - start for n, (start, end) in enumerate(gaps) if n != 1]
    assert all(abs(gap - 0.6) <= 0.1 for gap in ordinary), gaps
    before_chapter = gaps[1][1] - gaps[1][0]
    assert 1.2 - 0.1 <= before_chapter < 1.2 + 1.0 + 0.1, "longer before a chapter, by under a second"


def test_a_chapter_starts_on_a_whole_second_with_its_first_word(paced):
    _, result = paced
    first_word = silences(result.video)[1][1]  # where the voice comes back after the pause before "Middle"
    assert abs(first_word - round(first_word)) <= 0.05


def srt_starts(srt: str) -> list[float]:
    return [int(h) * 3600 + int(m) * 60 + float(s.replace(",", "."))
            for h, m, s in re.findall(r"(\d\d):(\d\d):(\d\d,\d\d\d) -->", srt)]


def test_youtube_chapter_times_are_at_their_first_word(tmp_path):
    """Three chapters of two scenes: each chapter line's time is where its first word is heard (not in the
    sentence before it), and at or after its first caption's start."""
    scenes = [Scene(still(tmp_path / f"{n}.png", (40 * n, 90, 90)), 9.0,
                    speech(tmp_path / f"{n}.wav", 5.3 + 0.35 * n, 0.2 * (n % 2), 0.3, freq=250 + 60 * n),
                    text=f"Scene {n} says a few words, then some more.", transition=Transition("crossfade", 0.5),
                    topic=f"Part {n // 2}" if n % 2 == 0 else None, paced=True) for n in range(6)]
    result = compile_video(scenes, CompileSettings(preset=SMALL), tmp_path / "chapters.mp4", tmp_path / "cache")
    assert result.chapters is not None, result.chapters_problem
    stamps = []
    for line in result.chapters.read_text().splitlines():
        minutes, seconds = line.split(" ", 1)[0].split(":")
        stamps.append(int(minutes) * 60 + int(seconds))
    onsets = [end for _, end in silences(result.video)]
    cues = srt_starts(result.srt.read_text())
    assert len(stamps) == 3 and stamps[0] == 0
    for stamp in stamps[1:]:
        heard = min(onsets, key=lambda t: abs(t - stamp))
        assert abs(heard - stamp) <= 0.1, (stamp, onsets)
        assert stamp >= min(cues, key=lambda t: abs(t - stamp)) - 0.001


def band(samples: np.ndarray, freq: float, window: int = 960) -> np.ndarray:
    """Level (dB) of one frequency in each 20 ms window."""
    n = len(samples) // window
    frames = samples[:n * window].reshape(n, window) * np.hanning(window)
    spectrum = np.abs(np.fft.rfft(frames, axis=1))
    bins = np.fft.rfftfreq(window, 1 / 48_000)
    return 20 * np.log10(spectrum[:, np.abs(bins - freq) < 40].max(axis=1) + 1e-9)


@pytest.mark.parametrize("paced_scenes", [True, False])
def test_two_voices_never_overlap(tmp_path, paced_scenes):
    """Recordings that end right after their last word, scenes shorter than their narration, crossfades
    longer than the pause: still, the next voice never starts before the last one has stopped."""
    freqs = (440.0, 700.0, 440.0)
    scenes = [Scene(still(tmp_path / f"{n}.png", (70 * n, 60, 60)), 1.2,
                    speech(tmp_path / f"{n}.wav", 1.6, freq=f), transition=Transition("crossfade", 0.8),
                    paced=paced_scenes)
              for n, f in enumerate(freqs)]
    result = compile_video(scenes, CompileSettings(preset=SMALL, pause_seconds=0.3), tmp_path / "o.mp4",
                           tmp_path / "cache")
    samples = decode_audio(result.video)
    low, high = band(samples, 440.0), band(samples, 700.0)
    loud = max(low.max(), high.max()) - 25
    both = np.flatnonzero((low > loud) & (high > loud))
    assert len(both) == 0, f"both voices at once around {both[:5] * 0.02} s"
    assert (low > loud).any() and (high > loud).any()
