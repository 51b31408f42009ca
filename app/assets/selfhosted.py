"""The self-hosted image tier as this instance sets it up: the server from the environment, its
price and the plans that may use it from the operator's settings."""
from __future__ import annotations

from pathlib import Path

from flask import current_app

from ..operator.settings import setting
from ..pipeline.images import SelfHostedServer, server_problem
from ..pipeline.images.selfhosted.server import WORKFLOWS


def _workflow(value: str, shipped: str) -> Path | None:
    if value.strip().lower() == "none":
        return None
    return Path(value) if value.strip() else WORKFLOWS / shipped


def server() -> SelfHostedServer:
    """The operator's image server as SELFHOSTED_IMAGE_* describe it (backend "" when there is none)."""
    config = current_app.config
    return SelfHostedServer(
        backend=config["SELFHOSTED_IMAGE_BACKEND"], url=config["SELFHOSTED_IMAGE_URL"].strip(),
        api_key=config["SELFHOSTED_IMAGE_API_KEY"], model=config["SELFHOSTED_IMAGE_MODEL"].strip(),
        timeout=config["SELFHOSTED_IMAGE_TIMEOUT"], side=config["SELFHOSTED_IMAGE_SIZE"],
        steps=config["SELFHOSTED_IMAGE_STEPS"], cfg_scale=config["SELFHOSTED_IMAGE_CFG"],
        sampler=config["SELFHOSTED_IMAGE_SAMPLER"].strip(), max_queue=config["SELFHOSTED_IMAGE_MAX_QUEUE"],
        workflow=_workflow(config["SELFHOSTED_COMFYUI_WORKFLOW"], "text_to_image.json"),
        reference_workflow=_workflow(config["SELFHOSTED_COMFYUI_REFERENCE_WORKFLOW"], "reference_image.json"))


def problem() -> str | None:
    """Why the tier can't be used on this instance ("no image server is configured …"), or None."""
    return server_problem(server())


def credit_cost() -> int:
    return setting("SELFHOSTED_IMAGE_CREDITS")


def allowed_plans() -> list[str]:
    return setting("SELFHOSTED_IMAGE_PLANS")
