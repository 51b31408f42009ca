"""Who may do what: every route, every role; other workspaces' ids are 404."""
from __future__ import annotations

import re

import pytest

from app import create_app
from app.access import LOGGED_IN, OPERATE, PERMISSIONS, PUBLIC, role_at_least
from app.extensions import db
from app.models import ROLES, Asset, Invite, Job, Membership, Project, ReviewComment, ReviewLink, Segment, Workspace, utcnow

# Built once to enumerate routes; each test builds its own app.
_ROUTES_APP = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})


def _routes(kind: str):
    """(endpoint, rule, method) for every route whose permission is (or isn't) workspace-scoped."""
    found = []
    for rule in _ROUTES_APP.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = _ROUTES_APP.view_functions[rule.endpoint]
        scoped = view.permission in PERMISSIONS
        if (kind == "scoped") == scoped:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                found.append(pytest.param(rule.endpoint, rule.rule, method,
                                          id=f"{method} {rule.rule}"))
    return found


def test_every_view_declares_a_permission():
    for endpoint, view in _ROUTES_APP.view_functions.items():
        if endpoint != "static":
            assert getattr(view, "permission", None) in {*PERMISSIONS, PUBLIC, LOGGED_IN,
                                                         OPERATE}, endpoint


@pytest.fixture
def world(app, make_member):
    """Workspace A with a member per role, a project, an asset, an invite; and workspace B."""
    emails = {}
    _, ws_a = make_member("owner", name="OwnerA")
    for role in ROLES:
        emails[role], _ = make_member(role, workspace_id=ws_a, name=f"{role}A")
    outsider, ws_b = make_member("owner", name="OwnerB")
    ids = {}
    for ws, suffix in ((ws_a, ""), (ws_b, "_b")):
        with app.app_context():
            project = Project(workspace_id=ws, title=f"Project{suffix}", settings={},
                              script="One. Two. Three.")
            db.session.add(project)
            db.session.flush()
            segment = Segment(project_id=project.id, position=0, text="One. Two.",
                              topic_title="Intro", settings={})
            db.session.add_all([segment, Segment(project_id=project.id, position=1, text="Three.",
                                                 settings={})])
            db.session.flush()
            asset = Asset(workspace_id=ws, project_id=project.id, kind="image",
                          storage_key=f"ws/{ws}/projects/{project.id}/x{suffix}.png",
                          mime="image/png")
            invite = Invite(workspace_id=ws, role="viewer", token_hash=f"h{suffix}",
                            expires_at=utcnow())
            compile_job = Job(rq_id=f"rq{suffix}", workspace_id=ws, project_id=project.id,
                              kind="compile", state="done", result={})
            db.session.add_all([asset, invite, compile_job])
            db.session.flush()
            link = ReviewLink(workspace_id=ws, project_id=project.id, job_id=compile_job.id,
                              token_hash=f"r{suffix}", expires_at=utcnow())
            db.session.add(link)
            db.session.flush()
            comment = ReviewComment(workspace_id=ws, project_id=project.id, link_id=link.id,
                                    job_id=compile_job.id, author_name="Client", body="Brighter?")
            db.session.add(comment)
            target = db.session.scalar(db.select(Membership).filter_by(workspace_id=ws)
                                       .order_by(Membership.id.desc()))
            db.session.commit()
            ids[suffix] = {"project_id": project.id, "asset_id": asset.id, "segment_id": segment.id,
                           "job_id": compile_job.id, "link_id": link.id, "comment_id": comment.id,
                           "invite_id": invite.id, "membership_id": target.id,
                           "workspace_id": ws, "session_id": 1}
    return {"emails": emails, "outsider": outsider, "a": ids[""], "b": ids["_b"]}


def _url(rule: str, ids: dict) -> str:
    url = rule.replace("<path:download_name>", "file.bin").replace("<field>", "notes")
    url = re.sub(r"<any\(([^,)]+)[^>]*>", r"\1", url)  # <any(image, audio):kind> -> image
    for name, value in ids.items():
        url = url.replace(f"<int:{name}>", str(value))
    return url


