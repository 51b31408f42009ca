"""Checking and normalising user uploads: images and voice recordings, judged by content, never by name."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from PIL import Image, ImageCms, ImageOps

from app.pipeline.ffmpeg import FFmpegError
from app.pipeline.images.base import FitMode, encode_png, fit_to_frame
from app.pipeline.probe import UnreadableMedia, probe
from app.pipeline.voice.base import to_project_wav

MB = 1024 * 1024
DEFAULT_MAX_IMAGE_BYTES = 25 * MB
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel photo; bombs claim billions
DEFAULT_MAX_AUDIO_BYTES = 200 * MB
DEFAULT_MAX_AUDIO_SECONDS = 15 * 60
AUDIO_CONTAINERS = {"wav", "mp3", "mov", "mp4", "m4a", "ogg", "aac"}  # PyAV's format names
ProgressCallback = Callable[[float, str], None]


class UploadRejected(ValueError):
    """The upload can't be used; ``user_message`` says why, in words the uploader can act on."""

    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message


@dataclass(frozen=True)
class PreparedImage:
    """An uploaded picture, upright, stripped of metadata, at exactly the project's frame size."""

    data: bytes
    mime: str
    size: tuple[int, int]
    original_size: tuple[int, int]  # upright, before fitting
    original_format: str  # "PNG" | "JPEG" | "WEBP"


@dataclass(frozen=True)
class PreparedAudio:
    """An uploaded recording, decoded into the project's 48 kHz stereo 16-bit WAV."""

    path: Path
    duration: float
    original_format: str
    original_codec: str


# ---- what a file really is ------------------------------------------------------------------

def _image_format(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def _looks_like_text(head: bytes) -> bool:
    sample = head[:1024]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:
            return False
        text = sample[:exc.start].decode("utf-8")  # only a character cut off by the sample's end
    return bool(text.strip()) and all(ch.isprintable() or ch in "\t\r\n\ufeff" for ch in text)


def _describe_other(head: bytes) -> str | None:
    """A name for common files that are not what the user meant to upload."""
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"avif"):
        return "an HEIC/AVIF image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith((b"BM", b"II*\x00", b"MM\x00*")):
        return "a BMP or TIFF image"
    if _looks_like_text(head):
        lowered = head[:512].lower()
        if b"<svg" in lowered:
            return "an SVG drawing (text)"
        if b"<html" in lowered or b"<!doctype" in lowered:
            return "a web page (HTML)"
        return "a text file"
    return None


