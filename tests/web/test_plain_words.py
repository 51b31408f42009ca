"""Issue 16 item 4: plain words and honest progress, as the user sees them."""
import html
import json
import re

from app.extensions import db

from .test_video_step import latest_compile, ready_project

FOUR_SCENES = ("The harbour wakes at dawn. Boats head out to sea.\n\n"
               "At noon the market opens. Traders sell the catch.\n\n"
               "In the afternoon the nets are mended on the quay.\n\n"
               "At dusk the lighthouse starts to turn and the boats come home.")


def text(response) -> str:
    return re.sub(r"\s+", " ", html.unescape(response.get_data(as_text=True)))


# ---- 1. Compile progress counts finished scenes and never goes backwards

def record_progress(monkeypatch, tmp_path):
    """The (fraction, message) a job shows after each report, from the forked work horse too (through a file)."""
    from app import jobs
    log = tmp_path / "progress.jsonl"
    original = jobs.Progress.__call__

    def recording(self, fraction, message=None):
        original(self, fraction, message)
        with log.open("a") as out:
            out.write(json.dumps([self.fraction, self.message]) + "\n")
    monkeypatch.setattr(jobs.Progress, "__call__", recording)
    return lambda: [tuple(json.loads(line)) for line in log.read_text().splitlines()]


def test_compile_progress_counts_ready_scenes_and_only_moves_forward(app, project_with_scenes, work,
                                                                   monkeypatch, tmp_path):
    client, pid, ids = project_with_scenes(FOUR_SCENES)
    assert len(ids) >= 4
    ready_project(client, pid, work)
    reports = record_progress(monkeypatch, tmp_path)
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    work()
    assert latest_compile(app).state == "done"
    seen = [(f, m) for f, m in reports() if m]
    messages = [m for _, m in seen]
    assert not [m for m in messages if m.startswith("Rendering scene")], messages
    counts = [int(c.group(1)) for c in (re.fullmatch(rf"(\d+) of {len(ids)} scenes ready", m) for m in messages) if c]
    assert counts and counts == sorted(counts), messages
    assert max(counts) == len(ids)
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions)


def test_ready_scenes_are_counted_when_pieces_finish_out_of_order(tmp_path):
    """Two workers: scene 3's piece may finish before scene 1's; the count still only goes up."""
    from app.handlers import _ScenesReady
    from app.pipeline.video import PIECE_SUFFIX
    said = []
    ready = _ScenesReady(lambda f, m=None: said.append(m), [{"a"}, {"b", "c"}, {"c"}, {"d"}], tmp_path)

    def finish(key):
        (tmp_path / f"{key}{PIECE_SUFFIX}").write_bytes(b"piece")
    ready(0.1, "Rendering scene 1 of 4")
    ready(0.2, "Rendering scene 3 of 4")
    finish("c")  # shared by scenes 2 and 3: scene 3 is ready, scene 2 still waits for b
    ready(0.3, "Rendering scene 1 of 4")
    finish("a")
    ready(0.4, "Rendering scene 4 of 4")
    finish("b"), finish("d")
    ready(0.5, "Rendering scene 2 of 4")
    ready(0.9, "Joining scenes")
    assert said == ["0 of 4 scenes ready", "0 of 4 scenes ready", "1 of 4 scenes ready", "2 of 4 scenes ready",
                    "4 of 4 scenes ready", "Joining scenes"]


# ---- 2. The result is told in scenes, in plain words

