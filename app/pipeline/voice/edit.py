"""Joining and splitting voiceovers when scenes merge or split, so narration stays whole and in sync.

Voiceovers come in any format PyAV reads and leave as 48 kHz stereo FLAC. Word timings are
``[word, start, end, char_start, char_end]`` (seconds; offsets into the voiceover's text), the shape
``WordTiming`` has and asset meta stores.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ..video.audio import decode_pcm
from .base import PROJECT_SAMPLE_RATE as RATE
from .base import WordTiming, encode_flac, estimate_timings, voiced_span, word_spans

TimingSource = Literal["engine", "aligned", "estimated", "none"]

# A sentence break in read narration lasts about a third of a second (eSpeak leaves 0.32 s between
# sentences of one text). Joining tops the silence already at the clips' edges up to this.
NATURAL_PAUSE = 0.35
FADE_SECONDS = 0.005  # at every cut and joint: removes the click of a waveform cut mid-swing, inaudible otherwise
LEAD_IN_SECONDS = 0.05  # silence left before the tail's first word, so a soft onset ("h", "f") is not clipped
WINDOW = RATE // 100  # energy is measured in 10 ms windows
ONSET_SLACK_SECONDS = 0.05  # an engine may place a word's start a little after its audible onset
MIN_PAUSE_WINDOWS = 12  # a pause between sentences lasts at least 120 ms; gaps inside words are shorter
# Where a sentence starts, estimated from its share of the characters, is off by the difference in
# speaking rate between sentences (about ±20%, accumulated from the nearer end of the speech) plus
# up to a word's length; a pause further than that from the estimate is not trusted to be the one.
PAUSE_TOLERANCE_SECONDS = 0.3
RATE_DRIFT = 0.2


@dataclass(frozen=True)
class Voiceover:
    """A narration file, the text it speaks and, when known, when each word is spoken."""

    path: Path
    duration: float
    text: str
    words: Sequence[Sequence] = ()  # WordTiming-shaped: [word, start, end, char_start, char_end]
    timing_source: TimingSource = "none"


def join_voiceovers(first: Voiceover, second: Voiceover, out_path: str | Path,
                    gap: float | None = None) -> Voiceover:
    """``first``, a pause, then ``second``, as one FLAC; ``gap`` None tops the pause up to NATURAL_PAUSE."""
    a, b = _decode(first), _decode(second)
    if gap is None:
        already = len(a) / RATE - voiced_span(_mono(a), RATE)[1] + voiced_span(_mono(b), RATE)[0]
        gap = max(0.0, NATURAL_PAUSE - already)
    pause = np.zeros((round(gap * RATE), 2), np.int16)
    samples = np.concatenate([_faded(a, fade_out=True), pause, _faded(b, fade_in=True)])
    head, tail = first.text.rstrip(), second.text.lstrip()
    lead = len(head) - len(head.lstrip())  # the joined text drops the first text's leading spaces
    tail_start = len(head) + 1 - lead if head else 0
    (a_words, a_source), (b_words, b_source) = _known_or_estimated(first, a), _known_or_estimated(second, b)
    shift = (len(a) + len(pause)) / RATE
    words = (_moved(a_words, 0.0, -lead, len(a) / RATE)
             + _moved(b_words, shift, tail_start - (len(second.text) - len(tail)), len(samples) / RATE))
    sources = {a_source, b_source}
    source = "engine" if sources == {"engine"} else "aligned" if sources <= {"engine", "aligned"} else "estimated"
    return _written(samples, out_path, f"{head} {tail}".strip(), words, source)


def split_voiceover(voice: Voiceover, char_offset: int, head_path: str | Path,
                    tail_path: str | Path) -> tuple[Voiceover, Voiceover] | None:
    """The voiceover cut where ``voice.text[char_offset:]`` starts being spoken; None when that can't be located."""
    text = voice.text
    spans = word_spans(text)
    if not 0 < char_offset < len(text) or any(start < char_offset < end for _, start, end in spans):
        raise ValueError(f"offset {char_offset} is not between two words of the voiceover's text")
    if not spans or spans[0][1] >= char_offset or spans[-1][1] < char_offset:
        return None  # one part has no words, so nothing says where it is spoken
    samples = _decode(voice)
    mono = _mono(samples)
    words = _timings(voice.words)
    before = [w for w in words if w.char_start < char_offset]
    after = [w for w in words if w.char_start >= char_offset]
    if voice.timing_source == "engine" and before and after:
        cut = _cut_between_words(mono, before[-1], after[0])
    else:
        cut = _cut_at_pause(mono, text, char_offset)
    if cut is None:
        return None
    head_raw, tail_raw = text[:char_offset], text[char_offset:]
    head = _half(voice, samples[:cut], 0, head_raw, 0, before, head_path, fade_out=True)
    tail = _half(voice, samples[cut:], cut, tail_raw, char_offset, after, tail_path, fade_in=True)
    return head, tail


