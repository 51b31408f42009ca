"""Step 1 through its htmx endpoints: import, automatic cut, every editing action, undo/redo."""
import json
import re

import pytest

from app.extensions import db
from app.models import Project, Segment

SCRIPT = """# Lighthouses

A lighthouse guides ships through the dark. Its lamp turns slowly above the rocks. Keepers once lived inside the tower and polished the great lens every morning.

# Tides

The moon pulls on the oceans. Twice a day the water rises along the shore and falls away again. Sailors have always planned their voyages around the tides.
"""


@pytest.fixture
def project(owner):
    client, _ = owner
    response = client.submit("/projects", {"title": "Coasts"})
    return client, int(re.search(r"/projects/(\d+)/", response.location).group(1))


def scenes(app, pid):
    with app.app_context():
        return [(s.text, s.topic_title) for s in db.session.get(Project, pid).segments]


def ids(app, pid):
    with app.app_context():
        return [s.id for s in db.session.get(Project, pid).segments]


def cut(client, pid, script=SCRIPT, **settings):
    return client.submit(f"/projects/{pid}/script/segment",
                         {"script": script, "wpm": 150, "min_seconds": 2, "max_seconds": 12,
                          **settings})


def test_paste_and_cut_into_topics_and_scenes(app, project):
    client, pid = project
    response = cut(client, pid)
    assert response.status_code == 303  # a reload of the page must not cut again
    page = client.get(response.location).get_data(as_text=True)
    assert "Cut into" in page and "Continue to Scenes" in page
    cut_scenes = scenes(app, pid)
    assert [t for _, t in cut_scenes if t] == ["Lighthouses", "Tides"]
    assert all("#" not in text for text, _ in cut_scenes)  # headings title topics, aren't spoken
    spoken = " ".join(text for text, _ in cut_scenes)
    assert spoken.split() == [w for line in SCRIPT.splitlines() if not line.startswith("#")
                              for w in line.split()]
    assert re.search(r"<dt>Chapters</dt><dd>2</dd>", page)


@pytest.mark.parametrize("script,message", [
    ("", "The script is empty."),
    ("   \n\n  ", "The script has no words"),
])
def test_empty_scripts_are_refused_and_typing_is_kept(app, project, script, message):
    client, pid = project
    response = cut(client, pid, script=script)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert scenes(app, pid) == []


def test_overlong_script_is_refused_with_the_limit(app, project):
    client, pid = project
    app.config["MAX_SCRIPT_CHARS"] = 500
    response = cut(client, pid, script="Word. " * 200)
    assert response.status_code == 422
    assert "the limit is 500" in response.get_data(as_text=True)
    response = client.submit(f"/projects/{pid}/script/text", {"script": "x" * 501}, htmx=True)
    assert response.status_code == 422


def test_script_box_autosaves(app, project):
    client, pid = project
    response = client.submit(f"/projects/{pid}/script/text", {"script": "Draft one.\r\nTwo."},
                             htmx=True)
    assert "Saved" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Project, pid).script == "Draft one.\nTwo."
    assert "Draft one." in client.get(f"/projects/{pid}/script").get_data(as_text=True)


@pytest.mark.parametrize("name,data,expected", [
    ("notes.txt", "Café déjà vu. “Quotes” cost 5€.".encode("cp1252"), "Café déjà vu. “Quotes” cost 5€."),
    ("utf16.txt", "\ufeffسلام. 你好，世界。".encode("utf-16"), "سلام. 你好，世界。"),
    ("talk.srt", b"1\n00:00:01,000 --> 00:00:02,000\nHello there.\n\n2\n00:00:02,500 --> 00:00:04,000\n<i>General</i> Kenobi.\n",
     "Hello there."),
])
def test_upload_decodes_text_files(app, project, name, data, expected):
    import io
    client, pid = project
    response = client.submit(f"/projects/{pid}/script/upload", {"file": (io.BytesIO(data), name)},
                             content_type="multipart/form-data")
    assert response.status_code == 303
    assert "Imported" in client.get(response.location).get_data(as_text=True)
    with app.app_context():
        assert expected in db.session.get(Project, pid).script
        assert "<i>" not in db.session.get(Project, pid).script


@pytest.mark.parametrize("name,data,message", [
    ("image.txt", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image"),
    ("big.txt", b"a" * (2 * 1024 * 1024 + 10), "the limit is 2"),
    ("doc.pdf", b"Just text", "cannot read"),
])
def test_bad_uploads_are_refused_and_nothing_is_lost(app, project, name, data, message):
    import io
    client, pid = project
    client.submit(f"/projects/{pid}/script/text", {"script": "Keep me."}, htmx=True)
    response = client.submit(f"/projects/{pid}/script/upload", {"file": (io.BytesIO(data), name)},
                             content_type="multipart/form-data")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Project, pid).script == "Keep me."


