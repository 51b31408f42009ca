"""Step 4 on a real worker: pre-flight list, compile with progress, outputs, re-compile, cancel."""
import html
import re

from app.extensions import db
from app.platform.media import get_storage, project_prefix
from app.models import CreditEntry, Job, Project
from app.pipeline.probe import probe


def ready_project(client, pid, work):
    """Draft images and espeak voiceovers for every scene, fitted: ready to compile."""
    client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    client.submit(f"/projects/{pid}/assets/voice/all", htmx=True)
    work()
    client.submit(f"/projects/{pid}/assets/fit/all", htmx=True)


def ledger(app):
    with app.app_context():
        return [(e.kind, e.delta) for e in db.session.scalars(db.select(CreditEntry).order_by(CreditEntry.id))]


def latest_compile(app):
    with app.app_context():
        job = db.session.scalar(db.select(Job).filter_by(kind="compile").order_by(Job.id.desc()))
        db.session.expunge(job)
        return job


def test_preflight_lists_what_is_missing_with_links(app, project_with_scenes):
    client, pid, ids = project_with_scenes()
    page = client.get(f"/projects/{pid}/video").get_data(as_text=True)
    assert "Scene 1 has no image." in page and f"#asset-{ids[0]}" in page
    assert "no voiceover; it will be silent" in page
    response = client.submit(f"/projects/{pid}/video/compile", htmx=True)
    assert response.status_code == 422 and "Fix these first" in response.get_data(as_text=True)


def test_preflight_warns_when_burned_captions_cant_draw_the_script(app, project_with_scenes):
    client, pid, ids = project_with_scenes("港の朝。船が海へ出る。\n\nThe market opens at noon.")
    page = client.get(f"/projects/{pid}/video").get_data(as_text=True)
    assert "caption font" not in page, "captions aren't burned in by default: nothing to warn about"
    client.submit(f"/projects/{pid}/video/settings", {"transition": "crossfade", "burn_captions": "on"}, htmx=True)
    page = html.unescape(client.get(f"/projects/{pid}/video").get_data(as_text=True))
    assert "Scene 1 has characters the burned-in caption font can't draw (港の朝。船が海へ出る" in page
    assert 'href="#burn-captions"' in page and 'id="burn-captions"' in page
    assert "Scene 2 has characters" not in page


def test_compile_plays_downloads_and_costs_nothing(app, project_with_scenes, work):
    client, pid, ids = project_with_scenes()
    ready_project(client, pid, work)
    before = ledger(app)
    response = client.submit(f"/projects/{pid}/video/compile", htmx=True)
    body = response.get_data(as_text=True)
    assert 'id="compile-progress"' in body and 'hx-trigger="every 1s"' in body
    work()
    assert ledger(app) == before  # compiling is free
    job = latest_compile(app)
    assert job.state == "done", job.message
    poll = client.get(f"/projects/{pid}/video/progress", headers={"HX-Request": "true"})
    assert poll.headers["HX-Retarget"] == "#compile-area"
    page = poll.get_data(as_text=True)
    assert "Download MP4" in page and "Captions (SRT)" in page and "every 1s" not in page
    with app.app_context():
        project = db.session.get(Project, pid)
        # Fitted scenes are paced to their narration, so the video is as long as the compile made it.
        expected = job.result["frames"] / 30
        assert expected < sum(s.seconds for s in project.segments)
        from app.models import Asset
        video = db.session.get(Asset, job.result["video"])
        path = get_storage().local_path(video.storage_key)
        srt = get_storage().local_path(db.session.get(Asset, job.result["srt"]).storage_key)
        assert project.thumbnail_asset_id == job.result["thumbnail"]
    info = probe(path)
    assert info.video.codec == "h264" and info.video.profile == "High"
    assert info.video.pix_fmt == "yuv420p" and info.video.color_primaries == "bt709"
    assert info.audio.codec == "aac" and info.audio.sample_rate == 48000 and info.audio.channels == 2
    assert abs(info.duration - expected) <= 1 / 30 + 0.03
    assert re.search(r"00:00:0\d,\d{3} --> ", srt.read_text())
    # The download has a name from the title, and local files answer range requests.
    download = client.get(f"/media/{job.result['video']}/harbour.mp4")
    assert "attachment" in download.headers["Content-Disposition"] and "harbour.mp4" in download.headers["Content-Disposition"]
    ranged = client.get(f"/media/{job.result['video']}", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.data) == 100


