"""Scene-description suggestions: the offline suggester, and the chat model behind a fake endpoint."""
from __future__ import annotations

import json
import re

import pytest

from app.pipeline.llm import ChatConfig
from app.pipeline.suggestions import suggest, suggest_many, suggest_offline
from tests.fakes import closed_port_url
from tests.fakes.chat_completions import API_KEY, MODEL, FakeChatCompletions


@pytest.fixture
def fake_llm():
    with FakeChatCompletions() as fake:
        yield fake


def config_for(fake: FakeChatCompletions, key: str = API_KEY, timeout: float = 5.0) -> ChatConfig:
    return ChatConfig(base_url=fake.url + "/v1", api_key=key, model=MODEL, timeout=timeout)


LIGHTHOUSE = (
    "For more than a century the old lighthouse has guarded this stretch of rocky coast. "
    "Every evening at dusk the keeper climbs the spiral stairs to light the great lamp."
)
SHOT_WORDS = ("shot", "view", "close-up", "still life", "chart")


def longest_shared_run(description: str, narration: str) -> int:
    """Length in words of the longest word sequence the description copies from the narration."""
    said = [w.lower() for w in re.findall(r"\w+", narration)]
    written = [w.lower() for w in re.findall(r"\w+", description)]
    longest = 0
    for i in range(len(written)):
        for j in range(len(said)):
            k = 0
            while i + k < len(written) and j + k < len(said) and written[i + k] == said[j + k]:
                k += 1
            longest = max(longest, k)
    return longest


@pytest.mark.parametrize(
    "narration, expected_subject",
    [
        (LIGHTHOUSE, "lighthouse"),
        ("Photosynthesis happens inside the chloroplasts of a leaf, where sunlight splits water molecules.", "chloroplast"),
        ("In 1869 the Suez Canal opened, and ships no longer had to sail around Africa.", "suez canal"),
    ],
)
def test_offline_suggestion_describes_a_concrete_shot_without_copying_the_narration(narration, expected_subject):
    description = suggest_offline(narration)

    assert any(word in description.lower() for word in SHOT_WORDS), description
    assert expected_subject in description.lower() or expected_subject in description.lower().replace("stairs", ""), description
    assert longest_shared_run(description, narration) <= 3, description
    assert description != narration and len(description.split()) <= 70


def test_offline_suggestion_places_the_scene_and_its_light():
    description = suggest_offline(LIGHTHOUSE)

    assert "coast" in description and "dusk" in description
    assert "keeper" in description


def test_figures_become_an_infographic():
    description = suggest_offline("Sales grew by 40 percent in 2021, reaching $3 million across Europe.")

    assert description.startswith("Clean infographic-style chart")
    assert "sales" in description.lower()


def test_a_scene_with_no_subject_of_its_own_borrows_from_its_neighbours():
    description = suggest_offline(
        "Then everything changed.",
        previous="The textile factory closed its doors in 1982.",
        following="Workers marched through the city for weeks.",
    )

    assert "workers" in description and "city" in description


def test_offline_suggestions_are_deterministic():
    assert suggest_offline(LIGHTHOUSE) == suggest_offline(LIGHTHOUSE)
    assert suggest(LIGHTHOUSE).text == suggest_offline(LIGHTHOUSE)
    assert suggest(LIGHTHOUSE).source == "offline" and suggest(LIGHTHOUSE).note == ""


def test_llm_suggestion_sends_the_scene_its_neighbours_and_the_style(fake_llm):
    fake_llm.reply_with(lambda messages: "  Description: Low-angle shot of a white lighthouse against a violet dusk sky.  ")

    suggestion = suggest(
        LIGHTHOUSE,
        previous="The village sleeps below the cliffs.",
        following="Ships far out at sea steer by its beam.",
        style="flat vector illustration, warm palette",
        llm=config_for(fake_llm),
    )

    assert suggestion.text == "Low-angle shot of a white lighthouse against a violet dusk sky."
    assert suggestion.source == "llm" and suggestion.note == ""
    request = fake_llm.last
    assert request.method == "POST" and request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    payload = json.loads(request.body)
    assert payload["model"] == MODEL
    assert [m["role"] for m in payload["messages"]] == ["system", "user"]
    prompt = payload["messages"][1]["content"]
    for part in (LIGHTHOUSE, "The village sleeps below the cliffs.", "Ships far out at sea", "flat vector illustration"):
        assert part in prompt


