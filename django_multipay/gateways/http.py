"""The one HTTP client every gateway uses: pooled, timed out, retried only when safe, redacted."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from django_multipay import __version__
from django_multipay.exceptions import GatewayAPIError, GatewayConnectionError
from django_multipay.redaction import Redactor

logger = logging.getLogger("django_multipay.http")

#: Methods the client may repeat on a connection error or a 502/503/504. Never POST/PUT/PATCH:
#: repeating a write could charge or refund twice.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class HttpClient:
    """A ``requests.Session`` per gateway instance, with the project's policies applied."""

    def __init__(
        self,
        *,
        gateway: str,
        base_url: str,
        timeout: tuple[float, float] = (5.0, 30.0),
        retries: int = 2,
        backoff: float = 0.3,
        user_agent: str | None = None,
        secrets: Iterable[str | None] = (),
        redact_headers: Iterable[str] = ("authorization",),
    ) -> None:
        self.gateway = gateway
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = (float(timeout[0]), float(timeout[1]))
        self.redactor = Redactor(secrets)
        self.redact_headers = tuple(redact_headers)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent or f"django-multipay/{__version__}"
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=(502, 503, 504),
            allowed_methods=IDEMPOTENT_METHODS,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=10)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        expected: Iterable[int] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; raise ``GatewayConnectionError`` or ``GatewayAPIError`` on failure.

        ``expected`` lists the acceptable status codes (default: any 2xx).
        """
        method = method.upper()
        url = self.url(path)
        safe_url = self.redactor.text(url)
        kwargs.setdefault("timeout", self.timeout)
        started = time.monotonic()
        try:
            response = self.session.request(method, url, headers=dict(headers or {}), **kwargs)
        except requests.Timeout as exc:
            logger.warning("%s %s timed out [%s]", method, safe_url, self.gateway)
            raise GatewayConnectionError(
                f"{method} {safe_url} timed out ({type(exc).__name__})", gateway=self.gateway
            ) from None
        except requests.RequestException as exc:
            logger.warning(
                "%s %s failed: %s [%s]", method, safe_url, type(exc).__name__, self.gateway
            )
            raise GatewayConnectionError(
                f"{method} {safe_url} failed: {type(exc).__name__}", gateway=self.gateway
            ) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.info(
            "%s %s -> %s in %.0f ms [%s]",
            method,
            safe_url,
            response.status_code,
            elapsed_ms,
            self.gateway,
        )
        ok = (
            response.status_code in set(expected)
            if expected is not None
            else 200 <= response.status_code < 300
        )
        if not ok:
            answer = self.redactor.data(_json_or_text(response))
            # Secret-looking keys (token, api_key…) are masked in the message too.
            body = answer if isinstance(answer, str) else json.dumps(answer)[:2000]
            raise GatewayAPIError(
                f"{method} {safe_url} answered HTTP {response.status_code}: {body}",
                gateway=self.gateway,
                http_status=response.status_code,
                response=answer,
            )
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return its JSON body; a non-JSON answer is a ``GatewayAPIError``."""
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise GatewayAPIError(
                f"{method} {self.redactor.text(self.url(path))} answered a body that is not JSON",
                gateway=self.gateway,
                http_status=response.status_code,
                response=self.redactor.text(response.text[:500]),
            ) from None

    def close(self) -> None:
        self.session.close()


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]
