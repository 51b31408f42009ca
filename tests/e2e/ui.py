"""What a person does through the pages, shared by the browser tests."""
from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
PASSWORD = "e2e passphrase 42"
JOB_TIMEOUT = 120_000  # ms: a batch of jobs on the one local worker of a shared 2-core machine
_emails = itertools.count(1)


def open_page(browser: Browser, base_url: str, **options) -> Page:
    """A page in a fresh browser context: its own cookie jar, so its own person."""
    context = browser.new_context(base_url=base_url, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900}, **options)
    return context.new_page()


def unique_email(name: str) -> str:
    return f"{re.sub(r'[^a-z]+', '.', name.lower()).strip('.')}{next(_emails)}.{os.getpid()}@example.com"


def sign_up(page: Page, name: str, invite_link: str | None = None) -> str:
    """Create an account through the sign-up form (of an invite link when given); returns the email.

    The live server raises the sign-up limit (tests/e2e/server.py): every e2e sign-up comes from 127.0.0.1.
    """
    email = unique_email(name)
    if invite_link:
        page.goto(invite_link)
        page.get_by_role("link", name="Create an account").click()
    else:
        page.goto("/signup")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    return email


def create_project(page: Page, title: str) -> int:
    """Create a project from the projects list; returns its id (the browser is on its Script step)."""
    page.goto("/")
    page.get_by_label("New project title").fill(title)
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"/projects/\d+/script$"))
    return int(re.search(r"/projects/(\d+)/", page.url).group(1))


def cut_script(page: Page, script: str) -> None:
    """On a project's Script step: paste the script and cut it into scenes."""
    page.get_by_label("Script", exact=True).fill(script)
    page.get_by_role("button", name="Cut into scenes").click()
    expect(page.locator(".scene-list > li.scene").first).to_be_visible()


def switch_workspace(page: Page, name: str) -> None:
    """Pick a workspace in the top bar's switcher (it applies on change)."""
    switcher = page.get_by_role("banner").get_by_label("Workspace", exact=True)
    label = next(o for o in switcher.locator("option").all_inner_texts() if o.startswith(f"{name} ("))
    with page.expect_navigation():
        switcher.select_option(label=label)


def create_workspace(page: Page, name: str) -> None:
    """Create a workspace from the account menu; its owner lands in it."""
    page.goto("/workspace/new")
    page.get_by_label("Workspace name").fill(name)
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_text(f"Workspace “{name}” created.")).to_be_visible()


def invite_link(page: Page, role: str) -> str:
    """Create an invite link for a role in the current workspace's settings."""
    page.goto("/workspace/")
    page.get_by_label("Role", exact=True).select_option(role)
    page.get_by_role("button", name="Create invite link").click()
    return page.get_by_label("Invite link").input_value()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def htmx_post(page: Page, url: str) -> None:
    """What a button on the page sends (to reach a state without clicking through it)."""
    token = page.locator("input[name=csrf_token]").first.input_value()
    response = page.request.post(url, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.ok, (url, response.status, response.text()[:300])


def make_finished_project(page: Page, title: str, script: str) -> int:
    """Create a project with every kind of content: scenes, descriptions, images, voiceovers fitted to
    their scenes, a preview and a compiled video (offline defaults); returns its id."""
    pid = create_project(page, title)
    cut_script(page, script)
    base = f"/projects/{pid}"
    htmx_post(page, f"{base}/scenes/suggest")
    htmx_post(page, f"{base}/assets/images/missing")
    htmx_post(page, f"{base}/assets/voice/all")
    page.goto(f"{base}/assets")
    expect(page.locator("#job-poller[hx-get]")).to_have_count(0, timeout=JOB_TIMEOUT)
    htmx_post(page, f"{base}/assets/fit/all")
    first_scene = page.locator(".asset-card").first.get_attribute("id").removeprefix("asset-")
    htmx_post(page, f"{base}/assets/scenes/{first_scene}/preview")
    htmx_post(page, f"{base}/video/compile")
    page.goto(f"{base}/video")
    expect(page.locator("#result-video")).to_be_visible(timeout=JOB_TIMEOUT)
    return pid
