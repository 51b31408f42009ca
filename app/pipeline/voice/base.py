"""Voice provider interface: voices, speech results with word timings, and the project audio formats."""
from __future__ import annotations

import io
import os
import re
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, NamedTuple, Protocol

import av
import numpy as np

from app.pipeline import ffmpeg
from app.pipeline.images.base import (
    InvalidRequest,  # provider errors are shared by every kind
)

ProgressCallback = Callable[[float, str], None]
CancelCheck = Callable[[], bool]
PROJECT_SAMPLE_RATE = 48_000
PROJECT_CHANNELS = 2
MIN_PAUSE = 0.1  # seconds of quiet that count as a pause a word can start after
SNAP = 0.15  # a word timed this close to where speech resumes after a pause starts there


@dataclass(frozen=True)
class Voice:
    """One choosable voice; ``id`` is what ``synthesize`` takes."""

    id: str
    name: str
    language: str
    gender: str | None = None
    quality: str | None = None  # Piper's x_low/low/medium/high: the model's size and sample rate


class WordTiming(NamedTuple):
    """When one word of the input text is spoken, and where it sits in that text."""

    word: str
    start: float  # seconds
    end: float
    char_start: int  # text[char_start:char_end] == word
    char_end: int


@dataclass(frozen=True)
class SpeechResult:
    """Narration as a 48 kHz stereo 16-bit WAV, with per-word timings."""

    wav: bytes
    duration: float
    words: list[WordTiming]
    voice: str
    provider: str
    # From the synthesiser itself, by aligning the text to the audio, or spread by character count.
    timing_source: Literal["engine", "aligned", "estimated"]


class VoiceProvider(Protocol):
    name: str

    def voices(self) -> list[Voice]:
        """The voices this provider offers."""

    def synthesize(self, text: str, voice: str, rate: int | None = None, *, pitch: float = 0,
                   on_progress: ProgressCallback | None = None,
                   should_cancel: CancelCheck | None = None) -> SpeechResult:
        """Speak ``text``; ``rate`` is words per minute (None: the voice's natural pace), ``pitch`` in semitones.

        Raises ``app.pipeline.ffmpeg.Cancelled`` when ``should_cancel()`` turns true.
        """


def require_text(text: str, vendor: str) -> str:
    """``text`` stripped, or InvalidRequest when there is nothing to say."""
    text = text.strip()
    if not any(ch.isalnum() for ch in text):
        raise InvalidRequest("This scene has no words to speak. Add narration text first.", provider=vendor)
    return text


# ---- words and timings --------------------------------------------------------------------

