"""Step 2: autosaved scene fields, stale edits, the visual style, and suggestions on a worker."""
import json
import re

import pytest

from app.extensions import db
from app.models import Job, Project, Segment
from tests.fakes.chat_completions import API_KEY, MODEL, FakeChatCompletions

SCRIPT = ("The old harbour wakes before dawn. Fishermen load their nets onto wooden boats.\n\n"
          "At noon the market fills with traders. Crates of silver fish are sold in minutes.")


@pytest.fixture
def scenes_project(app, owner):
    client, _ = owner
    response = client.submit("/projects", {"title": "Harbour"})
    pid = int(re.search(r"/projects/(\d+)/", response.location).group(1))
    client.submit(f"/projects/{pid}/script/segment", {"script": SCRIPT, "wpm": 150,
                                                      "min_seconds": 2, "max_seconds": 8})
    with app.app_context():
        segments = [(s.id, s.version) for s in db.session.get(Project, pid).segments]
    assert len(segments) == 2
    return client, pid, segments


def field(app, sid, name):
    with app.app_context():
        return getattr(db.session.get(Segment, sid), name)


def test_fields_autosave_and_validate(app, scenes_project):
    client, pid, [(sid, version), _] = scenes_project
    page = client.get(f"/projects/{pid}/scenes").get_data(as_text=True)
    assert "What the viewer sees" in page and "Production notes" in page
    response = client.submit(f"/projects/{pid}/scenes/{sid}/description",
                             {"description": "Boats at dawn", "version": version}, htmx=True)
    assert response.status_code == 200 and "Saved" in response.get_data(as_text=True)
    version = field(app, sid, "version")
    response = client.submit(f"/projects/{pid}/scenes/{sid}/seconds", {"seconds": "9.5",
                                                                       "version": version}, htmx=True)
    assert response.status_code == 200
    assert field(app, sid, "seconds") == 9.5 and field(app, sid, "timing_source") == "manual"
    # The storyboard on the page (its timeline strip and the scene's card) takes the new length at once.
    board = re.search(r'<section class="storyboard" id="storyboard"[^>]*hx-swap-oob="true".*?</section>',
                      response.get_data(as_text=True), re.S)
    assert board and 'data-grow="9.50"' in board.group(0) and "9.5 s" in board.group(0)
    for bad in ("0", "-3", "abc", "9999"):
        response = client.submit(f"/projects/{pid}/scenes/{sid}/seconds",
                                 {"seconds": bad, "version": field(app, sid, "version")}, htmx=True)
        assert response.status_code == 422
        assert "between 0.5 and 600 seconds" in response.get_data(as_text=True)
    assert field(app, sid, "seconds") == 9.5
    client.submit(f"/projects/{pid}/scenes/{sid}/notes",
                  {"notes": "Use the client's blue", "version": field(app, sid, "version")}, htmx=True)
    assert field(app, sid, "notes") == "Use the client's blue"


def test_stale_tab_cannot_overwrite_a_newer_edit(app, scenes_project):
    client, pid, [(sid, version), _] = scenes_project
    client.submit(f"/projects/{pid}/scenes/{sid}/description",
                  {"description": "Newer text from tab A", "version": version}, htmx=True)
    response = client.submit(f"/projects/{pid}/scenes/{sid}/description",
                             {"description": "Old text from tab B", "version": version}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Newer text from tab A" in body and "Save mine anyway" in body
    assert field(app, sid, "description") == "Newer text from tab A"


def test_style_autosaves(app, scenes_project):
    client, pid, _ = scenes_project
    response = client.submit(f"/projects/{pid}/scenes/style",
                             {"style": "flat vector illustration, warm palette"}, htmx=True)
    assert "Saved" in response.get_data(as_text=True)
    assert "warm palette" in client.get(f"/projects/{pid}/scenes").get_data(as_text=True)


def test_suggest_all_empty_fills_empty_and_offers_beside_written(app, scenes_project, work):
    client, pid, [(first, version), (second, _)] = scenes_project
    client.submit(f"/projects/{pid}/scenes/{first}/description",
                  {"description": "My own idea", "version": version}, htmx=True)
    response = client.submit(f"/projects/{pid}/scenes/suggest", {}, htmx=True)
    assert "Suggesting descriptions for 1 scene" in response.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in response.get_data(as_text=True)
    work()
    suggested = field(app, second, "description")
    assert suggested and suggested not in SCRIPT and len(suggested.split()) >= 5
    # Asking for one scene that has text keeps the text and offers the suggestion beside it.
    client.submit(f"/projects/{pid}/scenes/suggest", {"segment_id": first}, htmx=True)
    work()
    assert field(app, first, "description") == "My own idea"
    poll = client.get(f"/projects/{pid}/scenes/suggestions", headers={"HX-Request": "true"})
    body = poll.get_data(as_text=True)
    assert "every 1s" not in body  # polling stops by itself
    assert "Use it instead of my text" in body
    client.submit(f"/projects/{pid}/scenes/{first}/use-suggestion", {}, htmx=True)
    assert field(app, first, "description") not in ("My own idea", "")


@pytest.mark.parametrize("fail", [False, True])
def test_llm_suggester_is_used_when_configured_and_falls_back(app, scenes_project, work, fail):
    client, pid, [(sid, _), _] = scenes_project
    with FakeChatCompletions() as fake:
        fake.reply_with(lambda messages: "Low-angle shot of fishing boats leaving a misty harbour at dawn.")
        if fail:
            fake.will_fail(429, "Rate limit reached", retry_after=20)
        app.config.update(LLM_BASE_URL=f"{fake.url}/v1", LLM_API_KEY=API_KEY, LLM_MODEL=MODEL)
        client.submit(f"/projects/{pid}/scenes/suggest", {"segment_id": sid}, htmx=True)
        work()
        sent = fake.requests[0]
    body = json.loads(sent.body)
    assert sent.headers["authorization"] == f"Bearer {API_KEY}" and body["model"] == MODEL
    assert any("harbour" in m["content"].lower() for m in body["messages"])
    description = field(app, sid, "description")
    with app.app_context():
        job = db.session.scalar(db.select(Job).filter_by(kind="suggest"))
    if fail:
        assert description and "misty harbour" not in description
        assert "offline" in job.message
    else:
        assert description == "Low-angle shot of fishing boats leaving a misty harbour at dawn."
