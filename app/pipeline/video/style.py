"""The project's choices for burned-in captions, checked; plain data shared by the planner and the renderer."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FONTS_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"
# Family (as libass finds it) -> its bold face, shipped in FONTS_DIR.
FONTS = {"DejaVu Sans": "DejaVuSans-Bold.ttf", "DejaVu Sans Condensed": "DejaVuSansCondensed-Bold.ttf",
         "DejaVu Serif": "DejaVuSerif-Bold.ttf"}
STYLES = ("plain", "words")
POSITIONS = ("bottom", "middle", "top")
SIZES = {"small": 0.8, "medium": 1.0, "large": 1.25}
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


@dataclass(frozen=True)
class CaptionStyle:
    """How burned-in captions look: style, position, size, font and colours (#RRGGBB)."""

    style: str = "plain"
    position: str = "bottom"
    size: str = "medium"
    font: str = "DejaVu Sans"
    colour: str = "#FFFFFF"
    highlight: str = "#FFD400"  # the spoken word, in the "words" style
    box: str = "#000000"  # behind the text, translucent

    def __post_init__(self):
        for name, value, allowed in (("style", self.style, STYLES), ("position", self.position, POSITIONS),
                                     ("size", self.size, SIZES), ("font", self.font, FONTS)):
            if value not in allowed:
                raise ValueError(f"unknown caption {name} {value!r}; use one of {', '.join(allowed)}")
        for value in (self.colour, self.highlight, self.box):
            if not _COLOUR.fullmatch(value):
                raise ValueError(f"caption colours are #RRGGBB, not {value!r}")
