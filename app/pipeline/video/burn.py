"""Burned-in captions: the ASS documents libass draws them from, in the project's caption style.

Two styles: "plain" shows each cue; "words" also highlights the word being spoken. Either way the
picture changes only where a cue (or the highlighted word) changes, so a held still stays held.
"""
from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

from PIL import ImageFont

from .captions import Cue, max_line_chars
from .presets import VideoPreset
from .style import FONTS, FONTS_DIR, SIZES, CaptionStyle

BOX_OPACITY = 0.7
MAX_BOX_LINES = 2


def _ass_colour(hex_colour: str, opacity: float = 1.0) -> str:
    """#RRGGBB -> ASS &HAABBGGRR (alpha 0 is opaque)."""
    r, g, b = hex_colour[1:3], hex_colour[3:5], hex_colour[5:7]
    return f"&H{round(255 * (1 - opacity)):02X}{b}{g}{r}".upper()


@dataclass(frozen=True)
class Layout:
    """Where captions sit in a frame, in pixels."""

    font_size: int
    margin_v: int
    margin_h: int
    pad: int


def layout(preset: VideoPreset, style: CaptionStyle) -> Layout:
    """Letters sized so a full line fits inside the title-safe width; Shorts keep clear of their bottom UI."""
    w, h = preset.width, preset.height
    fits = w * 0.8 / (max_line_chars(preset, style.size) * 0.6)
    size = round(min(h * 0.055 * SIZES[style.size], fits))
    return Layout(size, round(h * (0.2 if preset.vertical else 0.08)), round(w * 0.1), max(2, round(size * 0.25)))


def caption_band(preset: VideoPreset, style: CaptionStyle) -> tuple[float, float]:
    """The stretch of the frame's height (top, bottom, as fractions) two lines of captions can cover, box
    included: pictures keep their own text out of it."""
    box = layout(preset, style)
    tall = MAX_BOX_LINES * box.font_size * 1.25 + 2 * box.pad
    h = preset.height
    if style.position == "top":
        top = box.margin_v - box.pad
    elif style.position == "middle":
        top = (h - tall) / 2
    else:
        top = h - box.margin_v - tall + box.pad
    return max(0.0, top / h), min(1.0, (top + tall) / h)



def ass_header(preset: VideoPreset, style: CaptionStyle) -> str:
    """The one ASS style: bold letters on a translucent box that holds the whole cue."""
    box = layout(preset, style)
    alignment = {"bottom": 2, "middle": 5, "top": 8}[style.position]
    # BorderStyle 4 (libass) draws one box behind all of a cue's lines, padded by the shadow size, so two
    # lines' boxes can't overlap into a darker stripe. Encoding -1 (also libass) takes each caption's
    # direction from its first strong letter, so Arabic or Hebrew with a Latin word inside reads right to left.
    return (
        "[Script Info]\nScriptType: v4.00+\n"
        f"PlayResX: {preset.width}\nPlayResY: {preset.height}\nWrapStyle: 2\nScaledBorderAndShadow: yes\n"
        "YCbCr Matrix: TV.709\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
        "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, "
        "Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
        f"Style: Caption,{style.font},{box.font_size},{_ass_colour(style.colour)},{_ass_colour(style.highlight)},"
        f"&H00000000,{_ass_colour(style.box, BOX_OPACITY)},-1,0,0,0,100,100,0,0,4,0,{box.pad},{alignment},"
        f"{box.margin_h},{box.margin_h},{box.margin_v},-1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    )


def _ass_text(line: str) -> str:
    # Braces open override blocks and a backslash starts a tag in ASS; neutralise both.
    return line.replace("\\", "\\\u2060").replace("{", "(").replace("}", ")")


State = tuple[int, int] | None  # (cue index, highlighted word or -1), or no caption


def _state(cues: list[Cue], frame: int, style: CaptionStyle) -> State:
    for n, cue in enumerate(cues):
        if cue.start <= frame < cue.end:
            if style.style != "words":
                return n, -1
            # The last word that has started stays lit until the next one starts.
            return n, max(0, sum(1 for s in cue.word_starts if s <= frame) - 1)
    return None


def state_changes(cues: list[Cue], first: int, frames: int, style: CaptionStyle) -> list[int]:
    """Frames inside (first, first+frames) where the burned-in picture changes."""
    edges = {f for c in cues for f in (c.start, c.end) if first < f < first + frames}
    if style.style == "words":
        edges |= {f for c in cues for f in c.word_starts if first < f < first + frames and c.start <= f < c.end}
    return sorted(edges)


def _event_text(cue: Cue, word: int, style: CaptionStyle) -> str:
    if word < 0:
        return "\\N".join(_ass_text(line) for line in cue.lines)
    lines, at = [], 0
    for line in cue.lines:
        words = line.split(" ")
        lines.append(" ".join(f"{{\\1c{_ass_colour(style.highlight)}&}}{_ass_text(w)}{{\\r}}" if at + k == word
                              else _ass_text(w) for k, w in enumerate(words)))
        at += len(words)
    return "\\N".join(lines)


def _clock(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def ass_for_frames(cues: list[Cue], preset: VideoPreset, style: CaptionStyle, shown: list[int]) -> str | None:
    """ASS for an encoder fed one frame per entry of `shown`, frame n showing the captions of output frame
    shown[n]; None if none of them shows a caption."""
    states = [_state(cues, f, style) for f in shown]
    events, n = [], 0
    while n < len(states):
        end = n
        while end < len(states) and states[end] == states[n]:
            end += 1
        if states[n] is not None:
            cue, word = states[n]
            # Half a frame early on both edges so centisecond rounding never drops a frame.
            events.append(f"Dialogue: 0,{_clock((n - 0.5) / preset.fps)},{_clock((end - 0.5) / preset.fps)},"
                          f"Caption,,0,0,0,,{_event_text(cues[cue], word, style)}\n")
        n = end
    return ass_header(preset, style) + "".join(events) if events else None


@functools.lru_cache(maxsize=4)
def _font(family: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS_DIR / FONTS[family]), 24, layout_engine=ImageFont.Layout.BASIC)


def _glyph(family: str, char: str) -> tuple:
    mask = _font(family).getmask(char)
    return mask.size, bytes(mask)


@functools.lru_cache(maxsize=4096)
def _drawable(family: str, char: str) -> bool:
    # U+FFFF is a noncharacter: every font draws its "missing letter" box for it.
    return unicodedata.category(char)[0] in "CZ" or _glyph(family, char) != _glyph(family, "\uffff")


def undrawable(text: str, family: str = "DejaVu Sans") -> str:
    """The characters of text (each once, in order) that the burned-in caption font has no letter for."""
    return "".join(c for c in dict.fromkeys(text) if not _drawable(family, c))
