"""Offline speech with eSpeak NG, loaded from the espeakng-loader wheel through ctypes."""
from __future__ import annotations

import bisect
import ctypes
import os
import re
import threading
from pathlib import Path

import espeakng_loader
import numpy as np

from app.pipeline.ffmpeg import Cancelled
from app.pipeline.images.base import InvalidRequest
from app.pipeline.video.audio import read_wav_mono

from .base import (
    CancelCheck,
    ProgressCallback,
    SpeechResult,
    Voice,
    WordTiming,
    pauses_in,
    pcm_to_project_wav,
    pitch_factor,
    require_text,
    retimed_wav,
    timings_from_starts,
    voiced_span,
    word_spans,
)

VENDOR = "eSpeak NG"
DEFAULT_VOICE = "gmw/en-US"  # voice ids are eSpeak identifiers; it also takes most language codes ("fr")
DEFAULT_RATE = 175  # eSpeak's own default, words per minute
MIN_RATE, MAX_RATE = 80, 450  # the range eSpeak accepts

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2  # synthesise on the calling thread; no audio device, no threads
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_EVENT_LIST_TERMINATED, _EVENT_WORD = 0, 1
_PARAM_RATE = 1


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.POINTER(ctypes.c_char)),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte),
                ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int),
                ("spare", ctypes.c_void_p)]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))


class _Engine:
    """The process-wide eSpeak library: one synthesis at a time, re-initialised in forked children."""

    def __init__(self):
        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        self.lock = threading.Lock()
        self.pid: int | None = None  # the process whose copy of the library is initialised
        self.sample_rate = 0
        self._voices: list[Voice] | None = None
        self._pcm: list[bytes] = []
        self._words: list[tuple[int, int, int]] = []  # (text_position, length, audio ms)
        self._callback = _SynthCallback(self._on_synth)  # kept referenced so ctypes won't free it

    def _on_synth(self, wav, count, events) -> int:
        if count > 0:
            self._pcm.append(ctypes.string_at(wav, count * 2))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_WORD:
                self._words.append((events[i].text_position, events[i].length, events[i].audio_position))
            i += 1
        return 0  # 0 = keep going

    def _ensure_initialised(self) -> None:
        # A forked child (an RQ job) may inherit the library mid-synthesis; it gets a fresh start.
        if self.pid == os.getpid():
            return
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                          espeakng_loader.get_data_path().encode(), _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialise")
        self.lib.espeak_SetSynthCallback(self._callback)
        self.sample_rate, self.pid = rate, os.getpid()

    def voices(self) -> list[Voice]:
        """The usable voices, listed once: eSpeak reads every voice file to answer."""
        with self.lock:
            if self._voices is not None:
                return self._voices
            self._ensure_initialised()
            found, listing, i = [], self.lib.espeak_ListVoices(None), 0
            while listing[i]:
                voice = listing[i].contents
                identifier, language = voice.identifier.decode(), _first_language(voice.languages)
                if _has_dictionary(identifier, language):
                    found.append(Voice(id=identifier, name=voice.name.decode().replace("_", " "),
                                       language=language, gender={1: "male", 2: "female"}.get(voice.gender)))
                i += 1
            self._voices = sorted(found, key=lambda v: v.name.casefold())
            return self._voices

    def speak(self, text: str, voice: str, rate: int) -> tuple[bytes, list[tuple[int, int, int]], int]:
        """Raw 16-bit mono PCM for ``text``, its word events, and the sample rate."""
        with self.lock:
            self._ensure_initialised()
            if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise InvalidRequest(f"eSpeak NG has no voice called “{voice}”. Pick another voice.",
                                     provider=VENDOR)
            self.lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
            self._pcm, self._words = [], []
            encoded = text.encode()
            status = self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0,
                                           _CHARS_UTF8 | _ENDPAUSE, None, None)
            if status != 0:
                raise RuntimeError(f"eSpeak NG synthesis failed (status {status})")
            return b"".join(self._pcm), self._words, self.sample_rate


def _first_language(languages) -> str:
    """The first code in eSpeak's packed list: a priority byte, a NUL-terminated name, repeated."""
    return ctypes.string_at(ctypes.addressof(languages.contents) + 1).decode()


def _has_dictionary(identifier: str, language: str) -> bool:
    """Whether the wheel ships the voice's pronunciation dictionary (a few voices lack one and speak silence)."""
    data = Path(espeakng_loader.get_data_path())
    try:
        spec = (data / "lang" / identifier).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    named = re.search(r"^dictionary\s+(\S+)", spec, re.MULTILINE)
    return (data / f"{named.group(1) if named else language.split('-')[0]}_dict").is_file()


_engine: _Engine | None = None
_engine_guard = threading.Lock()


def _shared_engine() -> _Engine:
    global _engine
    with _engine_guard:
        if _engine is None:
            _engine = _Engine()
        return _engine


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay locked forever in the child.
    global _engine_guard
    _engine_guard = threading.Lock()
    if _engine is not None:
        _engine.lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


class EspeakVoiceProvider:
    """eSpeak NG: always available, no network; word timings come from its WORD events."""

    name = "espeak"
    default_voice = DEFAULT_VOICE
    default_rate = DEFAULT_RATE

    def voices(self) -> list[Voice]:
        """Every voice in the bundled eSpeak NG data, by name."""
        return list(_shared_engine().voices())

    def synthesize(self, text: str, voice: str = DEFAULT_VOICE, rate: int | None = None, *, pitch: float = 0,
                   on_progress: ProgressCallback | None = None,
                   should_cancel: CancelCheck | None = None) -> SpeechResult:
        """Speak ``text`` into a project WAV with word timings from eSpeak's events (it takes a second or two
        for minutes of speech, so the cancel check comes after it)."""
        text = require_text(text, VENDOR)
        factor = pitch_factor(pitch)  # spoken this much slower, then played this much faster and higher
        wpm = min(MAX_RATE, max(MIN_RATE, round((rate or DEFAULT_RATE) / factor)))
        if on_progress:
            on_progress(0.1, "Synthesising speech")
        pcm, events, sample_rate = _shared_engine().speak(text, voice, wpm)
        if should_cancel and should_cancel():
            raise Cancelled()
        raw_wav, time_scale = retimed_wav(pcm, sample_rate, factor)
        heard = read_wav_mono(raw_wav)
        speech_start, speech_end = voiced_span(*heard)
        if on_progress:
            on_progress(0.6, "Converting to 48 kHz")
        wav, duration = pcm_to_project_wav(raw_wav)
        words = _timings(text, events, time_scale, speech_start, speech_end, pauses_in(*heard))
        return SpeechResult(wav=wav, duration=duration, words=words, voice=voice, provider=self.name,
                            timing_source="engine")


def _timings(text: str, events: list[tuple[int, int, int]], time_scale: float, speech_start: float,
             speech_end: float, pauses: np.ndarray) -> list[WordTiming]:
    """Each input word starts at the first WORD event inside it (eSpeak positions are 1-based)."""
    spans = word_spans(text)
    span_starts = [char_start for _, char_start, _ in spans]
    starts: list[float | None] = [None] * len(spans)
    for position, _length, audio_ms in events:
        i = bisect.bisect_right(span_starts, position - 1) - 1
        if i >= 0 and position - 1 < spans[i][2] and starts[i] is None:
            starts[i] = max(audio_ms / 1000 * time_scale, speech_start)
    return timings_from_starts(spans, starts, speech_start, speech_end, pauses)
