"""Every path that waits on a gateway has a total time budget that fits in the worker's timeout."""

from __future__ import annotations

import copy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import responses
from django.conf import settings as django_settings
from django.contrib.messages import get_messages
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client, override_settings

from django_multipay import payments
from django_multipay.checks import check_time_budget
from django_multipay.conf import DEFAULTS
from django_multipay.exceptions import GatewayConnectionError
from django_multipay.gateways import http
from django_multipay.gateways.http import (
    HttpClient,
    attempt_timeout,
    deadline,
    time_budget,
    worst_case,
)
from django_multipay.models import Invoice
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import InvoiceFactory

BASE = "https://api.gateway.test/"


class FakeClock:
    """Time that moves only when an attempt times out (by its timeouts) or the client pauses."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(http, "_clock", fake)
    monkeypatch.setattr(http, "_sleep", fake.sleep)
    return fake


def hanging(clock: FakeClock) -> Any:
    """A ``responses`` callback for a gateway that never answers: each attempt lasts as long as
    its timeouts allow, then times out."""

    def callback(request: requests.PreparedRequest) -> Any:
        connect, read = request.req_kwargs["timeout"]  # type: ignore[attr-defined]
        clock.now += connect + read
        raise requests.ReadTimeout("no answer")

    return callback


def timeouts_sent() -> list[tuple[float, float]]:
    return [call.request.req_kwargs["timeout"] for call in responses.calls]  # type: ignore[attr-defined]


def client(**kwargs: Any) -> HttpClient:
    defaults: dict[str, Any] = {"gateway": "test", "base_url": BASE, "backoff": 0.3}
    return HttpClient(**{**defaults, **kwargs})


# -- the plan ---------------------------------------------------------------------------------


def test_the_defaults_fit_well_inside_a_30_second_worker() -> None:
    assert DEFAULTS["REQUEST_TIME_BUDGET"] <= 15
    assert sum(DEFAULTS["HTTP_TIMEOUT"]) < DEFAULTS["REQUEST_TIME_BUDGET"]
    assert DEFAULTS["HTTP_TIMEOUT"][0] < 5
    # Without a budget the default retries of one hung read would add up past 30 s.
    unbounded = worst_case(
        None, DEFAULTS["HTTP_TIMEOUT"], DEFAULTS["HTTP_RETRIES"], DEFAULTS["HTTP_BACKOFF"]
    )
    assert unbounded > 30
    bounded = worst_case(
        DEFAULTS["REQUEST_TIME_BUDGET"],
        DEFAULTS["HTTP_TIMEOUT"],
        DEFAULTS["HTTP_RETRIES"],
        DEFAULTS["HTTP_BACKOFF"],
    )
    assert bounded <= DEFAULTS["REQUEST_TIME_BUDGET"]
    assert DEFAULTS["BACKGROUND_TIME_BUDGET"] > DEFAULTS["REQUEST_TIME_BUDGET"]


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [
        (15.0, (3.05, 10.0)),
        (13.05, (3.05, 10.0)),
        (10.0, (3.05, 6.95)),
        (4.0, (2.0, 2.0)),
        (0.5, (0.25, 0.25)),
        (0.49, None),
        (-1.0, None),
    ],
)
def test_each_attempt_is_cut_to_what_is_left(
    remaining: float, expected: tuple[float, float] | None
) -> None:
    assert attempt_timeout(remaining, 3.05, 10.0) == expected


# -- one call ---------------------------------------------------------------------------------


@responses.activate
def test_a_hung_read_makes_only_the_attempts_that_fit(clock: FakeClock) -> None:
    responses.add_callback(responses.GET, BASE + "status", callback=hanging(clock))
    with time_budget(15.0), pytest.raises(GatewayConnectionError, match="timed out"):
        client(timeout=(3.05, 10.0), retries=2).request("GET", "status")
    # 13.05 s; a 0.3 s pause; what is left (1.65 s) split; a third attempt does not fit.
    assert timeouts_sent() == [(3.05, 10.0), (0.825, 0.825)]
    assert clock.pauses == [0.3]
    assert clock.now - 1000.0 <= 15.0


@responses.activate
def test_without_a_budget_the_retries_would_outlast_the_worker(clock: FakeClock) -> None:
    """What a gunicorn worker saw before: 30 s reads, repeated twice."""
    responses.add_callback(responses.GET, BASE + "status", callback=hanging(clock))
    with pytest.raises(GatewayConnectionError):
        client(timeout=(5.0, 30.0), retries=2, budget=1000.0).request("GET", "status")
    assert timeouts_sent() == [(5.0, 30.0)] * 3
    assert clock.now - 1000.0 > 30


@responses.activate
def test_a_write_is_tried_once_within_the_budget(clock: FakeClock) -> None:
    responses.add_callback(responses.POST, BASE + "refunds", callback=hanging(clock))
    with time_budget(4.0), pytest.raises(GatewayConnectionError):
        client(timeout=(3.05, 10.0), retries=5).request("POST", "refunds")
    assert timeouts_sent() == [(2.0, 2.0)]


@responses.activate
def test_calls_in_one_scope_share_its_budget(clock: FakeClock) -> None:
    responses.add_callback(responses.GET, BASE + "status", callback=hanging(clock))
    responses.get(BASE + "refunds", json=[])
    gateway = client(timeout=(3.05, 10.0), retries=0)
    with time_budget(15.0):
        with pytest.raises(GatewayConnectionError):
            gateway.request("GET", "status")
        # 1.95 s left: the next call gets only that.
        assert gateway.json("GET", "refunds") == []
        clock.now += 1.5
        with pytest.raises(GatewayConnectionError, match="not sent"):
            gateway.request("GET", "refunds")
    assert timeouts_sent() == [(3.05, 10.0), (0.975, 0.975)]


@responses.activate
def test_an_inner_scope_never_extends_the_outer(clock: FakeClock) -> None:
    responses.add_callback(responses.GET, BASE + "status", callback=hanging(clock))
    with time_budget(4.0), time_budget(60.0), pytest.raises(GatewayConnectionError):
        client(timeout=(3.05, 10.0), retries=0).request("GET", "status")
    assert timeouts_sent() == [(2.0, 2.0)]
    assert deadline() is None


@responses.activate
def test_503_retries_stop_when_the_budget_would_be_passed(clock: FakeClock) -> None:
    responses.get(BASE + "status", status=503, headers={"Retry-After": "20"})
    with time_budget(15.0), pytest.raises(Exception, match="HTTP 503"):
        client(timeout=(3.05, 10.0), retries=2).request("GET", "status")
    # Retry-After asks for 20 s: no repeat fits, the 503 stands.
    assert len(responses.calls) == 1
    assert clock.pauses == []


@responses.activate
def test_outside_a_request_each_call_gets_the_background_budget(clock: FakeClock) -> None:
    responses.add_callback(responses.GET, BASE + "status", callback=hanging(clock))
    config = {**django_settings.MULTIPAY, "BACKGROUND_TIME_BUDGET": 40.0}
    with override_settings(MULTIPAY=config), pytest.raises(GatewayConnectionError):
        client(timeout=(10.0, 100.0), retries=0).request("GET", "status")
    assert timeouts_sent() == [(10.0, 30.0)]


@contextmanager
def without_connection_closing() -> Iterator[None]:
    """As Django's test client does: the signals without closing the test's database."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_every_web_request_opens_its_own_budget(clock: FakeClock) -> None:
    config = {**django_settings.MULTIPAY, "REQUEST_TIME_BUDGET": 12.0}
    with override_settings(MULTIPAY=config), without_connection_closing():
        assert deadline() is None
        request_started.send(sender=None)
        assert deadline() == clock.now + 12.0
        clock.now += 5
        # A request served inside it (the test client's emulators) has its own, then ends.
        request_started.send(sender=None)
        assert deadline() == clock.now + 12.0
        request_finished.send(sender=None)
        assert deadline() == clock.now - 5 + 12.0
        request_finished.send(sender=None)
        assert deadline() is None


