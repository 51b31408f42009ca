"""The operator area: who gets in, what it shows, and what operators change (plans, credits,
quotas, suspension, instance settings, operator invites); the operators CLI."""
from __future__ import annotations

import re

import pytest

from app import create_app, ledger
from app.access import OPERATE
from app.extensions import db
from app.models import Asset, CreditEntry, InstanceSetting, Job, User, Workspace, utcnow

OPERATOR_ROUTES = [
    pytest.param(rule.rule, method, id=f"{method} {rule.rule}")
    for rule in create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True}).url_map.iter_rules()
    if rule.endpoint.startswith("operator.")
    for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def _url(rule: str, workspace_id: int) -> str:
    return rule.replace("<int:workspace_id>", str(workspace_id)).replace("<int:invite_id>", "1")


@pytest.fixture
def signed_in_operator(app, operator):
    """The operator's own browser (tests use ``client`` for the member)."""
    browser = app.test_client()
    browser.login(operator)
    return browser


def _workspace(app, workspace_id: int) -> Workspace:
    with app.app_context():
        workspace = db.session.get(Workspace, workspace_id)
        db.session.expunge(workspace)
        return workspace


def test_every_operator_page_needs_the_operate_permission(app):
    views = {e: v for e, v in app.view_functions.items() if e.startswith("operator.")}
    assert len(views) >= 9 and {v.permission for v in views.values()} == {OPERATE}


@pytest.mark.parametrize("role", ["owner", "admin", "viewer"])
@pytest.mark.parametrize("rule,method", OPERATOR_ROUTES)
def test_the_operator_area_does_not_exist_for_anyone_else(client, app, make_member, role, rule,
                                                          method):
    email, ws = make_member(role)
    client.login(email)
    url = _url(rule, ws)
    response = client.get(url) if method == "GET" else client.submit(url, {
        "plan": "agency", "direction": "grant", "amount": "1000", "reason": "x", "quota_mb": "0",
        "signup_mode": "open", "max_workspaces": "99", "self_service": "y",
        "default_quota_mb": "0"})
    assert response.status_code == 404
    assert 'href="/operator/"' not in client.get("/").get_data(as_text=True)
    with app.app_context():
        workspace = db.session.get(Workspace, ws)
        assert (workspace.plan, workspace.suspended_at, workspace.storage_quota_mb) == ("starter", None, None)
        assert ledger.balance(ws) == 100 and db.session.scalar(db.select(InstanceSetting)) is None


def test_the_overview_lists_every_workspace_with_its_figures(app, signed_in_operator, make_member):
    client = signed_in_operator
    _, ws = make_member("owner", name="Bea", plan="pro")
    make_member("editor", workspace_id=ws)
    with app.app_context():
        ledger.grant(ws, 50, "welcome")
        charge = ledger.charge(ws, 7, "image", key="charge:t:1")
        ledger.charge(ws, 3, "image", key="charge:t:2")
        ledger.refund(charge, "failed")
        db.session.add_all([
            Asset(workspace_id=ws, kind="image", storage_key="a", mime="image/png", size=3 * 1024 ** 2),
            Asset(workspace_id=ws, kind="audio", storage_key="b", mime="audio/flac", size=1024 ** 2),
            Job(rq_id="q1", workspace_id=ws, kind="voice", state="queued"),
            Job(rq_id="q2", workspace_id=ws, kind="image", state="running"),
            Job(rq_id="q3", workspace_id=ws, kind="image", state="done")])
        db.session.get(Workspace, ws).storage_quota_mb = 8
        db.session.commit()
    page = client.get("/operator/").get_data(as_text=True)
    row = re.search(r"WS Bea</a>.*?</tr>", page, re.S).group(0)
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    # plan, members, balance (50 - 7 - 3 + 7), used this month (7 - 7 + 3), storage, running jobs
    assert cells[:4] == ["Pro", "2", "47", "3"]
    assert cells[4].startswith("4 MB of 8 MB") and cells[5] == "2"
    assert "WS Opal" in page  # every workspace, the operator's own too