def test_the_result_says_how_many_scenes_were_rendered_and_reused(app, project_with_scenes, work):
    from app.video.service import scenes_summary
    assert scenes_summary(12, 0) == "12 scenes rendered"
    assert scenes_summary(1, 0) == "1 scene rendered"
    assert scenes_summary(3, 9) == "3 scenes re-rendered, 9 reused from the last video"
    assert scenes_summary(1, 1) == "1 scene re-rendered, 1 reused from the last video"
    assert scenes_summary(0, 12) == "all 12 scenes reused from the last video"

    client, pid, ids = project_with_scenes()
    ready_project(client, pid, work)
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    work()
    first = latest_compile(app)
    assert first.message.endswith(f"{len(ids)} scenes rendered.")
    page = text(client.get(f"/projects/{pid}/video"))
    assert f"· {len(ids)} scenes rendered" in page and "piece" not in page
    # A new picture for the first scene: only its own piece changes (it ends in the transition into
    # scene 2, and scene 2's pieces start after it).
    client.submit(f"/projects/{pid}/assets/scenes/{ids[0]}/image",
                  {"description": "A different picture", "model": "draft"}, htmx=True)
    work()
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    work()
    second = latest_compile(app)
    assert second.message.endswith(f"1 scene re-rendered, {len(ids) - 1} reused from the last video.")
    page = text(client.get(f"/projects/{pid}/video"))
    assert f"· 1 scene re-rendered, {len(ids) - 1} reused from the last video" in page


# ---- 3. Icons are inline SVG, not emoji

EMOJI = re.compile("[⏳⛔⚠✦▶◆↶↷\u2600-\u27bf\U0001f300-\U0001faff]")


def test_pages_draw_icons_as_svg_not_emoji(app, project_with_scenes):
    client, pid, ids = project_with_scenes()
    for step in ("script", "scenes", "assets", "video"):
        page = client.get(f"/projects/{pid}/{step}").get_data(as_text=True)
        assert not EMOJI.findall(page), (step, EMOJI.findall(page))
    video = client.get(f"/projects/{pid}/video").get_data(as_text=True)
    # Pre-flight: the icon says what kind of problem it is, to screen readers too.
    assert re.search(r'<svg class="icon icon-stop"[^>]*role="img" aria-label="Must fix:"', video)
    assert re.search(r'<svg class="icon icon-warning"[^>]*role="img" aria-label="Warning:"', video)
    script = client.get(f"/projects/{pid}/script").get_data(as_text=True)
    assert re.search(r'<svg class="icon icon-undo"[^>]*aria-hidden="true"[^>]*>.*?</svg> Undo</button>', script, re.S)
    assert '<svg class="icon icon-credit"' in script  # the balance in the top bar
    scenes = client.get(f"/projects/{pid}/scenes").get_data(as_text=True)
    assert re.search(r'icon-sparkle"[^>]*aria-hidden="true"', scenes)


def test_queued_and_failed_job_lines_use_svg_icons(app, project_with_scenes):
    client, pid, ids = project_with_scenes()
    client.submit(f"/projects/{pid}/assets/scenes/{ids[0]}/image", {"description": "A boat", "model": "draft"},
                  htmx=True)  # queued, no worker runs it
    grid = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    line = re.search(r'<p class="job-line state-queued".*?</p>', grid, re.S).group(0)
    assert 'icon-clock" viewBox' in line and 'aria-hidden="true"' in line and "Image: queued" in line
    assert not EMOJI.findall(grid)


# ---- 4. Players show their length before they play

def test_every_player_loads_its_metadata(app, project_with_scenes, work):
    client, pid, ids = project_with_scenes()
    ready_project(client, pid, work)
    client.submit(f"/projects/{pid}/assets/scenes/{ids[0]}/voice", htmx=True)  # an earlier voiceover
    work()
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    work()
    pages = [client.get(f"/projects/{pid}/{step}").get_data(as_text=True) for step in ("assets", "video")]
    # (The storyboard's players sit in <template>s and autoplay when a card is clicked.)
    pages = [re.sub(r"<template\b.*?</template>", "", page, flags=re.S) for page in pages]
    players = [tag for page in pages for tag in re.findall(r"<(?:audio|video)\b[^>]*>", page)]
    assert len(players) >= 4, players  # voiceovers, an earlier one, the video
    assert all('preload="metadata"' in tag for tag in players), players
    assert any("Earlier voiceover" in tag for tag in players)