# -- the customer's return, against a gateway that accepts and never answers --------------------


class HangingServer:
    """A TCP server on localhost that accepts every connection and never writes a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.accepted: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


@pytest.fixture
def hung_gateway() -> Iterator[HangingServer]:
    server = HangingServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sent_timeouts(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The timeouts of every attempt that reached the network."""
    seen: list[Any] = []
    original = requests.adapters.HTTPAdapter.send

    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("timeout"))
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    return seen


BUDGET = 1.5
RETRIES = 5


@pytest.mark.django_db
def test_return_with_a_hung_gateway_shows_the_confirming_page_within_the_budget(
    hung_gateway: HangingServer, sent_timeouts: list[Any]
) -> None:
    invoice = InvoiceFactory(status=InvoiceStatus.PENDING)  # type: ignore[no-untyped-call]
    assert isinstance(invoice, Invoice)
    config = copy.deepcopy(django_settings.MULTIPAY)
    config["GATEWAYS"]["dummy"]["OPTIONS"]["base_url"] = hung_gateway.url
    config.update(
        REQUEST_TIME_BUDGET=BUDGET, HTTP_TIMEOUT=(0.25, 1.0), HTTP_RETRIES=RETRIES, HTTP_BACKOFF=0
    )
    with override_settings(MULTIPAY=config):
        response = Client().get(f"/payments/return/{invoice.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/shop/thanks/{invoice.order.reference}/"
    assert [m.message for m in get_messages(response.wsgi_request)] == [
        "Your payment is being confirmed."
    ]
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING  # reconciliation settles it later
    # Six attempts were allowed; the budget let far fewer start, each cut to fit in it.
    assert 1 <= len(sent_timeouts) < RETRIES + 1
    assert len(hung_gateway.accepted) == len(sent_timeouts)
    # No attempt starts with less than 0.5 s left, so the connect timeout is never cut here.
    assert all(connect == 0.25 and read <= 1.0 for connect, read in sent_timeouts)
    assert all(sum(t) <= BUDGET for t in sent_timeouts)
    assert sum(read for _connect, read in sent_timeouts) <= BUDGET


@pytest.mark.django_db
def test_refresh_outside_a_request_uses_the_background_budget(
    hung_gateway: HangingServer, sent_timeouts: list[Any], clock: FakeClock
) -> None:
    invoice = InvoiceFactory(status=InvoiceStatus.PENDING)  # type: ignore[no-untyped-call]
    config = copy.deepcopy(django_settings.MULTIPAY)
    config["GATEWAYS"]["dummy"]["OPTIONS"]["base_url"] = hung_gateway.url
    config.update(BACKGROUND_TIME_BUDGET=0.8, HTTP_TIMEOUT=(5.0, 5.0), HTTP_RETRIES=0)
    with override_settings(MULTIPAY=config), pytest.raises(GatewayConnectionError):
        payments.refresh(invoice)
    assert sent_timeouts == [(0.4, 0.4)]


# -- multipay.W010 ----------------------------------------------------------------------------


def ids(**changes: Any) -> list[str]:
    with override_settings(MULTIPAY={**django_settings.MULTIPAY, **changes}):
        return [message.id for message in check_time_budget(None)]  # type: ignore[misc]


def test_w010_silent_without_a_declared_worker_timeout() -> None:
    assert ids() == []
    assert ids(REQUEST_TIME_BUDGET=100.0) == []


def test_w010_silent_when_the_budget_fits() -> None:
    assert ids(WORKER_TIMEOUT=30) == []
    assert ids(WORKER_TIMEOUT=30, REQUEST_TIME_BUDGET=24.0) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"WORKER_TIMEOUT": 10}, "multipay.W010"),
        ({"WORKER_TIMEOUT": 30, "REQUEST_TIME_BUDGET": 28.0}, "multipay.W010"),
        # No budget: one hung read with its retries is what must fit.
        (
            {
                "WORKER_TIMEOUT": 30,
                "REQUEST_TIME_BUDGET": None,
                "HTTP_TIMEOUT": (5.0, 30.0),
                "HTTP_RETRIES": 2,
            },
            "multipay.W013",
        ),
        ({"WORKER_TIMEOUT": 30, "REQUEST_TIME_BUDGET": "fifteen"}, "multipay.W012"),
        ({"WORKER_TIMEOUT": "30"}, "multipay.W011"),
    ],
)
def test_w010_warns_when_the_budget_does_not_fit(changes: dict[str, Any], expected: str) -> None:
    assert set(ids(**changes)) == {expected}


def test_w010_counts_an_alias_own_timeouts_without_a_budget() -> None:
    config = copy.deepcopy(django_settings.MULTIPAY)
    config.update(WORKER_TIMEOUT=60, REQUEST_TIME_BUDGET=None, HTTP_TIMEOUT=(1, 2), HTTP_RETRIES=0)
    with override_settings(MULTIPAY=config):
        assert check_time_budget(None) == []
        config["GATEWAYS"]["dummy"]["OPTIONS"].update(timeout=30, retries=1)
        with override_settings(MULTIPAY=config):
            [warning] = check_time_budget(None)
    assert warning.id == "multipay.W013"
    assert "'dummy'" in warning.msg
