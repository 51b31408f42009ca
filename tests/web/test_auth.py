"""Sign-up, log-in, log-out, password change and the session cookie."""
from sqlalchemy import select

from app.extensions import db
from app.models import Membership, User

SIGNUP = {"name": "Ana Lima", "email": "Ana@Example.com", "password": "a long passphrase",
          "confirm": "a long passphrase"}


def test_first_signup_creates_an_owned_workspace_with_credits(client, app):
    response = client.submit("/signup", SIGNUP)
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Ana Lima&#39;s workspace" in page or "Ana Lima's workspace" in page
    assert 'class="num">100<' in page  # Starter plan's monthly credits, shown in the navigation
    with app.app_context():
        user = db.session.scalar(select(User).filter_by(email="ana@example.com"))
        membership = db.session.scalar(select(Membership).filter_by(user_id=user.id))
        assert membership.role == "owner"
        assert user.password_hash.startswith("scrypt:")
        assert "a long passphrase" not in user.password_hash


def test_signup_refuses_duplicates_short_passwords_and_mismatches(client):
    client.submit("/signup", SIGNUP)
    client.submit("/logout")
    page = client.submit("/signup", SIGNUP).get_data(as_text=True)
    assert "An account with this email exists already" in page
    page = client.submit("/signup", {**SIGNUP, "email": "b@example.com", "password": "short",
                                     "confirm": "short"}).get_data(as_text=True)
    assert "Use at least 10 characters." in page
    page = client.submit("/signup", {**SIGNUP, "email": "c@example.com",
                                     "confirm": "something else"}).get_data(as_text=True)
    assert "The passwords don&#39;t match." in page
    assert 'value="c@example.com"' in page  # what the user typed is kept


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
