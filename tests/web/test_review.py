"""Client review links on a real compile: what the client sees and can do, and nothing more; the team's side;
versions compared scene by scene; the editing package job and `flask export` against the compile."""
import html
import re
import zipfile
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Asset, Job, Project, ReviewComment, ReviewLink, utcnow
from app.platform.media import get_storage

from ..export.timelines import check_against_board
from .test_security import _rate_limited_app
from .test_video_step import latest_compile, ready_project

SCRIPT = ("The harbour wakes at dawn. Boats head out to sea.\n\nAt noon the market opens. Traders sell the catch.\n\n"
          "In the evening the boats return. The lamps come on.")


@pytest.fixture
def compiled(app, project_with_scenes, work):
    """A project compiled once on a real worker: (client, project id, scene ids, compile job)."""
    client, pid, ids = project_with_scenes(SCRIPT)
    ready_project(client, pid, work)
    client.submit(f"/projects/{pid}/video/compile", htmx=True)
    work()
    job = latest_compile(app)
    assert job.state == "done", job.message
    return client, pid, ids, job


def create_link(client, pid, job, days=7, passphrase=""):
    page = client.submit(f"/projects/{pid}/review/links", {"compile": job.id, "days": days,
                                                           "passphrase": passphrase}, htmx=True)
    assert page.status_code == 200, page.get_data(as_text=True)
    found = re.search(r'id="review-link" class="copyable" readonly value="([^"]+)"', page.get_data(as_text=True))
    return found.group(1)


def test_a_client_reviews_and_the_team_answers_and_resolves(app, compiled):
    client, pid, ids, job = compiled
    url = create_link(client, pid, job)
    token = url.rsplit("/", 1)[1]
    with app.app_context():
        assert db.session.scalar(db.select(ReviewLink)).token_hash != token  # stored hashed only
    visitor = app.test_client()
    page = visitor.get(url).get_data(as_text=True)
    assert "Harbour" in page and "Version 1" in page and "Storyboard" in page and "The harbour wakes" in page
    # Everything the page points at is under the link or static: no id of the project, compile or assets.
    links = re.findall(r'(?:href|src|action)="([^"]+)"', page)
    assert links and all(u.startswith((f"/r/{token}", "/static/")) for u in links), links
    for media in (f"/r/{token}/video", f"/r/{token}/poster", f"/r/{token}/captions", f"/r/{token}/scenes/3"):
        assert visitor.get(media).status_code == 200, media
    assert visitor.get(f"/r/{token}/video", headers={"Range": "bytes=0-99"}).status_code == 206
    at = int(job.result["storyboard"]["scenes"][2]["start"] / 30) + 1  # a second into scene 3
    sent = visitor.submit(f"/r/{token}/comments", {"name": "Cleo\u200b", "at": f"0:{at:02d}",
                                                   "body": "Warmer light here, please.\u202e"})
    assert sent.status_code == 302, html.unescape(sent.get_data(as_text=True))
    page = visitor.get(url).get_data(as_text=True)
    assert "your comment was sent" in page and "Warmer light here, please." in page and f"Scene 3 · 0:{at:02d}" in page
    with app.app_context():
        comment = db.session.scalar(db.select(ReviewComment))
        assert (comment.author_name, comment.body) == ("Cleo", "Warmer light here, please.")  # cleaned
        assert (comment.segment_id, comment.version, comment.scene_number) == (ids[2], 1, 3)
    # The team sees it on scene 3's card, answers and resolves it; the project list counts it until then.
    assert "1 unresolved comment" in client.get("/").get_data(as_text=True)
    card = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    scene3 = card[card.index(f'id="asset-{ids[2]}"'):]
    assert "Warmer light here" in scene3[:scene3.index("</li>")] and f"v1 · scene 3 · 0:{at:02d}" in scene3
    thread = client.submit(f"/projects/{pid}/review/comments/{comment.id}/reply", {"body": "Done in v2."},
                           htmx=True).get_data(as_text=True)
    assert "Done in v2." in thread
    thread = client.submit(f"/projects/{pid}/review/comments/{comment.id}/resolve", {"resolved": "yes"},
                           htmx=True).get_data(as_text=True)
    assert "Resolved" in thread and "Reopen" in thread
    assert "unresolved comment" not in client.get("/").get_data(as_text=True)
    assert "Done in v2." in visitor.get(url).get_data(as_text=True)  # the client sees the answer
    client.submit(f"/projects/{pid}/review/comments/{comment.id}/resolve", {"resolved": "no"}, htmx=True)
    assert "1 unresolved comment" in client.get("/").get_data(as_text=True)


