"""Postpay: every call on the wire against the API reference, errors, and names in any script
as JSON."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.contrib.auth import get_user_model
from django.test import Client

from django_multipay import payments
from django_multipay.exceptions import (
    GatewayAPIError,
    InvalidRequest,
    PaymentDeclined,
    RefundError,
)
from django_multipay.gateways.postpay import (
    MEDIA_TYPE,
    PostpayGateway,
)
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.factories import InvoiceFactory, OrderFactory
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.test_postpay import ALIAS, MERCHANT

SECRET = "sk_test_postpay_secret_one"
API = "http://testserver/sandbox/postpay/"
BASIC = "Basic " + base64.b64encode(f"{MERCHANT}:{SECRET}".encode()).decode()


def gateway() -> PostpayGateway:
    found = get_gateway(ALIAS)
    assert isinstance(found, PostpayGateway)
    return found


def sample_order(**fields: Any) -> Order:
    """The order of the API reference's "Create a checkout" sample."""
    address = {
        "name": "John Doe",
        "phone": "+971 50 199 8853",
        "line1": "The Gate District, DIFC",
        "line2": "Level 4, Precinct Building 5",
        "city": "Dubai",
        "state": "Dubai",
        "country": "AE",
        "postal_code": "00000",
    }
    values = {
        "reference": "order-01",
        "amount": Decimal("814.80"),
        "currency": "AED",
        "tax_amount": Decimal("38.80"),
        "shipping_amount": Decimal("20.00"),
        "customer_name": "John Doe",
        "customer_email": "john@postpay.io",
        "billing_address": address,
        "shipping_address": address,
        **fields,
    }
    order = payments.create_order(
        items=[
            {
                "reference": "sku-01",
                "name": "Wild Flower Eau de Parfum (50ml)",
                "description": "It\u2019s a windswept bouquet with a spring awakening.",
                "url": "https://www.example.ae/wild-flower.html",
                "image_url": "https://www.example.ae/wild-flower.jpg",
                "unit_price": Decimal("840.00"),
                "quantity": 1,
            }
        ],
        **values,
    )
    return order


def api_headers(**extra: str) -> dict[str, str]:
    return {"Authorization": BASIC, "Accept": MEDIA_TYPE, **extra}


# -- authentication, hosts, headers ----------------------------------------------------------


def test_hosts_by_option_and_base_url_override() -> None:
    assert PostpayGateway("a", {"sandbox": True}).base_url == "https://sandbox.postpay.io/"
    assert PostpayGateway("a", {}).base_url == "https://api.postpay.io/"
    override = PostpayGateway("a", {"sandbox": True, "base_url": "http://proxy/pp/"})
    assert override.base_url == "http://proxy/pp/"


def test_every_call_uses_basic_auth_and_the_versioned_accept_header(router) -> None:
    gateway().list_orders()
    request = router.calls[-1]
    assert request.headers["Authorization"] == BASIC
    assert request.headers["Accept"] == "application/vnd.postpay+json; version=v1"


def test_checkout_body_matches_the_reference_sample(router) -> None:
    order = sample_order()
    action = payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    [request] = router.requests_to("checkouts$", "POST")
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    address = {
        "first_name": "John",
        "last_name": "Doe",
        "phone": "+971 50 199 8853",
        "line1": "The Gate District, DIFC",
        "line2": "Level 4, Precinct Building 5",
        "city": "Dubai",
        "state": "Dubai",
        "country": "AE",
        "postal_code": "00000",
    }
    return_url = f"http://testserver/payments/return/{invoice.pk}/"
    assert body == {
        "order_id": str(invoice.pk),
        "total_amount": 81480,
        "tax_amount": 3880,
        "currency": "AED",
        "shipping": {"name": "Shipping", "amount": 2000, "address": address},
        "billing_address": address,
        "customer": {
            "email": "john@postpay.io",
            "first_name": "John",
            "last_name": "Doe",
            "account": "guest",
            "default_address": address,
        },
        "items": [
            {
                "reference": "sku-01",
                "name": "Wild Flower Eau de Parfum (50ml)",
                "description": "It\u2019s a windswept bouquet with a spring awakening.",
                "url": "https://www.example.ae/wild-flower.html",
                "image_url": "https://www.example.ae/wild-flower.jpg",
                "unit_price": 84000,
                "qty": 1,
            }
        ],
        # Lines + tax + shipping exceed the total by 84.00: sent as a discount.
        "discounts": [{"code": "discount", "name": "Discount", "amount": 8400}],
        "merchant": {"confirmation_url": return_url, "cancel_url": return_url + "?cancelled=1"},
        "metadata": {"invoice": str(invoice.pk), "reference": "order-01"},
    }
    assert action.url == invoice.redirect_url
    assert action.url.startswith("http://testserver/sandbox/postpay/checkout/")
    assert invoice.gateway_id == action.url.rsplit("/", 1)[1]  # the checkout token
    assert invoice.expires_at is not None
    assert invoice.status == InvoiceStatus.PENDING


