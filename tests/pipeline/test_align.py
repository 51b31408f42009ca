"""Aligning a known text to a recording offline: speech from one engine, timed against that engine's own words."""
from __future__ import annotations

import numpy as np

from app.pipeline.voice import voice_provider
from app.pipeline.voice.align import READ_RATE, align_words, espeak_voice_for, read_speech
from app.pipeline.voice.base import to_flac, word_spans

TEXT = ("The harbour wakes at dawn, and gulls circle the boats. Fishermen haul their nets onto the quay. "
        "By noon the market is loud with traders, and the smell of fish drifts over the square. "
        "In the evening, the lights come on one by one, and the town goes quiet again.")


def recording(tmp_path, speech) -> np.ndarray:
    """The speech as an uploaded recording would reach the aligner: a stored file, read back at 16 kHz."""
    path = tmp_path / "take.flac"
    path.write_bytes(to_flac(speech.wav)[0])
    return read_speech(path)


def errors(aligned, spoken) -> np.ndarray:
    assert [w.word for w in aligned] == [w for w, _, _ in word_spans(TEXT)]
    assert all(a.start <= b.start and a.end <= b.start + 1e-6 for a, b in zip(aligned, aligned[1:]))
    return np.array([a.start - s.start for a, s in zip(aligned, spoken)])


def test_piper_recordings_are_aligned_with_espeak_as_the_reference(tmp_path):
    """Other voices, paces and pitches than the reference, as people's recordings would be."""
    off, sentence_starts = [], []
    for rate, pitch in ((150, -2), (190, 2)):  # Piper varies from take to take: two takes, pooled
        speech = voice_provider("piper").synthesize(TEXT, "en_US-joe-medium", rate=rate, pitch=pitch)
        aligned = align_words(recording(tmp_path, speech), READ_RATE, TEXT, "en-US")
        take = np.abs(errors(aligned, speech.words))
        words = speech.words
        sentence_starts += [take[i] for i in range(len(words)) if i == 0 or words[i - 1].word.endswith(".")]
        off += list(take)
    off = np.array(off)
    assert np.median(off) <= 0.07  # typically 30-55 ms
    assert np.mean(off <= 0.1) >= 0.75, off.round(2)  # typically 85-90 % of the words
    assert off.max() <= 0.6  # the worst are vowel-initial words after a vowel ("the evening")
    assert max(sentence_starts) <= 0.1, sentence_starts  # where speech resumes after a pause: exact


def test_an_espeak_recording_at_another_pace_aligns_almost_exactly(tmp_path):
    speech = voice_provider("espeak").synthesize(TEXT, "gmw/en-US", rate=230)
    aligned = align_words(recording(tmp_path, speech), READ_RATE, TEXT, "en")
    assert np.abs(errors(aligned, speech.words)).max() <= 0.1


def test_silence_and_unknown_languages_still_give_ordered_timings(tmp_path):
    silence = np.zeros(READ_RATE * 2, np.float32)
    words = align_words(silence, READ_RATE, "Nothing was said here.", "xx-YY")
    assert [w.word for w in words] == ["Nothing", "was", "said", "here."]
    assert all(0 <= a.start <= b.start <= 2.0 for a, b in zip(words, words[1:]))
    assert align_words(silence, READ_RATE, " … ", "en") == []
    assert espeak_voice_for("fr_FR") == "roa/fr" and espeak_voice_for("de-AT").startswith("gmw/de")
    assert espeak_voice_for("xx-YY") == "gmw/en-US"
