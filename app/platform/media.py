"""Flask glue for media: the configured storage, and serving stored assets to members."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, g, redirect, send_file

from ..access import permission
from ..extensions import db
from ..models import Asset

bp = Blueprint("media", __name__)


def get_storage():
    """The configured app.platform.storage backend, built once per process."""
    storage = current_app.extensions.get("scriptreel_storage")
    if storage is None:
        from .storage import storage_from_settings
        storage = storage_from_settings(current_app.config)
        current_app.extensions["scriptreel_storage"] = storage
    return storage


log = logging.getLogger(__name__)


def put_new_file(key: str, path, mime: str) -> None:
    """Store a file this request made; if the request ends without its Asset row, it is removed."""
    g.setdefault("new_media_keys", []).append(key)
    get_storage().put_file(key, path, mime)


def put_new_bytes(key: str, data: bytes, mime: str) -> None:
    """Like put_new_file, for bytes in memory."""
    g.setdefault("new_media_keys", []).append(key)
    get_storage().put_bytes(key, data, mime)


def remove_uncommitted_files(_error=None) -> None:
    """teardown_request: a request refused or failed after storing a file leaves no orphan behind."""
    keys = g.pop("new_media_keys", None)
    if not keys:
        return
    db.session.rollback()
    kept = set(db.session.scalars(db.select(Asset.storage_key).filter(Asset.storage_key.in_(keys))))
    for key in set(keys) - kept:
        try:
            get_storage().delete(key)
        except Exception:  # noqa: BLE001 - logged; an orphan file wastes space, loses nothing
            log.warning("could not remove the uncommitted upload %s", key, exc_info=True)


def project_prefix(workspace_id: int, project_id: int) -> str:
    return f"ws/{workspace_id}/projects/{project_id}/"


def delete_project_media(workspace_id: int, project_id: int) -> None:
    get_storage().delete_prefix(project_prefix(workspace_id, project_id))


@bp.get("/media/<int:asset_id>")
@bp.get("/media/<int:asset_id>/<path:download_name>")
@permission("view")
def asset(asset_id: int, download_name: str | None = None):
    """Stream an asset of the current workspace; local files support HTTP range requests."""
    row = db.session.scalar(db.select(Asset).filter_by(id=asset_id, workspace_id=g.workspace.id))
    if row is None:
        abort(404)
    return send_asset(row, download_name)


def send_asset(row: Asset, download_name: str | None = None):
    """The response serving a stored file (the caller has checked who may see it)."""
    storage = get_storage()
    if download_name:
        url = storage.download_url(row.storage_key, download_name, row.mime)
        if url:
            return redirect(url)
    path = storage.local_path(row.storage_key)
    if path is not None:
        if not path.is_file():
            abort(404)
        response = send_file(path, mimetype=row.mime, conditional=True, max_age=3600,
                             as_attachment=bool(download_name), download_name=download_name)
        # Members-only media: browsers may keep it, shared caches (proxies, CDNs) must not.
        response.cache_control.public = False
        response.cache_control.private = True
        return response
    url = storage.download_url(row.storage_key, download_name or f"asset-{row.id}", row.mime)
    return redirect(url)
