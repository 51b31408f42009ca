"""A worker process killed mid-job: the job is detected as abandoned, refunded and retryable."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.extensions import db
from app.models import CreditEntry, Job
from tests.fakes.stability import FakeStability

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-stability"


def start_worker(app, extra_env=None) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=app.config["REDIS_URL"], MEDIA_ROOT=app.config["MEDIA_ROOT"],
               SCRIPTREEL_INSTANCE_PATH=app.instance_path, JOB_HEARTBEAT_SECONDS="0.5",
               JOB_ABANDONED_SECONDS="3", **(extra_env or {}))
    return subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def kill_tree(pid: int) -> None:
    """SIGKILL a worker and its work horse (RQ puts the horse in a process group of its own)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    for child in [int(p) for p in out.stdout.split()]:
        kill_tree(child)
    os.kill(pid, signal.SIGKILL)


def wait_for(predicate, timeout=30, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise AssertionError("condition not reached in time")


def page_says(client, url: str, text: str, timeout: float = 45) -> str:
    """Poll a status partial (as the page does) until it shows ``text``; return that body."""
    def check():
        body = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        return text in body and body
    return wait_for(check, timeout=timeout, every=0.5)


def job_state(app):
    with app.app_context():
        job = db.session.scalar(db.select(Job).filter_by(kind="image").order_by(Job.id.desc()))
        if job:
            print(f"job {job.id}: {job.state} — {job.message}")  # shown if the test fails
        return job.state if job else None


def test_killed_worker_leaves_no_scene_generating_forever(app, project_with_scenes):
    client, pid, (first, _) = project_with_scenes()
    app.config.update(JOB_ABANDONED_SECONDS=3, STABILITY_API_KEY=KEY)
    with FakeStability(api_key=KEY) as fake:
        app.config["STABILITY_BASE_URL"] = fake.url
        fake.will_stall(60)  # the vendor takes its time; the worker dies meanwhile
        worker = start_worker(app, {"STABILITY_API_KEY": KEY, "STABILITY_BASE_URL": fake.url})
        try:
            client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                          {"description": "Boats", "model": "core"}, htmx=True)
            wait_for(lambda: job_state(app) == "running")
            kill_tree(worker.pid)  # as if the machine running it died
            worker.wait(10)

            body = page_says(client, f"/projects/{pid}/assets/status", "stopped responding")
            assert "Retry" in body and "every 1s" not in body
            with app.app_context():
                kinds = [(e.kind, e.delta) for e in db.session.scalars(
                    db.select(CreditEntry).filter(CreditEntry.kind != "monthly").order_by(CreditEntry.id))]
            assert kinds == [("charge", -3), ("refund", 3)]

            # Retry on a fresh worker: the vendor answers this time.
            worker = start_worker(app, {"STABILITY_API_KEY": KEY, "STABILITY_BASE_URL": fake.url})
            client.submit(f"/projects/{pid}/assets/scenes/{first}/retry", {"kind": "image"},
                          htmx=True)
            wait_for(lambda: job_state(app) == "done", timeout=120, every=1)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(20)


def compile_state(app):
    with app.app_context():
        job = db.session.scalar(db.select(Job).filter_by(kind="compile").order_by(Job.id.desc()))
        if job:
            print(f"compile {job.id}: {job.state} {job.progress:.2f} — {job.message}")
        return job


def test_worker_killed_mid_compile_then_restart_reuses_finished_pieces(app, project_with_scenes, work):
    script = "\n\n".join(f"Part {n}. The harbour changes with the light, and the boats come and go "
                         f"with the tide while the town watches from the quay." for n in range(8))
    client, pid, ids = project_with_scenes(script=script)
    client.submit(f"/projects/{pid}/video/settings", {"motion": "strong", "transition": "crossfade",
                                                       "transition_seconds": "0.5"}, htmx=True)
    client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    work()
    app.config["JOB_ABANDONED_SECONDS"] = 3
    worker = start_worker(app)
    try:
        client.submit(f"/projects/{pid}/video/compile", {"confirm": "voice"}, htmx=True)
        wait_for(lambda: (job := compile_state(app)) and job.state == "running" and job.progress > 0.3,
                 timeout=120, every=0.2)
        kill_tree(worker.pid)
        worker.wait(10)

        body = page_says(client, f"/projects/{pid}/video/progress", "Compile video")
        compile_state(app)  # printed if the test fails
        assert "stopped responding" in body and "every 1s" not in body
        out_dir = Path(app.config["MEDIA_ROOT"])
        assert not [p for p in out_dir.rglob("*.mp4") if "compiles" in p.parts]  # no half video

        worker = start_worker(app)  # the same machine comes back
        client.submit(f"/projects/{pid}/video/compile", {"confirm": "voice"}, htmx=True)
        wait_for(lambda: compile_state(app).state == "done", timeout=180, every=1)
        assert compile_state(app).result["reused"] > 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)


def test_platform_restart_requeues_the_running_job(app, project_with_scenes):
    """HerokuWorker turns SIGTERM into a clean stop; the job goes back on the queue, not lost."""
    client, pid, (first, _) = project_with_scenes()
    app.config.update(STABILITY_API_KEY=KEY)
    with FakeStability(api_key=KEY) as fake:
        app.config["STABILITY_BASE_URL"] = fake.url
        fake.will_stall(30)
        env = {"STABILITY_API_KEY": KEY, "STABILITY_BASE_URL": fake.url,
               "SCRIPTREEL_ENV": "production", "SECRET_KEY": "k" * 40}
        worker = start_worker(app, env)
        try:
            client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                          {"description": "Boats", "model": "core"}, htmx=True)
            wait_for(lambda: job_state(app) == "running")
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
            with app.app_context():
                job = db.session.scalar(db.select(Job).filter_by(kind="image"))
                assert job.state == "queued" and "queued again" in job.message
            worker = start_worker(app, env)  # another machine takes over
            wait_for(lambda: job_state(app) == "done", timeout=120, every=1)
            with app.app_context():
                kinds = [e.kind for e in db.session.scalars(
                    db.select(CreditEntry).filter(CreditEntry.kind != "monthly"))]
            assert kinds == ["charge"]  # charged once, delivered once
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(20)