# ---- 5. Step 3's counts follow a running batch

def test_counts_update_while_a_batch_runs(app, project_with_scenes):
    from rq import Queue, Worker

    from app.platform.queue import redis_connection
    client, pid, ids = project_with_scenes()
    n = len(ids)
    page = text(client.get(f"/projects/{pid}/assets"))
    assert f"images missing: {n} of {n}" in page and f"voiceovers missing: {n} of {n}" in page
    client.submit(f"/projects/{pid}/assets/images/missing", htmx=True)
    client.submit(f"/projects/{pid}/assets/voice/all", htmx=True)
    poll = text(client.get(f"/projects/{pid}/assets/status", headers={"HX-Request": "true"}))
    assert re.search(r'id="asset-counts" hx-swap-oob="true">.*?images missing: \d+ of', poll)
    with app.app_context():  # the images get made; the voiceovers are still queued
        connection = redis_connection()
        Worker([Queue(q, connection=connection) for q in ("default", "images")],
               connection=connection).work(burst=True)
    poll = text(client.get(f"/projects/{pid}/assets/status", headers={"HX-Request": "true"}))
    assert 'id="job-poller"' in poll and 'hx-trigger="every 1s"' in poll, "the voice batch still runs"
    counts = re.search(r'<p class="muted" id="asset-counts" hx-swap-oob="true">(.*?)</p>', poll).group(1)
    assert f"images missing: 0 of {n}" in counts and f"voiceovers missing: {n} of {n}" in counts


# ---- 6. Uploads take a dropped file in a styled, keyboard-usable zone

def test_upload_inputs_sit_in_drop_zones(app, project_with_scenes, work):
    client, pid, ids = project_with_scenes()
    assets = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    video = client.get(f"/projects/{pid}/video").get_data(as_text=True)
    zones = re.findall(r'<div class="dropzone" data-dropzone>.*?</div>', assets + video, re.S)
    inputs = {re.search(r'<input class="dropzone-input" id="([^"]+)" name="([^"]+)" type="file"', z).groups()
              for z in zones}
    assert inputs == {(f"img-file-{ids[0]}", "image"), (f"aud-file-{ids[0]}", "audio"),
                      (f"img-file-{ids[1]}", "image"), (f"aud-file-{ids[1]}", "audio"),
                      ("reference-file", "image"), ("music-file", "music")}
    for zone in zones:
        input_id = re.search(r'id="([^"]+)"', zone).group(1)
        # The real input, its visible label (the zone) and the chosen file's name, announced as it changes.
        assert f'<label for="{input_id}" class="dropzone-label">' in zone
        assert f'aria-describedby="{input_id}-chosen"' in zone
        assert re.search(rf'id="{input_id}-chosen" aria-live="polite" data-dropzone-chosen>No file chosen<', zone)
    assert re.findall(r'<input[^>]*type="file"', assets + video).__len__() == len(zones), "every upload has a zone"
    # CSP: no inline styles or handlers; the script that runs the zones is the page's own file.
    for page in (assets, video):
        assert not re.search(r'\sstyle="|\son[a-z]+="', page)
    script = client.get("/static/js/app.js").get_data(as_text=True)
    assert "[data-dropzone]" in script and "dataTransfer.files" in script
    # A file sent from a zone is an ordinary upload of the form (the drop only fills the input).
    import io
    from PIL import Image
    png = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 30, 30)).save(png, "PNG")
    with app.app_context():
        from app.models import Segment
        version = db.session.get(Segment, ids[0]).version
    response = client.submit(f"/projects/{pid}/assets/scenes/{ids[0]}/image/upload",
                             {"image": (io.BytesIO(png.getvalue()), "red.png"), "version": version,
                              "fit": "crop"}, htmx=True, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]


# ---- 7. Viewers are told they can look but not change, and whom to ask

