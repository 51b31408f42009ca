"""Sign-up (and its modes), log-in, log-out, password change and the session cookie."""
import re
import statistics
import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Membership, User
from app.operator.settings import save_settings

SIGNUP = {"name": "Ana Lima", "email": "Ana@Example.com", "password": "a long passphrase",
          "confirm": "a long passphrase"}


def test_first_signup_creates_an_owned_workspace_with_credits(client, app):
    response = client.submit("/signup", SIGNUP)
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Ana Lima&#39;s workspace" in page or "Ana Lima's workspace" in page
    assert 'class="num">100<' in page  # Starter plan's monthly credits, shown in the navigation
    assert "you are its operator" in page and 'href="/operator/"' in page
    with app.app_context():
        user = db.session.scalar(select(User).filter_by(email="ana@example.com"))
        membership = db.session.scalar(select(Membership).filter_by(user_id=user.id))
        assert membership.role == "owner"
        assert user.is_operator  # the first account runs the instance
        assert user.password_hash.startswith("scrypt:")
        assert "a long passphrase" not in user.password_hash


def test_later_signups_are_not_operators(client, app, make_member):
    make_member("owner")
    client.submit("/signup", SIGNUP)
    page = client.get("/").get_data(as_text=True)
    assert 'href="/operator/"' not in page and "you are its operator" not in page
    with app.app_context():
        assert not db.session.scalar(select(User).filter_by(email="ana@example.com")).is_operator


def test_signup_does_not_say_whether_an_email_has_an_account(client, app):
    client.submit("/signup", SIGNUP)
    client.submit("/logout")
    taken = client.submit("/signup", {**SIGNUP, "name": "Someone Else"}).get_data(as_text=True)
    assert "exists" not in taken and "already registered" not in taken
    assert "We couldn&#39;t create an account with these details." in taken
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(User)) == 1


def test_signup_refuses_short_passwords_and_mismatches(client):
    page = client.submit("/signup", {**SIGNUP, "email": "b@example.com", "password": "short",
                                     "confirm": "short"}).get_data(as_text=True)
    assert "Use at least 10 characters." in page
    page = client.submit("/signup", {**SIGNUP, "email": "c@example.com",
                                     "confirm": "something else"}).get_data(as_text=True)
    assert "The passwords don&#39;t match." in page
    assert 'value="c@example.com"' in page  # what the user typed is kept


def _login_seconds(client, email: str) -> float:
    started = time.perf_counter()
    page = client.submit("/login", {"email": email, "password": "not the password"})
    assert "don&#39;t match an account" in page.get_data(as_text=True)
    return time.perf_counter() - started


def test_login_takes_as_long_for_unknown_emails_as_for_real_accounts(client, app):
    """Response time must not tell which emails have accounts (a dummy hash is checked)."""
    with app.app_context():
        user = User(email="real@example.com", name="Real")
        user.set_password("a real passphrase")  # the production cost, not the fixtures' cheap one
        db.session.add(user)
        db.session.commit()
    client.fetch_csrf()
    known = statistics.median(_login_seconds(client, "real@example.com") for _ in range(5))
    unknown = statistics.median(_login_seconds(client, "nobody@example.com") for _ in range(5))
    assert unknown > 0.5 * known, (known, unknown)


@pytest.mark.parametrize("mode,invite,allowed", [
    ("open", None, True), ("open", "workspace", True), ("open", "operator", True),
    ("invite", None, False), ("invite", "workspace", True), ("invite", "operator", True),
    ("closed", None, False), ("closed", "workspace", False), ("closed", "operator", True),
])
def test_signup_modes(client, app, make_member, operator, mode, invite, allowed):
    email, workspace_id = make_member("admin")
    with app.app_context():
        save_settings({"SIGNUP_MODE": mode}, user_id=None)
        db.session.commit()
    token = ""
    if invite:
        client.login(email if invite == "workspace" else operator)
        client.submit("/workspace/invites" if invite == "workspace" else "/operator/invites",
                      {"role": "editor", "plan": "pro"})
        page = client.get("/workspace/" if invite == "workspace" else "/operator/invites")
        token = re.search(r"/invite/([\w-]+)", page.get_data(as_text=True)).group(1)
        client.submit("/logout")
        client.csrf_token = None
    url = f"/signup?invite={token}" if token else "/signup"
    assert client.get(url).status_code == (200 if allowed else 403)
    response = client.submit(url, {**SIGNUP, "invite": token})
    with app.app_context():
        created = db.session.scalar(select(User).filter_by(email="ana@example.com"))
        memberships = created and [(m.role, m.workspace.plan) for m in created.memberships]
    if allowed:
        assert response.status_code == 302
        assert memberships == [("editor", "starter") if invite == "workspace" else
                               ("owner", "pro" if invite == "operator" else "starter")]
    else:
        body = response.get_data(as_text=True)
        assert response.status_code == 403 and created is None
        assert ("by invitation" if mode == "invite" else "closed") in body
        assert "ask" in body.lower() and "whoever runs this scriptreel" in body.lower()


def test_the_first_account_may_always_sign_up(client, app):
    app.config["SIGNUP_MODE"] = "closed"
    assert client.submit("/signup", SIGNUP).status_code == 302
    client.submit("/logout")
    client.csrf_token = None
    response = client.submit("/signup", {**SIGNUP, "email": "second@example.com"})
    assert response.status_code == 403 and "Sign-up on this Scriptreel is closed." in \
        response.get_data(as_text=True)


def test_login_logout_and_wrong_password(client, make_member):
    email, _ = make_member("editor")
    page = client.submit("/login", {"email": email, "password": "wrong password"})
    assert "That email and password don&#39;t match an account." in page.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still logged out
    client.login(email)
    assert client.get("/").status_code == 200
    client.submit("/logout")
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.location


def test_login_redirects_only_to_local_paths(client, make_member):
    email, _ = make_member("editor")
    response = client.submit("/login?next=https://evil.example/x", {"email": email,
                                                                     "password": "correct horse battery"})
    assert response.location == "/"
    client.submit("/logout")
    response = client.submit("/login?next=/credits/", {"email": email,
                                                        "password": "correct horse battery"})
    assert response.location == "/credits/"


def test_change_password(client, make_member):
    email, _ = make_member("viewer")
    client.login(email)
    page = client.submit("/account", {"current": "nope", "password": "new passphrase 1",
                                      "confirm": "new passphrase 1"}).get_data(as_text=True)
    assert "That isn&#39;t your current password." in page
    client.submit("/account", {"current": "correct horse battery", "password": "new passphrase 1",
                               "confirm": "new passphrase 1"})
    client.submit("/logout")
    client.login(email, "new passphrase 1")


def test_forms_without_csrf_token_are_refused(client, make_member):
    email, _ = make_member("owner")
    response = client.post("/login", data={"email": email, "password": "correct horse battery"})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    client.login(email)
    response = client.post("/projects", data={"title": "x"})
    assert response.status_code == 400
    response = client.post("/projects", data={"title": "x"}, headers={"HX-Request": "true"})
    assert response.status_code == 400


def test_session_cookie_is_httponly_and_samesite(client, make_member):
    email, _ = make_member("owner")
    cookie = client.login(email).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