def test_checkout_extras_from_payment_options_and_the_shop_user(router) -> None:
    user = get_user_model().objects.create_user("john", "john@postpay.io", "pw")
    user.date_joined = datetime(2019, 8, 26, 9, 28, 14, 790000, tzinfo=dt_timezone.utc)
    user.save()
    order = sample_order(user=user)
    options = {
        "customer": {"gender": "male", "date_of_birth": "1990-01-20"},
        "shipping": {"id": "shipping-01", "name": "Express Delivery"},
        "discounts": [
            {"code": "return-10", "name": "Returning customer 10% discount", "amount": "84"}
        ],
        "num_instalments": 1,
        "metadata": {"channel": "web"},
    }
    payments.start_payment(order, ALIAS, options=options)
    body = json.loads(router.requests_to("checkouts$", "POST")[0].body)
    assert body["customer"]["id"] == str(user.pk)
    assert body["customer"]["account"] == "existing"
    assert body["customer"]["date_joined"] == "2019-08-26T09:28:14.790Z"
    assert body["customer"]["gender"] == "male"
    assert body["customer"]["date_of_birth"] == "1990-01-20"
    assert body["shipping"]["id"] == "shipping-01"
    assert body["shipping"]["name"] == "Express Delivery"
    assert body["discounts"] == [
        {"code": "return-10", "name": "Returning customer 10% discount", "amount": 8400}
    ]
    assert body["num_instalments"] == 1
    assert body["metadata"]["channel"] == "web"


def test_order_without_lines_is_sent_as_one_item(router, transactional_db) -> None:
    order = OrderFactory(amount=Decimal("50.00"), currency="AED", description="Gift card")
    payments.start_payment(order, ALIAS)
    body = json.loads(router.requests_to("checkouts$", "POST")[0].body)
    assert body["items"] == [
        {
            "reference": order.reference,
            "name": "Gift card",
            "url": "http://testserver",
            "unit_price": 5000,
            "qty": 1,
        }
    ]
    assert "discounts" not in body


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"customer_email": ""}, "customer.email"),
        ({"shipping_address": {}, "billing_address": {}}, "shipping.address.line1"),
        ({"customer_name": "", "billing_address": {}, "shipping_address": {}}, "shipping.address"),
    ],
)
def test_required_fields_are_checked_before_calling(router, fields, missing) -> None:
    order = sample_order(**fields)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, ALIAS)
    assert any(name.startswith(missing) for name in caught.value.fields)
    assert caught.value.code == "invalid"
    assert not router.calls
    assert Invoice.objects.get(order=order).status == InvoiceStatus.FAILED


def test_currencies_are_aed_unless_the_account_lists_more() -> None:
    assert PostpayGateway("a", {}).accepts_currency("AED")
    assert not PostpayGateway("a", {}).accepts_currency("EUR")
    assert PostpayGateway("a", {"currencies": ["AED", "KWD"]}).accepts_currency("kwd")


def test_amounts_use_the_currency_exponent(router) -> None:
    order = sample_order(
        currency="KWD", amount=Decimal("1.234"), tax_amount=Decimal(0), shipping_amount=0
    )
    order.items.update(unit_price=Decimal("1.234"))
    wide = PostpayGateway(ALIAS, {**gateway().options, "currencies": ["KWD"]})
    invoice = Invoice.objects.create(
        order=order, gateway=ALIAS, amount=order.amount, currency="KWD"
    )
    wide.start_payment(invoice, payments.payment_urls(invoice))
    body = json.loads(router.requests_to("checkouts$", "POST")[0].body)
    assert (body["total_amount"], body["items"][0]["unit_price"]) == (1234, 1234)


# -- orders ----------------------------------------------------------------------------------


ORDER = {
    "order_id": "ORDER-ID",
    "status": "captured",
    "status_changed": "2020-05-08T10:58:04.095618Z",
    "total_amount": 10000,
    "tax_amount": 0,
    "currency": "AED",
    "created": "2020-05-08T10:53:57.095579Z",
}


