"""Project-wide operations: serialising edits of one project, and deleting a project whole."""
from __future__ import annotations

from ..extensions import db
from ..jobs import cancel_for_deletion
from ..platform.media import delete_project_media
from ..models import Project, utcnow


def lock_project(project: Project) -> Project:
    """Make this request the only one editing the project until it commits.

    Ends the current transaction, then writes the project row first thing in a new one: a row
    lock on PostgreSQL, the write lock on SQLite. The project and its scenes are read afresh.
    """
    db.session.commit()
    db.session.execute(db.update(Project).where(Project.id == project.id).values(updated_at=utcnow()))
    db.session.expire_all()
    return project


def delete_project(project: Project) -> None:
    """Cancel the project's jobs (refunding what wasn't delivered), then remove its rows and every
    file of it. A worker still busy with one of its jobs finds the project gone and ends quietly."""
    workspace_id, project_id = project.workspace_id, project.id
    cancel_for_deletion(project)
    db.session.delete(project)
    db.session.commit()
    delete_project_media(workspace_id, project_id)
