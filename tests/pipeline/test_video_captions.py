"""Caption cues, SRT/WebVTT text, YouTube chapters and the frame timeline, checked as text a user gets."""
from __future__ import annotations

import re

from app.pipeline.video.captions import build_cues, to_srt, to_vtt
from app.pipeline.video.chapters import build_chapters
from app.pipeline.video.presets import PRESETS
from app.pipeline.video.timeline import Scene, Transition, build_timeline

HD = PRESETS["1080p30"]
SRT_TIME = re.compile(r"(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)")


def scene(duration: float, text: str = "", words=None, transition="cut", fade=0.5, topic=None) -> Scene:
    return Scene("unused.png", duration, text=text, words=words, transition=Transition(transition, fade), topic=topic)


def srt_cues(text: str) -> list[tuple[float, float, list[str]]]:
    cues = []
    for block in text.strip().split("\n\n"):
        number, times, *lines = block.split("\n")
        g = [int(x) for x in SRT_TIME.fullmatch(times).groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        cues.append((start, end, lines))
    return cues


def captions(scenes: list[Scene], spoken=None, preset=HD) -> list[tuple[float, float, list[str]]]:
    timeline = build_timeline(scenes, preset.fps)
    cues = build_cues(scenes, timeline, preset, spoken or [None] * len(scenes))
    return srt_cues(to_srt(cues, preset.fps))


def test_cues_follow_word_timings_shifted_to_the_scene_start():
    words = [("One", 0.5, 0.8), ("two", 0.9, 1.2), ("three.", 1.3, 1.7), ("Four", 2.5, 2.8), ("five", 2.9, 3.3)]
    scenes = [scene(4.0, "intro words here", transition="crossfade", fade=0.5), scene(5.0, words=words)]
    cues = captions(scenes, [3.0, 4.0])
    second_scene_start = 4.0 - 0.5
    spoken = [c for c in cues if c[2][0].startswith(("One", "Four"))]
    assert [c[2] for c in spoken] == [["One two three."], ["Four five"]]
    assert abs(spoken[0][0] - (second_scene_start + 0.5)) < 1 / 30 + 0.001
    assert abs(spoken[1][0] - (second_scene_start + 2.5)) < 1 / 30 + 0.001
    assert spoken[0][1] >= second_scene_start + 1.7 - 0.001, "a cue stays until its last word is spoken"
    assert spoken[0][1] <= spoken[1][0], "cues never overlap"


def test_long_text_becomes_cues_of_at_most_two_short_lines():
    text = " ".join(["Scriptreel turns written scripts into narrated videos with captions"] * 6)
    cues = captions([scene(30.0, text)], [28.0])
    assert len(cues) > 3
    for start, end, lines in cues:
        assert 1 <= len(lines) <= 2
        assert all(len(line) <= 42 for line in lines)
        assert end > start
    assert " ".join(w for c in cues for w in " ".join(c[2]).split()) == text
    assert cues[-1][1] <= 28.0 + 0.3 + 0.001, "spread over the narration, not the whole scene"
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:]))


def test_vertical_video_uses_shorter_lines():
    text = "A fairly long sentence that needs wrapping for a narrow vertical frame"
    cues = captions([scene(6.0, text)], preset=PRESETS["vertical1080x1920"])
    assert all(len(line) <= 28 for c in cues for line in c[2])


def test_next_scene_cue_cuts_the_previous_one_short():
    scenes = [scene(3.0, words=[("Still", 0.0, 1.0), ("talking", 1.0, 2.9)], transition="crossfade", fade=1.0),
              scene(3.0, words=[("Next", 0.0, 0.5)])]
    cues = captions(scenes)
    assert cues[0][1] == cues[1][0] == 2.0


def test_webvtt_matches_srt():
    scenes = [scene(2.0, words=[("Hello", 0.1, 0.4), ("مرحبا", 0.5, 0.9)])]
    timeline = build_timeline(scenes, 30)
    cues = build_cues(scenes, timeline, HD, [None])
    vtt = to_vtt(cues, 30)
    assert vtt == "WEBVTT\n\n00:00:00.100 --> 00:00:01.200\nHello مرحبا\n"
    assert to_srt(cues, 30) == "1\n00:00:00,100 --> 00:00:01,200\nHello مرحبا\n"


def test_chapters_start_at_zero_and_use_topic_starts():
    scenes = [scene(4.0, topic=None), scene(10.0, topic="Why"), scene(12.0, topic="How"),
              scene(15.0, transition="crossfade", fade=1.0, topic=None), scene(11.0, topic="Wrap-up")]
    chapters = build_chapters(scenes, build_timeline(scenes, 30))
    assert chapters.problem is None
    assert chapters.text == "00:00 Why\n00:14 How\n00:40 Wrap-up\n"


def test_chapters_shorter_than_ten_seconds_are_refused():
    scenes = [scene(20.0, topic="A"), scene(5.0, topic="B"), scene(20.0, topic="C")]
    chapters = build_chapters(scenes, build_timeline(scenes, 30))
    assert chapters.text == "" and "at least 10 s" in chapters.problem and "B" in chapters.problem


def test_chapters_past_an_hour():
    scenes = [scene(1800.0, topic="A"), scene(1800.0, topic="B"), scene(60.0, topic="C")]
    assert build_chapters(scenes, build_timeline(scenes, 30)).text == "00:00 A\n30:00 B\n1:00:00 C\n"


def test_timeline_overlaps_scenes_by_their_transitions():
    scenes = [scene(2.0, transition="crossfade", fade=0.5), scene(1.0, transition="wipe", fade=2.0),
              scene(3.0, transition="slide", fade=0.5)]
    timeline = build_timeline(scenes, 30)
    ins = [s.in_frames for s in timeline.slots]
    outs = [s.out_frames for s in timeline.slots]
    assert outs == [15, 15, 0], "a transition takes at most half of either scene; the last has none"
    assert ins == [0, 15, 15]
    assert timeline.total_frames == 60 + 30 + 90 - 30
    assert [s.hold_frames for s in timeline.slots] == [45, 0, 75]
