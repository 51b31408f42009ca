"""Azure Speech text-to-speech over its REST endpoint: SSML in, 48 kHz WAV out."""
from __future__ import annotations

import re
import wave

import httpx

from app.pipeline.ffmpeg import Cancelled
from app.pipeline.images.base import (
    AuthenticationFailed,
    BadResponse,
    InvalidRequest,
    OutOfVendorCredits,
    ProviderError,
    ProviderNotConfigured,
    ProviderUnavailable,
    RateLimited,
    retry_after_seconds,
    send,
)
from app.pipeline.video.audio import read_wav_mono

from .align import align_words
from .base import (
    CancelCheck,
    ProgressCallback,
    SpeechResult,
    Voice,
    pcm_to_project_wav,
    require_text,
)

VENDOR = "Azure Speech"
OUTPUT_FORMAT = "riff-48khz-16bit-mono-pcm"
NATURAL_RATE = 150  # words per minute Azure's neural voices speak at by default, roughly
DEFAULT_VOICE = "en-US-JennyNeural"
USER_AGENT = "Scriptreel"
# Characters XML 1.0 forbids even when escaped; Azure rejects the whole request over one of them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_REGION = re.compile(r"^[a-z0-9]+$")


def _xml_text(value: str) -> str:
    value = _XML_INVALID.sub(" ", value)
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def _locale(voice: str) -> str:
    return "-".join(voice.split("-")[:2]) or "en-US"


def build_ssml(text: str, voice: str, rate: int | None = None, pitch: float = 0) -> str:
    """The SSML document asking ``voice`` to read ``text`` (escaped), at ``rate`` words per minute,
    ``pitch`` semitones up or down (the voice's own intonation, not a shifted recording)."""
    locale = _locale(voice)
    body = _xml_text(text)
    prosody = []
    if rate:
        percent = min(200.0, max(-50.0, (rate / NATURAL_RATE - 1) * 100))  # the range Azure honours
        prosody.append(f'rate="{percent:+.0f}%"')
    if pitch:
        prosody.append(f'pitch="{pitch:+g}st"')
    if prosody:
        body = f'<prosody {" ".join(prosody)}>{body}</prosody>'
    return (f'<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="{_xml_text(locale)}">'
            f'<voice name="{_xml_text(voice)}">{body}</voice></speak>')


class AzureSpeechProvider:
    """Neural voices from Azure; the REST endpoint gives no word events (only the SDK's websocket
    does), so the text is aligned to the audio it sends back."""

    name = "azure"
    default_voice = DEFAULT_VOICE
    default_rate = NATURAL_RATE

    def __init__(self, key: str | None, region: str | None, *, base_url: str | None = None,
                 timeout: float = 60.0):
        if not key or not (region or base_url):
            raise ProviderNotConfigured(
                "Azure Speech needs a key and a region. An admin can add them in the workspace settings, "
                "or pick the offline eSpeak voice.", provider=VENDOR)
        if region and not _REGION.match(region):
            raise ProviderNotConfigured(f"“{region}” is not an Azure region name (e.g. westeurope).",
                                        provider=VENDOR)
        self._key = key
        self._base_url = (base_url or f"https://{region}.tts.speech.microsoft.com").rstrip("/")
        self._timeout = timeout

    def __repr__(self) -> str:  # never show the key
        return f"AzureSpeechProvider(base_url={self._base_url!r})"

    def voices(self) -> list[Voice]:
        """The region's voices, by locale then name."""
        response = self._request("GET", "/cognitiveservices/voices/list")
        try:
            listing = [Voice(id=v["ShortName"], name=v.get("DisplayName") or v["ShortName"],
                             language=v.get("Locale", ""), gender=(v.get("Gender") or "").lower() or None)
                       for v in response.json()]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise BadResponse(f"{VENDOR} sent a voice list that could not be read.", provider=VENDOR) from None
        return sorted(listing, key=lambda v: (v.language, v.name))

    def synthesize(self, text: str, voice: str = DEFAULT_VOICE, rate: int | None = None, *, pitch: float = 0,
                   on_progress: ProgressCallback | None = None,
                   should_cancel: CancelCheck | None = None) -> SpeechResult:
        """Speak ``text``; its words are then aligned to the audio."""
        text = require_text(text, VENDOR)
        if on_progress:
            on_progress(0.1, f"Asking {VENDOR}")
        ssml = build_ssml(text, voice, rate, pitch)
        response = self._request("POST", "/cognitiveservices/v1", content=ssml.encode(),
                                 headers={"Content-Type": "application/ssml+xml",
                                          "X-Microsoft-OutputFormat": OUTPUT_FORMAT})
        if not response.content.startswith(b"RIFF"):
            raise BadResponse(f"{VENDOR} answered without audio. Try again.", provider=VENDOR, status=200)
        try:
            samples, sample_rate = read_wav_mono(response.content)
        except (wave.Error, EOFError, ValueError):
            raise BadResponse(f"{VENDOR} sent audio that could not be read. Try again.",
                              provider=VENDOR, status=200) from None
        if should_cancel and should_cancel():
            raise Cancelled()
        if on_progress:
            on_progress(0.5, "Finding each word in the audio")
        words = align_words(samples, sample_rate, text, _locale(voice))
        if on_progress:
            on_progress(0.8, "Converting to 48 kHz stereo")
        wav, duration = pcm_to_project_wav(response.content)
        return SpeechResult(wav=wav, duration=duration, words=words, voice=voice, provider=self.name,
                            timing_source="aligned")

    def _request(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> httpx.Response:
        headers = {"Ocp-Apim-Subscription-Key": self._key, "User-Agent": USER_AGENT, **(headers or {})}
        with httpx.Client(timeout=self._timeout) as client:
            response = send(client, method, self._base_url + path, vendor=VENDOR, headers=headers, **kwargs)
        if response.status_code != 200:
            raise _error_for(response)
        return response


def _error_for(response: httpx.Response) -> ProviderError:
    status = response.status_code
    common = {"provider": VENDOR, "status": status, "detail": response.text[:300]}
    if status == 400:
        return InvalidRequest(f"{VENDOR} rejected the request (often an unknown voice for this region). "
                              "Pick another voice and try again.", **common)
    if status == 401:
        return AuthenticationFailed(f"{VENDOR} refused the key. Check that the key and region in the "
                                    "workspace settings belong together.", **common)
    if status == 403:
        return OutOfVendorCredits(f"{VENDOR} refused access: the resource's quota may be used up, or the "
                                  "key is not allowed to use it. An admin needs to check the Azure account.",
                                  **common)
    if status == 429:
        return RateLimited(f"{VENDOR} is limiting how fast we can ask. The scene will be retried shortly.",
                           retry_after=retry_after_seconds(response), **common)
    if status >= 500:
        return ProviderUnavailable(f"{VENDOR} had a server error (HTTP {status}). Try again in a few minutes.",
                                   retry_after=retry_after_seconds(response), **common)
    return InvalidRequest(f"{VENDOR} refused the request (HTTP {status}).", **common)
