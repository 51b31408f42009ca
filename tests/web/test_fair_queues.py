"""Fair use of the workers: a workspace flooding the queues can't hold up another's jobs, batch
requests return at once and are capped, and long cuts run on a worker."""
from __future__ import annotations

from datetime import timedelta

from rq import Queue, Worker

from app import dispatch
from app.extensions import db
from app.jobs import reconcile
from app.models import Job, Project, utcnow
from app.platform.queue import QUEUES, redis_connection

MANY = " ".join(f"Scene {n} shows the harbour at dawn with boats." for n in range(20))


def run_queue(app, *names):
    with app.app_context():
        connection = redis_connection()
        Worker([Queue(q, connection=connection) for q in names], connection=connection).work(burst=True)


def voice_jobs(app) -> list[Job]:
    with app.app_context():
        rows = db.session.scalars(db.select(Job).filter_by(kind="voice").order_by(Job.started_at)).all()
        db.session.expunge_all()
        return rows


def test_a_flooding_workspace_puts_at_most_its_plan_limit_ahead_of_another(app, client, make_member, work):
    from tests.conftest import Client
    flooder_email, flooder_ws = make_member("owner", name="Flooder")
    other_email, _ = make_member("owner", name="Other")
    flooder, other = client, app.test_client()
    assert isinstance(other, Client)
    flooder.login(flooder_email)
    other.login(other_email)

    def project(member, script):
        import re
        response = member.submit("/projects", {"title": "P"})
        pid = int(re.search(r"/projects/(\d+)/", response.location).group(1))
        member.submit(f"/projects/{pid}/script/segment", {"script": script, "wpm": 160,
                                                          "min_seconds": 1, "max_seconds": 3})
        return pid
    big, small = project(flooder, MANY), project(other, "The keeper climbs the stairs at dusk.")
    response = flooder.submit(f"/projects/{big}/assets/voice/all", htmx=True)
    assert response.status_code == 200 and "Queueing 20 voiceovers" in response.get_data(as_text=True)
    with app.app_context():  # the request itself queued one batch job, not twenty voiceovers
        assert [j.kind for j in db.session.scalars(db.select(Job))] == ["voices_batch"]
    run_queue(app, "default")  # the batch: twenty voiceover jobs, two let in (the Starter limit)
    with app.app_context():
        waiting = db.session.scalars(db.select(Job).filter_by(kind="voice")).all()
        assert len(waiting) == 20
        assert sum(dispatch.position(j) is None for j in waiting) == 2
        assert "Waiting for your workspace's other jobs (2 run at a time on this plan" in waiting[-1].message
        assert len(Queue("voice", connection=redis_connection())) == 2
    with app.app_context():
        scene = db.session.get(Project, small).segments[0].id
    other.submit(f"/projects/{small}/assets/scenes/{scene}/voice", htmx=True)
    work()
    order = [j.project_id for j in voice_jobs(app)]
    assert len(order) == 21 and order.index(small) <= 2, order  # not behind the other eighteen
    with app.app_context():
        assert redis_connection().zcard(dispatch.admitted_key(flooder_ws)) == 0


def test_a_waiting_job_is_not_taken_for_lost(app, project_with_scenes):
    client, pid, _ = project_with_scenes(MANY)
    client.submit(f"/projects/{pid}/assets/voice/all", htmx=True)
    run_queue(app, "default")
    with app.app_context():
        db.session.execute(db.update(Job).values(created_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
        reconcile(db.session.get(Project, pid))
        states = [j.state for j in db.session.scalars(db.select(Job).filter_by(kind="voice"))]
    assert states == ["queued"] * len(states)


def test_batches_are_capped(app, project_with_scenes, work):
    app.config["MAX_BATCH_SCENES"] = 5
    client, pid, ids = project_with_scenes(MANY)
    body = client.submit(f"/projects/{pid}/assets/images/missing", htmx=True).get_data(as_text=True)
    assert "Queueing 5 images" in body and "That is the most one batch does" in body
    again = client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    assert again.status_code == 409 and "already being made" in again.get_data(as_text=True)
    work()
    with app.app_context():
        assert len(db.session.scalars(db.select(Job).filter_by(kind="image")).all()) == 5
    body = client.submit(f"/projects/{pid}/assets/images/missing", htmx=True).get_data(as_text=True)
    assert "Queueing 5 images" in body  # the next five, once the first batch is done


def test_a_long_script_is_cut_by_a_worker(app, project_with_scenes, work):
    app.config["CUT_IN_REQUEST_MAX_CHARS"] = 200
    client, pid, _ = project_with_scenes()
    response = client.submit(f"/projects/{pid}/script/segment", {"script": MANY, "wpm": 160,
                                                                 "min_seconds": 1, "max_seconds": 3})
    assert response.status_code == 303
    page = client.get(response.location).get_data(as_text=True)
    assert "Finding the topics and scenes" in page or "Waiting for a worker" in page
    work()
    with app.app_context():
        assert len(db.session.get(Project, pid).segments) == 20
    body = client.get(f"/projects/{pid}/script/cutting", headers={"HX-Request": "true"})
    assert body.headers.get("HX-Redirect")
    assert "Cut into 20 scenes" in client.get(f"/projects/{pid}/script").get_data(as_text=True)
