"""Invites, roles, removal, switching and creating workspaces, plans and the generator switch."""
import re
import threading
from datetime import timedelta

import pytest

from app import ledger
from app.extensions import db
from app.models import Invite, Membership, User, Workspace
from app.operator.settings import save_settings

INVITE_LINK = re.compile(
    r'id="invite-link" class="copyable" readonly value="http://localhost(/invite/[^"]+)"')


def _invite_link(client, role="viewer") -> str:
    response = client.submit("/workspace/invites", {"role": role})
    assert response.status_code == 302  # redirect after POST: a reload can't invite twice
    return INVITE_LINK.search(client.get(response.location).get_data(as_text=True)).group(1)


def _set(app, **settings):
    """Instance settings as an operator would save them in the operator area."""
    with app.app_context():
        save_settings(settings, user_id=None)
        db.session.commit()


def test_invite_a_viewer_who_signs_up_and_sees_but_cannot_change(client, app, owner):
    client, ws = owner
    client.submit("/projects", {"title": "Launch video"})
    link = _invite_link(client, "viewer")
    client.submit("/logout")
    client.csrf_token = None
    page = client.get(link).get_data(as_text=True)
    assert "invited as <strong>viewer</strong>" in page
    token = link.rsplit("/", 1)[1]
    response = client.submit(f"/signup?invite={token}", {
        "name": "Vic", "email": "vic@example.com", "password": "viewer passphrase",
        "confirm": "viewer passphrase", "invite": token})
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Launch video" in page and "Create project" not in page
    with app.app_context():
        vic = db.session.scalar(db.select(User).filter_by(email="vic@example.com"))
        assert [(m.workspace_id, m.role) for m in vic.memberships] == [(ws, "viewer")]
    # Single use: the link can't be used again.
    client.submit("/logout")
    assert "already been used" in client.get(link).get_data(as_text=True)


def test_a_new_invite_link_is_shown_once_after_a_redirect(client, owner):
    client, _ = owner
    response = client.submit("/workspace/invites", {"role": "editor"})
    assert response.status_code == 302 and response.location == "/workspace/#invite"
    page = client.get("/workspace/").get_data(as_text=True)
    assert INVITE_LINK.search(page) and 'data-copy="invite-link"' in page  # with a Copy button
    assert not INVITE_LINK.search(client.get("/workspace/").get_data(as_text=True))  # reload
    with client.application.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Invite)) == 1


def test_expired_invite_is_refused(client, app, owner):
    client, _ = owner
    link = _invite_link(client)
    with app.app_context():
        invite = db.session.scalar(db.select(Invite))
        invite.expires_at -= timedelta(days=30)
        db.session.commit()
    response = client.get(link)
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)


def test_existing_user_accepts_invite_and_switches_workspaces(client, app, make_member):
    admin_email, ws_a = make_member("admin", name="Ada")
    other_email, ws_b = make_member("owner", name="Bo")
    client.login(admin_email)
    link = _invite_link(client, "editor")
    client.submit("/logout")
    client.login(other_email)
    client.submit(link)
    with app.app_context():
        bo = db.session.scalar(db.select(User).filter_by(email=other_email))
        assert sorted((m.workspace_id, m.role) for m in bo.memberships) == [
            (ws_a, "editor"), (ws_b, "owner")]
    assert client.submit("/workspace/switch", {"workspace_id": ws_b}).status_code == 302
    assert "WS Bo" in client.get("/workspace/").get_data(as_text=True).split("<h2")[1]
    # A workspace the user doesn't belong to can't be switched to.
    _, ws_c = make_member("owner", name="Cy")
    assert client.submit("/workspace/switch", {"workspace_id": ws_c}).status_code == 404


