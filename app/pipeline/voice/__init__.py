"""Voice providers behind one interface, chosen by name.

Example::

    from app.pipeline.voice import voice_provider

    speech = voice_provider("espeak").synthesize(segment.text, voice="en-us", rate=160)
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

PROVIDERS = ("espeak", "azure")


def voice_provider(name: str, **settings) -> VoiceProvider:
    """The provider called ``name``; Azure takes ``key``, ``region`` and optionally ``base_url``, ``timeout``."""
    if name == "espeak":
        return EspeakVoiceProvider()
    if name == "azure":
        return AzureSpeechProvider(settings.get("key"), settings.get("region"),
                                   base_url=settings.get("base_url"), timeout=settings.get("timeout", 60.0))
    raise ProviderNotConfigured(f"There is no voice provider called “{name}”.", provider=name)


__all__ = [
    "PROVIDERS", "AuthenticationFailed", "AzureSpeechProvider", "BadResponse", "EspeakVoiceProvider",
    "InvalidRequest", "OutOfVendorCredits", "ProviderError", "ProviderNotConfigured", "ProviderTimeout",
    "ProviderUnavailable", "ProviderUnreachable", "RateLimited", "SpeechResult", "Voice", "VoiceProvider",
    "WordTiming", "to_project_wav", "voice_provider",
]
