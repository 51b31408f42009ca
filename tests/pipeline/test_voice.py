"""Voice providers: real eSpeak NG synthesis, and Azure Speech against a fake of its REST API."""
from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

from app.pipeline.voice import (
    AuthenticationFailed,
    AzureSpeechProvider,
    InvalidRequest,
    OutOfVendorCredits,
    ProviderNotConfigured,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    RateLimited,
    SpeechResult,
    voice_provider,
)
from tests.fakes import closed_port_url
from tests.fakes.azure_speech import (
    LEADING_SILENCE,
    SECONDS_PER_CHARACTER,
    TRAILING_SILENCE,
    VOICES,
    FakeAzureSpeech,
)
from tests.pipeline.speech import assert_timings_cover, audio_of, mono, pitch_hz

SENTENCE = "The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun."
KEY = "azure-secret-key-456"


# ---- eSpeak NG ------------------------------------------------------------------------------

def test_espeak_speaks_at_48k_stereo_with_word_timings(tmp_path):
    result = voice_provider("espeak").synthesize(SENTENCE, "gmw/en-US")
    samples, rate, channels = audio_of(result, tmp_path)
    assert (rate, channels) == (48_000, 2)
    assert len(samples) / channels / rate == pytest.approx(result.duration, abs=0.01)
    assert 3.0 < result.duration < 8.0  # 16 words at 175 words a minute, plus pauses
    assert np.sqrt(np.mean(samples**2)) > 0.02  # real speech, not silence
    assert (result.provider, result.voice, result.timing_source) == ("espeak", "gmw/en-US", "engine")
    assert_timings_cover(result, SENTENCE)
    assert len({round(w.start, 2) for w in result.words}) == len(result.words)  # every word has its own start


def test_espeak_rate_changes_the_pace():
    provider = voice_provider("espeak")
    slow = provider.synthesize(SENTENCE, "en-us", rate=110)
    fast = provider.synthesize(SENTENCE, "en-us", rate=320)
    assert fast.duration < slow.duration * 0.6


def test_espeak_pitch_moves_the_voice_not_the_pace():
    provider = voice_provider("espeak")
    low, natural, high = (provider.synthesize(SENTENCE, "gmw/en-US", 160, pitch=p) for p in (-4, 0, 4))
    assert pitch_hz(*mono(high)) / pitch_hz(*mono(low)) == pytest.approx(2 ** (8 / 12), rel=0.1)
    assert low.duration == pytest.approx(natural.duration, rel=0.08)
    assert high.duration == pytest.approx(natural.duration, rel=0.08)
    natural_starts = [w.start for w in natural.words]
    assert [w.start for w in high.words] == pytest.approx(natural_starts, abs=0.15)  # timings follow the shift


def test_espeak_lists_voices_and_each_language_speaks():
    provider = voice_provider("espeak")
    voices = {v.id: v for v in provider.voices()}
    assert {"gmw/en-US", "roa/fr", "gmw/de", "roa/es", "sem/ar", "sit/cmn"} <= set(voices)
    assert voices["roa/fr"].name == "French (France)" and voices["roa/fr"].language == "fr-fr"
    for voice, text in [("roa/fr", "Bonjour à tous, ça va très bien."), ("sem/ar", "مرحبا بالعالم"),
                        ("sit/cmn", "你好世界，今天天气很好。")]:
        result = provider.synthesize(text, voice)
        assert result.duration > 0.8
        assert_timings_cover(result, text)


def test_espeak_refuses_unknown_voice_and_empty_text():
    provider = voice_provider("espeak")
    with pytest.raises(InvalidRequest, match="no voice called"):
        provider.synthesize("Hello", "xx-klingon")
    with pytest.raises(InvalidRequest, match="no words to speak"):
        provider.synthesize("  … ", "en-us")


def test_espeak_is_safe_from_several_threads():
    texts = ["One two three.", "A much longer sentence with quite a few more words in it than the first.",
             "Short.", "Four five six seven eight nine ten."]
    alone = {t: voice_provider("espeak").synthesize(t, "en-us") for t in texts}
    together: dict[str, SpeechResult] = {}

    def speak(text: str) -> None:
        together[text] = voice_provider("espeak").synthesize(text, "en-us")

    threads = [threading.Thread(target=speak, args=(t,)) for t in texts * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for text in texts:  # eSpeak varies by a few samples between runs, so compare with a tolerance
        assert together[text].duration == pytest.approx(alone[text].duration, abs=0.02)
        assert [w.word for w in together[text].words] == [w.word for w in alone[text].words]
        starts = [w.start for w in alone[text].words]
        assert [w.start for w in together[text].words] == pytest.approx(starts, abs=0.02)


def _speak_in_child(text: str, queue) -> None:
    result = voice_provider("espeak").synthesize(text, "en-us")
    queue.put((result.duration, [w.word for w in result.words]))


def test_espeak_works_in_a_forked_child_after_the_parent_used_it():
    text = "Spoken by a forked worker, as RQ does for every job."
    parent = voice_provider("espeak").synthesize(text, "en-us")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_speak_in_child, args=(text, queue), daemon=True)
    child.start()
    duration, words = queue.get(timeout=30)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert duration == pytest.approx(parent.duration, abs=0.02)
    assert words == [w.word for w in parent.words]


