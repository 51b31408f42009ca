"""The video's thumbnail: the first image, cropped to 1280x720 (720x1280 for vertical), JPEG under 2 MB."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

MAX_BYTES = 2 * 1024 * 1024  # YouTube's limit for custom thumbnails


def thumbnail_jpeg(image: str | Path, vertical: bool) -> bytes:
    """Encode the thumbnail, lowering JPEG quality until it fits under MAX_BYTES."""
    size = (720, 1280) if vertical else (1280, 720)
    with Image.open(image) as src:
        frame = ImageOps.fit(ImageOps.exif_transpose(src).convert("RGB"), size, Image.Resampling.LANCZOS)
    for quality in (90, 80, 70, 60, 50, 40):
        buf = io.BytesIO()
        frame.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
        if buf.tell() <= MAX_BYTES:
            break
    return buf.getvalue()