def test_the_link_opens_nothing_else(app, compiled, make_member):
    client, pid, ids, job = compiled
    url = create_link(client, pid, job)
    token = url.rsplit("/", 1)[1]
    visitor = app.test_client()
    visitor.get(url)
    with app.app_context():
        video_id = job.result["video"]
    # The app's own URLs stay closed to the visitor: log-in first, never the project.
    for path in (f"/projects/{pid}/video", f"/projects/{pid}/script", f"/media/{video_id}", "/",
                 f"/projects/{pid}/editing/{job.id}"):
        response = visitor.get(path)
        assert response.status_code == 302 and "/login" in response.location, path
    for path in (f"/projects/{pid}/video/compile", f"/projects/{pid}/review/links"):
        response = visitor.submit(path)
        assert response.status_code == 302 and "/login" in response.location, path
    # Scene numbers outside the version, other tokens and another project's media are all 404.
    for path in (f"/r/{token}/scenes/0", f"/r/{token}/scenes/99", f"/r/{token}x", "/r/nothing/video",
                 f"/r/{token}/scenes/{video_id}"):
        assert visitor.get(path).status_code == 404, path
    # A member of another workspace can't use the link's numbers in their own workspace either.
    email, _ = make_member("owner", name="Other")
    other = app.test_client()
    other.login(email)
    assert other.get(f"/projects/{pid}/video").status_code == 404
    assert other.get(f"/media/{video_id}").status_code == 404
    # Comments can't be forged past the checks: too long, empty, a scene that doesn't exist.
    for data, message in (({"name": "A", "body": "x" * 2001}, "at most 2000"), ({"name": "A", "body": "\u200b "},
                          "Write a comment"), ({"name": "A", "body": "Hi", "scene": "9"}, "no such scene"),
                          ({"name": "A", "body": "Hi", "at": "9:99:99"}, "past the end")):
        response = visitor.submit(f"/r/{token}/comments", data)
        assert response.status_code == 422 and message in html.unescape(response.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(ReviewComment)) == 0