def test_espeak_works_in_a_child_forked_while_another_thread_was_speaking():
    from app.pipeline.voice.espeak import _shared_engine

    text = "Forked mid-sentence."
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    # Hold the engine as a speaking thread would at the moment RQ forks the work horse.
    with _shared_engine().lock:
        child = context.Process(target=_speak_in_child, args=(text, queue), daemon=True)
        child.start()
    duration, words = queue.get(timeout=30)
    child.join(timeout=60)
    assert child.exitcode == 0 and duration > 0.5 and words == ["Forked", "mid-sentence."]


# ---- Azure Speech -------------------------------------------------------------------------

@pytest.fixture
def fake():
    with FakeAzureSpeech(key=KEY) as server:
        yield server


def azure(fake, timeout=10.0) -> AzureSpeechProvider:
    return voice_provider("azure", key=KEY, region="westeurope", base_url=fake.url, timeout=timeout)


def test_azure_sends_escaped_ssml_and_returns_48k_stereo(fake, tmp_path):
    text = 'Tom & Jerry said "5 < 6" and \'7 > 3\' — <break time="9s"/> isn\'t markup here.'
    result = azure(fake).synthesize(text, "en-US-JennyNeural")
    sent = fake.last
    assert (sent.method, sent.path) == ("POST", "/cognitiveservices/v1")
    assert sent.headers["ocp-apim-subscription-key"] == KEY
    assert sent.headers["content-type"] == "application/ssml+xml"
    assert sent.headers["x-microsoft-outputformat"] == "riff-48khz-16bit-mono-pcm"
    assert sent.headers["user-agent"]
    assert fake.spoken[-1] == text  # the service parsed the SSML and read exactly the user's text
    samples, rate, channels = audio_of(result, tmp_path)
    assert (rate, channels) == (48_000, 2)
    expected = LEADING_SILENCE + len(text) * SECONDS_PER_CHARACTER + TRAILING_SILENCE
    assert result.duration == pytest.approx(expected, abs=0.02)
    assert (result.provider, result.timing_source) == ("azure", "aligned")  # the REST API sends no word events
    assert_timings_cover(result, text)
    # Aligned timings lie within the voiced part, not over the leading and trailing silence.
    assert result.words[0].start == pytest.approx(LEADING_SILENCE, abs=0.02)
    assert result.words[-1].end == pytest.approx(result.duration - TRAILING_SILENCE, abs=0.02)


def test_azure_drops_characters_xml_cannot_carry(fake):
    azure(fake).synthesize("Bell\x07 and null\x00 here", "en-US-GuyNeural")
    assert fake.spoken[-1] == "Bell  and null  here"


def test_azure_rate_and_pitch_are_sent_as_prosody(fake):
    natural = azure(fake).synthesize(SENTENCE, "en-US-JennyNeural")
    assert b"prosody" not in fake.last.body
    faster = azure(fake).synthesize(SENTENCE, "en-US-JennyNeural", rate=300, pitch=-2)
    assert b'<prosody rate="+100%" pitch="-2st">' in fake.last.body
    assert faster.duration < natural.duration


def test_azure_lists_voices(fake):
    voices = azure(fake).voices()
    assert (fake.last.method, fake.last.path) == ("GET", "/cognitiveservices/voices/list")
    assert fake.last.headers["ocp-apim-subscription-key"] == KEY
    assert {v.id for v in voices} == {v["ShortName"] for v in VOICES}
    jenny = next(v for v in voices if v.id == "en-US-JennyNeural")
    assert (jenny.name, jenny.language, jenny.gender) == ("Jenny", "en-US", "female")


@pytest.mark.parametrize("status, error, retryable", [
    (400, InvalidRequest, False), (401, AuthenticationFailed, False), (403, OutOfVendorCredits, False),
    (429, RateLimited, True), (500, ProviderUnavailable, True), (502, ProviderUnavailable, True),
    (503, ProviderUnavailable, True),
])
def test_azure_errors_become_specific_messages(fake, status, error, retryable):
    fake.will_fail(status, retry_after=4 if status == 429 else None)
    with pytest.raises(error) as caught:
        azure(fake).synthesize("Hello there", "en-US-JennyNeural")
    assert caught.value.retryable is retryable and caught.value.status == status
    assert "Azure Speech" in caught.value.user_message
    assert KEY not in f"{caught.value} {caught.value.detail} {caught.value!r}"
    if status == 429:
        assert caught.value.retry_after == 4


def test_azure_wrong_key_and_unknown_voice(fake):
    wrong = voice_provider("azure", key="not-the-key", region="westeurope", base_url=fake.url)
    with pytest.raises(AuthenticationFailed):
        wrong.synthesize("Hello", "en-US-JennyNeural")
    with pytest.raises(InvalidRequest, match="voice"):
        azure(fake).synthesize("Hello", "xx-XX-NobodyNeural")


def test_azure_timeout_and_refused_connection_are_retryable(fake):
    fake.will_stall(5)
    with pytest.raises(ProviderTimeout) as timed_out:
        azure(fake, timeout=0.3).synthesize("Hello", "en-US-JennyNeural")
    refused = voice_provider("azure", key=KEY, region="westeurope", base_url=closed_port_url())
    with pytest.raises(ProviderUnreachable) as unreachable:
        refused.synthesize("Hello", "en-US-JennyNeural")
    assert timed_out.value.retryable and unreachable.value.retryable


def test_azure_needs_key_and_region():
    with pytest.raises(ProviderNotConfigured):
        voice_provider("azure", region="westeurope")
    with pytest.raises(ProviderNotConfigured):
        voice_provider("azure", key=KEY)
    with pytest.raises(ProviderNotConfigured):
        voice_provider("azure", key=KEY, region="evil.example/")
    assert KEY not in repr(voice_provider("azure", key=KEY, region="westeurope"))
