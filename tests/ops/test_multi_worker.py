"""Three real worker processes, as on three machines, share one Redis, one database and one bucket.

Every job runs once, the plan's limit on concurrent jobs holds across the workers, and scene
pieces one worker rendered are reused by another after the first machine is gone.
"""
from __future__ import annotations

import re
import threading
from typing import Self

from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

from app.extensions import db
from app.models import Asset, CreditEntry, Job, Workspace
from app.platform.queue import QUEUES, redis_connection
from tests.web.test_worker_failures import wait_for

HARBOUR = ("The harbour wakes slowly under a pale grey sky. Fishing boats leave the quay one after "
           "another. Gulls follow the boats far out to sea. At noon the market opens its heavy "
           "doors. Traders shout the prices of the morning catch. Children run between the "
           "crowded stalls. In the evening the boats return with full nets. The lighthouse turns "
           "on as the sun sets.")
VALLEY = ("The valley is quiet before the storm. Dark clouds gather over the hills. Then the rain "
          "finally arrives.")
LIMIT = 2  # the Starter plan's jobs at once
STARTED = re.compile(r"job [0-9a-f]{32} \(\w+\) started")  # app.tasks logs it as a job begins


class ConcurrencySampler:
    """Every 50 ms: the workspace's slots in Redis and its Job rows in state 'running'."""

    def __init__(self, app, workspace_id: int):
        with app.app_context():
            self.redis, self.engine = redis_connection(), db.engine
        self.key = f"scriptreel:slots:{workspace_id}"
        self.running = select(func.count()).select_from(Job).filter_by(
            workspace_id=workspace_id, state="running")
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            with self.engine.connect() as conn:
                self.samples.append((self.redis.zcard(self.key), conn.scalar(self.running)))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def jobs(app, **filters) -> list[Job]:
    with app.app_context():
        rows = list(db.session.scalars(select(Job).filter_by(**filters).order_by(Job.id)))
        db.session.expunge_all()
        return rows


def settled(app) -> bool:
    return all(job.state not in Job.ACTIVE for job in jobs(app))


def test_three_workers_run_every_job_once_within_the_plan_and_share_pieces(
        app, owner, project_with_scenes, s3_settings, start_worker):
    client, workspace_id = owner
    app.config.update(s3_settings)  # the web process and every worker share the bucket
    app.extensions.pop("scriptreel_storage", None)
    with app.app_context():
        assert app.config["PLANS"][db.session.get(Workspace, workspace_id).plan][
            "max_concurrent_jobs"] == LIMIT
    _, harbour, harbour_scenes = project_with_scenes(HARBOUR, "Harbour")
    _, valley, valley_scenes = project_with_scenes(VALLEY, "Valley")
    assert len(harbour_scenes) == 8
    for project in (harbour, valley):
        client.submit(f"/projects/{project}/video/settings", {"preset": "720p30"}, htmx=True)
    workers = [start_worker(f"machine-{n}", s3_settings) for n in (1, 2, 3)]

    with ConcurrencySampler(app, workspace_id) as sampler:
        for project in (harbour, valley):
            client.submit(f"/projects/{project}/assets/images/missing", htmx=True)
            client.submit(f"/projects/{project}/assets/voice/all", htmx=True)
        wait_for(lambda: settled(app), timeout=60, every=0.5)
        for project in (harbour, valley):
            client.submit(f"/projects/{project}/assets/fit/all", htmx=True)
            client.submit(f"/projects/{project}/video/compile", htmx=True)
        wait_for(lambda: settled(app), timeout=60, every=0.5)

        # The machine that rendered the Harbour pieces goes away with its disk; the others'
        # local caches are emptied too. Compiling again must find the pieces in the bucket.
        first = jobs(app, kind="compile", project_id=harbour)[0]
        renderer = next(w for w in workers if w.ran(first.rq_id, "compile"))
        renderer.stop()
        for worker in workers:
            worker.clear_piece_cache()
        client.submit(f"/projects/{harbour}/video/compile", htmx=True)
        wait_for(lambda: settled(app), timeout=40, every=0.5)

    everything = jobs(app)
    assert [(j.kind, j.state, j.message) for j in everything if j.state != "done"] == []
    scenes = len(harbour_scenes) + len(valley_scenes)
    assert sorted(j.kind for j in everything if not j.kind.endswith("_batch")) == sorted(
        ["image"] * scenes + ["voice"] * scenes + ["compile"] * 3)

    # Each job started exactly once, on exactly one of the machines; nothing failed in RQ.
    for job in everything:
        assert sum(w.ran(job.rq_id, job.kind) for w in workers) == 1, job.id
    started = sum(len(STARTED.findall(w.log.read_text())) for w in workers)
    assert started == len(everything)
    with app.app_context():
        connection = redis_connection()
        assert all(FailedJobRegistry(q, connection=connection).count == 0 for q in QUEUES)
        # One image and one voiceover per scene, and one charge per image: no duplicates.
        for kind in ("image", "audio"):
            assert db.session.scalar(
                select(func.count()).select_from(Asset).filter_by(kind=kind)) == scenes
        charges = db.session.scalars(select(CreditEntry).filter_by(kind="charge")).all()
        assert len(charges) == scenes and not db.session.scalars(
            select(CreditEntry).filter_by(kind="refund")).all()

    # The plan's limit held across all workers, and was reached (so the sampler saw real work).
    assert len(sampler.samples) > 100
    assert max(slots for slots, _ in sampler.samples) == LIMIT
    assert max(running for _, running in sampler.samples) == LIMIT

    # Both first compiles ran at the same time, on different machines.
    valley_compile = jobs(app, kind="compile", project_id=valley)[0]
    assert first.started_at < valley_compile.finished_at
    assert valley_compile.started_at < first.finished_at
    assert not renderer.ran(valley_compile.rq_id, "compile")

    # The re-compile ran elsewhere and reused every piece from the bucket.
    again = jobs(app, kind="compile", project_id=harbour)[-1]
    assert not renderer.ran(again.rq_id, "compile")
    assert first.result["rendered"] > 0
    # Helpers on idle workers may have rendered some of the first compile's pieces ("reused" by it).
    pieces = first.result["rendered"] + first.result["reused"]
    assert again.result["rendered"] == 0 and again.result["reused"] == pieces
