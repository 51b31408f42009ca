"""Scriptreel started the README way (scripts/start.sh: embedded Redis, SQLite, one worker, gunicorn)
on a free port and its own instance folder; used by the browser tests and bench/lighthouse.py."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_env(instance: Path) -> dict:
    """The environment of a README-style local run on ``instance`` (its own SQLite and Redis)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # One address signs up everyone in the suite: its sign-up limit is raised (tests/web checks the default).
    env.update(SCRIPTREEL_INSTANCE_PATH=str(instance), SIGNUP_RATE_LIMIT="60 per minute;600 per hour")
    return env


@contextlib.contextmanager
def live_app(instance: Path, start_timeout: float = 120) -> Iterator[str]:
    """Yield the base URL of scripts/start.sh running on ``instance``; SIGTERM it afterwards.

    Its output goes to ``<instance>-server.log`` beside the instance folder.
    """
    port = free_port()
    env = local_env(instance)
    env.update(PORT=str(port))
    log_path = instance.parent / f"{instance.name}-server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["bash", "scripts/start.sh"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while f"running at {base}" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Scriptreel did not start:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
