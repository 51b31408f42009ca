"""Fixtures: a real S3-compatible server (moto in server mode) on loopback, and both storage backends."""

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import boto3
import httpx
import pytest

from app.platform.storage import LocalStorage, S3Storage

ACCESS_KEY = "test-access"
SECRET_KEY = "test-secret"
STARTUP_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """URL of a moto S3 server process started for this test session."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"moto server exited with {server.returncode}:\n{log_path.read_text()}")
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto server did not answer within {STARTUP_SECONDS}s:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _admin_client(endpoint: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
    )


@pytest.fixture
def s3_bucket(s3_endpoint) -> Iterator[str]:
    """A fresh, empty bucket; emptied afterwards so the server's memory stays small."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    client = _admin_client(s3_endpoint)
    client.create_bucket(Bucket=name)
    yield name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)


@pytest.fixture
def s3_storage(s3_endpoint, s3_bucket) -> S3Storage:
    return S3Storage(
        s3_bucket, endpoint_url=s3_endpoint, region="us-east-1",
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, path_style=True,
    )


@pytest.fixture
def s3_settings(s3_endpoint, s3_bucket) -> dict[str, str]:
    """Environment-style settings (all strings) for the fresh bucket."""
    return {
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": s3_bucket,
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_REGION": "",
        "S3_ACCESS_KEY_ID": ACCESS_KEY,
        "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "S3_PATH_STYLE": "1",
    }


@pytest.fixture
def local_storage(tmp_path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


@pytest.fixture(params=["local", "s3"])
def storage(request):
    """Each contract test runs once per backend."""
    return request.getfixturevalue(f"{request.param}_storage")
