"""Fake third-party HTTP APIs: real HTTP servers on 127.0.0.1 speaking each vendor's documented format.

Use them as context managers and point the client's base URL at ``server.url``; every request is
recorded in ``server.requests`` so tests can assert on what was actually sent over the wire.
"""
from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    form: dict[str, str] = field(default_factory=dict)  # multipart/form-data fields
    form_filenames: dict[str, str | None] = field(default_factory=dict)  # filename per field, None if plain
    files: dict[str, bytes] = field(default_factory=dict)  # the bytes of each file part

    def json(self):
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stall before answering (for client timeouts)


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, str | None], dict[str, bytes]]:
    """Fields, their filenames, and the bytes of file parts from a multipart/form-data body."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields, filenames, files = {}, {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        filenames[name] = part.get_filename()
        if filenames[name] is None:
            fields[name] = payload.decode("utf-8")
        else:
            files[name] = payload
    return fields, filenames, files


class FakeServer:
    """A threaded HTTP server whose ``answer(recorded)`` decides each reply."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self._stop = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                content_type = recorded.headers.get("content-type", "")
                if content_type.startswith("multipart/form-data"):
                    recorded.form, recorded.form_filenames, recorded.files = parse_multipart(content_type, body)
                fake.requests.append(recorded)
                reply = fake.answer(recorded)
                if reply.delay and fake._stop.wait(reply.delay):
                    return
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            do_GET = do_POST = _serve

            def log_message(self, *args):  # keep test output quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    def answer(self, request: Recorded) -> Reply:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