# A word: a CJK character on its own (those scripts have no spaces), else a run of non-space text.
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """The words of ``text`` that carry speech (letters or digits), with their character spans."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text) if any(c.isalnum() for c in m.group())]


def timings_from_starts(spans: list[tuple[str, int, int]], starts: list[float | None],
                        speech_start: float, speech_end: float,
                        pauses: np.ndarray | None = None) -> list[WordTiming]:
    """Word timings from known start times; unknown starts are interpolated by character position.

    The first word after each of the ``pauses`` (from ``pauses_in``) starts where speech resumes: a pause is
    measured exactly, while engine durations and alignments are estimates (a plosive's silent closure,
    a vowel voiced early). Each word ends where the next one starts, the last
    where speech ends, so timings are contiguous, monotonic and cover every word.
    """
    if not spans:
        return []
    known = [(spans[i][1], s) for i, s in enumerate(starts) if s is not None]
    anchors_x = [spans[0][1]] + [x for x, _ in known] + [spans[-1][2]]
    anchors_t = [speech_start] + [t for _, t in known] + [speech_end]
    filled = np.interp([s[1] for s in spans], anchors_x, np.maximum.accumulate(anchors_t))
    filled = _snapped(filled, pauses if pauses is not None else np.zeros((0, 2)))
    filled = np.maximum.accumulate(np.clip(filled, speech_start, speech_end))
    ends = list(filled[1:]) + [max(speech_end, float(filled[-1]))]
    return [WordTiming(w, round(float(s), 3), round(float(e), 3), cs, ce)
            for (w, cs, ce), s, e in zip(spans, filled, ends)]


def _snapped(starts: np.ndarray, pauses: np.ndarray) -> np.ndarray:
    """``starts`` with the first word after each pause moved to where speech resumes, if it was timed inside
    the pause or within SNAP of its end (the word before a pause started well before it)."""
    starts = starts.copy()
    for quiet_from, resumed in pauses:
        after = np.flatnonzero(starts > quiet_from - 0.05)
        if after.size and starts[after[0]] <= resumed + SNAP:
            starts[after[0]] = resumed
    return starts


def estimate_timings(text: str, speech_start: float, speech_end: float) -> list[WordTiming]:
    """Timings spread over the voiced span in proportion to each word's length (plus a gap)."""
    spans = word_spans(text)
    weights = np.array([len(w) + 1 for w, _, _ in spans], dtype=float)
    offsets = np.concatenate([[0.0], np.cumsum(weights)[:-1]]) / max(weights.sum(), 1.0)
    starts = list(speech_start + offsets * (speech_end - speech_start))
    return timings_from_starts(spans, starts, speech_start, speech_end)


# ---- audio ------------------------------------------------------------------------------