def _request(client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    return client.submit(url, {})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint,rule,method", _routes("scoped"))
def test_role_matrix(client, world, endpoint, rule, method, role):
    client.login(world["emails"][role])
    view = client.application.view_functions[endpoint]
    needed = PERMISSIONS[view.permission]
    response = _request(client, method, _url(rule, world["a"]))
    body = response.get_data(as_text=True)
    if role_at_least(role, needed) and view.self_service:
        # Plans and credits: only when an operator turned self-service on (off by default).
        assert response.status_code == 403 and 'data-reason="operator"' in body
    elif role_at_least(role, needed):
        assert response.status_code != 403, body
        assert response.status_code < 500
    else:
        assert response.status_code == 403
        assert "Ask" in body and "Your role in" in body


@pytest.mark.parametrize("endpoint,rule,method", [
    p for p in _routes("scoped") if "<int:" in p.values[1]])
def test_other_workspaces_ids_are_not_found(client, world, endpoint, rule, method):
    client.login(world["outsider"])  # owner of workspace B
    response = _request(client, method, _url(rule, world["a"]))
    assert response.status_code == 404


@pytest.mark.parametrize("endpoint,rule,method", _routes("scoped") + [
    p for p in _routes("account") if p.values[0] in {"auth.account", "auth.logout",
                                                     "workspaces.switch", "workspaces.new"}
    or p.values[0].startswith(("operator.", "auth.end_"))])
def test_anonymous_requests_go_to_login(client, world, endpoint, rule, method):
    response = _request(client, method, _url(rule, world["a"]))
    assert response.status_code == 302 and "/login" in response.location


@pytest.mark.parametrize("endpoint,rule,method", [p for p in _routes("scoped") + _routes("account")
                                                   if p.values[2] == "POST"])
def test_every_change_needs_the_csrf_token(client, world, endpoint, rule, method):
    client.login(world["emails"]["owner"])
    url = _url(rule, world["a"])
    for headers in ({}, {"HX-Request": "true"}):
        response = client.post(url, data={"title": "x", "name": "x"}, headers=headers)
        assert response.status_code == 400, url
        assert "security token" in response.get_data(as_text=True)


@pytest.mark.parametrize("plan,enabled,reason,text,helper", [
    # Plans come from whoever runs the instance (unless self-service is on: then the owner).
    ("free", True, "plan", "Ask whoever runs this Scriptreel to change the plan.", "Opal"),
    ("starter", False, "disabled", "switched off", "Olga"),
])
def test_generator_refusal_says_why_and_whom_to_ask(client, app, make_member, operator, plan,
                                                    enabled, reason, text, helper):
    _, ws = make_member("owner", name="Olga", plan=plan, video_enabled=enabled)
    email, _ = make_member("editor", workspace_id=ws)
    client.login(email)
    response = client.get("/")
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    assert f'data-reason="{reason}"' in body and text in body and helper in body
    # The workspace's settings and credits stay reachable, so people can fix it.
    assert client.get("/workspace/").status_code == 200
    assert client.get("/credits/").status_code == 200


def test_viewer_sees_projects_without_edit_controls(client, world):
    client.login(world["emails"]["viewer"])
    page = client.get("/").get_data(as_text=True)
    assert "Project" in page and "Create project" not in page and "Delete" not in page
    response = client.submit("/projects", {"title": "Nope"})
    assert response.status_code == 403 and 'data-reason="role"' in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint,rule,method", _routes("scoped"))
def test_a_suspended_workspace_tells_its_members_whom_to_ask(client, app, world, operator, endpoint,
                                                            rule, method):
    with app.app_context():
        db.session.execute(db.update(Workspace).values(suspended_at=utcnow()))
        db.session.commit()
    client.login(world["emails"]["owner"])
    response = _request(client, method, _url(rule, world["a"]))
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    assert 'data-reason="suspended"' in body and "is suspended" in body and "Opal" in body