def _half(voice: Voiceover, part: np.ndarray, first_sample: int, raw_text: str, first_char: int,
          words: list[WordTiming], path: str | Path, **fade: bool) -> Voiceover:
    """One side of a split: its samples faded at the cut, its stripped text, its words on its own clock and text."""
    text = raw_text.strip()
    if voice.timing_source in ("engine", "aligned"):  # timings of the clip's own audio: they move with it
        chars = first_char + len(raw_text) - len(raw_text.lstrip())
        words = _moved(words, -first_sample / RATE, -chars, len(part) / RATE)
    elif voice.timing_source == "estimated":  # estimates made for the whole clip don't survive a cut: redo them
        words = estimate_timings(text, *voiced_span(_mono(part), RATE))
    else:
        words = []
    return _written(_faded(part, **fade), path, text, words, voice.timing_source)


# ---- where to cut -------------------------------------------------------------------------

def _cut_between_words(mono: np.ndarray, before: WordTiming, after: WordTiming) -> int:
    """The sample at the quietest stretch between two words the engine timed, just ahead of the second."""
    lo = int(before.start * RATE) // WINDOW * WINDOW
    hi = min(len(mono), int((after.start + ONSET_SLACK_SECONDS) * RATE))
    rms = _window_rms(mono[lo:hi])
    if rms.size == 0:
        return lo
    quiet = rms <= max(2 * rms.min(), 1e-4)  # within 6 dB of the quietest, or below -80 dBFS
    runs = _runs(quiet)
    return lo + _cut_in(runs[-1]) * WINDOW  # the last quiet stretch: the first word's own syllables come earlier


def _cut_at_pause(mono: np.ndarray, text: str, char_offset: int) -> int | None:
    """The sample at the pause nearest where the text's proportion says the second part starts, if near enough."""
    rms = _window_rms(mono)
    if rms.size == 0:
        return None
    speech = float(np.percentile(rms, 90))
    floor = max(float(np.percentile(rms, 5)), 1e-4)  # digital silence would otherwise pull the threshold to 0
    threshold = min(np.sqrt(floor * speech), speech / 10)  # midway (in dB) to speech, and 20 dB below it
    pauses = [(a, b) for a, b in _runs(rms < threshold)
              if b - a >= MIN_PAUSE_WINDOWS and a > 0 and b < len(rms)]  # not the silence before or after speech
    start, end = voiced_span(mono, RATE)
    expected = next(w.start for w in estimate_timings(text, start, end) if w.char_start >= char_offset)
    tolerance = PAUSE_TOLERANCE_SECONDS + RATE_DRIFT * min(expected - start, end - expected)

    def distance(pause: tuple[int, int]) -> float:
        return max(pause[0] * WINDOW / RATE - expected, expected - pause[1] * WINDOW / RATE, 0.0)

    nearest = min(pauses, key=distance, default=None)
    if nearest is None or distance(nearest) > tolerance:
        return None
    return _cut_in(nearest) * WINDOW


def _cut_in(run: tuple[int, int]) -> int:
    """The window to cut at in a quiet run: near its end, so the head keeps the pause and the tail starts promptly."""
    return max(run[0], run[1] - round(LEAD_IN_SECONDS * RATE / WINDOW))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, past-last) indices of each run of True."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _window_rms(mono: np.ndarray) -> np.ndarray:
    usable = len(mono) // WINDOW * WINDOW
    return np.sqrt(np.mean(mono[:usable].reshape(-1, WINDOW) ** 2, axis=1))


# ---- samples and words --------------------------------------------------------------------

def _decode(voice: Voiceover) -> np.ndarray:
    return decode_pcm(voice.path, sys.maxsize)


def _mono(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1, dtype=np.float32) / 32768


def _faded(samples: np.ndarray, *, fade_in: bool = False, fade_out: bool = False) -> np.ndarray:
    """A copy with a FADE_SECONDS ramp at the chosen ends."""
    out = samples.copy()
    n = min(len(out), int(FADE_SECONDS * RATE))
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    if fade_in and n:
        out[:n] = (out[:n] * ramp).astype(np.int16)
    if fade_out and n:
        out[-n:] = (out[-n:] * ramp[::-1]).astype(np.int16)
    return out


def _timings(words: Sequence[Sequence]) -> list[WordTiming]:
    return [WordTiming(str(w[0]), float(w[1]), float(w[2]), int(w[3]), int(w[4])) for w in words]


def _known_or_estimated(voice: Voiceover, samples: np.ndarray) -> tuple[list[WordTiming], TimingSource]:
    """The voiceover's word timings, or ones estimated over its voiced span when it has none."""
    if voice.words:
        return _timings(voice.words), voice.timing_source
    return estimate_timings(voice.text, *voiced_span(_mono(samples), RATE)), "estimated"


def _moved(words: list[WordTiming], seconds: float, chars: int, duration: float) -> list[WordTiming]:
    """Timings shifted by ``seconds`` and ``chars``, kept within 0..duration."""
    def clamp(t: float) -> float:
        return round(min(max(t + seconds, 0.0), duration), 3)

    return [WordTiming(w.word, clamp(w.start), clamp(w.end), w.char_start + chars, w.char_end + chars) for w in words]


def _written(samples: np.ndarray, path: str | Path, text: str, words: list[WordTiming],
             source: TimingSource) -> Voiceover:
    path = Path(path)
    path.write_bytes(encode_flac(samples))
    return Voiceover(path=path, duration=len(samples) / RATE, text=text, words=words, timing_source=source)
