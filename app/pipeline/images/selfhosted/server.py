"""What the self-hosted back ends share: where the server is, one HTTP session with it, every
outcome in words an editor (and the operator) can act on, and the finished result."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from ..base import (
    AuthenticationFailed,
    BadResponse,
    ImageRequest,
    ImageResult,
    InvalidRequest,
    OutOfGPUMemory,
    ProviderError,
    ProviderNotConfigured,
    ProviderUnavailable,
    ServerBusy,
    decode_picture,
    encode_png,
    fit_to_frame,
    retry_after_seconds,
    send,
)

WORKFLOWS = Path(__file__).parent / "workflows"
BACKEND_LABELS = {"a1111": "AUTOMATIC1111", "comfyui": "ComfyUI", "openai": "OpenAI-compatible"}
# How PyTorch, ComfyUI and AUTOMATIC1111 word running out of (GPU) memory.
OUT_OF_MEMORY = re.compile(r"out of memory|OutOfMemoryError|not enough memory", re.IGNORECASE)
PROVIDER = "selfhosted"
SHOWN_DETAIL = 160  # characters of the server's own words in a message


@dataclass(frozen=True)
class SelfHostedServer:
    """The operator's image server and how to drive it (from the SELFHOSTED_IMAGE_* settings)."""

    backend: str  # "a1111" | "comfyui" | "openai"; "" when none is configured
    url: str
    api_key: str = field(default="", repr=False)
    model: str = ""  # checkpoint (A1111, ComfyUI) or model name (OpenAI-compatible); "" = the server's own
    timeout: float = 120.0  # seconds one image may take, queueing included
    side: int = 1024  # images have about side² pixels: 1024 suits SDXL, 512 SD 1.5
    steps: int = 30
    cfg_scale: float = 7.0
    sampler: str = ""  # AUTOMATIC1111's sampler_name; "" = the server's default
    workflow: Path = WORKFLOWS / "text_to_image.json"  # ComfyUI, API format
    reference_workflow: Path | None = WORKFLOWS / "reference_image.json"
    max_queue: int = 8  # ComfyUI: prompts already waiting there before we call it busy

    @property
    def label(self) -> str:
        return BACKEND_LABELS.get(self.backend, "self-hosted")

    @property
    def name(self) -> str:
        """How messages name the server."""
        return f"Your image server ({self.label})"


