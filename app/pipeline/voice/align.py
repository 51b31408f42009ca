"""Word timings for speech that came without them: the known text aligned to the audio, offline.

The aeneas method: speak the text with eSpeak NG (which says when each word starts), describe both
recordings by mel-cepstral coefficients, find the cheapest monotonic pairing of their frames (dynamic
time warping, coarse then fine), and carry each word's start across it; a start just past a pause
moves to where the speech resumes (base.timings_from_starts). Nothing but numpy and the eSpeak wheel;
no model to download.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from ..video.audio import read_wav_mono
from .base import WordTiming, pauses_in, timings_from_starts, voiced_span, word_spans
from .espeak import MAX_RATE, MIN_RATE, EspeakVoiceProvider

HOP = 0.01  # seconds between feature frames
FRAME = 0.025  # seconds each frame looks at
MEL_BANDS, CEPSTRA = 26, 13
COARSE = 5  # the coarse pass compares every 5th frame
COARSE_BAND_SHARE = 0.15  # the coarse path may stray this share of the duration from the diagonal...
MIN_COARSE_BAND = 2.0  # ...or at least this many seconds
FINE_BAND = 0.3  # seconds either side of the coarse path the fine pass searches
MAX_CELLS = 20_000_000  # frame pairs one pass may hold (80 MB), whatever the recording's length
READ_RATE = 16_000  # recordings are read at 16 kHz: the features use nothing above 8 kHz


def read_speech(path: str | Path) -> np.ndarray:
    """A recording's first audio stream as mono float samples at READ_RATE."""
    chunks = []
    resampler = av.AudioResampler(format="flt", layout="mono", rate=READ_RATE)
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def espeak_voice_for(language: str) -> str:
    """The eSpeak NG voice for a language tag ("en-US", "fr_FR", "de"): exact, then by language, else English."""
    wanted = language.replace("_", "-").lower()
    voices = EspeakVoiceProvider().voices()
    for candidates in ([v for v in voices if v.language.lower() == wanted],
                       [v for v in voices if v.language.lower().split("-")[0] == wanted.split("-")[0]]):
        if candidates:
            return candidates[0].id
    return EspeakVoiceProvider.default_voice


def align_words(samples: np.ndarray, rate: int, text: str, language: str = "en") -> list[WordTiming]:
    """When each word of ``text`` starts and ends in the mono ``samples`` (floats at ``rate``)."""
    spans = word_spans(text)
    if not spans:
        return []
    speech_start, speech_end = voiced_span(samples, rate)
    pace = len(spans) / max(speech_end - speech_start, 0.1) * 60  # the reference is read as fast as the recording
    reference = EspeakVoiceProvider().synthesize(text, espeak_voice_for(language),
                                                 int(min(MAX_RATE, max(MIN_RATE, pace))))
    ref_samples, ref_rate = read_wav_mono(reference.wav)
    ref_start, ref_end = voiced_span(ref_samples, ref_rate)
    recording = _features(samples[int(speech_start * rate):int(speech_end * rate)], rate)
    spoken = _features(ref_samples[int(ref_start * ref_rate):int(ref_end * ref_rate)], ref_rate)
    if len(recording) < 2 or len(spoken) < 2:
        return timings_from_starts(spans, [None] * len(spans), speech_start, speech_end)
    first_row = _first_rows(recording, spoken)
    columns = np.clip(np.round((np.array([w.start for w in reference.words]) - ref_start) / HOP), 0, len(spoken) - 1)
    starts = speech_start + first_row[columns.astype(int)] * HOP
    return timings_from_starts(spans, list(starts), speech_start, speech_end, pauses_in(samples, rate))


# ---- features ---------------------------------------------------------------------------------

