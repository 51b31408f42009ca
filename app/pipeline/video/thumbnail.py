"""The video's thumbnail: 1280x720 (YouTube's size for every video, Shorts too) from the first image, JPEG under 2 MB.

A landscape image is cropped to 16:9; a portrait or square one is shown whole, centred on a blurred,
darkened fill of itself, since any 16:9 crop of it would lose most of the picture.
"""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

MAX_BYTES = 2 * 1024 * 1024  # YouTube's limit for custom thumbnails
SIZE = (1280, 720)


def _compose(image: Image.Image) -> Image.Image:
    if image.width / image.height >= 1.5:
        return ImageOps.fit(image, SIZE, Image.Resampling.LANCZOS)
    fill = ImageOps.fit(image, (SIZE[0] // 8, SIZE[1] // 8), Image.Resampling.BILINEAR)
    fill = ImageEnhance.Brightness(fill.filter(ImageFilter.GaussianBlur(4))).enhance(0.55)
    frame = fill.resize(SIZE, Image.Resampling.BICUBIC)
    whole = ImageOps.contain(image, SIZE, Image.Resampling.LANCZOS)
    frame.paste(whole, ((SIZE[0] - whole.width) // 2, (SIZE[1] - whole.height) // 2))
    return frame


def thumbnail_jpeg(image: str | Path) -> bytes:
    """Encode the thumbnail, lowering JPEG quality until it fits under MAX_BYTES."""
    with Image.open(image) as src:
        frame = _compose(ImageOps.exif_transpose(src).convert("RGB"))
    for quality in (90, 80, 70, 60, 50, 40):
        buf = io.BytesIO()
        frame.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
        if buf.tell() <= MAX_BYTES:
            break
    return buf.getvalue()
