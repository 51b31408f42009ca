"""Render one cacheable piece of video: a held still, a stretch of slow zoom/pan, or a transition."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from PIL import Image

from .. import ffmpeg
from .cache import in_cache
from .captions import FONTS_DIR
from .ffargs import filter_arg
from .presets import EncoderSettings, VideoPreset

# Bump when a change here alters the pixels or bitstream of pieces, so caches don't serve stale ones.
PIECE_CODE_VERSION = 5

XFADE = {"crossfade": "fade", "fadeblack": "fadeblack", "slide": "slideleft", "wipe": "wipeleft"}
# (zoom gained over the scene, share of the spare margin the window drifts across)
MOTION = {"subtle": (0.06, 0.6), "strong": (0.16, 0.9)}
_DRIFTS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))

PieceProgress = Callable[[float], None]  # fraction of this piece done
PIECE_SUFFIX = ".h264"  # raw H.264 (Annex B): pieces join by byte concatenation
_ACCESS_UNIT_DELIMITER = b"\x00\x00\x01\x09"  # start code + AUD NAL header; never occurs inside a NAL
BT709 = "color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv"
_preparing: dict[str, threading.Lock] = {}  # one still prepared once even when two pieces need it at once
_preparing_guard = threading.Lock()


@dataclass(frozen=True)
class SourceFrames:
    """Consecutive frames of one scene: its still, and where they sit in the scene's motion."""

    image: str
    image_sha256: str
    motion: str = "off"
    scene_frames: int = 0  # motion runs over the whole scene; unused (0) for a still
    first: int = 0  # index of the first frame within the scene

    @property
    def moving(self) -> bool:
        return self.motion != "off"


@dataclass(frozen=True)
class PieceSpec:
    """Everything needed to render one piece; plain data, so it can travel to another worker."""

    key: str
    frames: int
    preset: VideoPreset
    encoder: EncoderSettings
    sources: tuple[SourceFrames, ...]  # one for a hold, two for a transition
    transition: str | None = None
    captions_ass: str | None = None  # burned-in captions, timed from the piece's start
    scene: int = 0  # index of the (first) scene it shows, for progress messages

    @property
    def seconds(self) -> float:
        return self.frames / self.preset.fps

    @property
    def changing(self) -> bool:
        """Every frame differs (a blend or motion), as opposed to one still frame held."""
        return self.transition is not None or any(s.moving for s in self.sources)


def make_piece(frames: int, preset: VideoPreset, encoder: EncoderSettings, sources: tuple[SourceFrames, ...],
               transition: str | None = None, captions_ass: str | None = None, scene: int = 0) -> PieceSpec:
    """A PieceSpec whose key hashes every input that affects its output (image bytes, not paths)."""
    identity = {
        "v": PIECE_CODE_VERSION, "frames": frames, "preset": asdict(preset), "encoder": asdict(encoder),
        "sources": [{k: v for k, v in asdict(s).items() if k != "image"} for s in sources],
        "transition": transition, "captions": captions_ass,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]
    return PieceSpec(key, frames, preset, encoder, sources, transition, captions_ass, scene)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fit(image: str, preset: VideoPreset) -> str:
    """Scale a still to the frame; another shape is centred over a blurred fill of itself."""
    w, h = preset.width, preset.height
    with Image.open(image) as im:
        iw, ih = im.size
    if abs(iw / ih - w / h) < 0.01:
        return f"scale={w}:{h}:flags=lanczos"
    # Stays in RGB until the one BT.709 conversion that follows.
    return (f"format=gbrp,split[bg][fg];[bg]scale={w}:{h}:force_original_aspect_ratio=increase,crop={w}:{h},"
            f"boxblur=luma_radius=min(h\\,w)/20:luma_power=2[bgb];"
            f"[fg]scale={w}:{h}:force_original_aspect_ratio=decrease:flags=lanczos[fgs];"
            f"[bgb][fgs]overlay=(W-w)/2:(H-h)/2:format=gbrp")


def prepared_still(source: SourceFrames, preset: VideoPreset, stills_dir: Path,
                   should_cancel: Callable[[], bool] | None = None) -> Path:
    """The still decoded, fitted and converted to BT.709 yuv420p once, as a raw frame every piece can read."""
    key = hashlib.sha256(f"{PIECE_CODE_VERSION}:{source.image_sha256}:{preset.width}x{preset.height}".encode())
    path = stills_dir / f"still-{key.hexdigest()[:32]}.yuv"
    with _preparing_guard:
        lock = _preparing.setdefault(str(path), threading.Lock())
    with lock:
        if not in_cache(path):
            stills_dir.mkdir(parents=True, exist_ok=True)
            tmp = stills_dir / f".{path.name}.{uuid.uuid4().hex[:8]}.part"
            try:
                ffmpeg.run(["-i", source.image, "-filter_complex",
                            f"[0:v]{_fit(source.image, preset)},scale=out_color_matrix=bt709:out_range=tv,"
                            f"format=yuv420p[out]", "-map", "[out]", "-frames:v", "1", "-f", "rawvideo", str(tmp)],
                           should_cancel=should_cancel)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    return path


