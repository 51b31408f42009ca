"""Caption cues, SRT/WebVTT text, burned-in caption documents, YouTube chapters and the frame timeline,
checked as text a user gets."""
from __future__ import annotations

import re

import pytest

from app.pipeline.video.burn import ass_for_frames, ass_header, caption_band, state_changes
from app.pipeline.video.captions import FUNCTION_WORDS, build_cues, to_srt, to_vtt
from app.pipeline.video.chapters import build_chapters
from app.pipeline.video.presets import PRESETS
from app.pipeline.video.style import CaptionStyle
from app.pipeline.video.timeline import Narration, Scene, Transition, build_timeline

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
    narration = [Narration(0.0, s) if s else None for s in spoken or [None] * len(scenes)]
    cues = build_cues(scenes, timeline, preset, narration)
    return srt_cues(to_srt(cues, preset.fps))


def timed(text: str, seconds_per_word: float = 0.32, start: float = 0.0) -> list[tuple[str, float, float]]:
    """Word timings at an even pace, with a longer breath after each sentence."""
    words, t = [], start
    for word in text.split():
        words.append((word, t, t + seconds_per_word - 0.05))
        t += seconds_per_word + (0.35 if word.endswith((".", "!", "?")) else 0.0)
    return words


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


def test_word_timings_count_from_the_first_sound():
    """Speech is placed so its first sound starts the scene: timings shift by the file's leading silence."""
    scenes = [scene(3.0, words=[("Late", 0.4, 0.8), ("start.", 0.9, 1.4)])]
    cues = build_cues(scenes, build_timeline(scenes, 30), HD, [Narration(0.4, 1.4)])
    assert cues[0].start == 0 and cues[0].word_starts == (0, 15)


def test_long_text_becomes_cues_of_at_most_two_short_lines():
    text = " ".join(["Scriptreel turns written scripts into narrated videos with captions"] * 6)
    cues = captions([scene(30.0, text)], [28.0])
    assert len(cues) > 3
    for start, end, lines in cues:
        assert 1 <= len(lines) <= 2
        assert all(len(line) <= 42 for line in lines)
        assert 1.0 - 0.001 <= end - start <= 7.0 + 0.001
    assert " ".join(w for c in cues for w in " ".join(c[2]).split()) == text
    assert cues[-1][1] <= 28.0 + 0.4 + 0.001, "spread over the narration, not the whole scene"
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:]))


PROSE = ("Most lighthouses were built over the course of a year. Keepers lived in them with their families, "
         "and they kept the lamps burning through every storm of the winter. Today the lights are automatic, "
         "but many towers are open to visitors in the summer months, and some of them even rent out rooms "
         "for the night.")


@pytest.mark.parametrize("preset", ["1080p30", "vertical1080x1920"])
def test_cues_break_at_phrases_never_after_a_function_word(preset):
    scenes = [scene(40.0, words=timed(PROSE))]
    cues = build_cues(scenes, build_timeline(scenes, 30), PRESETS[preset], [Narration(0.0, 38.0)])
    lines = [line for cue in cues for line in cue.lines]
    assert all(line.split()[-1].lower() not in FUNCTION_WORDS for line in lines), lines
    assert "over the course of a year." in " ".join(lines)
    assert not any(line.endswith(("over the", "over")) for line in lines)
    # A sentence's last word or two never stand alone as a cue of their own.
    assert all(len(cue.words) > 2 or cue.words[0][0].isupper() for cue in cues), [c.lines for c in cues]


def test_a_short_last_word_still_gets_a_second():
    """The vertical preset once made a 0.77 s cue of "printing." at the end of a scene."""
    words = timed("Gutenberg changed everything with printing.", 0.3)
    scenes = [scene(3.0, words=words, transition="crossfade"), scene(3.0, words=timed("Next scene."))]
    timeline = build_timeline(scenes, 30)
    cues = build_cues(scenes, timeline, PRESETS["vertical1080x1920"], [Narration(0, 2.0), Narration(0, 1.0)])
    assert all(c.end - c.start >= 30 for c in cues), [(c.lines, c.end - c.start) for c in cues]
    assert all(c.end <= timeline.slots[1].start for c in cues if "Next" not in c.lines[0]), "no cue into the next scene"


