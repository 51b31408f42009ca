"""Media storage: a local folder by default, any S3-compatible bucket when configured."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

CHUNK_SIZE = 1024 * 1024
MAX_KEY_BYTES = 1024  # S3's limit; keeps local paths well under PATH_MAX too
# S3 parts must be >= 5 MiB; two 8 MiB parts in flight bound the memory of a streamed upload.
PART_SIZE = 8 * 1024 * 1024
PARTS_IN_MEMORY = 2
# Downloads buffer 256 KiB pieces while the disk catches up; 64 of them cap that at 16 MiB.
DOWNLOAD_PIECES_IN_MEMORY = 64
DELETE_BATCH = 1000  # DeleteObjects accepts at most 1000 keys per call
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class InvalidKey(ValueError):
    """A storage key that could escape the store or that no backend can hold."""


class MissingObject(KeyError):
    """Nothing is stored under the key."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return f"no stored object under key {self.key!r}"


def validate_key(key: str) -> str:
    """Return key if it is a safe relative '/'-separated key, else raise InvalidKey."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("a storage key must be a non-empty string")
    if "\\" in key:
        raise InvalidKey(f"backslash in storage key {key!r}")
    if not key.isprintable():
        raise InvalidKey(f"control or invisible character in storage key {key!r}")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(f"storage key longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(f"empty segment (leading, trailing or doubled '/') in {key!r}")
        # Covers '.' and '..' and keeps dot-names free for the local backend's temp files.
        if segment.startswith("."):
            raise InvalidKey(f"segment {segment!r} in {key!r} starts with '.'")
    return key


def _is_valid_key(key: str) -> bool:
    """True when key passes validate_key (used to skip foreign objects when listing)."""
    try:
        validate_key(key)
    except InvalidKey:
        return False
    return True


def _folder(prefix: str) -> str:
    """Normalise a folder prefix to 'a/b/' so 'projects/3' never matches 'projects/34'."""
    if prefix == "":
        return ""
    return validate_key(prefix.removesuffix("/")) + "/"


def guess_content_type(key: str) -> str:
    """MIME type from the key's extension, defaulting to octet-stream."""
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def attachment_disposition(filename: str) -> str:
    """Content-Disposition that downloads as filename (RFC 6266 with an ASCII fallback)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\/' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quote(filename, safe='')}"


class Storage(ABC):
    """Where media bytes live; keys are relative '/'-separated paths such as 'ws/1/projects/2/x.png'."""

    @abstractmethod
    def put_file(self, key: str, src_path: str | os.PathLike, content_type: str | None = None) -> None:
        """Store the file at src_path under key, replacing any previous object."""

    @abstractmethod
    def put_stream(self, key: str, fileobj: BinaryIO, content_type: str | None = None) -> None:
        """Store everything read from fileobj under key, in bounded memory."""

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store data under key."""
        self.put_stream(key, io.BytesIO(data), content_type)

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Open the object for streaming reads; close it (or use `with`) when done."""

    @abstractmethod
    def download_to(self, key: str, dest_path: str | os.PathLike) -> None:
        """Copy the object to dest_path (created atomically, parent folders included)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True when an object is stored under key."""

    @abstractmethod
    def size(self, key: str) -> int:
        """Size of the object in bytes."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under the folder prefix; return how many were removed."""

    @abstractmethod
    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """Yield the keys under the folder prefix ('' lists everything), in no set order."""

    def checksum(self, key: str) -> str:
        """Hex SHA-256 of the object's content, read as a stream."""
        digest = hashlib.sha256()
        with self.open_read(key) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                digest.update(chunk)
        return digest.hexdigest()

    def download_url(self, key: str, filename: str, content_type: str | None = None) -> str | None:
        """A short-lived URL that downloads the object as filename, or None if the web layer must serve it."""
        validate_key(key)
        return None

    def local_path(self, key: str) -> Path | None:
        """The object's file on this machine, or None when it lives elsewhere."""
        validate_key(key)
        return None