def test_admin_changes_roles_and_removes_members_but_not_the_last_owner(client, app, make_member):
    owner_email, ws = make_member("owner", name="Olga")
    admin_email, _ = make_member("admin", workspace_id=ws, name="Ada")
    make_member("viewer", workspace_id=ws, name="Val")
    with app.app_context():
        ids = {m.user.name: m.id for m in db.session.scalars(db.select(Membership))}
    client.login(admin_email)
    client.submit(f"/workspace/members/{ids['Val']}/role", {"role": "editor"})
    page = client.submit(f"/workspace/members/{ids['Olga']}/role", {"role": "viewer"},
                         follow_redirects=True).get_data(as_text=True)
    assert "Only an owner can make or unmake owners." in page
    page = client.submit(f"/workspace/members/{ids['Olga']}/remove", {},
                         follow_redirects=True).get_data(as_text=True)
    assert "Only an owner can remove an owner." in page
    client.submit(f"/workspace/members/{ids['Val']}/remove", {})
    client.submit("/logout")
    client.login(owner_email)
    page = client.submit(f"/workspace/members/{ids['Olga']}/remove", {},
                         follow_redirects=True).get_data(as_text=True)
    assert "The last owner can&#39;t be removed." in page
    page = client.submit(f"/workspace/members/{ids['Olga']}/role", {"role": "admin"},
                         follow_redirects=True).get_data(as_text=True)
    assert "A workspace needs at least one owner." in page
    with app.app_context():
        roles = {m.user.name: m.role for m in db.session.scalars(db.select(Membership))}
    assert roles == {"Olga": "owner", "Ada": "admin"}


def test_owners_cannot_change_their_plan_unless_self_service_is_on(client, app, owner, operator):
    client, ws = owner
    response = client.submit("/workspace/plan", {"plan": "agency"})
    body = response.get_data(as_text=True)
    assert response.status_code == 403 and 'data-reason="operator"' in body
    assert "whoever runs this Scriptreel" in body and "Opal" in body  # and who that is
    page = client.get("/workspace/").get_data(as_text=True)
    assert 'name="plan"' not in page and "set by whoever runs this Scriptreel" in page
    with app.app_context():
        assert db.session.get(Workspace, ws).plan == "starter"
    _set(app, SELF_SERVICE=True)
    assert client.submit("/workspace/plan", {"plan": "agency"}).status_code == 302
    with app.app_context():
        assert db.session.get(Workspace, ws).plan == "agency"


def test_owner_changes_plan_and_admin_switches_generator(client, app, make_member):
    app.config["SELF_SERVICE"] = True  # owners choose their plan on this instance
    owner_email, ws = make_member("owner", name="Olga")
    admin_email, _ = make_member("admin", workspace_id=ws, name="Ada")
    client.login(admin_email)
    assert client.submit("/workspace/plan", {"plan": "pro"}).status_code == 403
    client.submit("/workspace/video-generator", {})  # unchecked box: switch off
    body = client.get("/").get_data(as_text=True)
    assert 'data-reason="disabled"' in body
    client.submit("/workspace/video-generator", {"enabled": "on"})
    assert client.get("/").status_code == 200
    client.submit("/logout")
    client.login(owner_email)
    client.submit("/workspace/plan", {"plan": "free"})
    body = client.get("/").get_data(as_text=True)
    assert 'data-reason="plan"' in body and "Free plan" in body
    with app.app_context():
        assert db.session.get(Workspace, ws).plan == "free"


@pytest.mark.parametrize("hostile,stored", [
    ("Acme\x00 Studio", "Acme Studio"),
    ("Invoice \u202egnp.exe", "Invoice gnp.exe"),  # a right-to-left override reverses the display
    ("Zero\u200bwidth\u2066isolate\u2069", "Zerowidthisolate"),
])
def test_workspace_names_are_cleaned_like_every_other_field(client, app, owner, operator, hostile,
                                                            stored):
    client, ws = owner
    client.submit("/workspace/name", {"name": hostile}, htmx=True)
    with app.app_context():
        assert db.session.get(Workspace, ws).name == stored
    client.submit("/logout")
    client.login(operator)
    client.submit("/workspace/new", {"name": hostile})
    with app.app_context():
        assert db.session.scalar(db.select(Workspace.name).order_by(Workspace.id.desc())) == stored


def test_one_workspace_per_account_by_default(client, app, owner):
    client, _ = owner  # created by make_member: counts as this account's own
    with app.app_context():
        db.session.execute(db.update(User).values(workspaces_created=1))
        db.session.commit()
    page = client.get("/workspace/new")
    assert page.status_code == 403 and "Each account can create 1 workspace" in page.get_data(as_text=True)
    response = client.submit("/workspace/new", {"name": "Second"})
    assert response.status_code == 403 and "Ask whoever runs this Scriptreel" in \
        response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Workspace)) == 1


