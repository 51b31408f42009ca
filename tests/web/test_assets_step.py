"""Step 3 on a real worker: draft and Stability images, credits, versions, uploads, voice, fit."""
import io
import re
import subprocess
import threading

import pytest
from PIL import Image

from app import ledger
from app.extensions import db
from app.platform.media import get_storage
from app.models import Asset, CreditEntry, Job, Segment
from app.pipeline.ffmpeg import ffmpeg_exe
from app.pipeline.probe import probe
from tests.fakes.stability import FakeStability

KEY = "sk-test-stability"


def entries(app):
    with app.app_context():
        return [(e.kind, e.delta) for e in db.session.scalars(
            db.select(CreditEntry).filter(CreditEntry.kind.in_(("charge", "refund")))
            .order_by(CreditEntry.id))]


def scene(app, sid) -> Segment:
    with app.app_context():
        segment = db.session.get(Segment, sid)
        db.session.expunge(segment)
        return segment


def image_of(app, sid) -> Image.Image:
    with app.app_context():
        asset = db.session.get(Segment, sid).image
        with get_storage().open_read(asset.storage_key) as handle:
            return Image.open(io.BytesIO(handle.read()))


def balance(app, pid=None):
    with app.app_context():
        from app.models import Project
        return ledger.balance(db.session.get(Project, pid).workspace_id)


def test_draft_image_charges_one_credit_and_regenerate_keeps_versions(app, project_with_scenes, work):
    client, pid, (first, second) = project_with_scenes()
    start = balance(app, pid)
    response = client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                             {"description": "A harbour at dawn", "model": "draft"}, htmx=True)
    assert response.status_code == 200 and 'hx-trigger="every 1s"' in response.get_data(as_text=True)
    assert balance(app, pid) == start - 1  # charged before the worker starts
    work()
    image = image_of(app, first)
    assert image.size == (1920, 1080)
    original = scene(app, first).image_asset_id
    client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                  {"description": "A harbour at night, lanterns", "model": "draft"}, htmx=True)
    work()
    assert scene(app, first).image_asset_id != original
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert "Use this version" in page or "Use version" in page
    client.submit(f"/projects/{pid}/assets/scenes/{first}/image/{original}/use", htmx=True)
    assert scene(app, first).image_asset_id == original
    assert entries(app) == [("charge", -1), ("charge", -1)]
    with app.app_context():
        asset = db.session.get(Asset, original)
        assert asset.provider == "draft" and asset.prompt.endswith("A harbour at dawn")
        assert asset.seed and asset.created_by_id


def test_generate_all_missing_refuses_up_front_without_credits(app, make_member, client,
                                                               project_with_scenes, work):
    client, pid, ids = project_with_scenes()
    with app.app_context():
        from app.models import Project
        ws = db.session.get(Project, pid).workspace_id
        ledger.charge(ws, ledger.balance(ws) - 1, "spend down", key="test:spend")
    response = client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    assert response.status_code == 422
    assert "needs 2 credits but the workspace has 1" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Job)
                                 .filter_by(kind="image")) == 0
    with app.app_context():
        ledger.grant(ws, 5, "top up")
    response = client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    assert "Queueing 2 images" in response.get_data(as_text=True)
    work()
    assert all(scene(app, s).image_asset_id for s in ids)
    assert balance(app, pid) == 6 - 2


@pytest.mark.parametrize("outcome,message,refunded", [
    ("success", None, False),
    ("filtered", "filtered the generated image", True),
    (403, "content moderation", True),
    (402, "out of credits", True),
    (400, "", True),
    (429, "", True),
    (500, "", True),
])
def test_stability_outcomes_reach_the_scene_with_refunds(app, project_with_scenes, work, outcome,
                                                        message, refunded):
    client, pid, (first, _) = project_with_scenes()
    with FakeStability(api_key=KEY) as fake:
        app.config.update(STABILITY_API_KEY=KEY, STABILITY_BASE_URL=fake.url)
        if outcome == "filtered":
            fake.will_filter()
        elif outcome in (429, 500):
            for _ in range(4):  # the first try and every retry
                fake.will_fail(outcome)
        elif outcome != "success":
            fake.will_fail(outcome)
        client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                      {"description": "Fishing boats", "model": "core"}, htmx=True)
        work()
        sent = fake.requests
    assert sent[0].headers["authorization"] == f"Bearer {KEY}"
    with app.app_context():
        job = db.session.scalar(db.select(Job).filter_by(kind="image"))
        state, text = job.state, job.message
    if outcome in (429, 500):
        assert len(sent) == 4  # retried with back-off, then gave up
    if refunded:
        assert state == "failed" and message.lower() in text.lower()
        assert entries(app) == [("charge", -3), ("refund", 3)]
        page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
        assert "Image failed:" in page and "Retry" in page
        assert KEY not in page
    else:
        assert state == "done" and image_of(app, first).size == (1920, 1080)
        assert entries(app) == [("charge", -3)]


