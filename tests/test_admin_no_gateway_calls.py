"""Admin and API pages render from what is stored: no page calls a gateway while rendering."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_multipay import payments
from django_multipay.admin import SETTLEMENT_KEY
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import NotificationFactory, OrderFactory, RefundFactory
from django_multipay.testing.router import EmulatorRouter

ALIAS = "postpay"


class Interceptor:
    """Every HTTP request this process would send, refused (a gateway that is down)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def refuse(self, request: requests.PreparedRequest) -> None:
        self.calls.append(f"{request.method} {request.url}")
        raise requests.ConnectionError("the gateway is down")


@contextmanager
def gateway_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[Interceptor]:
    interceptor = Interceptor()

    def send(adapter: Any, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        interceptor.refuse(request)

    with monkeypatch.context() as patch:
        patch.setattr(requests.adapters.HTTPAdapter, "send", send)
        yield interceptor


def change(model: str, pk: Any) -> str:
    return reverse(f"admin:django_multipay_{model}_change", args=[pk])


def changelist(model: str) -> str:
    return reverse(f"admin:django_multipay_{model}_changelist")


def settlement_url(invoice: Invoice) -> str:
    return reverse("admin:django_multipay_invoice_settlement", args=[invoice.pk])


def paid_postpay(router: EmulatorRouter) -> Invoice:
    """A Postpay invoice approved on the emulator's page and captured on the return."""
    order = OrderFactory(  # type: ignore[no-untyped-call]
        currency="AED",
        amount=Decimal("814.80"),
        customer_email="ana@example.ae",
        billing_address={"line1": "DIFC", "city": "Dubai", "country": "AE"},
    )
    payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    response = router.client.post(invoice.redirect_url, {"outcome": "approve"})
    router.client.get(response["Location"])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice


def test_invoice_page_makes_no_gateway_call_with_postpay_down(
    router: EmulatorRouter, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = paid_postpay(router)
    with gateway_down(monkeypatch) as intercepted:
        page = admin_client.get(change("invoice", invoice.pk))
    assert page.status_code == 200
    assert intercepted.calls == []
    html = page.content.decode()
    assert "Not read yet" in html
    assert "Read settlement" in html


def test_read_settlement_stores_the_lines_and_the_page_shows_them_with_their_age(
    router: EmulatorRouter, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = paid_postpay(router)
    before = len(router.calls)
    response = admin_client.post(settlement_url(invoice))
    assert response.status_code == 302
    transactions = [c for c in router.calls[before:] if "/transactions" in (c.url or "")]
    assert transactions  # the action asks Postpay; the page does not
    invoice.refresh_from_db()
    stored = invoice.gateway_data[SETTLEMENT_KEY]
    assert [
        (line["type"], line["amount"], line["fee"], line["net"]) for line in stored["lines"]
    ] == [("order", "814.80", "39.55", "775.25")]
    # An hour later, with Postpay down: shown from what was stored, with its age.
    stored["fetched_at"] = (timezone.now() - timedelta(hours=1)).isoformat()
    Invoice.objects.filter(pk=invoice.pk).update(gateway_data=invoice.gateway_data)
    with gateway_down(monkeypatch) as intercepted:
        page = admin_client.get(change("invoice", invoice.pk))
    assert intercepted.calls == []
    html = page.content.decode()
    assert "<td>AED\xa0814.80</td><td>AED\xa039.55</td><td>AED\xa0775.25</td>" in html
    assert "Read 1\xa0hour ago" in html
    # The last gateway answer stays the answer; the settlement has its own field.
    assert html.count(SETTLEMENT_KEY) == 0


def test_read_settlement_while_postpay_is_down_keeps_what_was_stored(
    router: EmulatorRouter, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = paid_postpay(router)
    admin_client.post(settlement_url(invoice))
    invoice.refresh_from_db()
    kept = invoice.gateway_data[SETTLEMENT_KEY]
    with gateway_down(monkeypatch) as intercepted:
        response = admin_client.post(settlement_url(invoice), follow=True)
    assert len(intercepted.calls) >= 1
    assert response.status_code == 200
    assert any("failed" in str(m) for m in response.context["messages"])
    invoice.refresh_from_db()
    assert invoice.gateway_data[SETTLEMENT_KEY] == kept


def test_read_settlement_needs_a_post(router: EmulatorRouter, admin_client: Client) -> None:
    invoice = paid_postpay(router)
    assert admin_client.get(settlement_url(invoice)).status_code == 405


def test_no_admin_or_api_page_calls_a_gateway_while_rendering(
    router: EmulatorRouter,
    admin_client: Client,
    admin_user: Any,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    invoice = paid_postpay(router)
    admin_client.post(settlement_url(invoice))
    refund = RefundFactory(invoice=invoice, amount=Decimal("10.00"))  # type: ignore[no-untyped-call]
    notification = NotificationFactory(gateway=ALIAS, invoice=invoice)  # type: ignore[no-untyped-call]
    order = invoice.order
    pages = [changelist(model) for model in ("order", "invoice", "refund", "notification")]
    pages += [
        change("order", order.pk),
        change("invoice", invoice.pk),
        change("refund", refund.pk),
        change("notification", notification.pk),
        reverse("admin:django_multipay_invoice_refund", args=[invoice.pk]),
    ]
    assert isinstance(order, Order)
    assert isinstance(refund, Refund)
    assert isinstance(notification, Notification)
    with gateway_down(monkeypatch) as intercepted:
        for page in pages:
            assert admin_client.get(page).status_code == 200, page
    assert intercepted.calls == []

    pytest.importorskip("rest_framework")
    from rest_framework.test import APIClient

    settings.ROOT_URLCONF = "tests.api.urls"
    api = APIClient()
    api.force_authenticate(admin_user)
    reads = [
        "/api/orders/",
        f"/api/orders/{order.public_id}/",
        f"/api/invoices/{invoice.pk}/",
        "/api/refunds/",
        f"/api/refunds/{refund.pk}/",
        "/api/notifications/",
        "/api/gateways/",
    ]
    with gateway_down(monkeypatch) as intercepted:
        answers = {path: api.get(path).status_code for path in reads}
    assert intercepted.calls == []
    assert set(answers.values()) <= {200, 404}, answers
    assert answers[f"/api/invoices/{invoice.pk}/"] == 200
