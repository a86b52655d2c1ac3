"""Refunds whose outcome is unknown: retried only where the gateway de-duplicates them."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

import pytest
import requests
import responses
from django.conf import settings
from django.test import override_settings

from django_multipay import payments
from django_multipay.exceptions import GatewayConnectionError, RefundRefused
from django_multipay.gateways.dummy import DummyGateway
from django_multipay.models import Refund
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import route_to_django

pytestmark = pytest.mark.django_db(transaction=True)


class NonIdempotentDummy(DummyGateway):
    """The dummy, declared as a gateway that cannot de-duplicate refunds."""

    capabilities = dataclasses.replace(DummyGateway.capabilities, idempotent_refunds=False)


def paid_invoice(router):
    order = OrderFactory(amount=Decimal("50.00"), currency="EUR")
    payments.start_payment(order, "dummy")
    invoice = order.invoices.get()
    response = router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice


def time_out_refund(invoice, key):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, re.compile(".*/refunds$"), body=requests.ReadTimeout("slow"))
        with pytest.raises(GatewayConnectionError):
            payments.refund(invoice, Decimal("20.00"), idempotency_key=key)
    refund = Refund.objects.get(idempotency_key=key)
    assert refund.status == RefundStatus.REQUESTED
    return refund


def test_timed_out_refund_is_retried_once_with_same_key():
    store.reset()
    with route_to_django() as router:
        invoice = paid_invoice(router)
        time_out_refund(invoice, "refund-key-1")
        refund = payments.refund(invoice, Decimal("20.00"), idempotency_key="refund-key-1")
        again = payments.refund(invoice, Decimal("20.00"), idempotency_key="refund-key-1")
    assert refund.status == RefundStatus.SUCCEEDED
    assert again.pk == refund.pk
    assert Refund.objects.filter(invoice=invoice).count() == 1
    sent = router.requests_to(r"/refunds$", "POST")
    assert len(sent) == 1  # the timed-out attempt never reached the router
    assert sent[0].headers["Idempotency-Key"] == "refund-key-1"
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("20.00")
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED


def test_retry_refused_when_gateway_cannot_deduplicate():
    store.reset()
    gateways = {
        "dummy": {
            "BACKEND": f"{__name__}.NonIdempotentDummy",
            "OPTIONS": {
                "api_key": "dummy-api-key-one",
                "webhook_secret": "dummy-webhook-secret-one",
                "base_url": "http://testserver/sandbox/dummy/",
            },
        }
    }
    with (
        override_settings(MULTIPAY={**settings.MULTIPAY, "GATEWAYS": gateways}),
        route_to_django() as router,
    ):
        invoice = paid_invoice(router)
        refund = time_out_refund(invoice, "refund-key-2")
        calls = len(router.calls)
        with pytest.raises(RefundRefused) as excinfo:
            payments.refund(invoice, Decimal("20.00"), idempotency_key="refund-key-2")
        assert excinfo.value.code == "refund_outcome_unknown"
        assert len(router.calls) == calls
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REQUESTED
    invoice.refresh_from_db()
    assert invoice.refunded_amount == 0


def test_verify_after_a_lost_refund_answer_counts_the_refund_once():
    """The gateway refunded but its answer was lost; a status read that says "partially
    refunded" settles our refund row (matched by its key) and counts the amount once."""
    store.reset()
    with route_to_django() as router:
        invoice = paid_invoice(router)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as lossy:
            # The request reaches the emulator (which refunds) but neither its answer nor its
            # webhook reaches us: only a status read can tell.
            lossy.add_passthru("http://testserver/sandbox/dummy/api/payments/pay_")

            def refund_then_time_out(request):
                router(request)
                raise requests.ReadTimeout("answer lost")

            lossy.add_callback(responses.POST, re.compile(".*/refunds$"), refund_then_time_out)
            with pytest.raises(GatewayConnectionError):
                payments.refund(invoice, Decimal("20.00"), idempotency_key="lost-answer")
        refund = Refund.objects.get(idempotency_key="lost-answer")
        assert refund.status == RefundStatus.REQUESTED

        payments.refresh(invoice)
        payments.refresh(invoice)

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_refund_id.startswith("re_")
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("20.00")
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
