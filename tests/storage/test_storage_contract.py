"""The storage contract, run against a local folder and a real S3-compatible server process."""

import hashlib
import io
import random
import re
import tracemalloc
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from app.platform.storage import (
    InvalidKey,
    MissingObject,
    S3Storage,
    migrate_storage,
    storage_from_settings,
)

pytestmark = pytest.mark.sqlite_only  # no database involved: once is enough

MiB = 1024 * 1024
VIDEO_KEY = "ws/1/projects/2/video/final.mp4"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_all(storage, key: str) -> bytes:
    with storage.open_read(key) as stream:
        return stream.read()


class BrokenUpload(Exception):
    """The client went away in the middle of an upload."""


class GeneratedStream(io.RawIOBase):
    """Non-seekable pseudo-random bytes made on demand, in short reads like a socket."""

    def __init__(self, size: int, seed: int, fail_after: int | None = None):
        self._left = size
        self._sent = 0
        self._fail_after = fail_after
        self._random = random.Random(seed)
        self._digest = hashlib.sha256()

    @property
    def digest(self) -> str:
        return self._digest.hexdigest()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._fail_after is not None and self._sent >= self._fail_after:
            raise BrokenUpload("connection lost")
        count = min(len(buffer), self._left, 64 * 1024)
        data = self._random.randbytes(count)
        buffer[:count] = data
        self._digest.update(data)
        self._left -= count
        self._sent += count
        return count


def test_bytes_round_trip(storage):
    key = "ws/12/projects/34/images/abc.png"
    data = b"\x89PNG not really an image" * 1000
    storage.put_bytes(key, data, "image/png")
    assert read_all(storage, key) == data
    assert storage.exists(key)
    assert storage.size(key) == len(data)
    assert storage.checksum(key) == sha256(data)


def test_file_round_trip_through_download_to(storage, tmp_path):
    key = "ws/1/projects/2/audio/seg-1.wav"
    data = random.Random(7).randbytes(3 * MiB + 17)
    source = tmp_path / "upload.wav"
    source.write_bytes(data)
    storage.put_file(key, source, "audio/wav")
    dest = tmp_path / "scratch" / "nested" / "seg-1.wav"
    storage.download_to(key, dest)
    assert dest.read_bytes() == data
    assert [path.name for path in dest.parent.iterdir()] == ["seg-1.wav"]


def test_overwrite_replaces_content(storage):
    storage.put_bytes(VIDEO_KEY, b"first render, longer than the second")
    storage.put_bytes(VIDEO_KEY, b"second render")
    assert read_all(storage, VIDEO_KEY) == b"second render"
    assert storage.size(VIDEO_KEY) == len(b"second render")


def test_large_stream_round_trip_in_bounded_memory(storage, tmp_path):
    size = 96 * MiB
    stream = GeneratedStream(size, seed=1)
    copy_path = tmp_path / "copy.mp4"
    digest = hashlib.sha256()
    tracemalloc.start()
    try:
        storage.put_stream(VIDEO_KEY, stream, "video/mp4")
        upload_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        with storage.open_read(VIDEO_KEY) as source:
            while chunk := source.read(MiB):
                digest.update(chunk)
        read_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        storage.download_to(VIDEO_KEY, copy_path)
        download_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert digest.hexdigest() == stream.digest
    assert storage.checksum(VIDEO_KEY) == stream.digest
    assert storage.size(VIDEO_KEY) == size == copy_path.stat().st_size
    with open(copy_path, "rb") as copy:
        assert hashlib.file_digest(copy, "sha256").hexdigest() == stream.digest
    assert upload_peak < size / 2, f"upload held {upload_peak / MiB:.0f} MiB"
    assert read_peak < size / 2, f"streaming read held {read_peak / MiB:.0f} MiB"
    assert download_peak < size / 2, f"download held {download_peak / MiB:.0f} MiB"


def test_failed_stream_keeps_previous_object(storage):
    storage.put_bytes(VIDEO_KEY, b"previous render")
    # Past the multipart threshold, so S3 has parts in flight when the stream breaks.
    with pytest.raises(BrokenUpload):
        storage.put_stream(VIDEO_KEY, GeneratedStream(40 * MiB, seed=2, fail_after=20 * MiB))
    assert read_all(storage, VIDEO_KEY) == b"previous render"
    assert list(storage.list_keys()) == [VIDEO_KEY]
    if (path := storage.local_path(VIDEO_KEY)) is not None:
        assert [p.name for p in path.parent.iterdir()] == ["final.mp4"]


