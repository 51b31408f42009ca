"""Invites, roles, removal, switching workspaces, plans and the generator switch."""
import re
from datetime import timedelta

from app.extensions import db
from app.models import Invite, Membership, User, Workspace


def _invite_link(client, role="viewer") -> str:
    page = client.submit("/workspace/invites", {"role": role}).get_data(as_text=True)
    return re.search(r'id="invite-link" class="copyable" readonly value="http://localhost(/invite/[^"]+)"',
                     page).group(1)


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


def test_owner_changes_plan_and_admin_switches_generator(client, app, make_member):
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