def _motion(source: SourceFrames) -> str:
    """Slow zoom/pan with sub-pixel sampling (perspective), so slow movement doesn't judder."""
    zoom, drift = MOTION[source.motion]
    seed = int(source.image_sha256[:8], 16)
    zoom_in = seed & 1
    dx, dy = _DRIFTS[(seed >> 1) % len(_DRIFTS)]
    p = f"((in+{source.first})/{max(1, source.scene_frames - 1)})"
    z = f"(1+{zoom}*{p})" if zoom_in else f"(1+{zoom}*(1-{p}))"
    # Window of size W/z x H/z, its centre drifting toward one side within the spare margin.
    x0 = f"(W-W/{z})/2*(1+{dx * drift})"
    y0 = f"(H-H/{z})/2*(1+{dy * drift})"
    x1, y1 = f"({x0}+W/{z})", f"({y0}+H/{z})"
    return (f"perspective=x0='{x0}':y0='{y0}':x1='{x1}':y1='{y0}':x2='{x0}':y2='{y1}':x3='{x1}':y3='{y1}'"
            f":interpolation=linear:eval=frame")


def filter_graph(spec: PieceSpec, frames: int, captions_path: str | None) -> str:
    """The piece's filtergraph over its prepared stills: each held with loop, moved or blended only here."""
    fps = spec.preset.fps
    chains = []
    for i, source in enumerate(spec.sources):
        chain = f"[{i}:v]setparams={BT709},loop=loop={frames - 1}:size=1,settb=1/{fps},setpts=N"
        if source.moving:
            chain += "," + _motion(source)
        chains.append(chain + f"[s{i}]")
    if len(spec.sources) == 2:
        chains.append(f"[s0][s1]xfade=transition={XFADE[spec.transition]}:duration={spec.seconds}:offset=0[mix]")
        last = "[mix]"
    else:
        last = "[s0]"
    tail = ""
    if captions_path:
        tail += f"ass=filename={filter_arg(captions_path)}:fontsdir={filter_arg(str(FONTS_DIR))},"
    tail += f"format=yuv420p,setparams={BT709}"
    chains.append(f"{last}{tail}[out]")
    return ";".join(chains)


def frame_offsets(data: bytes) -> list[int]:
    """Byte offset where each frame (access unit) of a rendered piece starts."""
    offsets, at = [], data.find(_ACCESS_UNIT_DELIMITER)
    while at >= 0:
        offsets.append(at)
        at = data.find(_ACCESS_UNIT_DELIMITER, at + len(_ACCESS_UNIT_DELIMITER))
    return offsets


def encoded_frames(spec: PieceSpec) -> int:
    """Frames actually encoded: a held still stops once the encoder has refined it (see h264.py)."""
    return spec.frames if spec.changing else min(spec.frames, max(2, spec.encoder.still_frames_encoded))


def _last_two_equal(recon: Path, frame_bytes: int) -> bool:
    """Whether the encoder's last two reconstructed frames are identical (so repeating the last is exact)."""
    with open(recon, "rb") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size < 2 * frame_bytes:
            return False
        fh.seek(size - 2 * frame_bytes)
        return fh.read(frame_bytes) == fh.read(frame_bytes)


def render_piece(spec: PieceSpec, out_path: str | Path, on_progress: PieceProgress | None = None,
                 should_cancel: Callable[[], bool] | None = None, stills_dir: str | Path | None = None) -> Path:
    """Encode the piece to out_path (raw H.264, see PIECE_SUFFIX); the file appears only when complete.

    A held still may hold fewer frames than spec.frames; its last frame then repeats exactly.
    Its stills are prepared once into stills_dir (default: beside out_path) and reused from there."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    stills = [prepared_still(s, spec.preset, Path(stills_dir or out.parent), should_cancel) for s in spec.sources]
    stem = out.parent / f".{out.name}.{uuid.uuid4().hex[:8]}"
    tmp, captions, recon = Path(f"{stem}.part"), Path(f"{stem}.ass"), Path(f"{stem}.recon.yuv")
    try:
        if spec.captions_ass:
            captions.write_text(spec.captions_ass, encoding="utf-8")
        subtitles = captions if spec.captions_ass else None
        # x264's reconstruction shows whether it has finished refining a held still; its options are
        # colon-separated, so a path with a colon can't carry it: then every frame is encoded.
        shortened = encoded_frames(spec) < spec.frames and ":" not in str(recon)
        _encode(spec, stills, encoded_frames(spec) if shortened else spec.frames, tmp, subtitles,
                recon if shortened else None, on_progress, should_cancel)
        if shortened and not _last_two_equal(recon, spec.preset.width * spec.preset.height * 3 // 2):
            _encode(spec, stills, spec.frames, tmp, subtitles, None, on_progress, should_cancel)
        os.replace(tmp, out)
    finally:
        for leftover in (tmp, captions, recon):
            leftover.unlink(missing_ok=True)
    if on_progress:
        on_progress(1.0)
    return out


def _encode(spec: PieceSpec, stills: list[Path], frames: int, dest: Path, captions: Path | None,
            recon: Path | None, on_progress: PieceProgress | None, should_cancel: Callable[[], bool] | None) -> None:
    encoder_args = spec.encoder.ffmpeg_args(spec.preset.fps, spec.changing)
    if recon:
        at = encoder_args.index("-x264-params") + 1
        encoder_args[at] += f":dump-yuv={recon}"
    args = []
    for still in stills:
        args += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{spec.preset.width}x{spec.preset.height}",
                 "-i", str(still)]
    args += ["-filter_complex", filter_graph(spec, frames, str(captions) if captions else None),
             "-map", "[out]", "-frames:v", str(frames), "-r", str(spec.preset.fps),
             *encoder_args, "-an", "-f", "h264", str(dest)]
    seconds = frames / spec.preset.fps
    on_time = (lambda t: on_progress(min(1.0, t / seconds))) if on_progress else None
    ffmpeg.run(args, on_time=on_time, should_cancel=should_cancel)
