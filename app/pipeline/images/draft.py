"""The offline ``draft`` provider: a storyboard frame drawn with Pillow from the prompt and seed."""
from __future__ import annotations

import colorsys
import hashlib
import random
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .base import ImageRequest, ImageResult, ProgressCallback, encode_png

FONT_DIR = Path(__file__).resolve().parents[2] / "static" / "fonts"
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
MAX_CAPTION_CHARS = 800
DRAFT_VERSION = 2  # bump when frames drawn from the same prompt and seed look different

# One wrapping unit: a CJK character (those scripts break between any two), or a run of other text.
_CJK = "\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_ATOM = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+|\s+")


class DraftImageProvider:
    """Draws an honest, good-looking placeholder frame; identical bytes for identical input."""

    name = "draft"
    accepts_reference = False

    def __init__(self, font_dir: Path | str = FONT_DIR):
        self._font_dir = Path(font_dir)

    def generate(self, request: ImageRequest, *, on_progress: ProgressCallback | None = None) -> ImageResult:
        """Render the frame for ``request`` as PNG at exactly ``request.size``."""
        frame = render_draft(request.prompt, request.seed, request.size, self._font_dir)
        if on_progress:
            on_progress(1.0, "Draft frame drawn")
        return ImageResult(data=encode_png(frame), mime="image/png", size=request.size, seed=request.seed,
                           model="draft", provider=self.name, prompt=request.prompt)


