"""axe-core (vendored, see vendor/README.md) on every page a person works in: no serious or critical
violations."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .ui import make_finished_project, open_page, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCRIPT = ("# The harbour\n\nThe harbour wakes at dawn. Gulls circle above the boats as they head out "
          "to sea.\n\n# The market\n\nAt noon the market opens. Traders call out the prices of the "
          "morning's catch.")
PUBLIC_PAGES = {"login": "/login", "signup": "/signup"}
MEMBER_PAGES = {"workspace-settings": "/workspace/", "credits": "/credits/",
                "account": "/account", "new-workspace": "/workspace/new"}
STEPS = ("script", "scenes", "assets", "video")
# A phone, a tablet, a laptop and a large desktop screen (issue 16)
WIDTHS = (390, 768, 1366, 2560)


@pytest.fixture(scope="module")
def member(browser, live_server):
    """A signed-in owner with a project that has every kind of content: scenes, descriptions,
    images, voiceovers, a preview and a compiled video. CSP is bypassed so axe can be injected."""
    page = open_page(browser, live_server, bypass_csp=True)
    sign_up(page, "Ada Access")
    pid = make_finished_project(page, "Harbour day", SCRIPT)
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


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page_name", ("projects", *STEPS))
def test_projects_and_steps_at_every_width(member, page_name, width):
    page, pid = member
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/" if page_name == "projects" else f"/projects/{pid}/{page_name}")
    if page_name == "assets":
        expect(page.locator("video.preview")).to_be_visible()
    assert_no_serious_violations(page)
