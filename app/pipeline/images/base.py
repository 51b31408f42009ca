"""Image provider interface: the model catalogue, request/result dataclasses and provider errors."""
from __future__ import annotations

import io
import secrets
import math
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping, Protocol

import httpx
from PIL import Image, ImageFilter, ImageOps

ProgressCallback = Callable[[float, str], None]
Tier = Literal["draft", "standard", "advanced", "premium", "selfhosted"]
# Plans cap models by these ordered tiers; "selfhosted" is outside the order: the operator
# chooses which plans may use their own GPU server.
TIERS: tuple[Tier, ...] = ("draft", "standard", "advanced", "premium")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
MAX_SEED = 4_294_967_294  # Stability's documented upper bound; 0 means "pick one for me"
MAX_VENDOR_PIXELS = 16_000_000  # far above any size a provider returns; guards the decoder


@dataclass(frozen=True)
class ImageModel:
    """One pickable image model; ``cost`` is the default credit price, overridable by config."""

    id: str
    label: str
    provider: Literal["draft", "stability", "selfhosted"]
    tier: Tier
    cost: int
    endpoint: str | None = None  # path under the vendor's base URL
    vendor_model: str | None = None  # the sd3 endpoint's ``model`` field
    accepts_negative_prompt: bool = True


_SD3 = "/v2beta/stable-image/generate/sd3"
# Costs follow Stability's own per-image credit prices (flash 2.5, core 3, medium 3.5,
# large-turbo 4, large 6.5, ultra 8), rounded up so no model is sold below cost.
MODELS: dict[str, ImageModel] = {m.id: m for m in (
    ImageModel("draft", "Draft storyboard (offline)", "draft", "draft", 1),
    # Distilled few-step models ignore negative prompts; the docs say large-turbo rejects them.
    ImageModel("sd3.5-flash", "SD 3.5 Flash", "stability", "standard", 3, _SD3, "sd3.5-flash",
               accepts_negative_prompt=False),
    ImageModel("core", "Stable Image Core", "stability", "standard", 3,
               "/v2beta/stable-image/generate/core"),
    ImageModel("sd3.5-medium", "SD 3.5 Medium", "stability", "standard", 4, _SD3, "sd3.5-medium"),
    ImageModel("sd3.5-large-turbo", "SD 3.5 Large Turbo", "stability", "advanced", 4, _SD3,
               "sd3.5-large-turbo", accepts_negative_prompt=False),
    ImageModel("sd3.5-large", "SD 3.5 Large", "stability", "advanced", 7, _SD3, "sd3.5-large"),
    ImageModel("ultra", "Stable Image Ultra", "stability", "premium", 8,
               "/v2beta/stable-image/generate/ultra"),
    # The operator's own server (AUTOMATIC1111/Forge, ComfyUI or OpenAI-compatible); its price
    # and the plans that may use it are instance settings.
    ImageModel("selfhosted", "Your GPU server (self-hosted)", "selfhosted", "selfhosted", 1),
)}


def get_model(model_id: str) -> ImageModel:
    """The catalogue entry for ``model_id``; UnknownModel if there is none."""
    try:
        return MODELS[model_id]
    except KeyError:
        raise UnknownModel(f"There is no image model called “{model_id}”.") from None


def credit_cost(model_id: str, costs: Mapping[str, int] | None = None) -> int:
    """Credits one image from ``model_id`` costs, with the app config's overrides applied."""
    return (costs or {}).get(model_id, get_model(model_id).cost)


def tier_allows(max_tier: Tier, model_id: str) -> bool:
    """True if a plan capped at ``max_tier`` may use ``model_id`` (never for tiers outside the order)."""
    tier = get_model(model_id).tier
    return tier in TIERS and TIERS.index(tier) <= TIERS.index(max_tier)


def models_for_tier(max_tier: Tier) -> list[ImageModel]:
    """Catalogue entries a plan capped at ``max_tier`` may pick, cheapest tier first."""
    return [m for m in MODELS.values() if tier_allows(max_tier, m.id)]


def build_prompt(style: str, description: str) -> str:
    """The prompt sent to a provider: the project's visual style, then the scene description."""
    style, description = " ".join(style.split()), " ".join(description.split())
    if not style:
        return description
    if not description:
        return style
    return f"{style.rstrip('.')}. {description}"


def random_seed() -> int:
    """A fresh seed for the caller to store with the request."""
    return secrets.randbelow(MAX_SEED) + 1


@dataclass(frozen=True)
class ImageRequest:
    """What to draw, at which output size; ``prompt`` already carries the project's style."""

    prompt: str
    size: tuple[int, int]  # the project's output resolution, e.g. (1920, 1080)
    seed: int
    model: str = "draft"
    aspect_ratio: str = "16:9"
    negative_prompt: str = ""
    # The project's reference image (PNG or JPEG bytes), for providers that accept one, and how
    # far the result may move from it (img2img denoising strength: 0 keeps it, 1 ignores it).
    reference: bytes | None = field(default=None, repr=False)
    reference_strength: float = 0.65

    def __post_init__(self):
        if self.aspect_ratio not in ASPECT_RATIOS:
            raise ValueError(f"aspect ratio must be one of {ASPECT_RATIOS}, not {self.aspect_ratio!r}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be within 0..{MAX_SEED}")
        if min(self.size) < 16:
            raise ValueError(f"output size {self.size} is too small")
        if not 0 < self.reference_strength <= 1:
            raise ValueError("reference strength must be within (0, 1]")


