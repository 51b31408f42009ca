"""Output presets and the one set of encoder settings every piece of a compile shares."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoPreset:
    """Frame size and rate of the output."""

    name: str
    width: int
    height: int
    fps: int = 30

    def __post_init__(self):
        if self.width % 2 or self.height % 2:
            raise ValueError("yuv420p needs even frame dimensions")

    @property
    def vertical(self) -> bool:
        return self.height > self.width


PRESETS: dict[str, VideoPreset] = {
    p.name: p
    for p in (
        VideoPreset("1080p30", 1920, 1080),
        VideoPreset("720p30", 1280, 720),
        VideoPreset("vertical1080x1920", 1080, 1920),
        VideoPreset("square1080", 1080, 1080),
    )
}
DEFAULT_PRESET = PRESETS["1080p30"]


def preset_for_aspect(aspect: str | float) -> VideoPreset:
    """The standard preset matching a project's aspect ratio ("16:9", "9:16" or width/height)."""
    if isinstance(aspect, str):
        w, _, h = aspect.partition(":")
        ratio = float(w) / float(h or 1)
    else:
        ratio = float(aspect)
    if abs(ratio - 1) < 0.01:
        return PRESETS["square1080"]
    return PRESETS["vertical1080x1920"] if ratio < 1 else DEFAULT_PRESET


@dataclass(frozen=True)
class EncoderSettings:
    """libx264 settings shared by every piece, so that pieces join by concatenating their bitstreams."""

    # ultrafast, with the intra partitions, 8x8 transform and weighted prediction of the faster presets
    # (they also keep the parameter sets of High profile): a fifth less CPU than superfast, same quality.
    x264_preset: str = "ultrafast"
    analysis: str = "partitions=i8x8,i4x4:8x8dct=1:weightp=1:deblock=1"
    # Moves: a quarter-pixel motion search, or slow pans leave residue. One refinement (subme=1) with the
    # diamond search is a fifth cheaper than subme=2 with hexagons, at the same PSNR and 15 % more bytes.
    moving_analysis: str = "subme=1"
    crf: int = 20
    keyint_seconds: float = 2.0
    # A held still with burned captions changes picture at every caption (or word): those changes are
    # cheap P frames, a keyframe is a whole picture, so such a hold gets one only this often.
    captioned_keyint_seconds: float = 10.0
    threads: int = 1  # pieces render side by side, so one thread each uses the cores best

    def keyint(self, fps: int, captioned: bool = False) -> int:
        return max(2, round((self.captioned_keyint_seconds if captioned else self.keyint_seconds) * fps))

    def ffmpeg_args(self, fps: int, moving: bool = False) -> list[str]:
        """Output options for one piece: H.264 High, yuv420p, BT.709 tags, no B-frames."""
        # bframes=0 makes every prefix of a piece a valid stream (pieces can be cut between
        # frames); aud=1 marks where each frame starts; stitchable keeps SPS/PPS identical
        # across separately encoded pieces. No lookahead: a piece's first frames then encode the
        # same whatever follows them, so a held still shares the piece that ends in its transition.
        # CAVLC rather than CABAC: a third less CPU on blends and keyframes for ~20 % more bytes
        # (YouTube re-encodes every upload anyway).
        x264_params = ":".join([
            "bframes=0", "aud=1", "stitchable=1", f"keyint={self.keyint(fps, captioned=True)}", "scenecut=0",
            "rc-lookahead=0", "cabac=0", f"threads={self.threads}", "colorprim=bt709", "transfer=bt709",
            "colormatrix=bt709", self.analysis, *([self.moving_analysis] if moving else []),
        ])
        return [
            "-c:v", "libx264", "-preset", self.x264_preset, "-crf", str(self.crf),
            "-profile:v", "high", "-pix_fmt", "yuv420p", "-x264-params", x264_params,
            "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709",
            "-color_range", "tv",
        ]


def track_timescale(fps: int) -> int:
    """MP4 timescale: a whole number of ticks per frame, at least 10000 a second like ffmpeg's default."""
    return -(-10_000 // fps) * fps
