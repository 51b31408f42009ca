"""An HTTP proxy on loopback, in front of the S3 server, that damages uploads of chosen keys.

It stands for a store or network path that silently changes bytes: S3 accepts such a PUT
because the client sends no checksum unless the API requires one, so only reading the
object back reveals it.
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import unquote, urlsplit

import httpx

HOP_BY_HOP = {"host", "connection", "content-length", "transfer-encoding", "expect", "keep-alive"}


class CorruptingS3Proxy:
    """Forwards every request upstream; flips the first byte of uploads to keys ending in the suffix."""

    def __init__(self, upstream: str, corrupt_suffix: str):
        self.upstream, self.corrupt_suffix = upstream, corrupt_suffix
        self.corrupted: list[str] = []
        self._client = httpx.Client(base_url=upstream, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        path = unquote(urlsplit(handler.path).path)
        if handler.command == "PUT" and body and path.endswith(self.corrupt_suffix):
            body = bytes([body[0] ^ 0xFF]) + body[1:]
            self.corrupted.append(path)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        response = self._client.request(handler.command, handler.path, headers=headers, content=body)
        handler.send_response(response.status_code)
        head = handler.command == "HEAD"  # keeps the object's length, which HEAD reports
        for name, value in response.headers.items():
            if name.lower() not in HOP_BY_HOP or (head and name.lower() == "content-length"):
                handler.send_header(name, value)
        if not head:
            handler.send_header("Content-Length", str(len(response.content)))
        handler.end_headers()
        if not head:
            handler.wfile.write(response.content)

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers boto's "Expect: 100-continue"

            def log_message(self, *args) -> None:
                pass

            def do_request(self) -> None:
                proxy._forward(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_request

        return Handler
