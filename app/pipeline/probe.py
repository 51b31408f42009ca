"""ffprobe-style inspection of media files with PyAV (the wheel carries its own FFmpeg libraries)."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av


class UnreadableMedia(ValueError):
    """The file is not media ffmpeg can read."""


@dataclass
class StreamInfo:
    kind: str  # "video" | "audio" | other
    codec: str
    profile: str | None = None
    duration: float | None = None
    # video
    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    frame_rate: Fraction | None = None
    color_primaries: str | None = None
    color_transfer: str | None = None
    color_space: str | None = None
    # audio
    sample_rate: int | None = None
    channels: int | None = None


@dataclass
class MediaInfo:
    format_name: str
    duration: float
    streams: list[StreamInfo] = field(default_factory=list)

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)


# ITU-T H.273 code points, as ffprobe names them (PyAV hands back the bare numbers).
_PRIMARIES = {1: "bt709", 2: "unknown", 5: "bt470bg", 6: "smpte170m", 9: "bt2020"}
_TRANSFER = {1: "bt709", 2: "unknown", 6: "smpte170m", 13: "iec61966-2-1", 14: "bt2020-10", 16: "smpte2084"}
_MATRIX = {0: "gbr", 1: "bt709", 2: "unknown", 5: "bt470bg", 6: "smpte170m", 9: "bt2020nc"}


def _h273(value, names: dict[int, str]) -> str | None:
    if value is None:
        return None
    number = int(getattr(value, "value", value))
    return names.get(number, str(number))


def probe(path: str | Path) -> MediaInfo:
    """Describe a media file's container and streams; raise UnreadableMedia if it isn't media."""
    try:
        with av.open(str(path)) as container:
            streams = []
            for s in container.streams:
                ctx = s.codec_context
                duration = float(s.duration * s.time_base) if s.duration and s.time_base else None
                info = StreamInfo(kind=s.type, codec=ctx.name if ctx else "", duration=duration,
                                  profile=getattr(ctx, "profile", None))
                if s.type == "video":
                    info.width, info.height = ctx.width, ctx.height
                    info.pix_fmt = ctx.pix_fmt
                    info.frame_rate = s.average_rate or s.guessed_rate
                    info.color_primaries = _h273(getattr(ctx, "color_primaries", None), _PRIMARIES)
                    info.color_transfer = _h273(getattr(ctx, "color_trc", None), _TRANSFER)
                    info.color_space = _h273(getattr(ctx, "colorspace", None), _MATRIX)
                elif s.type == "audio":
                    info.sample_rate = ctx.sample_rate
                    info.channels = ctx.channels
                streams.append(info)
            duration = container.duration / av.time_base if container.duration else 0.0
            return MediaInfo(format_name=container.format.name, duration=duration, streams=streams)
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise UnreadableMedia(f"not a readable media file ({exc.__class__.__name__})") from exc
