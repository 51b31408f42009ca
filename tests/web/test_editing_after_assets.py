"""Editing the cut after images and voiceovers exist: nothing made or paid for is lost, outdated
narration is flagged wherever the user works, and no edit path charges or overwrites twice."""
from __future__ import annotations

import io
import re
import threading

import pytest
from PIL import Image

from app import ledger
from app.extensions import db
from app.platform.media import get_storage
from app.models import Asset, CreditEntry, Job, Project, Segment
from app.pipeline.probe import probe
from tests.web.test_worker_failures import start_worker, wait_for

SCRIPT = ("The harbour wakes before dawn. Fishing boats slip out past the breakwater.\n\n"
          "By noon the market is loud. Traders sell the morning catch.\n\n"
          "At dusk the lighthouse turns. Its beam sweeps the water.")


@pytest.fixture
def furnished(app, project_with_scenes, work):
    """A project of three scenes, each with an image, a description and a voiceover."""
    client, pid, _ = project_with_scenes(SCRIPT)
    client.submit(f"/projects/{pid}/script/segment",
                  {"script": SCRIPT, "wpm": 160, "min_seconds": 2, "max_seconds": 12})
    ids = scene_ids(app, pid)
    for n, sid in enumerate(ids):
        client.submit(f"/projects/{pid}/scenes/{sid}/description",
                      {"description": f"Described scene {n + 1}", "version": version(app, sid)}, htmx=True)
    client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    client.submit(f"/projects/{pid}/assets/voice/all", htmx=True)
    work()
    return client, pid


def scene_ids(app, pid) -> list[int]:
    with app.app_context():
        return [s.id for s in db.session.get(Project, pid).segments]


def version(app, sid) -> int:
    with app.app_context():
        return db.session.get(Segment, sid).version


def scenes(app, pid) -> list[dict]:
    with app.app_context():
        return [{"id": s.id, "text": s.text, "description": s.description, "image": s.image_asset_id,
                 "audio": s.audio_asset_id, "outdated": s.voice_outdated, "seconds": s.seconds,
                 "voice": s.audio.prompt if s.audio else None,
                 "duration": s.audio.meta.get("duration") if s.audio else None}
                for s in db.session.get(Project, pid).segments]


def charges(app) -> list[int]:
    with app.app_context():
        return [e.delta for e in db.session.scalars(db.select(CreditEntry).filter(
            CreditEntry.kind.in_(("charge", "refund"))).order_by(CreditEntry.id))]


def test_undo_of_a_merge_after_images_and_voices_restores_every_scene(app, furnished):
    client, pid = furnished
    before = scenes(app, pid)
    assert all(s["image"] and s["audio"] and s["description"] for s in before)
    first = before[0]["id"]
    response = client.submit(f"/projects/{pid}/script/scenes/{first}/merge", {"neighbour": "next"}, htmx=True)
    assert response.status_code == 200
    merged = scenes(app, pid)
    assert len(merged) == 2
    # the merged scene keeps both voiceovers, joined: it says both texts and lasts as long as both
    assert not merged[0]["outdated"]
    assert merged[0]["voice"].split() == (before[0]["voice"] + " " + before[1]["voice"]).split()
    assert merged[0]["duration"] >= before[0]["duration"] + before[1]["duration"] - 0.01
    assert merged[0]["description"] == "Described scene 1\nDescribed scene 2"
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert page.count('class="version') >= 2  # the second scene's image is a version of the merged one

    body = client.submit(f"/projects/{pid}/script/undo", htmx=True).get_data(as_text=True)
    assert "Undid: Merge scenes." in body
    assert scenes(app, pid) == before
    client.submit(f"/projects/{pid}/script/redo", htmx=True)
    assert scenes(app, pid) == merged
    # a new edit after an undo drops the redo, never the work made before the merge
    client.submit(f"/projects/{pid}/script/undo", htmx=True)
    client.submit(f"/projects/{pid}/script/scenes/{first}/topic", {"action": "rename", "title": "Dawn"}, htmx=True)
    assert [(s["image"], s["audio"], s["description"]) for s in scenes(app, pid)] == \
        [(s["image"], s["audio"], s["description"]) for s in before]
    with app.app_context():
        for s in before:
            for asset_id in (s["image"], s["audio"]):
                assert get_storage().exists(db.session.get(Asset, asset_id).storage_key)


