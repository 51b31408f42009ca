"""Joining and splitting voiceovers made by real eSpeak NG speech, checked against the audio itself."""
from __future__ import annotations

import io
import subprocess
import time
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from app.pipeline.ffmpeg import ffmpeg_exe
from app.pipeline.probe import probe
from app.pipeline.uploads import prepare_audio_upload
from app.pipeline.voice import voice_provider
from app.pipeline.voice.align import align_words
from app.pipeline.voice.base import WordTiming, estimate_timings, to_flac, voiced_span
from app.pipeline.voice.edit import NATURAL_PAUSE, Voiceover, join_voiceovers, split_voiceover

RATE = 48_000
FIRST, SECOND = "The first sentence is here.", "Then the second one follows."
BOTH = f"{FIRST} {SECOND}"
QUIET = 10 ** (-45 / 20)  # the tests' own idea of silence: 5 ms windows below -45 dBFS


def samples_of(path: Path) -> np.ndarray:
    """Mono float samples at 48 kHz (the channels' mean), decoded here rather than by the code under test."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=RATE)
        chunks = [out.to_ndarray().reshape(-1, 2)
                  for frame in container.decode(audio=0) for out in resampler.resample(frame)]
    return np.concatenate(chunks).mean(axis=1)


def pauses(samples: np.ndarray, shortest: float = 0.15) -> list[tuple[float, float]]:
    """(start, end) seconds of quiet stretches inside the speech at least ``shortest`` long."""
    window = RATE // 200
    level = np.sqrt(np.mean(samples[: len(samples) // window * window].reshape(-1, window) ** 2, axis=1))
    loud = np.flatnonzero(level > QUIET)
    gaps = [(a + 1, b) for a, b in zip(loud, loud[1:]) if (b - a - 1) * window >= shortest * RATE]
    return [(a * window / RATE, b * window / RATE) for a, b in gaps]


def second_sentence_onset(samples: np.ndarray) -> float:
    """Where speech resumes after the longest pause: the second sentence's first word."""
    return max(pauses(samples), key=lambda p: p[1] - p[0])[1]


def level_around(samples: np.ndarray, seconds: float, half_width: float = 0.01) -> float:
    part = samples[max(0, int((seconds - half_width) * RATE)): int((seconds + half_width) * RATE)]
    return float(np.sqrt(np.mean(part ** 2)))


def speak(text: str):
    return voice_provider("espeak").synthesize(text, "gmw/en-US")


def engine_voiceover(text: str, path: Path) -> Voiceover:
    """An eSpeak voiceover stored as the app stores one: FLAC, words as lists, timing source "engine"."""
    speech = speak(text)
    data, duration = to_flac(speech.wav)
    path.write_bytes(data)
    return Voiceover(path, duration, text, [list(w) for w in speech.words], "engine")