def caption_band(size: tuple[int, int]) -> tuple[float, float]:
    """Where burned-in captions sit by default on a frame of this size (fractions of its height)."""
    from ..video.burn import caption_band as band
    from ..video.presets import VideoPreset
    from ..video.style import CaptionStyle
    return band(VideoPreset("draft", 2 * max(1, size[0] // 2), 2 * max(1, size[1] // 2)), CaptionStyle())


def render_draft(text: str, seed: int, size: tuple[int, int], font_dir: Path = FONT_DIR, *, badge: bool = True,
                 keep_clear: tuple[float, float] | None = None) -> Image.Image:
    """A landscape-style storyboard scene in a palette picked from ``text`` and ``seed``, captioned.

    ``badge`` draws the "DRAFT" label; the printed prompt stays out of ``keep_clear`` (top and bottom of
    a stretch of the height, as fractions; by default where burned-in captions go), so captions
    burned into a video never cover it."""
    digest = hashlib.sha256(f"{seed}\0{text}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    palette = _palette(rng)
    # The scenery is all soft gradients and curves: painting it at half size and enlarging it
    # looks the same and takes a quarter of the time; the text is drawn sharp at full size.
    half = (max(8, size[0] // 2), max(8, size[1] // 2))
    frame = Image.fromarray(_scenery(rng, palette, half), "RGB").resize(size, Image.Resampling.BICUBIC)
    if badge:
        _badge(frame, seed, font_dir)
    _caption(frame, text, palette, font_dir, keep_clear or caption_band(size))
    return frame


# ---- colour and scenery ---------------------------------------------------------------------

def _hls(h: float, l: float, s: float) -> np.ndarray:
    return np.array(colorsys.hls_to_rgb(h % 1.0, l, s), dtype=np.float32) * 255


def _palette(rng: random.Random) -> dict[str, np.ndarray]:
    """Sky, sun and four hill tones around one base hue, darker towards the viewer."""
    hue = rng.random()
    warm = (hue + rng.choice([0.08, -0.08, 0.5])) % 1.0
    sat = rng.uniform(0.3, 0.5)
    return {
        "sky_top": _hls(hue, 0.16, sat),
        "sky_horizon": _hls(warm, 0.62, sat + 0.1),
        "sun": _hls(warm, 0.86, 0.9),
        "hills": np.stack([_hls(hue + 0.03 * i, 0.50 - 0.1 * i, sat - 0.05 * i) for i in range(4)]),
        "accent": _hls(warm, 0.7, 0.85),
    }


def _scenery(rng: random.Random, palette: dict[str, np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """Sky gradient, a glowing sun and layered hills, anti-aliased by coverage, as uint8 RGB."""
    w, h = size
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    horizon = rng.uniform(0.42, 0.5) if h > w else rng.uniform(0.5, 0.6)
    t = np.clip(ys / horizon, 0, 1) ** 1.4
    img = palette["sky_top"] * (1 - t)[..., None] + palette["sky_horizon"] * t[..., None]
    img = np.broadcast_to(img, (h, w, 3)).copy()

    unit = min(w, h)
    sun_x = w * rng.choice([1 / 3, 2 / 3]) + rng.uniform(-0.05, 0.05) * w
    sun_y = h * horizon - unit * rng.uniform(0.12, 0.28)
    radius = unit * rng.uniform(0.06, 0.1)
    dist = np.hypot(xs - sun_x, ys * (h - 1) - sun_y)
    glow = np.exp(-((dist / (radius * 4)) ** 2))[..., None] * 0.45
    img = img * (1 - glow) + palette["sun"] * glow
    disc = np.clip(radius - dist + 0.5, 0, 1)[..., None]
    img = img * (1 - disc) + palette["sun"] * disc

    rows = ys * (h - 1)
    for layer, tone in enumerate(palette["hills"]):
        base = h * (horizon + 0.02 + layer * 0.09)
        ridge = np.zeros(w, dtype=np.float32) + base
        for _ in range(3):
            freq = rng.uniform(0.5, 2.5) * 2 * np.pi / w
            ridge += unit * rng.uniform(0.01, 0.05) / (layer * 0.5 + 1) * np.sin(xs[0] * freq + rng.uniform(0, 6.3))
        cover = np.clip(rows - ridge[None, :] + 0.5, 0, 1)[..., None]
        # Haze: far layers fade into the horizon colour, like distance does.
        haze = 0.45 * (1 - layer / 3)
        colour = tone * (1 - haze) + palette["sky_horizon"] * haze
        img = img * (1 - cover) + colour * cover

    # Vignette, and a scrim under the caption so white text reads on any palette.
    cx, cy = (xs - w / 2) / (w / 2), (rows - h / 2) / (h / 2)
    img *= (1 - 0.28 * np.clip(cx**2 + cy**2 - 0.35, 0, 1))[..., None]
    scrim_top = 0.55 if h > w else 0.5
    scrim = np.clip((ys - scrim_top) / (1 - scrim_top), 0, 1) ** 1.3 * 0.78
    img *= (1 - scrim)[..., None]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ---- text -------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _font(font_dir: Path, bold: bool, size: int) -> Font:
    path = font_dir / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    # Checked first because truetype() would otherwise search the system's font folders by file
    # name, and frames would then look different on machines that happen to have DejaVu.
    if path.is_file():
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _is_rtl(text: str) -> bool:
    """True when the first strongly directional character is right-to-left (Arabic, Hebrew...)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def _wrap(text: str, font: Font, width: float) -> list[str]:
    """Greedy line wrap that breaks between words, between CJK characters, and inside overlong words."""
    lines, line = [], ""
    for atom in _ATOM.findall(text):
        if atom.isspace():
            line = line + " " if line else line
            continue
        if font.getlength(line + atom) <= width:
            line += atom
            continue
        if line.strip():
            lines.append(line.rstrip())
        while font.getlength(atom) > width:  # wider than a whole line: hard-break it
            cut = max(1, _longest_fitting(atom, font, width))
            lines.append(atom[:cut])
            atom = atom[cut:]
        line = atom
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _longest_fitting(text: str, font: Font, width: float) -> int:
    """How many leading characters of ``text`` fit in ``width`` (binary search: measuring is slow)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle]) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def _fit_text(text: str, font_dir: Path, sizes: range, width: float, max_lines: int) -> tuple[Font, list[str]]:
    """The largest font size whose wrap fits ``max_lines``; at the smallest, cut with an ellipsis."""
    for size in sizes:
        font = _font(font_dir, False, size)
        lines = _wrap(text, font, width)
        if len(lines) <= max_lines:
            return font, lines
    lines = lines[:max_lines]
    last = lines[-1]
    while last and font.getlength(last + " …") > width:
        # Drop whole words where there are spaces; CJK and overlong words lose characters.
        last = last.rsplit(" ", 1)[0] if " " in last.strip() else last[:-1]
    lines[-1] = last.rstrip() + " …"
    return font, lines


def _badge(frame: Image.Image, seed: int, font_dir: Path) -> None:
    """The DRAFT label and its seed, top left: an honest mark that this is a placeholder."""
    unit = min(frame.size)
    draw = ImageDraw.Draw(frame, "RGBA")
    margin = round(unit * 0.06)
    badge_font = _font(font_dir, True, round(unit * 0.032))
    label = "DRAFT"
    pad_x, pad_y = round(unit * 0.022), round(unit * 0.012)
    left, top, right, bottom = draw.textbbox((0, 0), label, font=badge_font)
    box = (margin, margin, margin + right - left + 2 * pad_x, margin + bottom - top + 2 * pad_y)
    draw.rounded_rectangle(box, radius=(box[3] - box[1]) // 2, fill=(255, 255, 255, 235))
    draw.text((box[0] + pad_x - left, box[1] + pad_y - top), label, font=badge_font, fill=(20, 20, 28))
    note_font = _font(font_dir, False, round(unit * 0.022))
    note = f"Storyboard preview · seed {seed}"
    note_top = (box[1] + box[3]) / 2
    draw.text((box[2] + round(unit * 0.02), note_top), note, font=note_font, fill=(255, 255, 255, 215), anchor="lm")


def _caption(frame: Image.Image, text: str, palette: dict[str, np.ndarray], font_dir: Path,
             keep_clear: tuple[float, float]) -> None:
    """Storyboard corner marks and the wrapped prompt, near the bottom but out of ``keep_clear``."""
    w, h = frame.size
    unit = min(w, h)
    draw = ImageDraw.Draw(frame, "RGBA")
    margin = round(unit * 0.06)
    accent = tuple(int(v) for v in palette["accent"])

    # Viewfinder corners mark it as a frame in a storyboard.
    arm, inset, stroke = round(unit * 0.045), round(unit * 0.03), max(2, unit // 360)
    for x, y, dx, dy in ((inset, inset, 1, 1), (w - inset, inset, -1, 1),
                         (inset, h - inset, 1, -1), (w - inset, h - inset, -1, -1)):
        draw.line([(x, y + dy * arm), (x, y), (x + dx * arm, y)], fill=(255, 255, 255, 150), width=stroke)

    # Only a few hundred characters can ever fit; the cap keeps wrapping a novel cheap.
    body = " ".join(text[:MAX_CAPTION_CHARS].split()) or "No scene description yet"
    portrait = h > w
    biggest = round(unit * (0.052 if portrait else 0.046))
    smallest = round(unit * 0.028)
    bar, gap = round(unit * 0.008), round(unit * 0.022)
    text_width = w - 2 * margin - bar - gap
    font, lines = _fit_text(body, font_dir, range(biggest, smallest - 1, -2), text_width, 8 if portrait else 5)
    line_height = round(font.size * 1.32)
    bottom = h - margin
    if bottom > keep_clear[0] * h and bottom - line_height * len(lines) < keep_clear[1] * h:
        bottom = round(keep_clear[0] * h) - gap  # the captions' band would cover it: sit on top of the band
    y = bottom - line_height * len(lines)
    rtl = _is_rtl(body)
    bar_x = w - margin - bar if rtl else margin
    draw.rectangle((bar_x, y + line_height * 0.12, bar_x + bar, bottom - line_height * 0.2), fill=accent)
    fill = (255, 255, 255) if text.strip() else (255, 255, 255, 170)
    for line in lines:
        x = w - margin - bar - gap - font.getlength(line) if rtl else margin + bar + gap
        draw.text((x, y), line, font=font, fill=fill)
        y += line_height