@pytest.mark.parametrize(
    ("wire", "ours"),
    [
        ("pending", InvoiceStatus.PENDING),
        ("approved", InvoiceStatus.AUTHORIZED),
        ("captured", InvoiceStatus.PAID),
        ("denied", InvoiceStatus.FAILED),
        ("cancelled", InvoiceStatus.CANCELLED),
        ("expired", InvoiceStatus.EXPIRED),
    ],
)
def test_status_mapping(db, wire, ours) -> None:
    invoice = InvoiceFactory(gateway=ALIAS, order__currency="AED", order__amount=Decimal("100.00"))
    with responses.RequestsMock() as mock:
        mock.get(f"{API}orders/{invoice.pk}", json={**ORDER, "status": wire})
        result = gateway().fetch_status(invoice)
    assert result.status == ours
    assert (result.amount, result.currency) == (Decimal("100.00"), "AED")


def test_unknown_status_is_an_api_error(db) -> None:
    invoice = InvoiceFactory(gateway=ALIAS, order__currency="AED")
    with responses.RequestsMock() as mock:
        mock.get(f"{API}orders/{invoice.pk}", json={**ORDER, "status": "mystery"})
        with pytest.raises(GatewayAPIError, match="mystery"):
            gateway().fetch_status(invoice)


def test_refunded_order_status_reads_the_refunded_amount(db) -> None:
    invoice = InvoiceFactory(gateway=ALIAS, order__currency="AED", order__amount=Decimal("100"))
    with responses.RequestsMock() as mock:
        mock.get(f"{API}orders/{invoice.pk}", json={**ORDER, "status": "partially_refunded"})
        mock.get(
            f"{API}orders/{invoice.pk}/refunds",
            json={
                "count": 1,
                "next": None,
                "previous": None,
                "results": [
                    {
                        "refund_id": "r1",
                        "amount": 2500,
                        "full": False,
                        "description": "",
                        "created": "2020-05-09T11:20:04.311723Z",
                    }
                ],
            },
        )
        result = gateway().fetch_status(invoice)
    assert result.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert result.refunded_amount == Decimal("25.00")


def paid(router) -> Invoice:
    order = sample_order(reference=f"o-{len(Order.objects.all())}")
    payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    response = router.client.post(invoice.redirect_url, {"outcome": "approve"})
    router.client.get(response["Location"])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    return invoice


def test_capture_is_a_bodyless_post(router) -> None:
    invoice = paid(router)
    [capture] = router.requests_to(rf"orders/{invoice.pk}/capture$")
    assert capture.method == "POST"
    assert not capture.body
    assert capture.headers["Authorization"] == BASIC


def test_partial_capture_is_refused(db) -> None:
    invoice = InvoiceFactory(gateway=ALIAS, order__currency="AED")
    with pytest.raises(InvalidRequest):
        gateway().capture(invoice, invoice.amount - 1)


def test_get_and_list_orders_with_filters_ordering_and_pages(router) -> None:
    first, second, third = paid(router), paid(router), paid(router)
    with store.table("postpay.lock"), store.table("postpay.orders") as table:
        table[MERCHANT][str(second.pk)]["total_amount"] = 5000
        table[MERCHANT][str(third.pk)]["status"] = "denied"
    one = gateway().get_order(first)
    assert (one.order_id, one.status, one.total_amount) == (str(first.pk), "captured", first.amount)
    assert one.invoice_status == InvoiceStatus.PAID
    page = gateway().list_orders(
        status__in=["captured", "denied"],
        currency="AED",
        total_amount__gte=Decimal("100.00"),
        created__date__gte=date.today() - timedelta(days=1),
        ordering="-created",
        page=1,
        page_size=1,
    )
    request = router.calls[-1]
    query = dict(p.split("=", 1) for p in request.url.split("?", 1)[1].split("&"))
    assert query["status__in"] == "captured%2Cdenied"
    assert query["total_amount__gte"] == "10000"
    assert query["ordering"] == "-created"
    assert (query["page"], query["page_size"]) == ("1", "1")
    assert page.count == 2
    assert [o.order_id for o in page.results] == [str(third.pk)]
    assert page.next
    assert "page=2" in page.next
    assert page.previous is None
    rest = gateway().list_orders(
        status__in=["captured", "denied"],
        currency="AED",
        total_amount__gte=Decimal("100.00"),
        ordering="-created",
        page=2,
        page_size=1,
    )
    assert [o.order_id for o in rest.results] == [str(first.pk)]
    assert rest.next is None
    assert rest.previous


