"""Fixtures for operations: the moto S3 server, a second instance to restore into, worker processes."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app import create_app
from app.extensions import db
from tests.conftest import Client

# The S3 server fixtures are tests/storage's; importing them makes them available here too.
from tests.storage.conftest import s3_bucket, s3_endpoint, s3_settings  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
RESTORE_TARGETS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


def _drop_all_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        quote = conn.dialect.identifier_preparer.quote
        for name in inspect(conn).get_table_names():
            conn.execute(text(f"DROP TABLE IF EXISTS {quote(name)} CASCADE"))
    engine.dispose()


def _postgres_restore_url() -> str:
    """A second PostgreSQL database beside the test one, created if needed (or the test skips)."""
    test_url = make_url(re.sub(r"^postgres(ql)?://", "postgresql+psycopg://",
                               os.environ["TEST_DATABASE_URL"]))
    url = test_url.set(database=f"{test_url.database}_restore")
    admin = create_engine(test_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                 {"name": url.database})
            if not exists:
                try:
                    conn.execute(text(f'CREATE DATABASE "{url.database}"'))
                except SQLAlchemyError:
                    # A role without CREATEDB: the server's superuser can still make it for us.
                    subprocess.run(["su", "postgres", "-c",
                                    f"createdb -O {test_url.username} {url.database}"],
                                   check=True, capture_output=True, timeout=30)
    except (SQLAlchemyError, subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"no second PostgreSQL database to restore into: {exc}")
    finally:
        admin.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture
def fresh_instance(tmp_path, redis_url, monkeypatch):
    """Build a second, empty Scriptreel instance (own database, media and instance folder) at the
    migration head, as `flask db upgrade` leaves it: make(kind) with kind 'sqlite' or 'postgresql'."""
    made: list[tuple[Flask, str]] = []

    def make(kind: str, name: str = "restored", upgrade: tuple[str, ...] = ("db", "upgrade")):
        folder = tmp_path / name
        if kind == "postgresql":
            url = _postgres_restore_url()
            _drop_all_tables(url)
        else:
            url = f"sqlite:///{folder / 'scriptreel.db'}"
        monkeypatch.setenv("SCRIPTREEL_INSTANCE_PATH", str(folder / "instance"))
        instance = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url,
                               "MEDIA_ROOT": str(folder / "media"), "RATELIMIT_ENABLED": False})
        instance.test_client_class = Client
        made.append((instance, url))
        if upgrade:
            result = instance.test_cli_runner().invoke(args=list(upgrade))
            assert result.exit_code == 0, result.output
        return instance

    yield make
    for instance, url in made:
        with instance.app_context():
            db.session.remove()
            db.engine.dispose()
        if url.startswith("postgresql"):
            _drop_all_tables(url)


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen
    instance: Path  # this "machine's" own disk
    log: Path

    def ran(self, rq_id: str, kind: str) -> bool:
        """True when this worker's log says it started that job."""
        return f"job {rq_id} ({kind}) started" in self.log.read_text(errors="replace")

    def clear_piece_cache(self) -> None:
        shutil.rmtree(self.instance / "cache" / "pieces", ignore_errors=True)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown, as on a platform restart) and wait."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def start_worker(app, tmp_path):
    """Start `python worker.py` as if on its own machine: its own instance folder (piece cache),
    shared only the database, Redis and the storage settings passed in."""
    workers: list[WorkerProcess] = []

    def start(name: str, storage_env: dict[str, str]) -> WorkerProcess:
        instance = tmp_path / "machines" / name
        instance.mkdir(parents=True)
        log = instance / "worker.log"
        env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                   REDIS_URL=app.config["REDIS_URL"], SCRIPTREEL_INSTANCE_PATH=str(instance),
                   JOB_HEARTBEAT_SECONDS="1", **storage_env)
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env,
                                       start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
        worker = WorkerProcess(name, process, instance, log)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
