"""Step 3's voices: the engines this server offers, their voices, samples to hear, word timings for recordings."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

from flask import current_app

from .. import project_settings
from ..extensions import db
from ..models import Job, Project
from ..pipeline.voice import DEFAULT_VOICES, Voice, VoiceProvider, voice_provider
from ..pipeline.voice.align import READ_RATE, align_words, read_speech
from ..pipeline.voice.base import PITCH_RANGE, to_flac, word_spans
from ..platform.media import get_storage

log = logging.getLogger(__name__)

ENGINES = {"piper": "Piper neural voices (offline)", "espeak": "eSpeak NG (offline, 100+ languages)",
           "azure": "Azure neural voices"}
# How each engine changes speed and pitch, told beside those settings.
HOW_IT_SOUNDS = {
    "piper": "Piper speaks at the chosen speed itself. It has no pitch control, so pitch is shifted like tape "
             "played faster or slower: the voice sounds a little brighter or darker as well.",
    "espeak": "eSpeak NG speaks at the chosen speed itself; pitch is shifted like tape, as for Piper.",
    "azure": "Azure changes the speed and the voice's own pitch, keeping its tone.",
}
# A few widely used Azure voices; any voice of the region's list can be typed in.
AZURE_VOICES = ("en-US-JennyNeural", "en-US-GuyNeural", "en-GB-SoniaNeural", "en-AU-NatashaNeural",
                "de-DE-KatjaNeural", "fr-FR-DeniseNeural", "es-ES-ElviraNeural",
                "it-IT-ElsaNeural", "pt-BR-FranciscaNeural", "ja-JP-NanamiNeural")
AZURE_NAME = re.compile(r"[a-z]{2,3}-[A-Za-z]{2,4}(-[A-Za-z]+)?-[A-Za-z0-9]+Neural")
SAMPLE_PREFIX = "voice-samples/"
SAMPLE_TEXTS = {  # by language; other languages hear the English one
    "en": "Hello! This is how I would narrate your video, one scene at a time.",
    "de": "Hallo! So würde ich Ihr Video erzählen, Szene für Szene.",
    "fr": "Bonjour ! Voici comment je raconterais votre vidéo, scène par scène.",
    "es": "¡Hola! Así narraría su vídeo, escena por escena.",
    "it": "Ciao! Ecco come racconterei il tuo video, scena dopo scena.",
    "pt": "Olá! É assim que eu narraria o seu vídeo, cena a cena.",
    "nl": "Hallo! Zo zou ik je video vertellen, scène voor scène.",
}


def engines() -> dict[str, str]:
    """Voice engines this server can use: the two offline ones always, Azure when configured."""
    usable = {key: label for key, label in ENGINES.items() if key != "azure"}
    if current_app.config["AZURE_SPEECH_KEY"] and current_app.config["AZURE_SPEECH_REGION"]:
        usable["azure"] = ENGINES["azure"]
    return usable


def provider(engine: str) -> VoiceProvider:
    """A voice engine set up from the server's settings."""
    config = current_app.config
    return voice_provider(engine, key=config["AZURE_SPEECH_KEY"], region=config["AZURE_SPEECH_REGION"],
                          base_url=config["AZURE_SPEECH_BASE_URL"] or None, voices_dir=config["VOICES_DIR"])


def voices(engine: str) -> list[Voice]:
    """An offline engine's voices (Azure's are typed in). Piper's folder is read each time, so a voice an
    operator adds shows at once; eSpeak's list is kept, as it reads every voice file to answer."""
    if engine == "espeak":
        cache = current_app.extensions.setdefault("scriptreel_voices", {})
        if "espeak" not in cache:
            cache["espeak"] = provider("espeak").voices()
        return cache["espeak"]
    return provider(engine).voices() if engine == "piper" else []


