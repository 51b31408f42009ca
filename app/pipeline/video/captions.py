"""Caption cues from word timings (or evenly spread text), cut at phrase boundaries, written as SRT and WebVTT.

A cue shows at most two lines of at most 42 characters (fewer for narrow or large captions), for
1 to 7 seconds, and never runs into the next scene. Where to cut is chosen for the whole scene at
once: after a sentence, then after a clause, before a phrase-opening word, at a pause; never after
a word like "the" or "of", and never so that a sentence's last word or two stand alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .presets import VideoPreset
from .timeline import Narration, Scene, Timeline, WordTiming

MAX_CUE_SECONDS = 7.0
MIN_CUE_SECONDS = 1.0
LINGER_SECONDS = 0.4  # a cue stays up a little after its last word, for reading
LONG_PAUSE_SECONDS = 0.8  # a cue showing words this long before they are spoken gives them away
_SENTENCE_END = re.compile(r"[.!?…。؟！？]['\"”’)»]*$")
_CLAUSE_END = re.compile(r"[,;:–—)\]»”]['\"”’]*$")
# Words that lean on the next one: a line or cue that ends with one breaks a phrase in two.
FUNCTION_WORDS = frozenset("""
a an the this that these those my your his her its our their some any no every each
of to in on at by for with from into onto over under about above below between through during
after before since until without within upon across along against among around behind beyond
and or but nor so yet if than as because while although though whether
is are was were be been being am has have had do does did will would can could shall should may
might must not very more most less least much many such own same
""".split())


@dataclass(frozen=True)
class Cue:
    """One caption on screen, in output frames (end exclusive), and the frame each of its words starts."""

    start: int
    end: int
    lines: tuple[str, ...]
    word_starts: tuple[int, ...] = ()

    @property
    def words(self) -> list[str]:
        return " ".join(self.lines).split(" ")


def max_line_chars(preset: VideoPreset, size: str = "medium") -> int:
    """Characters per line: 42 across a landscape frame, fewer on a narrow one or with large letters."""
    chars = 28 if preset.vertical else 42
    return round(chars * 0.8) if size == "large" else chars


def _bare(word: str) -> str:
    return word.strip("\"'“”‘’()[]«»¿¡").lower()


def _break_cost(word: str, following: str | None, pause: float) -> float:
    """How bad it is to end a line or cue after `word` (None: the scene's last word)."""
    if following is None or _SENTENCE_END.search(word):
        return 0.0
    if _bare(word) in FUNCTION_WORDS and not _CLAUSE_END.search(word):
        return 40.0
    if _CLAUSE_END.search(word) or following[:1] in "(–—":
        return 1.0
    if pause >= 0.25:
        return 1.5
    return 3.0 if _bare(following) in FUNCTION_WORDS else 6.0


def wrap_lines(words: list[str], max_chars: int) -> tuple[list[str], float] | None:
    """One line if it fits, else the best two lines of at most max_chars (and its cost); None if it can't fit."""
    text = " ".join(words)
    if len(text) <= max_chars:
        return [text], 0.0
    best = None
    for k in range(1, len(words)):
        first, second = " ".join(words[:k]), " ".join(words[k:])
        if len(first) > max_chars or len(second) > max_chars:
            continue
        cost = _break_cost(words[k - 1], words[k], 0.0) + abs(len(first) - len(second)) / 12
        if best is None or cost < best[1]:
            best = ([first, second], cost)
    return best


def spread_words(text: str, seconds: float) -> list[WordTiming]:
    """Timings for text with no word timings: words share the span in proportion to their length."""
    words = text.split()
    total = sum(len(w) + 1 for w in words)
    timings, t = [], 0.0
    for w in words:
        length = seconds * (len(w) + 1) / total
        timings.append((w, t, t + length))
        t += length
    return timings


def _sentence_tails(words: list[WordTiming]) -> list[int]:
    """For each word, how many words follow it up to the end of its sentence."""
    tails, count = [0] * len(words), 0
    for i in range(len(words) - 1, -1, -1):
        if _SENTENCE_END.search(words[i][0]):
            count = 0
        tails[i] = count
        count += 1
    return tails


def _kept_together_cost(word: WordTiming, following: WordTiming) -> float:
    """How bad it is for one cue to hold both words: a new sentence, or a long pause, between them."""
    if following[1] - word[2] >= LONG_PAUSE_SECONDS:
        return 30.0
    return 4.0 if _SENTENCE_END.search(word[0]) else 0.0


def group_words(words: list[WordTiming], max_chars: int) -> list[tuple[list[WordTiming], list[str]]]:
    """Cut one scene's words into cues (with their lines), choosing every cut of the scene together."""
    n = len(words)
    tails = _sentence_tails(words)
    best: list[tuple[float, int, list[str]] | None] = [(0.0, 0, [])] + [None] * n
    for j in range(1, n + 1):
        following = words[j][0] if j < n else None
        pause = words[j][1] - words[j - 1][2] if j < n else 0.0
        cut = _break_cost(words[j - 1][0], following, pause)
        if 0 < tails[j - 1] <= 2:
            cut += 10.0  # a sentence's last word or two would stand alone in the next cue
        inside = 0.0
        for i in range(j - 1, -1, -1):
            if i < j - 1:
                inside += _kept_together_cost(words[i], words[i + 1])
            if best[i] is None:
                continue
            span = words[j - 1][2] - words[i][1]
            if span > MAX_CUE_SECONDS and j - i > 1:
                break
            wrapped = wrap_lines([w[0] for w in words[i:j]], max_chars)
            if wrapped is None:
                if j - i > 1:
                    break
                wrapped = ([words[i][0]], 0.0)  # one overlong word: it stands alone
            shown = (words[j][1] if j < n else words[j - 1][2] + LINGER_SECONDS) - words[i][1]
            cost = best[i][0] + cut + inside + wrapped[1] + 3.0 + (40.0 if shown < MIN_CUE_SECONDS else 0.0)
            if best[j] is None or cost < best[j][0]:
                best[j] = (cost, i, wrapped[0])
    groups, j = [], n
    while j > 0:
        _, i, lines = best[j]
        groups.append((words[i:j], lines))
        j = i
    return groups[::-1]


def scene_words(scene: Scene, narration: Narration | None) -> list[WordTiming]:
    """The scene's words timed from where its speech starts (the scene's first frame)."""
    if scene.words:
        offset = narration.onset if narration else 0.0
        return [(w.strip(), max(0.0, s - offset), max(0.0, e - offset)) for w, s, e in scene.words if w.strip()]
    return spread_words(scene.text, narration.seconds if narration else scene.duration)


def build_cues(scenes: list[Scene], timeline: Timeline, preset: VideoPreset,
               narration: list[Narration | None], size: str = "medium") -> list[Cue]:
    """All cues of the video on the output frame grid; a scene's cues end before the next scene starts."""
    fps, max_chars = timeline.fps, max_line_chars(preset, size)
    cues: list[Cue] = []
    for n, (scene, slot) in enumerate(zip(scenes, timeline.slots)):
        limit = timeline.slots[n + 1].start if n + 1 < len(scenes) else slot.end
        groups = group_words(scene_words(scene, narration[n]), max_chars)
        starts = [slot.start + round(group[0][1] * fps) for group, _ in groups]
        for k, (group, lines) in enumerate(groups):
            start = starts[k]
            end = max(slot.start + round((group[-1][2] + LINGER_SECONDS) * fps), start + round(MIN_CUE_SECONDS * fps))
            end = min(end, starts[k + 1] if k + 1 < len(groups) else limit, start + round(MAX_CUE_SECONDS * fps))
            if end > start:
                cues.append(Cue(start, end, tuple(lines),
                                tuple(slot.start + round(w[1] * fps) for w in group)))
    return cues


def _clock(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}"


def to_srt(cues: list[Cue], fps: int) -> str:
    blocks = [f"{n}\n{_clock(c.start / fps, ',')} --> {_clock(c.end / fps, ',')}\n" + "\n".join(c.lines)
              for n, c in enumerate(cues, start=1)]
    return "\n\n".join(blocks) + "\n" if blocks else ""


def to_vtt(cues: list[Cue], fps: int) -> str:
    blocks = [f"{_clock(c.start / fps, '.')} --> {_clock(c.end / fps, '.')}\n" + "\n".join(c.lines) for c in cues]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")