def test_webvtt_matches_srt():
    scenes = [scene(2.0, words=[("Hello", 0.1, 0.4), ("مرحبا", 0.5, 0.9)])]
    timeline = build_timeline(scenes, 30)
    cues = build_cues(scenes, timeline, HD, [None])
    vtt = to_vtt(cues, 30)
    assert vtt == "WEBVTT\n\n00:00:00.100 --> 00:00:01.300\nHello مرحبا\n"
    assert to_srt(cues, 30) == "1\n00:00:00,100 --> 00:00:01,300\nHello مرحبا\n"


def test_word_style_highlights_each_word_in_turn():
    style = CaptionStyle(style="words", highlight="#FF8800")
    scenes = [scene(3.0, words=[("Ships", 0.0, 0.3), ("sail", 0.4, 0.7), ("home.", 0.8, 1.2)])]
    cues = build_cues(scenes, build_timeline(scenes, 30), HD, [None])
    assert state_changes(cues, 0, 90, style) == [12, 24, cues[0].end]
    assert state_changes(cues, 0, 90, CaptionStyle()) == [cues[0].end], "plain captions change once"
    ass = ass_for_frames(cues, HD, style, [0, 12, 24, 60])
    events = [line for line in ass.splitlines() if line.startswith("Dialogue:")]
    lit = "{\\1c&H000088FF&}"  # ASS colours are &HAABBGGRR
    assert [e.split(",,")[-1] for e in events] == [f"{lit}Ships{{\\r}} sail home.", f"Ships {lit}sail{{\\r}} home.",
                                                   f"Ships sail {lit}home.{{\\r}}"]
    # Fed frame n shows at n / 30 s: each event spans exactly its fed frame.
    assert [e.split(",")[1:3] for e in events] == [["0:00:00.00", "0:00:00.02"], ["0:00:00.02", "0:00:00.05"],
                                                   ["0:00:00.05", "0:00:00.08"]]


def test_style_settings_reach_the_ass_style():
    header = ass_header(HD, CaptionStyle(position="top", size="large", font="DejaVu Serif", colour="#112233",
                                         box="#445566"))
    style = next(line for line in header.splitlines() if line.startswith("Style:")).split(",")
    assert style[1] == "DejaVu Serif" and style[3] == "&H00332211" and style[6].endswith("665544")
    assert style[18] == "8", "top centre"
    medium = next(line for line in ass_header(HD, CaptionStyle()).splitlines() if line.startswith("Style:"))
    assert int(style[2]) > int(medium.split(",")[2])
    with pytest.raises(ValueError):
        CaptionStyle(colour="red")


def test_caption_band_follows_the_position():
    bottom, top = caption_band(HD, CaptionStyle()), caption_band(HD, CaptionStyle(position="top"))
    assert 0.7 < bottom[0] < bottom[1] <= 0.95 and 0.05 <= top[0] < top[1] < 0.3


def test_chapters_start_at_zero_and_use_topic_starts():
    scenes = [scene(4.0, topic=None), scene(10.0, topic="Why"), scene(12.0, topic="How"),
              scene(15.0, transition="crossfade", fade=1.0, topic=None), scene(11.0, topic="Wrap-up")]
    chapters = build_chapters(scenes, build_timeline(scenes, 30))
    assert chapters.problem is None
    assert chapters.text == "00:00 Why\n00:14 How\n00:40 Wrap-up\n"


def test_chapter_times_are_rounded_up_into_their_own_chapter():
    scenes = [scene(12.6, topic="A"), scene(12.0, topic="B"), scene(12.0, topic="C")]
    assert build_chapters(scenes, build_timeline(scenes, 30)).text == "00:00 A\n00:13 B\n00:25 C\n"


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