def voiced_span(samples: np.ndarray, rate: int) -> tuple[float, float]:
    """Seconds from the first to the last 10 ms window louder than -40 dBFS (whole clip if silent)."""
    window = max(1, rate // 100)
    usable = len(samples) // window * window
    if usable == 0:
        return 0.0, len(samples) / rate if rate else 0.0
    rms = np.sqrt(np.mean(samples[:usable].reshape(-1, window) ** 2, axis=1))
    loud = np.flatnonzero(rms > 0.01)
    if loud.size == 0:
        return 0.0, len(samples) / rate
    return loud[0] * window / rate, (loud[-1] + 1) * window / rate


def pauses_in(samples: np.ndarray, rate: int) -> np.ndarray:
    """(quiet from, speech resumes) in seconds for each stretch of at least MIN_PAUSE of quiet that speech
    follows (10 ms windows)."""
    window = max(1, rate // 100)
    usable = len(samples) // window * window
    if usable == 0:
        return np.zeros((0, 2))
    rms = np.sqrt(np.mean(samples[:usable].reshape(-1, window) ** 2, axis=1))
    quiet = rms < max(0.01, float(np.percentile(rms, 95)) / 30)  # 30 dB under the loud parts, or -40 dBFS
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long_enough = (ends - starts) * window / rate >= MIN_PAUSE
    kept = long_enough & (ends < len(rms))
    return np.stack([starts[kept], ends[kept]], axis=1) * window / rate


@dataclass(frozen=True)
class AudioEncoding:
    """How project audio is stored: a file extension, its mime type and ffmpeg's encoder arguments."""

    extension: str
    mime: str
    ffmpeg_args: tuple[str, ...]


WAV = AudioEncoding("wav", "audio/wav", ("-c:a", "pcm_s16le", "-f", "wav"))
FLAC = AudioEncoding("flac", "audio/flac", ("-c:a", "flac", "-sample_fmt", "s16", "-f", "flac"))
# Lossy sources stay lossy: 192 kb/s AAC-LC is transparent for speech and music, while a FLAC of
# decoded MP3/Opus would only inflate it (a 0.9 MB, 30-minute Opus upload became a 345 MB WAV).
AAC_M4A = AudioEncoding("m4a", "audio/mp4", ("-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", "-f", "mp4"))


def to_project_audio(src: str | Path, dst: str | Path, encoding: AudioEncoding = FLAC, *,
                     limit_seconds: float | None = None, on_time: Callable[[float], None] | None = None,
                     should_cancel: Callable[[], bool] | None = None) -> None:
    """Decode the first audio stream of ``src`` into 48 kHz stereo ``encoding`` at ``dst``, atomically."""
    dst = Path(dst)
    partial = dst.with_name(dst.name + ".partial")
    limit = ["-t", f"{limit_seconds:.3f}"] if limit_seconds else []
    try:
        ffmpeg.run(["-i", str(src), *limit, "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1",
                    "-ac", str(PROJECT_CHANNELS), "-ar", str(PROJECT_SAMPLE_RATE), *encoding.ffmpeg_args,
                    str(partial)], on_time=on_time, should_cancel=should_cancel)
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)


def to_project_wav(src: str | Path, dst: str | Path, **options) -> None:
    """Decode the first audio stream of ``src`` into a 48 kHz stereo 16-bit WAV at ``dst``, atomically."""
    to_project_audio(src, dst, WAV, **options)


def pcm_to_project_wav(wav_bytes: bytes) -> tuple[bytes, float]:
    """Any WAV the vendor or engine produced, as project WAV bytes, and its duration in seconds."""
    with tempfile.TemporaryDirectory(prefix="voice-") as tmp:
        src, dst = Path(tmp, "in.wav"), Path(tmp, "out.wav")
        src.write_bytes(wav_bytes)
        to_project_wav(src, dst)
        data = dst.read_bytes()
    with wave.open(io.BytesIO(data)) as wav:
        duration = wav.getnframes() / wav.getframerate()
    return data, duration


def encode_flac(samples: np.ndarray) -> bytes:
    """48 kHz stereo int16 samples, shape (n, 2), as a FLAC file's bytes (in-process: no ffmpeg start-up)."""
    out = io.BytesIO()
    with av.open(out, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=PROJECT_SAMPLE_RATE, layout="stereo")
        stream.format = "s16"
        block = 4608  # FLAC's frame size at 48 kHz; the encoder takes whole frames but the last
        for at in range(0, len(samples), block):
            packed = np.ascontiguousarray(samples[at:at + block], dtype="<i2").reshape(1, -1)  # L R L R ...
            frame = av.AudioFrame.from_ndarray(packed, format="s16", layout="stereo")
            frame.sample_rate = PROJECT_SAMPLE_RATE
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def to_flac(wav_bytes: bytes) -> tuple[bytes, float]:
    """A WAV (what the voice engines return) as 48 kHz stereo FLAC bytes, and its exact duration in seconds."""
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        is_project = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (PROJECT_SAMPLE_RATE, 2, 2)
    if not is_project:
        wav_bytes, _ = pcm_to_project_wav(wav_bytes)
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, PROJECT_CHANNELS)
    return encode_flac(samples), len(samples) / PROJECT_SAMPLE_RATE


# ---- pitch ------------------------------------------------------------------------------

PITCH_RANGE = (-4, 4)  # semitones; further shifted by tape speed, a voice sounds like someone else


def pitch_factor(semitones: float) -> float:
    """How much faster speech is played to raise its pitch by ``semitones`` (below 1: lower)."""
    return 2.0 ** (min(max(float(semitones), PITCH_RANGE[0]), PITCH_RANGE[1]) / 12)


def retimed_wav(pcm: bytes, rate: int, factor: float) -> tuple[bytes, float]:
    """Mono 16-bit PCM as a WAV labelled ``factor`` times its true rate, and the factor on its times.

    Converted to 48 kHz, it then plays ``factor`` times faster and higher, like tape: engines
    without a pitch control speak that much slower first, so that only the pitch moves.
    """
    labelled = round(rate * factor)
    return pcm16_wav(pcm, labelled), rate / labelled


def pcm16_wav(samples: bytes, rate: int, channels: int = 1) -> bytes:
    """Raw little-endian 16-bit PCM wrapped as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples)
    return out.getvalue()
