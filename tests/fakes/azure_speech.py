"""A fake Azure Speech text-to-speech REST API (cognitiveservices/v1 and voices/list), from its docs.

    with FakeAzureSpeech(key="k") as fake:
        provider = AzureSpeechProvider("k", "westeurope", base_url=fake.url)
"""
from __future__ import annotations

import io
import json
import re
import wave
import xml.etree.ElementTree as ET
from collections import deque

import numpy as np

from . import FakeServer, Recorded, Reply

SSML_NS = "{http://www.w3.org/2001/10/synthesis}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
OUTPUT_FORMATS = {"riff-48khz-16bit-mono-pcm": 48000, "riff-24khz-16bit-mono-pcm": 24000,
                  "riff-16khz-16bit-mono-pcm": 16000}
LEADING_SILENCE, TRAILING_SILENCE = 0.25, 0.35  # seconds around the "speech", as real voices have
SECONDS_PER_CHARACTER = 0.06


def _voice(short: str, display: str, gender: str, locale: str, locale_name: str) -> dict:
    return {"Name": f"Microsoft Server Speech Text to Speech Voice ({locale}, {short.split('-')[-1]})",
            "DisplayName": display, "LocalName": display, "ShortName": short, "Gender": gender,
            "Locale": locale, "LocaleName": locale_name, "SampleRateHertz": "48000", "VoiceType": "Neural",
            "Status": "GA", "WordsPerMinute": "150"}


VOICES = [
    _voice("en-US-JennyNeural", "Jenny", "Female", "en-US", "English (United States)"),
    _voice("en-US-GuyNeural", "Guy", "Male", "en-US", "English (United States)"),
    _voice("fr-FR-DeniseNeural", "Denise", "Female", "fr-FR", "French (France)"),
    _voice("de-DE-KatjaNeural", "Katja", "Female", "de-DE", "German (Germany)"),
]


class FakeAzureSpeech(FakeServer):
    """Checks headers and parses the SSML like the service; ``spoken`` holds the text it read."""

    def __init__(self, key: str = "azure-test-key"):
        super().__init__()
        self.key = key
        self.spoken: list[str] = []
        self._script: deque = deque()

    def will_fail(self, status: int, *, retry_after: float | None = None) -> None:
        self._script.append(("error", (status, retry_after)))

    def will_stall(self, seconds: float) -> None:
        self._script.append(("stall", seconds))

    def answer(self, req: Recorded) -> Reply:
        if req.headers.get("ocp-apim-subscription-key") != self.key:
            return Reply(401, b"", {})
        if self._script:
            kind, arg = self._script.popleft()
            if kind == "stall":
                return Reply(502, b"", {}, delay=arg)
            status, retry_after = arg
            return Reply(status, b"error", {"retry-after": str(retry_after)} if retry_after is not None else {})
        if req.method == "GET" and req.path == "/cognitiveservices/voices/list":
            return Reply(200, json.dumps(VOICES).encode(), {"content-type": "application/json; charset=utf-8"})
        if req.method == "POST" and req.path == "/cognitiveservices/v1":
            return self._synthesize(req)
        return Reply(404, b"", {})

    def _synthesize(self, req: Recorded) -> Reply:
        if req.headers.get("content-type", "").split(";")[0] != "application/ssml+xml":
            return Reply(415, b"Unsupported media type", {})
        rate = OUTPUT_FORMATS.get(req.headers.get("x-microsoft-outputformat", ""))
        if rate is None or not req.headers.get("user-agent"):
            return Reply(400, b"Missing or unsupported X-Microsoft-OutputFormat or User-Agent", {})
        try:
            speak = ET.fromstring(req.body)
        except ET.ParseError as exc:
            return Reply(400, f"SSML is not well-formed XML: {exc}".encode(), {})
        voice = speak.find(f"{SSML_NS}voice")
        if speak.tag != f"{SSML_NS}speak" or speak.get("version") != "1.0" or not speak.get(XML_LANG) or voice is None:
            return Reply(400, b"Invalid SSML: expected <speak version='1.0' xml:lang=...><voice>", {})
        if voice.get("name") not in {v["ShortName"] for v in VOICES}:
            return Reply(400, b"Unsupported voice", {})
        text = "".join(voice.itertext())
        self.spoken.append(text)
        speed = 1.0
        prosody = voice.find(f"{SSML_NS}prosody")
        if prosody is not None and re.fullmatch(r"[+-]\d+%", prosody.get("rate", "")):
            speed = 1 + int(prosody.get("rate")[:-1]) / 100
        return Reply(200, speech_wav(text, rate, speed), {"content-type": "audio/x-wav"})


def speech_wav(text: str, rate: int, speed: float = 1.0) -> bytes:
    """Silence, a tone lasting as long as reading ``text`` would, silence: 16-bit mono WAV."""
    voiced = max(0.3, len(text) * SECONDS_PER_CHARACTER / speed)
    t = np.arange(int(voiced * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t) ** 2)
    samples = np.concatenate([np.zeros(int(LEADING_SILENCE * rate)), tone, np.zeros(int(TRAILING_SILENCE * rate))])
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((samples * 32767).astype("<i2").tobytes())
    return out.getvalue()