def test_a_text_edit_flags_the_voiceover_everywhere_until_it_is_revoiced(app, furnished, work):
    client, pid = furnished
    sid = scenes(app, pid)[1]["id"]
    client.submit(f"/projects/{pid}/script/scenes/{sid}/text",
                  {"text": "By noon the market roars. Traders shout over the catch."}, htmx=True)
    assert scenes(app, pid)[1]["outdated"]
    editor = client.get(f"/projects/{pid}/script").get_data(as_text=True)
    assert "voiceover out of date" in editor
    grid = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert "Voiceover out of date" in grid and "It says: “By noon the market is loud." in grid
    assert "Re-voice the 1 outdated scene (free)" in grid
    assert "1 voiceover out of date" in client.get("/").get_data(as_text=True)
    video = client.get(f"/projects/{pid}/video").get_data(as_text=True)
    assert re.search(r"Scene 2(&#39;|')s voiceover is out of date: it says “[^”]*market is loud[^”]*” "
                     r"where the text now says “[^”]*market roars[^”]*”", video)
    # compiling asks first and queues nothing
    response = client.submit(f"/projects/{pid}/video/compile", htmx=True)
    assert response.status_code == 409 and "Compile anyway?" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(Job).filter_by(kind="compile")) is None
    client.submit(f"/projects/{pid}/assets/voice/outdated", htmx=True)
    work()
    assert not scenes(app, pid)[1]["outdated"]
    assert "out of date" not in client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    before_cost = sum(charges(app))
    assert sum(charges(app)) == before_cost  # re-voicing is free


def test_split_divides_the_voiceover_where_the_sentence_is_spoken(app, furnished):
    client, pid = furnished
    original = scenes(app, pid)[0]
    offset = original["text"].index("Fishing")
    client.submit(f"/projects/{pid}/script/scenes/{original['id']}/split", {"offset": offset}, htmx=True)
    head, tail = scenes(app, pid)[:2]
    assert not head["outdated"] and not tail["outdated"]
    assert head["voice"] == "The harbour wakes before dawn." and tail["voice"].startswith("Fishing boats")
    assert head["duration"] + tail["duration"] == pytest.approx(original["duration"], abs=0.05)
    assert tail["image"] and tail["image"] != head["image"]  # the second half has its own copy
    with app.app_context():
        copy, source = db.session.get(Asset, tail["image"]), db.session.get(Asset, head["image"])
        with get_storage().open_read(copy.storage_key) as a, get_storage().open_read(source.storage_key) as b:
            assert a.read() == b.read()
        for sid in (head["audio"], tail["audio"]):
            info = probe(get_storage().local_path(db.session.get(Asset, sid).storage_key))
            assert info.audio is not None and info.audio.codec == "flac"


def test_switching_image_versions_restores_each_versions_description(app, furnished, work):
    client, pid = furnished
    sid = scenes(app, pid)[0]["id"]
    first_image = scenes(app, pid)[0]["image"]
    client.submit(f"/projects/{pid}/assets/scenes/{sid}/image",
                  {"description": "A storm over the harbour", "model": "draft", "version": version(app, sid)},
                  htmx=True)
    work()
    assert scenes(app, pid)[0]["description"] == "A storm over the harbour"
    client.submit(f"/projects/{pid}/assets/scenes/{sid}/image/{first_image}/use", htmx=True)
    assert scenes(app, pid)[0]["description"] == "Described scene 1"


def test_an_uploaded_image_has_its_own_description_and_alt_text(app, furnished):
    client, pid = furnished
    sid = scenes(app, pid)[0]["id"]
    png = io.BytesIO()
    Image.new("RGB", (640, 360), (10, 120, 200)).save(png, "PNG")
    response = client.submit(
        f"/projects/{pid}/assets/scenes/{sid}/image/upload",
        {"image": (io.BytesIO(png.getvalue()), "my-harbour.png"), "image_description": "",
         "version": version(app, sid)}, htmx=True, content_type="multipart/form-data")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'alt="Image for scene 1: my-harbour.png"' in body
    assert scenes(app, pid)[0]["description"] == "Described scene 1"  # an empty one changes nothing


