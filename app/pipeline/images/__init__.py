"""Image providers behind one interface, chosen by model id from the catalogue.

Example::

    from app.pipeline.images import ImageRequest, build_prompt, image_provider, random_seed

    request = ImageRequest(prompt=build_prompt(project.style, segment.description),
                           size=(1920, 1080), aspect_ratio="16:9", seed=random_seed(), model="core")
    result = image_provider("core", stability_api_key=key).generate(request)
    result = image_provider("selfhosted", selfhosted=SelfHostedServer("a1111", "http://gpu:7860")).generate(request)
"""
from __future__ import annotations

from .base import (
    ASPECT_RATIOS,
    MODELS,
    TIERS,
    AuthenticationFailed,
    BadResponse,
    ContentRejected,
    ImageModel,
    ImageProvider,
    ImageRequest,
    ImageResult,
    InvalidRequest,
    OutOfGPUMemory,
    OutOfVendorCredits,
    ProviderError,
    ProviderNotConfigured,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    RateLimited,
    ServerBusy,
    UnknownModel,
    build_prompt,
    credit_cost,
    fit_to_frame,
    get_model,
    models_for_tier,
    random_seed,
    tier_allows,
)
from .draft import DraftImageProvider
from .selfhosted import SelfHostedServer, selfhosted_provider, server_problem
from .stability import DEFAULT_BASE_URL as STABILITY_BASE_URL
from .stability import StabilityImageProvider


def image_provider(model_id: str, *, stability_api_key: str | None = None,
                   stability_base_url: str = STABILITY_BASE_URL, timeout: float = 90.0,
                   selfhosted: SelfHostedServer | None = None) -> ImageProvider:
    """The provider that serves ``model_id``; ProviderNotConfigured if it needs a key or server that's missing."""
    model = get_model(model_id)
    if model.provider == "draft":
        return DraftImageProvider()
    if model.provider == "selfhosted":
        return selfhosted_provider(selfhosted or SelfHostedServer("", ""))
    return StabilityImageProvider(stability_api_key, base_url=stability_base_url, timeout=timeout)


__all__ = [
    "ASPECT_RATIOS", "MODELS", "TIERS", "AuthenticationFailed", "BadResponse", "ContentRejected",
    "DraftImageProvider", "ImageModel", "ImageProvider", "ImageRequest", "ImageResult", "InvalidRequest",
    "OutOfGPUMemory", "OutOfVendorCredits", "ProviderError", "ProviderNotConfigured", "ProviderTimeout",
    "ProviderUnavailable", "ProviderUnreachable", "RateLimited", "SelfHostedServer", "ServerBusy",
    "StabilityImageProvider", "UnknownModel", "build_prompt", "credit_cost", "fit_to_frame", "get_model",
    "image_provider", "models_for_tier", "random_seed", "selfhosted_provider", "server_problem", "tier_allows",
]