def test_operator_grants_and_removes_credits_with_a_reason(app, signed_in_operator, owner):
    member, ws = owner
    member.get("/")  # the first visit of the month grants the plan's 100 credits
    client = signed_in_operator
    response = client.submit(f"/operator/workspaces/{ws}/credits",
                             {"direction": "grant", "amount": "250", "reason": "March campaign"})
    assert response.status_code == 302
    client.submit(f"/operator/workspaces/{ws}/credits",
                  {"direction": "remove", "amount": "30", "reason": "Granted twice by mistake"})
    refused = client.submit(f"/operator/workspaces/{ws}/credits",
                            {"direction": "remove", "amount": "9999", "reason": "too much"})
    assert refused.status_code == 422 and "you can remove at most 320" in refused.get_data(as_text=True)
    no_reason = client.submit(f"/operator/workspaces/{ws}/credits",
                              {"direction": "grant", "amount": "5", "reason": ""})
    assert no_reason.status_code == 422 and "Say why" in no_reason.get_data(as_text=True)
    with app.app_context():
        entries = db.session.scalars(db.select(CreditEntry).filter_by(workspace_id=ws)
                                     .order_by(CreditEntry.id)).all()
        assert [(e.kind, e.delta, e.reason) for e in entries[1:]] == [
            ("grant", 250, "March campaign"), ("debit", -30, "Granted twice by mistake")]
        assert all(e.user.email.startswith("opal") for e in entries[1:])
        assert ledger.balance(ws) == sum(e.delta for e in entries) == 320


def test_the_owner_sees_the_operators_changes_but_cannot_make_them(app, client, operator, owner):
    client, ws = owner
    client.get("/")  # this month's Starter credits (100) are granted on the first visit
    operator_client = app.test_client()
    operator_client.login(operator)
    operator_client.submit(f"/operator/workspaces/{ws}/plan", {"plan": "agency"})
    operator_client.submit(f"/operator/workspaces/{ws}/credits",
                           {"direction": "grant", "amount": "40", "reason": "Launch bonus"})
    settings = client.get("/workspace/").get_data(as_text=True)
    assert "<strong>Agency</strong>" in settings and "140 left" in settings
    assert "set by whoever runs this Scriptreel" in settings and 'name="plan"' not in settings
    history = client.get("/credits/").get_data(as_text=True)
    assert "Launch bonus" in history and "Opal" in history and "Grant credits" not in history
    assert client.submit("/workspace/plan", {"plan": "free"}).status_code == 403
    assert client.submit("/credits/grant", {"amount": "5"}).status_code == 403
    with app.app_context():
        assert db.session.get(Workspace, ws).plan == "agency" and ledger.balance(ws) == 140


def test_suspending_a_workspace_shows_its_members_a_clear_page(app, signed_in_operator, owner):
    client, ws = owner
    with app.app_context():
        db.session.add(Asset(workspace_id=ws, kind="image", storage_key="x", mime="image/png"))
        db.session.commit()
        asset_id = db.session.scalar(db.select(Asset.id))
    signed_in_operator.submit(f"/operator/workspaces/{ws}/suspend")
    for url in ("/", "/workspace/", "/credits/", f"/media/{asset_id}"):
        response = client.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 403 and "This workspace is suspended" in body, url
        assert "Ask whoever runs this Scriptreel to restore it." in body and "Opal" in body
    htmx = client.get("/", headers={"HX-Request": "true"})
    assert htmx.status_code == 403 and 'data-reason="suspended"' in htmx.get_data(as_text=True)
    assert client.get("/account").status_code == 200  # the account and its other workspaces stay
    overview = signed_in_operator.get("/operator/").get_data(as_text=True)
    assert "suspended" in re.search(r"WS owner</a>.*?</td>", overview, re.S).group(0)
    signed_in_operator.submit(f"/operator/workspaces/{ws}/restore")
    assert client.get("/").status_code == 200


