"""The "self-hosted" image tier: the operator's own GPU server, driven through one of three APIs.

Example::

    server = SelfHostedServer("a1111", "http://gpu-box:7860", model="sd_xl_base_1.0")
    result = selfhosted_provider(server).generate(request)
"""
from __future__ import annotations

from ..base import ImageProvider, ProviderNotConfigured
from .a1111 import A1111ImageProvider
from .comfyui import REQUIRED, ComfyUIImageProvider, workflow_problem
from .openai_images import OpenAIImagesProvider
from .server import BACKEND_LABELS, SelfHostedServer

BACKENDS = {"a1111": A1111ImageProvider, "comfyui": ComfyUIImageProvider, "openai": OpenAIImagesProvider}


def server_problem(server: SelfHostedServer) -> str | None:
    """Why the configured server can't be used, as a clause for "unavailable: …"; None when it can."""
    if not server.backend:
        return ("no image server is configured (whoever runs Scriptreel sets SELFHOSTED_IMAGE_BACKEND and "
                "SELFHOSTED_IMAGE_URL)")
    if not server.url.startswith(("http://", "https://")):
        return "SELFHOSTED_IMAGE_URL is not set to an http:// or https:// address"
    if server.backend == "comfyui":
        return workflow_problem(server.workflow, server, REQUIRED)
    return None


def selfhosted_provider(server: SelfHostedServer) -> ImageProvider:
    """The back end's provider; ProviderNotConfigured says what the operator has to set."""
    if problem := server_problem(server):
        raise ProviderNotConfigured(f"Your image server can't be used: {problem}.", provider=server.name)
    return BACKENDS[server.backend](server)


__all__ = ["BACKENDS", "BACKEND_LABELS", "SelfHostedServer", "selfhosted_provider", "server_problem"]
