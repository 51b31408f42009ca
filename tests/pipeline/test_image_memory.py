"""Image uploads decode within a fixed memory budget: peaks measured in a fresh process, outputs checked by pixel."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from app.pipeline.ffmpeg import ffmpeg_exe
from app.pipeline.images.bounded_decode import DEFAULT_DECODE_BUDGET
from app.pipeline.uploads import prepare_image_upload
from tests.pipeline.pngs import flat_png

REPO = Path(__file__).resolve().parents[2]
RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)
MB = 1024 * 1024

# Uploads the files named in argv[1] (comma-separated) at once, one thread each, and reports the
# process's peak memory above what it held before (VmHWM, reset through /proc/self/clear_refs).
UPLOADER = r"""
import json, sys, threading
from pathlib import Path
from app.pipeline.uploads import UploadRejected, prepare_image_upload

def memory(key):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(key))

paths, fit = sys.argv[1].split(","), sys.argv[2]
blobs = [Path(p).read_bytes() for p in paths]
outcomes = [None] * len(paths)

def upload(i):
    try:
        result = prepare_image_upload(blobs[i], (1920, 1080), fit=fit, max_pixels=60_000_000)
        Path(paths[i] + ".out").write_bytes(result.data)
        outcomes[i] = {"original_size": list(result.original_size)}
    except UploadRejected as exc:
        outcomes[i] = {"refused": exc.user_message}

with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
before = memory("VmRSS:")
threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(paths))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"peak": memory("VmHWM:") - before, "outcomes": outcomes}))
"""


def upload_measured(paths: list[Path], fit: str = "crop") -> tuple[int, list[dict]]:
    """Peak bytes above the starting point while uploading ``paths`` together, and each upload's outcome."""
    done = subprocess.run([sys.executable, "-c", UPLOADER, ",".join(map(str, paths)), fit], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(done.stdout)
    return report["peak"], report["outcomes"]


def near(pixel, colour, tolerance=3) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))


def output_of(path: Path) -> Image.Image:
    picture = Image.open(Path(f"{path}.out"))
    picture.load()
    return picture


def grey16_png(size: int, value: int) -> bytes:
    return flat_png(size, size, 16, 0, value.to_bytes(2, "big") * size)


def test_huge_flat_16_bit_png_is_refused_before_decoding_with_a_size_that_works(tmp_path):
    huge = tmp_path / "huge.png"
    huge.write_bytes(grey16_png(7740, 0x8000))  # 120 MB of pixels in about 120 KB
    assert 100_000 < huge.stat().st_size < 140_000
    peak, [outcome] = upload_measured([huge])
    message = outcome["refused"]
    assert "too large to open: its 7740×7740 pixels need" in message
    needed = float(re.search(r"need ([\d.]+) MB of memory", message).group(1))
    assert needed > 112 and "the limit is 112.0 MB" in message
    assert peak < 10 * MB  # refused from the header: nothing was decoded
    width, height = map(int, re.search(r"at most (\d+)×(\d+) pixels", message).groups())
    assert 6000 < width == height < 7740
    fitting = tmp_path / "fitting.png"  # the advice is honest: that size is accepted, within the budget
    fitting.write_bytes(grey16_png(width, 0x8000))
    peak, [outcome] = upload_measured([fitting])
    assert outcome == {"original_size": [width, height]} and peak < DEFAULT_DECODE_BUDGET
    assert near(output_of(fitting).getpixel((960, 540)), (128, 128, 128), 1)


def jpeg_two_tone(path: Path, width: int, height: int) -> Path:
    """A big photo made by ffmpeg (so this test process never holds its pixels): red left, blue right."""
    paint = (f"color=c=0x{bytes(RED).hex()}:s={width}x{height},"
             f"drawbox=x={width // 2}:y=0:w={width // 2}:h={height}:color=0x{bytes(BLUE).hex()}:t=fill")
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", paint,
                    "-frames:v", "1", "-q:v", "3", str(path)], check=True)
    return path


def webp(path: Path, size: tuple[int, int], colour) -> Path:
    Image.new("RGB", size, colour).save(path, lossless=True)
    return path