def _size_text(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{max(1, n // 1024)} KB"


# ---- images -------------------------------------------------------------------------------

def prepare_image_upload(data: bytes, size: tuple[int, int], *, fit: FitMode = "crop",
                         background: Literal["blur", "black"] = "blur",
                         max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
                         max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> PreparedImage:
    """Check an uploaded PNG, JPEG or WebP and fit it to ``size``; UploadRejected says what is wrong."""
    if not data:
        raise UploadRejected("The file is empty (0 bytes). Choose the image again.")
    if len(data) > max_bytes:
        raise UploadRejected(f"The image is {_size_text(len(data))}; the limit is {_size_text(max_bytes)}.")
    kind = _image_format(data[:16])
    if kind is None:
        other = _describe_other(data[:1024])
        what = f"This file is {other}, not" if other else "This file is not"
        raise UploadRejected(f"{what} a PNG, JPEG or WebP image, whatever its name says. "
                             "Upload a PNG, JPEG or WebP picture.")
    picture = _decode(data, kind, max_pixels)
    picture = _upright_srgb(picture)
    framed = fit_to_frame(picture, size, fit, background)
    if kind == "JPEG":  # photos stay JPEG: a 1080p PNG of a photo is several times larger
        out = io.BytesIO()
        framed.save(out, format="JPEG", quality=92, optimize=True)
        encoded, mime = out.getvalue(), "image/jpeg"
    else:
        encoded, mime = encode_png(framed), "image/png"
    return PreparedImage(data=encoded, mime=mime, size=size, original_size=picture.size, original_format=kind)


def _decode(data: bytes, kind: str, max_pixels: int) -> Image.Image:
    """Fully decoded pixels, refusing bombs before decoding and damaged files while decoding."""
    unreadable = f"This {kind} file is damaged or incomplete (perhaps the upload was cut short). Export it again."
    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as probe_image:
            width, height = probe_image.size
            if width * height > max_pixels:
                raise UploadRejected(_too_many_pixels(width, height, max_pixels))
            probe_image.verify()  # checksums and structure, without decoding pixels
        picture = Image.open(io.BytesIO(data), formats=[kind])
        picture.load()
        return picture
    except Image.DecompressionBombError:
        raise UploadRejected(_too_many_pixels(None, None, max_pixels)) from None
    except UploadRejected:
        raise
    except (OSError, ValueError, SyntaxError, EOFError):  # Pillow's ways of saying "broken file"
        raise UploadRejected(unreadable) from None


def _too_many_pixels(width: int | None, height: int | None, max_pixels: int) -> str:
    dims = f" ({width}×{height})" if width else ""
    return (f"The image is too large in pixels{dims}; the limit is {max_pixels / 1e6:.0f} megapixels. "
            "Resize it and upload again.")


def _upright_srgb(picture: Image.Image) -> Image.Image:
    """Rotated as the camera meant, in 8-bit sRGB, with transparency flattened onto black."""
    try:
        picture = ImageOps.exif_transpose(picture)
    except (ValueError, OSError, SyntaxError):  # unreadable EXIF: keep the pixels as stored
        pass
    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit greyscale: scale, don't clip
        picture = Image.fromarray((np.asarray(picture, dtype=np.float64) / 257).clip(0, 255).astype(np.uint8))
    icc = picture.info.get("icc_profile")
    if icc and picture.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            picture = ImageCms.profileToProfile(picture, source, ImageCms.createProfile("sRGB"),
                                                outputMode="RGBA" if picture.mode == "RGBA" else "RGB")
        except (ImageCms.PyCMSError, OSError):  # a broken profile: use the pixels as they are
            pass
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (0, 0, 0))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return picture.convert("RGB")


# ---- audio --------------------------------------------------------------------------------

def prepare_audio_upload(src: str | Path, dst: str | Path, *, max_bytes: int = DEFAULT_MAX_AUDIO_BYTES,
                         max_seconds: float = DEFAULT_MAX_AUDIO_SECONDS,
                         on_progress: ProgressCallback | None = None,
                         should_cancel: Callable[[], bool] | None = None) -> PreparedAudio:
    """Check an uploaded recording at ``src`` and write it to ``dst`` as a 48 kHz stereo WAV."""
    src, dst = Path(src), Path(dst)
    length = src.stat().st_size
    if length == 0:
        raise UploadRejected("The file is empty (0 bytes). Choose the recording again.")
    if length > max_bytes:
        raise UploadRejected(f"The recording is {_size_text(length)}; the limit is {_size_text(max_bytes)}.")
    with src.open("rb") as f:
        head = f.read(1024)
    image = _image_format(head[:16])
    other = f"a {image} image" if image else _describe_other(head)
    if other:
        raise UploadRejected(f"This file is {other}, not a sound recording, whatever its name says. "
                             "Upload a WAV, MP3, M4A or OGG file.")
    try:
        info = probe(src)
    except UnreadableMedia:
        raise UploadRejected("This file could not be read as audio. Upload a WAV, MP3, M4A or OGG file.") from None
    if not AUDIO_CONTAINERS & set(info.format_name.split(",")):
        raise UploadRejected(f"Recordings in the “{info.format_name}” format are not accepted. "
                             "Upload a WAV, MP3, M4A or OGG file.")
    if info.audio is None:
        raise UploadRejected("This file has no sound in it (no audio track).")
    stated = info.audio.duration or info.duration
    if stated > max_seconds:
        raise UploadRejected(f"The recording is {_clock(stated)} long; the limit is {_clock(max_seconds)}.")
    try:
        # The cap stops a file whose header understates its length from decoding for hours.
        to_project_wav(src, dst, limit_seconds=max_seconds + 1, should_cancel=should_cancel,
                       on_time=(lambda t: on_progress(min(1.0, t / stated), "Converting the recording"))
                       if on_progress and stated else None)
    except FFmpegError:
        raise UploadRejected("This recording is damaged and could not be decoded. Export it again.") from None
    duration = probe(dst).duration
    if duration > max_seconds or duration < 0.05:
        dst.unlink(missing_ok=True)
        raise UploadRejected(f"The recording is {_clock(duration)} long; the limit is {_clock(max_seconds)}."
                             if duration > max_seconds else "This recording contains no sound.")
    return PreparedAudio(path=dst, duration=duration, original_format=info.format_name,
                         original_codec=info.audio.codec)


def _clock(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"
