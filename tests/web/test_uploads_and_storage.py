"""Bounded uploads and storage: decoding limits, compressed audio, length caps, rate limits,
storage quotas, removed media deleted, and image models that can't run said up front."""
from __future__ import annotations

import io
import subprocess

import numpy as np
import pytest
from PIL import Image

from app.extensions import db
from app.platform.media import get_storage
from app.models import Asset, Job, Project, Segment, Workspace
from app.pipeline.ffmpeg import ffmpeg_exe
from tests.web.test_security import _rate_limited_app


def png(size=(640, 360), colour=(40, 90, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def tone(tmp_path, seconds: float, codec: str = "libopus", name: str = "take.opus") -> bytes:
    path = tmp_path / name
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"sine=f=300:d={seconds}",
                    "-ac", "1", "-c:a", codec, "-b:a", "8k", str(path)], check=True)
    return path.read_bytes()


def upload(client, url: str, field: str, data: bytes, name: str):
    return client.submit(url, {field: (io.BytesIO(data), name)}, htmx=True, content_type="multipart/form-data")


def test_a_tiny_png_of_huge_16_bit_pixels_is_refused_with_its_figures(app, project_with_scenes):
    client, pid, (first, _) = project_with_scenes()
    bomb = io.BytesIO()
    Image.fromarray(np.full((7740, 7740), 30000, np.uint16)).save(bomb, "PNG")
    response = upload(client, f"/projects/{pid}/assets/scenes/{first}/image/upload", "image", bomb.getvalue(), "x.png")
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "7740×7740 pixels need 136.5 MB of memory and the limit is 112.0 MB" in body
    with app.app_context():
        assert db.session.scalar(db.select(Asset).filter_by(kind="image")) is None


def test_recordings_are_length_capped_with_the_real_length(app, project_with_scenes, tmp_path):
    client, pid, (first, _) = project_with_scenes()
    app.config["MAX_VOICEOVER_MINUTES"] = 0.5
    response = upload(client, f"/projects/{pid}/assets/scenes/{first}/audio/upload", "audio",
                      tone(tmp_path, 45), "long.opus")
    assert response.status_code == 422
    assert "The recording is 0:45 long; the limit is 0:30." in response.get_data(as_text=True)


