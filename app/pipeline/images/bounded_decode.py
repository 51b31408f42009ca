"""Decoding untrusted pictures within a fixed memory budget, scaled down to the frame as early as the format allows.

A file's size says little about its pixels: a flat 7740×7740 16-bit PNG is 116 KB on disk and 120 MB
decoded. So the header is read first and a picture whose decoding would need more than the budget is
refused before any pixel is decoded. Pillow holds a picture at 1 byte a pixel (modes 1, L, P), 2
(I;16) or 4 (everything else, RGB included); WebP decoding takes up to five times that (measured).
JPEGs are decoded straight at 1/2–1/8 scale (``draft``); other pictures are reduced by an integer
factor right after decoding, in their own mode, then resampled to the frame, so colour work
downstream only ever touches frame-sized pictures.
"""
from __future__ import annotations

import ctypes
import io
import math
import os
import struct
import threading

import numpy as np
from PIL import Image, ImageOps

from .base import FitMode

MB = 1024 * 1024
# A web process idles near 150 MB and an upload's bytes (at most 25 MB) are held while it decodes;
# 112 MB of decoding on top keeps the worst accepted picture under 300 MB.
DEFAULT_DECODE_BUDGET = 112 * MB
ORIENTATION = 0x0112  # EXIF tag; 5–8 mean the stored picture lies on its side
BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2}  # anything else: 4
RESAMPLABLE = {"L", "LA", "RGB", "RGBA", "CMYK"}  # modes Pillow reduces and resizes smoothly
BAND_ROWS = 16  # rows converted at a time for modes that must change before they can be reduced
DECODER_SLACK = 8 * MB  # the decoders' own buffers, a band being converted, allocator overhead

# One decode at a time per process: eight uploads arriving together must not hold eight budgets.
_decoding = threading.Lock()


def _after_fork_in_child() -> None:
    global _decoding  # a lock held by another thread at fork time would stay locked in the child
    _decoding = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)

M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter


def release_freed_pictures_to_the_os() -> None:
    """Make big allocations (decoded pictures) come from mmap, so freeing them gives the memory back.

    glibc otherwise raises its mmap threshold after the first big free and serves the next big
    blocks from each thread's heap, which keeps them: eight uploads decoded one after another on
    four threads then held 200 MB instead of 110 (measured). No-op where the C library isn't glibc.
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 1 * MB)
    except (OSError, AttributeError):
        pass


class DecodeBudgetExceeded(ValueError):
    """Decoding the picture would need more memory than the budget; carries the figures for the message."""

    def __init__(self, size: tuple[int, int], needed: int, budget: int, fitting: tuple[int, int]):
        super().__init__(f"{size[0]}×{size[1]} needs {needed} bytes to decode; the budget is {budget}")
        self.size, self.needed, self.budget, self.fitting = size, needed, budget, fitting


def picture_size(data: bytes, kind: str) -> tuple[int, int]:
    """Width and height from the header, without decoding (for WebP, without even opening it in Pillow)."""
    if kind == "WEBP":  # Pillow's WebP decoder allocates the whole canvas as soon as the file is opened
        return _webp_size(data)
    with Image.open(io.BytesIO(data), formats=[kind]) as header:
        return header.size


def decode_for_frame(data: bytes, kind: str, frame: tuple[int, int], fit: FitMode,
                     budget: int = DEFAULT_DECODE_BUDGET) -> tuple[Image.Image, tuple[int, int]]:
    """The picture scaled to what fitting it into ``frame`` uses (not yet turned upright), and its upright size.

    Raises DecodeBudgetExceeded before decoding, and Pillow's errors for damaged files.
    """
    if kind == "WEBP":  # opening reserves the canvas; the mode (alpha or not) is only known once it is open
        _check_budget(picture_size(data, kind), "RGB", kind, frame, fit, budget)
    with _decoding:
        _verify(data, kind)
        picture = Image.open(io.BytesIO(data), formats=[kind])
        original = picture.size
        if kind == "JPEG":  # a JPEG carries its EXIF ahead of the pixels, so its orientation is known now
            want = _stored(frame, _orientation(picture))
            picture.draft(picture.mode, _needed_size(picture.size, want, fit))
        _check_budget(picture.size, picture.mode, kind, frame, fit, budget, stated=original)
        picture.load()
        orientation = _orientation(picture)
        want = _stored(frame, orientation)
        reduced = _reduced(picture, _reduction_factor(picture.size, want, fit))
        del picture  # the full-size pixels go before resampling allocates more
        if fit == "crop":
            fitted = ImageOps.fit(reduced, want, Image.Resampling.LANCZOS)
        else:
            fitted = ImageOps.contain(reduced, want, Image.Resampling.LANCZOS)
    return fitted, _stored(original, orientation)


def _verify(data: bytes, kind: str) -> None:
    """Checksums and structure, without decoding pixels (the opened file is gone on return)."""
    with Image.open(io.BytesIO(data), formats=[kind]) as header:
        header.verify()


def _check_budget(size: tuple[int, int], mode: str, kind: str, frame: tuple[int, int], fit: FitMode,
                  budget: int, stated: tuple[int, int] | None = None) -> None:
    """Raise DecodeBudgetExceeded if decoding ``size`` pixels passes the budget; ``stated``: the file's own size."""
    needed = _peak_bytes(size, mode, kind, frame, fit)
    if needed <= budget:
        return
    scale = math.sqrt(budget / needed)  # then shrink until the estimate fits

    def scaled(dims: tuple[int, int]) -> tuple[int, int]:
        return max(1, int(dims[0] * scale)), max(1, int(dims[1] * scale))

    while scaled(size) != (1, 1) and _peak_bytes(scaled(size), mode, kind, frame, fit) > budget:
        scale *= 0.98
    raise DecodeBudgetExceeded(stated or size, needed, budget, scaled(stated or size))


