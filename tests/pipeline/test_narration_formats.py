"""The compile reads narration stored compressed (FLAC, AAC in M4A) with correct lengths and timing."""
from __future__ import annotations

import subprocess
import time
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from app.pipeline.ffmpeg import ffmpeg_exe
from app.pipeline.uploads import prepare_audio_upload
from app.pipeline.video.audio import audio_duration
from app.pipeline.video.compile import check_scenes, compile_video
from app.pipeline.video.timeline import CompileSettings, Scene
from app.pipeline.voice import voice_provider
from app.pipeline.voice.base import to_flac
from tests.pipeline.test_video_compile import SMALL, still

LEAD, TONE = 0.2, 0.6  # each clip: silence, then a tone, then silence to 1.0 s


def tone_wav(path: Path, freq: float, rate: int = 44_100) -> Path:
    t = np.arange(rate) / rate
    samples = 0.3 * np.sin(2 * np.pi * freq * t) * ((t >= LEAD) & (t < LEAD + TONE))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def mono_48k(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=48_000)
        chunks = [out.to_ndarray().reshape(-1, 2) for frame in container.decode(audio=0)
                  for out in resampler.resample(frame)]
    return np.concatenate(chunks).mean(axis=1)


def onset_after(samples: np.ndarray, seconds: float) -> float:
    """First 1 ms window at or after ``seconds`` louder than -40 dBFS."""
    start = int(seconds * 48_000)
    part = samples[start: start + 48_000]
    level = np.sqrt(np.mean(part[: len(part) // 48 * 48].reshape(-1, 48) ** 2, axis=1))
    return seconds + np.flatnonzero(level > 0.01)[0] / 1000


@pytest.fixture(scope="module")
def narration(tmp_path_factory):
    """Three scenes' voiceovers as the app now stores them: FLAC, AAC in M4A, and eSpeak's FLAC."""
    d = tmp_path_factory.mktemp("narration")
    flac = prepare_audio_upload(tone_wav(d / "a.wav", 440), d / "a.flac")
    mp3 = d / "b.mp3"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(tone_wav(d / "b.wav", 660)),
                    "-c:a", "libmp3lame", str(mp3)], check=True)
    m4a = prepare_audio_upload(mp3, d / "b.m4a")
    speech = voice_provider("espeak").synthesize("Narration from the speech engine.", "gmw/en-US")
    data, duration = to_flac(speech.wav)
    (d / "c.flac").write_bytes(data)
    return d, flac, m4a, (d / "c.flac", duration, speech)


def test_stored_narration_lengths_are_read_exactly_and_quickly(narration):
    d, flac, m4a, (speech_path, speech_duration, _) = narration
    assert (flac.extension, m4a.extension) == ("flac", "m4a")
    assert audio_duration(flac.path) == flac.duration == pytest.approx(1.0, abs=1e-3)
    assert audio_duration(m4a.path) == pytest.approx(1.0, abs=0.03)
    assert audio_duration(speech_path) == speech_duration
    started = time.perf_counter()
    for _ in range(20):
        audio_duration(flac.path), audio_duration(m4a.path)
    assert time.perf_counter() - started < 1.0  # the compile asks once per scene


def test_compile_places_compressed_narration_on_time(narration, tmp_path):
    d, flac, m4a, (speech_path, _, speech) = narration
    scenes = [Scene(still(d / "a.png", (200, 40, 40)), 2.0, flac.path, text="A tone."),
              Scene(still(d / "b.png", (40, 200, 40)), 2.0, m4a.path, text="Another tone."),
              Scene(still(d / "c.png", (40, 40, 200)), 2.5, speech_path, text="Narration from the speech engine.")]
    assert check_scenes(scenes) == []
    result = compile_video(scenes, CompileSettings(preset=SMALL), tmp_path / "video.mp4", tmp_path / "cache")
    audio = mono_48k(result.video)
    # Each voice starts at its scene's first frame, its own leading silence skipped (see pacing.py).
    assert onset_after(audio, 0.0) == pytest.approx(0.0, abs=0.015)
    assert onset_after(audio, 2.0) == pytest.approx(2.0, abs=0.015)  # AAC priming skipped, not played
    assert onset_after(audio, 4.0) == pytest.approx(4.0, abs=0.015)
    assert np.sqrt(np.mean(audio[int(2.25 * 48_000):int(2.75 * 48_000)] ** 2)) > 0.05  # the M4A tone is there
