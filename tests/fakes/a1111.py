"""A fake AUTOMATIC1111 / Forge web UI API (started with --api), built from its documented formats.

POST /sdapi/v1/txt2img and /sdapi/v1/img2img take JSON and answer
{"images": [base64 PNG], "parameters": {...}, "info": "<JSON string>"}; errors are the web UI's
{"error", "detail", "body", "errors"} (an out-of-memory is a 500 whose "errors" says so), request
validation is FastAPI's 422 {"detail": [...]}, and --api-auth is HTTP Basic.

    with FakeA1111() as fake:
        fake.will_fail_out_of_memory()
"""
from __future__ import annotations

import base64
import binascii
import io
import json
from collections import deque

from PIL import Image

from . import FakeServer, Recorded, Reply

CHECKPOINTS = {"sd_xl_base_1.0": "sd_xl_base_1.0.safetensors [31e35c80fc]",
               "v1-5-pruned-emaonly": "v1-5-pruned-emaonly.safetensors [6ce0161689]"}
SAMPLERS = {"Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "DDIM"}
TOP, BOTTOM = (30, 160, 60), (230, 200, 40)  # the success image: green top half, yellow bottom half
_json = {"content-type": "application/json"}


def web_ui_error(status: int, error: str, detail: str = "", errors: str = "") -> Reply:
    body = {"error": error, "detail": detail, "body": "", "errors": errors or detail}
    return Reply(status, json.dumps(body).encode(), _json)


class FakeA1111(FakeServer):
    """Validates requests like the web UI; outcomes queued with ``will_*`` are served in order."""

    def __init__(self, auth: tuple[str, str] | None = None, loaded: str = "sd_xl_base_1.0"):
        super().__init__()
        self.auth, self.loaded = auth, loaded
        self._script: deque = deque()

    def will_fail(self, status: int, error: str = "HTTPException", detail: str = "") -> None:
        self._script.append(("reply", web_ui_error(status, error, detail)))

    def will_fail_out_of_memory(self) -> None:
        self._script.append(("reply", web_ui_error(
            500, "OutOfMemoryError", errors="CUDA out of memory. Tried to allocate 2.25 GiB (GPU 0; 7.79 GiB total "
                                            "capacity; 5.12 GiB already allocated; 1.10 GiB free)")))

    def will_be_busy(self) -> None:
        """What a reverse proxy with a queue limit in front of the web UI answers."""
        self._script.append(("reply", Reply(503, b"<html><body>503 Service Unavailable</body></html>",
                                            {"content-type": "text/html", "retry-after": "2"})))

    def will_stall(self, seconds: float) -> None:
        self._script.append(("stall", seconds))

    def will_answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self._script.append(("reply", Reply(status, body, {"content-type": content_type})))

    def answer(self, req: Recorded) -> Reply:
        if req.method != "POST" or req.path not in ("/sdapi/v1/txt2img", "/sdapi/v1/img2img"):
            return Reply(404, b'{"detail":"Not Found"}', _json)
        if self.auth and req.headers.get("authorization") != "Basic " + base64.b64encode(
                ":".join(self.auth).encode()).decode():
            return Reply(401, json.dumps({"error": "HTTPException", "detail": "Incorrect username or password",
                                          "body": "", "errors": ""}).encode(), {**_json, "www-authenticate": "Basic"})
        if self._script:
            kind, arg = self._script.popleft()
            if kind == "stall":
                return Reply(500, b"{}", _json, delay=arg)
            return arg
        try:
            payload = req.json()
        except ValueError:
            return Reply(422, json.dumps({"detail": [{"loc": ["body"], "msg": "value is not a valid dict",
                                                      "type": "type_error.dict"}]}).encode(), _json)
        problem = _invalid(payload, img2img=req.path.endswith("img2img"))
        if problem:
            return problem
        return self._image(payload)

    def _image(self, payload: dict) -> Reply:
        checkpoint = payload.get("override_settings", {}).get("sd_model_checkpoint")
        if checkpoint and payload.get("override_settings_restore_afterwards", True) is False:
            self.loaded = checkpoint
        width, height = payload.get("width", 512), payload.get("height", 512)
        # The web UI floors sizes to its 8-pixel latent grid.
        picture = Image.new("RGB", (width // 8 * 8, height // 8 * 8), TOP)
        picture.paste(BOTTOM, (0, picture.height // 2, picture.width, picture.height))
        out = io.BytesIO()
        picture.save(out, format="PNG")
        seed = payload.get("seed", -1)
        seed = 2_468_013 if seed == -1 else seed
        name = checkpoint or self.loaded
        info = {"prompt": payload.get("prompt", ""), "all_prompts": [payload.get("prompt", "")],
                "negative_prompt": payload.get("negative_prompt", ""), "seed": seed, "all_seeds": [seed],
                "width": width, "height": height, "sampler_name": payload.get("sampler_name", "Euler a"),
                "cfg_scale": payload.get("cfg_scale", 7.0), "steps": payload.get("steps", 20),
                "sd_model_name": name, "sd_model_hash": "31e35c80fc",
                "denoising_strength": payload.get("denoising_strength"), "infotexts": ["..."]}
        parameters = {k: v for k, v in payload.items() if k != "init_images"}
        body = {"images": [base64.b64encode(out.getvalue()).decode()], "parameters": parameters,
                "info": json.dumps(info)}
        return Reply(200, json.dumps(body).encode(), _json)


def _invalid(payload: dict, *, img2img: bool) -> Reply | None:
    """The checks the web UI makes before generating (FastAPI's model validation, then its own)."""
    errors = []
    for name, kind in (("prompt", str), ("negative_prompt", str), ("sampler_name", str),
                       ("override_settings", dict)):
        if name in payload and not isinstance(payload[name], kind):
            errors.append({"loc": ["body", name], "msg": f"value is not a valid {kind.__name__}",
                           "type": "type_error"})
    for name in ("seed", "width", "height", "steps", "batch_size", "n_iter"):
        if name in payload and not isinstance(payload[name], int):
            errors.append({"loc": ["body", name], "msg": "value is not a valid integer", "type": "type_error.integer"})
    if errors:
        return Reply(422, json.dumps({"detail": errors}).encode(), _json)
    if payload.get("sampler_name") and payload["sampler_name"] not in SAMPLERS:
        return web_ui_error(404, "HTTPException", "Sampler not found")
    checkpoint = payload.get("override_settings", {}).get("sd_model_checkpoint")
    if checkpoint and checkpoint not in CHECKPOINTS and checkpoint not in CHECKPOINTS.values():
        return web_ui_error(500, "RuntimeError", errors=f"model {checkpoint!r} not found")
    if img2img:
        images = payload.get("init_images")
        if not images:
            return web_ui_error(404, "HTTPException", "Init image not found")
        try:
            Image.open(io.BytesIO(base64.b64decode(images[0], validate=True))).load()
        except (binascii.Error, OSError, ValueError):
            return web_ui_error(500, "HTTPException", "Invalid encoded image")
    return None
