"""Upload checks with real and hostile files: images by content and pixels, audio by probing and decoding."""
from __future__ import annotations

import io
import subprocess

import numpy as np
import pytest
from PIL import Image

from app.pipeline.ffmpeg import ffmpeg_exe
from app.pipeline.probe import probe
from app.pipeline.uploads import (
    UploadRejected,
    prepare_audio_upload,
    prepare_image_upload,
)
from app.pipeline.video.audio import decode_pcm
from tests.pipeline.pngs import flat_png

RED, BLUE = (220, 30, 30), (30, 30, 220)
FRAME = (1920, 1080)


def two_tone(size=(400, 200), fmt="PNG", **save) -> bytes:
    """Left half red, right half blue."""
    picture = Image.new("RGB", size, RED)
    picture.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    picture.save(out, format=fmt, **save)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def near(pixel, colour, tolerance=25) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def rejected(data: bytes, **kwargs) -> str:
    with pytest.raises(UploadRejected) as caught:
        prepare_image_upload(data, FRAME, **kwargs)
    return caught.value.user_message


# ---- images that are fine ----------------------------------------------------------------

@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/png")])
def test_png_jpeg_webp_are_fitted_to_the_frame(fmt, mime):
    result = prepare_image_upload(two_tone(fmt=fmt), FRAME)
    picture = opened(result.data)
    assert picture.size == FRAME and result.size == FRAME and result.mime == mime
    assert result.original_size == (400, 200) and result.original_format == fmt
    assert near(picture.getpixel((100, 540)), RED) and near(picture.getpixel((1820, 540)), BLUE)


def test_crop_covers_the_frame_and_letterbox_keeps_the_whole_picture():
    square = Image.new("RGB", (600, 600), RED)
    square.paste(BLUE, (0, 0, 600, 60))  # a blue band along the top
    data = io.BytesIO()
    square.save(data, format="PNG")
    cropped = opened(prepare_image_upload(data.getvalue(), FRAME, fit="crop").data)
    boxed = opened(prepare_image_upload(data.getvalue(), FRAME, fit="letterbox", background="black").data)
    blurred = opened(prepare_image_upload(data.getvalue(), FRAME, fit="letterbox").data)
    # Crop: red edge to edge, and the top band is cut away.
    assert near(cropped.getpixel((5, 540)), RED) and near(cropped.getpixel((960, 5)), RED)
    # Letterbox: the square sits in the middle, whole (its blue top visible), with bars either side.
    assert near(boxed.getpixel((960, 20)), BLUE) and near(boxed.getpixel((960, 800)), RED)
    assert boxed.getpixel((100, 540)) == (0, 0, 0) and boxed.getpixel((1820, 540)) == (0, 0, 0)
    # The blurred fill echoes the picture's colours (dimmed) instead of black.
    r, g, b = blurred.getpixel((100, 700))
    assert r > 40 and r > g and near(blurred.getpixel((960, 800)), RED)


def test_exif_rotated_photo_comes_out_upright_without_metadata():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": the stored left edge becomes the top
    exif[0x010F] = "PhoneMaker"
    data = two_tone(size=(400, 200), fmt="JPEG", exif=exif.tobytes(), quality=95)
    result = prepare_image_upload(data, (1080, 1920))
    picture = opened(result.data)
    assert result.original_size == (200, 400)
    assert near(picture.getpixel((540, 100)), RED) and near(picture.getpixel((540, 1820)), BLUE)
    assert not picture.getexif() and "exif" not in picture.info and "icc_profile" not in picture.info