@dataclass(frozen=True)
class ImageResult:
    """A generated image at exactly the requested size, with its provenance."""

    data: bytes
    mime: str
    size: tuple[int, int]
    seed: int
    model: str
    provider: str
    prompt: str
    finish_reason: str | None = None
    details: Mapping[str, object] = field(default_factory=dict)  # provider specifics for provenance


class ImageProvider(Protocol):
    name: str
    accepts_reference: bool  # whether ImageRequest.reference is used

    def generate(self, request: ImageRequest, *, on_progress: ProgressCallback | None = None) -> ImageResult:
        """Produce one image for ``request`` or raise a ProviderError."""


# ---- errors -------------------------------------------------------------------------------

class ProviderError(Exception):
    """A provider call failed; ``user_message`` is safe to show on the scene (never holds a key)."""

    retryable = False  # whether the same request may succeed later (the job layer retries these)

    def __init__(self, user_message: str, *, provider: str = "", status: int | None = None,
                 retry_after: float | None = None, detail: str = ""):
        super().__init__(user_message)
        self.user_message = user_message
        self.provider = provider
        self.status = status
        self.retry_after = retry_after  # seconds the vendor asked us to wait, when it said so
        self.detail = detail  # the vendor's own wording, for logs

    def __reduce__(self):
        # Keeps every field when RQ pickles the exception into the job result.
        return (type(self), (self.user_message,), self.__dict__)


class UnknownModel(ProviderError):
    """The model id is not in the catalogue."""


class ProviderNotConfigured(ProviderError):
    """A key (or region) the provider needs was not given."""


class AuthenticationFailed(ProviderError):
    """The vendor refused the key."""


class OutOfVendorCredits(ProviderError):
    """The vendor account has no credit or quota left."""


class ContentRejected(ProviderError):
    """The vendor's moderation refused the prompt or filtered the output."""


class InvalidRequest(ProviderError):
    """The vendor said the request itself is wrong (parameters, size, language)."""


class BadResponse(ProviderError):
    """The vendor answered with something that is not what its API promises."""


class RateLimited(ProviderError):
    """Too many requests; try again after ``retry_after`` seconds."""

    retryable = True


class ProviderUnavailable(ProviderError):
    """The vendor had a server-side error."""

    retryable = True


class ProviderTimeout(ProviderError):
    """The vendor did not answer in time."""

    retryable = True


class ProviderUnreachable(ProviderError):
    """No connection could be made to the vendor."""

    retryable = True


class ServerBusy(ProviderError):
    """A self-hosted server's queue is full; the same request may go through later."""

    retryable = True


class OutOfGPUMemory(ProviderError):
    """The image server ran out of GPU memory; retrying at once would hit the same wall."""


# ---- fitting pictures to the output frame ------------------------------------------------

FitMode = Literal["crop", "letterbox"]


def fit_to_frame(image: Image.Image, size: tuple[int, int], fit: FitMode = "crop",
                 background: Literal["blur", "black"] = "blur") -> Image.Image:
    """``image`` at exactly ``size``: cropped to cover it, or letterboxed inside it."""
    image = image.convert("RGB")
    if fit == "crop":
        return ImageOps.fit(image, size, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    inner = ImageOps.contain(image, size, Image.Resampling.LANCZOS)
    if background == "blur":
        # Blurring a small copy then enlarging it is as smooth as a huge-radius blur and far cheaper.
        small = ImageOps.fit(image, (max(1, size[0] // 16), max(1, size[1] // 16)), Image.Resampling.BILINEAR)
        small = small.filter(ImageFilter.GaussianBlur(2))
        canvas = small.resize(size, Image.Resampling.BICUBIC).point(lambda v: int(v * 0.55))
    else:
        canvas = Image.new("RGB", size, (0, 0, 0))
    canvas.paste(inner, ((size[0] - inner.width) // 2, (size[1] - inner.height) // 2))
    return canvas


def generation_size(frame: tuple[int, int], side: int, multiple: int) -> tuple[int, int]:
    """About ``side``² pixels in the frame's aspect ratio, each side a multiple of ``multiple``
    (latent diffusion works on 8-pixel cells; some servers want 64)."""
    ratio = frame[0] / frame[1]
    width, height = side * math.sqrt(ratio), side / math.sqrt(ratio)
    return tuple(max(multiple, round(v / multiple) * multiple) for v in (width, height))


def decode_picture(data: bytes, vendor: str, status: int | None = 200) -> Image.Image:
    """A vendor's image bytes decoded, or BadResponse; refuses implausibly large pictures unread."""
    try:
        picture = Image.open(io.BytesIO(data))
        if picture.width * picture.height > MAX_VENDOR_PIXELS:
            raise ValueError(f"{picture.size} is implausibly large")
        picture.load()
        return picture
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise BadResponse(f"{vendor} sent an image that could not be read. Try again.",
                          provider=vendor, status=status, detail=str(exc)) from None


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes with no metadata, identical for identical pixels."""
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


# ---- HTTP plumbing shared by the vendor clients ------------------------------------------

def send(client: httpx.Client, method: str, url: str, *, vendor: str, timeout_message: str = "",
         unreachable_message: str = "", **kwargs) -> httpx.Response:
    """``client.request`` with transport failures turned into retryable ProviderErrors
    (with the caller's own wording when it knows better what to advise)."""
    try:
        return client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise ProviderTimeout(timeout_message or f"{vendor} did not answer in time. Try again in a moment.",
                              provider=vendor, detail=type(exc).__name__) from None
    except httpx.TransportError as exc:
        raise ProviderUnreachable(
            unreachable_message or f"Could not connect to {vendor}. Check the server's network and try again.",
            provider=vendor, detail=type(exc).__name__) from None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds, if the vendor sent a numeric one."""
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
