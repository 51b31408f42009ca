"""Checking and normalising user uploads: images and voice recordings, judged by content, never by name."""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from PIL import Image, ImageCms, ImageOps

from app.pipeline.ffmpeg import FFmpegError
from app.pipeline.images.base import FitMode, encode_png, fit_to_frame
from app.pipeline.images.bounded_decode import (
    DEFAULT_DECODE_BUDGET,
    DecodeBudgetExceeded,
    decode_for_frame,
    picture_size,
)
from app.pipeline.probe import UnreadableMedia, probe
from app.pipeline.voice.base import AAC_M4A, FLAC, to_project_audio

MB = 1024 * 1024
DEFAULT_MAX_IMAGE_BYTES = 25 * MB
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel photo; bombs claim billions
DEFAULT_MAX_AUDIO_BYTES = 200 * MB
DEFAULT_MAX_VOICEOVER_SECONDS = 10 * 60
DEFAULT_MAX_MUSIC_SECONDS = 30 * 60
AUDIO_CONTAINERS = {"wav", "flac", "mp3", "mov", "mp4", "m4a", "ogg", "aac"}  # PyAV's format names
LOSSLESS_CODECS = {"flac", "alac"}  # and every pcm_* (PyAV names the decoder: mp3 is "mp3float")
AUDIO_ADVICE = "Upload a WAV, FLAC, MP3, M4A or OGG file."
LENGTH_SLACK_SECONDS = 0.5  # encoders pad: a 30:00 Opus file states 30:00.007
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
    """An uploaded recording at 48 kHz stereo: FLAC if it came lossless, AAC in M4A if it came lossy."""

    path: Path
    duration: float
    original_format: str
    original_codec: str
    mime: str  # "audio/flac" | "audio/mp4"
    extension: str  # "flac" | "m4a"


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


def _distinct(show: Callable[[float, int], str], value: float, limit: float) -> tuple[str, str]:
    """``value`` and ``limit`` as text, with just enough extra decimals that different numbers read differently."""
    for extra in range(7):
        texts = show(value, extra), show(limit, extra)
        if texts[0] != texts[1]:
            break
    return texts


def _size_text(n: float, extra: int = 0) -> str:
    if n >= MB:
        return f"{n / MB:.{1 + extra}f} MB"
    return f"{n / 1024:.{extra}f} KB" if extra else f"{max(1, int(n) // 1024)} KB"


def _sizes(n: int, limit: int) -> tuple[str, str]:
    return _distinct(_size_text, n, limit)


# ---- images -------------------------------------------------------------------------------

def prepare_image_upload(data: bytes, size: tuple[int, int], *, fit: FitMode = "crop",
                         background: Literal["blur", "black"] = "blur",
                         max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
                         max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
                         decode_budget: int = DEFAULT_DECODE_BUDGET,
                         file_size: int | None = None) -> PreparedImage:
    """Check an uploaded PNG, JPEG or WebP and fit it to ``size``; UploadRejected says what is wrong.

    ``file_size`` is the upload's real length when ``data`` was read only up to the limit.
    """
    if not data:
        raise UploadRejected("The file is empty (0 bytes). Choose the image again.")
    length = max(len(data), file_size or 0)
    if length > max_bytes:
        raise UploadRejected("The image is {}; the limit is {}.".format(*_sizes(length, max_bytes)))
    kind = _image_format(data[:16])
    if kind is None:
        other = _describe_other(data[:1024])
        what = f"This file is {other}, not" if other else "This file is not"
        raise UploadRejected(f"{what} a PNG, JPEG or WebP image, whatever its name says. "
                             "Upload a PNG, JPEG or WebP picture.")
    picture, original_size = _decode(data, kind, size, fit, max_pixels, decode_budget)
    framed = fit_to_frame(_upright_srgb(picture), size, fit, background)
    if kind == "JPEG":  # photos stay JPEG: a 1080p PNG of a photo is several times larger
        out = io.BytesIO()
        framed.save(out, format="JPEG", quality=92, optimize=True)
        encoded, mime = out.getvalue(), "image/jpeg"
    else:
        encoded, mime = encode_png(framed), "image/png"
    return PreparedImage(data=encoded, mime=mime, size=size, original_size=original_size, original_format=kind)


def _decode(data: bytes, kind: str, frame: tuple[int, int], fit: FitMode, max_pixels: int,
            budget: int) -> tuple[Image.Image, tuple[int, int]]:
    """The picture scaled for ``frame`` and its upright size; refuses bombs before decoding, damage while decoding."""
    unreadable = f"This {kind} file is damaged or incomplete (perhaps the upload was cut short). Export it again."
    try:
        width, height = picture_size(data, kind)
        if width * height > max_pixels:
            raise UploadRejected(_too_many_pixels(width, height, max_pixels))
        return decode_for_frame(data, kind, frame, fit, budget)
    except DecodeBudgetExceeded as exc:
        raise UploadRejected(_too_big_to_decode(exc)) from None
    except Image.DecompressionBombError:
        raise UploadRejected(_too_many_pixels(None, None, max_pixels)) from None
    except UploadRejected:
        raise
    except (OSError, ValueError, SyntaxError, EOFError):  # Pillow's ways of saying "broken file"
        raise UploadRejected(unreadable) from None