def test_plan_caps_the_model_tier(app, project_with_scenes):
    client, pid, (first, _) = project_with_scenes()
    response = client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                             {"description": "x", "model": "ultra"}, htmx=True)
    assert response.status_code == 422 and "premium model" in response.get_data(as_text=True)
    assert entries(app) == []


def test_redis_down_says_so_and_charges_nothing(app, project_with_scenes, tmp_path):
    client, pid, (first, _) = project_with_scenes()
    app.config["REDIS_URL"] = f"unix://{tmp_path}/nowhere.sock"
    app.extensions.pop("scriptreel_redis", None)
    response = client.submit(f"/projects/{pid}/assets/scenes/{first}/image",
                             {"description": "x", "model": "draft"}, htmx=True)
    assert response.status_code == 422
    assert "job queue (Redis) is not reachable" in response.get_data(as_text=True)
    assert entries(app) == []
    assert client.get(f"/projects/{pid}/assets").status_code == 200  # pages keep working


def test_concurrent_generations_with_credits_for_all_but_one(app, make_member, work):
    """N editors click Generate at once with N-1 credits: exactly one is refused."""
    owner_email, ws = make_member("owner")
    client = app.test_client()
    client.login(owner_email)
    import re
    response = client.submit("/projects", {"title": "Race"})
    pid = int(re.search(r"/projects/(\d+)/", response.location).group(1))
    client.submit(f"/projects/{pid}/script/segment", {
        "script": "\n\n".join(f"Scene {w} shows the harbour at work." for w in ("one", "two", "three", "four")),
        "wpm": 150, "min_seconds": 1, "max_seconds": 3})
    with app.app_context():
        from app.models import Project
        ids = [s.id for s in db.session.get(Project, pid).segments]
        # The starter plan's monthly grant would cover everything: spend it down to N-1.
        ledger.charge(ws, ledger.balance(ws) - (len(ids) - 1), "spend down", key="test:down")
    n = len(ids)
    assert n >= 3
    clients = []
    for _ in ids:
        c = app.test_client()
        c.login(owner_email)
        c.fetch_csrf()
        clients.append(c)
    barrier, codes = threading.Barrier(n), []

    def click(c, sid):
        barrier.wait()
        codes.append(c.submit(f"/projects/{pid}/assets/scenes/{sid}/image",
                              {"description": "x", "model": "draft"}, htmx=True).status_code)
    threads = [threading.Thread(target=click, args=(c, s)) for c, s in zip(clients, ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * (n - 1) + [422]
    with app.app_context():
        assert ledger.balance(ws) == 0
    work()
    assert sum(1 for s in ids if scene(app, s).image_asset_id) == n - 1


def _png(size=(800, 600), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("name,data,message", [
    ("fake.png", b"<html><script>alert(1)</script></html>", "not a PNG, JPEG or WebP"),
    ("empty.png", b"", "empty"),
    ("cut.png", _png()[:200], "damaged or incomplete"),
])
def test_hostile_image_uploads_are_refused_and_change_nothing(app, project_with_scenes, name,
                                                              data, message):
    client, pid, (first, _) = project_with_scenes()
    response = client.submit(f"/projects/{pid}/assets/scenes/{first}/image/upload",
                             {"image": (io.BytesIO(data), name), "fit": "crop"},
                             content_type="multipart/form-data", htmx=True)
    assert response.status_code == 422
    assert message.lower() in response.get_data(as_text=True).lower()
    assert scene(app, first).image_asset_id is None


@pytest.mark.parametrize("fit", ["crop", "letterbox"])
def test_own_image_upload_is_fitted_and_free(app, project_with_scenes, fit):
    client, pid, (first, _) = project_with_scenes()
    start = balance(app, pid)
    response = client.submit(f"/projects/{pid}/assets/scenes/{first}/image/upload",
                             {"image": (io.BytesIO(_png((800, 800))), "square.jpg"), "fit": fit},
                             content_type="multipart/form-data", htmx=True)
    assert response.status_code == 200
    image = image_of(app, first).convert("RGB")
    assert image.size == (1920, 1080)
    centre, edge = image.getpixel((960, 540)), image.getpixel((10, 540))
    assert centre[0] > 150
    if fit == "letterbox":
        assert edge != centre  # bars beside the square picture
    else:
        assert edge[0] > 150
    assert balance(app, pid) == start and entries(app) == []
    # The storyboard above the grid shows the new picture on its card at once.
    card = re.search(rf'<li class="sb-card[^"]*" id="sb-{first}".*?</li>', response.get_data(as_text=True), re.S)
    assert card and "/media/" in card.group(0)


def test_default_voice_fit_and_uploaded_recording(app, project_with_scenes, work, tmp_path):
    client, pid, (first, second) = project_with_scenes()
    client.submit(f"/projects/{pid}/assets/voice/all", htmx=True)
    work()
    for sid in (first, second):
        with app.app_context():
            audio = db.session.get(Segment, sid).audio
            assert audio.meta["duration"] > 1 and len(audio.meta["words"]) >= 4
            info = probe(get_storage().local_path(audio.storage_key))
        assert info.audio.sample_rate == 48000 and info.audio.channels == 2
    client.submit(f"/projects/{pid}/assets/scenes/{first}/fit", htmx=True)
    fitted = scene(app, first)
    with app.app_context():
        duration = db.session.get(Segment, first).audio.meta["duration"]
    # The pause after the narration (0.6 s) plus the crossfade that overlaps the next scene (0.5 s).
    assert fitted.timing_source == "audio" and fitted.seconds == pytest.approx(duration + 1.1, abs=0.02)

    mp3 = tmp_path / "take.mp3"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=f=440:d=3",
                    "-ar", "44100", str(mp3)], check=True)
    response = client.submit(f"/projects/{pid}/assets/scenes/{second}/audio/upload",
                             {"audio": (io.BytesIO(mp3.read_bytes()), "take.mp3")},
                             content_type="multipart/form-data", htmx=True)
    assert "converting your recording" in response.get_data(as_text=True)
    assert "Recording:" in client.get(f"/projects/{pid}/assets/status", headers={"HX-Request": "true"}).get_data(as_text=True)
    work()
    with app.app_context():
        recording = db.session.get(Segment, second).audio
        assert recording.mime == "audio/mp4" and recording.meta["duration"] == pytest.approx(3.0, abs=0.05)
        assert recording.meta["original_name"] == "take.mp3"
        info = probe(get_storage().local_path(recording.storage_key))
        assert info.audio.codec == "aac" and info.audio.sample_rate == 48000
        # the original upload is gone once converted
        assert db.session.scalar(db.select(Asset).filter_by(kind="incoming")) is None
        prefix = f"ws/{recording.workspace_id}/projects/{pid}/incoming/"
        assert list(get_storage().list_keys(prefix)) == []
    response = client.submit(f"/projects/{pid}/assets/scenes/{second}/audio/upload",
                             {"audio": (io.BytesIO(_png()), "not-audio.mp3")},
                             content_type="multipart/form-data", htmx=True)
    assert response.status_code == 422
    assert entries(app) == []  # speech and uploads are free


def test_cancel_queued_batch_refunds(app, project_with_scenes):
    from rq import Queue, Worker

    from app.platform.queue import redis_connection
    client, pid, ids = project_with_scenes()
    start = balance(app, pid)
    client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    assert balance(app, pid) == start  # the batch charges each image as it queues it
    with app.app_context():  # only the batch job runs: it queues (and charges) the images
        Worker([Queue("default", connection=redis_connection())], connection=redis_connection()).work(burst=True)
    assert balance(app, pid) == start - len(ids)
    response = client.submit(f"/projects/{pid}/assets/cancel", htmx=True)
    assert f"Cancelling {len(ids)} jobs" in response.get_data(as_text=True)
    assert balance(app, pid) == start
    with app.app_context():
        assert {j.state for j in db.session.scalars(db.select(Job).filter_by(kind="image"))} == {"cancelled"}


def test_azure_voice_when_configured(app, project_with_scenes, work):
    from tests.fakes.azure_speech import FakeAzureSpeech
    client, pid, (first, _) = project_with_scenes()
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert "Azure neural voices" not in page  # no Azure key on this server
    with FakeAzureSpeech(key="az-key") as fake:
        app.config.update(AZURE_SPEECH_KEY="az-key", AZURE_SPEECH_REGION="westeurope",
                          AZURE_SPEECH_BASE_URL=fake.url)
        response = client.submit(f"/projects/{pid}/assets/settings", {"voice_provider": "azure"},
                                 htmx=True)
        assert response.headers.get("HX-Refresh") == "true"
        page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
        assert "Azure voice" in page and "en-US-JennyNeural" in page
        bad = client.submit(f"/projects/{pid}/assets/settings", {"voice": "<b>x</b>"}, htmx=True)
        assert bad.status_code == 422
        client.submit(f"/projects/{pid}/assets/settings", {"voice": "fr-FR-DeniseNeural"}, htmx=True)
        client.submit(f"/projects/{pid}/assets/scenes/{first}/voice", htmx=True)
        work()
        assert "fr-FR-DeniseNeural" in fake.last.body.decode()
    with app.app_context():
        audio = db.session.get(Segment, first).audio
        assert audio.provider == "azure" and audio.meta["duration"] > 0.5
