"""Sessions live on the server: log-out, a password change or "sign out" ends them for good."""
from flask_login.utils import encode_cookie

from app import create_app
from app.extensions import db
from app.models import UserSession
from tests.conftest import PASSWORD, Client


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def _replayed(app, cookie: str, name: str = "session"):
    """A fresh browser that sends a cookie saved earlier (a copied or stolen cookie)."""
    browser = app.test_client()
    browser.set_cookie(name, cookie)
    return browser


def _account(client) -> int:
    return client.get("/account").status_code


def test_a_saved_session_cookie_opens_nothing_after_logout(app, client, make_member):
    email, _ = make_member("editor")
    client.login(email)
    saved = _session_cookie(client)
    assert _account(_replayed(app, saved)) == 200  # the copy works while the session is live
    client.submit("/logout")
    response = _replayed(app, saved).get("/account")
    assert response.status_code == 302 and "/login" in response.location
    with app.app_context():
        assert db.session.scalar(db.select(UserSession.ended_at)) is not None


def test_changing_the_password_ends_every_other_session(app, make_member):
    email, _ = make_member("viewer")
    laptop, phone = app.test_client(), app.test_client()
    laptop.login(email)
    phone.login(email)
    saved_phone = _session_cookie(phone)
    response = laptop.submit("/account", {"current": PASSWORD, "password": "new passphrase 1",
                                          "confirm": "new passphrase 1"}, follow_redirects=True)
    assert "1 other browser was signed out" in response.get_data(as_text=True)
    assert _account(laptop) == 200  # the browser that changed it stays signed in
    assert _account(phone) == 302
    assert _account(_replayed(app, saved_phone)) == 302


def test_a_remember_me_cookie_cannot_resurrect_an_ended_session(app, client, make_member):
    email, _ = make_member("owner")
    client.login(email)
    with client.session_transaction() as session:
        user_key = session["_user_id"]
    with app.test_request_context():
        remembered = encode_cookie(user_key)
    name = app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    assert _account(_replayed(app, remembered, name)) == 200  # remember-me itself works
    client.submit("/logout")
    assert _account(_replayed(app, remembered, name)) == 302
    with app.test_request_context():
        bare_id = encode_cookie(user_key.split(":")[0])  # the cookie Flask-Login would make by default
    assert _account(_replayed(app, bare_id, name)) == 302


def test_the_account_page_lists_sessions_and_ends_any_of_them(app, make_member):
    email, _ = make_member("editor")
    laptop = app.test_client()
    laptop.login(email)
    phone = app.test_client()
    phone.environ_base.update(REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT=(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"))
    phone.login(email)
    page = laptop.get("/account").get_data(as_text=True)
    assert "Safari on iPhone" in page and "198.51.100.7" in page and "This browser" in page
    with app.app_context():
        phone_session = db.session.scalar(db.select(UserSession).filter_by(ip="198.51.100.7"))
    response = laptop.submit(f"/account/sessions/{phone_session.id}/end", htmx=True)
    assert response.status_code == 200 and "198.51.100.7" not in response.get_data(as_text=True)
    assert _account(phone) == 302 and _account(laptop) == 200


def test_sign_out_everywhere_ends_this_session_too(app, make_member):
    email, _ = make_member("editor")
    browsers = [app.test_client() for _ in range(3)]
    for browser in browsers:
        browser.login(email)
    response = browsers[0].submit("/account/sessions/end-all")
    assert response.status_code == 302 and "/login" in response.location
    assert [_account(b) for b in browsers] == [302, 302, 302]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(UserSession)
                                 .filter(UserSession.ended_at.is_(None))) == 0


def test_nobody_can_end_someone_elses_session(app, make_member):
    mine, _ = make_member("owner", name="Mia")
    theirs, _ = make_member("owner", name="Theo")
    me, them = app.test_client(), app.test_client()
    me.login(mine)
    them.login(theirs)
    with app.app_context():
        their_session = db.session.scalar(db.select(UserSession).order_by(UserSession.id.desc()))
    assert me.submit(f"/account/sessions/{their_session.id}/end").status_code == 404
    assert _account(them) == 200


def test_a_session_ended_by_one_web_process_is_ended_for_all(app, make_member):
    """Two app instances on one database stand for two gunicorn workers or machines."""
    email, _ = make_member("editor")
    other_process = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI":
                                app.config["SQLALCHEMY_DATABASE_URI"],
                                "REDIS_URL": app.config["REDIS_URL"], "RATELIMIT_ENABLED": False})
    other_process.test_client_class = Client
    browser = app.test_client()
    browser.login(email)
    saved = _session_cookie(browser)
    assert _account(_replayed(other_process, saved)) == 200
    _replayed(other_process, saved).submit("/logout")
    assert _account(browser) == 302
    with other_process.app_context():
        db.engine.dispose()
