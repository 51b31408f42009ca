"""Captions of a real narrated compile, checked against what is heard: every cue starts with its first word
(silence detection on the MP4, within 100 ms), lasts at least a second, and breaks lines at phrases."""
from __future__ import annotations

import pytest

from app.pipeline.video.captions import FUNCTION_WORDS
from app.pipeline.video.compile import compile_video
from app.pipeline.video.presets import VideoPreset
from app.pipeline.video.timeline import CompileSettings, Scene, Transition
from app.pipeline.voice import DEFAULT_VOICES, ProviderError, voice_provider

from .test_video_compile import still
from .test_video_sound import silences, srt_starts

# Short sentences with a breath between them, so each cue's first word follows a silence a meter can find.
SCRIPT = [
    "The harbour wakes before dawn. Fishermen load their nets.",
    "By noon the market is full. Traders shout their prices over the crowd.",
    "At dusk the boats come home. The lamps of the town come on, one by one.",
]


@pytest.fixture(scope="module", params=["piper", "espeak"])
def narrated(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    provider = voice_provider(request.param)
    scenes = []
    for n, text in enumerate(SCRIPT):
        try:
            speech = provider.synthesize(text, DEFAULT_VOICES[request.param], 150)
        except ProviderError as exc:
            pytest.skip(f"{request.param} can't speak here: {exc}")
        (d / f"{n}.wav").write_bytes(speech.wav)
        scenes.append(Scene(still(d / f"{n}.png", (50 * n, 90, 120)), 4.0, d / f"{n}.wav", text,
                            [(w[0], w[1], w[2]) for w in speech.words], Transition("crossfade", 0.5), paced=True))
    result = compile_video(scenes, CompileSettings(preset=VideoPreset("t", 320, 180, 30)), d / "v.mp4", d / "cache")
    return result


def cue_onset_errors(video, srt: str) -> list[tuple[float, float | None]]:
    """Each cue's start, and how long after it its first word is heard when the cue comes at a pause (within
    100 ms of a silence, silencedetect on the MP4): where speech resumes. None for a cue inside running
    speech, where a silence detector hears no word boundary."""
    quiet = silences(video, min_seconds=0.08)
    errors: list[tuple[float, float | None]] = []
    for start in srt_starts(srt):
        at_pause = [end for begin, end in quiet if begin - 0.1 <= start <= end + 0.1]
        errors.append((start, at_pause[0] - start if at_pause else (0.0 if start < 0.1 else None)))
    return errors


def assert_cues_start_with_their_words(video, srt: str, at_least: int) -> None:
    """Every cue starts within 100 ms of its first word heard in the video (the script's cues all follow a pause)."""
    errors = cue_onset_errors(video, srt)
    assert len(errors) >= at_least
    for start, error in errors:
        assert error is not None, f"cue at {start:.3f} s is not at a pause"
        assert abs(error) <= 0.1, f"cue at {start:.3f} s, its first word heard at {start + error:.3f} s"


def test_every_cue_starts_with_its_first_word(narrated):
    assert_cues_start_with_their_words(narrated.video, narrated.srt.read_text(), at_least=6)


def test_cues_last_a_second_and_lines_end_on_a_phrase(narrated):
    blocks = narrated.srt.read_text().strip().split("\n\n")
    for block in blocks:
        _, times, *lines = block.split("\n")
        start, end = (sum(float(x) * f for x, f in zip(t.replace(",", ".").split(":"), (3600, 60, 1)))
                      for t in times.split(" --> "))
        assert end - start >= 1.0 - 0.001, block
        assert all(line.split()[-1].strip(",.").lower() not in FUNCTION_WORDS for line in lines), block
