"""AUTOMATIC1111 / Forge web UI started with --api: POST /sdapi/v1/txt2img, or /sdapi/v1/img2img
with the project's reference image; base64 images in the JSON answer."""
from __future__ import annotations

import base64
import binascii
import json

import httpx

from ..base import ImageRequest, ImageResult, ProgressCallback, generation_size
from .server import SelfHostedServer, ServerSession, finished, reference_png

SIZE_MULTIPLE = 8  # the latent is an eighth of the image on each side
SETUP_HINT = ("It must be started with --api; the checkpoint and sampler named in SELFHOSTED_IMAGE_MODEL and "
              "SELFHOSTED_IMAGE_SAMPLER must exist on it.")


def said(response: httpx.Response) -> str:
    """The web UI's error body: {"error", "detail", "body", "errors"}, or FastAPI's {"detail": [...]}."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()
    if not isinstance(body, dict):
        return ""
    detail = body.get("detail")
    if isinstance(detail, list):  # request validation: [{"loc": [...], "msg": "..."}]
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg', '')}" for d in detail)
    parts = [str(p) for p in (detail, body.get("errors")) if p]
    return " — ".join(dict.fromkeys(parts)) or str(body.get("error") or "")


class A1111ImageProvider:
    """One image per call from the web UI's API; the checkpoint stays loaded between calls."""

    name = "selfhosted"
    accepts_reference = True

    def __init__(self, server: SelfHostedServer):
        self.server = server

    def generate(self, request: ImageRequest, *, on_progress: ProgressCallback | None = None) -> ImageResult:
        """Ask for one image at the project's aspect ratio and return it fitted to the frame."""
        width, height = generation_size(request.size, self.server.side, SIZE_MULTIPLE)
        payload = {"prompt": request.prompt, "negative_prompt": request.negative_prompt, "seed": request.seed,
                   "width": width, "height": height, "steps": self.server.steps,
                   "cfg_scale": self.server.cfg_scale, "batch_size": 1, "n_iter": 1,
                   "send_images": True, "save_images": False}
        if self.server.sampler:
            payload["sampler_name"] = self.server.sampler
        if self.server.model:
            # Restoring the previous checkpoint after every image would reload weights each time.
            payload["override_settings"] = {"sd_model_checkpoint": self.server.model}
            payload["override_settings_restore_afterwards"] = False
        path = "/sdapi/v1/txt2img"
        if request.reference is not None:
            path = "/sdapi/v1/img2img"
            payload.update(init_images=[base64.b64encode(reference_png(request, (width, height), self.server)).decode()],
                           denoising_strength=request.reference_strength, resize_mode=0)
        if on_progress:
            on_progress(0.1, f"Generating on your GPU server ({self.server.label})")
        with ServerSession(self.server, said=said, setup_hint=SETUP_HINT, basic_auth=True) as session:
            body = session.json(session.request("POST", path, json=payload))
        images = body.get("images")
        if not isinstance(images, list) or not images or not isinstance(images[0], str):
            raise session.bad_response("no image")
        try:
            data = base64.b64decode(images[0], validate=True)
        except (binascii.Error, ValueError):
            raise session.bad_response("an image that is not base64") from None
        info = _info(body)
        return finished(request, data, self.server, seed=_int(info.get("seed"), request.seed),
                        model=str(info.get("sd_model_name") or ""), size=(width, height))


def _info(body: dict) -> dict:
    """The generation's parameters: ``info`` is a JSON document inside a string."""
    try:
        info = json.loads(body.get("info") or "{}")
    except (TypeError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _int(value, default: int) -> int:
    return value if isinstance(value, int) and value >= 0 else default