def test_is_suspended(app, owner):
    from app.access import is_suspended
    _, ws = owner
    with app.app_context():
        workspace = db.session.get(Workspace, ws)
        assert not is_suspended(workspace) and not is_suspended(None)
        workspace.suspended_at = utcnow()
        assert is_suspended(workspace)


def test_storage_quota_per_workspace_and_instance_default(app, signed_in_operator, owner):
    client, ws = owner
    with app.app_context():
        db.session.add(Asset(workspace_id=ws, kind="video", storage_key="v", mime="video/mp4",
                             size=3 * 1024 ** 2))
        db.session.commit()
    page = client.get("/workspace/").get_data(as_text=True)
    assert "3 MB of 10 GB" in page and 'class="usage-bar"' in page  # the instance default
    signed_in_operator.submit(f"/operator/workspaces/{ws}/quota", {"quota_mb": "4"})
    page = client.get("/workspace/").get_data(as_text=True)
    assert "3 MB of 4 MB" in page and f'max="{4 * 1024 ** 2}" value="{3 * 1024 ** 2}"' in page
    signed_in_operator.submit(f"/operator/workspaces/{ws}/quota", {"quota_mb": "2"})
    assert "uses more storage than its quota" in client.get("/workspace/").get_data(as_text=True)
    signed_in_operator.submit(f"/operator/workspaces/{ws}/quota", {"quota_mb": ""})
    signed_in_operator.submit("/operator/settings", {"signup_mode": "open", "max_workspaces": "1",
                                                     "default_quota_mb": "0", "selfhosted_credits": "1"})
    page = client.get("/workspace/").get_data(as_text=True)
    assert "3 MB (no limit)" in page and 'class="usage-bar"' not in page
    assert _workspace(app, ws).storage_quota_mb is None


