"""A real browser against the app started the README way: scripts/start.sh with a worker and embedded Redis.

Debian's chromium is driven by Playwright (browser downloads are not possible here). Screenshots go to
artifacts/e2e/. Every test in this folder is marked `browser` and `sqlite_only`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .server import live_app, local_env
from .ui import ROOT, open_page

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# Pages answer quickly; waits for jobs pass ui.JOB_TIMEOUT. Never sleep: expect() retries.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def live_instance(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-instance")


@pytest.fixture(scope="session")
def live_server(live_instance) -> str:
    """Base URL of Scriptreel started by scripts/start.sh on a free port and a fresh instance."""
    with live_app(live_instance) as base:
        yield base


@pytest.fixture(scope="session")
def flask_cli(live_server, live_instance):
    """Run `flask --app wsgi ...` on the live server's instance, as its operator would on the server."""
    def run(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                                env=local_env(live_instance), capture_output=True, text=True,
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