def test_recompile_after_editing_one_scene_reuses_the_rest(app, project_with_scenes, work):
    client, pid, ids = project_with_scenes()
    ready_project(client, pid, work)
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    work()
    first = latest_compile(app)
    # The first scene: a scene's piece ends in its transition into the next, so the last scene's piece
    # (and only it) stays as it was.
    client.submit(f"/projects/{pid}/assets/scenes/{ids[0]}/image",
                  {"description": "A different picture", "model": "draft"}, htmx=True)
    work()
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    work()
    second = latest_compile(app)
    assert second.state == "done" and second.id != first.id
    assert second.result["reused"] >= 1 and second.result["rendered"] < first.result["rendered"]
    with app.app_context():  # the shared store keeps the latest compile's pieces, not the replaced ones
        project = db.session.get(Project, pid)
        shared = list(get_storage().list_keys(f"{project_prefix(project.workspace_id, pid)}pieces/"))
    assert len(shared) == second.result["rendered"] + second.result["reused"]
    page = client.get(f"/projects/{pid}/video").get_data(as_text=True)
    assert "Previous compiles" in page
    client.submit(f"/projects/{pid}/video/compiles/{first.id}/delete", htmx=True)
    with app.app_context():
        assert db.session.get(Job, first.id) is None


def test_cancelled_compile_leaves_no_file(app, project_with_scenes, work):
    client, pid, _ = project_with_scenes()
    ready_project(client, pid, work)
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    client.submit(f"/projects/{pid}/video/cancel", htmx=True)
    work()
    job = latest_compile(app)
    assert job.state == "cancelled" and not job.result
    page = client.get(f"/projects/{pid}/video").get_data(as_text=True)
    assert "was cancelled" in page and "Download MP4" not in page


def test_square_projects_compile_square(app, project_with_scenes, work):
    client, pid, _ = project_with_scenes()
    client.submit(f"/projects/{pid}/assets/settings", {"aspect_ratio": "1:1"}, htmx=True)
    ready_project(client, pid, work)
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    work()
    job = latest_compile(app)
    assert job.state == "done", job.message
    with app.app_context():
        from app.models import Asset
        path = get_storage().local_path(db.session.get(Asset, job.result["video"]).storage_key)
    info = probe(path)
    assert (info.video.width, info.video.height) == (1080, 1080)


def test_a_helper_worker_renders_pieces_the_compile_then_uses(app, project_with_scenes, work):
    """Idle workers help a compile: a piece one of them rendered is fetched, not rendered again."""
    import tempfile
    from pathlib import Path

    from app import production
    from app.handlers import helper_spec, render_shared_piece
    from app.pipeline.video import plan_compile
    client, pid, _ = project_with_scenes()
    ready_project(client, pid, work)
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    with app.app_context():
        job = db.session.scalar(db.select(Job).filter_by(kind="compile"))
        project = db.session.get(Project, pid)
        with tempfile.TemporaryDirectory() as work_dir:
            scenes = production.scene_inputs(project, Path(work_dir))
            plan = plan_compile(scenes, production.compile_settings(project))
            specs = [helper_spec(p, production.storage_keys(project, scenes)) for p in plan.pieces]
        keys = [p.key for p in plan.pieces]
        assert render_shared_piece(job.id, specs[-1]) == "rendered"   # another machine's helper
        assert render_shared_piece(job.id, specs[-1]) == "already done or in hand"
    work()
    done = latest_compile(app)
    assert done.state == "done" and done.result["reused"] >= 1
    assert done.result["rendered"] == len(keys) - done.result["reused"]
    with app.app_context():
        assert render_shared_piece(done.id, specs[0]) == "compile no longer running"


def preview_of(client, page: str):
    """The caption preview frame the page shows (its URL, and its pixels as an RGB array)."""
    import io

    import numpy as np
    from PIL import Image
    url = html.unescape(re.search(r'class="caption-preview" src="([^"]+)"', page).group(1))
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    return url, np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB")).astype(int)


def grey_images(app, pid) -> None:
    """Give every scene a plain grey picture (as if uploaded), so captions are all the text there is."""
    import io

    from PIL import Image

    from app.models import Asset
    with app.app_context():
        project = db.session.get(Project, pid)
        for segment in project.segments:
            png = io.BytesIO()
            Image.new("RGB", (1920, 1080), (110, 110, 110)).save(png, "PNG")
            key = f"{project_prefix(project.workspace_id, pid)}images/grey-{segment.id}.png"
            get_storage().put_bytes(key, png.getvalue(), "image/png")
            asset = Asset(workspace_id=project.workspace_id, project_id=pid, segment_id=segment.id, kind="image",
                          storage_key=key, mime="image/png", size=len(png.getvalue()), provider="upload",
                          meta={"width": 1920, "height": 1080})
            db.session.add(asset)
            db.session.flush()
            segment.image_asset_id = asset.id
        db.session.commit()


