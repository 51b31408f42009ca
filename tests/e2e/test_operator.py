"""Running one instance for clients, in a real browser: the operator sets sign-up to invite-only,
invites a client, grants credits and sets the plan; the client sees them and can't change them."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .test_accessibility import assert_no_serious_violations
from .ui import screenshot, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def set_signup_mode(page: Page, label: str) -> None:
    page.goto("/operator/settings")
    page.get_by_label(label).check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Instance settings saved.")).to_be_visible()


def csrf_token(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.input_value()


@pytest.fixture
def operator(new_page, flask_cli) -> Page:
    """An operator's browser: signed up, then made operator on the server (the first account of a
    fresh instance already is one). Sign-up is set back to open afterwards for the other tests."""
    page = new_page(bypass_csp=True)  # so axe can be injected
    email = sign_up(page, "Opal Operator")
    flask_cli("operators", "add", email)
    yield page
    set_signup_mode(page, "Open")


def test_operator_runs_the_instance_for_a_client(operator, new_page):
    page = operator
    page.goto("/")
    page.get_by_role("banner").get_by_role("link", name="Operator").click()
    expect(page.get_by_role("heading", name="Operator", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Instance settings")).to_be_visible()

    # Sign-up by invitation only: a stranger is told so, with no form to fill in.
    set_signup_mode(page, "By invitation")
    screenshot(page, "operator-settings")
    assert_no_serious_violations(page)
    stranger = new_page(bypass_csp=True)
    response = stranger.goto("/signup")
    assert response.status == 403
    expect(stranger.get_by_role("heading", name="Sign-up is not open")).to_be_visible()
    expect(stranger.get_by_text("Sign-up on this Scriptreel is by invitation.")).to_be_visible()
    expect(stranger.get_by_role("button", name="Create account")).to_have_count(0)
    screenshot(stranger, "signup-by-invitation")
    assert_no_serious_violations(stranger)

    # An operator invite: the client signs up through it and gets a workspace on the Pro plan.
    page.get_by_role("link", name="Invites").click()
    page.get_by_label("Plan of their workspace").select_option(label="Pro")
    page.get_by_label("Workspace name (optional)").fill("Harbour Films")
    page.get_by_role("button", name="Create invite link").click()
    link = page.get_by_label("Invite link").input_value()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    screenshot(page, "operator-invite-created")
    assert_no_serious_violations(page)
    page.reload()
    expect(page.get_by_label("Invite link")).to_have_count(0)  # shown once, never re-posted

    client = new_page()
    sign_up(client, "Cleo Client", link)
    balance = client.get_by_role("banner").locator("#credit-balance .num")
    expect(balance).to_have_text("500")  # the Pro plan's monthly credits

    # The operator grants credits with a reason and moves the client to Agency.
    page.get_by_role("link", name="Workspaces").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Harbour Films"))
    expect(row).to_contain_text("Pro")
    screenshot(page, "operator-workspaces")
    assert_no_serious_violations(page)
    row.get_by_role("link", name="Harbour Films").click()
    page.get_by_label("Credits", exact=True).fill("250")
    page.get_by_label(re.compile("^Reason")).fill("Launch bonus")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Granted 250 credits to “Harbour Films”.")).to_be_visible()
    with page.expect_navigation():
        page.get_by_label("Plan", exact=True).select_option(label="Agency — 2000 credits/month")
    expect(page.get_by_text("“Harbour Films” is now on the Agency plan.")).to_be_visible()
    expect(page.locator("#operator-balance")).to_have_text("750")
    screenshot(page, "operator-workspace")
    assert_no_serious_violations(page)

    # The client sees both, and can change neither.
    client.goto("/workspace/")
    expect(balance).to_have_text("750")
    expect(client.get_by_text("Agency", exact=True)).to_be_visible()
    expect(client.get_by_text("The plan and credits are set by whoever runs this Scriptreel")).to_be_visible()
    expect(client.get_by_label("Change plan")).to_have_count(0)
    screenshot(client, "client-workspace-settings")
    client.goto("/credits/")
    expect(client.get_by_text("Launch bonus")).to_be_visible()
    expect(client.get_by_role("heading", name="Grant credits")).to_have_count(0)
    refused = client.request.post("/credits/grant", form={"amount": "1000000"},
                                  headers={"X-CSRFToken": csrf_token(client)})
    assert refused.status == 403 and "whoever runs this Scriptreel" in refused.text()
    refused = client.request.post("/workspace/plan", form={"plan": "free"},
                                  headers={"X-CSRFToken": csrf_token(client)})
    assert refused.status == 403 and "Opal Operator" in refused.text()
    client.reload()
    expect(balance).to_have_text("750")

    # Suspended: the client is told so and whom to ask; restored, everything is back.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Suspend workspace").click()
    expect(page.get_by_text("“Harbour Films” is suspended")).to_be_visible()
    assert client.goto("/").status == 403
    expect(client.get_by_role("heading", name="This workspace is suspended")).to_be_visible()
    expect(client.get_by_role("alert")).to_contain_text("Ask whoever runs this Scriptreel to restore it.")
    expect(client.get_by_role("alert")).to_contain_text("Opal Operator")
    screenshot(client, "client-workspace-suspended")
    page.get_by_role("button", name="Restore workspace").click()
    assert client.goto("/").status == 200