def test_music_is_stored_compressed_by_a_job_and_removing_it_deletes_its_file(app, project_with_scenes, tmp_path, work):
    client, pid, _ = project_with_scenes()
    response = upload(client, f"/projects/{pid}/video/music", "music", tone(tmp_path, 20), "song.opus")
    assert "Converting the music" in response.get_data(as_text=True)
    assert "Converting" in client.get(f"/projects/{pid}/video/music/status", headers={"HX-Request": "true"}) \
        .get_data(as_text=True)
    work()
    with app.app_context():
        music = db.session.scalar(db.select(Asset).filter_by(kind="music"))
        assert music.mime == "audio/mp4" and music.meta["duration"] == pytest.approx(20, abs=0.1)
        key = music.storage_key
        assert db.session.get(Project, pid).settings["music_asset_id"] == music.id
    area = client.get(f"/projects/{pid}/video/music/status", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "song.opus" in area  # the finished conversion refreshes the area with the player
    client.submit(f"/projects/{pid}/video/music/remove", htmx=True)
    with app.app_context():
        assert db.session.scalar(db.select(Asset).filter_by(kind="music")) is None
        assert not get_storage().exists(key)


def test_music_that_finishes_while_its_status_is_read_shows_its_player(app, project_with_scenes, tmp_path, work,
                                                                       commit_lands_mid_request):
    """The conversion's last commit can land between the reads of one status poll: the refreshed area shows the
    music it saved (the poll stops there, so a stale answer would hide it until a reload)."""
    client, pid, _ = project_with_scenes()
    upload(client, f"/projects/{pid}/video/music", "music", tone(tmp_path, 5), "song.opus")
    work()
    with app.app_context():
        job = db.session.scalar(db.select(Job).filter_by(kind="music"))
        job_id, ended = job.id, dict(state=job.state, finished_at=job.finished_at)
        settings = db.session.get(Project, pid).settings
        # As before the conversion's commits: no music in the settings, the job still running.
        db.session.execute(db.update(Job).where(Job.id == job_id).values(state="running", finished_at=None))
        db.session.execute(db.update(Project).where(Project.id == pid).values(
            settings={k: v for k, v in settings.items() if k != "music_asset_id"}))
        db.session.commit()
    with commit_lands_mid_request("job", db.update(Project).where(Project.id == pid).values(settings=settings),
                                  db.update(Job).where(Job.id == job_id).values(**ended)) as landed:
        area = client.get(f"/projects/{pid}/video/music/status", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert landed
    assert "song.opus" in area


def test_uploads_are_rate_limited_per_member(app, make_member):
    email, workspace_id = make_member("owner")
    limited = _rate_limited_app(app)
    client = limited.test_client()
    client.login(email)
    with limited.app_context():
        project = Project(workspace_id=workspace_id, title="P", settings={})
        db.session.add(project)
        db.session.flush()
        scene = Segment(project_id=project.id, position=0, text="A scene.", settings={})
        db.session.add(scene)
        db.session.commit()
        pid, sid = project.id, scene.id
    codes = [upload(client, f"/projects/{pid}/assets/scenes/{sid}/image/upload", "image", b"not an image",
                    "x.png").status_code for _ in range(31)]
    assert codes[:30] == [422] * 30 and codes[30] == 429


def test_a_full_quota_refuses_new_media_with_the_figures(app, project_with_scenes, work):
    client, pid, (first, second) = project_with_scenes()
    with app.app_context():
        workspace = db.session.get(Workspace, db.session.get(Project, pid).workspace_id)
        workspace.storage_quota_mb = 1
        db.session.add(Asset(workspace_id=workspace.id, project_id=pid, kind="image", storage_key="ws/x/big.png",
                             mime="image/png", size=900 * 1024))
        db.session.commit()
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (600, 800, 3), dtype=np.uint8)).save(big, "PNG")
    response = upload(client, f"/projects/{pid}/assets/scenes/{first}/image/upload", "image", big.getvalue(), "n.png")
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "of its 1 MB of storage" in body and "bigger quota" in body
    with app.app_context():
        db.session.execute(db.update(Asset).where(Asset.storage_key == "ws/x/big.png").values(size=2 * 1024 * 1024))
        db.session.commit()
    for url, data in ((f"/projects/{pid}/assets/scenes/{second}/image", {"description": "x", "model": "draft"}),
                      (f"/projects/{pid}/assets/scenes/{second}/voice", {}),
                      (f"/projects/{pid}/assets/images/missing", {})):
        response = client.submit(url, data, htmx=True)
        assert response.status_code == 422 and "uses 2 MB of its 1 MB of storage" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(Job)) is None


def test_models_without_a_key_are_shown_unavailable_and_refused(app, project_with_scenes):
    client, pid, (first, _) = project_with_scenes()
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert "Stable Image Core · 3 credits · unavailable<" in page
    assert "Stability AI models are unavailable: no Stability AI key is set" in page
    response = client.submit(f"/projects/{pid}/assets/scenes/{first}/image", {"description": "x", "model": "core"},
                             htmx=True)
    assert response.status_code == 422
    assert "Stable Image Core is unavailable: no Stability AI key is set" in response.get_data(as_text=True)


def test_a_job_whose_provider_is_missing_fails_with_that_reason(app, project_with_scenes, work):
    """The key was there when the image was asked for, and gone when the worker got to it."""
    client, pid, (first, _) = project_with_scenes()
    app.config["STABILITY_API_KEY"] = "sk-was-here"
    client.submit(f"/projects/{pid}/assets/scenes/{first}/image", {"description": "x", "model": "core"}, htmx=True)
    app.config["STABILITY_API_KEY"] = ""
    work()
    with app.app_context():
        job = db.session.scalar(db.select(Job).filter_by(kind="image"))
        assert job.state == "failed" and "No Stability AI API key is set" in job.message
        assert "Something went wrong" not in job.message
