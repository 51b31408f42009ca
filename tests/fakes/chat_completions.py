"""A fake OpenAI-compatible chat-completions endpoint, from the documented request/response format."""
from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable

from tests.fakes import FakeServer, Recorded, Reply

API_KEY = "sk-test-key"
MODEL = "gpt-test-mini"


class FakeChatCompletions(FakeServer):
    """An OpenAI-compatible POST /v1/chat/completions, from the documented request and response format.

    ``reply_with(fn)`` sets what the assistant says given the request's messages; ``will_fail``,
    ``will_stall`` and ``will_send`` script the next answers.
    """

    def __init__(self, api_key: str = API_KEY):
        super().__init__()
        self.api_key = api_key
        self.responder: Callable[[list[dict]], str] = lambda messages: "A wide shot of a harbour at dawn."
        self._script: deque[Reply] = deque()

    def reply_with(self, responder: Callable[[list[dict]], str]) -> None:
        self.responder = responder

    def will_fail(self, status: int, message: str = "error", retry_after: int | None = None) -> None:
        headers = {"content-type": "application/json"}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
        self._script.append(Reply(status, json.dumps(body).encode(), headers))

    def will_stall(self, seconds: float) -> None:
        self._script.append(Reply(200, b"{}", {"content-type": "application/json"}, delay=seconds))

    def will_send(self, body: bytes) -> None:
        self._script.append(Reply(200, body, {"content-type": "application/json"}))

    @property
    def chat_requests(self) -> list[dict]:
        return [json.loads(r.body) for r in self.requests if r.path == "/v1/chat/completions"]

    def answer(self, request: Recorded) -> Reply:
        if self._script:
            return self._script.popleft()
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return self._error(404, f"Unknown request to {request.path}")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._error(401, "Incorrect API key provided.", code="invalid_api_key")
        try:
            payload = json.loads(request.body)
        except ValueError:
            return self._error(400, "We could not parse the JSON body of your request.")
        messages = payload.get("messages")
        if not isinstance(payload.get("model"), str) or not isinstance(messages, list) or not all(
            isinstance(m, dict) and m.get("role") in {"system", "user", "assistant"} and isinstance(m.get("content"), str)
            for m in messages
        ):
            return self._error(400, "Invalid request: 'model' and 'messages' are required.")
        completion = {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.responder(messages)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
        return Reply(200, json.dumps(completion).encode(), {"content-type": "application/json"})

    def _error(self, status: int, message: str, code: str | None = None) -> Reply:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
        return Reply(status, json.dumps(body).encode(), {"content-type": "application/json"})