def test_revoked_expired_and_protected_links(app, compiled):
    client, pid, ids, job = compiled
    open_url, locked_url = create_link(client, pid, job), create_link(client, pid, job, 1, "harbour lights")
    visitor = app.test_client()
    locked_token = locked_url.rsplit("/", 1)[1]
    page = visitor.get(locked_url).get_data(as_text=True)
    assert "This review is protected" in page and "Storyboard" not in page
    assert visitor.get(f"/r/{locked_token}/video").status_code == 404
    assert visitor.submit(f"/r/{locked_token}/comments", {"name": "A", "body": "Hi"}).status_code == 404
    assert visitor.submit(f"/r/{locked_token}/unlock", {"passphrase": "wrong one"}).status_code == 403
    assert visitor.submit(f"/r/{locked_token}/unlock", {"passphrase": "harbour lights"}).status_code == 302
    assert "Storyboard" in visitor.get(locked_url).get_data(as_text=True)
    assert visitor.get(f"/r/{locked_token}/video").status_code == 200
    with app.app_context():
        db.session.execute(db.update(ReviewLink).where(ReviewLink.passphrase_hash.is_not(None))
                           .values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
        open_id = db.session.scalar(db.select(ReviewLink.id).filter(ReviewLink.passphrase_hash.is_(None)))
    expired = visitor.get(locked_url)
    assert expired.status_code == 410 and "has expired" in expired.get_data(as_text=True)
    assert visitor.get(f"/r/{locked_token}/video").status_code == 410
    panel = client.submit(f"/projects/{pid}/review/links/{open_id}/revoke", htmx=True).get_data(as_text=True)
    assert "Link revoked" in panel and "Expired" in panel
    revoked = visitor.get(open_url)
    assert revoked.status_code == 410 and "was withdrawn" in revoked.get_data(as_text=True)
    assert visitor.get("/r/not-a-token").status_code == 404


def test_review_pages_are_rate_limited(app, compiled):
    client, pid, ids, job = compiled
    url = create_link(client, pid, job)
    visitor = _rate_limited_app(app).test_client()
    codes = [visitor.get(url).status_code for _ in range(61)]
    assert codes[:60] == [200] * 60 and codes[60] == 429
    token = url.rsplit("/", 1)[1]
    visitor = _rate_limited_app(app).test_client()
    codes = [visitor.submit(f"/r/{token}/comments", {"name": "Bot", "body": f"spam {n}"}).status_code
             for n in range(11)]
    assert codes[:10] == [302] * 10 and codes[10] == 429


def test_a_second_version_keeps_first_comments_and_shows_what_changed(app, compiled, work):
    client, pid, ids, job = compiled
    first = create_link(client, pid, job)
    app.test_client().submit(f"/r/{first.rsplit('/', 1)[1]}/comments",
                             {"name": "Cleo", "scene": "2", "body": "Shorter?"})
    with app.app_context():
        segment = db.session.get(Project, pid).segments[1]
        version = segment.version
    client.submit(f"/projects/{pid}/script/scenes/{ids[1]}/text",
                  {"text": "At noon the market opens wide. Traders sell the catch.", "version": version}, htmx=True)
    client.submit(f"/projects/{pid}/video/compile", {"confirm": "voice"}, htmx=True)
    work()
    second_job = latest_compile(app)
    assert second_job.state == "done" and second_job.result["version"] == 2
    page = app.test_client().get(create_link(client, pid, second_job)).get_data(as_text=True)
    assert "Compared with version 1: scene 2 changed." in page and "Changed since v1" in page
    assert "Shorter?" not in page  # a comment belongs to the version it was made on
    assert "Shorter?" in app.test_client().get(first).get_data(as_text=True)


def test_editing_package_job_and_cli_export_match_the_compile(app, compiled, work, tmp_path):
    client, pid, ids, job = compiled
    panel = client.submit(f"/projects/{pid}/editing/{job.id}", htmx=True).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in panel
    work()
    panel = client.get(f"/projects/{pid}/editing/{job.id}").get_data(as_text=True)
    assert "Download for editing (zip" in panel and "every 1s" not in panel
    with app.app_context():
        export = db.session.scalar(db.select(Job).filter_by(kind="export"))
        assert export.state == "done", export.message
        zip_path = get_storage().local_path(db.session.get(Asset, export.result["asset_id"]).storage_key)
        board = db.session.get(Job, job.id).result["storyboard"]
    check_against_board(zip_path, board)
    out = tmp_path / "cli.zip"
    result = app.test_cli_runner().invoke(args=["export", str(pid), "-o", str(out)])
    assert result.exit_code == 0, result.output
    timelines = check_against_board(out, board)
    with zipfile.ZipFile(zip_path) as a, zipfile.ZipFile(out) as b:
        assert a.read("timeline.xml") == b.read("timeline.xml")
    assert len(timelines["timeline.otio"].video_tracks()[0].find_clips()) == len(ids)
    assert app.test_cli_runner().invoke(args=["export", "999", "-o", str(out)]).exit_code != 0