def _write_atomically(dest: Path, source: BinaryIO) -> None:
    """Copy source into dest through a temp file beside it, so readers never see a partial file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK_SIZE)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp's 0600 would hide media from a separate backup user
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


class LocalStorage(Storage):
    """Objects are files under root; the default for a single machine."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def put_file(self, key: str, src_path: str | os.PathLike, content_type: str | None = None) -> None:
        dest = self._path(key)
        with open(src_path, "rb") as source:
            _write_atomically(dest, source)

    def put_stream(self, key: str, fileobj: BinaryIO, content_type: str | None = None) -> None:
        _write_atomically(self._path(key), fileobj)

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MissingObject(key) from None

    def download_to(self, key: str, dest_path: str | os.PathLike) -> None:
        with self.open_read(key) as source:
            _write_atomically(Path(dest_path), source)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise MissingObject(key)
        return path.stat().st_size

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_file():
            path.unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        folder = _folder(prefix)
        if not folder:
            raise InvalidKey("refusing to delete the whole store")
        removed = sum(1 for _ in self.list_keys(folder))
        shutil.rmtree(self._path(folder.removesuffix("/")), ignore_errors=True)
        return removed

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        folder = _folder(prefix)
        base = self.root.joinpath(*folder.split("/")[:-1]) if folder else self.root
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [name for name in dirnames if not name.startswith(".")]
            relative = Path(dirpath).relative_to(self.root)
            for name in filenames:
                key = (relative / name).as_posix()
                if _is_valid_key(key):
                    yield key

    def local_path(self, key: str) -> Path:
        return self._path(key)


class _FullReads:
    """Reader whose read(n) returns n bytes unless the stream ends.

    s3transfer sizes an upload by one read(PART_SIZE); a short read from a pipe, socket or
    request body would make it treat a huge stream as small and buffer all of it.
    """

    def __init__(self, source: BinaryIO):
        self._source = source

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return self._source.read()
        chunks: list[bytes] = []
        wanted = size
        while wanted > 0 and (chunk := self._source.read(wanted)):
            chunks.append(chunk)
            wanted -= len(chunk)
        return b"".join(chunks)


def _is_missing(error: ClientError) -> bool:
    """True when an S3 error means 'no such object'."""
    return error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


def _s3_client(endpoint_url: str | None, region: str | None, access_key: str | None,
               secret_key: str | None, path_style: bool):
    """A boto3 S3 client that also suits R2, B2 and MinIO."""
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if path_style else "auto"},
        retries={"mode": "standard"},
        # boto3 >= 1.36 adds CRC checksum headers to every upload by default, which several
        # S3-compatible services reject; only send them where the S3 API requires one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region or "us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )


class S3Storage(Storage):
    """Objects live in an S3-compatible bucket (AWS S3, Cloudflare R2, Backblaze B2, MinIO)."""

    def __init__(self, bucket: str, endpoint_url: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, path_style: bool = False,
                 presign_seconds: int = 300, public_endpoint_url: str | None = None):
        self.bucket = bucket
        self.presign_seconds = presign_seconds
        self._client = _s3_client(endpoint_url, region, access_key, secret_key, path_style)
        # Browsers may reach the store under another name than the servers do (e.g. MinIO in Compose).
        self._presign_client = (
            _s3_client(public_endpoint_url, region, access_key, secret_key, path_style)
            if public_endpoint_url else self._client
        )
        self._transfer = TransferConfig(
            multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=4
        )
        # Not constructor arguments in boto3's TransferConfig, but read by its transfer manager.
        self._transfer.max_in_memory_upload_chunks = PARTS_IN_MEMORY
        self._transfer.max_in_memory_download_chunks = DOWNLOAD_PIECES_IN_MEMORY

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, endpoint={self._client.meta.endpoint_url!r})"

    def _extra_args(self, key: str, content_type: str | None) -> dict[str, str]:
        return {"ContentType": content_type or guess_content_type(key)}

    def put_file(self, key: str, src_path: str | os.PathLike, content_type: str | None = None) -> None:
        self._client.upload_file(
            os.fspath(src_path), self.bucket, validate_key(key),
            ExtraArgs=self._extra_args(key, content_type), Config=self._transfer,
        )

    def put_stream(self, key: str, fileobj: BinaryIO, content_type: str | None = None) -> None:
        # upload_fileobj switches to a multipart upload past PART_SIZE and aborts it on error,
        # so a failed stream never replaces the previous object.
        self._client.upload_fileobj(
            _FullReads(fileobj), self.bucket, validate_key(key),
            ExtraArgs=self._extra_args(key, content_type), Config=self._transfer,
        )

    def open_read(self, key: str) -> BinaryIO:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=validate_key(key))["Body"]
        except ClientError as error:
            if _is_missing(error):
                raise MissingObject(key) from None
            raise

    def download_to(self, key: str, dest_path: str | os.PathLike) -> None:
        dest = Path(dest_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            # s3transfer writes to a temp name beside dest and renames it when complete.
            self._client.download_file(self.bucket, validate_key(key), os.fspath(dest), Config=self._transfer)
        except ClientError as error:
            if _is_missing(error):
                raise MissingObject(key) from None
            raise

    def _head(self, key: str) -> dict | None:
        try:
            return self._client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as error:
            if _is_missing(error):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise MissingObject(key)
        return head["ContentLength"]

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    def delete_prefix(self, prefix: str) -> int:
        folder = _folder(prefix)
        if not folder:
            raise InvalidKey("refusing to delete the whole store")
        removed = 0
        batch: list[str] = []
        for key in self.list_keys(folder):
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                removed += self._delete_batch(batch)
                batch = []
        if batch:
            removed += self._delete_batch(batch)
        return removed

    def _delete_batch(self, keys: list[str]) -> int:
        response = self._client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )
        if errors := response.get("Errors"):
            first = errors[0]
            raise RuntimeError(
                f"S3 refused to delete {len(errors)} object(s), e.g. {first.get('Key')!r}: {first.get('Message')}"
            )
        return len(keys)

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=_folder(prefix))
        for page in pages:
            for item in page.get("Contents", []):
                # Skips foreign objects such as the 'folder/' markers some consoles create.
                if _is_valid_key(item["Key"]):
                    yield item["Key"]

    def download_url(self, key: str, filename: str, content_type: str | None = None) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": validate_key(key),
            "ResponseContentDisposition": attachment_disposition(filename),
            "ResponseContentType": content_type or guess_content_type(filename),
        }
        return self._presign_client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.presign_seconds
        )