@pytest.mark.parametrize(
    "script, expected",
    [
        (lambda fake: fake.will_fail(401, "Incorrect API key provided."), "rejected the API key (HTTP 401)"),
        (lambda fake: fake.will_fail(429, "Rate limit reached", retry_after=20), "limiting requests (HTTP 429). Try again in 20 s"),
        (lambda fake: fake.will_fail(500, "The server had an error"), "service failed (HTTP 500)"),
        (lambda fake: fake.will_fail(503, "Overloaded"), "service failed (HTTP 503)"),
        (lambda fake: fake.will_send(b"<html>Bad gateway</html>"), "not a chat completion"),
        (lambda fake: fake.will_send(b'{"choices": []}'), "not a chat completion"),
        (lambda fake: fake.will_stall(3), "did not answer within 1 s"),
    ],
)
def test_provider_failures_fall_back_offline_with_a_clear_note(fake_llm, script, expected):
    script(fake_llm)

    suggestion = suggest(LIGHTHOUSE, llm=config_for(fake_llm, timeout=1))

    assert suggestion.source == "offline"
    assert suggestion.text == suggest_offline(LIGHTHOUSE)
    assert expected in suggestion.note
    assert suggestion.note.endswith("Used the offline suggester instead.")


def test_a_wrong_key_is_reported_with_the_providers_words(fake_llm):
    suggestion = suggest(LIGHTHOUSE, llm=config_for(fake_llm, key="sk-wrong"))

    assert suggestion.source == "offline"
    assert "HTTP 401" in suggestion.note and "Incorrect API key provided." in suggestion.note


def test_an_unreachable_endpoint_falls_back():
    config = ChatConfig(base_url=closed_port_url() + "/v1", api_key=API_KEY, model=MODEL, timeout=2)

    suggestion = suggest(LIGHTHOUSE, llm=config)

    assert suggestion.source == "offline" and "Could not reach the language model" in suggestion.note


def test_suggest_many_stops_calling_a_failing_provider(fake_llm):
    scenes = [LIGHTHOUSE, "The keeper's daughter rows to the island with supplies.", "A storm breaks over the bay at night."]
    fake_llm.will_fail(503, "Overloaded")
    progress: list[float] = []

    results = suggest_many(scenes, [0, 1, 2], llm=config_for(fake_llm), on_progress=lambda f, m: progress.append(f))

    assert len(fake_llm.chat_requests) == 1  # later scenes did not wait for a failing provider
    assert [results[i].source for i in range(3)] == ["offline"] * 3
    assert all("HTTP 503" in results[i].note for i in range(3))
    assert results[2].text == suggest_offline(scenes[2], previous=scenes[1])
    assert progress == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_suggest_many_uses_the_model_with_neighbours_as_context(fake_llm):
    scenes = ["Scene one is about bread.", "Scene two is about ovens.", "Scene three is about flour mills."]
    fake_llm.reply_with(lambda messages: f"Shot for: {messages[1]['content'].split('THIS scene: ')[1].splitlines()[0]}")

    results = suggest_many(scenes, [1, 2], llm=config_for(fake_llm), should_cancel=lambda: False)

    assert results[1].text == "Shot for: Scene two is about ovens." and results[1].source == "llm"
    assert "Scene one is about bread." in fake_llm.chat_requests[0]["messages"][1]["content"]
    assert set(results) == {1, 2}


def test_suggest_many_can_be_cancelled():
    results = suggest_many([LIGHTHOUSE, LIGHTHOUSE], [0, 1], should_cancel=lambda: True)

    assert results == {}