def test_transparent_and_16_bit_pngs_are_flattened_sensibly():
    clear = Image.new("RGBA", (300, 300), (255, 255, 255, 0))
    clear.paste((0, 200, 0, 255), (100, 100, 200, 200))
    out = io.BytesIO()
    clear.save(out, format="PNG")
    flat = opened(prepare_image_upload(out.getvalue(), (300, 300)).data)
    assert flat.mode == "RGB" and flat.getpixel((10, 10)) == (0, 0, 0) and near(flat.getpixel((150, 150)), (0, 200, 0))
    grey = Image.fromarray(np.full((100, 100), 32768, dtype=np.uint16))
    out = io.BytesIO()
    grey.save(out, format="PNG")
    assert near(opened(prepare_image_upload(out.getvalue(), (100, 100)).data).getpixel((50, 50)), (128, 128, 128), 3)


# ---- hostile or unusable images ----------------------------------------------------------

@pytest.mark.parametrize("content, words", [
    (b"<!DOCTYPE html><html><body>not a picture</body></html>", "web page"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "GIF"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    (bytes(range(256)) * 4, "not a PNG, JPEG or WebP"),
])
def test_files_that_are_not_images_are_refused_by_content(content, words):
    message = rejected(content)
    assert words in message and "whatever its name says" in message


def test_empty_and_oversized_files_are_refused():
    assert "empty" in rejected(b"")
    assert "the limit is 1 KB" in rejected(two_tone(size=(800, 800), fmt="JPEG", quality=100), max_bytes=1024)


def test_size_refusals_show_sizes_that_differ():
    mb = 1024 * 1024
    picture = two_tone()
    just_over = picture + bytes(int(25.04 * mb) - len(picture))
    assert rejected(just_over) == "The image is 25.04 MB; the limit is 25.00 MB."
    # a route that reads only up to the limit passes the file's real length
    assert rejected(just_over[:25 * mb + 1], file_size=26 * mb) == "The image is 26.0 MB; the limit is 25.0 MB."


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_refused(fmt):
    data = two_tone(size=(800, 600), fmt=fmt)
    assert "damaged or incomplete" in rejected(data[: len(data) // 2])


def test_png_with_bad_checksum_is_refused():
    data = bytearray(two_tone())
    data[40] ^= 0xFF  # inside the first IDAT chunk
    assert "damaged or incomplete" in rejected(bytes(data))


def bomb_png(width: int, height: int) -> bytes:
    """A genuine, valid 1-bit PNG of blank rows: a few hundred KB that would decode to gigapixels."""
    return flat_png(width, height, 1, 0, bytes((width + 7) // 8))


def test_decompression_bombs_are_refused_before_decoding():
    beyond_pillow = bomb_png(20_000, 20_000)  # 400 megapixels: Pillow itself calls this a bomb
    beyond_ours = bomb_png(9_000, 9_000)  # 81 megapixels: under Pillow's limit, over ours
    assert len(beyond_pillow) < 200_000 and len(beyond_ours) < 200_000
    assert "too large in pixels" in rejected(beyond_pillow)
    message = rejected(beyond_ours)
    assert "too large in pixels (9000×9000)" in message and "50 megapixels" in message


# ---- audio --------------------------------------------------------------------------------

def make_audio(path, *args: str, seconds: float = 1.0) -> None:
    """A real recording made by ffmpeg: a 440 Hz tone at 44.1 kHz."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}", *args, str(path)], check=True)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean((samples.astype(np.float64) / 32768) ** 2)))


@pytest.mark.parametrize("name, args, codec, stored", [
    ("voice.mp3", ["-c:a", "libmp3lame"], "mp3", "aac"),
    ("voice.ogg", ["-c:a", "libvorbis"], "vorbis", "aac"),
    ("voice.opus", ["-c:a", "libopus", "-f", "ogg"], "opus", "aac"),
    ("voice.m4a", ["-c:a", "aac"], "aac", "aac"),
    ("voice.wav", ["-ac", "1", "-ar", "22050"], "pcm_s16le", "flac"),
    ("voice24.wav", ["-c:a", "pcm_s24le"], "pcm_s24le", "flac"),
    ("voice.flac", ["-c:a", "flac"], "flac", "flac"),
    ("voice-alac.m4a", ["-c:a", "alac"], "alac", "flac"),
])
def test_recordings_are_stored_compressed_at_48k_stereo(tmp_path, name, args, codec, stored):
    src, dst = tmp_path / name, tmp_path / "stored"
    make_audio(src, *args)
    result = prepare_audio_upload(src, dst)
    info = probe(dst)
    assert (info.audio.sample_rate, info.audio.channels, info.audio.codec) == (48_000, 2, stored)
    if stored == "aac":  # lossy in, lossy out: AAC-LC in M4A at about 192 kb/s, never an inflated FLAC
        assert (info.format_name.split(",")[0], info.audio.profile) == ("mov", "LC")
        assert (result.mime, result.extension) == ("audio/mp4", "m4a")
        assert dst.stat().st_size < 1.2 * 192_000 / 8 * result.duration + 4_000
    else:
        assert (info.format_name, result.mime, result.extension) == ("flac", "audio/flac", "flac")
        assert dst.stat().st_size < 48_000 * 4 / 2  # well under half the 16-bit WAV it used to be
    assert result.path == dst and result.original_codec.startswith(codec)  # PyAV names the decoder: mp3float
    assert result.duration == pytest.approx(1.0, abs=0.08)
    stored_pcm, source_pcm = decode_pcm(dst, 10**9), decode_pcm(src, 10**9)
    assert len(stored_pcm) == pytest.approx(result.duration * 48_000, abs=1100)  # AAC ends on a whole frame
    assert rms(stored_pcm[4800:-4800]) == pytest.approx(rms(source_pcm[4800:-4800]), rel=0.03)
    assert not list(tmp_path.glob("*.partial"))


def test_format_is_judged_by_content_not_name(tmp_path):
    src = tmp_path / "looks-like.png"  # really an MP3
    make_audio(src, "-c:a", "libmp3lame", "-f", "mp3")
    result = prepare_audio_upload(src, tmp_path / "out.wav")
    assert result.original_codec.startswith("mp3") and probe(result.path).audio.codec == "aac"


def audio_rejected(path, tmp_path, **kwargs) -> str:
    with pytest.raises(UploadRejected) as caught:
        prepare_audio_upload(path, tmp_path / "out.wav", **kwargs)
    assert not (tmp_path / "out.wav").exists()
    return caught.value.user_message


def test_non_audio_renamed_mp3_is_refused(tmp_path):
    image, text, noise, empty = (tmp_path / n for n in ("a.mp3", "b.mp3", "c.mp3", "d.mp3"))
    image.write_bytes(two_tone())
    text.write_text("Chapter one. This is my script, not a recording.\n" * 20)
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    empty.write_bytes(b"")
    assert "a PNG image, not a sound recording" in audio_rejected(image, tmp_path)
    assert "a text file, not a sound recording" in audio_rejected(text, tmp_path)
    assert "could not be read as audio" in audio_rejected(noise, tmp_path)
    assert "empty" in audio_rejected(empty, tmp_path)


def test_video_without_sound_is_refused(tmp_path):
    silent_film = tmp_path / "clip.m4a"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=blue:s=64x64:d=1", "-c:v", "libx264", "-f", "mp4", str(silent_film)], check=True)
    assert "no sound" in audio_rejected(silent_film, tmp_path)


def test_voiceovers_over_ten_minutes_are_refused_with_their_real_length(tmp_path):
    src = tmp_path / "long.opus"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "anullsrc=r=48000:cl=mono", "-t", "601", "-c:a", "libopus", "-b:a", "6k", "-f", "ogg", str(src)],
                   check=True)
    assert audio_rejected(src, tmp_path) == "The recording is 10:01 long; the limit is 10:00."


def test_too_long_and_too_big_recordings_are_refused(tmp_path):
    src = tmp_path / "long.mp3"
    make_audio(src, "-c:a", "libmp3lame", seconds=3)
    assert "0:03 long; the limit is 0:02" in audio_rejected(src, tmp_path, max_seconds=2)
    assert "the limit is 1 KB" in audio_rejected(src, tmp_path, max_bytes=1024)