def test_merge_split_boundaries_delete_and_undo_redo(app, project):
    client, pid = project
    cut(client, pid, script="One is first. Two is second.\n\nThree is third. Four is fourth.",
        min_seconds=1, max_seconds=3)
    original = scenes(app, pid)
    assert len(original) >= 2
    first, second = ids(app, pid)[:2]

    client.submit(f"/projects/{pid}/script/scenes/{first}/merge", htmx=True)
    merged = scenes(app, pid)
    assert len(merged) == len(original) - 1
    assert merged[0][0] == f"{original[0][0]} {original[1][0]}"

    text = merged[0][0]
    offset = text.index("Three") if "Three" in text else text.index("Two")
    client.submit(f"/projects/{pid}/script/scenes/{first}/split", {"offset": offset}, htmx=True)
    assert scenes(app, pid)[0][0] == text[:offset].strip()

    response = client.submit(f"/projects/{pid}/script/undo", htmx=True)
    assert "Undid: Split scene." in response.get_data(as_text=True)
    assert scenes(app, pid) == merged
    client.submit(f"/projects/{pid}/script/undo", htmx=True)
    assert scenes(app, pid) == original
    client.submit(f"/projects/{pid}/script/redo", htmx=True)
    assert scenes(app, pid) == merged
    # A new edit after undo drops the redo branch.
    client.submit(f"/projects/{pid}/script/undo", htmx=True)
    client.submit(f"/projects/{pid}/script/scenes/{second}/delete", htmx=True)
    assert "Nothing to redo." in client.submit(f"/projects/{pid}/script/redo",
                                               htmx=True).get_data(as_text=True)


def test_move_boundary_one_sentence_each_way(app, project):
    client, pid = project
    cut(client, pid, script="A one. A two.\n\nB one. B two.", min_seconds=1, max_seconds=3)
    first = ids(app, pid)[0]
    assert [t for t, _ in scenes(app, pid)] == ["A one. A two.", "B one. B two."]
    client.submit(f"/projects/{pid}/script/scenes/{first}/boundary", {"direction": "earlier"},
                  htmx=True)
    assert [t for t, _ in scenes(app, pid)] == ["A one.", "A two. B one. B two."]
    client.submit(f"/projects/{pid}/script/scenes/{first}/boundary", {"direction": "later"},
                  htmx=True)
    client.submit(f"/projects/{pid}/script/scenes/{first}/boundary", {"direction": "later"},
                  htmx=True)
    assert [t for t, _ in scenes(app, pid)] == ["A one. A two. B one.", "B two."]
    response = client.submit(f"/projects/{pid}/script/scenes/{first}/boundary",
                             {"direction": "later"}, htmx=True)
    assert response.status_code == 422 and "merge it instead" in response.get_data(as_text=True)


def test_split_refuses_the_edges(app, project):
    client, pid = project
    cut(client, pid, script="Only one sentence here.")
    sid = ids(app, pid)[0]
    for offset in (0, 999, ""):
        response = client.submit(f"/projects/{pid}/script/scenes/{sid}/split", {"offset": offset},
                                 htmx=True)
        assert response.status_code == 422
    assert len(scenes(app, pid)) == 1