@pytest.mark.parametrize(
    "call",
    [
        lambda g: g.list_orders(page_size=51),
        lambda g: g.list_orders(page=0),
        lambda g: g.list_orders(colour="red"),
        lambda g: g.list_orders(status__gte="captured"),
        lambda g: g.list_orders(ordering="status"),
        lambda g: g.list_orders(total_amount__gte=Decimal("1")),  # amount without currency
        lambda g: g.list_transactions(paid__regex="x"),
    ],
)
def test_list_arguments_are_checked_before_calling(router, call) -> None:
    with pytest.raises(InvalidRequest):
        call(gateway())
    assert not router.calls


# -- refunds ---------------------------------------------------------------------------------


def test_refund_without_amount_is_full(router) -> None:
    invoice = paid(router)
    result = gateway().create_refund(invoice, "whole-1", description="All back")
    assert json.loads(router.calls[-1].body) == {"refund_id": "whole-1", "description": "All back"}
    assert result.amount == invoice.amount
    assert result.raw["full"] is True
    assert result.status == RefundStatus.SUCCEEDED


def test_refund_list_get_and_filters(router) -> None:
    invoice = paid(router)
    payments.refund(invoice, Decimal("10.00"), reason="first @")
    payments.refund(invoice, Decimal("20.00"), reason="second")
    page = gateway().refunds_page(
        invoice, description__contains="@", amount__gte=Decimal("5"), ordering="-amount"
    )
    assert router.calls[-1].url.endswith(
        "description__contains=%40&amount__gte=500&ordering=-amount"
    )
    assert [r.amount for r in page.results] == [Decimal("10.00")]
    everything = gateway().list_refunds(invoice)
    keys = list(invoice.refunds.order_by("created_at").values_list("idempotency_key", flat=True))
    assert [r.idempotency_key for r in everything] == keys
    assert [r.gateway_refund_id for r in everything] == keys
    one = gateway().get_refund(invoice, keys[1])
    assert (one.amount, one.currency, one.status) == (
        Decimal("20.00"),
        "AED",
        RefundStatus.SUCCEEDED,
    )
    assert router.calls[-1].url.endswith(f"orders/{invoice.pk}/refunds/{keys[1]}")


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "invalid"), (409, "invalid_status"), (409, "limit_exceeded"), (429, "throttled")],
)
def test_refund_errors_fail_the_refund_with_postpay_code(router, status, code) -> None:
    invoice = paid(router)
    with responses.RequestsMock() as mock:
        mock.post(
            f"{API}orders/{invoice.pk}/refunds",
            status=status,
            json={"error": {"code": code, "message": "Nope.", "fields": {"amount": ["Bad."]}}},
        )
        with pytest.raises(RefundError) as caught:
            payments.refund(invoice, Decimal("10.00"))
    assert caught.value.code == code
    assert "Nope." in caught.value.message
    refund = invoice.refunds.get()
    assert refund.status == RefundStatus.FAILED
    assert code in refund.failure_reason


def test_refund_server_error_leaves_the_outcome_unknown(router) -> None:
    invoice = paid(router)
    with responses.RequestsMock() as mock:
        mock.post(f"{API}orders/{invoice.pk}/refunds", status=503, body="Oops!!")
        with pytest.raises(GatewayAPIError):
            payments.refund(invoice, Decimal("10.00"))
    assert invoice.refunds.get().status == RefundStatus.REQUESTED


# -- errors ----------------------------------------------------------------------------------


DOCUMENTED_ERRORS = [
    (400, "invalid", "Invalid input."),
    (400, "parse_error", "Malformed request."),
    (401, "authentication_failed", "Invalid authentication credentials."),
    (402, "payment_required", "Payment required."),
    (403, "permission_denied", "You do not have permission to perform this action."),
    (404, "not_found", "Not found."),
    (405, "method_not_allowed", "HTTP method not allowed."),
    (406, "not_acceptable", "Could not satisfy the request Accept header."),
    (409, "conflict", "A conflict of data exists, even with valid information."),
    (410, "gone", "The target resource is no longer available."),
    (415, "unsupported_media_type", "Unsupported media type in request."),
    (422, "unprocessable", "The requested information is okay, but invalid."),
    (429, "throttled", "Request was throttled."),
    (500, "error", "Oops!!"),
    (502, "error", "Oops!!"),
    (503, "error", "Oops!!"),
]