def wav_file(path: Path, mono: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(mono, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def spoken(text: str, trim: bool = False) -> np.ndarray:
    """eSpeak's speech of ``text`` as mono floats, optionally cut to its voiced span."""
    with wave.open(io.BytesIO(speak(text).wav)) as speech:
        stereo = np.frombuffer(speech.readframes(speech.getnframes()), dtype="<i2").reshape(-1, 2)
    samples = stereo.mean(axis=1, dtype=np.float32) / 32768
    if trim:
        start, end = voiced_span(samples, RATE)
        samples = samples[int(start * RATE): int(end * RATE)]
    return samples


def assert_words_fit(result: Voiceover) -> None:
    assert all(result.text[w.char_start:w.char_end] == w.word for w in result.words)
    assert all(0 <= w.start <= w.end <= result.duration + 1e-3 for w in result.words)
    assert all(a.start <= b.start for a, b in zip(result.words, result.words[1:]))


def assert_stored(result: Voiceover) -> None:
    info = probe(result.path)
    stream = info.audio
    assert (info.format_name, stream.codec, stream.sample_rate, stream.channels) == ("flac", "flac", 48_000, 2)
    assert info.audio.duration == pytest.approx(result.duration, abs=1 / RATE)


# ---- split ----------------------------------------------------------------------------------

def test_split_engine_timed_speech_between_the_sentences(tmp_path):
    voice = engine_voiceover(BOTH, tmp_path / "both.flac")
    original = samples_of(voice.path)
    onset = second_sentence_onset(original)
    head, tail = split_voiceover(voice, BOTH.index("Then"), tmp_path / "head.flac", tmp_path / "tail.flac")
    assert_stored(head), assert_stored(tail)
    assert head.duration == pytest.approx(onset, abs=0.1) and head.duration <= onset  # the cut is before the word
    assert level_around(original, head.duration) < QUIET  # and in silence: no word is cut
    assert head.duration + tail.duration == pytest.approx(voice.duration, abs=0.01)
    assert (head.text, tail.text, head.timing_source, tail.timing_source) == (FIRST, SECOND, "engine", "engine")
    assert [w.word for w in head.words] == FIRST.split() and [w.word for w in tail.words] == SECOND.split()
    assert_words_fit(head), assert_words_fit(tail)
    originals = [WordTiming(*w) for w in voice.words]
    assert [w.start for w in head.words] == [w.start for w in originals[:5]]
    assert [w.start for w in tail.words] == pytest.approx([w.start - head.duration for w in originals[5:]], abs=2e-3)
    pieces = samples_of(head.path), samples_of(tail.path)
    # the tail's words land on its speech, and the halves hold exactly the original's samples
    assert tail.words[0].start == pytest.approx(voiced_span(pieces[1], RATE)[0], abs=0.05)
    assert np.abs(np.concatenate(pieces) - original).max() < 0.02  # only the few-ms fades at the cut differ


def test_split_recording_without_timings_at_its_pause(tmp_path):
    gap = np.zeros(int(0.6 * RATE), np.float32)
    recording = np.concatenate([spoken(FIRST), gap, spoken(SECOND)])
    path = wav_file(tmp_path / "recording.wav", recording)  # a user's WAV, no word timings
    voice = Voiceover(path, len(recording) / RATE, BOTH, [], "none")
    onset = second_sentence_onset(recording)
    head, tail = split_voiceover(voice, BOTH.index("Then"), tmp_path / "head.flac", tmp_path / "tail.flac")
    assert_stored(head), assert_stored(tail)
    assert head.duration == pytest.approx(onset, abs=0.1) and head.duration <= onset
    assert level_around(recording, head.duration) < QUIET
    assert head.duration + tail.duration == pytest.approx(voice.duration, abs=0.01)
    assert (head.text, tail.text) == (FIRST, SECOND)
    assert (head.words, tail.words, head.timing_source, tail.timing_source) == ([], [], "none", "none")


def test_aligned_timings_split_and_join_like_the_engine_s(tmp_path):
    """A recording whose words were aligned to it: its halves keep those timings, moved, and so does a join."""
    recording = np.concatenate([spoken(FIRST), np.zeros(int(0.6 * RATE), np.float32), spoken(SECOND)])
    words = align_words(recording, RATE, BOTH, "en")
    voice = Voiceover(wav_file(tmp_path / "take.wav", recording), len(recording) / RATE, BOTH,
                      [list(w) for w in words], "aligned")
    head, tail = split_voiceover(voice, BOTH.index("Then"), tmp_path / "head.flac", tmp_path / "tail.flac")
    assert level_around(recording, head.duration) < QUIET  # cut in the pause
    assert (head.timing_source, tail.timing_source) == ("aligned", "aligned")
    assert [w.start for w in tail.words] == pytest.approx([max(0, w.start - head.duration) for w in words[5:]],
                                                          abs=2e-3)
    assert_words_fit(head), assert_words_fit(tail)
    joined = join_voiceovers(tail, engine_voiceover(FIRST, tmp_path / "first.flac"), tmp_path / "joined.flac")
    assert joined.timing_source == "aligned" and [w.word for w in joined.words] == f"{SECOND} {FIRST}".split()


def test_split_re_estimates_estimated_timings_for_each_half(tmp_path):
    recording = np.concatenate([spoken(FIRST), np.zeros(int(0.5 * RATE), np.float32), spoken(SECOND)])
    path = wav_file(tmp_path / "estimated.wav", recording)
    words = estimate_timings(BOTH, *voiced_span(recording, RATE))  # as Azure's estimated voices carry
    voice = Voiceover(path, len(recording) / RATE, BOTH, [list(w) for w in words], "estimated")
    head, tail = split_voiceover(voice, BOTH.index("Then"), tmp_path / "head.flac", tmp_path / "tail.flac")
    assert (head.timing_source, tail.timing_source) == ("estimated", "estimated")
    assert [w.word for w in tail.words] == SECOND.split()
    assert_words_fit(head), assert_words_fit(tail)
    tail_start, tail_end = voiced_span(samples_of(tail.path), RATE)
    assert tail.words[0].start == pytest.approx(tail_start, abs=0.02)  # spread over the tail's own speech
    assert tail.words[-1].end == pytest.approx(tail_end, abs=0.02)


def run_on() -> np.ndarray:
    """Both sentences with no breath between them."""
    return np.concatenate([spoken(FIRST, trim=True), spoken(SECOND, trim=True)])


def pause_in_the_wrong_place() -> np.ndarray:
    """A long pause after "The", none between the sentences: far from where "Then" should be."""
    return np.concatenate([spoken("The", trim=True), np.zeros(int(0.6 * RATE), np.float32),
                           spoken("first sentence is here", trim=True), spoken(SECOND, trim=True)])


@pytest.mark.parametrize("recording", [run_on, pause_in_the_wrong_place])
def test_split_returns_none_when_the_pause_cannot_be_found(tmp_path, recording):
    audio = recording()
    path = wav_file(tmp_path / "recording.wav", audio)
    voice = Voiceover(path, len(audio) / RATE, BOTH, [], "none")
    assert split_voiceover(voice, BOTH.index("Then"), tmp_path / "h.flac", tmp_path / "t.flac") is None
    assert not (tmp_path / "h.flac").exists() and not (tmp_path / "t.flac").exists()


def test_split_refuses_an_offset_inside_a_word(tmp_path):
    voice = engine_voiceover(BOTH, tmp_path / "both.flac")
    with pytest.raises(ValueError):
        split_voiceover(voice, BOTH.index("Then") + 2, tmp_path / "h.flac", tmp_path / "t.flac")


# ---- join -----------------------------------------------------------------------------------

def test_join_engine_voiceovers_with_a_gap(tmp_path):
    first, second = engine_voiceover(FIRST, tmp_path / "a.flac"), engine_voiceover(SECOND, tmp_path / "b.flac")
    joined = join_voiceovers(first, second, tmp_path / "joined.flac", gap=0.5)
    assert_stored(joined)
    assert joined.duration == pytest.approx(first.duration + 0.5 + second.duration, abs=1 / RATE)
    assert (joined.text, joined.timing_source) == (BOTH, "engine")
    assert [w.word for w in joined.words] == BOTH.split()
    assert_words_fit(joined)
    shifted = [WordTiming(*w).start + first.duration + 0.5 for w in second.words]
    assert [w.start for w in joined.words[5:]] == pytest.approx(shifted, abs=2e-3)
    assert joined.words[5].start == pytest.approx(second_sentence_onset(samples_of(joined.path)), abs=0.05)


def test_join_tops_the_pause_up_to_a_natural_one(tmp_path):
    first, second = engine_voiceover(FIRST, tmp_path / "a.flac"), engine_voiceover(SECOND, tmp_path / "b.flac")
    joined = join_voiceovers(first, second, tmp_path / "joined.flac")
    audio = samples_of(joined.path)
    start, end = max(pauses(audio), key=lambda p: p[1] - p[0])
    assert end - start == pytest.approx(NATURAL_PAUSE, abs=0.03)  # eSpeak's own trailing silence counts
    assert first.duration + second.duration <= joined.duration < first.duration + second.duration + NATURAL_PAUSE
    assert joined.words[5].start == pytest.approx(end, abs=0.05)


def test_join_with_an_uploaded_recording_estimates_its_words(tmp_path):
    first = engine_voiceover(FIRST, tmp_path / "a.flac")
    mp3 = tmp_path / "mine.mp3"
    wav = wav_file(tmp_path / "mine.wav", np.concatenate([np.zeros(int(0.3 * RATE), np.float32), spoken(SECOND)]))
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libmp3lame", str(mp3)],
                   check=True)
    upload = prepare_audio_upload(mp3, tmp_path / "mine.m4a")  # stored as the app stores it: AAC in M4A
    second = Voiceover(upload.path, upload.duration, "  Then the second one follows.  ", [], "none")
    joined = join_voiceovers(first, second, tmp_path / "joined.flac", gap=0.2)
    assert joined.text == BOTH and joined.timing_source == "estimated"
    assert [w.word for w in joined.words] == BOTH.split()
    assert_words_fit(joined)
    audio = samples_of(joined.path)
    assert joined.words[5].start == pytest.approx(second_sentence_onset(audio), abs=0.06)
    assert joined.words[-1].end == pytest.approx(voiced_span(audio, RATE)[1], abs=0.06)


def test_edits_are_deterministic_and_quick(tmp_path):
    voice = engine_voiceover(BOTH, tmp_path / "both.flac")
    started = time.perf_counter()
    once = split_voiceover(voice, BOTH.index("Then"), tmp_path / "h1.flac", tmp_path / "t1.flac")
    split_seconds = time.perf_counter() - started
    again = split_voiceover(voice, BOTH.index("Then"), tmp_path / "h2.flac", tmp_path / "t2.flac")
    started = time.perf_counter()
    joined = join_voiceovers(*once, tmp_path / "j1.flac")
    join_seconds = time.perf_counter() - started
    assert split_seconds < 0.5 and join_seconds < 0.5
    assert [h.path.read_bytes() for h in once] == [h.path.read_bytes() for h in again]
    assert join_voiceovers(*again, tmp_path / "j2.flac").path.read_bytes() == joined.path.read_bytes()
