"""The HTTP client's retries and lost refunds under gateway faults; the faults' hooks, by alias.

The faults every alias meets are tests/contracts/faults.py, run by each gateway's test module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.conf import settings
from django.test import override_settings

from django_multipay import payments
from django_multipay.exceptions import GatewayConnectionError, MultipayError
from django_multipay.models import Refund
from django_multipay.registry import get_gateway
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.router import EmulatorRouter
from tests.contracts import suite
from tests.contracts.faults import (
    FAULT_IDS,
    FAULTS,
    Fault,
    FaultContract,
    faulty,
    outcome_of,
    paid_invoice,
    status_of,
)

__all__ = [
    "ALIASES",
    "FAULTS",
    "FAULT_IDS",
    "REFUND_ALIASES",
    "Fault",
    "driver",
    "faulty",
    "is_refund_call",
    "outcome_of",
    "paid_invoice",
]

pytestmark = pytest.mark.django_db(transaction=True)

ALIASES = sorted(settings.MULTIPAY["GATEWAYS"])
REFUND_ALIASES = [a for a in ALIASES if get_gateway(a).supports("refund")]


@pytest.fixture(autouse=True)
def judge_lost_refunds_at_once(settings: Any) -> None:
    """Reconciliation here runs long after the lost answers: no call is still in flight."""
    settings.MULTIPAY = {**settings.MULTIPAY, "REFUND_SETTLE_UNKNOWN_AFTER": 0}


# -- the hooks by alias, for tests that drive every alias themselves ------------------------------


def faults_of(alias: str) -> FaultContract:
    found = suite(alias)
    assert isinstance(found, FaultContract)
    return found


def driver(alias: str) -> GatewayContract:
    """The alias's contract: it acts as the customer and as the gateway."""
    return faults_of(alias).driver


def is_refund_call(alias: str) -> Callable[[requests.PreparedRequest], bool]:
    """Whether a request asks the alias's gateway for a refund (its documented refund call)."""
    return faults_of(alias).is_refund_call


# -- the HTTP client's own retries -----------------------------------------------------------------


def test_reads_are_retried_only_when_the_alias_allows_it(router: EmulatorRouter) -> None:
    gateway = driver("dummy")
    invoice = gateway.start(gateway.make_order())
    fault = Fault("http_503", reaches_gateway=False)

    def first_two(request: requests.PreparedRequest) -> bool:
        return len(hit) < 2

    # The test settings: no retries, so one 503 on a read is the caller's error.
    with faulty(router, fault) as hit, pytest.raises(MultipayError):
        payments.refresh(invoice)
    assert len(hit) == 1

    config = copy.deepcopy(settings.MULTIPAY)
    config.update(HTTP_RETRIES=2, HTTP_BACKOFF=0)
    with override_settings(MULTIPAY=config):
        with faulty(router, fault, first_two) as hit:
            payments.refresh(invoice)  # GET: 503, 503, then the emulator's answer
        assert [r.method for r in hit] == ["GET", "GET"]
        assert status_of(invoice) == InvoiceStatus.PENDING
        gateway.complete_payment(router, invoice, "paid")
        invoice.refresh_from_db()
        order = gateway.make_order()
        with (
            faulty(router, fault, lambda request: request.method == "POST") as hit,
            pytest.raises(MultipayError),
        ):
            payments.start_payment(order, "dummy")
        assert [r.method for r in hit] == ["POST"]  # a write is never repeated
        with (
            faulty(router, Fault("connection_reset", False), first_two) as hit,
            pytest.raises(GatewayConnectionError),
        ):
            payments.refund(invoice, idempotency_key="retry-post")
        assert [r.method for r in hit] == ["POST"]


def test_lost_refunds_settle_one_reported_refund_each(router: EmulatorRouter) -> None:
    """Two refunds of one amount whose answers were lost; the gateway made only the first."""
    gateway = driver("paylands")
    invoice = paid_invoice(router, gateway)
    amount = Decimal("10.00")
    refund_call = is_refund_call("paylands")
    for key, fault in (("lost-made", FAULTS[0]), ("lost-not-made", FAULTS[1])):
        with faulty(router, fault, refund_call, lose_webhooks=True):
            assert isinstance(
                outcome_of(payments.refund, invoice, amount, idempotency_key=key), MultipayError
            )
    assert sum(1 for r in router.calls if refund_call(r)) == 1
    # The two cannot be told apart: the gateway made one refund of 10.00 and two of ours,
    # both unanswered, could be it. Neither is settled by the other's line; both stay for a
    # person, and the books count nothing the gateway may not have made.
    assert payments.sync_refunds(invoice) == []
    statuses = sorted(Refund.objects.filter(invoice=invoice).values_list("status", flat=True))
    assert statuses == [RefundStatus.REQUESTED, RefundStatus.REQUESTED]
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal(0)
