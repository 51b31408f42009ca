"""`flask backup create` / `restore`: a populated instance comes back identical in a fresh one."""
import hashlib
import io
import re
import tarfile

import flask_migrate
import pytest
from sqlalchemy import MetaData, select, text

from app import ledger
from app.extensions import db
from app.platform.media import get_storage
from app.models import Membership, Project
from tests.conftest import USE_POSTGRES
from tests.ops.conftest import RESTORE_TARGETS

SAME_KIND = "postgresql" if USE_POSTGRES else "sqlite"


def state(instance) -> dict:
    """What a restore must bring back: every row of every table, and every media object's SHA-256."""
    with instance.app_context():
        metadata = MetaData()
        metadata.reflect(bind=db.engine)
        with db.engine.connect() as conn:
            rows = {name: [dict(row._mapping) for row in
                           conn.execute(select(table).order_by(*table.primary_key.columns))]
                    for name, table in metadata.tables.items()}
        storage = get_storage()
        media = {key: storage.checksum(key) for key in storage.list_keys()}
    return {"rows": rows, "media": media}


def cli(instance, *args):
    return instance.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def populated(app, owner, make_member, project_with_scenes, work):
    """Two members, a project cut into scenes, a draft image and a voiceover made by a real
    worker, and ledger entries (monthly grant, a manual grant, a charge)."""
    client, workspace_id = owner
    _, project_id, scenes = project_with_scenes()
    make_member("editor", workspace_id=workspace_id, name="Editor")
    client.submit(f"/projects/{project_id}/assets/scenes/{scenes[0]}/image",
                  {"description": "Boats leave the harbour at dawn", "model": "draft"}, htmx=True)
    client.submit(f"/projects/{project_id}/assets/scenes/{scenes[0]}/voice", htmx=True)
    work()
    assert cli(app, "credits", "grant", str(workspace_id), "25", "--reason", "Welcome").exit_code == 0
    with app.app_context():
        # The app fixture builds the tables with create_all; record the migration head they match.
        flask_migrate.stamp()
        project = db.session.get(Project, project_id)
        image = project.segments[0].image
        assert image is not None and project.segments[0].audio is not None
        owner_email = db.session.scalar(db.select(Membership).filter_by(
            workspace_id=workspace_id, role="owner")).user.email
        return {"workspace_id": workspace_id, "project_id": project_id, "email": owner_email,
                "image_id": image.id, "image_key": image.storage_key}


def back_up(app, tmp_path):
    archive = tmp_path / "scriptreel-backup.tar.gz"
    result = cli(app, "backup", "create", str(archive))
    assert result.exit_code == 0, result.output
    return archive


@pytest.mark.parametrize("target", RESTORE_TARGETS)
def test_restore_into_a_fresh_instance_brings_everything_back(app, populated, fresh_instance,
                                                              tmp_path, target):
    archive = back_up(app, tmp_path)
    restored = fresh_instance(target)
    result = cli(restored, "backup", "restore", str(archive))
    assert result.exit_code == 0, result.output
    assert "every checksum matches" in result.output

    before, after = state(app), state(restored)
    assert after["rows"] == before["rows"]
    assert len(before["rows"]["credit_entry"]) == 3 and len(before["rows"]["user"]) == 2
    assert after["media"] == before["media"] and len(before["media"]) >= 2
    for instance in (app, restored):
        with instance.app_context():
            assert ledger.balance(populated["workspace_id"]) == 100 + 25 - 1

    # The same login sees the same project and image in the restored app.
    client = restored.test_client()
    client.login(populated["email"])
    page = client.get(f"/projects/{populated['project_id']}/assets")
    assert page.status_code == 200 and "Harbour" in page.get_data(as_text=True)
    image = client.get(f"/media/{populated['image_id']}")
    assert image.status_code == 200
    assert hashlib.sha256(image.data).hexdigest() == before["media"][populated["image_key"]]
    # New rows get new ids: PostgreSQL's sequences continue after the restored ones.
    response = client.submit("/projects", {"title": "After the restore"})
    assert response.status_code == 302
    assert int(re.search(r"/projects/(\d+)/", response.location).group(1)) > populated["project_id"]


def test_restore_refuses_a_database_with_data_unless_forced(app, populated, fresh_instance, tmp_path):
    archive = back_up(app, tmp_path)
    restored = fresh_instance(SAME_KIND)
    assert cli(restored, "backup", "restore", str(archive)).exit_code == 0

    again = cli(restored, "backup", "restore", str(archive))
    assert again.exit_code == 1
    assert "The database is not empty" in again.output and "--force" in again.output

    forced = cli(restored, "backup", "restore", str(archive), "--force")
    assert forced.exit_code == 0, forced.output
    assert "Replaced" in forced.output
    assert state(restored) == state(app)


def flip_a_byte(archive, out, member_suffix: str) -> None:
    """Copy the archive, damaging the contents of the first member whose name ends with the suffix."""
    damaged = False
    with tarfile.open(archive, "r:gz") as source, tarfile.open(out, "w:gz") as copy:
        for member in source:
            data = source.extractfile(member).read()
            if not damaged and member.name.endswith(member_suffix):
                data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
                damaged = True
            copy.addfile(member, io.BytesIO(data))
    assert damaged


@pytest.mark.parametrize("suffix", [".png", "credit_entry.jsonl"])
def test_a_damaged_archive_restores_nothing(app, populated, fresh_instance, tmp_path, suffix):
    archive = back_up(app, tmp_path)
    damaged = tmp_path / "damaged.tar.gz"
    flip_a_byte(archive, damaged, suffix)
    restored = fresh_instance(SAME_KIND)
    result = cli(restored, "backup", "restore", str(damaged))
    assert result.exit_code == 1
    assert "damaged" in result.output and "Nothing was restored" in result.output
    after = state(restored)
    assert after["media"] == {}
    assert all(not rows for name, rows in after["rows"].items() if name != "alembic_version")


def test_restore_says_which_migration_to_run_first(app, populated, fresh_instance, tmp_path):
    archive = back_up(app, tmp_path)
    with app.app_context():
        head = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    bare = fresh_instance(SAME_KIND, name="bare", upgrade=())
    result = cli(bare, "backup", "restore", str(archive))
    assert result.exit_code == 1 and "Run `flask --app wsgi db upgrade` first" in result.output

    older = fresh_instance(SAME_KIND, name="older", upgrade=("db", "upgrade", "0001"))
    result = cli(older, "backup", "restore", str(archive))
    assert result.exit_code == 1
    assert "this database is at 0001" in result.output
    assert f"backup was made at database revision {head}" in result.output
    assert f"flask --app wsgi db upgrade {head}" in result.output
