"""The Python API: create_order, start_payment, capture, cancel, refund, refresh."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.test import RequestFactory, override_settings

from django_multipay import payments
from django_multipay.exceptions import (
    GatewayConfigurationError,
    InvalidRequest,
    RefundRefused,
    UnsupportedOperation,
)
from django_multipay.gateways.base import Capabilities
from django_multipay.gateways.dummy import DummyGateway
from django_multipay.models import Invoice, Order, OrderItem, Refund
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, OrderStatus, RefundStatus
from django_multipay.testing.factories import InvoiceFactory, OrderFactory
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter


class NoRefundGateway(DummyGateway):
    """The dummy gateway without refunds, capture or cancel."""

    display_name = "No refunds"
    capabilities = Capabilities(fetch_status=True)


def customer_pays(router: EmulatorRouter, invoice: Invoice, outcome: str = "paid") -> None:
    response = router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": outcome})
    assert response.status_code == 302, response.content


def started(order: Order, alias: str = "dummy") -> Invoice:
    payments.start_payment(order, alias)
    return Invoice.objects.filter(order=order).latest("created_at")


# -- create_order ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_order_with_items_computes_amount() -> None:
    order = payments.create_order(
        reference="SHOP-1",
        currency="eur",
        items=[
            {"name": "Tea", "quantity": 2, "unit_price": Decimal("3.50")},
            {"name": "Cup", "quantity": 1, "unit_price": Decimal("10.00"), "reference": "CUP"},
        ],
        tax_amount=Decimal("1.00"),
        shipping_amount=Decimal("4.99"),
        customer_email="ada@example.com",
    )
    order.refresh_from_db()
    assert order.amount == Decimal("22.99")
    assert order.currency == "EUR"
    assert order.status == OrderStatus.NEW
    items = list(OrderItem.objects.filter(order=order).values_list("name", "quantity", "reference"))
    assert items == [("Tea", 2, ""), ("Cup", 1, "CUP")]


@pytest.mark.django_db
def test_create_order_with_explicit_amount() -> None:
    order = payments.create_order(reference="SHOP-2", amount="1.234", currency="KWD")
    assert Order.objects.get(pk=order.pk).amount == Decimal("1.234")


@pytest.mark.django_db
def test_create_order_names_every_bad_field() -> None:
    with pytest.raises(InvalidRequest) as info:
        payments.create_order(
            reference="SHOP-3",
            amount="10.001",
            currency="EUR",
            customer_email="not-an-email",
            billing_address={"planet": "Mars"},
            items=[{"name": "", "quantity": 1, "unit_price": Decimal("1.999")}],
        )
    fields = info.value.fields
    assert {"amount", "customer_email", "billing_address"} <= set(fields)
    assert "items[0].unit_price" in fields
    assert "items[0].name" in fields
    assert "amount" in str(info.value)
    assert not Order.objects.exists()
    assert not OrderItem.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount": "0", "currency": "EUR"}, "amount"),
        ({"amount": "5", "currency": "XYZ"}, "currency"),
        ({"amount": "5.5", "currency": "JPY"}, "amount"),
        ({"amount": "5", "currency": "EUR", "tax_amount": Decimal("-1")}, "tax_amount"),
    ],
)
def test_create_order_refusals(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        payments.create_order(reference="BAD", **kwargs)
    assert field in info.value.fields
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_create_order_duplicate_reference_refused() -> None:
    OrderFactory(reference="DUP")
    with pytest.raises(InvalidRequest) as info:
        payments.create_order(reference="DUP", amount="5", currency="EUR")
    assert "reference" in info.value.fields
    assert Order.objects.filter(reference="DUP").count() == 1


# -- start_payment ---------------------------------------------------------------------------


def test_start_payment_needs_base_url_or_request(router: EmulatorRouter) -> None:
    order = OrderFactory()
    with (
        override_settings(MULTIPAY={**settings.MULTIPAY, "BASE_URL": None}),
        pytest.raises(GatewayConfigurationError, match="BASE_URL"),
    ):
        payments.start_payment(order, "dummy")
    assert router.requests_to("/api/payments", "POST") == []
    assert not Invoice.objects.filter(order=order).exists()  # nothing stranded in "created"

    request = RequestFactory().get("/", HTTP_HOST="shop.example")
    with override_settings(MULTIPAY={**settings.MULTIPAY, "BASE_URL": None}):
        action = payments.start_payment(order, "dummy", request=request)
    [call] = router.requests_to("/api/payments$", "POST")
    body = call.body.decode() if isinstance(call.body, bytes) else str(call.body)
    assert "http://shop.example/payments/return/" in body
    assert "http://shop.example/payments/notify/dummy/" in body
    assert action.is_redirect


@pytest.mark.django_db
def test_start_payment_unknown_alias() -> None:
    with pytest.raises(InvalidRequest, match="Unknown payment method"):
        payments.start_payment(OrderFactory(), "nope")
    assert not Invoice.objects.exists()


# -- capture and cancel ----------------------------------------------------------------------


def test_manual_capture_flow(router: EmulatorRouter, signal_log: SignalLog) -> None:
    order = OrderFactory()
    invoice = started(order, "dummy-manual")
    with pytest.raises(InvalidRequest, match="Only authorized"):
        payments.capture(invoice)
    assert router.requests_to("/capture$") == []

    customer_pays(router, invoice)
    payments.refresh(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AUTHORIZED
    assert invoice.captured_amount == 0
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING
    assert signal_log.count("order_paid") == 0

    outcome = payments.capture(invoice)
    assert (outcome.previous, outcome.current) == (InvoiceStatus.AUTHORIZED, InvoiceStatus.PAID)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal("100.00")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert signal_log.count("order_paid") == 1
    [call] = router.requests_to(rf"/api/payments/{invoice.gateway_id}/capture$", "POST")
    assert call.headers["Authorization"] == "Bearer dummy-api-key-two"
    assert call.body is not None
    assert b'"amount": "100.00"' in (
        call.body if isinstance(call.body, bytes) else call.body.encode()
    )


def test_capture_more_than_invoice_refused(router: EmulatorRouter) -> None:
    invoice = started(OrderFactory(), "dummy-manual")
    customer_pays(router, invoice)
    payments.refresh(invoice)
    invoice.refresh_from_db()
    with pytest.raises(InvalidRequest, match="Cannot capture"):
        payments.capture(invoice, "100.01")
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.AUTHORIZED


def test_automatic_capture_pays_directly(router: EmulatorRouter) -> None:
    invoice = started(OrderFactory(), "dummy")
    customer_pays(router, invoice)
    payments.refresh(invoice)
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PAID


def test_cancel_pending(router: EmulatorRouter, signal_log: SignalLog) -> None:
    order = OrderFactory()
    invoice = started(order)
    outcome = payments.cancel(invoice)
    assert outcome.current == InvoiceStatus.CANCELLED
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.CANCELLED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert len(router.requests_to(rf"/{invoice.gateway_id}/cancel$", "POST")) == 1
    assert [s["current"] for s in signal_log.of("order_status_changed")][-1] == (
        OrderStatus.CANCELLED
    )


@pytest.mark.django_db
@pytest.mark.parametrize("status", [InvoiceStatus.PAID, InvoiceStatus.FAILED])
def test_cancel_settled_invoice_refused(status: str) -> None:
    invoice = InvoiceFactory(status=status)
    with pytest.raises(InvalidRequest, match="Only unpaid"):
        payments.cancel(invoice)


# -- refunds ---------------------------------------------------------------------------------


def test_refund_through_api(router: EmulatorRouter, signal_log: SignalLog) -> None:
    invoice = started(OrderFactory())
    customer_pays(router, invoice)
    payments.refresh(invoice)
    invoice.refresh_from_db()
    refund = payments.refund(invoice, "40.00", reason="broken", idempotency_key="rk-1")
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_refund_id.startswith("re_")
    again = payments.refund(invoice, "40.00", idempotency_key="rk-1")
    assert again.pk == refund.pk
    assert Refund.objects.count() == 1
    calls = router.requests_to(rf"/{invoice.gateway_id}/refunds$", "POST")
    assert len(calls) == 1
    assert calls[0].headers["Idempotency-Key"] == "rk-1"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert invoice.refunded_amount == Decimal("40.00")


@pytest.mark.django_db
def test_refund_unsupported() -> None:
    multipay = {**settings.MULTIPAY}
    multipay["GATEWAYS"] = {
        **settings.MULTIPAY["GATEWAYS"],
        "norefund": {
            "BACKEND": f"{__name__}.NoRefundGateway",
            "OPTIONS": settings.MULTIPAY["GATEWAYS"]["dummy"]["OPTIONS"],
        },
    }
    with override_settings(MULTIPAY=multipay):
        invoice = InvoiceFactory(gateway="norefund", paid=True)
        with pytest.raises(UnsupportedOperation, match="does not support refund"):
            payments.refund(invoice)
        with pytest.raises(UnsupportedOperation, match="capture"):
            payments.capture(invoice)
        with pytest.raises(UnsupportedOperation, match="cancel"):
            payments.cancel(invoice)
        assert not payments.supports("norefund", "refund")
        assert payments.supports("dummy", "refund")
        assert not payments.supports("nope", "refund")
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_order_status_reads_database() -> None:
    order = OrderFactory()
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PAID)
    assert payments.order_status(order) == OrderStatus.PAID


@pytest.mark.django_db
def test_create_order_accepts_string_prices() -> None:
    order = payments.create_order(
        reference="SHOP-STR",
        currency="BDT",
        items=[{"name": "Rice", "quantity": "3", "unit_price": "12.50"}],
        shipping_amount="5.00",
    )
    assert Order.objects.get(pk=order.pk).amount == Decimal("42.50")
    item = OrderItem.objects.get(order=order)
    assert (item.quantity, item.unit_price) == (3, Decimal("12.50"))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"name": "x", "unit_price": 1.5}, "items[0].unit_price"),
        ({"name": "x", "unit_price": "abc"}, "items[0].unit_price"),
        # Quantity is checked by the table constraint, reported for the item as a whole.
        ({"name": "x", "unit_price": "1", "quantity": 0}, "items[0]."),
    ],
)
def test_create_order_bad_items_are_named_not_raised(item: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        payments.create_order(reference="SHOP-BAD", currency="EUR", items=[item])
    assert any(key.startswith(field) for key in info.value.fields)
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_create_order_float_amount_is_named() -> None:
    with pytest.raises(InvalidRequest) as info:
        payments.create_order(reference="SHOP-F", amount=9.99, currency="EUR")  # type: ignore[arg-type]
    assert "amount" in info.value.fields


# -- refusals that name the problem, and defaults ------------------------------------------


@pytest.mark.django_db
def test_create_order_refuses_unknown_item_fields() -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        payments.create_order(
            reference="SHOP-X",
            currency="EUR",
            items=[{"name": "Tea", "unit_price": Decimal("3.50"), "colour": "green"}],
        )
    assert excinfo.value.fields == {"items[0]": "unknown fields colour"}
    assert not Order.objects.exists()


def test_start_payment_uses_default_gateway(router: EmulatorRouter) -> None:
    order = OrderFactory()
    payments.start_payment(order)
    assert Invoice.objects.get(order=order).gateway == settings.MULTIPAY["DEFAULT_GATEWAY"]
    assert len(router.requests_to("/api/payments$", "POST")) == 1


def test_capture_amount_errors_are_invalid_requests(router: EmulatorRouter) -> None:
    invoice = started(OrderFactory(amount=Decimal("10.00")), "dummy-manual")
    customer_pays(router, invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AUTHORIZED
    for bad in ("1.001", 1.5):
        with pytest.raises(InvalidRequest, match="Invalid capture amount"):
            payments.capture(invoice, bad)
    assert router.requests_to("/capture$", "POST") == []


def test_capture_after_lost_answer_reads_before_capturing(router: EmulatorRouter) -> None:
    """A capture that happened but whose answer was lost is found, not sent again."""
    invoice = started(OrderFactory(amount=Decimal("10.00")), "dummy-manual")
    customer_pays(router, invoice)
    invoice.refresh_from_db()
    with store.table("dummy.payments") as table:  # the gateway captured; we never heard back
        table[invoice.gateway_id]["status"] = "paid"
        table[invoice.gateway_id]["captured_amount"] = "10.00"
    outcome = payments.capture(invoice)
    assert outcome.current == InvoiceStatus.PAID
    assert router.requests_to("/capture$", "POST") == []
    invoice.refresh_from_db()
    assert invoice.captured_amount == Decimal("10.00")


def test_refund_float_amount_is_a_refund_error(router: EmulatorRouter) -> None:
    invoice = started(OrderFactory(amount=Decimal("10.00")))
    customer_pays(router, invoice)
    invoice.refresh_from_db()
    with pytest.raises(RefundRefused, match="Invalid refund amount"):
        payments.refund(invoice, 1.5)  # type: ignore[arg-type]
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_supports_unknown_operation_is_false() -> None:
    assert payments.supports("dummy", "refund") is True
    assert payments.supports("dummy", "teleport") is False
    assert payments.supports("nope", "refund") is False
