"""Fixtures: app -> client -> logged-in members, on a real database and a real Redis.

The database is SQLite by default; with SCRIPTREEL_TEST_DB=postgresql it is the PostgreSQL
server named by TEST_DATABASE_URL (scripts/test.sh runs the suite both ways).
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, text
from werkzeug.security import generate_password_hash

from app import create_app
from app.platform.embedded_redis import EmbeddedRedis
from app.extensions import db
from app.models import Membership, User, Workspace

PASSWORD = "correct horse battery"


@functools.cache
def password_hash() -> str:
    """scrypt is slow on purpose; fixture users get a cheaper cost, computed once."""
    return generate_password_hash(PASSWORD, method="scrypt:4096:8:1")
USE_POSTGRES = os.environ.get("SCRIPTREEL_TEST_DB") == "postgresql"


def pytest_configure(config):
    if USE_POSTGRES and not os.environ.get("TEST_DATABASE_URL"):
        raise pytest.UsageError("SCRIPTREEL_TEST_DB=postgresql needs TEST_DATABASE_URL")


def database_url(tmp_path: Path) -> str:
    if USE_POSTGRES:
        url = os.environ["TEST_DATABASE_URL"]
        return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False).start()
    yield server.url
    server.stop()


def _reset_postgres() -> None:
    db.drop_all()
    db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.session.commit()


@pytest.fixture
def app(tmp_path, redis_url, monkeypatch):
    monkeypatch.setenv("SCRIPTREEL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path),
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "RATELIMIT_ENABLED": False,
        "JOB_RETRY_SCALE": 0,  # retry transient provider errors at once
    })
    app.test_client_class = Client
    with app.app_context():
        if USE_POSTGRES:
            _reset_postgres()
        db.create_all()
        from app.platform.queue import redis_connection
        redis_connection().flushdb()
    yield app
    with app.app_context():
        db.session.remove()
        if USE_POSTGRES:
            _reset_postgres()
        db.engine.dispose()


class Client(FlaskClient):
    """A test client that sends the CSRF token the pages carry, like a browser would."""

    csrf_token: str | None = None

    def fetch_csrf(self) -> str:
        page = self.get("/login").get_data(as_text=True)
        self.csrf_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) \
            .group(1)
        return self.csrf_token

    def submit(self, url: str, data: dict | None = None, htmx: bool = False, **kwargs):
        """POST a form with the session's CSRF token (as a header for htmx requests)."""
        token = self.csrf_token or self.fetch_csrf()
        headers = kwargs.pop("headers", {})
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRFToken": token})
        else:
            data = {"csrf_token": token, **(data or {})}
        return self.post(url, data=data, headers=headers, **kwargs)

    def login(self, email: str, password: str = PASSWORD):
        response = self.submit("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return response


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_member(app):
    """Create a user with a role in a workspace (a new workspace unless one is given)."""
    def make(role: str = "owner", workspace_id: int | None = None, name: str | None = None,
             plan: str = "starter", video_enabled: bool = True):
        with app.app_context():
            if workspace_id is None:
                workspace = Workspace(name=f"WS {name or role}", plan=plan,
                                      video_enabled=video_enabled)
                db.session.add(workspace)
                db.session.flush()
            else:
                workspace = db.session.get(Workspace, workspace_id)
            count = db.session.query(User).count() + 1
            user = User(email=f"{(name or role).lower()}{count}@example.com",
                        name=name or f"{role.title()} {count}", password_hash=password_hash())
            db.session.add(user)
            db.session.flush()
            db.session.add(Membership(user=user, workspace=workspace, role=role))
            user.current_workspace_id = workspace.id
            db.session.commit()
            return user.email, workspace.id
    return make


@pytest.fixture
def operator(app, make_member):
    """An instance operator, with a workspace of their own; returns their email (not logged in)."""
    email, _ = make_member("owner", name="Opal")
    with app.app_context():
        db.session.scalar(db.select(User).filter_by(email=email)).is_operator = True
        db.session.commit()
    return email


@pytest.fixture
def project_with_scenes(app, owner):
    """A logged-in owner and a project cut into scenes: (client, project_id, [segment ids])."""
    client, _ = owner

    def make(script: str = "The harbour wakes at dawn. Boats head out to sea.\n\n"
                           "At noon the market opens. Traders sell the catch.",
             title: str = "Harbour"):
        response = client.submit("/projects", {"title": title})
        pid = int(re.search(r"/projects/(\d+)/", response.location).group(1))
        client.submit(f"/projects/{pid}/script/segment", {"script": script, "wpm": 150,
                                                          "min_seconds": 1, "max_seconds": 6})
        with app.app_context():
            from app.models import Project
            ids = [s.id for s in db.session.get(Project, pid).segments]
        return client, pid, ids
    return make


@pytest.fixture
def owner(client, make_member):
    """A logged-in owner of a fresh Starter workspace: (client, workspace_id)."""
    email, workspace_id = make_member("owner")
    client.login(email)
    return client, workspace_id


@pytest.fixture
def work(app):
    """Run every queued job on a real RQ worker (burst mode: returns when the queues are empty)."""
    from rq import Queue, Worker

    from app.platform.queue import QUEUES, redis_connection

    def run():
        with app.app_context():
            connection = redis_connection()
            Worker([Queue(q, connection=connection) for q in QUEUES],
                   connection=connection).work(burst=True)
    return run


@pytest.fixture
def commit_lands_mid_request(app):
    """A worker's commit landing inside a request, right after the request's first read of a table:
    ``with commit_lands_mid_request("job", *statements) as landed: client.get(...)``; landed says it did."""
    with app.app_context():
        engine = db.engine

    @contextlib.contextmanager
    def lands(table: str, *statements):
        landed = []

        def after(conn, cursor, statement, *args):
            if not landed and statement.lstrip().upper().startswith("SELECT") \
                    and re.search(rf"\bFROM {table}\b", statement):
                landed.append(statement)
                with engine.begin() as other:  # another connection: the worker's
                    for change in statements:
                        other.execute(change)
        event.listen(engine, "after_cursor_execute", after)
        try:
            yield landed
        finally:
            event.remove(engine, "after_cursor_execute", after)
    return lands
