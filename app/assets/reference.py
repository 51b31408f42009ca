"""A project's reference image: one picture whose characters and palette every scene follows, on
the image servers that take one (img2img, an image-input node, an edits endpoint); and what the
"Consistent look" panel shows with it."""
from __future__ import annotations

from flask import g

from .. import project_settings, retention
from ..extensions import db
from ..models import Asset, Project
from ..pipeline import uploads
from ..pipeline.images import MODELS, ProviderNotConfigured, selfhosted_provider
from ..platform.media import get_storage
from . import selfhosted
from .service import require_storage, store_upload


def reference_asset(project: Project) -> Asset | None:
    asset_id = project_settings.get(project, "reference_asset_id")
    return db.session.scalar(db.select(Asset).filter_by(id=asset_id, project_id=project.id)) if asset_id else None


def reference_bytes(asset: Asset) -> bytes:
    """The stored reference image, for an image job."""
    with get_storage().open_read(asset.storage_key) as handle:
        return handle.read()


def models_using_reference() -> list[str]:
    """Names of the models on this instance that use a project's reference image."""
    server = selfhosted.server()
    try:
        accepts = selfhosted_provider(server).accepts_reference
    except ProviderNotConfigured:
        return []
    return [f"{MODELS['selfhosted'].label} via {server.label}"] if accepts else []


def set_reference(project: Project, data: bytes, file_size: int, name: str, *, max_bytes: int,
                  max_pixels: int) -> Asset:
    """Check an uploaded picture like any image upload, crop it to the project's frame and make it the
    reference (the one it replaces is deleted); UploadRejected or NotAllowed say why not."""
    prepared = uploads.prepare_image_upload(data, project_settings.image_size(project), fit="crop",
                                            max_bytes=max_bytes, max_pixels=max_pixels, file_size=file_size)
    require_storage(g.workspace, len(prepared.data))
    asset = store_upload(project, "reference", prepared.data, prepared.mime,
                         "png" if prepared.mime == "image/png" else "jpg", width=prepared.size[0],
                         height=prepared.size[1], original_name=name, original_size=list(prepared.original_size))
    project_settings.update(project, reference_asset_id=asset.id)
    project.touch()
    db.session.commit()
    retention.collect(project)
    return asset


def remove_reference(project: Project) -> None:
    project_settings.update(project, reference_asset_id=None)
    project.touch()
    db.session.commit()
    retention.collect(project)


def look_context(project: Project) -> dict:
    """What the "Consistent look" panel shows."""
    return {"reference": reference_asset(project), "reference_models": models_using_reference(),
            "fixed_seed": project_settings.get(project, "fixed_seed"),
            "reference_strength": project_settings.get(project, "reference_strength")}
