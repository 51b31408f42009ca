"""The soundtrack: narration laid on the frame grid, music ducked under it, loudness set to the target."""
from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import numpy as np

from .. import ffmpeg
from ..probe import UnreadableMedia, probe
from .ffargs import filter_arg
from .timeline import Narration, Scene, Timeline

RATE = 48_000
SILENCE_LUFS = -60.0  # below this a track counts as silent and is not amplified
MAX_GAIN_DB = 40.0
TRIM_FADE_SECONDS = 0.02  # narration cut at its scene's end fades out instead of clicking
MUSIC_FADE_SECONDS = 3.0  # at most; never more than a tenth of the video
# Music dips under speech: the narration (already at target level) keys this compressor.
DUCKING = "sidechaincompress=threshold=0.03:ratio=8:attack=15:release=350"
# Peaks between samples and the AAC encoding each add a few tenths of a dB over the limiter's
# sample-peak ceiling; from here the encoded file's true peak is measured and the ceiling lowered if needed.
CEILING_DBFS = -2.0

TimeCallback = Callable[[float], None]


def audio_duration(path: str | Path) -> float | None:
    """Length of an audio file in seconds, or None when it can't be read."""
    try:  # a PCM WAV (what eSpeak writes) from its header: much quicker than opening a demuxer
        with wave.open(str(path), "rb") as wav:
            # A header written before the length was known may claim more than the file holds.
            present = Path(path).stat().st_size // (wav.getsampwidth() * wav.getnchannels())
            return min(wav.getnframes(), present) / wav.getframerate()
    except (wave.Error, EOFError, OSError, ZeroDivisionError):
        pass
    try:
        info = probe(path)
    except UnreadableMedia:
        return None
    stream = info.audio
    if stream is None:
        return None
    return stream.duration or info.duration


def read_wav_mono(source: bytes | str | Path) -> tuple[np.ndarray, int]:
    """Samples of a 16-bit PCM WAV (its bytes or its path) as floats in -1..1 (channels averaged), and the
    sample rate; wave.Error, EOFError or ValueError for anything else."""
    with wave.open(io.BytesIO(source) if isinstance(source, bytes) else str(source)) as wav:
        if wav.getsampwidth() != 2:
            raise ValueError("expected 16-bit PCM")
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768
        channels, rate = wav.getnchannels(), wav.getframerate()
    return frames[:len(frames) // channels * channels].reshape(-1, channels).mean(axis=1), rate


def decode_pcm(path: str | Path, max_samples: int, skip_samples: int = 0) -> np.ndarray:
    """Decode to 48 kHz stereo int16 samples, shape (n, 2), from skip_samples on, at most max_samples long
    (faded out if cut)."""
    max_samples += skip_samples
    chunks, total = [], 0
    resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1, 2))
                total += len(chunks[-1])
            if total >= max_samples:
                break
        else:
            chunks += [out.to_ndarray().reshape(-1, 2) for out in resampler.resample(None)]
    pcm = np.concatenate(chunks)[skip_samples:] if chunks else np.zeros((0, 2), np.int16)
    max_samples -= skip_samples
    if len(pcm) > max_samples:
        pcm = pcm[:max_samples].copy()
        fade = min(len(pcm), int(TRIM_FADE_SECONDS * RATE))
        pcm[-fade:] = (pcm[-fade:] * np.linspace(1, 0, fade)[:, None]).astype(np.int16)
    return pcm