@pytest.mark.parametrize("name, make, size, left, right", [
    ("grey16.png", lambda p: p.write_bytes(grey16_png(6000, 0x2000)), (6000, 6000), (32,) * 3, (32,) * 3),
    ("rgb.png", lambda p: p.write_bytes(flat_png(5000, 4000, 8, 2, bytes(RED) * 5000)), (5000, 4000), RED, RED),
    ("palette.png", lambda p: p.write_bytes(flat_png(6000, 6000, 8, 3, bytes(6000), palette=bytes(BLUE))),
     (6000, 6000), BLUE, BLUE),
    # 192 MB as full-size RGB, so accepting it at all means the decoder scaled it (draft)
    ("photo.jpg", lambda p: jpeg_two_tone(p, 8000, 6000), (8000, 6000), RED, BLUE),
    ("picture.webp", lambda p: webp(p, (2200, 2200), GREEN), (2200, 2200), GREEN, GREEN),
])
def test_large_pictures_decode_within_the_budget(tmp_path, name, make, size, left, right):
    path = tmp_path / name
    make(path)
    peak, [outcome] = upload_measured([path])
    assert outcome == {"original_size": list(size)}
    assert peak < DEFAULT_DECODE_BUDGET
    picture = output_of(path)
    assert picture.size == (1920, 1080)
    tolerance = 6 if name.endswith(".jpg") else 1
    assert near(picture.getpixel((200, 540)), left, tolerance) and near(picture.getpixel((1720, 540)), right, tolerance)


def test_big_jpeg_is_decoded_at_a_fraction_of_its_size(tmp_path):
    photo = jpeg_two_tone(tmp_path / "photo.jpg", 8000, 6000)
    peak, [outcome] = upload_measured([photo], fit="letterbox")
    assert outcome == {"original_size": [8000, 6000]}
    assert peak < 192 * MB / 4  # decoded at 1/4 scale: 2000×1500, not 8000×6000
    picture = output_of(photo)
    assert near(picture.getpixel((500, 540)), RED, 6) and near(picture.getpixel((1420, 540)), BLUE, 6)
    assert picture.getpixel((100, 540)) != picture.getpixel((500, 540))  # the blurred fill beside the 4:3 photo


def test_concurrent_uploads_decode_one_at_a_time(tmp_path):
    paths = [tmp_path / f"{n}.png" for n in range(4)]
    for path in paths:
        path.write_bytes(flat_png(5000, 4000, 8, 2, bytes(RED) * 5000))  # about 95 MB at its peak, each
    peak, outcomes = upload_measured(paths)
    assert outcomes == [{"original_size": [5000, 4000]}] * 4
    assert peak < 2 * DEFAULT_DECODE_BUDGET  # four decoding at once would need about 380 MB


def test_webp_canvas_is_checked_before_pillow_opens_it(tmp_path):
    big = webp(tmp_path / "big.webp", (3000, 3000), GREEN)
    peak, [outcome] = upload_measured([big])
    assert "its 3000×3000 pixels need" in outcome["refused"] and peak < 10 * MB


@pytest.mark.parametrize("colour_type, pixel, expected", [
    (0, b"\x80\x00", (128, 128, 128)),  # 32768 / 257 = 127.5
    (0, b"\xff\xff", (255, 255, 255)),
    (0, b"\x20\x00", (32, 32, 32)),
    (2, b"\xff\xff\x80\x00\x20\x00", (255, 128, 32)),
    (6, b"\xff\xff\x80\x00\x20\x00\xff\xff", (255, 128, 32)),
    (6, b"\xff\xff\x80\x00\x20\x00\x80\x00", (128, 64, 16)),  # half transparent: flattened onto black
])
def test_16_bit_pngs_keep_their_brightness(colour_type, pixel, expected):
    for size in (300, 3000):  # decoded as is, and reduced by an integer factor first
        result = prepare_image_upload(flat_png(size, size, 16, colour_type, pixel * size), (300, 300))
        picture = Image.open(io.BytesIO(result.data))
        assert picture.mode == "RGB" and near(picture.getpixel((150, 150)), expected, 1)