def test_more_workspaces_never_collect_monthly_credits_twice(client, app, operator):
    """The finding: 13 workspaces collected 13 x 100 credits. Now only the first has a paid plan."""
    _set(app, MAX_WORKSPACES_PER_ACCOUNT=13)
    client.submit("/signup", {"name": "Mo", "email": "mo@example.com", "password": "mo passphrase 1",
                              "confirm": "mo passphrase 1"})
    for n in range(12):
        response = client.submit("/workspace/new", {"name": f"Extra {n}"}, follow_redirects=True)
        assert "It is on the Free plan" in response.get_data(as_text=True)
    assert client.submit("/workspace/new", {"name": "One too many"}).status_code == 403
    with app.app_context():
        mo = db.session.scalar(db.select(User).filter_by(email="mo@example.com"))
        workspaces = [m.workspace for m in mo.memberships]
        for workspace in workspaces:
            ledger.ensure_monthly_grant(workspace)
        assert len(workspaces) == 13
        assert sum(ledger.balance(w.id) for w in workspaces) == 100
        assert sorted(w.plan for w in workspaces) == ["free"] * 12 + ["starter"]


def test_the_workspace_limit_holds_under_concurrent_requests(app, make_member):
    email, _ = make_member("owner")
    with app.app_context():
        db.session.execute(db.update(User).values(workspaces_created=1))
        db.session.commit()
    _set(app, MAX_WORKSPACES_PER_ACCOUNT=2)
    browsers = [app.test_client() for _ in range(4)]
    for browser in browsers:
        browser.login(email)
    barrier, codes = threading.Barrier(len(browsers)), []

    def create(browser, n):
        barrier.wait()
        codes.append(browser.submit("/workspace/new", {"name": f"Race {n}"}).status_code)
    threads = [threading.Thread(target=create, args=(b, n)) for n, b in enumerate(browsers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(codes) == [302, 403, 403, 403]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Workspace)) == 2


def test_operators_create_workspaces_without_a_limit(client, app, operator):
    client.login(operator)
    for n in range(3):
        response = client.submit("/workspace/new", {"name": f"Client {n}"}, follow_redirects=True)
        assert "It is on the Starter plan" in response.get_data(as_text=True)


def _demote(browser, membership_id: int, barrier, results):
    barrier.wait()
    results.append(browser.submit(f"/workspace/members/{membership_id}/role",
                                  {"role": "admin"}).status_code)


def test_two_owners_demoting_each_other_at_once_never_leave_no_owner(app, make_member):
    """Two real requests on two threads (separate connections), released together, 50 times."""
    first, ws = make_member("owner", name="Ann")
    second, _ = make_member("owner", workspace_id=ws, name="Ben")
    with app.app_context():
        ids = {m.user.name: m.id for m in db.session.scalars(db.select(Membership))}
    ann, ben = app.test_client(), app.test_client()
    ann.login(first)
    ben.login(second)
    for _ in range(50):
        with app.app_context():
            db.session.execute(db.update(Membership).values(role="owner"))
            db.session.commit()
        barrier, results = threading.Barrier(2), []
        threads = [threading.Thread(target=_demote, args=(ann, ids["Ben"], barrier, results)),
                   threading.Thread(target=_demote, args=(ben, ids["Ann"], barrier, results))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert results == [302, 302]
        with app.app_context():
            roles = sorted(db.session.scalars(db.select(Membership.role)))
        assert roles == ["admin", "owner"]  # exactly one demotion won


def test_workspace_rename_autosaves(client, owner):
    client, _ = owner
    response = client.submit("/workspace/name", {"name": "Studio North"}, htmx=True)
    assert response.status_code == 200 and "Saved" in response.get_data(as_text=True)
    response = client.submit("/workspace/name", {"name": " "}, htmx=True)
    assert response.status_code == 422 and "Give the workspace a name" in response.get_data(as_text=True)
    assert "Studio North" in client.get("/workspace/").get_data(as_text=True)


def test_cli_sets_plan(app, make_member):
    _, ws = make_member("owner")
    result = app.test_cli_runner().invoke(args=["workspaces", "set-plan", str(ws), "agency"])
    assert result.exit_code == 0 and "Agency" in result.output
    result = app.test_cli_runner().invoke(args=["workspaces", "set-plan", str(ws), "platinum"])
    assert result.exit_code != 0 and "Unknown plan" in result.output