def _too_big_to_decode(exc: DecodeBudgetExceeded) -> str:
    needed, limit = _sizes(exc.needed, exc.budget)
    return (f"The image is too large to open: its {exc.size[0]}×{exc.size[1]} pixels need {needed} of memory "
            f"and the limit is {limit}. Resize it to at most {exc.fitting[0]}×{exc.fitting[1]} pixels "
            "and upload again.")


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

@dataclass(frozen=True)
class CheckedAudio:
    """What a quick look at an uploaded recording found: enough to accept it before converting."""

    format_name: str
    codec: str
    stated_seconds: float

    @property
    def encoding(self):
        """Lossless sources stay lossless (FLAC); lossy ones become AAC rather than inflating."""
        return FLAC if self.codec.startswith("pcm_") or self.codec in LOSSLESS_CODECS else AAC_M4A


def check_audio_upload(src: str | Path, *, max_bytes: int = DEFAULT_MAX_AUDIO_BYTES,
                       max_seconds: float = DEFAULT_MAX_VOICEOVER_SECONDS) -> CheckedAudio:
    """Judge an uploaded recording by its content and its stated length, without decoding it."""
    src = Path(src)
    length = src.stat().st_size
    if length == 0:
        raise UploadRejected("The file is empty (0 bytes). Choose the recording again.")
    if length > max_bytes:
        raise UploadRejected("The recording is {}; the limit is {}.".format(*_sizes(length, max_bytes)))
    with src.open("rb") as f:
        head = f.read(1024)
    image = _image_format(head[:16])
    other = f"a {image} image" if image else _describe_other(head)
    if other:
        raise UploadRejected(f"This file is {other}, not a sound recording, whatever its name says. {AUDIO_ADVICE}")
    try:
        info = probe(src)
    except UnreadableMedia:
        raise UploadRejected(f"This file could not be read as audio. {AUDIO_ADVICE}") from None
    if not AUDIO_CONTAINERS & set(info.format_name.split(",")):
        raise UploadRejected(f"Recordings in the “{info.format_name}” format are not accepted. {AUDIO_ADVICE}")
    if info.audio is None:
        raise UploadRejected("This file has no sound in it (no audio track).")
    stated = info.audio.duration or info.duration
    if stated > max_seconds + LENGTH_SLACK_SECONDS:
        raise UploadRejected(_too_long(stated, max_seconds))
    return CheckedAudio(info.format_name, info.audio.codec, stated)


def convert_audio_upload(src: str | Path, dst: str | Path, checked: CheckedAudio, *,
                         max_seconds: float = DEFAULT_MAX_VOICEOVER_SECONDS,
                         on_progress: ProgressCallback | None = None,
                         should_cancel: Callable[[], bool] | None = None) -> PreparedAudio:
    """Write a checked recording to ``dst`` at 48 kHz stereo (FLAC or AAC: see PreparedAudio)."""
    src, dst = Path(src), Path(dst)
    encoding, stated = checked.encoding, checked.stated_seconds
    cap = max_seconds + 1  # stops a file whose header understates its length from decoding for hours
    try:
        to_project_audio(src, dst, encoding, limit_seconds=cap, should_cancel=should_cancel,
                         on_time=(lambda t: on_progress(min(1.0, t / stated), "Converting the recording"))
                         if on_progress and stated else None)
    except FFmpegError:
        raise UploadRejected("This recording is damaged and could not be decoded. Export it again.") from None
    written = probe(dst)
    duration = written.audio.duration or written.duration
    too_long = duration > max_seconds + LENGTH_SLACK_SECONDS
    if too_long or duration < 0.05:
        dst.unlink(missing_ok=True)
        raise UploadRejected(_too_long(duration, max_seconds, at_least=duration >= cap - 0.05)
                             if too_long else "This recording contains no sound.")
    return PreparedAudio(path=dst, duration=duration, original_format=checked.format_name,
                         original_codec=checked.codec, mime=encoding.mime, extension=encoding.extension)


def prepare_audio_upload(src: str | Path, dst: str | Path, *, max_bytes: int = DEFAULT_MAX_AUDIO_BYTES,
                         max_seconds: float = DEFAULT_MAX_VOICEOVER_SECONDS,
                         on_progress: ProgressCallback | None = None,
                         should_cancel: Callable[[], bool] | None = None) -> PreparedAudio:
    """Check an uploaded recording at ``src`` and convert it to ``dst`` in one go."""
    checked = check_audio_upload(src, max_bytes=max_bytes, max_seconds=max_seconds)
    return convert_audio_upload(src, dst, checked, max_seconds=max_seconds, on_progress=on_progress,
                                should_cancel=should_cancel)


def _too_long(seconds: float, limit: float, at_least: bool = False) -> str:
    length, most = _distinct(_clock, seconds, limit)
    return f"The recording is {'at least ' if at_least else ''}{length} long; the limit is {most}."


def _clock(seconds: float, extra: int = 0) -> str:
    """m:ss, with ``extra`` decimals of a second."""
    total = round(seconds, extra)
    minutes = int(total // 60)
    return f"{minutes}:{total - 60 * minutes:0{2 + extra + bool(extra)}.{extra}f}"
