"""Segmentation: sentence splitting, topics, timed scenes, and the LLM segmenter behind a fake endpoint."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.pipeline.llm import ChatConfig
from app.pipeline.segmentation import (
    Segmentation,
    estimate_seconds,
    segment,
    sentence_spans,
    to_json,
    word_count,
)
from tests.fakes.chat_completions import API_KEY, MODEL, FakeChatCompletions

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = {d["name"]: d["text"] for d in json.loads((ROOT / "bench/data/factbook_backgrounds.json").read_text())["documents"]}


def sentences_of(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def first_sentences(name: str, count: int) -> list[str]:
    return sentences_of(DOCUMENTS[name])[:count]


# --- sentences -------------------------------------------------------------------------------

def test_hard_sentence_boundaries():
    text = "Dr. Smith paid $3.50 at 5 p.m. on Jan. 3. Then J. R. R. Tolkien said “Wait…” and left."

    assert sentences_of(text) == [
        "Dr. Smith paid $3.50 at 5 p.m. on Jan. 3.",
        "Then J. R. R. Tolkien said “Wait…” and left.",
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ("The U.S. Army arrived. It was 3.14 km away... Nobody knew! Why?",
         ["The U.S. Army arrived.", "It was 3.14 km away...", "Nobody knew!", "Why?"]),
        ("She earned a Ph.D. in 1999. Then she moved to Washington, D.C. with Mr. T. Jones.",
         ["She earned a Ph.D. in 1999.", "Then she moved to Washington, D.C. with Mr. T. Jones."]),
        ("Steps:\n1. Boil the water.\n2. Add 2.5 cups of rice\n3. Wait 20 min.",
         ["Steps:", "1. Boil the water.", "2. Add 2.5 cups of rice", "3. Wait 20 min."]),
        ("- first point\n- second point", ["- first point", "- second point"]),
        ("A line that wraps\nonto the next line. Done.", ["A line that wraps\nonto the next line.", "Done."]),
        ("这是第一句。这是第二句！ 第三句？", ["这是第一句。", "这是第二句！", "第三句？"]),
    ],
)
def test_sentence_spans_are_exact(text, expected):
    spans = sentence_spans(text)

    assert [text[s:e] for s, e in spans] == expected
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_sentence_spans_skip_surrounding_whitespace_and_keep_headings():
    text = "  # Title\n\n  First one.   Second one.  \n"

    assert sentences_of(text) == ["# Title", "First one.", "Second one."]


# --- helpers ---------------------------------------------------------------------------------

def test_word_count_and_estimate_seconds():
    assert word_count("The keeper's lamp cost $3.50 in 1869 — a fortune.") == 9
    assert word_count("# A heading is a title\nNarration starts here.") == 3
    assert word_count("灯塔守护着海岸") == 4  # about two characters per spoken word
    assert estimate_seconds("word " * 150, wpm=150) == 60.0
    assert estimate_seconds("word " * 150, wpm=300) == 30.0
    with pytest.raises(ValueError):
        estimate_seconds("word", wpm=0)


# --- invariants ------------------------------------------------------------------------------

MIXED = (
    "# Coasts\n\nFor more than a century the old lighthouse has guarded this stretch of rocky coast. "
    "Every evening at dusk the keeper climbs the spiral stairs to light the great lamp.\n\n"
    "Ships far out at sea steer by its beam.\n\n## Bread\n\n"
    "Sourdough starts with a starter: flour and water, left to ferment for days. "
    "Wild yeasts and bacteria give the bread its sour taste and open crumb.\r\n"
    "  Trailing spaces, odd   gaps and a Unicode tail: 灯塔。 المنارة. המגדלור.  \n\n\n"
)


def corpus_texts() -> list[str]:
    names = list(DOCUMENTS)
    paragraphs = "\n\n".join(DOCUMENTS[n] for n in names[:6])
    return [
        MIXED,
        paragraphs,
        " ".join(paragraphs.split()),
        "\n\n" + DOCUMENTS[names[7]] + "\n",
        "One short line",
        "#\n\nA heading with no words above this sentence.",
        "Wait…\n\n\n   ",
    ]


def assert_tiles(text: str, result: Segmentation) -> None:
    scenes = result.segments
    assert scenes[0].start == 0 and scenes[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(scenes, scenes[1:]))
    assert all(s.text == text[s.start : s.end] and s.start < s.end for s in scenes)
    assert "".join(s.text for s in scenes) == text
    topics = result.topics
    assert topics[0].start == 0 and topics[-1].end == len(text)
    assert all(a.end == b.start for a, b in zip(topics, topics[1:]))
    assert [s.topic for s in scenes] == sorted(s.topic for s in scenes)
    assert {s.topic for s in scenes} == set(range(len(topics)))
    scene_starts = {s.start for s in scenes}
    assert all(t.start in scene_starts for t in topics)
    for index, topic in enumerate(topics):
        members = [s for s in scenes if s.topic == index]
        assert (members[0].start, members[-1].end) == (topic.start, topic.end)
        assert topic.title.strip()


@pytest.mark.parametrize("text", corpus_texts(), ids=range(len(corpus_texts())))
def test_scenes_and_topics_tile_the_text(text):
    result = segment(text)

    assert_tiles(text, result)
    assert all(s.seconds == estimate_seconds(s.text) for s in result.segments)


def test_text_without_words_has_no_scenes():
    assert segment("") == Segmentation([], [])
    assert segment(" \n\n\t") == Segmentation([], [])


def test_headings_become_topics_with_their_titles():
    result = segment(MIXED)

    assert [t.title for t in result.topics] == ["Coasts", "Bread"]
    assert MIXED[result.topics[1].start :].startswith("## Bread")
    assert result.segments[0].text.startswith("# Coasts\n\nFor more than a century")


def test_heading_emphasis_is_dropped_from_titles():
    result = segment("# The **Big** _Idea_\n\nSome words follow here for a while, enough for one scene.")

    assert result.topics[0].title == "The Big Idea"


def test_topics_are_found_in_unbroken_prose():
    parts = [first_sentences("Egypt", 8), first_sentences("Fiji", 8), first_sentences("Japan", 8)]
    text = " ".join(s for part in parts for s in part)
    true_starts = [text.index(parts[1][0]), text.index(parts[2][0])]

    found = [t.start for t in segment(text).topics[1:]]

    assert len(found) == 2
    sentence_starts = [s for s, _ in sentence_spans(text)]
    for truth, guess in zip(true_starts, found):
        assert abs(sentence_starts.index(truth) - sentence_starts.index(guess)) <= 1


def test_paragraph_breaks_decide_where_topics_change():
    parts = [first_sentences("Egypt", 5), first_sentences("Fiji", 4), first_sentences("Japan", 6)]
    text = "\n\n".join(" ".join(part) for part in parts)

    found = [t.start for t in segment(text).topics]

    assert found == [0, text.index(parts[1][0]), text.index(parts[2][0])]
    assert all(t.title and len(t.title.split()) <= 6 for t in segment(text).topics)


def test_one_subject_in_several_paragraphs_stays_one_topic():
    text = (
        "The old lighthouse stands on the rocky headland above the harbour. Its white tower is forty metres tall.\n\n"
        "Every evening the lighthouse keeper climbs the tower to light the lamp. The lamp turns all night.\n\n"
        "From the lighthouse gallery the keeper watches the harbour and the ships passing the headland."
    )

    assert len(segment(text).topics) == 1


# --- timing ----------------------------------------------------------------------------------

SHORT_SENTENCES = " ".join(
    f"Sentence number {i} has {'a few more words to say' if i % 3 else 'few words'}." for i in range(1, 40)
)


@pytest.mark.parametrize("low, high", [(4, 15), (2, 6), (8, 20)])
def test_scene_lengths_stay_in_range_when_sentences_allow(low, high):
    result = segment(SHORT_SENTENCES, min_seconds=low, max_seconds=high)

    assert all(low <= s.seconds <= high for s in result.segments), [s.seconds for s in result.segments]


def test_speaking_rate_changes_durations_and_cuts():
    slow = segment(SHORT_SENTENCES, wpm=100)
    fast = segment(SHORT_SENTENCES, wpm=200)

    assert sum(s.seconds for s in slow.segments) == pytest.approx(2 * sum(s.seconds for s in fast.segments), rel=0.02)
    assert len(slow.segments) > len(fast.segments)


def test_a_long_sentence_is_split_at_its_clauses():
    long_sentence = (
        "When the storm finally reached the harbour after three days at sea, the fishermen pulled their boats "
        "high onto the shingle, the women carried the nets up to the church hall, and the children watched "
        "from the sea wall as the first grey waves broke over the lighthouse rocks."
    )

    result = segment(long_sentence)

    assert estimate_seconds(long_sentence) > 15
    assert len(result.segments) >= 2
    assert all(4 <= s.seconds <= 15 for s in result.segments)
    assert result.segments[0].text.rstrip().endswith(",")


def test_a_long_sentence_without_clauses_stays_whole():
    sentence = " ".join(["word"] * 60) + "."

    result = segment(sentence)

    assert len(result.segments) == 1 and result.segments[0].seconds == 24.0


def test_a_short_scene_joins_its_more_related_neighbour():
    text = (
        "The lighthouse keeper climbs the spiral stairs of the old stone tower every single evening. "
        "The lighthouse lamp glows. "
        "Meanwhile, in the valley below, farmers bring the late harvest of apples home from the orchards."
    )

    scenes = [s.text.strip() for s in segment(text).segments]

    assert scenes[0].endswith("The lighthouse lamp glows.")


def test_invalid_timing_settings_are_refused():
    with pytest.raises(ValueError):
        segment("Some text.", min_seconds=10, max_seconds=5)
    with pytest.raises(ValueError):
        segment("Some text.", wpm=0)


# --- determinism and JSON --------------------------------------------------------------------

def test_segmentation_is_deterministic_across_processes():
    program = (
        "import json, sys; from app.pipeline.segmentation import segment, to_json; "
        "print(json.dumps(to_json(segment(sys.stdin.read()))))"
    )
    text = "\n\n".join(corpus_texts()[:3])
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"  # a different string hashing than ours
    env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}

    run = subprocess.run([sys.executable, "-c", program], input=text, capture_output=True, text=True, env=env, check=True)

    assert json.loads(run.stdout) == to_json(segment(text))
    assert segment(text) == segment(text)


def test_json_shape():
    data = to_json(segment(MIXED))

    assert set(data) == {"topics", "segments"}
    assert all(set(t) == {"title", "start", "end"} for t in data["topics"])
    assert all(set(s) == {"text", "start", "end", "seconds", "topic"} for s in data["segments"])
    assert json.loads(json.dumps(data)) == data


# --- the LLM segmenter -----------------------------------------------------------------------

THREE_TOPICS = "\n\n".join(" ".join(first_sentences(n, 4)) for n in ("Egypt", "Fiji", "Japan"))


@pytest.fixture
def fake_llm():
    with FakeChatCompletions() as fake:
        yield fake


def llm_config(fake, timeout: float = 5.0) -> ChatConfig:
    return ChatConfig(base_url=fake.url + "/v1", api_key=API_KEY, model=MODEL, timeout=timeout)


def test_llm_segmenter_uses_the_models_topics_and_titles(fake_llm):
    fake_llm.reply_with(
        lambda messages: '```json\n{"topics": [{"start": 0, "title": "Land of the Nile"}, '
        '{"start": 6, "title": "Pacific Islands"}]}\n```'
    )

    result = segment(THREE_TOPICS, llm=llm_config(fake_llm))

    assert result.method == "llm" and result.note == ""
    assert [t.title for t in result.topics] == ["Land of the Nile", "Pacific Islands"]
    sentence_starts = [s for s, _ in sentence_spans(THREE_TOPICS)]
    assert result.topics[1].start == sentence_starts[6]
    assert_tiles(THREE_TOPICS, result)
    prompt = json.loads(fake_llm.last.body)["messages"][1]["content"]
    assert prompt.startswith("[0] ") and "\n[11] " in prompt


def test_llm_segmenter_keeps_the_authors_headings(fake_llm):
    fake_llm.reply_with(lambda messages: '{"topics": [{"start": 0, "title": "Everything"}]}')

    result = segment(MIXED, llm=llm_config(fake_llm))

    assert result.method == "llm"
    assert [t.title for t in result.topics] == ["Coasts", "Bread"]
    assert_tiles(MIXED, result)


@pytest.mark.parametrize(
    "script, expected",
    [
        (lambda fake: fake.will_fail(401, "Incorrect API key provided."), "HTTP 401"),
        (lambda fake: fake.will_fail(429, "Slow down"), "HTTP 429"),
        (lambda fake: fake.will_fail(502, "Bad gateway"), "HTTP 502"),
        (lambda fake: fake.will_stall(3), "did not answer within 1 s"),
        (lambda fake: fake.reply_with(lambda m: "Sure! Chapter one starts at the beginning."), "not the JSON we asked for"),
        (lambda fake: fake.reply_with(lambda m: '{"topics": [{"start": 999, "title": "Nope"}]}'), "does not exist"),
        (lambda fake: fake.reply_with(lambda m: '{"chapters": []}'), "no list of topics"),
    ],
)
def test_llm_segmenter_failures_fall_back_to_offline(fake_llm, script, expected):
    script(fake_llm)

    result = segment(THREE_TOPICS, llm=llm_config(fake_llm, timeout=1))

    assert result.method == "offline"
    assert expected in result.note and result.note.endswith("Used the offline segmenter instead.")
    offline = segment(THREE_TOPICS)
    assert (result.topics, result.segments) == (offline.topics, offline.segments)
    assert_tiles(THREE_TOPICS, result)
