"""Production settings come from the environment and refuse unsafe defaults."""
import pytest

from app import create_app
from app.config import INSECURE_DEFAULT_KEY


@pytest.mark.parametrize("key", [None, "", INSECURE_DEFAULT_KEY, "short"])
def test_production_refuses_missing_or_weak_secret_key(monkeypatch, tmp_path, key):
    monkeypatch.setenv("SCRIPTREEL_ENV", "production")
    monkeypatch.setenv("SCRIPTREEL_INSTANCE_PATH", str(tmp_path))
    if key is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", key)
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        create_app()


def test_production_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRIPTREEL_ENV", "production")
    monkeypatch.setenv("SCRIPTREEL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.internal:5432/app")
    monkeypatch.setenv("REDIS_URL", "rediss://:pw@redis.internal:6380")
    app = create_app()
    assert app.debug is False
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db.internal:5432/app"
    assert app.config["REDIS_URL"] == "rediss://:pw@redis.internal:6380"
