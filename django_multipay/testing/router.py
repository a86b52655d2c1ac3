"""Route ``requests`` calls for one host into the Django app in-process (emulators, notify).

Fast, and shares the test's database transaction; for real HTTP use pytest-django's
``live_server`` and point the gateway's ``base_url`` at it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
import responses
from django.test import Client
from django.utils import translation


class EmulatorRouter:
    """Records every request sent to ``host`` and answers it from the Django test client."""

    def __init__(self, host: str = "testserver") -> None:
        self.host = host
        self.calls: list[requests.PreparedRequest] = []
        self.client = Client(raise_request_exception=True)

    def __call__(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        self.calls.append(request)
        parts = urlsplit(request.url or "")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {
            k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "host")
        }
        content_type = headers.pop("Content-Type", "application/octet-stream")
        body = request.body or b""
        # The app answers on this thread, and its LocaleMiddleware activates the language of
        # this request; the caller's own request keeps its language, as with a real gateway.
        with translation.override(translation.get_language()):
            response = self.client.generic(
                request.method or "GET",
                path,
                data=body.encode() if isinstance(body, str) else body,
                content_type=content_type,
                headers=headers,
            )
        out_headers = {k: v for k, v in response.items() if k.lower() != "content-length"}
        return response.status_code, out_headers, response.content

    def requests_to(
        self, path_pattern: str, method: str | None = None
    ) -> list[requests.PreparedRequest]:
        """Recorded requests whose path matches the regular expression (and method)."""
        rx = re.compile(path_pattern)
        return [
            r
            for r in self.calls
            if rx.search(urlsplit(r.url or "").path) and (method is None or r.method == method)
        ]


@contextmanager
def route_to_django(host: str = "testserver", mock: Any = None) -> Iterator[EmulatorRouter]:
    """Within the block, ``requests`` to ``http://<host>/…`` are served by the Django app."""
    router = EmulatorRouter(host)
    pattern = re.compile(rf"^https?://{re.escape(host)}(:\d+)?/")
    own = mock is None
    mock = mock or responses.RequestsMock(assert_all_requests_are_fired=False)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
        mock.add_callback(method, pattern, callback=router)
    if own:
        with mock:
            yield router
    else:
        yield router


@contextmanager
def emulators(host: str = "testserver") -> Iterator[EmulatorRouter]:
    """:func:`route_to_django` with the emulators' state emptied before and after."""
    from django_multipay.sandbox.store import store

    store.reset()
    try:
        with route_to_django(host) as router:
            yield router
    finally:
        store.reset()
