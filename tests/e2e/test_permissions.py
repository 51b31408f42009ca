"""Who may do what, in a real browser: viewers look but can't change, refusals say why and whom to
ask, and another workspace's project is a 404 everywhere."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from .ui import (
    create_project,
    create_workspace,
    cut_script,
    invite_link,
    open_page,
    screenshot,
    sign_up,
    switch_workspace,
)

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]
SCRIPT = ("The harbour wakes at dawn. Gulls circle above the boats as they head out to sea.\n\n"
          "At noon the market opens. Traders call out the prices of the morning's catch.")
STEPS = ("script", "scenes", "assets", "video")
# Anything a person could use to change the project; search boxes only filter what is shown.
# Selecting a storyboard card (to see and hear it) changes nothing, so viewers have it too.
EDIT_CONTROLS = ("#main button:not([disabled]):not(.sb-select), #main input[type=file], "
                 "#main textarea:not([readonly]), #main select:not([disabled]), "
                 "#main input:not([type=hidden]):not([type=search]):not([readonly]):not([disabled])")


@dataclass
class Owner:
    page: Page
    name: str
    email: str
    workspace: str
    project_id: int


@pytest.fixture(scope="module")
def owner(browser, live_server, flask_cli):
    """The owner of workspace A, with a project cut into scenes; also an operator, so she may
    create several workspaces and set their plans."""
    page = open_page(browser, live_server)
    name = "Olivia Owner"
    email = sign_up(page, name)
    flask_cli("operators", "add", email)
    project_id = create_project(page, "Harbour")
    cut_script(page, SCRIPT)
    yield Owner(page, name, email, f"{name}'s workspace", project_id)
    page.context.close()


def csrf_token(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.input_value()


def post_form(page: Page, url: str, fields: dict[str, str]):
    """Submit a form the page doesn't offer, as a hand-made request would; returns the response."""
    with page.expect_navigation() as navigation:
        page.evaluate("""([url, fields]) => {
            const form = Object.assign(document.createElement('form'), {method: 'post', action: url});
            for (const [name, value] of Object.entries(fields)) {
                form.append(Object.assign(document.createElement('input'), {type: 'hidden', name, value}));
            }
            document.body.append(form);
            form.submit();
        }""", [url, fields])
    return navigation.value


def test_viewer_sees_every_step_but_cannot_change_anything(owner, new_page):
    switch_workspace(owner.page, owner.workspace)
    viewer = new_page()
    sign_up(viewer, "Victor Viewer", invite_link(owner.page, "viewer"))
    expect(viewer.get_by_role("link", name="Harbour")).to_be_visible()
    expect(viewer.get_by_role("button", name="Create project")).to_have_count(0)
    expect(viewer.locator(EDIT_CONTROLS)).to_have_count(0)

    pid = owner.project_id
    for step in STEPS:
        response = viewer.goto(f"/projects/{pid}/{step}")
        assert response.status == 200, step
        expect(viewer.get_by_role("navigation", name="Steps of Harbour")).to_be_visible()
        expect(viewer.locator(EDIT_CONTROLS)).to_have_count(0)
        screenshot(viewer, f"viewer-{step}")
    viewer.goto(f"/projects/{pid}/script")
    expect(viewer.locator(".scene-readonly").first).to_contain_text("The harbour wakes at dawn.")
    scenes = viewer.locator(".scene-readonly").count()
    assert scenes >= 2  # so a merge would change something

    scene_id = viewer.locator(".scene-list > li.scene").first.get_attribute("id").split("-")[1]
    refused = post_form(viewer, f"/projects/{pid}/title",
                        {"csrf_token": csrf_token(viewer), "title": "Renamed by a viewer"})
    assert refused.status == 403
    expect(viewer.get_by_role("heading", name="You can look, but not change this")).to_be_visible()
    expect(viewer.get_by_role("alert")).to_contain_text("Ask your workspace admin to change your role")
    expect(viewer.get_by_role("alert")).to_contain_text(f"Who can help: {owner.name} <{owner.email}>")
    screenshot(viewer, "viewer-refused")

    merge = viewer.request.post(  # what an htmx "Merge with next" button would send
        f"/projects/{pid}/script/scenes/{scene_id}/merge",
        headers={"HX-Request": "true", "X-CSRFToken": csrf_token(viewer)})
    assert merge.status == 403 and "Ask your workspace admin" in merge.text()

    viewer.goto(f"/projects/{pid}/script")
    expect(viewer.get_by_label("Project title")).to_have_value("Harbour")
    expect(viewer.locator(".scene-readonly")).to_have_count(scenes)