def _features(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mel-cepstral coefficients 1-12 per frame, normalised per recording (speaker and channel fall away)."""
    frame, hop = round(FRAME * rate), round(HOP * rate)
    if len(samples) < frame:
        return np.zeros((0, CEPSTRA - 1), np.float32)
    size = 1 << (frame - 1).bit_length()
    windows = np.lib.stride_tricks.sliding_window_view(samples.astype(np.float32), frame)[::hop]
    bank = _mel_bank(rate, size)
    dct = _dct_matrix()
    out = []
    for block in range(0, len(windows), 2000):  # bounded memory for long recordings
        spectrum = np.abs(np.fft.rfft(windows[block:block + 2000] * np.hamming(frame), size)) ** 2
        out.append(np.log(spectrum @ bank.T + 1e-10) @ dct.T)
    cepstra = np.concatenate(out)[:, 1:]  # c0 is loudness, which says nothing about which sound it is
    return ((cepstra - cepstra.mean(0)) / (cepstra.std(0) + 1e-6)).astype(np.float32)


def _mel_bank(rate: int, size: int) -> np.ndarray:
    mel = lambda hz: 2595 * np.log10(1 + hz / 700)  # noqa: E731
    hz = lambda m: 700 * (10 ** (m / 2595) - 1)  # noqa: E731
    edges = hz(np.linspace(mel(80), mel(min(7600, rate / 2)), MEL_BANDS + 2))
    bins = np.fft.rfftfreq(size, 1 / rate)
    rising = (bins[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    falling = (edges[2:, None] - bins[None, :]) / (edges[2:, None] - edges[1:-1, None])
    return np.maximum(0, np.minimum(rising, falling))


def _dct_matrix() -> np.ndarray:
    k, n = np.arange(CEPSTRA)[:, None], np.arange(MEL_BANDS)[None, :]
    return np.cos(np.pi * k * (2 * n + 1) / (2 * MEL_BANDS))


# ---- warping ----------------------------------------------------------------------------------

def _first_rows(recording: np.ndarray, spoken: np.ndarray) -> np.ndarray:
    """For each reference frame, the first recording frame that the cheapest warping path pairs with it."""
    coarse_rec, coarse_ref = recording[::COARSE], spoken[::COARSE]
    n, m = len(coarse_rec), len(coarse_ref)
    half = max(MIN_COARSE_BAND, COARSE_BAND_SHARE * len(recording) * HOP) / (HOP * COARSE)
    half = int(max(m / n + 1, min(half, MAX_CELLS / (2 * n))))  # wide enough to stay connected
    diagonal = np.round(np.arange(n) * (m - 1) / max(n - 1, 1)).astype(int)
    path_rows, path_cols = _dtw_path(coarse_rec, coarse_ref, np.maximum(0, diagonal - half),
                                     np.minimum(m, diagonal + half + 1))
    # The fine pass searches near the coarse path: each row, the columns its coarse row and the next visit.
    low = np.full(n + 1, m, int)
    high = np.zeros(n + 1, int)
    np.minimum.at(low, path_rows, path_cols)
    np.maximum.at(high, path_rows, path_cols)
    low[n], high[n] = low[n - 1], high[n - 1]
    fine_rows = np.arange(len(recording)) // COARSE
    margin = round(FINE_BAND / HOP)
    lo = np.maximum(0, low[fine_rows] * COARSE - margin)
    hi = np.minimum(len(spoken), (high[fine_rows + 1] + 1) * COARSE + margin)
    lo[0], hi[-1] = 0, len(spoken)
    rows, cols = _dtw_path(recording, spoken, lo, hi)
    first = np.full(len(spoken), len(recording) - 1)
    np.minimum.at(first, cols, rows)
    return first


def _dtw_path(rows: np.ndarray, columns: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic pairing of rows with columns from (0, 0) to the last pair, within lo <= column < hi.

    Every pair on the path costs the distance of its frames, whichever step led there (weighting
    diagonal steps twice, the textbook symmetric form, placed words worse here: 75 % within 100 ms
    against 90 %). A whole row is computed at once: steps along a row add up their costs, so the
    row's totals are its prefix sums plus a running minimum.
    """
    n, width = len(rows), int((hi - lo).max())
    total = np.full((n, width), np.inf, np.float32)
    previous = np.full(len(columns) + 1, np.inf, np.float32)  # the row above over every column, after an edge
    for i in range(n):
        a, b = lo[i], hi[i]
        cost = np.linalg.norm(columns[a:b] - rows[i], axis=1)
        if i == 0:
            from_above = np.full(b - a, np.inf, np.float32)
            from_above[0] = cost[0]
        else:
            from_above = np.minimum(previous[a + 1:b + 1], previous[a:b]) + cost  # down, or diagonally
        prefix = np.cumsum(cost)
        row = prefix + np.minimum.accumulate(from_above - prefix)
        previous[:] = np.inf
        previous[a + 1:b + 1] = row
        total[i, :b - a] = row

    def at(i: int, j: int) -> float:
        return float(total[i, j - lo[i]]) if i >= 0 and lo[i] <= j < hi[i] else np.inf

    path = [(n - 1, len(columns) - 1)]
    while path[-1] != (0, 0):
        i, j = path[-1]
        _, i, j = min((at(i - 1, j - 1), i - 1, j - 1), (at(i - 1, j), i - 1, j), (at(i, j - 1), i, j - 1))
        path.append((i, j))
    found = np.array(path[::-1])
    return found[:, 0], found[:, 1]