def test_double_click_on_generate_all_missing_charges_once(app, project_with_scenes, work):
    client, pid, ids = project_with_scenes(SCRIPT)
    start = charges(app)
    barrier = threading.Barrier(2)
    statuses = []

    def click():
        other = app.test_client()
        other.set_cookie("session", client.get_cookie("session").value)
        other.csrf_token = client.csrf_token or client.fetch_csrf()
        barrier.wait()
        statuses.append(other.submit(f"/projects/{pid}/assets/images/missing", htmx=True).status_code)

    threads = [threading.Thread(target=click) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(statuses) in ([200, 200], [200, 409])  # the second finds the first's batch
    grid = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert re.search(r"<button[^>]*disabled>Generating \d+ images?…</button>", grid)
    again = client.submit(f"/projects/{pid}/assets/images/missing", htmx=True).get_data(as_text=True)
    assert "Every scene has an image or one on its way." in again
    work()
    assert charges(app)[len(start):] == [-1] * len(ids)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Asset).filter_by(kind="image")) == len(ids)


def test_charges_stay_unique_after_projects_with_charged_jobs_are_deleted(app, make_member, client, work):
    """Charge keys come from random job ids: a deleted job's key never matches a new job's."""
    email, workspace_id = make_member("owner", plan="agency")
    client.login(email)
    images = 0
    for cycle in range(3):
        response = client.submit("/projects", {"title": f"Cycle {cycle}"})
        pid = int(re.search(r"/projects/(\d+)/", response.location).group(1))
        client.submit(f"/projects/{pid}/script/segment", {"script": SCRIPT, "wpm": 160,
                                                          "min_seconds": 2, "max_seconds": 12})
        client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
        work()
        images += len(scene_ids(app, pid))
        client.submit(f"/projects/{pid}/delete")
    with app.app_context():
        charged = db.session.scalars(db.select(CreditEntry).filter_by(kind="charge")).all()
        assert len(charged) == images and all(e.delta == -1 for e in charged)
        assert ledger.balance(workspace_id) == 2000 - images


