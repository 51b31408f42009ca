"""Failure drills: Redis stops, the media disk fills, the database restarts — pages keep working,
the user is told what is wrong, nothing is lost or charged, and it recovers afterwards."""
import io
import shutil
import subprocess

import pytest

from app.platform.embedded_redis import EmbeddedRedis
from app.extensions import db
from app.models import CreditEntry, Job, Project
from tests.conftest import USE_POSTGRES


def charges(app):
    with app.app_context():
        return [(e.kind, e.delta) for e in db.session.scalars(
            db.select(CreditEntry).filter(CreditEntry.kind.in_(("charge", "refund")))
            .order_by(CreditEntry.id))]


def use_redis(app, url):
    app.config["REDIS_URL"] = url
    app.extensions.pop("scriptreel_redis", None)


def test_redis_stops_and_comes_back(app, project_with_scenes, work, tmp_path):
    client, pid, (first, _) = project_with_scenes()
    own = EmbeddedRedis(tmp_path / "redis", persist=False).start()
    use_redis(app, own.url)
    own.stop()
    for url in ("/", f"/projects/{pid}/script", f"/projects/{pid}/scenes",
                f"/projects/{pid}/assets", f"/projects/{pid}/video", "/credits/"):
        assert client.get(url).status_code == 200, url
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["redis"].startswith("error")
    response = client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                             {"description": "x", "model": "draft"}, htmx=True)
    assert response.status_code == 422
    assert "not reachable right now" in response.get_data(as_text=True)
    assert charges(app) == []
    own.start()  # the fault is gone
    app.extensions.pop("scriptreel_redis", None)
    response = client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                             {"description": "x", "model": "draft"}, htmx=True)
    assert response.status_code == 200
    from rq import Queue, Worker
    with app.app_context():
        from app.platform.queue import QUEUES, redis_connection
        Worker([Queue(q, connection=redis_connection()) for q in QUEUES],
               connection=redis_connection()).work(burst=True)
        assert db.session.scalar(db.select(Job.state)) == "done"
    own.stop()


@pytest.fixture
def tiny_media_disk(app, tmp_path):
    """MEDIA_ROOT on a 1 MB tmpfs (needs root, as in CI); skipped where mounting isn't allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                            capture_output=True)
    if result.returncode != 0:
        pytest.skip("this machine does not allow mounting a small disk")
    app.config["MEDIA_ROOT"] = str(mount)
    app.extensions.pop("scriptreel_storage", None)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.sqlite_only
def test_full_media_disk(app, project_with_scenes, work, tiny_media_disk):
    client, pid, (first, second) = project_with_scenes()
    filler = tiny_media_disk / "filler"
    with open(filler, "wb") as handle:
        try:
            handle.write(b"\0" * (2 * 1024 * 1024))
        except OSError:
            pass
    start = charges(app)
    client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                  {"description": "Boats", "model": "draft"}, htmx=True)
    work()
    with app.app_context():
        job = db.session.scalar(db.select(Job).filter_by(kind="image"))
        assert job.state == "failed" and "storage is full" in job.message
        assert db.session.get(Project, pid).segments[0].image_asset_id is None
    assert charges(app) == start + [("charge", -1), ("refund", 1)]
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert "storage is full" in page
    from PIL import Image
    png = io.BytesIO()
    Image.effect_noise((900, 900), 80).convert("RGB").save(png, "PNG")
    response = client.submit(f"/projects/{pid}/assets/scenes/{second}/image/upload",
                             {"image": (io.BytesIO(png.getvalue()), "mine.png"), "fit": "crop"},
                             content_type="multipart/form-data", htmx=True)
    assert response.status_code == 507 and "storage is full" in response.get_data(as_text=True)
    with app.app_context():
        project = db.session.get(Project, pid)
        assert [s.image_asset_id for s in project.segments] == [None, None]
        assert project.segments[0].text.startswith("The harbour")  # nothing else changed
    filler.unlink()  # space is freed: it works again
    client.submit(f"/projects/{pid}/assets/scenes/{first}/retry", {"kind": "image"}, htmx=True)
    work()
    with app.app_context():
        assert db.session.get(Project, pid).segments[0].image_asset_id is not None


@pytest.mark.skipif(not USE_POSTGRES or not shutil.which("pg_ctlcluster"),
                    reason="restarts the local PostgreSQL server")
def test_database_restart(app, project_with_scenes):
    client, pid, _ = project_with_scenes()
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.split()
    subprocess.run(["pg_ctlcluster", clusters[0], clusters[1], "restart"], check=True, timeout=120)
    # Pooled connections died with the server; the next request reconnects (pool_pre_ping).
    page = client.get(f"/projects/{pid}/script")
    assert page.status_code == 200 and "Scene 1" in page.get_data(as_text=True)
    assert client.get("/healthz").get_json()["database"] == "ok"
