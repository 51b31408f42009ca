"""Step 3's "Consistent look" panel saves each change where it is made, however quickly they follow."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from .ui import create_project, cut_script, screenshot, sign_up


def test_quick_look_changes_are_all_kept(page: Page):
    sign_up(page, "Lena Look")
    project = create_project(page, "Look")
    cut_script(page, "The harbour wakes at dawn. Boats leave the quay.\n\nGulls follow the boats out to sea.")
    page.goto(f"/projects/{project}/assets")
    style = page.get_by_label("Visual style")
    seed = page.get_by_label("Seed number")
    expect(seed).to_be_disabled()
    # Each change is sent while the one before is still being saved.
    style.fill("flat vector illustration, warm palette")
    style.dispatch_event("change")
    page.get_by_label("Same seed for every scene").check()
    expect(seed).to_be_enabled()
    page.get_by_label("Reference strength").fill("0.4")
    page.get_by_label("Reference strength").dispatch_event("change")
    expect(page.locator("#look-messages")).to_contain_text("Saved")
    expect(seed).not_to_have_value("")  # the seed chosen for the project is shown
    chosen = seed.input_value()
    screenshot(page, "step3-look-saved")

    page.reload()
    expect(page.get_by_label("Visual style")).to_have_value("flat vector illustration, warm palette")
    expect(page.get_by_label("Same seed for every scene")).to_be_checked()
    expect(page.get_by_label("Seed number")).to_have_value(chosen)
    expect(page.get_by_label("Reference strength")).to_have_value("0.4")