def test_listing_and_folder_deletion(storage):
    project_3 = ["ws/1/projects/3/images/a.png", "ws/1/projects/3/audio/a.wav"]
    others = ["ws/1/projects/34/images/b.png", "ws/2/projects/3/images/c.png"]
    for key in project_3 + others:
        storage.put_bytes(key, key.encode())
    assert sorted(storage.list_keys()) == sorted(project_3 + others)
    assert sorted(storage.list_keys("ws/1/projects/3")) == sorted(project_3)
    assert sorted(storage.list_keys("ws/1/projects/3/")) == sorted(project_3)
    assert list(storage.list_keys("ws/9")) == []

    assert storage.delete_prefix("ws/1/projects/3") == 2
    assert sorted(storage.list_keys()) == sorted(others)
    assert all(read_all(storage, key) == key.encode() for key in others)
    assert storage.delete_prefix("ws/1/projects/3") == 0


@pytest.mark.parametrize("prefix", ["", "/"])
def test_deleting_everything_is_refused(storage, prefix):
    storage.put_bytes("ws/1/a.png", b"keep me")
    with pytest.raises(InvalidKey):
        storage.delete_prefix(prefix)
    assert read_all(storage, "ws/1/a.png") == b"keep me"


def test_delete_is_idempotent(storage):
    storage.put_bytes("ws/1/a.png", b"x")
    storage.delete("ws/1/a.png")
    assert not storage.exists("ws/1/a.png")
    storage.delete("ws/1/a.png")
    assert list(storage.list_keys()) == []


def test_missing_object_is_a_clear_key_error(storage, tmp_path):
    key = "ws/1/nothing-here.png"
    dest = tmp_path / "out.png"
    assert not storage.exists(key)
    for call in (
        lambda: storage.open_read(key),
        lambda: storage.size(key),
        lambda: storage.checksum(key),
        lambda: storage.download_to(key, dest),
    ):
        with pytest.raises(MissingObject) as info:
            call()
        assert isinstance(info.value, KeyError)
        assert key in str(info.value)
    assert not dest.exists()


BAD_KEYS = ["../x", "/etc/passwd", "a/../../b", "a\\b", "a\x00b", "", "a//b", "a/", "./a", "a/\nb", "..", "a/.."]


@pytest.mark.parametrize("bad_key", BAD_KEYS)
def test_invalid_keys_are_rejected(storage, tmp_path, bad_key):
    source = tmp_path / "evil.txt"
    source.write_bytes(b"evil")
    before = sorted(tmp_path.rglob("*"))
    for call in (
        lambda: storage.put_bytes(bad_key, b"evil"),
        lambda: storage.put_stream(bad_key, io.BytesIO(b"evil")),
        lambda: storage.put_file(bad_key, source),
        lambda: storage.open_read(bad_key),
        lambda: storage.download_to(bad_key, tmp_path / "out"),
        lambda: storage.exists(bad_key),
        lambda: storage.size(bad_key),
        lambda: storage.checksum(bad_key),
        lambda: storage.delete(bad_key),
        lambda: storage.download_url(bad_key, "x.txt"),
        lambda: storage.local_path(bad_key),
    ):
        with pytest.raises(InvalidKey):
            call()
    assert sorted(tmp_path.rglob("*")) == before
    assert list(storage.list_keys()) == []


@pytest.mark.parametrize("bad_prefix", ["..", "../", "/etc", "a/../..", "a\\b", "a\x00b", "a//b"])
def test_invalid_prefixes_are_rejected(storage, bad_prefix):
    storage.put_bytes("a/b/c.png", b"keep me")
    with pytest.raises(InvalidKey):
        list(storage.list_keys(bad_prefix))
    with pytest.raises(InvalidKey):
        storage.delete_prefix(bad_prefix)
    assert read_all(storage, "a/b/c.png") == b"keep me"


def saved_filename(content_disposition: str) -> str:
    """The file name a browser saves under: RFC 6266 prefers filename*= over filename=."""
    encoded = re.search(r"filename\*=UTF-8''([^;\s]+)", content_disposition, re.IGNORECASE)
    return unquote(encoded.group(1), encoding="utf-8", errors="strict")


def test_s3_download_url_downloads_as_attachment(s3_storage):
    s3_storage.put_bytes(VIDEO_KEY, b"mp4 bytes", "video/mp4")
    url = s3_storage.download_url(VIDEO_KEY, 'Mé "vidéo" finale.mp4', "video/mp4")
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"mp4 bytes"
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert saved_filename(response.headers["content-disposition"]) == 'Mé "vidéo" finale.mp4'
    assert 'filename="M_ _vid_o_ finale.mp4"' in response.headers["content-disposition"]  # older clients
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["300"]