@pytest.mark.parametrize("change, heading, ask", [
    ("plan", "Not included in your plan", "Ask whoever runs this Scriptreel to change the plan."),
    ("switch", "Switched off for this workspace",
     "Ask your workspace admin to switch it on in Workspace settings."),
], ids=["plan-free", "switched-off"])
def test_workspace_without_the_generator_says_why_and_whom_to_ask(owner, change, heading, ask):
    page = owner.page
    create_workspace(page, f"Studio {change}")
    project = create_project(page, "Started before the change")
    page.goto("/workspace/")
    if change == "plan":
        page.get_by_label("Change plan").select_option("free")
        expect(page.get_by_text("The plan is now Free.")).to_be_visible()
    else:
        page.get_by_label("Switched on for this workspace").uncheck()
        expect(page.get_by_text("The video generator is off.")).to_be_visible()

    for url in ("/", f"/projects/{project}/script", f"/projects/{project}/video"):
        response = page.goto(url)
        assert response.status == 403, url
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text(ask)
        expect(page.get_by_role("alert")).to_contain_text(f"{owner.name} <{owner.email}>")
    screenshot(page, f"refused-{change}")
    page.get_by_role("link", name="Workspace settings").click()
    expect(page.get_by_role("heading", name="Workspace settings")).to_be_visible()


def test_editor_of_one_workspace_gets_404_for_another_workspaces_project(owner, new_page, tmp_path):
    switch_workspace(owner.page, owner.workspace)
    editor = new_page()
    sign_up(editor, "Edith Editor", invite_link(owner.page, "editor"))

    page = owner.page
    create_workspace(page, "Studio B")
    other = create_project(page, "Secret plans")
    cut_script(page, SCRIPT)
    page.goto(f"/projects/{other}/assets")
    image = tmp_path / "secret.png"
    Image.new("RGB", (640, 360), (200, 30, 30)).save(image)
    card = page.locator(".asset-card").first
    card.get_by_text("Use my own image or recording").click()
    card.get_by_label("Image (PNG, JPEG or WebP)").set_input_files(image)
    card.get_by_role("button", name="Upload image (free)").click()
    media = card.locator(".frame img").get_attribute("src")
    assert re.fullmatch(r"/media/\d+", media), media
    assert page.request.get(media).ok

    for step in STEPS:  # the editor's own workspace works
        assert editor.goto(f"/projects/{owner.project_id}/{step}").status == 200
    urls = [f"/projects/{other}", *(f"/projects/{other}/{step}" for step in STEPS),
            f"/projects/{other}/assets/status", f"/projects/{other}/video/progress",
            f"/projects/{other}/scenes/suggestions", f"/projects/{other}/delete",
            media, f"{media}/secret.png"]
    for url in urls:
        assert editor.goto(url).status == 404, url
    expect(editor.get_by_text("Secret plans")).to_have_count(0)
    screenshot(editor, "editor-404")
    editor.goto("/")
    renamed = editor.request.post(f"/projects/{other}/title", form={"title": "Mine now"},
                                  headers={"HX-Request": "true", "X-CSRFToken": csrf_token(editor)})
    assert renamed.status == 404
    page.goto(f"/projects/{other}/script")
    expect(page.get_by_label("Project title")).to_have_value("Secret plans")
