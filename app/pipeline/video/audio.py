"""The soundtrack: narration laid on the frame grid, music ducked under it, loudness set to the target."""
from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import numpy as np

from .. import ffmpeg
from ..probe import UnreadableMedia, probe
from .ffargs import filter_arg
from .timeline import Scene, Timeline

RATE = 48_000
SILENCE_LUFS = -60.0  # below this a track counts as silent and is not amplified
MAX_GAIN_DB = 40.0
TRIM_FADE_SECONDS = 0.02  # narration cut at its scene's end fades out instead of clicking
MUSIC_FADE_SECONDS = 3.0  # at most; never more than a tenth of the video
# Music dips under speech: the narration (already at target level) keys this compressor.
DUCKING = "sidechaincompress=threshold=0.03:ratio=8:attack=15:release=350"
LIMITER = "alimiter=limit=0.891:level=disabled:latency=1"  # -1 dBFS ceiling after the gain

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


def decode_pcm(path: str | Path, max_samples: int) -> np.ndarray:
    """Decode to 48 kHz stereo int16 samples, shape (n, 2), at most max_samples long (faded out if cut)."""
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
    pcm = np.concatenate(chunks) if chunks else np.zeros((0, 2), np.int16)
    if len(pcm) > max_samples:
        pcm = pcm[:max_samples].copy()
        fade = min(len(pcm), int(TRIM_FADE_SECONDS * RATE))
        pcm[-fade:] = (pcm[-fade:] * np.linspace(1, 0, fade)[:, None]).astype(np.int16)
    return pcm


def write_narration(scenes: list[Scene], timeline: Timeline, out_wav: Path,
                    should_cancel: Callable[[], bool] | None = None) -> None:
    """Write every scene's narration at its scene's start, silence elsewhere; memory holds one scene at a time."""
    fps = timeline.fps
    with wave.open(str(out_wav), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        pending = np.zeros((0, 2), np.int32)  # mixed samples from `written` on, not yet written
        written = 0

        def flush(upto: int) -> None:
            nonlocal pending, written
            n = upto - written
            if n <= 0:
                return
            block = np.zeros((n, 2), np.int32)
            block[:min(n, len(pending))] = pending[:n]
            out.writeframes(np.clip(block, -32768, 32767).astype("<i2").tobytes())
            pending, written = pending[n:], upto

        for scene, slot in zip(scenes, timeline.slots):
            if should_cancel and should_cancel():
                raise ffmpeg.Cancelled("cancelled")
            if scene.audio is None:
                continue
            start = slot.start * RATE // fps
            flush(start)
            pcm = decode_pcm(scene.audio, slot.frames * RATE // fps)
            if len(pending) < len(pcm):
                pending = np.concatenate([pending, np.zeros((len(pcm) - len(pending), 2), np.int32)])
            pending[:len(pcm)] += pcm  # narration running into the next scene's transition overlaps it
        flush(timeline.total_frames * RATE // fps)


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

    @property
    def final_filter(self) -> str:
        return f"volume={self.gain_db:.2f}dB,{LIMITER},aresample={RATE}"


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