def test_instance_settings_live_in_the_database_with_the_environment_as_default(
        app, signed_in_operator):
    page = signed_in_operator.get("/operator/settings").get_data(as_text=True)
    open_radio = page.split('value="open"')[0].rsplit("<input", 1)[1]
    assert "SIGNUP_MODE=open" in page and "checked" in open_radio
    response = signed_in_operator.submit("/operator/settings", {
        "signup_mode": "invite", "max_workspaces": "3", "self_service": "y",
        "default_quota_mb": "500", "selfhosted_credits": "0", "selfhosted_plans": ["pro", "agency"]})
    assert response.status_code == 302
    with app.app_context():
        stored = {s.key: s.value for s in db.session.scalars(db.select(InstanceSetting))}
    assert stored == {"SIGNUP_MODE": "invite", "MAX_WORKSPACES_PER_ACCOUNT": "3",
                      "SELF_SERVICE": "1", "DEFAULT_STORAGE_QUOTA_MB": "500",
                      "SELFHOSTED_IMAGE_CREDITS": "0", "SELFHOSTED_IMAGE_PLANS": "pro,agency"}
    # Another web process (same database, its own memory) sees the change at once.
    other = create_app({"TESTING": True, "RATELIMIT_ENABLED": False, "REDIS_URL": app.config["REDIS_URL"],
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    response = other.test_client().get("/signup")
    assert response.status_code == 403 and "by invitation" in response.get_data(as_text=True)
    with other.app_context():
        db.engine.dispose()
    bad = signed_in_operator.submit("/operator/settings", {
        "signup_mode": "everyone", "max_workspaces": "-1", "default_quota_mb": "500"})
    assert bad.status_code == 422


def test_signup_is_invite_only_by_default_in_production(monkeypatch, tmp_path):
    from app.config import load_config
    monkeypatch.setenv("SCRIPTREEL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    assert load_config(tmp_path)["SIGNUP_MODE"] == "invite"
    monkeypatch.setenv("SIGNUP_MODE", "open")
    assert load_config(tmp_path)["SIGNUP_MODE"] == "open"
    monkeypatch.setenv("SIGNUP_MODE", "sometimes")
    with pytest.raises(RuntimeError, match="SIGNUP_MODE must be one of open, invite, closed"):
        load_config(tmp_path)
    monkeypatch.delenv("SCRIPTREEL_ENV")
    monkeypatch.delenv("SIGNUP_MODE")
    config = load_config(tmp_path)
    assert (config["SIGNUP_MODE"], config["MAX_WORKSPACES_PER_ACCOUNT"], config["SELF_SERVICE"],
            config["TRUSTED_PROXIES"]) == ("open", 1, False, 0)


def test_an_operator_invite_gives_a_new_client_a_workspace_on_the_chosen_plan(
        app, client, signed_in_operator):
    app.config["SIGNUP_MODE"] = "closed"  # operator invites work whatever the mode
    response = signed_in_operator.submit("/operator/invites", {
        "plan": "pro", "workspace_name": "Acme\u202e Films", "email": "ceo@acme.example"})
    assert response.status_code == 302  # redirect after POST
    page = signed_in_operator.get("/operator/invites").get_data(as_text=True)
    link = re.search(r'value="http://localhost(/invite/[\w-]+)"', page).group(1)
    assert 'data-copy="invite-link"' in page
    assert "/invite/" not in signed_in_operator.get("/operator/invites").get_data(as_text=True)
    visitor = app.test_client()
    assert "on the <strong>Pro</strong> plan" in visitor.get(link).get_data(as_text=True)
    token = link.rsplit("/", 1)[1]
    response = visitor.submit(f"/signup?invite={token}", {
        "name": "Cleo", "email": "cleo@acme.example", "password": "cleo passphrase",
        "confirm": "cleo passphrase", "invite": token})
    assert response.status_code == 302
    with app.app_context():
        cleo = db.session.scalar(db.select(User).filter_by(email="cleo@acme.example"))
        assert [(m.role, m.workspace.name, m.workspace.plan) for m in cleo.memberships] == [
            ("owner", "Acme Films", "pro")]
        assert cleo.workspaces_created == 1 and not cleo.is_operator
    assert "Used by Cleo" in signed_in_operator.get("/operator/invites").get_data(as_text=True)
    again = app.test_client().get(link)
    assert again.status_code == 410 and "already been used" in again.get_data(as_text=True)


def test_an_existing_account_accepts_an_operator_invite(app, client, signed_in_operator, owner):
    client, _ = owner
    signed_in_operator.submit("/operator/invites", {"plan": "agency", "workspace_name": "Second brand"})
    link = re.search(r'(/invite/[\w-]+)"', signed_in_operator.get("/operator/invites")
                     .get_data(as_text=True)).group(1)
    assert client.submit(link).status_code == 302
    page = client.get("/workspace/").get_data(as_text=True)
    assert "Second brand" in page and "<strong>Agency</strong>" in page


def test_operator_invites_can_be_revoked(app, signed_in_operator):
    signed_in_operator.submit("/operator/invites", {"plan": "starter"})
    link = re.search(r'(/invite/[\w-]+)"', signed_in_operator.get("/operator/invites")
                     .get_data(as_text=True)).group(1)
    page = signed_in_operator.get("/operator/invites").get_data(as_text=True)
    revoke = re.search(r'action="(/operator/invites/\d+/revoke)"', page).group(1)
    assert signed_in_operator.submit(revoke).status_code == 302
    assert app.test_client().get(link).status_code == 410


def test_the_operators_cli(app, make_member):
    email, _ = make_member("owner", name="Cy")
    run = app.test_cli_runner().invoke
    result = run(args=["operators", "add", email.upper()])
    assert result.exit_code == 0 and "is an operator" in result.output
    assert email in run(args=["operators", "list"]).output
    result = run(args=["operators", "remove", email])
    assert result.exit_code == 0 and "0 left" in result.output
    assert email not in run(args=["operators", "list"]).output
    result = run(args=["operators", "add", "nobody@example.com"])
    assert result.exit_code != 0 and "No account with the email" in result.output
