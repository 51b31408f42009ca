"""The volumes the compile gives the narration and the music, as static clip gains for editing apps.

Measured the compile's way (EBU R128 loudness, narration brought to the target, music a gap below it),
with the compile's own meter. The editing apps don't duck the music under the voice; the README says so.
"""
from __future__ import annotations

from pathlib import Path

from .. import ffmpeg
from ..video import audio
from ..video.timeline import CompileSettings


def _loudness(inputs: list[str], chain: str, log: Path) -> float:
    ffmpeg.run([*inputs, "-filter_complex", f"{chain},{audio._meter(log)}", "-f", "null", "-"])
    return audio._read_meter(log)


def clip_gains(narrations: list[Path], music: Path | None, duration: float, work: Path,
               settings: CompileSettings = CompileSettings()) -> tuple[float, float]:
    """(narration gain dB, music gain dB) before ducking, as the compile's soundtrack sets them."""
    voice = audio.SILENCE_LUFS - 10  # no narration: silent
    if narrations:
        inputs = [arg for path in narrations for arg in ("-i", str(path))]
        joined = "".join(f"[{i}:a]aresample={audio.RATE},aformat=channel_layouts=stereo[a{i}];"
                         for i in range(len(narrations)))
        chain = joined + "".join(f"[a{i}]" for i in range(len(narrations))) + f"concat=n={len(narrations)}:v=0:a=1"
        voice = _loudness(inputs, chain, work / "loudness-narration.txt")
    music_gain = 0.0
    if music:
        song = _loudness(["-stream_loop", "-1", "-i", str(music)],
                         f"[0:a]atrim=duration={duration:.6f},aresample={audio.RATE},aformat=channel_layouts=stereo",
                         work / "loudness-music.txt")
        gap = settings.music_gap_lu if voice >= audio.SILENCE_LUFS else 0.0
        music_gain = audio._gain_to(settings.loudness_lufs - gap, song)
    return audio._gain_to(settings.loudness_lufs, voice), music_gain
