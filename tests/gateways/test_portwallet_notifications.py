"""PortWallet (API v1) IPNs: parsed into a claim, confirmed by ``ipn_validate``; forged,
disowned or malformed ones change nothing."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import pytest

from django_multipay import payments
from django_multipay.exceptions import (
    NotificationRejected,
)
from django_multipay.gateways import portwallet
from django_multipay.gateways.portwallet import PortWalletGateway
from django_multipay.gateways.results import InboundRequest
from django_multipay.models import Invoice, Notification, Refund
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.test_portwallet import (
    FORM,
    ipn,
    order_bdt,
    paid,
    post_ipn,
)
from tests.gateways.test_portwallet_wire import NOW

# The emulator's hosted page is the alias's payment_url, as the example shop sets it.
pytestmark = pytest.mark.usefixtures("portwallet_page")


# -- end to end through the emulator -----------------------------------------------------------


def test_forged_ipns_change_nothing_and_are_stored_rejected(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    order = order_bdt()
    payments.start_payment(order, "portwallet")
    invoice = Invoice.objects.get(order=order)
    signal_log.sent.clear()
    forged = {
        # ipn_validate says PENDING.
        "says accepted": ipn(invoice, status="ACCEPTED")[0],
        # Another amount than the invoice's.
        "other amount": ipn(invoice, status="PENDING", amount="10.00")[0],
    }
    for name, body in forged.items():
        response = post_ipn(body)
        assert response.status_code == 400, name
    unknown = post_ipn(b"invoice=NOT-OURS&amount=100.00&status=ACCEPTED")
    assert unknown.status_code == 404
    reasons = list(
        Notification.objects.filter(gateway="portwallet")
        .order_by("received_at", "pk")
        .values_list("result", "reason")
    )
    assert [r for r, _ in reasons] == [NotificationResult.REJECTED] * 3
    assert "gateway says pending" in reasons[0][1]
    assert "another amount" in reasons[1][1]
    assert reasons[2][1] == "unknown invoice"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert signal_log.count("invoice_status_changed") == 0


def test_ipn_that_portwallet_disowns_is_rejected(router: EmulatorRouter) -> None:
    order = order_bdt()
    payments.start_payment(order, "portwallet")
    invoice = Invoice.objects.get(order=order)
    with store.table("portwallet.invoices") as invoices:
        invoices[invoice.gateway_id]["amount"] = "1.00"  # PortWallet holds another amount
        invoices[invoice.gateway_id]["code"] = 200
    response = post_ipn(ipn(invoice, amount="100.00")[0])
    assert response.status_code == 400
    stored = Notification.objects.get(gateway="portwallet")
    assert stored.result == NotificationResult.REJECTED
    assert "Invalid IPN Request" in stored.reason
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


def test_forged_refund_ipn_settles_nothing(
    router: EmulatorRouter, caplog: pytest.LogCaptureFixture
) -> None:
    invoice = paid(router)
    with caplog.at_level(logging.WARNING, logger="django_multipay.gateways.portwallet"):
        response = post_ipn(ipn(invoice, status="REFUNDED")[0])
    # get_invoice says ACCEPTED: nothing to settle, and nothing to warn about.
    assert "has no refund here" not in caplog.text
    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.refunded_amount == 0
    assert not Refund.objects.exists()
    assert Notification.objects.latest("received_at").result == NotificationResult.DUPLICATE


# ------------------------------------------------------------------------------------------------
# PortWallet (API v1) on the wire: every call's request, the document's samples, bad answers;
# phone numbers and country codes; names in any script (UTF-8 percent-encoding).


@pytest.fixture
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portwallet, "unix_time", lambda: NOW)


# -- the IPN -----------------------------------------------------------------------------------


def inbound(body: str, content_type: str = FORM, method: str = "POST", query: str = "") -> Any:
    return InboundRequest(
        method=method,
        path="/payments/notify/portwallet/",
        headers={"content-type": content_type},
        body=body.encode(),
        query_string=query,
    )


@pytest.mark.usefixtures("fixed_time")
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "kind", "claimed"),
    [
        ("ACCEPTED", "payment", InvoiceStatus.PAID),
        ("200", "payment", InvoiceStatus.PAID),
        ("REJECTED", "payment", InvoiceStatus.FAILED),
        ("CANCELLED", "payment", InvoiceStatus.CANCELLED),
        ("CHARGED_BACK", "payment", InvoiceStatus.CHARGED_BACK),
        ("REFUND_PENDING", "refund", None),
        ("REFUNDED", "refund", None),
        ("PARTIALLY_REFUNDED", "refund", None),
        ("SOMETHING_NEW", "payment", None),
        ("", "payment", None),
    ],
)
def test_ipn_is_parsed_into_a_claim(
    portwallet_gateway: PortWalletGateway, status: str, kind: str, claimed: str | None
) -> None:
    event = portwallet_gateway.parse_notification(
        inbound(f"invoice=854EEEF3240FBB53&amount=100.00&status={status}")
    )
    assert event.gateway_id == "854EEEF3240FBB53"
    assert event.kind == kind
    assert not event.authoritative
    if claimed is None:
        assert event.status is None
    else:
        assert event.status is not None
        assert event.status.status == claimed
        assert event.status.amount == Decimal("100.00")


@pytest.mark.usefixtures("fixed_time")
@pytest.mark.django_db
def test_ipn_as_json_or_query_string(portwallet_gateway: PortWalletGateway) -> None:
    as_json = portwallet_gateway.parse_notification(
        inbound(
            json.dumps({"invoice": "X1", "amount": 100, "status": "ACCEPTED"}), "application/json"
        )
    )
    as_query = portwallet_gateway.parse_notification(
        inbound("", "", method="GET", query="invoice=X1&amount=100.00&status=ACCEPTED")
    )
    assert as_json.gateway_id == as_query.gateway_id == "X1"
    assert as_json.status == as_query.status


@pytest.mark.usefixtures("fixed_time")
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("amount=100.00&status=ACCEPTED", FORM),
        ("invoice=X1&amount=lots", FORM),
        ("[1, 2]", "application/json"),
        ("{not json", "application/json"),
    ],
)
def test_malformed_ipn_is_rejected(
    portwallet_gateway: PortWalletGateway, body: str, content_type: str
) -> None:
    with pytest.raises(NotificationRejected):
        portwallet_gateway.parse_notification(inbound(body, content_type))