def test_caption_style_is_chosen_in_step_4_with_a_live_preview(app, project_with_scenes):
    client, pid, _ = project_with_scenes()
    grey_images(app, pid)
    page = client.get(f"/projects/{pid}/video").get_data(as_text=True)
    for control in ("caption_style", "caption_position", "caption_size", "caption_font", "caption_colour",
                    "caption_highlight", "caption_box"):
        assert f'name="{control}"' in page
    url, plain = preview_of(client, page)
    assert plain.shape == (540, 960, 3)
    white = (plain.min(axis=2) > 220)
    assert white[380:].sum() > 300 and white[:200].sum() < 50, "white letters at the bottom by default"

    chosen = {"transition": "crossfade", "caption_style": "words", "caption_position": "top",
              "caption_colour": "#ffffff", "caption_highlight": "#ff2020", "caption_box": "#000000",
              "caption_size": "large", "caption_font": "DejaVu Serif"}
    area = client.submit(f"/projects/{pid}/video/settings", chosen, htmx=True).get_data(as_text=True)
    assert 'value="words" selected' in area and 'value="top" selected' in area
    new_url, styled = preview_of(client, area)
    assert new_url != url, "a new preview for the new style"
    red = (styled[..., 0] > 180) & (styled[..., 1] < 90) & (styled[..., 2] < 90)
    assert red[:200].sum() > 100, "the spoken word is lit in the chosen colour, at the top"
    assert (styled.min(axis=2) > 220)[380:].sum() < 50
    refused = client.submit(f"/projects/{pid}/video/settings", {**chosen, "caption_colour": "red"}, htmx=True)
    assert refused.status_code == 422 and "#RRGGBB" in html.unescape(refused.get_data(as_text=True))


def badge_brightness(frame) -> float:
    """Mean brightness where a 1920x1080 draft frame draws its DRAFT label (a white pill, top left)."""
    return float(frame[70:115, 70:200].mean())


def test_draft_frames_are_named_before_compiling_and_leave_their_label_out(app, project_with_scenes, work):
    import av

    from app.models import Asset
    client, pid, ids = project_with_scenes()
    client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    work()
    page = html.unescape(client.get(f"/projects/{pid}/video").get_data(as_text=True))
    assert f"{len(ids)} scenes of {len(ids)} still show a draft frame" in page
    assert "without their DRAFT label" in page
    assert f'#asset-{ids[0]}">Replace the drafts in Images &amp; audio' in client.get(
        f"/projects/{pid}/video").get_data(as_text=True)
    with app.app_context():
        stored = db.session.get(Asset, db.session.get(Project, pid).segments[0].image_asset_id)
        from PIL import Image
        import numpy as np
        labelled = badge_brightness(np.asarray(Image.open(get_storage().local_path(stored.storage_key))))

    def first_frame():
        client.submit(f"/projects/{pid}/video/compile", {"confirm": "voice"}, htmx=True)
        work()
        job = latest_compile(app)
        assert job.state == "done", job.message
        with app.app_context():
            path = get_storage().local_path(db.session.get(Asset, job.result["video"]).storage_key)
        with av.open(str(path)) as container:
            return next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert badge_brightness(first_frame()) < labelled - 60, "compiled without the label"
    client.submit(f"/projects/{pid}/video/settings", {"transition": "crossfade", "keep_draft_badge": "on"}, htmx=True)
    assert "with their DRAFT label (you chose to keep it)" in html.unescape(
        client.get(f"/projects/{pid}/video").get_data(as_text=True))
    assert abs(badge_brightness(first_frame()) - labelled) < 25, "kept when asked"


def test_a_compile_that_ends_while_a_poll_reads_the_page_shows_its_video_or_keeps_polling(
        app, project_with_scenes, work, commit_lands_mid_request):
    """The worker's last commit can land between the reads of one progress poll. The answer must then show
    the video or keep polling; a page with neither leaves the user waiting for nothing."""
    client, pid, _ = project_with_scenes()
    ready_project(client, pid, work)
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    work()
    job = latest_compile(app)
    with app.app_context():  # as just before the worker's last commit: the video saved, the job not yet done
        db.session.execute(db.update(Job).where(Job.id == job.id).values(state="running", finished_at=None))
        db.session.commit()
    finish = db.update(Job).where(Job.id == job.id).values(state="done", finished_at=job.finished_at)
    with commit_lands_mid_request("job", finish) as landed:
        page = client.get(f"/projects/{pid}/video/progress", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert landed, "the poll read the job"
    assert "Download MP4" in page or 'hx-trigger="every 1s"' in page
