"""Security headers, rate limits with clear lockout messages, and hostile text in fields."""
import pytest

from app.extensions import db
from app.models import Project


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


def test_login_is_rate_limited_with_a_clear_message(app, make_member, tmp_path):
    from app import create_app
    from tests.conftest import Client
    email, _ = make_member("editor")
    limited = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                          "REDIS_URL": app.config["REDIS_URL"], "RATELIMIT_ENABLED": True,
                          "RATELIMIT_STORAGE_URI": "memory://"})
    limited.test_client_class = Client
    client = limited.test_client()
    codes = [client.submit("/login", {"email": email, "password": "wrong"}).status_code
             for _ in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429
    body = client.submit("/login", {"email": email, "password": "wrong"}).get_data(as_text=True)
    assert "Too many attempts" in body and "Wait a minute" in body


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
