"""How many 60-second draft videos an hour this machine makes with 1, 2 and 4 worker processes.

    .venv/bin/python bench/throughput.py             # 1, 2 and 4 workers, 4 videos each (~8 min)
    .venv/bin/python bench/throughput.py --quick     # 1 and 2 workers, 2 videos each
    .venv/bin/python bench/throughput.py --workers 1,3 --videos 6

Each video takes the whole product path through the real app: a ~150-word script (a Factbook
background from bench/data) is cut into scenes over the web endpoints, every scene gets a draft
image and an eSpeak NG voiceover, scenes are fitted to their audio, and the project is compiled
at 1080p30 with crossfades. Real `python worker.py` processes run the jobs against a temporary
SQLite database, an embedded Redis and a local media folder. Each video belongs to its own
workspace, as different customers' would, so the per-workspace job limit doesn't serialise them.
The wall time runs from the first request to the last finished compile; workers are started
(and idle) before it begins. The 1-worker run is the baseline for the speed-up column.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flask_migrate
from rq import Worker
from werkzeug.security import generate_password_hash

from app import create_app
from app.platform.embedded_redis import EmbeddedRedis
from app.extensions import db
from app.models import Job, Membership, User, Workspace
from app.platform.queue import redis_connection

SCRIPT_WORDS = range(140, 161)  # about a minute of narration at 150 words a minute
PASSWORD = "throughput bench"
POLL_SECONDS = 0.25
TIMEOUT_SECONDS = 900


def scripts(count: int) -> list[str]:
    """Distinct ~150-word scripts: the opening sentences of different Factbook backgrounds."""
    documents = json.loads((ROOT / "bench/data/factbook_backgrounds.json").read_text())["documents"]
    chosen = []
    for document in documents:
        words, sentences = 0, []
        for sentence in re.split(r"(?<=[.!?])\s+", document["text"].replace("\n\n", " ")):
            sentences.append(sentence)
            words += len(sentence.split())
            if words >= SCRIPT_WORDS.start:
                break
        if words in SCRIPT_WORDS:
            chosen.append(" ".join(sentences))
        if len(chosen) == count:
            return chosen
    raise SystemExit(f"only {len(chosen)} backgrounds open with {SCRIPT_WORDS.start}-"
                     f"{SCRIPT_WORDS.stop - 1} words")


@dataclass
class Video:
    client: object
    project_id: int = 0
    stage: str = "assets"  # assets -> compile -> done
    seconds: float = 0.0   # length of the finished video


@dataclass
class Run:
    workers: int
    videos: int
    wall: float
    video_seconds: float  # mean length of the videos made
    cpu_seconds: float    # CPU time of the workers and everything they ran (ffmpeg, eSpeak), per video

    @property
    def per_hour(self) -> float:
        return self.videos / self.wall * 3600


def start_workers(count: int, env: dict, folder: Path, pin: bool = False) -> list[subprocess.Popen]:
    """Worker processes; with pin, worker n may use CPU n only (a stand-in for n one-core machines)."""
    processes = []
    for n in range(count):
        command = [sys.executable, "worker.py"]
        if pin:
            command = ["taskset", "-c", str(n), *command]
        with open(folder / f"worker-{n}.log", "wb") as log:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=log,
                                              stderr=subprocess.STDOUT))
    return processes


def start_instance(folder: Path) -> tuple[object, dict, EmbeddedRedis]:
    """A fresh Scriptreel in folder: migrated SQLite, embedded Redis, local media; (app, worker env, redis)."""
    redis = EmbeddedRedis(folder / "redis", persist=False).start()
    url = f"sqlite:///{folder / 'scriptreel.db'}"
    os.environ["SCRIPTREEL_INSTANCE_PATH"] = str(folder / "instance")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis.url,
                      "MEDIA_ROOT": str(folder / "media"), "RATELIMIT_ENABLED": False,
                      "WTF_CSRF_ENABLED": False})
    with app.app_context():
        flask_migrate.upgrade()
    return app, dict(os.environ, DATABASE_URL=url, REDIS_URL=redis.url, MEDIA_ROOT=str(folder / "media")), redis


def wait_for_workers(app, count: int) -> None:
    with app.app_context():
        connection = redis_connection()
        wait_until(lambda: len(Worker.all(connection=connection)) == count, "workers", 120)


def sign_in(app, email: str):
    client = app.test_client()
    client.post("/login", data={"email": email, "password": PASSWORD})
    return client


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until(predicate, what: str, timeout: float = TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)


def make_members(app, count: int) -> list[str]:
    """One owner per video, each in a Starter workspace of their own; returns their emails."""
    password_hash = generate_password_hash(PASSWORD, method="scrypt:4096:8:1")
    emails = []
    with app.app_context():
        for n in range(count):
            workspace = Workspace(name=f"Customer {n + 1}", plan="starter")
            user = User(email=f"owner{n + 1}@example.com", name=f"Owner {n + 1}",
                        password_hash=password_hash)
            db.session.add_all([workspace, user])
            db.session.flush()
            db.session.add(Membership(user=user, workspace=workspace, role="owner"))
            user.current_workspace_id = workspace.id
            emails.append(user.email)
        db.session.commit()
    return emails


def project_jobs(app, project_id: int) -> list[Job]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(Job).filter_by(project_id=project_id)))
        db.session.expunge_all()
        return rows


def advance(app, video: Video) -> None:
    """Move one video to its next step once its jobs have finished."""
    jobs = project_jobs(app, video.project_id)
    if any(job.active for job in jobs):
        return
    if failed := [job for job in jobs if job.state != "done"]:
        raise SystemExit(f"project {video.project_id}: {failed[0].kind} job {failed[0].state}: "
                         f"{failed[0].message}")
    base = f"/projects/{video.project_id}"
    if video.stage == "assets":
        video.client.post(f"{base}/assets/fit/all")
        video.client.post(f"{base}/video/compile")
        video.stage = "compile"
    elif video.stage == "compile":
        compile_job = next(job for job in jobs if job.kind == "compile")
        video.seconds, video.stage = compile_job.result["duration"], "done"


def run(workers: int, texts: list[str]) -> Run:
    """Make len(texts) videos with this many worker processes on a fresh instance."""
    folder = Path(tempfile.mkdtemp(prefix=f"scriptreel-throughput-{workers}w-"))
    app, env, redis = start_instance(folder)
    cpu_before = children_cpu()
    processes = start_workers(workers, env, folder)
    try:
        wait_for_workers(app, workers)
        videos = [Video(sign_in(app, email)) for email in make_members(app, len(texts))]
        started = time.monotonic()
        for video, text in zip(videos, texts):
            response = video.client.post("/projects", data={"title": text.split(".")[0][:60]})
            video.project_id = int(re.search(r"/projects/(\d+)/", response.location).group(1))
            base = f"/projects/{video.project_id}"
            video.client.post(f"{base}/script/segment", data={"script": text, "wpm": 150})
            video.client.post(f"{base}/assets/images/missing")
            video.client.post(f"{base}/assets/voice/all")

        def all_done() -> bool:
            for video in videos:
                advance(app, video)
            return all(video.stage == "done" for video in videos)
        wait_until(all_done, "the videos")
        wall = time.monotonic() - started
    finally:
        stop_workers(processes)
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return Run(workers, len(videos), wall, sum(v.seconds for v in videos) / len(videos),
               (children_cpu() - cpu_before) / len(videos))


def children_cpu() -> float:
    """User + system CPU seconds of finished child processes and all they waited for.

    Unlike wall time, this doesn't depend on what else the machine is doing.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--videos", type=int, default=4, help="videos per run")
    parser.add_argument("--quick", action="store_true", help="1 and 2 workers, 2 videos each")
    args = parser.parse_args()
    logging.disable(logging.INFO)  # the app's and alembic's info lines would bury the table
    counts = [1, 2] if args.quick else [int(n) for n in args.workers.split(",")]
    videos = 2 if args.quick else args.videos
    if counts[0] != 1:
        counts.insert(0, 1)  # the baseline belongs to the same run
    texts = scripts(videos)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"{videos} videos per run, scripts of {min(len(t.split()) for t in texts)}-"
          f"{max(len(t.split()) for t in texts)} words", flush=True)
    results = []
    for count in counts:
        result = run(count, texts)
        results.append(result)
        print(f"  {count} worker(s): {result.wall:.0f} s", flush=True)
    baseline = results[0].per_hour
    print(f"\n{'workers':>7} {'videos':>6} {'wall s':>7} {'video s':>7} {'videos/hour':>11} "
          f"{'speed-up':>8} {'CPU s/video':>11}")
    for r in results:
        print(f"{r.workers:>7} {r.videos:>6} {r.wall:>7.0f} {r.video_seconds:>7.1f} {r.per_hour:>11.1f} "
              f"{r.per_hour / baseline:>7.2f}x {r.cpu_seconds:>11.0f}")
    cpu = min(r.cpu_seconds for r in results)
    print(f"\nWith the machine to itself, {os.cpu_count()} CPUs kept busy would make at most "
          f"{os.cpu_count() * 3600 / cpu:.0f} videos/hour ({cpu:.0f} CPU s each).")


if __name__ == "__main__":
    main()
