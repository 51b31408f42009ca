"""`flask storage migrate --to s3` against a real S3-compatible server (moto on loopback)."""
import hashlib
import os
from pathlib import Path

import boto3
import pytest

from tests.ops.s3_proxy import CorruptingS3Proxy
from tests.storage.conftest import ACCESS_KEY, SECRET_KEY

DAMAGED_KEY = "ws/1/projects/2/images/job-8.png"


def bucket_checksums(settings: dict) -> dict[str, str]:
    """What the bucket really holds, read with a plain S3 client."""
    client = boto3.client("s3", endpoint_url=settings["S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings["S3_BUCKET"]):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=settings["S3_BUCKET"], Key=item["Key"])["Body"].read()
            found[item["Key"]] = hashlib.sha256(body).hexdigest()
    return found


@pytest.fixture
def media(app) -> dict[str, str]:
    """A local media folder as a running install leaves it; returns key -> SHA-256."""
    root = Path(app.config["MEDIA_ROOT"])
    files = {
        "ws/1/projects/2/images/job-7.png": os.urandom(40_000),
        DAMAGED_KEY: os.urandom(30_000),
        "ws/1/projects/2/audio/job-9.wav": os.urandom(120_000),
        "ws/1/projects/2/pieces/3f2a.h264": os.urandom(200_000),
        # Past the 8 MiB part size: goes up as a multipart upload.
        "ws/1/projects/2/compiles/job-12/video.mp4": os.urandom(9 * 1024 * 1024),
        "ws/3/projects/4/images/upload-ab12 scène.jpg": os.urandom(5_000),
    }
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "ws/1/projects/2/images/.partial-xyz").write_bytes(b"an upload cut short")
    return {key: hashlib.sha256(data).hexdigest() for key, data in files.items()}


def migrate(app):
    return app.test_cli_runner().invoke(args=["storage", "migrate", "--to", "s3"])


def test_migrate_copies_verifies_repairs_and_resumes(app, media, s3_settings):
    app.config.update(s3_settings)
    # First run: the path to the bucket damages one upload; the command must notice and fail.
    with CorruptingS3Proxy(s3_settings["S3_ENDPOINT_URL"], DAMAGED_KEY) as proxy:
        app.config["S3_ENDPOINT_URL"] = proxy.url
        first = migrate(app)
    assert proxy.corrupted, "the proxy saw no upload of the damaged key"
    assert first.exit_code == 1
    assert DAMAGED_KEY in first.output and "Keep STORAGE_BACKEND=local" in first.output
    assert "You can now set" not in first.output

    # Second run, straight to the bucket: the damaged object is rewritten, the rest skipped.
    app.config["S3_ENDPOINT_URL"] = s3_settings["S3_ENDPOINT_URL"]
    second = migrate(app)
    assert second.exit_code == 0, second.output
    assert f"{len(media) - 1} already identical, 1 repaired" in second.output
    assert f"repaired (the bucket held different bytes): {DAMAGED_KEY}" in second.output
    assert "You can now set STORAGE_BACKEND=s3" in second.output
    assert bucket_checksums(s3_settings) == media  # byte-identical, no temp files, nothing extra

    # Third run: nothing left to do.
    third = migrate(app)
    assert third.exit_code == 0
    assert f"Copied 0 object(s) (0.0 MB), {len(media)} already identical, 0 repaired" in third.output


def test_migrate_explains_a_bucket_it_cannot_use(app, media, s3_settings):
    app.config.update({**s3_settings, "S3_BUCKET": "no-such-bucket"})
    result = migrate(app)
    assert result.exit_code == 1
    assert "The bucket could not be used" in result.output and "NoSuchBucket" in result.output

    app.config.update({"S3_BUCKET": ""})
    result = migrate(app)
    assert result.exit_code == 1 and "S3_BUCKET must be set" in result.output
