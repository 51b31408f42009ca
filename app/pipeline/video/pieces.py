"""Render one cacheable piece of video: the frames of one keyframe interval, encoded to raw H.264.

A piece is one x264 run; its first frame is a keyframe. A held picture is fed to the encoder once
and the join repeats it with skipped frames (h264.py), so a still costs one keyframe however long it
shows, and a burned caption or highlighted word that changes over it costs one small P frame.
Moves and transitions feed every frame (frames.py draws them).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import threading
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import av
import numpy as np
from PIL import Image

from .. import ffmpeg
from .cache import in_cache, write_atomically
from .style import FONTS_DIR
from .ffargs import filter_arg
from .frames import Frame, Pictures, Source, prepared_size
from .h264 import SkipFrame, repeatable_frame
from .presets import EncoderSettings, VideoPreset

# Bump when a change here alters the pixels or bitstream of pieces, so caches don't serve stale ones.
PIECE_CODE_VERSION = 7

PieceProgress = Callable[[float], None]  # fraction of this piece done
PIECE_SUFFIX = ".h264"  # raw H.264 (Annex B): pieces join by byte concatenation
_ACCESS_UNIT_DELIMITER = b"\x00\x00\x01\x09"  # start code + AUD NAL header; never occurs inside a NAL
DELIMITER_BYTES = len(_ACCESS_UNIT_DELIMITER) + 1  # and its one byte of payload (primary_pic_type)
BT709 = "color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
_preparing: dict[str, threading.Lock] = {}  # one still prepared once even when two pieces need it at once
_preparing_guard = threading.Lock()


@dataclass(frozen=True)
class PieceSpec:
    """Everything needed to render one piece; plain data, so it can travel to another worker."""

    key: str
    preset: VideoPreset
    encoder: EncoderSettings
    sources: tuple[Source, ...]
    frames: tuple[Frame, ...]  # fed to the encoder in this order
    transition: str | None = None  # how frames that blend two sources blend them
    captions_ass: str | None = None  # burned-in captions, timed in fed frames (frame n at n / fps)
    scene: int = 0  # index of the (first) scene it shows, for progress messages

    @property
    def seconds(self) -> float:
        """Length of what the encoder is fed (the join may hold its pictures longer)."""
        return len(self.frames) / self.preset.fps

    @property
    def moving(self) -> bool:
        return any(s.moving for s in self.sources)


def make_piece(preset: VideoPreset, encoder: EncoderSettings, sources: tuple[Source, ...], frames: tuple[Frame, ...],
               transition: str | None = None, captions_ass: str | None = None, scene: int = 0) -> PieceSpec:
    """A PieceSpec whose key hashes every input that affects its output (image bytes, not paths)."""
    key = _encoded_key(preset, encoder,
                       sources=[{k: v for k, v in asdict(s).items() if k != "image"} for s in sources],
                       frames=[list(f) for f in frames], transition=transition, captions=captions_ass)
    return PieceSpec(key, preset, encoder, sources, frames, transition, captions_ass, scene)


def _encoded_key(preset: VideoPreset, encoder: EncoderSettings, **inputs) -> str:
    """Cache key of something encoded with these settings from these inputs (and this code's version)."""
    identity = {"v": PIECE_CODE_VERSION, "preset": asdict(preset), "encoder": asdict(encoder), **inputs}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _centred_over_blur(w: int, h: int) -> str:
    """Filters that centre a still of another shape over a blurred fill of itself, staying in RGB until the one
    BT.709 conversion that follows."""
    return (f"format=gbrp,split[bg][fg];[bg]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},"
            f"boxblur=luma_radius=min(h\\,w)/20:luma_power=2[bgb];"
            f"[fg]scale={w}:{h}:force_original_aspect_ratio=decrease:flags=lanczos[fgs];"
            f"[bgb][fgs]overlay=(W-w)/2:(H-h)/2:format=gbrp")


def _yuv_in_process(image: str, w: int, h: int) -> bytes | None:
    """A still of the frame's shape scaled (Lanczos) and converted to BT.709 limited-range yuv420p by swscale in
    this process: what ffmpeg's filters give, for half the CPU of starting ffmpeg. Like them it takes the pixels
    as stored (uploads are turned upright when they arrive). None for a still of another shape, which
    _centred_over_blur fits; it is not decoded here."""
    with Image.open(image) as im:
        if abs(im.width / im.height - w / h) >= 0.01:
            return None
        rgb = np.asarray(im.convert("RGB"))
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        width=w, height=h, format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG",
        interpolation="LANCZOS")
    return frame.to_ndarray().tobytes()


def prepared_still(source: Source, preset: VideoPreset, stills_dir: Path,
                   should_cancel: Callable[[], bool] | None = None) -> Path:
    """The still decoded, fitted (at the size its move needs) and converted to BT.709 yuv420p once, as a raw
    frame every piece can read."""
    w, h = prepared_size(preset, source.motion)
    key = hashlib.sha256(f"{PIECE_CODE_VERSION}:{source.image_sha256}:{w}x{h}".encode())
    path = stills_dir / f"still-{key.hexdigest()[:32]}.yuv"
    with _preparing_guard:
        lock = _preparing.setdefault(str(path), threading.Lock())
    with lock:
        if not in_cache(path):
            stills_dir.mkdir(parents=True, exist_ok=True)
            tmp = stills_dir / f".{path.name}.{uuid.uuid4().hex[:8]}.part"
            try:
                frame = _yuv_in_process(source.image, w, h)
                if frame is not None:
                    tmp.write_bytes(frame)
                else:
                    ffmpeg.run(["-i", source.image, "-filter_complex",
                                f"[0:v]{_centred_over_blur(w, h)},scale=out_color_matrix=bt709:out_range=tv,"
                                f"format=yuv420p[out]", "-map", "[out]", "-frames:v", "1", "-f", "rawvideo", str(tmp)],
                               should_cancel=should_cancel)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    return path


