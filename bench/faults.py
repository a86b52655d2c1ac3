"""A fault-injecting HTTP proxy between the shop and the gateway emulators (500, reset, hang)."""

from __future__ import annotations

import http.client
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

#: What a failing call does. ``500``: answered at once with a gateway error, never forwarded.
#: ``reset``: forwarded (the gateway acts on it), then the connection is reset before the
#: answer: the shop cannot know what happened. ``timeout``: forwarded, then no answer at
#: all until the shop gives up (or ``hang`` seconds pass).
KINDS = ("500", "reset", "timeout")
#: Headers that belong to one connection and are not passed on.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"}


class FaultProxy:
    """Forwards every request to ``upstream``; a share ``rate`` of them fail (``KINDS`` in
    turn, drawn from a seeded generator). ``enabled`` switches the faults on and off while
    the proxy runs; ``counts`` says what happened to how many calls."""

    def __init__(
        self,
        port: int,
        upstream: str,
        *,
        rate: float = 0.05,
        seed: int = 0,
        hang: float = 60.0,
        host: str = "127.0.0.1",
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rate, self.hang = rate, hang
        self.enabled = threading.Event()
        self.enabled.set()
        self.counts: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.server.handle_error = self._client_gone  # type: ignore[method-assign]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _client_gone(self, request: Any, client_address: Any) -> None:
        """The shop closed its end first (it stopped waiting): counted, not printed."""
        with self._lock:
            self.counts["shop_hung_up"] += 1

    def draw(self, path: str) -> str:
        """``forward``, or the fault this call gets; counted either way."""
        with self._lock:
            kind = "forward"
            if self.enabled.is_set() and self._random.random() < self.rate:
                kind = KINDS[self._random.randrange(len(KINDS))]
            self.counts[kind] += 1
            return kind

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the shop's pooled session expects

            def log_message(self, format: str, *args: Any) -> None:
                pass  # counted, not logged

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                kind = proxy.draw(self.path)
                if kind == "500":
                    self._answer(500, {"error": {"code": "server_error", "message": "Injected"}})
                    return
                # The gateway sees the request as the shop sent it, under its own host name
                # (so the URLs it builds, such as the payment page's, are its own).
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in HOP_BY_HOP and k.lower() != "host"
                }
                headers["Host"] = "{}:{}".format(*proxy.upstream)
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                except OSError as exc:
                    self._answer(502, {"error": {"code": "proxy", "message": str(exc)}})
                    return
                finally:
                    upstream.close()
                if kind == "reset":
                    self._reset()
                    return
                if kind == "timeout":
                    self._hang()
                    return
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

            def _answer(self, status: int, data: Any) -> None:
                content = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _reset(self) -> None:
                # SO_LINGER with a zero timeout: close() sends RST, not FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

            def _hang(self) -> None:
                # Say nothing until the shop closes its end (recv returns b"") or time runs out.
                stop = time.monotonic() + proxy.hang
                self.connection.settimeout(0.5)
                while time.monotonic() < stop:
                    try:
                        if not self.connection.recv(65536):
                            break
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                self.close_connection = True

        return Handler
