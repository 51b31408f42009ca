"""Client review in a real browser: an editor shares a compiled video, a client with no account comments on
scene 3 at 0:12 from a fresh browser, the editor sees it on scene 3 and resolves it; closed links say so,
and the link opens nothing else of the app."""
from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from app import create_app
from app.extensions import db
from app.models import Membership, ReviewLink, User, Workspace, utcnow

from .ui import JOB_TIMEOUT, PASSWORD, create_project, cut_script, screenshot, unique_email

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]
SCRIPT = ("The harbour wakes at dawn. Gulls circle above the boats as they head out to sea.\n\n"
          "At noon the market opens. Traders call out the prices of the morning's catch.\n\n"
          "In the afternoon the nets are mended on the quay. Old fishermen tell the young ones where the fish hide.\n\n"
          "At dusk the boats return. The lamps of the town come on one by one.")


def instance_app(instance):
    """The live instance's app, opened beside it, as its operator would on the server."""
    previous = os.environ.get("SCRIPTREEL_INSTANCE_PATH")
    os.environ["SCRIPTREEL_INSTANCE_PATH"] = str(instance)
    try:
        return create_app()
    finally:
        if previous is None:
            del os.environ["SCRIPTREEL_INSTANCE_PATH"]
        else:
            os.environ["SCRIPTREEL_INSTANCE_PATH"] = previous


def seeded_editor(instance) -> str:
    """An account in the live instance (the e2e tests stay under the sign-up rate limit this way)."""
    email = unique_email("Rita Editor")
    app = instance_app(instance)
    with app.app_context():
        workspace = Workspace(name="Rita's agency", plan="starter")
        user = User(email=email, name="Rita Editor")
        user.set_password(PASSWORD)
        db.session.add_all([workspace, user, Membership(user=user, workspace=workspace, role="owner")])
        db.session.flush()
        user.current_workspace_id = workspace.id
        db.session.commit()
        db.engine.dispose()
    return email


def compiled_project(page: Page) -> int:
    """A project made and compiled through the pages: draft images, eSpeak voices, fitted scenes."""
    pid = create_project(page, "Harbour day")
    cut_script(page, SCRIPT)
    page.goto(f"/projects/{pid}/assets")
    cards = page.locator(".asset-grid > li.asset-card")
    n = cards.count()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile(r"^Generate all missing")).click()
    expect(cards.locator(".live > .frame img")).to_have_count(n, timeout=JOB_TIMEOUT)
    page.get_by_role("button", name="Voice all scenes that need it (free)").click()
    expect(cards.locator("audio[aria-label^='Voiceover of scene']")).to_have_count(n, timeout=JOB_TIMEOUT)
    page.get_by_role("button", name="Fit all to audio").click()
    expect(page.get_by_text(f"Fitted {n} scenes to their audio.")).to_be_visible()
    page.goto(f"/projects/{pid}/video")
    page.get_by_role("button", name=re.compile(r"^Compile video")).click()
    expect(page.get_by_role("heading", name="Latest video")).to_be_visible(timeout=2 * JOB_TIMEOUT)
    return pid


def test_client_comments_on_scene_three_and_the_editor_resolves_it(page: Page, new_page, live_instance):
    email = seeded_editor(live_instance)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    pid = compiled_project(page)

    page.get_by_label("Passphrase").fill("")
    page.get_by_role("button", name="Create review link").click()
    link = page.get_by_label("Review link").input_value()
    token = link.rsplit("/", 1)[1]
    screenshot(page, "review-01-link-created")

    client = new_page()  # a fresh browser context: no account, no cookies
    client.goto(link)
    expect(client.get_by_role("heading", name=re.compile("Harbour day"))).to_be_visible()
    expect(client.locator(".storyboard-scene")).to_have_count(4)
    client.get_by_label("Your name").fill("Cleo Client")
    client.get_by_label("Scene", exact=True).select_option(label="Scene 3")
    client.get_by_label("At (minutes:seconds)").fill("0:12")
    client.get_by_label("Comment", exact=True).fill("Could the nets be brighter in this one?")
    client.get_by_role("button", name="Send comment").click()
    expect(client.get_by_text("your comment was sent to the team")).to_be_visible()
    expect(client.locator(".thread")).to_contain_text("Scene 3 · 0:12")
    screenshot(client, "review-02-client-commented")
    # Nothing the page gives opens the app: every link and media URL stays under the token.
    urls = client.locator("[href], [src], [action]").evaluate_all(
        "els => els.map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))")
    assert urls and all(u.startswith((f"/r/{token}", "/static/")) for u in urls), urls
    for path in (f"/projects/{pid}/video", f"/projects/{pid}/assets", "/"):
        client.goto(path)
        expect(client).to_have_url(re.compile(r"/login"))

    page.goto(f"/projects/{pid}/assets")
    scene3 = page.locator(".asset-grid > li.asset-card").nth(2)
    thread = scene3.locator(".thread")
    expect(thread).to_contain_text("Could the nets be brighter in this one?")
    expect(thread).to_contain_text("v1 · scene 3 · 0:12")
    screenshot(page, "review-03-editor-sees-comment")
    thread.get_by_label("Answer Cleo Client").fill("Brightened in the next version.")
    thread.get_by_role("button", name="Answer").click()
    expect(scene3.locator(".thread")).to_contain_text("Brightened in the next version.")
    scene3.locator(".thread").get_by_role("button", name="Resolve").click()
    expect(scene3.locator(".thread")).to_contain_text("Resolved")
    page.goto("/")
    expect(page.locator("[data-flag=comments]")).to_have_count(0)

    page.goto(f"/projects/{pid}/video")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#review-panel").get_by_role("button", name="Revoke").click()
    expect(page.locator("#review-panel")).to_contain_text("Link revoked")
    client.goto(link)
    expect(client.get_by_role("heading", name="This review link was withdrawn")).to_be_visible()
    screenshot(client, "review-04-revoked")

    # A second link, left to expire: a clear page too.
    page.get_by_role("button", name="Create review link").click()
    second = page.get_by_label("Review link").input_value()
    app = instance_app(live_instance)
    with app.app_context():
        db.session.execute(db.update(ReviewLink).where(ReviewLink.revoked_at.is_(None))
                           .values(expires_at=utcnow()))
        db.session.commit()
        db.engine.dispose()
    client.goto(second)
    expect(client.get_by_role("heading", name="This review link has expired")).to_be_visible()
