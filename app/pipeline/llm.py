"""A small client for OpenAI-compatible chat-completions endpoints, with user-facing errors."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class ChatConfig:
    """Where and how to reach the endpoint: base URL (up to /v1), API key, model name."""

    base_url: str
    api_key: str
    model: str
    timeout: float = 30.0


class LLMError(Exception):
    """The endpoint failed; str(error) is a message fit to show the user."""


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_DETAIL_CHARS = 200


def chat(config: ChatConfig, messages: list[dict[str, str]], *, temperature: float = 0.2) -> str:
    """POST {base_url}/chat/completions and return choices[0].message.content."""
    url = config.base_url.rstrip("/") + "/chat/completions"
    payload = {"model": config.model, "messages": messages, "temperature": temperature}
    headers = {"Authorization": f"Bearer {config.api_key}"}
    try:
        response = httpx.post(url, json=payload, headers=headers, timeout=config.timeout)
    except httpx.TimeoutException as error:
        raise LLMError(f"The language model did not answer within {config.timeout:g} s.") from error
    except httpx.HTTPError as error:
        raise LLMError(f"Could not reach the language model at {config.base_url}: {error}.") from error
    if response.status_code != 200:
        raise LLMError(_status_message(response))
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise LLMError("The language model sent a reply that is not a chat completion.") from error
    if not isinstance(content, str) or not content.strip():
        raise LLMError("The language model sent an empty reply.")
    return content.strip()


def parse_json_object(content: str) -> dict:
    """The JSON object in a reply, tolerating Markdown code fences and text around it."""
    body = _FENCE.sub("", content.strip())
    start, end = body.find("{"), body.rfind("}")
    try:
        value = json.loads(body[start : end + 1]) if 0 <= start < end else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise LLMError("The language model's answer was not the JSON we asked for.")
    return value


def _status_message(response: httpx.Response) -> str:
    """A sentence for a non-200 answer, with the provider's own words when it gave some."""
    status = response.status_code
    detail = _provider_detail(response)
    suffix = f" The service said: {detail}" if detail else ""
    if status in (401, 403):
        return f"The language model rejected the API key (HTTP {status}). Check the key in settings.{suffix}"
    if status == 404:
        return f"The language model endpoint or model was not found (HTTP 404). Check the base URL and model name.{suffix}"
    if status == 429:
        wait = response.headers.get("retry-after")
        when = f"in {wait} s" if wait and wait.isdigit() else "in a minute"
        return f"The language model is limiting requests (HTTP 429). Try again {when}.{suffix}"
    if status >= 500:
        return f"The language model service failed (HTTP {status}). Try again later.{suffix}"
    return f"The language model refused the request (HTTP {status}).{suffix}"


def _provider_detail(response: httpx.Response) -> str:
    """error.message from an OpenAI-style error body, shortened; empty when there is none."""
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if not isinstance(message, str):
        return ""
    message = " ".join(message.split())
    return message if len(message) <= _DETAIL_CHARS else message[: _DETAIL_CHARS - 1] + "…"
