"""A real browser against the app started the README way: scripts/start.sh with a worker and embedded Redis.

Debian's chromium is driven by Playwright (browser downloads are not possible here). Screenshots go to
artifacts/e2e/. Every test in this folder is marked `browser` and `sqlite_only`.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .ui import ROOT, open_page

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Pages answer quickly; waits for jobs pass ui.JOB_TIMEOUT. Never sleep: expect() retries.
expect.set_options(timeout=20_000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _local_env(instance: Path) -> dict:
    """The environment of a README-style local run on ``instance`` (its own SQLite and Redis)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(SCRIPTREEL_INSTANCE_PATH=str(instance))
    return env


@pytest.fixture(scope="session")
def live_instance(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-instance")


@pytest.fixture(scope="session")
def live_server(live_instance) -> str:
    """Base URL of Scriptreel started by scripts/start.sh on a free port and a fresh instance."""
    instance = live_instance
    port = _free_port()
    env = _local_env(instance)
    env.update(PORT=str(port))
    log_path = instance.parent / f"{instance.name}-server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["bash", "scripts/start.sh"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while f"running at {base}" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.3)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def flask_cli(live_server, live_instance):
    """Run `flask --app wsgi ...` on the live server's instance, as its operator would on the server."""
    def run(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                                env=_local_env(live_instance), capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout
    return run


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"No Chromium at {CHROMIUM}: apt-get install chromium (as .ci/run does) "
                    "or set CHROMIUM_PATH")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """Open pages in fresh browser contexts (separate cookie jars: separate people)."""
    pages = []

    def open_one(**options) -> Page:
        pages.append(open_page(browser, live_server, **options))
        return pages[-1]
    yield open_one
    for page in pages:
        page.context.close()


@pytest.fixture
def page(new_page) -> Page:
    return new_page()
