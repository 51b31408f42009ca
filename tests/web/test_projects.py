"""Project list, create, rename (autosave), resume and delete."""
import re

from app.extensions import db
from app.platform.media import get_storage
from app.models import Asset, Project


def _create(client, title):
    response = client.submit("/projects", {"title": title})
    assert response.status_code == 302
    return int(re.search(r"/projects/(\d+)/", response.location).group(1))


def test_create_list_search_and_sort_by_last_change(owner):
    client, _ = owner
    page = client.get("/").get_data(as_text=True)
    assert "No projects yet" in page
    first, second = _create(client, "Ocean explainer"), _create(client, "Budget tips")
    page = client.get("/").get_data(as_text=True)
    assert page.index("Budget tips") < page.index("Ocean explainer")
    client.submit(f"/projects/{first}/title", {"title": "Ocean explainer v2"}, htmx=True)
    page = client.get("/").get_data(as_text=True)
    assert page.index("Ocean explainer v2") < page.index("Budget tips")
    assert "Step 1 · Script" in page
    partial = client.get("/?q=budget", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Budget tips" in partial and "Ocean" not in partial and "<html" not in partial
    assert "No project title contains “zzz”" in client.get("/?q=zzz").get_data(as_text=True)
    assert second


def test_rename_autosaves_and_refuses_empty_titles(owner):
    client, _ = owner
    pid = _create(client, "Draft")
    response = client.submit(f"/projects/{pid}/title", {"title": "Final cut"}, htmx=True)
    assert response.status_code == 200 and "Saved" in response.get_data(as_text=True)
    response = client.submit(f"/projects/{pid}/title", {"title": "   "}, htmx=True)
    assert response.status_code == 422 and "old one is kept" in response.get_data(as_text=True)
    assert "Final cut" in client.get("/").get_data(as_text=True)


def test_resume_lands_on_the_step_where_the_project_was_left(owner):
    client, _ = owner
    pid = _create(client, "Resumable")
    assert client.get(f"/projects/{pid}").location.endswith(f"/projects/{pid}/script")
    page = client.get(f"/projects/{pid}/assets").get_data(as_text=True)
    assert 'aria-current="step"' in page and "Images &amp; audio" in page
    assert client.get(f"/projects/{pid}").location.endswith(f"/projects/{pid}/assets")


def test_delete_asks_first_and_removes_media(client, app, owner):
    client, ws = owner
    pid = _create(client, "Doomed")
    key = f"ws/{ws}/projects/{pid}/images/a.png"
    with app.app_context():
        get_storage().put_bytes(key, b"\x89PNG fake", "image/png")
        db.session.add(Asset(workspace_id=ws, project_id=pid, kind="image", storage_key=key,
                             mime="image/png", size=9))
        db.session.commit()
    page = client.get(f"/projects/{pid}/delete").get_data(as_text=True)
    assert "Delete “Doomed”?" in page and "1 image" in page
    page = client.submit(f"/projects/{pid}/delete", follow_redirects=True).get_data(as_text=True)
    assert "Deleted “Doomed” and its media." in page
    assert "Doomed" not in client.get("/").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Project, pid) is None
        assert not get_storage().exists(key)
        assert db.session.scalar(db.select(db.func.count()).select_from(Asset)) == 0


def test_two_members_work_on_projects_at_once(client, app, make_member):
    owner_email, ws = make_member("owner")
    editor_email, _ = make_member("editor", workspace_id=ws)
    other = app.test_client()
    client.login(owner_email)
    other.login(editor_email)
    a, b = _create(client, "Mine"), _create(other, "Theirs")
    client.submit(f"/projects/{b}/title", {"title": "Theirs, edited by owner"}, htmx=True)
    page = other.get("/").get_data(as_text=True)
    assert "Theirs, edited by owner" in page and "Mine" in page and a != b