def frame_offsets(data: bytes) -> list[int]:
    """Byte offset where each frame (access unit) of a rendered piece starts."""
    offsets, at = [], data.find(_ACCESS_UNIT_DELIMITER)
    while at >= 0:
        offsets.append(at)
        at = data.find(_ACCESS_UNIT_DELIMITER, at + len(_ACCESS_UNIT_DELIMITER))
    return offsets


def _encoder_input(spec: PieceSpec, captions: Path | None) -> list[str]:
    graph = f"setparams={BT709}"
    if captions:
        graph += f",ass=filename={filter_arg(str(captions))}:fontsdir={filter_arg(str(FONTS_DIR))}"
    return ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{spec.preset.width}x{spec.preset.height}",
            "-framerate", str(spec.preset.fps), "-i", "pipe:0", "-vf", graph]


def render_piece(spec: PieceSpec, out_path: str | Path, on_progress: PieceProgress | None = None,
                 should_cancel: Callable[[], bool] | None = None, stills_dir: str | Path | None = None) -> Path:
    """Encode the piece to out_path (raw H.264, see PIECE_SUFFIX); the file appears only when complete.

    Its stills are prepared once into stills_dir (default: beside out_path) and reused from there."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    stills = [prepared_still(s, spec.preset, Path(stills_dir or out.parent), should_cancel) for s in spec.sources]
    pictures = Pictures(spec.preset, spec.sources, stills, spec.transition)
    stem = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}"
    tmp, captions = Path(f"{stem}.part"), Path(f"{stem}.ass")
    try:
        if spec.captions_ass:
            captions.write_text(spec.captions_ass, encoding="utf-8")

        def feed(stdin) -> None:
            for frame in spec.frames:
                for part in pictures.frame(frame):
                    stdin.write(part)
        on_time = (lambda t: on_progress(min(1.0, t / spec.seconds))) if on_progress else None
        ffmpeg.run([*_encoder_input(spec, captions if spec.captions_ass else None),
                    "-frames:v", str(len(spec.frames)), *spec.encoder.ffmpeg_args(spec.preset.fps, spec.moving),
                    "-an", "-f", "h264", str(tmp)],
                   on_time=on_time, should_cancel=should_cancel, feed=feed)
        os.replace(tmp, out)
    finally:
        for leftover in (tmp, captions):
            leftover.unlink(missing_ok=True)
    if on_progress:
        on_progress(1.0)
    return out


_flat: dict[tuple[VideoPreset, EncoderSettings], tuple[bytes, bytes]] = {}


def flat_frames(preset: VideoPreset, encoder: EncoderSettings, cache: Path | None = None) -> tuple[bytes, bytes]:
    """A flat grey picture encoded twice with the settings every piece shares: its keyframe, then a frame whose
    macroblocks are all skipped (a flat picture is coded exactly by its keyframe: the next has nothing to add).

    Kept in memory, and in the cache folder when one is given: each job of a worker starts without the
    memory, and encoding them again would cost every compile a tenth of a CPU second."""
    if (preset, encoder) not in _flat:
        path = cache / f"flat-{_encoded_key(preset, encoder)}{PIECE_SUFFIX}" if cache else None
        if path and in_cache(path):
            data = path.read_bytes()
        else:
            data = _encode_flat(preset, encoder)
            if path:
                write_atomically(path, data)
        second = frame_offsets(data)[1]
        _flat[preset, encoder] = data[:second], data[second:]
    return _flat[preset, encoder]


def _encode_flat(preset: VideoPreset, encoder: EncoderSettings) -> bytes:
    grey = bytes([128]) * (preset.width * preset.height * 3 // 2)
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "grey.h264"
        ffmpeg.run(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{preset.width}x{preset.height}",
                    "-framerate", str(preset.fps), "-i", "pipe:0", "-frames:v", "2",
                    *encoder.ffmpeg_args(preset.fps), "-f", "h264", str(out)],
                   feed=lambda stdin: stdin.write(grey * 2))
        return out.read_bytes()


@functools.lru_cache(maxsize=8)
def skip_frame(preset: VideoPreset, encoder: EncoderSettings) -> SkipFrame:
    """A frame whose macroblocks are all skipped: it copies whatever frame precedes it, so the join repeats any
    held picture with it."""
    keyframe, skipped = flat_frames(preset, encoder)
    skip = repeatable_frame(keyframe, skipped)
    if skip is None or len(skipped) > 64:  # skipped macroblocks take a few bytes in all
        raise RuntimeError("x264 did not code a repeated flat frame as skipped macroblocks")
    return skip


def flat_keyframe(preset: VideoPreset, encoder: EncoderSettings) -> bytes:
    """A keyframe with the parameter sets of every piece that is quick to decode: what the MP4 muxer learns the
    track's format from."""
    return flat_frames(preset, encoder)[0]
