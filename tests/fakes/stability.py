"""A fake Stability AI REST API (v2beta stable-image generate), built from its documented formats.

    with FakeStability(api_key="sk-test") as fake:
        fake.will_fail(429, retry_after=3)
        provider = StabilityImageProvider("sk-test", base_url=fake.url)
"""
from __future__ import annotations

import base64
import io
import json
import uuid
from collections import deque

from PIL import Image, ImageFilter

from . import FakeServer, Recorded, Reply

GENERATE = "/v2beta/stable-image/generate/"
ENDPOINTS = {"ultra", "core", "sd3"}
SD3_MODELS = {"sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash", "sd3-large", "sd3-large-turbo",
              "sd3-medium"}
# What the API returns per aspect ratio (about one megapixel).
VENDOR_SIZES = {"16:9": (1344, 768), "9:16": (768, 1344), "1:1": (1024, 1024), "21:9": (1536, 640),
                "9:21": (640, 1536), "2:3": (832, 1216), "3:2": (1216, 832), "4:5": (896, 1088), "5:4": (1088, 896)}
FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
LEFT, RIGHT = (200, 40, 40), (40, 40, 200)  # the success image: red left half, blue right half
# The documented error bodies: {"id", "name", "errors": [...]}.
ERRORS = {
    400: ("bad_request", "prompt: cannot be empty"),
    401: ("unauthorized", "authorization: invalid or missing API key"),
    402: ("payment_required", "You lack sufficient credits to make this request. Please purchase more credits."),
    403: ("content_moderation", "Your request was flagged by our content moderation system, as a result your "
                                "request was denied and you were not charged."),
    413: ("payload_too_large", "body: payloads cannot be larger than 10MiB in size"),
    422: ("invalid_language", "English is the only supported language for this service."),
    429: ("rate_limit_exceeded", "You have exceeded the rate limit of 150 requests within a 10 second period."),
    500: ("internal_error", "An unexpected server error has occurred, please try again later."),
}


def error_body(status: int, message: str | None = None) -> bytes:
    name, default = ERRORS.get(status, ("error", "error"))
    return json.dumps({"id": uuid.uuid4().hex, "name": name, "errors": [message or default]}).encode()


class FakeStability(FakeServer):
    """Validates requests like the vendor; outcomes queued with ``will_*`` are served in order."""

    def __init__(self, api_key: str = "sk-test-key"):
        super().__init__()
        self.api_key = api_key
        self._script: deque = deque()

    def will_succeed(self, seed: int | None = None) -> None:
        self._script.append(("success", seed))

    def will_filter(self) -> None:
        """A 200 with finish-reason CONTENT_FILTERED and a blurred image, as the vendor does."""
        self._script.append(("filtered", None))

    def will_fail(self, status: int, *, retry_after: float | None = None, message: str | None = None) -> None:
        self._script.append(("error", (status, retry_after, message)))

    def will_stall(self, seconds: float) -> None:
        self._script.append(("stall", seconds))

    def answer(self, req: Recorded) -> Reply:
        endpoint = req.path[len(GENERATE):] if req.path.startswith(GENERATE) else ""
        if req.method != "POST" or endpoint not in ENDPOINTS:
            return Reply(404, error_body(404, f"{req.method} {req.path} not found"), _json)
        if req.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, error_body(401), _json)
        if not req.headers.get("content-type", "").startswith("multipart/form-data"):
            return Reply(400, error_body(400, "content-type: must be multipart/form-data"), _json)
        kind, arg = self._script.popleft() if self._script else ("success", None)
        if kind == "error":
            status, retry_after, message = arg
            headers = {**_json, **({"retry-after": str(retry_after)} if retry_after is not None else {})}
            return Reply(status, error_body(status, message), headers)
        if kind == "stall":
            return Reply(500, error_body(500), _json, delay=arg)
        problem = _invalid(req.form, endpoint)
        if problem:
            return Reply(400, error_body(400, problem), _json)
        seed = arg if arg is not None else int(req.form.get("seed") or 0) or 1234567
        return _image_reply(req, seed, filtered=kind == "filtered")


_json = {"content-type": "application/json"}


def _invalid(form: dict[str, str], endpoint: str) -> str | None:
    """The vendor's 400 checks on the form fields."""
    prompt = form.get("prompt", "")
    if not 1 <= len(prompt) <= 10000:
        return "prompt: must be between 1 and 10000 characters"
    if len(form.get("negative_prompt", "")) > 10000:
        return "negative_prompt: must be at most 10000 characters"
    if form.get("aspect_ratio", "1:1") not in VENDOR_SIZES:
        return "aspect_ratio: invalid value"
    if form.get("output_format", "png") not in FORMATS:
        return "output_format: invalid value"
    seed = form.get("seed", "0")
    if not seed.isdigit() or int(seed) > 4294967294:
        return "seed: must be an integer between 0 and 4294967294"
    if endpoint == "sd3" and form.get("model", "sd3.5-large") not in SD3_MODELS:
        return "model: invalid value"
    return None


def _image_reply(req: Recorded, seed: int, *, filtered: bool) -> Reply:
    size = VENDOR_SIZES[req.form.get("aspect_ratio", "1:1")]
    picture = Image.new("RGB", size, LEFT)
    picture.paste(RIGHT, (size[0] // 2, 0, size[0], size[1]))
    if filtered:
        picture = picture.filter(ImageFilter.GaussianBlur(60))
    pil_format, mime = FORMATS[req.form.get("output_format", "png")]
    out = io.BytesIO()
    picture.save(out, format=pil_format)
    finish = "CONTENT_FILTERED" if filtered else "SUCCESS"
    if req.headers.get("accept", "image/*") == "application/json":
        body = json.dumps({"image": base64.b64encode(out.getvalue()).decode(), "finish_reason": finish,
                           "seed": seed}).encode()
        return Reply(200, body, _json)
    return Reply(200, out.getvalue(), {"content-type": mime, "finish-reason": finish, "seed": str(seed)})