def _peak_bytes(size: tuple[int, int], mode: str, kind: str, frame: tuple[int, int], fit: FitMode) -> int:
    """Memory decoding holds at its peak: while decoding, while reducing, or while resampling what is left."""
    width, height = size
    picture = width * height * BYTES_PER_PIXEL.get(mode, 4)
    # Pillow's WebP decoding holds the canvas, libwebp's own buffers (up to twice the picture, lossless), a bytes
    # copy and the picture; three stay until the file is closed (measured).
    decoding, held = (5 * picture, 3 * picture) if kind == "WEBP" else (picture, picture)
    factor = _reduction_factor(size, frame, fit)
    copied = factor > 1 or mode not in RESAMPLABLE
    reduced = math.ceil(width / factor) * math.ceil(height / factor) * 4 if copied else 0
    premultiplied = mode in ("LA", "RGBA")  # Pillow reduces and resamples these through a premultiplied copy
    reducing = held + (picture if premultiplied and factor > 1 else 0) + reduced
    source, resampled = (reduced, reduced) if copied else (held, picture)
    resampling = source + (resampled if premultiplied else 0) + 3 * frame[0] * frame[1] * 4  # 2-frame pass + result
    return max(decoding, reducing, resampling) + DECODER_SLACK


def _reduction_factor(size: tuple[int, int], want: tuple[int, int], fit: FitMode) -> int:
    """The largest integer shrink that still leaves enough pixels to fill ``want``."""
    target = _needed_size(size, want, fit)
    return max(1, min(size[0] // target[0], size[1] // target[1]))


def _needed_size(size: tuple[int, int], want: tuple[int, int], fit: FitMode) -> tuple[int, int]:
    """The whole picture's size once scaled to cover ``want`` (crop) or to fit inside it (letterbox)."""
    scale = (max if fit == "crop" else min)(want[0] / size[0], want[1] / size[1])
    return max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale))


def _reduced(picture: Image.Image, factor: int) -> Image.Image:
    """``picture`` shrunk by an integer factor into a resamplable mode, never converting it whole at full size."""
    if picture.mode in RESAMPLABLE:
        return picture.reduce(factor) if factor > 1 else picture
    out = None
    step = BAND_ROWS * factor  # whole blocks per band, so banding changes no pixel
    for top in range(0, picture.height, step):
        band = _resamplable(picture.crop((0, top, picture.width, min(top + step, picture.height))))
        band = band.reduce(factor) if factor > 1 else band
        if out is None:
            out = Image.new(band.mode, (math.ceil(picture.width / factor), math.ceil(picture.height / factor)))
        out.paste(band, (0, top // factor))
    out.info = {key: value for key, value in picture.info.items() if key != "transparency"}
    return out


def _resamplable(band: Image.Image) -> Image.Image:
    if band.mode.startswith("I;16"):  # 16-bit grey to 8-bit, rounding v/257 in integers: 65535 -> 255
        values = np.asarray(band).astype(np.uint32)
        return Image.fromarray(((values + 128) // 257).astype(np.uint8))
    if band.mode == "1":
        return band.convert("L")
    return band.convert("RGBA" if band.has_transparency_data else "RGB")


def _orientation(picture: Image.Image) -> int:
    try:
        return int(picture.getexif().get(ORIENTATION, 1))
    except (ValueError, OSError, SyntaxError, TypeError):  # unreadable EXIF: the pixels stay as stored
        return 1


def _stored(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """``size`` swapped when the EXIF orientation turns the picture on its side."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _webp_size(data: bytes) -> tuple[int, int]:
    """Canvas size from a WebP's first chunk (lossy VP8, lossless VP8L or extended VP8X)."""
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20:21] == b"\x2f":
        bits = struct.unpack("<I", data[21:25])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise SyntaxError("not a WebP header Pillow can read")