@pytest.mark.parametrize(("status", "code", "message"), DOCUMENTED_ERRORS)
def test_every_documented_error_keeps_code_and_message(status, code, message) -> None:
    with responses.RequestsMock() as mock:
        mock.get(
            f"{API}orders/x",
            status=status,
            json={"error": {"code": code, "message": message}},
            content_type="application/vnd.api+json",
        )
        with pytest.raises((GatewayAPIError, PaymentDeclined)) as caught:
            gateway().get_order("x")
    error = caught.value
    assert error.code == code
    assert message in error.message
    assert error.gateway == ALIAS
    if status == 402:
        assert isinstance(error, PaymentDeclined)
    else:
        assert isinstance(error, GatewayAPIError)
        assert error.http_status == status
    assert SECRET not in str(error)


def test_validation_error_names_its_fields() -> None:
    with responses.RequestsMock() as mock:
        mock.get(
            f"{API}orders/x",
            status=400,
            json={
                "error": {
                    "code": "invalid",
                    "message": "Invalid input.",
                    "fields": {"refund_id": ["This field is required."]},
                }
            },
        )
        with pytest.raises(GatewayAPIError) as caught:
            gateway().get_order("x")
    assert "refund_id: This field is required." in caught.value.message


def test_server_error_without_json_body() -> None:
    with responses.RequestsMock() as mock:
        mock.get(f"{API}orders/x", status=504, body="<html>Gateway Time-out</html>")
        with pytest.raises(GatewayAPIError) as caught:
            gateway().get_order("x")
    assert (caught.value.code, caught.value.http_status) == ("error", 504)


