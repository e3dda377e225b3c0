"""HTTP front of the sandbox bank: JSON POST endpoints at Plaid's paths."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from connectors.sandbox_bank.bank import SandboxBank

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20


def _handler_for(bank: SandboxBank) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "finlake-sandbox-bank/1"
        timeout = 30
        wbufsize = 1 << 16  # headers and body leave in one write (no Nagle/delayed-ACK stall)
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._reply(413, {"error_type": "INVALID_REQUEST", "error_code": "INVALID_BODY",
                                  "error_message": "missing or too large Content-Length",
                                  "display_message": None, "request_id": ""})
                return
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None  # the bank answers INVALID_BODY
            path = self.path.split("?", 1)[0]
            status, resp, extra = bank.respond(path, body, dict(self.headers.items()))
            try:
                self._reply(status, resp, extra)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            self._reply(405, {"error_type": "INVALID_REQUEST", "error_code": "METHOD_NOT_ALLOWED",
                              "error_message": "use POST with a JSON body",
                              "display_message": None, "request_id": ""})

        def _reply(self, status: int, payload: dict | bytes,
                   extra: dict[str, str] | None = None) -> None:
            # bytes are sent as they are: a body the bank cut on purpose (unreadable_page)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            # Paths and status codes only: bodies (tokens) are never logged.
            log.debug("%s %s", self.address_string(), format % args)

    return Handler


class RunningBank:
    """A bank served on a local port by a daemon thread; also a context manager."""

    def __init__(self, bank: SandboxBank, server: ThreadingHTTPServer) -> None:
        self.bank = bank
        self._server = server
        host, port = server.server_address[:2]
        self.host: str = host.decode() if isinstance(host, bytes) else str(host)
        self.port: int = int(port)
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True,
                                        name=f"sandbox-bank-{self.port}")
        self._thread.start()
        self._stopped = False

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)

    def __enter__(self) -> RunningBank:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def serve(bank: SandboxBank, host: str = "127.0.0.1", port: int = 0) -> RunningBank:
    """Serve ``bank`` on ``host:port`` (0 = a free port) in a background daemon thread."""
    server = ThreadingHTTPServer((host, port), _handler_for(bank))
    server.daemon_threads = True
    return RunningBank(bank, server)
