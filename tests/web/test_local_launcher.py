"""The README's first command: a fresh instance comes up healthy, serves a sign-up, stops cleanly."""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.sqlite_only


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    found = {int(p) for p in out.stdout.split()}
    for child in list(found):
        found |= _children(child)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "X"
    return state not in ("Z", "X")


def test_start_script_runs_everything_and_stops_on_sigterm(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(PORT=str(port), SCRIPTREEL_INSTANCE_PATH=str(tmp_path / "instance"))
    log = open(tmp_path / "launcher.log", "w+")
    proc = subprocess.Popen(["bash", "scripts/start.sh"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while f"running at {base}" not in Path(log.name).read_text():
            assert proc.poll() is None, Path(log.name).read_text()
            assert time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.5)
        health = httpx.get(f"{base}/healthz").json()
        assert health["database"] == "ok" and health["redis"] == "ok" and health["workers"] >= 1

        with httpx.Client(base_url=base) as browser:
            page = browser.get("/signup").text
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            response = browser.post("/signup", data={
                "csrf_token": token, "name": "First User", "email": "first@example.com",
                "password": "first passphrase", "confirm": "first passphrase"})
            assert response.status_code == 302
            assert "First User&#39;s workspace" in browser.get("/").text
        children = _children(proc.pid)
        assert len(children) >= 3  # redis, worker, web (and its workers)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, Path(log.name).read_text()
    time.sleep(0.5)
    assert not [pid for pid in children if _alive(pid)]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz")
