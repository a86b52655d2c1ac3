"""The one HTTP client every gateway uses: pooled, timed out, retried only when safe, redacted."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.core.signals import request_finished, request_started
from requests.adapters import HTTPAdapter

from django_multipay import __version__, logs, metrics
from django_multipay.conf import DEFAULTS, multipay_settings
from django_multipay.exceptions import GatewayAPIError, GatewayConnectionError
from django_multipay.redaction import Redactor

logger = logs.get_logger("django_multipay.http")

#: Methods the client may repeat on a connection error, a 502/503/504 or a 429. Never
#: POST/PUT/PATCH: repeating a write could charge or refund twice.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Answers after which an idempotent read is tried again.
RETRY_STATUSES = frozenset({502, 503, 504})
#: "Too Many Requests": repeated only by a client given ``rate_limit_retries``, with its own count.
RATE_LIMITED = 429
#: No attempt starts with less of the time budget left than this: it could not be answered.
MIN_ATTEMPT_SECONDS = 0.5

# -- the time budget -------------------------------------------------------------------------

#: Deadlines (``time.monotonic()`` values) of the scopes now open, innermost last.
_deadlines: ContextVar[tuple[float, ...]] = ContextVar("multipay_deadlines", default=())
#: Kept open at most: a server that never closed a request must not grow the stack for ever.
_MAX_OPEN_SCOPES = 8


def _clock() -> float:
    return time.monotonic()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _seconds(value: Any, default: float) -> float:
    """A positive number of seconds from a setting, else ``default`` (W010 reports it)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and value > 0 and math.isfinite(value):
        return float(value)
    return default


def request_budget() -> float | None:
    """``MULTIPAY["REQUEST_TIME_BUDGET"]`` in seconds; ``None`` when the shop turned it off."""
    value = multipay_settings.REQUEST_TIME_BUDGET
    return None if value is None else _seconds(value, DEFAULTS["REQUEST_TIME_BUDGET"])


def background_budget() -> float:
    """``MULTIPAY["BACKGROUND_TIME_BUDGET"]``: each gateway call outside a web request."""
    return _seconds(multipay_settings.BACKGROUND_TIME_BUDGET, DEFAULTS["BACKGROUND_TIME_BUDGET"])