class ServerSession:
    """One image's HTTP session with the server; every failure becomes a ProviderError.

    ``said(response)`` reads the back end's own error format; ``setup_hint`` is what the operator
    should check when an endpoint is missing.
    """

    def __init__(self, server: SelfHostedServer, *, said: Callable[[httpx.Response], str], setup_hint: str,
                 basic_auth: bool = False):
        self.server, self._said, self._setup_hint = server, said, setup_hint
        headers, auth = {}, None
        if server.api_key and basic_auth:  # AUTOMATIC1111's --api-auth user:password
            user, _, password = server.api_key.partition(":")
            auth = httpx.BasicAuth(user, password)
        elif server.api_key:
            headers["authorization"] = f"Bearer {server.api_key}"
        # Generation happens while a request waits: the read timeout is the image's whole budget.
        self._client = httpx.Client(base_url=server.url.rstrip("/"), headers=headers, auth=auth,
                                    timeout=httpx.Timeout(server.timeout, connect=min(10.0, server.timeout)))

    def __enter__(self) -> ServerSession:
        return self

    def __exit__(self, *exc) -> None:
        self._client.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """The response to a request that succeeded (2xx), or the matching ProviderError."""
        server = self.server
        response = send(
            self._client, method, path, vendor=server.name,
            timeout_message=timed_out(server),
            unreachable_message=(f"{server.name} could not be reached. It may be switched off, still starting, "
                                 "or out of the worker's reach: whoever runs Scriptreel can check that it runs "
                                 "at the address in SELFHOSTED_IMAGE_URL."),
            **kwargs)
        if not response.is_success:
            raise self.error_for(response, path)
        return response

    def download(self, url: str) -> bytes:
        """A file the server links to; the credentials go only to the server's own origin."""
        target = self._client.base_url.join(url)
        if (target.scheme, target.host, target.port) == (self._client.base_url.scheme, self._client.base_url.host,
                                                         self._client.base_url.port):
            return self.request("GET", str(target)).content
        with httpx.Client(timeout=self._client.timeout) as elsewhere:
            response = send(elsewhere, "GET", str(target), vendor=self.server.name,
                            timeout_message=timed_out(self.server))
        if not response.is_success:
            raise self.bad_response(f"a link to its image that fails (HTTP {response.status_code})")
        return response.content

    def json(self, response: httpx.Response) -> dict:
        """A success response's JSON object, or BadResponse."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self.bad_response("not the JSON its API answers with")
        return body

    def bad_response(self, what: str) -> BadResponse:
        return BadResponse(f"{self.server.name} answered with {what}. Whoever runs Scriptreel should check "
                           "that SELFHOSTED_IMAGE_BACKEND names the kind of server at SELFHOSTED_IMAGE_URL.",
                           provider=self.server.name, detail=what)

    def error_for(self, response: httpx.Response, path: str) -> ProviderError:
        """The ProviderError for an HTTP error status (the mapping all back ends share)."""
        status, detail, name = response.status_code, self._said(response)[:300], self.server.name
        said = f": {detail[:SHOWN_DETAIL]}" if detail else ""  # the job's message holds 300 characters
        common = {"provider": name, "status": status, "detail": detail}
        if OUT_OF_MEMORY.search(detail):
            return out_of_memory(self.server, detail, status)
        if status in (401, 403):
            return AuthenticationFailed(f"{name} refused Scriptreel's credentials (HTTP {status}). Whoever runs "
                                        "Scriptreel needs to check SELFHOSTED_IMAGE_API_KEY.", **common)
        if status == 404:
            return ProviderNotConfigured(f"{name} answered “not found” for {path}{said}. {self._setup_hint}".strip(),
                                         **common)
        if status in (429, 503):
            return busy(self.server, status, retry_after_seconds(response), detail)
        if status < 500:
            return InvalidRequest(f"{name} refused the request (HTTP {status}){said}. Whoever runs Scriptreel "
                                  "may need to adjust its SELFHOSTED_IMAGE_* settings.", **common)
        return ProviderUnavailable(f"{name} had an error (HTTP {status}){said}. Try again; if it keeps "
                                   "happening, whoever runs Scriptreel can look at the server's log.", **common)


def timed_out(server: SelfHostedServer) -> str:
    return (f"{server.name} did not finish the image within {server.timeout:g} seconds. It may be busy with "
            "other work, or the image is too much for it: try again, or ask whoever runs Scriptreel to raise "
            "SELFHOSTED_IMAGE_TIMEOUT.")


def busy(server: SelfHostedServer, status: int | None, retry_after: float | None, detail: str = "") -> ServerBusy:
    return ServerBusy(f"{server.name} is busy: its queue is full. The scene will be retried shortly.",
                      provider=server.name, status=status, retry_after=retry_after, detail=detail)


def out_of_memory(server: SelfHostedServer, detail: str, status: int | None = None) -> OutOfGPUMemory:
    return OutOfGPUMemory(f"{server.name} ran out of GPU memory making this image. Retry when it is less busy; "
                          "if it keeps happening, whoever runs Scriptreel can lower SELFHOSTED_IMAGE_SIZE or use "
                          "a smaller model.", provider=server.name, status=status, detail=detail[:300])


def reference_png(request: ImageRequest, size: tuple[int, int], server: SelfHostedServer) -> bytes:
    """The project's reference image cropped to the generation size, as the back ends take it."""
    return encode_png(fit_to_frame(decode_picture(request.reference, server.name, None), size, "crop"))


def finished(request: ImageRequest, data: bytes, server: SelfHostedServer, *, seed: int, model: str,
             size: tuple[int, int]) -> ImageResult:
    """The server's picture fitted to the project's frame, with its provenance."""
    picture = decode_picture(data, server.name)
    return ImageResult(
        data=encode_png(fit_to_frame(picture, request.size, "crop")), mime="image/png", size=request.size,
        seed=seed, model=(model or server.model or "server default")[:80], provider=PROVIDER,
        prompt=request.prompt, details={"backend": server.backend, "generated_size": list(size),
                                        "reference_used": request.reference is not None})
