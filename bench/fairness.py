"""Fair use: one workspace floods the workers; does another workspace still get served?

    .venv/bin/python bench/fairness.py                 # 400-scene "voice all" + 8 long cuts, 2 workers
    .venv/bin/python bench/fairness.py --scenes 100 --cuts 2 --seconds 20   # a quicker run

Starts Scriptreel as in production (gunicorn, `python worker.py` processes, an embedded Redis,
SQLite unless DATABASE_URL is set) on 127.0.0.1. Workspace A (the flooder) asks for a voiceover
of every scene of a 400-scene project and cuts eight ~190,000-character scripts at once.
Workspace B then asks for one voiceover and keeps browsing its pages. The same measurements run
first on the quiet instance: that is the baseline printed beside them.

Targets (issue 13): B's voiceover starts within 10 s; B's p95 page time stays under 300 ms; A's
requests return at once (the batches run in the background).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from werkzeug.security import generate_password_hash  # noqa: E402

from app import create_app  # noqa: E402
from app.platform.embedded_redis import EmbeddedRedis  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Job, Membership, User, Workspace  # noqa: E402

PASSWORD = "fairness bench passphrase"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
BROWSE = ("/", "/projects/{p}/script", "/projects/{p}/scenes", "/projects/{p}/assets", "/projects/{p}/video")


def prose(chars: int) -> str:
    """Real prose of about ``chars`` characters, from the Factbook backgrounds in bench/data."""
    documents = json.loads((ROOT / "bench/data/factbook_backgrounds.json").read_text())["documents"]
    parts, total, i = [], 0, 0
    while total < chars:
        text = documents[i % len(documents)]["text"]
        parts.append(f"# {documents[i % len(documents)].get('title', 'Part')} {i}\n\n{text}")
        total += len(parts[-1]) + 2
        i += 1
    return "\n\n".join(parts)[:chars]


def start(folder: Path, workers: int) -> tuple[str, dict, list[subprocess.Popen], EmbeddedRedis]:
    redis = EmbeddedRedis(folder / "redis", persist=False).start()
    port = 20000 + secrets.randbelow(20000)
    env = dict(os.environ, SCRIPTREEL_ENV="production", SECRET_KEY=secrets.token_urlsafe(48),
               SESSION_COOKIE_SECURE="0", REDIS_URL=redis.url, RATELIMIT_ENABLED="0",
               SCRIPTREEL_INSTANCE_PATH=str(folder / "instance"), MEDIA_ROOT=str(folder / "media"),
               WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "2"))
    env.setdefault("DATABASE_URL", f"sqlite:///{folder / 'bench.db'}")
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    processes = [subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
    processes.append(subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "--access-logfile", "/dev/null", "wsgi:app"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return base, env, processes, redis
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not become healthy")


def make_owner(app, name: str) -> str:
    with app.app_context():
        workspace = Workspace(name=f"Workspace {name}", plan="starter")
        user = User(email=f"{name.lower()}@example.com", name=name,
                    password_hash=generate_password_hash(PASSWORD))
        db.session.add_all([workspace, user])
        db.session.flush()
        db.session.add(Membership(user=user, workspace=workspace, role="owner"))
        user.current_workspace_id = workspace.id
        db.session.commit()
        return user.email


class Member:
    """One signed-in browser: httpx with the session cookie and the page's CSRF token."""

    def __init__(self, base: str, email: str):
        self.http = httpx.Client(base_url=base, timeout=120)
        page = self.http.get("/login").text
        self.http.post("/login", data={"csrf_token": TOKEN.search(page).group(1), "email": email,
                                       "password": PASSWORD})
        self.token = TOKEN.search(self.http.get("/").text).group(1)

    def post(self, url: str, **data) -> httpx.Response:
        return self.http.post(url, data={"csrf_token": self.token, **data},
                              headers={"HX-Request": "true", "X-CSRFToken": self.token})

    def project(self, title: str, script: str, **cut) -> int:
        response = self.http.post("/projects", data={"csrf_token": self.token, "title": title})
        project = int(re.search(r"/projects/(\d+)/", response.headers["location"]).group(1))
        self.post(f"/projects/{project}/script/text", script=script)
        if cut:
            self.http.post(f"/projects/{project}/script/segment",
                           data={"csrf_token": self.token, "script": script, **cut})
        return project


def scene_ids(member: Member, project: int) -> list[str]:
    return re.findall(r'id="asset-(\d+)"', member.http.get(f"/projects/{project}/assets").text)


def voice_start_seconds(app, member: Member, project: int, scene: str) -> float:
    """Ask for one voiceover; seconds from the request to the worker starting it."""
    asked = time.time()
    member.post(f"/projects/{project}/assets/scenes/{scene}/voice")
    with app.app_context():
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            job = db.session.scalar(db.select(Job).filter_by(kind="voice", segment_id=int(scene))
                                    .order_by(Job.id.desc()))
            if job is not None and job.started_at is not None and job.created_at.timestamp() >= asked - 5:
                return (job.started_at - job.created_at).total_seconds()
            db.session.remove()
            time.sleep(0.05)
    raise SystemExit("B's voiceover never started")


