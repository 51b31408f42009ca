"""Migrations build the whole schema, match the models, and run down and up again."""
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tests.conftest import USE_POSTGRES, database_url

ROOT = Path(__file__).resolve().parents[2]


def _flask(env, *args):
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_upgrade_check_downgrade_upgrade(tmp_path, monkeypatch):
    import os
    url = database_url(tmp_path)
    if USE_POSTGRES:
        engine = create_engine(url)
        import app.models  # noqa: F401
        from app.extensions import metadata  # noqa: F401  (tables are registered by app.models)
        app.models.db.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    env = dict(os.environ, DATABASE_URL=url, SCRIPTREEL_INSTANCE_PATH=str(tmp_path / "inst"))
    for args in (("db", "upgrade"), ("db", "check"), ("db", "downgrade", "base"),
                 ("db", "upgrade")):
        result = _flask(env, *args)
        assert result.returncode == 0, result.stderr
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"user", "workspace", "membership", "invite", "project", "segment", "asset", "job",
            "credit_entry", "alembic_version"} <= tables
    result = _flask(env, "db", "downgrade", "base")
    assert result.returncode == 0


@pytest.mark.skipif(USE_POSTGRES, reason="checks the Heroku URL form once")
def test_heroku_postgres_url_is_accepted():
    from app.config import _database_url
    assert _database_url("postgres://u:p@h:5432/d", Path("/tmp")) == "postgresql+psycopg://u:p@h:5432/d"