def test_edit_text_in_place_and_stale_tab_is_refused(app, project):
    client, pid = project
    cut(client, pid)
    sid = ids(app, pid)[0]
    with app.app_context():
        version = db.session.get(Segment, sid).version
    response = client.submit(f"/projects/{pid}/script/scenes/{sid}/text",
                             {"text": "A new opening line.", "version": version}, htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Saved" in body and 'hx-swap-oob="true"' in body
    # The other tab still holds the old version number: its edit is refused, not applied.
    response = client.submit(f"/projects/{pid}/script/scenes/{sid}/text",
                             {"text": "Stale text.", "version": version}, htmx=True)
    assert response.status_code == 409 and "A new opening line." in response.get_data(as_text=True)
    assert scenes(app, pid)[0][0] == "A new opening line."
    response = client.submit(f"/projects/{pid}/script/scenes/{sid}/text",
                             {"text": "   ", "version": version + 1}, htmx=True)
    assert response.status_code == 422 and scenes(app, pid)[0][0] == "A new opening line."


def test_topics_start_join_rename_and_move(app, project):
    client, pid = project
    cut(client, pid, script="One a. One b.\n\nTwo a. Two b.\n\nThree a. Three b.",
        min_seconds=1, max_seconds=3)
    a, b, c = ids(app, pid)[:3]
    client.submit(f"/projects/{pid}/script/scenes/{b}/topic", {"action": "start", "title": "Middle"},
                  htmx=True)
    client.submit(f"/projects/{pid}/script/scenes/{b}/topic", {"action": "later"}, htmx=True)
    client.submit(f"/projects/{pid}/script/scenes/{c}/topic", {"action": "rename", "title": "End"},
                  htmx=True)
    titles = [t for _, t in scenes(app, pid)]
    assert titles[1] is None and titles[2] == "End"
    client.submit(f"/projects/{pid}/script/scenes/{c}/topic", {"action": "join"}, htmx=True)
    assert [t for _, t in scenes(app, pid)][2] is None
    response = client.submit(f"/projects/{pid}/script/scenes/{a}/topic", {"action": "join"}, htmx=True)
    assert response.status_code == 422 and "first scene always starts a topic" in response.get_data(as_text=True)


def test_recut_replaces_edits_and_is_undoable(app, project):
    client, pid = project
    cut(client, pid)
    sid = ids(app, pid)[0]
    client.submit(f"/projects/{pid}/script/scenes/{sid}/delete", htmx=True)
    edited = scenes(app, pid)
    cut(client, pid, wpm=200)
    assert scenes(app, pid) != edited
    client.submit(f"/projects/{pid}/script/undo", htmx=True)
    assert scenes(app, pid) == edited


def test_segment_cli_prints_offsets_into_the_file(app, tmp_path):
    path = tmp_path / "script.md"
    path.write_text(SCRIPT, encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["segment", str(path), "--wpm", "150", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [t["title"] for t in data["topics"]] == ["Lighthouses", "Tides"]
    assert data["segments"][0]["start"] == 0 and data["segments"][-1]["end"] == len(SCRIPT)
    for scene in data["segments"]:
        assert SCRIPT[scene["start"]:scene["end"]] == scene["text"]
        assert set(scene) == {"text", "start", "end", "seconds", "topic"}


PLAIN = ("A lighthouse guides ships through the dark. Its lamp turns slowly above the rocks. Keepers once "
         "polished the great lens every morning. The moon pulls on the oceans. Twice a day the water rises "
         "along the shore. Sailors have always planned their voyages around the tides.")
TOPICS = {"topics": [{"start": 0, "title": "Lights on the coast"}, {"start": 3, "title": "How tides work"}]}


@pytest.fixture
def language_model(app):
    from tests.fakes.chat_completions import API_KEY, MODEL, FakeChatCompletions
    with FakeChatCompletions() as fake:
        fake.reply_with(lambda messages: json.dumps(TOPICS))
        app.config.update(LLM_BASE_URL=f"{fake.url}/v1", LLM_API_KEY=API_KEY, LLM_MODEL=MODEL)
        yield fake


def test_language_model_cut_runs_in_the_background_and_is_undoable(app, project, work, language_model):
    client, pid = project
    cut(client, pid, PLAIN)
    offline = scenes(app, pid)
    page = client.get(f"/projects/{pid}/script").get_data(as_text=True)
    assert 'name="method" value="llm"' in page and "gpt-test-mini" in page and "127.0.0.1" in page

    response = cut(client, pid, PLAIN, method="llm")
    assert response.status_code == 303, "a reload of the page must not send the script again"
    page = client.get(response.location).get_data(as_text=True)
    assert 'id="cutting"' in page and 'hx-trigger="every 1s"' in page and "Waiting for a worker" in page
    assert scenes(app, pid) == offline, "nothing changes until the model has answered"
    work()
    done = client.get(f"/projects/{pid}/script/cutting", headers={"HX-Request": "true"})
    assert done.headers["HX-Redirect"] == f"/projects/{pid}/script"
    page = client.get(f"/projects/{pid}/script").get_data(as_text=True)
    assert "by the language model" in page
    titles = [topic for _, topic in scenes(app, pid) if topic]
    assert titles == ["Lights on the coast", "How tides work"]
    assert "[3] The moon pulls on the oceans." in language_model.chat_requests[0]["messages"][1]["content"]
    client.submit(f"/projects/{pid}/script/undo", htmx=True)
    assert scenes(app, pid) == offline


def test_language_model_failure_cuts_offline_and_says_why(app, project, work, language_model):
    client, pid = project
    language_model.will_fail(500, "The server had an error while processing your request.")
    cut(client, pid, PLAIN, method="llm")
    work()
    page = client.get(f"/projects/{pid}/script").get_data(as_text=True)
    assert "offline" in page and "server had an error" in page
    assert len(scenes(app, pid)) >= 2


def test_a_script_edited_during_the_cut_is_not_overwritten(app, project, work, language_model):
    client, pid = project
    cut(client, pid, PLAIN, method="llm")
    client.submit(f"/projects/{pid}/script/text", {"script": PLAIN + " A new sentence."}, htmx=True)
    work()
    page = client.get(f"/projects/{pid}/script").get_data(as_text=True)
    assert "The script was not cut: The script changed while it was being cut" in page
    assert scenes(app, pid) == []


def test_without_a_language_model_only_the_offline_cut_is_offered(app, project):
    client, pid = project
    page = client.get(f"/projects/{pid}/script").get_data(as_text=True)
    assert 'name="method"' not in page
    response = cut(client, pid, PLAIN, method="llm")
    assert response.status_code == 422 and "No language model is configured" in response.get_data(as_text=True)