def _setting(settings: Mapping[str, object], name: str) -> str | None:
    """A string setting, with empty values (common in env files) read as unset."""
    value = settings.get(name)
    return str(value) if value not in (None, "") else None


def _flag(settings: Mapping[str, object], name: str) -> bool:
    """A boolean setting given as a bool or a word such as '1', 'true', 'off'."""
    value = settings.get(name)
    if isinstance(value, bool):
        return value
    word = str(value or "").strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be one of {sorted(TRUE_WORDS | FALSE_WORDS - {''})}, not {value!r}")


def storage_from_settings(settings: Mapping[str, object]) -> Storage:
    """Build the configured backend from settings such as app.config or os.environ."""
    backend = (_setting(settings, "STORAGE_BACKEND") or "local").lower()
    if backend == "local":
        root = _setting(settings, "MEDIA_ROOT")
        if not root:
            raise ValueError("MEDIA_ROOT must be set when STORAGE_BACKEND is 'local'")
        return LocalStorage(root)
    if backend == "s3":
        bucket = _setting(settings, "S3_BUCKET")
        if not bucket:
            raise ValueError("S3_BUCKET must be set when STORAGE_BACKEND is 's3'")
        return S3Storage(
            bucket,
            endpoint_url=_setting(settings, "S3_ENDPOINT_URL"),
            region=_setting(settings, "S3_REGION"),
            access_key=_setting(settings, "S3_ACCESS_KEY_ID"),
            secret_key=_setting(settings, "S3_SECRET_ACCESS_KEY"),
            path_style=_flag(settings, "S3_PATH_STYLE"),
            presign_seconds=int(_setting(settings, "S3_PRESIGN_SECONDS") or 300),
            public_endpoint_url=_setting(settings, "S3_PUBLIC_ENDPOINT_URL"),
        )
    raise ValueError(f"STORAGE_BACKEND must be 'local' or 's3', not {backend!r}")


@dataclass
class MigrationReport:
    """What migrate_storage did."""

    copied: int = 0  # objects written to the destination (new or repaired) and verified
    skipped: int = 0  # already identical at the destination
    bytes_copied: int = 0
    repaired: list[str] = field(default_factory=list)  # keys whose destination copy differed and was rewritten
    mismatches: list[str] = field(default_factory=list)  # keys whose checksum still differs after copying

    @property
    def ok(self) -> bool:
        """True when every key is now identical on both sides."""
        return not self.mismatches


class HashingReader:
    """Read-through wrapper that hashes and counts what the destination consumed."""

    def __init__(self, source: BinaryIO):
        self._source = source
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._source.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


def _migrate_key(src: Storage, dst: Storage, key: str, report: MigrationReport) -> None:
    try:
        dst_size = dst.size(key)
    except MissingObject:
        dst_size = None
    if dst_size is not None:
        if dst_size == src.size(key) and dst.checksum(key) == src.checksum(key):
            report.skipped += 1
            return
        report.repaired.append(key)
    with src.open_read(key) as source:
        reader = HashingReader(source)
        dst.put_stream(key, reader, guess_content_type(key))
    if dst.checksum(key) != reader.digest.hexdigest():
        report.mismatches.append(key)
        return
    report.copied += 1
    report.bytes_copied += reader.size


def migrate_storage(src: Storage, dst: Storage,
                    on_progress: Callable[[int, int, str], None] | None = None) -> MigrationReport:
    """Copy every object from src to dst, verifying SHA-256 on both sides; safe to re-run."""
    keys = list(src.list_keys())
    report = MigrationReport()
    for done, key in enumerate(keys, start=1):
        _migrate_key(src, dst, key, report)
        if on_progress:
            on_progress(done, len(keys), key)
    return report
