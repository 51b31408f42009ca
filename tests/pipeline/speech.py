"""What the speech tests measure in the audio itself: samples, word coverage, onsets after pauses, pitch."""
from __future__ import annotations

import io
import wave

import numpy as np

from app.pipeline.probe import probe
from app.pipeline.voice import SpeechResult
from app.pipeline.voice.base import word_spans


def audio_of(result: SpeechResult, tmp_path) -> tuple[np.ndarray, int, int]:
    """The WAV's samples (float, interleaved channels), sample rate and channel count, read from the file."""
    path = tmp_path / "speech.wav"
    path.write_bytes(result.wav)
    info = probe(path)
    assert info.audio.codec == "pcm_s16le"
    with wave.open(io.BytesIO(result.wav)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768
        return samples, wav.getframerate(), wav.getnchannels()


def mono(result: SpeechResult) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(result.wav)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768
        return samples.reshape(-1, wav.getnchannels()).mean(axis=1), wav.getframerate()


def assert_timings_cover(result: SpeechResult, text: str) -> None:
    words = result.words
    assert [w.word for w in words] == [w for w, _, _ in word_spans(text)]
    assert all(text[w.char_start:w.char_end] == w.word for w in words)
    assert all(0 <= w.start <= w.end <= result.duration + 0.01 for w in words)
    assert all(a.start <= b.start and a.end <= b.start + 1e-6 for a, b in zip(words, words[1:]))
    assert words[-1].end > words[0].start


def onsets_after_pauses(samples: np.ndarray, rate: int, min_pause: float = 0.15) -> list[float]:
    """Seconds where sound rises above -40 dBFS after at least ``min_pause`` below -50 dBFS (5 ms windows)."""
    window = rate // 200
    rms = np.sqrt(np.mean(samples[:len(samples) // window * window].reshape(-1, window) ** 2, axis=1))
    onsets, quiet_run = [], 0
    for i, level in enumerate(rms):
        if level < 0.00316:
            quiet_run += 1
        elif level > 0.01:
            if quiet_run * window / rate >= min_pause and i * window / rate > min_pause:
                onsets.append(i * window / rate)
            quiet_run = 0
    return onsets


def pitch_hz(samples: np.ndarray, rate: int) -> float:
    """The median fundamental frequency of the voiced 40 ms frames, by autocorrelation (60-400 Hz)."""
    frame = int(0.04 * rate)
    found = []
    for at in range(0, len(samples) - frame, frame):
        x = samples[at:at + frame] - samples[at:at + frame].mean()
        if np.sqrt(np.mean(x ** 2)) < 0.03:
            continue
        corr = np.correlate(x, x, "full")[frame - 1:]
        lo, hi = rate // 400, rate // 60
        lag = lo + int(np.argmax(corr[lo:hi]))
        if corr[lag] > 0.5 * corr[0]:
            found.append(rate / lag)
    return float(np.median(found))
