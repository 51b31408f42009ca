"""Start Scriptreel on one machine: embedded Redis, migrations, one RQ worker and the web server.

Stops every child process cleanly on Ctrl-C or SIGTERM. Run through scripts/start.sh.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.platform.embedded_redis import EmbeddedRedis  # noqa: E402


def wait_healthy(url: str, children: list[subprocess.Popen], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def main() -> int:
    port = int(os.environ.get("PORT", "5000"))
    instance = Path(os.environ.get("SCRIPTREEL_INSTANCE_PATH") or ROOT / "instance")
    env = dict(os.environ, PYTHONUNBUFFERED="1", SCRIPTREEL_INSTANCE_PATH=str(instance))
    redis = None
    if not env.get("REDIS_URL"):
        redis = EmbeddedRedis(instance / "redis").start()
        env["REDIS_URL"] = redis.url
    python = sys.executable
    children: list[subprocess.Popen] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print("\nStopping Scriptreel…", flush=True)
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis:
            redis.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        subprocess.run([python, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                       env=env, check=True)
        children.append(subprocess.Popen([python, "worker.py"], cwd=ROOT, env=env))
        children.append(subprocess.Popen(
            [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
             "wsgi:app"], cwd=ROOT, env=env))
        if not wait_healthy(f"http://127.0.0.1:{port}/healthz", children):
            print("Scriptreel did not become healthy; see the messages above.", flush=True)
            stop()
            return 1
        print(f"\n  Scriptreel is running at http://127.0.0.1:{port}\n  Press Ctrl-C to stop.\n",
              flush=True)
        while not stopping:
            if any(c.poll() is not None for c in children):
                print("A Scriptreel process exited unexpectedly; stopping the others.", flush=True)
                stop()
                return 1
            time.sleep(0.5)
        return 0
    except subprocess.CalledProcessError:
        stop()
        return 1
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