def test_concurrent_upload_and_description_save_never_500_and_leave_no_orphan(app, furnished):
    client, pid = furnished
    sid = scenes(app, pid)[0]["id"]
    png = io.BytesIO()
    Image.new("RGB", (320, 180), (200, 40, 40)).save(png, "PNG")
    statuses = []
    for attempt in range(8):
        current = version(app, sid)
        barrier = threading.Barrier(2)

        def upload():
            other = app.test_client()
            other.set_cookie("session", client.get_cookie("session").value)
            other.csrf_token = client.csrf_token or client.fetch_csrf()
            barrier.wait()
            statuses.append(other.submit(
                f"/projects/{pid}/assets/scenes/{sid}/image/upload",
                {"image": (io.BytesIO(png.getvalue()), "red.png"), "version": current},
                htmx=True, content_type="multipart/form-data").status_code)

        def describe():
            other = app.test_client()
            other.set_cookie("session", client.get_cookie("session").value)
            other.csrf_token = client.csrf_token or client.fetch_csrf()
            barrier.wait()
            statuses.append(other.submit(f"/projects/{pid}/scenes/{sid}/description",
                                         {"description": f"Take {attempt}", "version": current},
                                         htmx=True).status_code)
        threads = [threading.Thread(target=upload), threading.Thread(target=describe)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert set(statuses) <= {200, 409} and 200 in statuses
    with app.app_context():
        project = db.session.get(Project, pid)
        keys = {a.storage_key for a in db.session.scalars(db.select(Asset).filter_by(project_id=pid))}
        files = set(get_storage().list_keys(f"ws/{project.workspace_id}/projects/{pid}/image/"))
        assert files <= keys


def test_a_hundred_concurrent_saves_of_one_version_are_200_or_409(app, furnished):
    client, pid = furnished
    sid = scenes(app, pid)[2]["id"]
    current = version(app, sid)
    barrier = threading.Barrier(20)
    statuses = []

    def save(n):
        other = app.test_client()
        other.set_cookie("session", client.get_cookie("session").value)
        other.csrf_token = client.csrf_token or client.fetch_csrf()
        barrier.wait()
        for k in range(5):
            statuses.append(other.submit(f"/projects/{pid}/scenes/{sid}/notes",
                                         {"notes": f"note {n}-{k}", "version": current}, htmx=True).status_code)
    threads = [threading.Thread(target=save, args=(n,)) for n in range(20)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(statuses) == 100 and set(statuses) <= {200, 409}
    assert statuses.count(200) == 1  # one save won; every other one was told, none was lost silently


@pytest.mark.parametrize("path,data", [
    ("script/scenes/{sid}/merge", {"neighbour": "next"}),
    ("script/scenes/{sid}/split", {"offset": 30}),
    ("script/scenes/{sid}/delete", {}),
    ("script/scenes/{sid}/boundary", {"direction": "later"}),
    ("script/scenes/{sid}/topic", {"action": "rename", "title": "Renamed"}),
])
def test_structural_edits_from_a_stale_page_are_refused(app, furnished, path, data):
    client, pid = furnished
    before = scenes(app, pid)
    sid = before[0]["id"]
    stale = version(app, sid) - 1
    response = client.submit(f"/projects/{pid}/{path.format(sid=sid)}", {**data, "version": stale}, htmx=True)
    assert response.status_code == 409
    assert "changed in another tab" in response.get_data(as_text=True)
    assert scenes(app, pid) == before


def test_regenerate_from_a_stale_page_keeps_both_descriptions(app, furnished):
    client, pid = furnished
    sid = scenes(app, pid)[0]["id"]
    stale = version(app, sid)
    client.submit(f"/projects/{pid}/scenes/{sid}/description",
                  {"description": "Saved in the other tab", "version": stale}, htmx=True)
    response = client.submit(f"/projects/{pid}/assets/scenes/{sid}/image",
                             {"description": "Typed in this tab", "model": "draft", "version": stale}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Typed in this tab" in body and "Saved in the other tab" in body
    assert scenes(app, pid)[0]["description"] == "Saved in the other tab"
    with app.app_context():
        assert db.session.scalar(db.select(Job).filter_by(kind="image", segment_id=sid, state="queued")) is None


def test_the_script_box_refuses_to_overwrite_a_newer_script(app, furnished):
    client, pid = furnished
    page = client.get(f"/projects/{pid}/script").get_data(as_text=True)
    seen = re.search(r'name="script_version" id="script-version" value="([^"]+)"', page).group(1)
    saved = client.submit(f"/projects/{pid}/script/text", {"script": "Other tab's script.",
                                                            "script_version": seen}, htmx=True)
    assert saved.status_code == 200
    stale = client.submit(f"/projects/{pid}/script/text", {"script": "This tab's script.",
                                                            "script_version": seen}, htmx=True)
    assert stale.status_code == 409 and "Save mine anyway" in stale.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Project, pid).script == "Other tab's script."


def test_undo_from_a_stale_page_is_refused(app, furnished):
    client, pid = furnished
    sid = scenes(app, pid)[0]["id"]
    with app.app_context():
        at = db.session.get(Project, pid).history_position
    client.submit(f"/projects/{pid}/script/scenes/{sid}/merge", {"neighbour": "next"}, htmx=True)
    response = client.submit(f"/projects/{pid}/script/undo", {"at": at}, htmx=True)
    assert response.status_code == 409 and len(scenes(app, pid)) == 2


def test_cut_redirects_after_post_and_uses_the_one_speaking_rate(app, project_with_scenes):
    client, pid, _ = project_with_scenes()
    client.submit(f"/projects/{pid}/assets/settings", {"wpm": 120}, htmx=True)
    page = client.get(f"/projects/{pid}/script").get_data(as_text=True)
    assert 'id="wpm" name="wpm"' in page and 'value="120"' in page
    response = client.submit(f"/projects/{pid}/script/segment", {"script": SCRIPT, "wpm": 120,
                                                                 "min_seconds": 2, "max_seconds": 30})
    assert response.status_code == 303 and response.location.endswith(f"/projects/{pid}/script")
    assert "Cut into" in client.get(response.location).get_data(as_text=True)
    with app.app_context():
        first = db.session.get(Project, pid).segments[0]
        assert first.seconds == pytest.approx(len(first.text.split()) * 60 / 120, abs=0.1)


def test_deleting_a_project_mid_compile_leaves_no_job_slot_or_file(app, furnished):
    client, pid = furnished
    with app.app_context():
        workspace_id = db.session.get(Project, pid).workspace_id
        prefix = f"ws/{workspace_id}/projects/{pid}/"
    worker = start_worker(app)
    try:
        client.submit(f"/projects/{pid}/video/compile", {"confirm": "voice"}, htmx=True)

        def running():
            with app.app_context():
                job = db.session.scalar(db.select(Job).filter_by(project_id=pid, kind="compile"))
                return job is not None and job.state == "running" and job.progress > 0.02
        wait_for(running, timeout=60)
        assert client.submit(f"/projects/{pid}/delete").status_code == 302

        from app.platform.queue import redis_connection

        def settled():
            with app.app_context():
                slots = redis_connection().zcard(f"scriptreel:slots:{workspace_id}")
                return slots == 0 and not list(get_storage().list_keys(prefix))
        wait_for(settled, timeout=60)
        with app.app_context():
            assert db.session.scalar(db.select(db.func.count()).select_from(Job).filter(
                Job.state.in_(Job.ACTIVE))) == 0
            refunds = db.session.scalars(db.select(CreditEntry).filter_by(kind="refund")).all()
            assert refunds == []  # nothing undelivered had been charged (compiles are free)
    finally:
        worker.terminate()
        worker.wait(20)


def test_undo_reverts_the_edit_and_keeps_what_was_made_since(app, furnished, work):
    """A new image made after a merge survives undoing the merge (and redoing it)."""
    client, pid = furnished
    first, second, third = [s["id"] for s in scenes(app, pid)]
    client.submit(f"/projects/{pid}/script/scenes/{first}/merge", {"neighbour": "next"}, htmx=True)
    client.submit(f"/projects/{pid}/assets/scenes/{third}/image",
                  {"description": "Night falls on the lighthouse", "model": "draft"}, htmx=True)
    work()
    made = scenes(app, pid)[1]["image"]
    body = client.submit(f"/projects/{pid}/script/undo", htmx=True).get_data(as_text=True)
    assert "Undid: Merge scenes." in body
    after = scenes(app, pid)
    assert [s["id"] for s in after] == [first, second, third]
    assert after[2]["image"] == made and after[2]["description"] == "Night falls on the lighthouse"
    client.submit(f"/projects/{pid}/script/redo", htmx=True)
    assert [s["id"] for s in scenes(app, pid)] == [first, third] and scenes(app, pid)[1]["image"] == made


def test_a_scene_moves_with_everything_it_owns_and_chapters_stay_whole(app, furnished):
    client, pid = furnished
    before = scenes(app, pid)
    last = before[-1]["id"]
    client.submit(f"/projects/{pid}/script/scenes/{last}/move", {"to": 0}, htmx=True)
    after = scenes(app, pid)
    assert [s["id"] for s in after] == [last] + [s["id"] for s in before[:-1]]
    assert after[0] == before[-1]  # its text, description, image and voiceover came along
    with app.app_context():
        titles = [s.topic_title for s in db.session.get(Project, pid).segments]
    assert titles[0] and not titles[1]  # the moved scene opens the first chapter now
    client.submit(f"/projects/{pid}/script/scenes/{last}/move", {"direction": "down"}, htmx=True)
    assert [s["id"] for s in scenes(app, pid)][:2] == [before[0]["id"], last]
    client.submit(f"/projects/{pid}/script/undo", htmx=True)
    client.submit(f"/projects/{pid}/script/undo", htmx=True)
    assert scenes(app, pid) == before
