"""Security headers, rate limits (and whose address they count), private media, hostile text."""
import io

import pytest

from app import create_app
from app.extensions import db
from app.models import Asset, Project
from tests.conftest import Client


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP here
    secure = client.get("/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def test_pages_have_no_inline_scripts(client, make_member):
    email, _ = make_member("owner")
    client.login(email)
    for url in ("/", "/workspace/", "/credits/", "/account"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>" not in page and " onclick=" not in page and "javascript:" not in page


def _rate_limited_app(app, **settings):
    """The app as deployed: rate limits on (counted in memory here), production settings."""
    limited = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                          "REDIS_URL": app.config["REDIS_URL"], "RATELIMIT_ENABLED": True,
                          "RATELIMIT_STORAGE_URI": "memory://", "ENV_NAME": "production",
                          **settings})
    limited.test_client_class = Client
    return limited


def test_login_is_rate_limited_with_a_clear_message(app, make_member, tmp_path):
    email, _ = make_member("editor")
    client = _rate_limited_app(app).test_client()
    codes = [client.submit("/login", {"email": email, "password": "wrong"}).status_code
             for _ in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429
    body = client.submit("/login", {"email": email, "password": "wrong"}).get_data(as_text=True)
    assert "Too many attempts" in body and "Wait a minute" in body


@pytest.mark.parametrize("limit, allowed", [(None, 5), ("2 per minute", 2)])
def test_sign_up_is_rate_limited_as_configured(app, limit, allowed):
    client = _rate_limited_app(app, **({"SIGNUP_RATE_LIMIT": limit} if limit else {})).test_client()
    codes = [client.submit("/signup", {"name": "Sam", "email": f"sam{n}@example.com", "password": "x",
                                       "confirm": "x"}).status_code for n in range(allowed + 1)]
    assert 429 not in codes[:allowed] and codes[allowed] == 429


@pytest.mark.parametrize("title", ['<script>alert("x")</script>', "Robert'); DROP TABLE project;--",
                                   "Tab\tand\x07bell", "../../etc/passwd"])
def test_hostile_titles_are_stored_as_text_and_escaped(app, owner, title):
    client, _ = owner
    client.submit("/projects", {"title": title})
    page = client.get("/").get_data(as_text=True)
    assert '<script>alert("x")</script>' not in page
    with app.app_context():
        stored = db.session.scalar(db.select(Project.title))
    assert stored == title.replace("\x07", "").replace("\t", " ")


PROXY = "10.0.0.2"  # the reverse proxy's address as the web process sees it


def _login_attempts(client, email: str, forwarded_for) -> list[int]:
    """Eleven wrong log-ins, each claiming another address in X-Forwarded-For."""
    return [client.submit("/login", {"email": email, "password": "wrong"},
                          headers={"X-Forwarded-For": forwarded_for(n)}).status_code
            for n in range(11)]


@pytest.mark.parametrize("hops,peer,forwarded_for", [
    # Published directly (TRUSTED_PROXIES=0): the header is the attacker's own text.
    (0, "203.0.113.9", lambda n: f"198.51.100.{n}"),
    # Behind Caddy or Heroku's router (TRUSTED_PROXIES=1): the proxy appends the real client.
    (1, PROXY, lambda n: f"198.51.100.{n}, 203.0.113.9"),
], ids=["direct", "behind-one-proxy"])
def test_rotating_x_forwarded_for_gets_no_extra_tries(app, make_member, hops, peer, forwarded_for):
    email, _ = make_member("editor")
    client = _rate_limited_app(app, TRUSTED_PROXIES=hops).test_client()
    client.environ_base["REMOTE_ADDR"] = peer
    codes = _login_attempts(client, email, forwarded_for)
    assert codes[:10] == [200] * 10 and codes[10] == 429


def test_behind_the_proxy_each_real_client_has_its_own_limit(app, make_member):
    """The limit keys on the client the proxy saw, not on the proxy: others aren't locked out."""
    email, _ = make_member("editor")
    limited = _rate_limited_app(app, TRUSTED_PROXIES=1)
    attacker, colleague = limited.test_client(), limited.test_client()
    attacker.environ_base["REMOTE_ADDR"] = colleague.environ_base["REMOTE_ADDR"] = PROXY
    assert _login_attempts(attacker, email, lambda n: "203.0.113.9")[10] == 429
    response = colleague.submit("/login", {"email": email, "password": "wrong"},
                                headers={"X-Forwarded-For": "192.0.2.44"})
    assert response.status_code == 200


def test_private_media_is_never_stored_by_shared_caches(app, owner):
    client, ws = owner
    with app.app_context():
        from app.platform.media import get_storage
        get_storage().put_bytes(f"ws/{ws}/private.png", b"\x89PNG not really", "image/png")
        asset = Asset(workspace_id=ws, kind="image", storage_key=f"ws/{ws}/private.png",
                      mime="image/png", size=16)
        db.session.add(asset)
        db.session.commit()
        asset_id = asset.id
    for url in (f"/media/{asset_id}", f"/media/{asset_id}/private.png"):
        cache = client.get(url).headers["Cache-Control"]
        assert "private" in cache and "public" not in cache, url


@pytest.mark.parametrize("invisible", ["\u200b\u200b\u200b", "\u2060\ufeff\u200d", "\u3164 \u3164",
                                       "\u202e\u2066\u2069", "\u2800\u2800"])
def test_a_script_with_no_visible_text_is_refused(app, owner, invisible):
    client, _ = owner
    response = client.submit("/projects", {"title": "Invisible"})
    project = response.location.split("/")[2]
    upload = client.submit(f"/projects/{project}/script/upload", {
        "file": (io.BytesIO(invisible.encode("utf-8")), "script.txt")},
        content_type="multipart/form-data")
    assert upload.status_code == 422
    assert "no visible text" in upload.get_data(as_text=True)
    pasted = client.submit(f"/projects/{project}/script/segment", {
        "script": invisible, "wpm": 150, "min_seconds": 4, "max_seconds": 15})
    assert pasted.status_code == 422
    with app.app_context():
        assert not db.session.get(Project, int(project)).segments
