"""Voice providers behind one interface, chosen by name.

Example::

    from app.pipeline.voice import voice_provider

    speech = voice_provider("piper").synthesize(segment.text, "en_US-joe-medium", rate=160, pitch=-1)
    storage.put(key, speech.wav)      # 48 kHz stereo 16-bit WAV
    segment.duration = speech.duration
"""
from __future__ import annotations

from app.pipeline.images.base import (
    AuthenticationFailed,
    BadResponse,
    InvalidRequest,
    OutOfVendorCredits,
    ProviderError,
    ProviderNotConfigured,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    RateLimited,
)

from .azure import AzureSpeechProvider
from .base import SpeechResult, Voice, VoiceProvider, WordTiming, to_project_wav
from .espeak import EspeakVoiceProvider
from .piper import PiperVoiceProvider

PROVIDERS = ("piper", "espeak", "azure")
DEFAULT_VOICES = {"piper": PiperVoiceProvider.default_voice, "espeak": EspeakVoiceProvider.default_voice,
                  "azure": AzureSpeechProvider.default_voice}


def voice_provider(name: str, **settings) -> VoiceProvider:
    """The provider called ``name``; Piper takes ``voices_dir`` (the operator's voices), Azure ``key``,
    ``region`` and optionally ``base_url``, ``timeout``."""
    if name == "piper":
        return PiperVoiceProvider(settings.get("voices_dir"))
    if name == "espeak":
        return EspeakVoiceProvider()
    if name == "azure":
        return AzureSpeechProvider(settings.get("key"), settings.get("region"),
                                   base_url=settings.get("base_url"), timeout=settings.get("timeout", 60.0))
    raise ProviderNotConfigured(f"There is no voice provider called “{name}”.", provider=name)


__all__ = [
    "DEFAULT_VOICES", "PROVIDERS", "AuthenticationFailed", "AzureSpeechProvider", "BadResponse",
    "EspeakVoiceProvider", "InvalidRequest", "OutOfVendorCredits", "PiperVoiceProvider", "ProviderError",
    "ProviderNotConfigured", "ProviderTimeout", "ProviderUnavailable", "ProviderUnreachable", "RateLimited",
    "SpeechResult", "Voice", "VoiceProvider",
    "WordTiming", "to_project_wav", "voice_provider",
]