@pytest.mark.parametrize(
    ("status", "code", "raised"),
    [
        (409, "invalid_status", GatewayAPIError),
        (402, "capture_error", PaymentDeclined),
        (410, "expired", GatewayAPIError),
    ],
)
def test_capture_errors(db, status, code, raised) -> None:
    invoice = InvoiceFactory(gateway=ALIAS, order__currency="AED", order__amount=Decimal("100"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(
            f"{API}orders/{invoice.pk}/capture",
            status=status,
            json={"error": {"code": code, "message": "No."}},
        )
        # A 409 reads the order back: not captured, so the error stands.
        mock.get(f"{API}orders/{invoice.pk}", json={**ORDER, "status": "denied"})
        with pytest.raises(raised) as caught:
            gateway().capture(invoice, invoice.amount)
        reads = [c for c in mock.calls if c.request.method == "GET"]
    assert caught.value.code == code
    assert len(reads) == (1 if status == 409 else 0)


# -- settlements -----------------------------------------------------------------------------


def test_settlement_on_the_invoice_admin_page(router, admin_client) -> None:
    """The operator sees what Postpay pays out for this payment, net of its fee."""
    invoice = paid(router)
    lines = gateway().settlement(invoice)
    assert [(line.type, line.amount, line.fee, line.net) for line in lines] == [
        ("order", Decimal("814.80"), Decimal("39.55"), Decimal("775.25"))
    ]
    # Read on the "Read settlement" action and stored; the page shows what was stored.
    admin_client.post(f"/admin/django_multipay/invoice/{invoice.pk}/settlement/")
    page = admin_client.get(f"/admin/django_multipay/invoice/{invoice.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<td>AED\xa0814.80</td><td>AED\xa039.55</td><td>AED\xa0775.25</td>" in html
    assert "not yet" in html  # not paid out


def test_transactions_for_an_invoice_with_fees(router) -> None:
    invoice, other = paid(router), paid(router)
    payments.refund(invoice, Decimal("100.00"))
    found = gateway().transactions_for_invoice(invoice)
    assert [(t.type, t.amount) for t in found] == [
        ("order", Decimal("814.80")),
        ("refund", Decimal("-100.00")),
    ]
    sale = found[0]
    # The reference sample: 81480 - (4.50 % + 1.00, plus 5 % tax) = 77525.
    assert (sale.fee_rate, sale.fee_tax_rate, sale.fee_amount) == (
        Decimal("4.5"),
        Decimal("5"),
        Decimal("1.00"),
    )
    assert sale.total_amount == Decimal("775.25")
    assert sale.order is not None
    assert sale.order.order_id == str(invoice.pk)
    assert sale.paid is None
    request = router.calls[-1]
    assert "currency=AED" in request.url
    assert "created__gte=" in request.url
    assert "page_size=50" in request.url
    assert "ordering=created" in request.url
    assert gateway().get_transaction(sale.id).total_amount == Decimal("775.25")
    refunds = gateway().list_transactions(type__in=["refund"], paid__isnull=True)
    assert [t.type for t in refunds.results] == ["refund"]
    assert "type__in=refund" in router.calls[-1].url
    assert "paid__isnull=true" in router.calls[-1].url
    assert other.pk != invoice.pk


# -- emulator strictness ---------------------------------------------------------------------


def checkout_body() -> dict[str, Any]:
    address = {
        "first_name": "John",
        "last_name": "Doe",
        "line1": "DIFC",
        "city": "Dubai",
        "country": "AE",
        "postal_code": "00000",
    }
    return {
        "order_id": "strict-1",
        "total_amount": 1000,
        "tax_amount": 0,
        "currency": "AED",
        "shipping": {"name": "Standard", "amount": 0, "address": address},
        "customer": {"email": "john@postpay.io"},
        "items": [
            {"reference": "s", "name": "n", "url": "https://x.ae/", "unit_price": 1000, "qty": 1}
        ],
        "merchant": {"confirmation_url": "https://x.ae/ok", "cancel_url": "https://x.ae/ko"},
    }


def post(body: Any, **headers: str) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    content_type = headers.pop("content_type", "application/json")
    return Client().post(
        "/sandbox/postpay/checkouts", data=data, content_type=content_type, headers=headers
    )


# -- the return's query string ("Merchant": confirmation_url / cancel_url) -----------------


def checkout_with(confirmation_url: str, cancel_url: str, order_id: str) -> str:
    """A checkout at the emulator with the shop's own URLs; its hosted page's path."""
    body = checkout_body()
    body["order_id"] = order_id
    body["merchant"] = {"confirmation_url": confirmation_url, "cancel_url": cancel_url}
    answer = post(body, **api_headers())
    assert answer.status_code == 200, answer.content
    return str(urlsplit(answer.json()["redirect_url"]).path)


@pytest.mark.parametrize(
    ("outcome", "wire"),
    [("approve", "APPROVED"), ("deny", "DENIED"), ("cancel", "CANCELLED")],
)
def test_return_parameters_join_a_url_that_already_has_a_query(db, outcome, wire) -> None:
    """The shop's URL keeps its own parameters; order_id and status follow with ``&``."""
    page = checkout_with(
        "https://shop.example/ok/?lang=es", "https://shop.example/cancel/?lang=es", "q-1"
    )
    back = Client().post(page, {"outcome": outcome})
    assert back.status_code == 302
    where = "ok" if outcome == "approve" else "cancel"
    assert back["Location"] == f"https://shop.example/{where}/?lang=es&order_id=q-1&status={wire}"
    store.reset()


def test_return_parameters_replace_their_own_names_and_keep_the_rest(db) -> None:
    """No second ``order_id`` or ``status``: the shop's stale ones give way to Postpay's;
    repeated, blank and percent-encoded parameters of the shop and the fragment stay."""
    page = checkout_with(
        "https://shop.example/ok/?lang=es&status=stale&tag=a&tag=b&empty=&order_id=old#top",
        "https://shop.example/cancel/?next=%2Fcart%2F%3Fx%3D1",
        "q/2 é",
    )
    back = Client().post(page, {"outcome": "approve"})
    location = back["Location"]
    assert location == (
        "https://shop.example/ok/?lang=es&tag=a&tag=b&empty=&order_id=q%2F2+%C3%A9"
        "&status=APPROVED#top"
    )
    query = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert query["order_id"] == ["q/2 é"]
    assert query["status"] == ["APPROVED"]
    store.reset()
    page = checkout_with(
        "https://shop.example/ok/", "https://shop.example/cancel/?next=%2Fcart%2F%3Fx%3D1", "q-3"
    )
    back = Client().post(page, {"outcome": "cancel"})
    assert back["Location"] == (
        "https://shop.example/cancel/?next=%2Fcart%2F%3Fx%3D1&order_id=q-3&status=CANCELLED"
    )
    store.reset()


def test_our_own_cancel_url_query_reaches_the_return_view(router) -> None:
    """Our cancel_url is the return URL with ``?cancelled=1``: Postpay's parameters follow it
    with ``&``, and the return view reads the order back."""
    order = sample_order()
    payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    [request] = router.requests_to("checkouts$", "POST")
    cancel_url = json.loads(request.body)["merchant"]["cancel_url"]
    assert cancel_url == f"http://testserver/payments/return/{invoice.pk}/?cancelled=1"
    response = router.client.post(invoice.redirect_url, {"outcome": "cancel"})
    assert response["Location"] == f"{cancel_url}&order_id={invoice.pk}&status=CANCELLED"
    router.client.get(response["Location"])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED
    assert router.requests_to(rf"orders/{invoice.pk}$", "GET")


# -- alt_phone ("Address": "Alternative phone number.") --------------------------------------


def test_alt_phone_option_reaches_each_address_after_phone(router) -> None:
    order = sample_order(
        shipping_address={
            "name": "Jane Doe",
            "phone": "+971 50 000 0000",
            "line1": "Marina Walk",
            "city": "Dubai",
            "country": "AE",
        }
    )
    invoice, _action = payments.begin_payment(
        order, ALIAS, options={"alt_phone": {"billing": "800 239", "shipping": " 04 123 4567 "}}
    )
    # Read in the address's country (the document's "800 239" is a UAE number) and kept
    # in one unambiguous form.
    assert invoice.gateway_options == {
        "alt_phone": {"billing": "+971800239", "shipping": "+97141234567"}
    }
    [request] = router.requests_to("checkouts$", "POST")
    body = json.loads(request.body)
    assert body["shipping"]["address"]["alt_phone"] == "+97141234567"
    assert body["billing_address"]["alt_phone"] == "+971800239"
    assert body["customer"]["default_address"]["alt_phone"] == "+971800239"
    # In the document's place: right after phone (the sample's key order).
    keys = list(body["billing_address"])
    assert keys[keys.index("phone") + 1] == "alt_phone"
    assert b'"phone": "+971 50 199 8853", "alt_phone": "+971800239"' in request.body
    # Postpay keeps it on the order ("Get single order" shows it in both addresses).
    raw = gateway().get_order(invoice).raw
    assert raw["shipping"]["address"]["alt_phone"] == "+97141234567"
    assert raw["billing_address"]["alt_phone"] == "+971800239"


def test_alt_phone_of_the_billing_address_is_the_shipping_one_without_a_shipping_address(
    router,
) -> None:
    order = sample_order(shipping_address={})
    payments.begin_payment(order, ALIAS, options={"alt_phone": {"billing": "800 239"}})
    body = json.loads(router.requests_to("checkouts$", "POST")[0].body)
    assert body["shipping"]["address"]["alt_phone"] == "+971800239"
    assert body["billing_address"]["alt_phone"] == "+971800239"


def test_without_the_option_no_alt_phone_is_sent(router) -> None:
    payments.start_payment(sample_order(), ALIAS)
    [request] = router.requests_to("checkouts$", "POST")
    assert b"alt_phone" not in request.body


def test_alt_phone_from_customer_metadata_never_reaches_postpay(router) -> None:
    order = sample_order(metadata={"alt_phone": "+971 50 111 1111", "options": {"alt_phone": 1}})
    payments.start_payment(order, ALIAS)
    [request] = router.requests_to("checkouts$", "POST")
    assert b"alt_phone" not in request.body
    assert b"111 1111" not in request.body


@pytest.mark.parametrize(
    ("value", "field", "reason"),
    [
        ("800 239", "options.alt_phone", "must be an object"),
        ({}, "options.alt_phone", "must have at least 1 characters or items"),
        ({"home": "800 239"}, "options.alt_phone", "unknown keys home"),
        ({"billing": 800239}, "options.alt_phone", "alt_phone.billing must be a string"),
        ({"billing": ""}, "options.alt_phone", "alt_phone.billing must be a string"),
        ({"billing": "9" * 31}, "options.alt_phone", "of 1 to 30 characters"),
        ({"billing": "123"}, "options.alt_phone.billing", "is too short or too long"),
        ({"shipping": "phone me"}, "options.alt_phone.shipping", "is not a phone number"),
        ({"billing": "+999 1234"}, "options.alt_phone.billing", "has no country code"),
    ],
)
def test_bad_alt_phone_is_refused_before_any_invoice(router, value, field, reason) -> None:
    order = sample_order()
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order, ALIAS, options={"alt_phone": value})
    assert reason in caught.value.fields[field]
    assert not Invoice.objects.filter(order=order).exists()
    assert not router.calls


def test_alt_phone_national_form_is_read_in_its_address_country(router) -> None:
    bangladesh = {"name": "Rahim Uddin", "line1": "Road 1", "city": "Dhaka", "country": "BD"}
    order = sample_order(shipping_address=bangladesh)
    # A Bangladeshi mobile in national form, in Bangla digits, read in its shipping
    # address's country; the billing one's number in Arabic-Indic digits, in the UAE.
    options = {
        "alt_phone": {
            "shipping": "০১৭১২-৩৪৫৬৭৮",
            "billing": "\u0660\u0665\u0660 \u0661\u0669\u0669 \u0668\u0668\u0665\u0663",
        }
    }
    payments.begin_payment(order, ALIAS, options=options)
    body = json.loads(router.requests_to("checkouts$", "POST")[0].body)
    assert body["shipping"]["address"]["alt_phone"] == "+8801712345678"
    assert body["billing_address"]["alt_phone"] == "+971501998853"
    gw = gateway()
    assert gw.alt_phone_region(order, "shipping") == "BD"
    assert gw.alt_phone_region(order, "billing") == "AE"
    assert gw.alt_phone_region(None, "billing") == "AE"


def test_alt_phone_for_a_missing_billing_address_is_refused(router) -> None:
    order = sample_order(billing_address={})
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order, ALIAS, options={"alt_phone": {"billing": "800 239"}})
    assert caught.value.fields == {"options.alt_phone.billing": "the order has no billing address"}
    assert not router.calls


# ------------------------------------------------------------------------------------------------
# Postpay with customers' names in any script: the JSON on the wire, and webhooks signed over
# non-ASCII bytes.


#: Accents, Bangla, Arabic, and a "/" (which JSON may, but Python's encoder does not, escape).
NAMES = {
    "accents": ("José Núñez", "Jos\\u00e9", "N\\u00fa\\u00f1ez"),
    "bangla": (
        "রহিম উদ্দিন",
        "\\u09b0\\u09b9\\u09bf\\u09ae",
        "\\u0989\\u09a6\\u09cd\\u09a6\\u09bf\\u09a8",
    ),
    "arabic": ("محمد علي", "\\u0645\\u062d\\u0645\\u062f", "\\u0639\\u0644\\u064a"),
    "slash": ("A/B Traders", "A/B", "Traders"),
}


def order_for(name: str) -> Order:
    address = {
        "name": name,
        "phone": "+971 50 199 8853",
        "line1": f"{name}, Sheikh Zayed Road",
        "city": "دبي",
        "country": "AE",
    }
    return payments.create_order(
        reference=f"u-{abs(hash(name))}",
        amount=Decimal("100.00"),
        currency="AED",
        customer_name=name,
        customer_email="buyer@example.ae",
        billing_address=address,
        shipping_address=address,
        items=[
            {
                "reference": "sku/1",
                "name": f"{name} — عطر",
                "description": "Eau de parfum (50ml) · 香水",
                "url": "https://www.example.ae/wild-flower.html",
                "unit_price": Decimal("100.00"),
                "quantity": 1,
            }
        ],
    )


@pytest.mark.parametrize("script", list(NAMES))
def test_names_travel_as_json_escapes_and_come_back_equal(
    router: EmulatorRouter, script: str
) -> None:
    name, first, last = NAMES[script]
    order = order_for(name)
    payments.start_payment(order, ALIAS)
    invoice = Invoice.objects.get(order=order)
    [request] = router.requests_to("checkouts$", "POST")
    assert request.headers["Content-Type"] == "application/json"
    body = request.body
    assert isinstance(body, bytes)
    # JSON with every non-ASCII character as a \u escape (so the bytes are ASCII, and
    # valid UTF-8 whatever charset the reader assumes); "/" as it is.
    assert max(body) < 0x80
    assert f'"first_name": "{first}", "last_name": "{last}"'.encode() in body
    assert b'"city": "\\u062f\\u0628\\u064a"' in body
    assert b'"reference": "sku/1"' in body
    # Decoded, it is what the shop wrote.
    sent = json.loads(body)
    assert sent["billing_address"]["line1"] == f"{name}, Sheikh Zayed Road"
    assert sent["items"][0]["name"] == f"{name} — عطر"
    assert " ".join((sent["customer"]["first_name"], sent["customer"]["last_name"])) == name
    # What the emulator kept, read back through the backend ("Get single order").
    kept = gateway().get_order(invoice).raw
    assert kept["shipping"]["address"]["first_name"] == json.loads(f'"{first}"')
    assert kept["billing_address"]["line1"] == f"{name}, Sheikh Zayed Road"
    assert kept["items"][0]["description"] == "Eau de parfum (50ml) · 香水"
