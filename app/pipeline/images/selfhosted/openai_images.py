"""Any server speaking OpenAI's images API: POST /v1/images/generations (JSON), or
/v1/images/edits (multipart, with the reference image); images as b64_json or a url."""
from __future__ import annotations

import base64
import binascii

import httpx

from ..base import ImageRequest, ImageResult, ProgressCallback, generation_size
from .server import SelfHostedServer, ServerSession, finished, reference_png

# Servers built on diffusers and stable-diffusion.cpp round sizes to 64 pixels.
SIZE_MULTIPLE = 64
SETUP_HINT = "Check that SELFHOSTED_IMAGE_URL is the server's address (with or without /v1)."


def said(response: httpx.Response) -> str:
    """OpenAI's error body: {"error": {"message", "type", "code"}}."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return response.text.strip()
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "")
    return str(error or "")


class OpenAIImagesProvider:
    """One image per call; the seed goes along as the extra field these servers accept."""

    name = "selfhosted"
    accepts_reference = True

    def __init__(self, server: SelfHostedServer):
        self.server = server
        base = server.url.rstrip("/")
        self._prefix = "" if base.endswith("/v1") else "/v1"

    def generate(self, request: ImageRequest, *, on_progress: ProgressCallback | None = None) -> ImageResult:
        """Ask for one b64_json image of WIDTHxHEIGHT and return it fitted to the frame."""
        width, height = generation_size(request.size, self.server.side, SIZE_MULTIPLE)
        fields = {"prompt": request.prompt, "n": 1, "size": f"{width}x{height}", "response_format": "b64_json",
                  "seed": request.seed}
        if self.server.model:
            fields["model"] = self.server.model
        if on_progress:
            on_progress(0.1, f"Generating on your GPU server ({self.server.label})")
        with ServerSession(self.server, said=said, setup_hint=SETUP_HINT) as session:
            if request.reference is None:
                response = session.request("POST", f"{self._prefix}/images/generations", json=fields)
            else:
                response = session.request(
                    "POST", f"{self._prefix}/images/edits",
                    data={k: str(v) for k, v in fields.items()},
                    files={"image": ("reference.png", reference_png(request, (width, height), self.server),
                                     "image/png")})
            data = self._image_bytes(session, session.json(response))
        return finished(request, data, self.server, seed=request.seed, model=self.server.model, size=(width, height))

    def _image_bytes(self, session: ServerSession, body: dict) -> bytes:
        items = body.get("data")
        item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        if isinstance(item.get("b64_json"), str):
            try:
                return base64.b64decode(item["b64_json"], validate=True)
            except (binascii.Error, ValueError):
                raise session.bad_response("an image that is not base64") from None
        if isinstance(item.get("url"), str):  # servers that ignore response_format
            return session.download(item["url"])
        raise session.bad_response("no image (neither b64_json nor url)")
