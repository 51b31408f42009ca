"""Stability AI image generation over its REST API (v2beta stable-image generate), via httpx."""
from __future__ import annotations

import httpx
from PIL import Image

from .base import (
    AuthenticationFailed,
    BadResponse,
    ContentRejected,
    ImageRequest,
    ImageResult,
    InvalidRequest,
    OutOfVendorCredits,
    ProgressCallback,
    ProviderError,
    ProviderNotConfigured,
    ProviderUnavailable,
    RateLimited,
    decode_picture,
    encode_png,
    fit_to_frame,
    get_model,
    retry_after_seconds,
    send,
)

VENDOR = "Stability AI"
DEFAULT_BASE_URL = "https://api.stability.ai"
RATE_WINDOW_SECONDS = 10.0  # the documented limit is 150 requests per 10 s


class StabilityImageProvider:
    """Generates one image per call; every documented outcome becomes an ImageResult or a ProviderError."""

    name = "stability"
    accepts_reference = False

    def __init__(self, api_key: str | None, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 90.0):
        if not api_key:
            raise ProviderNotConfigured(
                "No Stability AI API key is set. An admin can add one in the workspace settings, "
                "or pick the offline draft model.", provider=VENDOR)
        self._api_key = api_key
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout

    def __repr__(self) -> str:  # never show the key
        return f"StabilityImageProvider(base_url={self._base_url!r})"

    def generate(self, request: ImageRequest, *, on_progress: ProgressCallback | None = None) -> ImageResult:
        """POST the request as multipart form data and return the image fitted to the output size."""
        model = get_model(request.model)
        if model.provider != "stability":
            raise ValueError(f"{request.model} is not a Stability AI model")
        fields = {"prompt": request.prompt, "aspect_ratio": request.aspect_ratio,
                  "seed": str(request.seed), "output_format": "png"}
        if model.vendor_model:
            fields["model"] = model.vendor_model
        if request.negative_prompt.strip() and model.accepts_negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        headers = {"authorization": f"Bearer {self._api_key}", "accept": "image/*",
                   "stability-client-id": "scriptreel"}
        if on_progress:
            on_progress(0.1, f"Asking {VENDOR} ({model.label})")
        with httpx.Client(timeout=self._timeout) as client:
            # Every field as a (None, value) file part: the endpoint only takes multipart/form-data.
            response = send(client, "POST", self._base_url + model.endpoint, vendor=VENDOR,
                            headers=headers, files={k: (None, v) for k, v in fields.items()})
        if response.status_code != 200:
            raise _error_for(response)
        finish_reason = response.headers.get("finish-reason", "SUCCESS")
        if finish_reason == "CONTENT_FILTERED":
            raise ContentRejected(
                f"{VENDOR} filtered the generated image (content moderation). "
                "Edit the description and try again.", provider=VENDOR, status=200, detail=finish_reason)
        picture = _decode(response)
        if on_progress:
            on_progress(0.9, "Fitting the image to the frame")
        return ImageResult(
            data=encode_png(fit_to_frame(picture, request.size, "crop")), mime="image/png",
            size=request.size, seed=_seed_used(response, request.seed), model=model.id,
            provider=self.name, prompt=request.prompt, finish_reason=finish_reason)


def _decode(response: httpx.Response) -> Image.Image:
    if not response.headers.get("content-type", "").startswith("image/"):
        raise BadResponse(f"{VENDOR} answered without an image. Try again.", provider=VENDOR, status=200,
                          detail=response.headers.get("content-type", ""))
    return decode_picture(response.content, VENDOR)


def _seed_used(response: httpx.Response, requested: int) -> int:
    value = response.headers.get("seed", "")
    return int(value) if value.isdigit() else requested


def _vendor_errors(response: httpx.Response) -> str:
    """The ``errors`` list of the vendor's JSON error body, joined and trimmed for display."""
    try:
        body = response.json()
        errors = body.get("errors") or [body.get("message") or body.get("name") or ""]
        text = "; ".join(str(e) for e in errors if e)
    except ValueError:
        text = ""
    return text[:300]


def _error_for(response: httpx.Response) -> ProviderError:
    status, detail = response.status_code, _vendor_errors(response)
    said = f" ({detail})" if detail else ""
    common = {"provider": VENDOR, "status": status, "detail": detail}
    if status == 400:
        return InvalidRequest(f"{VENDOR} rejected the request as invalid{said}. Edit the description "
                              "and try again.", **common)
    if status == 401:
        return AuthenticationFailed(f"{VENDOR} refused the API key. An admin can update it in the "
                                    "workspace settings.", **common)
    if status == 402:
        return OutOfVendorCredits(f"The {VENDOR} account has run out of credits. An admin needs to top "
                                  "it up with Stability AI, or pick the draft model meanwhile.", **common)
    if status == 403:
        return ContentRejected(f"{VENDOR} flagged this description (content moderation). Edit the "
                               "description and try again.", **common)
    if status == 413:
        return InvalidRequest(f"The request was too large for {VENDOR} (10 MiB at most). Shorten the "
                              "description and try again.", **common)
    if status == 422:
        return InvalidRequest(f"{VENDOR} could not use this description{said}. It only accepts English "
                              "prompts; edit the description and try again.", **common)
    if status == 429:
        return RateLimited(f"{VENDOR} is limiting how fast we can ask (150 requests per 10 seconds). "
                           "The scene will be retried shortly.",
                           retry_after=retry_after_seconds(response) or RATE_WINDOW_SECONDS, **common)
    if status >= 500:
        return ProviderUnavailable(f"{VENDOR} had a server error (HTTP {status}). Try again in a few "
                                   "minutes.", retry_after=retry_after_seconds(response), **common)
    return InvalidRequest(f"{VENDOR} refused the request (HTTP {status}){said}.", **common)