def write_narration(scenes: list[Scene], timeline: Timeline, narration: list[Narration | None], out_wav: Path,
                    should_cancel: Callable[[], bool] | None = None) -> None:
    """Write every scene's speech from its first sound at its scene's first frame, silence elsewhere; a voice
    is cut (faded) where the next scene's begins, so two never overlap. Memory holds one scene at a time."""
    fps, slots = timeline.fps, timeline.slots
    with wave.open(str(out_wav), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        written = 0

        def silence_until(sample: int) -> None:
            nonlocal written
            out.writeframes(bytes(4 * max(0, sample - written)))
            written = max(written, sample)

        for n, (scene, speech) in enumerate(zip(scenes, narration)):
            if should_cancel and should_cancel():
                raise ffmpeg.Cancelled("cancelled")
            if scene.audio is None or speech is None:
                continue
            start = slots[n].start * RATE // fps
            until = (slots[n + 1].start if n + 1 < len(slots) else slots[n].end) * RATE // fps
            silence_until(start)
            pcm = decode_pcm(scene.audio, until - start, round(speech.onset * RATE))
            out.writeframes(pcm.astype("<i2").tobytes())
            written += len(pcm)
        silence_until(timeline.total_frames * RATE // fps)


def _meter(log: Path) -> str:
    """Filter that passes audio through and logs its running integrated loudness to log."""
    return f"ebur128=metadata=1,ametadata=mode=print:key=lavfi.r128.I:file={filter_arg(str(log))}"


def _read_meter(log: Path) -> float:
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("lavfi.r128.I=")]
    log.unlink()
    return float(lines[-1].split("=", 1)[1]) if lines else -70.0


def _gain_to(target: float, loudness: float) -> float:
    return 0.0 if loudness < SILENCE_LUFS else min(MAX_GAIN_DB, target - loudness)


@dataclass(frozen=True)
class Soundtrack:
    """An audio file ready for the final mux, and the gain (dB) that brings it to the target loudness."""

    path: Path
    gain_db: float

    def final_filter(self, ceiling_dbfs: float) -> str:
        return f"volume={self.gain_db:.2f}dB,alimiter=limit={ceiling_dbfs:.2f}dB:level=disabled:latency=1,aresample={RATE}"


def build_soundtrack(narration: Path, music: str | Path | None, duration: float, target_lufs: float,
                     music_gap_lu: float, work: Path, on_time: TimeCallback | None = None,
                     should_cancel: Callable[[], bool] | None = None) -> Soundtrack:
    """Measure the narration (and music), mix the music ducked under the voice, and pick the final gain."""
    logs = [work / "loudness-voice.txt", work / "loudness-music.txt", work / "loudness-mix.txt"]
    if music is None:
        ffmpeg.run(["-i", str(narration), "-af", _meter(logs[0]), "-f", "null", "-"],
                   on_time=on_time, should_cancel=should_cancel)
        return Soundtrack(narration, _gain_to(target_lufs, _read_meter(logs[0])))
    music_in = ["-stream_loop", "-1", "-i", str(music)]
    music_chain = f"[1:a]atrim=duration={duration:.6f},aresample={RATE},aformat=channel_layouts=stereo"
    ffmpeg.run(["-i", str(narration), *music_in, "-filter_complex",
                f"[0:a]{_meter(logs[0])}[v];{music_chain},{_meter(logs[1])}[m]",
                "-map", "[v]", "-map", "[m]", "-f", "null", "-"], should_cancel=should_cancel)
    voice, song = _read_meter(logs[0]), _read_meter(logs[1])
    voice_gain = _gain_to(target_lufs, voice)
    music_gain = _gain_to(target_lufs - (music_gap_lu if voice >= SILENCE_LUFS else 0.0), song)
    fade = min(MUSIC_FADE_SECONDS, duration / 10)
    fade_start = duration - fade
    mixed = work / "mix.wav"
    graph = (f"[0:a]volume={voice_gain:.2f}dB,asplit[voice][key];"
             f"{music_chain},volume={music_gain:.2f}dB,afade=t=out:st={fade_start:.3f}:d={fade:.3f}[bed];"
             f"[bed][key]{DUCKING}[ducked];[voice][ducked]amix=inputs=2:normalize=0:duration=first,"
             f"{_meter(logs[2])}[mix]")
    ffmpeg.run(["-i", str(narration), *music_in, "-filter_complex", graph, "-map", "[mix]",
                "-c:a", "pcm_f32le", str(mixed)], on_time=on_time, should_cancel=should_cancel)
    return Soundtrack(mixed, _gain_to(target_lufs, _read_meter(logs[2])))


def true_peak_dbtp(path: str | Path, work: Path, should_cancel: Callable[[], bool] | None = None) -> float:
    """The highest true peak (dBTP, 4x oversampled as in EBU R 128) over all channels of a file's audio."""
    log = work / "true-peak.txt"
    ffmpeg.run(["-i", str(path), "-af", f"ebur128=peak=true:metadata=1,ametadata=mode=print:file={filter_arg(str(log))}",
                "-f", "null", "-"], should_cancel=should_cancel)
    # The filter's metadata gives the true peak so far, linear, over all channels.
    peaks = [float(line.split("=", 1)[1]) for line in log.read_text().splitlines()
             if line.startswith("lavfi.r128.true_peak=")]
    log.unlink()
    peak = max(peaks, default=0.0)
    return 20 * math.log10(peak) if peak > 0 else -math.inf
