"""Valid PNGs of any size, bit depth and colour type, written row by row so even huge ones cost no memory."""
from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def flat_png(width: int, height: int, bit_depth: int, colour_type: int, row: bytes,
             palette: bytes | None = None) -> bytes:
    """A PNG whose every row is ``row`` (raw samples, no filter byte); colour type 3 needs ``palette``."""
    packer, line = zlib.compressobj(9), b"\x00" + row
    body = b"".join(packer.compress(line) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + (_chunk(b"PLTE", palette) if palette else b"")
            + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