def browse(member: Member, project: int, seconds: float) -> list[float]:
    """B reads its pages for ``seconds`` (half a second between pages); milliseconds per page."""
    timings, until, i = [], time.monotonic() + seconds, 0
    while time.monotonic() < until:
        started = time.perf_counter()
        response = member.http.get(BROWSE[i % len(BROWSE)].format(p=project))
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code >= 400:
            raise SystemExit(f"B's page failed: HTTP {response.status_code}")
        i += 1
        time.sleep(0.5)
    return timings


def cpu_seconds(processes: list[subprocess.Popen]) -> float:
    """User + system CPU of these processes and their finished children (RQ's work horses)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def wait_quiet(app, timeout: float = 1800) -> None:
    with app.app_context():
        deadline = time.monotonic() + timeout
        while db.session.scalar(db.select(db.func.count()).select_from(Job).filter(Job.state.in_(Job.ACTIVE))):
            db.session.remove()
            if time.monotonic() > deadline:
                raise SystemExit("the flood did not finish in time")
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=400, help="scenes in A's 'voice all'")
    parser.add_argument("--cuts", type=int, default=8, help="A's simultaneous long cuts")
    parser.add_argument("--cut-chars", type=int, default=190_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=40, help="how long B browses in each phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fairness-") as tmp:
        folder = Path(tmp)
        base, env, processes, redis = start(folder, args.workers)
        try:
            app = create_app({"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"].replace("postgres://", "postgresql+psycopg://"),
                              "REDIS_URL": redis.url})
            a, b = Member(base, make_owner(app, "Flooder")), Member(base, make_owner(app, "Bystander"))
            words = " ".join(f"Scene {n} shows the harbour at dawn with boats." for n in range(args.scenes))
            a_big = a.project("Four hundred scenes", words, wpm=160, min_seconds=1, max_seconds=3)
            assert len(scene_ids(a, a_big)) >= args.scenes * 0.9, "A's project was not cut finely enough"
            long_script = prose(args.cut_chars)
            a_cuts = [a.project(f"Long {n}", long_script) for n in range(args.cuts)]
            b_project = b.project("One scene", "The lighthouse keeper climbs the stairs at dusk.",
                                  wpm=160, min_seconds=1, max_seconds=15)
            b_scene = scene_ids(b, b_project)[0]

            quiet_start = voice_start_seconds(app, b, b_project, b_scene)
            quiet_pages = browse(b, b_project, args.seconds)

            cpu_before = cpu_seconds(processes)
            flood_requests = []
            started = time.perf_counter()
            flood_requests.append(a.post(f"/projects/{a_big}/assets/voice/all").elapsed.total_seconds())
            threads = [threading.Thread(target=lambda p=p: flood_requests.append(a.http.post(
                f"/projects/{p}/script/segment", data={"csrf_token": a.token, "script": long_script, "wpm": 160,
                                                      "min_seconds": 4, "max_seconds": 15}).elapsed.total_seconds()))
                       for p in a_cuts]
            [t.start() for t in threads]
            [t.join() for t in threads]
            flood_start = voice_start_seconds(app, b, b_project, b_scene)
            flood_pages = browse(b, b_project, args.seconds)
            wait_quiet(app)
            flood_wall = time.perf_counter() - started
            cpu_used = cpu_seconds(processes) - cpu_before
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)
            redis.stop()
    print(f"\nFairness on this machine ({os.cpu_count()} CPUs, {args.workers} workers, Starter plan: 2 jobs "
          f"at a time per workspace); A floods with a {args.scenes}-scene 'voice all' and {args.cuts} cuts of "
          f"{args.cut_chars:,} characters.\n")
    print(f"{'':44} {'quiet (baseline)':>18} {'during the flood':>18}   target")
    print(f"{'B: voiceover starts after':44} {quiet_start:16.2f} s {flood_start:16.2f} s   < 10 s")
    print(f"{'B: page time p50':44} {statistics.median(quiet_pages):15.0f} ms {statistics.median(flood_pages):15.0f} ms")
    print(f"{'B: page time p95':44} {p95(quiet_pages):15.0f} ms {p95(flood_pages):15.0f} ms   < 300 ms")
    print(f"{'A: slowest flood request (returns at once)':44} {'':>18} {max(flood_requests):16.2f} s")
    print(f"{'A: flood done after':44} {'':>18} {flood_wall:16.0f} s   (CPU of web + workers: {cpu_used:.0f} s)")
    ok = flood_start < 10 and p95(flood_pages) < 300
    print("\nTargets met." if ok else "\nTARGET MISSED.")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
