"""axe-core (vendored, see vendor/README.md) on every page a person works in: no serious or critical
violations."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .ui import JOB_TIMEOUT, create_project, cut_script, open_page, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCRIPT = ("# The harbour\n\nThe harbour wakes at dawn. Gulls circle above the boats as they head out "
          "to sea.\n\n# The market\n\nAt noon the market opens. Traders call out the prices of the "
          "morning's catch.")
PUBLIC_PAGES = {"login": "/login", "signup": "/signup"}
MEMBER_PAGES = {"projects": "/", "workspace-settings": "/workspace/", "credits": "/credits/",
                "account": "/account", "new-workspace": "/workspace/new"}
STEPS = ("script", "scenes", "assets", "video")


def htmx_post(page: Page, url: str) -> None:
    """What a button on the page sends (the tests of the journey click them; here we only need the state)."""
    token = page.locator("input[name=csrf_token]").first.input_value()
    response = page.request.post(url, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.ok, (url, response.status, response.text()[:300])


@pytest.fixture(scope="module")
def member(browser, live_server):
    """A signed-in owner with a project that has every kind of content: scenes, descriptions,
    images, voiceovers, a preview and a compiled video. CSP is bypassed so axe can be injected."""
    page = open_page(browser, live_server, bypass_csp=True)
    sign_up(page, "Ada Access")
    pid = create_project(page, "Harbour day")
    cut_script(page, SCRIPT)
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
    yield page, pid
    page.context.close()


def assert_no_serious_violations(page: Page) -> None:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = [f"{v['id']} ({v['impact']}): {v['help']}\n"
             + "\n".join(f"  {n['target']}: {n.get('failureSummary', '')}" for n in v["nodes"][:5])
             for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not found, f"{page.url}\n" + "\n".join(found)


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages(new_page, name):
    page = new_page(bypass_csp=True)
    page.goto(PUBLIC_PAGES[name])
    assert_no_serious_violations(page)


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_member_pages(member, name):
    page, _ = member
    page.goto(MEMBER_PAGES[name])
    assert_no_serious_violations(page)


@pytest.mark.parametrize("step", STEPS)
def test_project_steps(member, step):
    page, pid = member
    page.goto(f"/projects/{pid}/{step}")
    if step == "assets":
        expect(page.locator("video.preview")).to_be_visible()
    assert_no_serious_violations(page)
