"""Pacing: where each scene's speech really is, and how long a scene fitted to its narration lasts.

A paced scene ends a fixed pause after its last sound (longer before a new chapter), plus the
transition that overlaps the next scene. Speech is placed so its first sound starts the scene, so
the silence between two voices is that pause whatever silence the voice engine added before or
after, and voices never overlap. Before a chapter the pause grows by under a second so the chapter
starts on a whole second: YouTube chapter times are whole seconds, and its first word then starts
exactly at its time.
"""
from __future__ import annotations

import wave
from dataclasses import replace
from pathlib import Path

import av
import numpy as np

from .audio import read_wav_mono
from .timeline import CompileSettings, Narration, Scene, build_timeline

WINDOW_SECONDS = 0.01
QUIET_DB = 40.0  # this far below the loudest window counts as silence
FLOOR_DBFS = -60.0  # and so does anything below this
_RATE = 16_000


def _mono_samples(path: str | Path) -> tuple[np.ndarray, int]:
    """The file's samples averaged to mono, and their rate: a 16-bit WAV (what the voices are stored as) read
    as it is, anything else decoded at 16 kHz."""
    try:
        return read_wav_mono(path)
    except (wave.Error, EOFError, ValueError):
        pass
    resampler = av.AudioResampler(format="flt", layout="mono", rate=_RATE)
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray().ravel() for frame in container.decode(audio=0) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().ravel() for f in resampler.resample(None)]
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), _RATE


def narration_span(path: str | Path) -> Narration | None:
    """Where the first and last sound of an audio file are (None: silent or unreadable)."""
    try:
        samples, rate = _mono_samples(path)
    except (av.FFmpegError, IndexError, ValueError, OSError):
        return None
    size = round(WINDOW_SECONDS * rate)
    windows = len(samples) // size
    if not windows:
        return None
    rms = np.sqrt((samples[:windows * size].reshape(windows, size).astype(np.float64) ** 2).mean(axis=1))
    threshold = max(rms.max() * 10 ** (-QUIET_DB / 20), 10 ** (FLOOR_DBFS / 20))
    loud = np.flatnonzero(rms > threshold)
    if not len(loud):
        return None
    return Narration(loud[0] * WINDOW_SECONDS, (loud[-1] + 1) * WINDOW_SECONDS)


def pace(scenes: list[Scene], narration: list[Narration | None], settings: CompileSettings, fps: int) -> list[Scene]:
    """The scenes with each paced one's duration set from its speech (see the module's docstring)."""
    paced = list(scenes)
    for i, (scene, speech) in enumerate(zip(scenes, narration)):
        if scene.paced and speech:
            last = i + 1 == len(scenes)
            pause = settings.chapter_pause_seconds if not last and scenes[i + 1].opens_chapter \
                else settings.pause_seconds
            overlap = 0.0 if last or scene.transition.kind == "cut" else scene.transition.duration
            paced[i] = replace(scene, duration=max(1, round((speech.seconds + pause + overlap) * fps)) / fps)
    for i in range(len(paced) - 1):
        if not (paced[i].paced and narration[i] and paced[i + 1].opens_chapter):
            continue
        for _ in range(3):  # a longer scene may also get a longer transition: settle in a step or two
            late = build_timeline(paced, fps).slots[i + 1].start % fps
            if not late:
                break
            paced[i] = replace(paced[i], duration=(round(paced[i].duration * fps) + fps - late) / fps)
    return paced