CONTROLS = re.compile(r"<(textarea|select|input|button)\b([^>]*)>")


def editable_controls(page: str) -> list[str]:
    main = page[page.index('id="main"'):]
    main = re.sub(r"<template\b.*?</template>", "", main, flags=re.S)
    found = []
    for tag, attrs in CONTROLS.findall(main):
        if re.search(r'\b(disabled|readonly)\b', attrs) or re.search(r'type="(hidden|search)"', attrs):
            continue
        found.append(f"<{tag}{attrs}>")
    return found


def test_viewers_see_a_read_only_banner_naming_whom_to_ask(app, project_with_scenes, make_member):
    client, pid, ids = project_with_scenes()
    with app.app_context():
        from app.models import Project
        workspace_id = db.session.get(Project, pid).workspace_id
    make_member("admin", workspace_id, name="Ada")
    email, _ = make_member("viewer", workspace_id, name="Vic")
    viewer = app.test_client()
    viewer.login(email)
    for step in ("script", "scenes", "assets", "video"):
        page = text(viewer.get(f"/projects/{pid}/{step}"))
        assert re.search(r"You can view this project but not change it</strong> — ask Ada or Owner \d+ for "
                         r"editor access\.", page), step
        assert 'class="notice notice-info read-only-banner" role="note"><svg class="icon icon-eye"' in page
        # Playing a storyboard card is not a change.
        assert [c for c in editable_controls(page) if 'class="sb-select"' not in c] == [], step
    owner_page = text(client.get(f"/projects/{pid}/script"))
    assert "read-only-banner" not in owner_page


# ---- 8. Invites: a Copy button, the invitee's email filled in, Viewer by default

INVITE_LINK = re.compile(r'id="invite-link" class="copyable" readonly value="http://localhost(/invite/[^"]+)"')


def test_invites_default_to_viewer_copy_and_fill_in_the_email(client, owner):
    client, _ = owner
    settings = client.get("/workspace/").get_data(as_text=True)
    assert re.search(r'<option selected value="viewer">|<option value="viewer" selected>', settings)
    assert 'src="/static/js/copy.js"' in settings
    no_email = INVITE_LINK.search(client.get(client.submit("/workspace/invites", {}).location)
                                  .get_data(as_text=True)).group(1).rsplit("/", 1)[1]
    # Posting the form as shown (no role picked) invites a viewer.
    response = client.submit("/workspace/invites", {"email": "Nora@Example.com"})
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    link = INVITE_LINK.search(page).group(1)
    assert '<button type="button" class="btn small js-copy" data-copy="invite-link" hidden>Copy</button>' in page
    client.submit("/logout")
    client.csrf_token = None
    assert "invited as <strong>viewer</strong>" in client.get(link).get_data(as_text=True)
    token = link.rsplit("/", 1)[1]
    signup = client.get(f"/signup?invite={token}").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="email"[^>]*value="Nora@Example.com"', signup)
    # An invite made without an email leaves the field empty.
    plain = client.get(f"/signup?invite={no_email}").get_data(as_text=True)
    assert 'id="email"' in plain and not re.search(r'<input[^>]*id="email"[^>]*value="[^"]', plain)


# ---- 9. The password hint gives way to the password error

def test_signup_shows_the_password_error_instead_of_the_hint(client):
    page = client.get("/signup").get_data(as_text=True)
    assert '<p class="hint" id="password-hint">At least 10 characters.</p>' in page
    assert 'aria-describedby="password-hint"' in page
    response = client.submit("/signup", {"name": "Sam", "email": "sam@example.com", "password": "short",
                                         "confirm": "short"})
    page = response.get_data(as_text=True)
    assert '<p class="error" id="password-error">Use at least 10 characters.</p>' in page
    assert "At least 10 characters." not in page and 'id="password-hint"' not in page
    assert 'aria-describedby="password-error"' in page
