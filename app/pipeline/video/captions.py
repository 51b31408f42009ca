"""Caption cues from word timings (or evenly spread text), written as SRT, WebVTT and ASS for burn-in."""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

from .presets import VideoPreset
from .timeline import Scene, Timeline, WordTiming

MAX_CUE_SECONDS = 6.0
MIN_CUE_SECONDS = 0.8
LINGER_SECONDS = 0.3  # keep a cue up a little after its last word for reading
PAUSE_BREAK_SECONDS = 0.8
_SENTENCE_END = re.compile(r"[.!?…。؟！？]['\"”’)»]*$")
FONTS_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"
CAPTION_FONT = FONTS_DIR / "DejaVuSans-Bold.ttf"  # "DejaVu Sans" bold, as the ASS style asks


@dataclass(frozen=True)
class Cue:
    """One caption on screen, in output frames (end exclusive)."""

    start: int
    end: int
    lines: tuple[str, ...]


def max_line_chars(preset: VideoPreset) -> int:
    return 28 if preset.vertical else 42


def wrap_lines(text: str, max_chars: int) -> list[str] | None:
    """Split into at most two balanced lines of at most max_chars; None if it doesn't fit."""
    if len(text) <= max_chars:
        return [text]
    spaces = [i for i, ch in enumerate(text) if ch == " "]
    fitting = [i for i in spaces if i <= max_chars and len(text) - i - 1 <= max_chars]
    if not fitting:
        return None
    cut = min(fitting, key=lambda i: abs(len(text) / 2 - i))
    return [text[:cut], text[cut + 1:]]


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


def group_words(words: list[WordTiming], max_chars: int) -> list[list[WordTiming]]:
    """Cut the word stream into cues at sentence ends, pauses, two full lines or MAX_CUE_SECONDS."""
    groups: list[list[WordTiming]] = []
    current: list[WordTiming] = []
    for word in words:
        if current:
            text = " ".join(w[0] for w in current + [word])
            if (wrap_lines(text, max_chars) is None
                    or _SENTENCE_END.search(current[-1][0])
                    or word[1] - current[-1][2] > PAUSE_BREAK_SECONDS
                    or word[2] - current[0][1] > MAX_CUE_SECONDS):
                groups.append(current)
                current = []
        current.append(word)
    if current:
        groups.append(current)
    return groups


def build_cues(scenes: list[Scene], timeline: Timeline, preset: VideoPreset,
               narration_seconds: list[float | None]) -> list[Cue]:
    """All cues of the video on the output frame grid, shifted to each scene's start, never overlapping."""
    fps, max_chars = timeline.fps, max_line_chars(preset)
    cues: list[Cue] = []
    for scene, slot, spoken in zip(scenes, timeline.slots, narration_seconds):
        words = scene.words or spread_words(scene.text, min(spoken or scene.duration, scene.duration))
        groups = group_words([w for w in words if w[0].strip()], max_chars)
        for n, group in enumerate(groups):
            text = " ".join(w[0].strip() for w in group)
            start = slot.start + round(group[0][1] * fps)
            last_word_end = slot.start + round(group[-1][2] * fps)
            end = max(last_word_end + round(LINGER_SECONDS * fps), start + round(MIN_CUE_SECONDS * fps))
            if n + 1 < len(groups):
                end = min(end, slot.start + round(groups[n + 1][0][1] * fps))
            end = min(max(end, last_word_end), slot.end)
            if end > start:
                cues.append(Cue(start, end, tuple(wrap_lines(text, max_chars) or [text])))
    cues.sort(key=lambda c: c.start)
    # The next scene's narration may begin inside the transition while the last cue is still up.
    trimmed = [Cue(c.start, min(c.end, nxt.start), c.lines) for c, nxt in zip(cues, cues[1:])] + cues[-1:]
    return [c for c in trimmed if c.end > c.start]


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


def _ass_clock(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _ass_text(line: str) -> str:
    # Braces open override blocks and a backslash starts a tag in ASS; neutralise both.
    return line.replace("\\", "\\\u2060").replace("{", "(").replace("}", ")")


@functools.cache
def _caption_font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(CAPTION_FONT), 24, layout_engine=ImageFont.Layout.BASIC)


def _glyph(char: str) -> tuple:
    mask = _caption_font().getmask(char)
    return mask.size, bytes(mask)


@functools.lru_cache(maxsize=4096)
def _drawable(char: str) -> bool:
    # U+FFFF is a noncharacter: every font draws its "missing letter" box for it.
    return unicodedata.category(char)[0] in "CZ" or _glyph(char) != _glyph("\uffff")


def undrawable(text: str) -> str:
    """The characters of text (each once, in order) that the burned-in caption font has no letter for."""
    return "".join(c for c in dict.fromkeys(text) if not _drawable(c))


def ass_header(preset: VideoPreset) -> str:
    """Caption style: bold sans on a translucent box, inside the title-safe area."""
    w, h = preset.width, preset.height
    size = round(min(h * 0.055, w * 0.8 / (max_line_chars(preset) * 0.6)))
    margin_v = round(h * (0.2 if preset.vertical else 0.08))  # Shorts overlay their UI at the bottom
    margin_h = round(w * 0.1)
    pad = max(2, round(size * 0.18))
    # Encoding -1 (a libass extension) takes each caption's direction from its first strong letter,
    # so Arabic or Hebrew with a Latin word inside still reads right to left.
    return (
        "[Script Info]\nScriptType: v4.00+\n"
        f"PlayResX: {w}\nPlayResY: {h}\nWrapStyle: 2\nScaledBorderAndShadow: yes\nYCbCr Matrix: TV.709\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, "
        "Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
        f"Style: Caption,DejaVu Sans,{size},&H00FFFFFF,&H00FFFFFF,&H50000000,&H00000000,-1,0,0,0,100,100,0,0,"
        f"3,{pad},0,2,{margin_h},{margin_h},{margin_v},-1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    )


def ass_for_range(cues: list[Cue], preset: VideoPreset, first: int, frames: int) -> str | None:
    """ASS document for output frames [first, first+frames), timed from the piece's own start; None if no cue shows."""
    fps = preset.fps
    events = []
    for cue in cues:
        start, end = max(cue.start, first), min(cue.end, first + frames)
        if end <= start:
            continue
        # Half a frame early on both edges so centisecond rounding never drops a frame.
        t0, t1 = (start - first - 0.5) / fps, (end - first - 0.5) / fps
        text = "\\N".join(_ass_text(line) for line in cue.lines)
        events.append(f"Dialogue: 0,{_ass_clock(t0)},{_ass_clock(t1)},Caption,,0,0,0,,{text}\n")
    return ass_header(preset) + "".join(events) if events else None


def caption_changes(cues: list[Cue], first: int, frames: int) -> list[int]:
    """Frames inside [first, first+frames) where the burned-in caption changes."""
    edges = {f for c in cues for f in (c.start, c.end) if first < f < first + frames}
    return sorted(edges)