def test_presigned_urls_use_the_public_endpoint(s3_endpoint, s3_bucket):
    public = s3_endpoint.replace("127.0.0.1", "localhost")
    storage = S3Storage(
        s3_bucket, endpoint_url=s3_endpoint, access_key="k", secret_key="s",
        path_style=True, presign_seconds=60, public_endpoint_url=public,
    )
    storage.put_bytes("ws/1/a.png", b"png bytes")
    url = storage.download_url("ws/1/a.png", "a.png")
    assert url.startswith(f"{public}/{s3_bucket}/ws/1/a.png?")
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["60"]
    assert httpx.get(url).content == b"png bytes"


def test_local_downloads_are_served_from_the_file(local_storage):
    local_storage.put_bytes(VIDEO_KEY, b"mp4 bytes")
    assert local_storage.download_url(VIDEO_KEY, "final.mp4", "video/mp4") is None
    path = local_storage.local_path(VIDEO_KEY)
    assert path.read_bytes() == b"mp4 bytes"
    assert path.is_relative_to(local_storage.root)


def test_settings_build_working_backends(tmp_path, s3_settings):
    local = storage_from_settings({"MEDIA_ROOT": str(tmp_path / "media")})
    local.put_bytes("ws/1/a.txt", b"on disk")
    assert (tmp_path / "media" / "ws" / "1" / "a.txt").read_bytes() == b"on disk"

    s3 = storage_from_settings({**s3_settings, "S3_PRESIGN_SECONDS": "120"})
    s3.put_bytes("ws/1/a.txt", b"in the bucket")
    url = s3.download_url("ws/1/a.txt", "a.txt")
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["120"]
    assert httpx.get(url).content == b"in the bucket"


@pytest.mark.parametrize("settings, named", [
    ({"STORAGE_BACKEND": "ftp", "MEDIA_ROOT": "/tmp/x"}, "STORAGE_BACKEND"),
    ({"STORAGE_BACKEND": "local"}, "MEDIA_ROOT"),
    ({"STORAGE_BACKEND": "s3", "S3_BUCKET": ""}, "S3_BUCKET"),
    ({"STORAGE_BACKEND": "s3", "S3_BUCKET": "media", "S3_PATH_STYLE": "maybe"}, "S3_PATH_STYLE"),
])
def test_bad_settings_name_the_setting(settings, named):
    with pytest.raises(ValueError, match=named):
        storage_from_settings(settings)


MEDIA = {
    "ws/1/projects/2/images/seg-1.png": b"\x89PNG" + bytes(range(256)) * 40,
    "ws/1/projects/2/audio/seg-1.wav": random.Random(3).randbytes(MiB),
    VIDEO_KEY: random.Random(4).randbytes(9 * MiB),  # multipart on S3
    "ws/3/projects/4/notes/empty.txt": b"",
}


@pytest.mark.parametrize("direction", ["local->s3", "s3->local"])
def test_migration_copies_and_verifies(direction, local_storage, s3_storage):
    src, dst = (local_storage, s3_storage) if direction == "local->s3" else (s3_storage, local_storage)
    for key, data in MEDIA.items():
        src.put_bytes(key, data)
    progress = []
    report = migrate_storage(src, dst, on_progress=lambda done, total, key: progress.append((done, total, key)))
    assert (report.copied, report.skipped, report.repaired, report.mismatches) == (4, 0, [], [])
    assert report.ok
    assert report.bytes_copied == sum(len(data) for data in MEDIA.values())
    assert sorted(dst.list_keys()) == sorted(MEDIA)
    for key, data in MEDIA.items():
        assert read_all(dst, key) == data
    assert [(done, total) for done, total, _ in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(key for _, _, key in progress) == sorted(MEDIA)


def test_migration_rerun_skips_identical_objects(local_storage, s3_storage):
    for key, data in MEDIA.items():
        local_storage.put_bytes(key, data)
    migrate_storage(local_storage, s3_storage)
    again = migrate_storage(local_storage, s3_storage)
    assert (again.copied, again.skipped, again.bytes_copied, again.repaired) == (0, 4, 0, [])
    assert again.ok


def test_migration_detects_and_repairs_a_corrupted_destination(local_storage, s3_storage):
    for key, data in MEDIA.items():
        local_storage.put_bytes(key, data)
    migrate_storage(local_storage, s3_storage)
    original = MEDIA[VIDEO_KEY]
    corrupted = original[:1000] + bytes([original[1000] ^ 0xFF]) + original[1001:]  # same size, one byte flipped
    s3_storage.put_bytes(VIDEO_KEY, corrupted)
    s3_storage.delete("ws/1/projects/2/audio/seg-1.wav")

    report = migrate_storage(local_storage, s3_storage)
    assert report.repaired == [VIDEO_KEY]
    assert (report.copied, report.skipped, report.mismatches) == (2, 2, [])
    assert read_all(s3_storage, VIDEO_KEY) == original
    assert read_all(s3_storage, "ws/1/projects/2/audio/seg-1.wav") == MEDIA["ws/1/projects/2/audio/seg-1.wav"]