def settings_from(form, project: Project) -> tuple[dict, str | None]:
    """The voice settings a step 3 form sets (engine, voice, pitch), and what was wrong with it, if anything."""
    engine, values, error = form.get("voice_provider", project_settings.get(project, "voice_provider")), {}, None
    if engine not in engines():
        error = ("Azure voices need AZURE_SPEECH_KEY and AZURE_SPEECH_REGION on the server." if engine == "azure"
                 else "Choose a voice engine from the list.")
    elif engine != project_settings.get(project, "voice_provider"):
        values.update(voice_provider=engine, voice=DEFAULT_VOICES[engine])
    elif "voice" in form:
        voice = form["voice"].strip()
        if engine == "azure" and not AZURE_NAME.fullmatch(voice):
            error = "Azure voice names look like en-US-JennyNeural."
        elif engine != "azure" and voice not in {v.id for v in voices(engine)}:
            error = "Choose a voice from the list."
        else:
            values["voice"] = voice
    if "pitch" in form:
        pitch = form.get("pitch", type=int)
        if pitch is None or not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
            error = f"Pitch goes from {PITCH_RANGE[0]} to +{PITCH_RANGE[1]} semitones."
        else:
            values["pitch"] = pitch
    return values, error


def language_of(project: Project) -> str:
    """The language the project's voice speaks ("en-US"), which recordings of its scenes are taken to be in."""
    engine, voice = project_settings.get(project, "voice_provider"), project_settings.get(project, "voice")
    if engine == "azure":
        return "-".join(voice.split("-")[:2])
    chosen = next((v for v in voices(engine) if v.id == voice), None)
    return chosen.language if chosen else "en"


# ---- samples --------------------------------------------------------------------------------

def sample_request(project: Project, engine: str, voice: Voice) -> dict:
    """What a sample of ``voice`` at the project's speed and pitch is made from, and where it is kept."""
    params = {"engine": engine, "voice": voice.id, "rate": project_settings.speaking_rate(project),
              "pitch": project_settings.get(project, "pitch"),
              "text": SAMPLE_TEXTS.get(voice.language.split("-")[0].lower(), SAMPLE_TEXTS["en"])}
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]
    return {**params, "key": f"{SAMPLE_PREFIX}{digest}.flac"}


def sample_ready(key: str) -> bool:
    """Whether the sample kept under ``key`` exists."""
    return get_storage().exists(key)


def make_sample(params: dict) -> str:
    """Speak and keep a sample (shared by every project that asks for the same one); a retry finds it made."""
    if not sample_ready(params["key"]):
        speech = provider(params["engine"]).synthesize(params["text"], params["voice"], params["rate"],
                                                       pitch=params["pitch"])
        flac, _ = to_flac(speech.wav)
        get_storage().put_bytes(params["key"], flac, "audio/flac")
    return "Sample ready."


def sample_failure(project: Project, key: str) -> str | None:
    """Why the newest attempt at this sample failed, if it did."""
    job = db.session.scalar(db.select(Job).filter(Job.project_id == project.id, Job.kind == "voice_sample")
                            .order_by(Job.id.desc()).limit(1))
    if job is not None and job.params.get("key") == key and job.state in ("failed", "cancelled"):
        return job.message or "The sample could not be made."
    return None


# ---- recordings -----------------------------------------------------------------------------

def recording_timings(path: Path, text: str | None, project: Project, progress=None) -> dict:
    """Asset meta giving a recording of ``text`` its word timings, aligned offline; none for a recording
    without text, or when aligning fails (a recording is worth more than its timings)."""
    if not word_spans(text or ""):
        return {}
    if progress:
        progress(0.95, "Finding each word in the recording…")
    try:
        words = align_words(read_speech(path), READ_RATE, text, language_of(project))
    except Exception:  # noqa: BLE001 - logged; the recording itself is fine
        log.warning("could not align the recording %s to its text", path.name, exc_info=True)
        return {}
    return {"timing_source": "aligned", "words": [list(w) for w in words]}