def deadline() -> float | None:
    """When the innermost open time budget runs out (``time.monotonic()``), or ``None``."""
    open_scopes = _deadlines.get()
    return open_scopes[-1] if open_scopes else None


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Within the block, every gateway call together (attempts, pauses between them) waits at
    most ``seconds``, and no longer than a budget already open around it: past it a call is
    not sent (``GatewayConnectionError``). Web requests get one each (``REQUEST_TIME_BUDGET``);
    a shop may open one around its own work, a task with a time limit for example."""
    outer = deadline()
    until = _clock() + seconds
    token = _deadlines.set((*_deadlines.get(), until if outer is None else min(until, outer)))
    try:
        yield
    finally:
        _deadlines.reset(token)


def _request_started(**kwargs: Any) -> None:
    # Every web request (view, REST API, admin) waits on gateways for at most its budget, so
    # the worker answers before the server's own worker timeout kills it. A fresh budget per
    # request: a request served inside another (the test client) does not share its parent's.
    budget = request_budget()
    until = math.inf if budget is None else _clock() + budget
    _deadlines.set((*_deadlines.get()[-(_MAX_OPEN_SCOPES - 1) :], until))


def _request_finished(**kwargs: Any) -> None:
    _deadlines.set(_deadlines.get()[:-1])


request_started.connect(_request_started, dispatch_uid="django_multipay.http.request_started")
request_finished.connect(_request_finished, dispatch_uid="django_multipay.http.request_finished")


def _floor(value: float) -> float:
    """Down to the millisecond, after the float noise of clock arithmetic is rounded off."""
    return math.floor(round(value * 1000, 6)) / 1000


def attempt_timeout(remaining: float, connect: float, read: float) -> tuple[float, float] | None:
    """The (connect, read) timeouts of one attempt with ``remaining`` seconds of budget left:
    as configured, cut so that the two together fit (connect to at most half of what is
    left, read to the rest). ``None`` when less than :data:`MIN_ATTEMPT_SECONDS` is left."""
    if remaining < MIN_ATTEMPT_SECONDS:
        return None
    first = _floor(min(connect, remaining / 2))
    return first, _floor(min(read, remaining - first))


def backoff_pause(retry: int, backoff: float) -> float:
    """The pause before the ``retry``-th repeat (1, 2, …): ``backoff * 2 ** (retry - 1)``."""
    return float(backoff * 2 ** (retry - 1))


def worst_case(
    budget: float | None, timeout: tuple[float, float], retries: int, backoff: float
) -> float:
    """The longest one idempotent read can wait in all (every attempt timing out in full),
    within ``budget`` when there is one: what must fit in a worker timeout (``multipay.W010``)."""
    connect, read = timeout
    if budget is None:
        pauses = sum(backoff_pause(n, backoff) for n in range(1, retries + 1))
        return (connect + read) * (retries + 1) + pauses
    spent = 0.0
    for attempt in range(retries + 1):
        if attempt:
            spent += backoff_pause(attempt, backoff)
        step = attempt_timeout(budget - spent, connect, read)
        if step is None:
            break
        spent += step[0] + step[1]
    return min(spent, budget)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """A ``requests.Session`` per gateway instance, with the project's policies applied."""

    def __init__(
        self,
        *,
        gateway: str,
        base_url: str,
        timeout: tuple[float, float] = (3.05, 10.0),
        retries: int = 2,
        backoff: float = 0.3,
        user_agent: str | None = None,
        secrets: Iterable[str | None] = (),
        redact_headers: Iterable[str] = ("authorization",),
        budget: float | None = None,
        rate_limit_retries: int = 0,
        rate_limit_backoff: float = 1.0,
    ) -> None:
        self.gateway = gateway
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = (float(timeout[0]), float(timeout[1]))
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        #: How often a read answered 429 is repeated, after ``Retry-After`` or, without it,
        #: ``rate_limit_backoff * 2 ** (n - 1)`` seconds: counted apart from ``retries``.
        self.rate_limit_retries = max(0, int(rate_limit_retries))
        self.rate_limit_backoff = max(0.0, float(rate_limit_backoff))
        #: Each call's own budget when no scope is open (outside a web request); ``None``: the
        #: ``BACKGROUND_TIME_BUDGET`` setting, read at the call.
        self.budget = budget
        self.redactor = Redactor(secrets)
        self.redact_headers = tuple(redact_headers)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent or f"django-multipay/{__version__}"
        # Retries are made here (request()), not by urllib3: each is planned to fit in the time
        # budget, so the adapter itself never repeats anything (nor a 429: rate_limit_retries).
        adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=10)
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
        connect, read = self.timeout
        given = kwargs.pop("timeout", None)
        if given is not None:
            connect, read = given if isinstance(given, tuple) else (given, given)
        until = deadline()
        if until is None:
            until = _clock() + (self.budget if self.budget is not None else background_budget())
        idempotent = method in IDEMPOTENT_METHODS
        repeats = self.retries if idempotent else 0
        rate_repeats = self.rate_limit_retries if idempotent else 0
        started = _clock()
        response: requests.Response | None = None
        failure: GatewayConnectionError | None = None
        failed_by = ""
        attempt = repeated = rate_limited = 0
        pause = 0.0
        while True:
            if attempt:
                if until - _clock() - pause < MIN_ATTEMPT_SECONDS:
                    break  # no repeat fits in what is left: the last outcome stands
                _sleep(pause)
            timeouts = attempt_timeout(until - _clock(), connect, read)
            if timeouts is None:
                if attempt:
                    break
                logger.warning(
                    "%s %s not sent: time budget used up [%s]", method, safe_url, self.gateway
                )
                metrics.gateway_call(self.gateway, "not_sent", _clock() - started)
                raise GatewayConnectionError(
                    f"{method} {safe_url} not sent: the time budget for gateway calls is used up",
                    gateway=self.gateway,
                )
            attempt += 1
            response, failure = None, None
            try:
                response = self.session.request(
                    method, url, headers=dict(headers or {}), timeout=timeouts, **kwargs
                )
            except requests.RequestException as exc:
                kind = type(exc).__name__
                if isinstance(exc, requests.Timeout):
                    failed_by, said = "timeout", f"timed out ({kind})"
                    logger.warning("%s %s timed out [%s]", method, safe_url, self.gateway)
                else:
                    failed_by, said = "connection_error", f"failed: {kind}"
                    logger.warning("%s %s failed: %s [%s]", method, safe_url, kind, self.gateway)
                failure = GatewayConnectionError(
                    f"{method} {safe_url} {said}", gateway=self.gateway
                )
            status = response.status_code if response is not None else None
            asked = _retry_after(response) if response is not None else None
            if (response is None or status in RETRY_STATUSES) and repeated < repeats:
                repeated += 1
                pause = max(backoff_pause(repeated, self.backoff), asked or 0.0)
            elif status == RATE_LIMITED and rate_limited < rate_repeats:
                # Rate limited: wait as long as the gateway asks, else back off on our own.
                rate_limited += 1
                pause = backoff_pause(rate_limited, self.rate_limit_backoff)
                pause = asked if asked is not None else pause
            else:
                break
            if response is not None:
                logger.info(
                    "%s %s -> %s, to be tried again [%s]", method, safe_url, status, self.gateway
                )
        if response is None:
            assert failure is not None  # every attempt made either answered or failed
            metrics.gateway_call(self.gateway, failed_by, _clock() - started)
            # Raised outside the except block: no chained exception carries the raw URL.
            raise failure
        elapsed_ms = (_clock() - started) * 1000
        status = response.status_code
        logger.info(
            "%s %s -> %s in %.0f ms [%s]", method, safe_url, status, elapsed_ms, self.gateway
        )
        ok = status in set(expected) if expected is not None else 200 <= status < 300
        metrics.gateway_call(self.gateway, "ok" if ok else "error", elapsed_ms / 1000)
        if not ok:
            answer = self.redactor.data(_json_or_text(response))
            # Secret-looking keys (token, api_key…) are masked in the message too.
            body = answer if isinstance(answer, str) else json.dumps(answer)[:2000]
            raise GatewayAPIError(
                f"{method} {safe_url} answered HTTP {status}: {body}",
                gateway=self.gateway,
                http_status=status,
                response=answer,
            )
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return its JSON body; a non-JSON answer is a ``GatewayAPIError``."""
        return self.decode(self.request(method, path, **kwargs), method, path)

    def decode(self, response: requests.Response, method: str, path: str) -> Any:
        """The JSON body of an answer to ``method path``; not JSON is a ``GatewayAPIError``."""
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
