"""A fake OpenAI-compatible images server, built from OpenAI's images API reference.

POST /v1/images/generations takes JSON {prompt, model, n, size "WIDTHxHEIGHT", response_format
"url"|"b64_json"}; POST /v1/images/edits takes multipart/form-data with an ``image`` file and the
same fields; both answer {"created", "data": [{"b64_json"} or {"url"}]}. Errors are
{"error": {"message", "type", "param", "code"}}. Self-hosted servers also take a ``seed``.

    with FakeOpenAIImages(api_key="sk-local") as fake:
        fake.will_fail(429, "Server is busy, please retry")
"""
from __future__ import annotations

import base64
import io
import json
import re
import time
from collections import deque

from PIL import Image

from . import FakeServer, Recorded, Reply

TOP_LEFT, REST = (250, 250, 250), (10, 10, 10)  # the success image: a white top-left quarter on black
_json = {"content-type": "application/json"}


def openai_error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> Reply:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return Reply(status, json.dumps(body).encode(), _json)


class FakeOpenAIImages(FakeServer):
    """Validates requests like the API reference says; outcomes queued with ``will_*`` come first."""

    def __init__(self, api_key: str | None = None, prefix: str = "/v1"):
        super().__init__()
        self.api_key, self.prefix = api_key, prefix
        self.files: dict[str, bytes] = {}
        self.ignore_response_format = False  # some servers always answer with a url
        self._script: deque = deque()

    def will_fail(self, status: int, message: str, kind: str = "server_error", code: str | None = None) -> None:
        self._script.append(("reply", openai_error(status, message, kind, code)))

    def will_stall(self, seconds: float) -> None:
        self._script.append(("stall", seconds))

    def will_answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self._script.append(("reply", Reply(status, body, {"content-type": content_type})))

    def answer(self, req: Recorded) -> Reply:
        if req.method == "GET" and req.path.startswith("/files/") and req.path[7:] in self.files:
            return Reply(200, self.files[req.path[7:]], {"content-type": "image/png"})
        endpoint = req.path[len(self.prefix):] if req.path.startswith(self.prefix + "/") else ""
        if req.method != "POST" or endpoint not in ("/images/generations", "/images/edits"):
            return openai_error(404, f"Invalid URL ({req.method} {req.path})")
        if self.api_key and req.headers.get("authorization") != f"Bearer {self.api_key}":
            return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
        if self._script:
            kind, arg = self._script.popleft()
            return Reply(500, b"{}", _json, delay=arg) if kind == "stall" else arg
        if endpoint == "/images/edits":
            if not req.headers.get("content-type", "").startswith("multipart/form-data"):
                return openai_error(400, "Invalid Content-Type header, expected multipart/form-data")
            fields = dict(req.form)
            image = req.files.get("image")
            if image is None:
                return openai_error(400, "Missing required parameter: 'image'.", param="image")
            try:
                reference = Image.open(io.BytesIO(image))
                reference.load()
                if reference.format != "PNG":
                    raise ValueError(reference.format)
            except (OSError, ValueError):
                return openai_error(400, "Invalid input image - format must be in ['png'].", param="image")
        else:
            try:
                fields = req.json()
            except ValueError:
                return openai_error(400, "We could not parse the JSON body of your request.")
        problem = _invalid(fields)
        if problem:
            return problem
        width, height = map(int, str(fields["size"]).split("x"))
        png = _png((width, height))
        if self.ignore_response_format or fields.get("response_format", "url") == "url":
            name = f"img-{len(self.files) + 1}.png"
            self.files[name] = png
            item = {"url": f"{self.url}/files/{name}"}
        else:
            item = {"b64_json": base64.b64encode(png).decode(), "revised_prompt": fields["prompt"]}
        return Reply(200, json.dumps({"created": int(time.time()), "data": [item]}).encode(), _json)


def _invalid(fields: dict) -> Reply | None:
    if not str(fields.get("prompt", "")).strip():
        return openai_error(400, "Missing required parameter: 'prompt'.", param="prompt")
    if str(fields.get("n", 1)) not in {str(i) for i in range(1, 11)}:
        return openai_error(400, f"{fields['n']} is not a valid value for 'n'.", param="n")
    if not re.fullmatch(r"\d{2,5}x\d{2,5}", str(fields.get("size", ""))):
        return openai_error(400, f"'{fields.get('size')}' is not a valid size: use WIDTHxHEIGHT.", param="size")
    if fields.get("response_format", "url") not in ("url", "b64_json"):
        return openai_error(400, f"'{fields['response_format']}' is not one of ['url', 'b64_json'].",
                            param="response_format")
    if "seed" in fields and not str(fields["seed"]).isdigit():
        return openai_error(400, "'seed' must be an integer.", param="seed")
    return None


def _png(size: tuple[int, int]) -> bytes:
    picture = Image.new("RGB", size, REST)
    picture.paste(TOP_LEFT, (0, 0, size[0] // 2, size[1] // 2))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
