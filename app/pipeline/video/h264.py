"""Just enough H.264 (Annex B) handling to repeat a picture by skipped frames instead of encoding it again.

A P slice whose macroblocks are all skipped copies the previous frame exactly, whatever that frame
shows, so one such slice (from any stream with the same parameter sets) can be written again and
again, each copy with the next frame_num: x264 uses picture order count type 2 without B-frames,
so frame_num alone orders frames, and it is a fixed-width field near the start of the slice header.
Frames encoded after a held picture are renumbered the same way.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

START_CODE = b"\x00\x00\x01"
NAL_SLICE, NAL_IDR_SLICE, NAL_SPS = 1, 5, 7
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


class UnsupportedStream(ValueError):
    """The stream uses a feature this module doesn't handle; callers fall back to encoding."""


def _unescape(payload: bytes) -> bytes:
    """NAL payload -> RBSP: drop the emulation prevention byte of every 00 00 03."""
    out, zeros = bytearray(), 0
    for byte in payload:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _escape(rbsp: bytes) -> bytes:
    """RBSP -> NAL payload: insert 03 wherever 00 00 is followed by a byte <= 03."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


class _Bits:
    def __init__(self, data: bytes, pos: int = 0):
        self.data, self.pos = data, pos

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)


@dataclass(frozen=True)
class SeqParams:
    """The SPS fields a slice header's frame_num position depends on."""

    log2_max_frame_num: int
    separate_colour_plane: bool
    poc_type: int


def nal_units(data: bytes) -> list[bytes]:
    """Split an Annex B byte stream into NAL units (header byte first, no start codes)."""
    units, at = [], data.find(START_CODE)
    while at >= 0:
        nxt = data.find(START_CODE, at + 3)
        units.append(data[at + 3: nxt if nxt >= 0 else len(data)].rstrip(b"\x00"))
        at = nxt
    return units


def parse_sps(nal: bytes) -> SeqParams:
    bits = _Bits(_unescape(nal[1:]))
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    separate = False
    if profile in _HIGH_PROFILES:
        if bits.ue() == 3:  # chroma_format_idc
            separate = bool(bits.u(1))
        bits.ue()
        bits.ue()  # bit depths
        bits.u(1)  # transform bypass
        if bits.u(1):
            raise UnsupportedStream("custom scaling matrices")
    log2_max_frame_num = bits.ue() + 4
    return SeqParams(log2_max_frame_num, separate, bits.ue())


def _frame_num_position(rbsp: bytes, sps: SeqParams) -> int:
    """Bit offset of frame_num in a slice's RBSP (after the NAL header byte)."""
    bits = _Bits(rbsp)
    bits.ue()  # first_mb_in_slice
    bits.ue()  # slice_type
    bits.ue()  # pic_parameter_set_id
    if sps.separate_colour_plane:
        bits.u(2)
    return bits.pos


def _header_end(nal: bytes, at_least: int = 12) -> int:
    """A byte offset past the slice header's first fields where no emulation-prevention sequence is cut in
    two: the NAL's two bytes before it are non-zero (or it is the NAL's end)."""
    end = min(len(nal), at_least)
    while end < len(nal) and not (nal[end - 1] and nal[end - 2]):
        end += 1
    return end


def with_frame_num(nal: bytes, sps: SeqParams, frame_num: int) -> bytes:
    """The slice NAL with its frame_num replaced (modulo MaxFrameNum).

    frame_num sits in the first bytes; only those are unescaped and rewritten, so this costs the
    same for a large frame as for a skipped one."""
    end = _header_end(nal)
    rbsp = bytearray(_unescape(nal[1:end]))
    start = _frame_num_position(rbsp, sps)
    value = frame_num % (1 << sps.log2_max_frame_num)
    for i in range(sps.log2_max_frame_num):
        bit = (value >> (sps.log2_max_frame_num - 1 - i)) & 1
        pos = start + i
        rbsp[pos >> 3] = (rbsp[pos >> 3] & ~(0x80 >> (pos & 7))) | (bit << (7 - (pos & 7)))
    return nal[:1] + _escape(bytes(rbsp)) + nal[end:]


def renumbered(access_unit: bytes, sps: SeqParams, frame_num: int) -> bytes:
    """An access unit with the frame_num of its slices replaced: a frame moved later in its keyframe interval."""
    units = [with_frame_num(n, sps, frame_num) if n[0] & 0x1F in (NAL_SLICE, NAL_IDR_SLICE) else n
             for n in nal_units(access_unit)]
    return b"".join(b"\x00\x00\x00\x01" + n for n in units)


def _only(access_unit: bytes, nal_type: int) -> bytes | None:
    found = [n for n in nal_units(access_unit) if n[0] & 0x1F == nal_type]
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class SkipFrame:
    """A repeatable all-skip P frame: write it with any frame_num after the frames it copies."""

    sps: SeqParams
    slice: bytes

    def access_unit(self, frame_num: int) -> bytes:
        """The frame as Annex B bytes, without an access unit delimiter (the join leaves those out)."""
        return self._access_unit(frame_num % (1 << self.sps.log2_max_frame_num))

    @functools.lru_cache(maxsize=None)
    def _access_unit(self, frame_num: int) -> bytes:
        return b"\x00\x00\x00\x01" + with_frame_num(self.slice, self.sps, frame_num)


def repeatable_frame(first_unit: bytes, skip_unit: bytes) -> SkipFrame | None:
    """An all-skip frame (skip_unit's slice) for the stream whose first access unit is first_unit, or None
    if the stream isn't one this module can rewrite. That skip_unit's macroblocks are all skipped is
    for its maker to know (pieces.skip_frame encodes it)."""
    sps_nal = _only(first_unit, NAL_SPS)
    slice_nal = _only(skip_unit, NAL_SLICE)
    if sps_nal is None or slice_nal is None:
        return None
    try:
        sps = parse_sps(sps_nal)
    except (UnsupportedStream, IndexError):
        return None
    header = _Bits(_unescape(slice_nal[1:32]))  # the fields needed lie at the very start
    first_mb, slice_type = header.ue(), header.ue()
    # POC type 2 orders frames by frame_num alone; one reference P slice per frame.
    if sps.poc_type != 2 or first_mb != 0 or slice_type % 5 != 0 or not slice_nal[0] & 0x60:
        return None
    return SkipFrame(sps, slice_nal)
