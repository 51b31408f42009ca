"""Load test: simulated users browse projects, edit scenes and poll progress for a fixed time.

Starts Scriptreel under gunicorn with the production settings on 127.0.0.1 (embedded Redis, a
worker, SQLite unless DATABASE_URL is set), signs up the users, then runs them concurrently and
prints latency percentiles and the error count. Only loopback addresses are used.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app.platform.embedded_redis import EmbeddedRedis  # noqa: E402

SCRIPT = (ROOT / "examples" / "lighthouses.md").read_text()
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workdir: Path) -> tuple[str, list[subprocess.Popen], EmbeddedRedis]:
    redis = EmbeddedRedis(workdir / "redis", persist=False).start()
    port = free_port()
    env = dict(os.environ, SCRIPTREEL_ENV="production", SECRET_KEY=secrets.token_urlsafe(48),
               SESSION_COOKIE_SECURE="0", REDIS_URL=redis.url, PORT=str(port),
               SCRIPTREEL_INSTANCE_PATH=str(workdir / "instance"), RATELIMIT_ENABLED="0",
               SIGNUP_MODE="open",  # simulated users sign up themselves
               WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "2"))
    python = sys.executable
    subprocess.run([python, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    worker = subprocess.Popen([python, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    web = subprocess.Popen([python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
                            f"127.0.0.1:{port}", "--access-logfile", "/dev/null", "wsgi:app"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return base, [web, worker], redis
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not become healthy")


async def sign_up(client: httpx.AsyncClient, n: int) -> str:
    page = (await client.get("/signup")).text
    await client.post("/signup", data={"csrf_token": TOKEN.search(page).group(1), "name": f"User {n}",
                                       "email": f"user{n}@example.com",
                                       "password": "load test passphrase",
                                       "confirm": "load test passphrase"})
    page = (await client.get("/")).text
    token = TOKEN.search(page).group(1)
    response = await client.post("/projects", data={"csrf_token": token, "title": f"Load {n}"})
    project = re.search(r"/projects/(\d+)/", response.headers["location"]).group(1)
    await client.post(f"/projects/{project}/script/segment", data={
        "csrf_token": token, "script": SCRIPT, "wpm": 150, "min_seconds": 4, "max_seconds": 15})
    return project


async def user(n: int, base: str, until: float, timings: dict, errors: list, think: float) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        project = await sign_up(client, n)
        page = (await client.get(f"/projects/{project}/script")).text
        token = TOKEN.search(page).group(1)
        scene_ids = re.findall(r'id="scene-(\d+)"', page)
        htmx = {"HX-Request": "true", "X-CSRFToken": token}
        step = 0
        while time.monotonic() < until:
            step += 1
            scene = scene_ids[step % len(scene_ids)]
            actions = [
                ("page: projects", "GET", "/", None, {}),
                ("page: script step", "GET", f"/projects/{project}/script", None, {}),
                ("page: scenes step", "GET", f"/projects/{project}/scenes", None, {}),
                ("partial: autosave notes", "POST", f"/projects/{project}/scenes/{scene}/notes",
                 None, htmx),
                ("partial: assets poll", "GET", f"/projects/{project}/assets/status", None, htmx),
                ("partial: compile poll", "GET", f"/projects/{project}/video/progress", None, htmx),
            ]
            for name, method, url, data, headers in actions:
                if name == "partial: autosave notes":
                    version = re.search(rf'id="version-{scene}" name="version" value="(\d+)"',
                                        (await client.get(f"/projects/{project}/scenes")).text)
                    data = {"notes": f"note {step}", "version": version.group(1) if version else "1"}
                started = time.perf_counter()
                try:
                    response = await client.request(method, url, data=data, headers=headers)
                    if response.status_code >= 400:
                        errors.append(f"{name}: HTTP {response.status_code}")
                except httpx.HTTPError as exc:
                    errors.append(f"{name}: {exc.__class__.__name__}")
                    continue
                timings[name].append((time.perf_counter() - started) * 1000)
                # People read and type between requests; the pages poll once a second.
                await asyncio.sleep(think * (0.5 + random.random()))


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def main_async(base: str, users: int, seconds: float, think: float) -> tuple[dict, list]:
    timings, errors = defaultdict(list), []
    until = time.monotonic() + seconds + 5
    await asyncio.gather(*(user(n, base, until, timings, errors, think) for n in range(users)))
    return timings, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean pause between one user's requests (the UI polls every 1 s); "
                             "0 hammers the server back to back")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        base, processes, redis = start_server(Path(work))
        try:
            started = time.monotonic()
            timings, errors = asyncio.run(main_async(base, args.users, args.seconds, args.think))
            wall = time.monotonic() - started
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(30)
            redis.stop()
    everything = [t for values in timings.values() for t in values]
    print(f"\n{args.users} users (mean pause {args.think:g} s) for {wall:.0f} s against gunicorn on {base} "
          f"({len(everything)} requests, {len(everything) / wall:.0f}/s)\n")
    print(f"{'request':28} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, values in sorted(timings.items()) + [("ALL", everything)]:
        print(f"{name:28} {len(values):6} {percentile(values, 50):8.1f} "
              f"{percentile(values, 95):8.1f} {percentile(values, 99):8.1f}")
    print(f"\nerrors: {len(errors)}")
    for message, count in sorted({e: errors.count(e) for e in errors}.items()):
        print(f"  {count} × {message}")
    target = percentile(everything, 95)
    print(f"\ntarget p95 < 200 ms for pages and partials: {'met' if target < 200 else 'NOT met'} "
          f"({target:.0f} ms); zero errors: {'met' if not errors else 'NOT met'}")


if __name__ == "__main__":
    main()
