"""PortWallet (API v1) on the wire: every call's request, the document's samples, bad answers;
phone numbers and country codes; names in any script (UTF-8 percent-encoding)."""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import responses
from django.test import Client
from django.urls import reverse

from django_multipay import payments
from django_multipay.exceptions import (
    GatewayAPIError,
    GatewayConfigurationError,
    GatewayConnectionError,
    GatewayError,
    InvalidRequest,
    NotificationRejected,
    RefundError,
    RefundRefused,
)
from django_multipay.gateways import portwallet
from django_multipay.gateways.portwallet import (
    STATUS_CODES,
    PortWalletError,
    PortWalletGateway,
)
from django_multipay.gateways.portwallet_common import invoice_status, md5_token, status_name
from django_multipay.gateways.results import NotificationEvent
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox.store import store
from django_multipay.status import (
    InvoiceStatus,
    NotificationResult,
    RefundStatus,
)
from django_multipay.testing.factories import InvoiceFactory, OrderFactory, OrderItemFactory
from django_multipay.testing.router import EmulatorRouter
from tests.gateways import portwallet_samples as samples
from tests.gateways.test_portwallet import FORM

#: The document's example timestamp; every request below is made "at" it.
NOW = 1424941656
REAL_UNIX_TIME = portwallet.unix_time
APP_KEY = "9c41cf8bce319cc6300cc2c4e9ef7c8f"
SECRET = "portwallet-test-secret"
ENDPOINT = "http://testserver/sandbox/portwallet/"
TOKEN = hashlib.md5(f"{SECRET}{NOW}".encode()).hexdigest()

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(portwallet, "unix_time", lambda: NOW)


@pytest.fixture
def real_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undoes ``fixed_time`` for a test that goes through the emulator, which takes only a
    current timestamp."""
    monkeypatch.setattr(portwallet, "unix_time", REAL_UNIX_TIME)


@pytest.fixture
def mock() -> Any:
    with responses.RequestsMock() as rsps:
        yield rsps


def common(call: str) -> list[tuple[str, str]]:
    """The four parameters every call starts with, as the document lists them."""
    return [("app_key", APP_KEY), ("timestamp", str(NOW)), ("token", TOKEN), ("call", call)]


def sent_form(call: Any) -> list[tuple[str, str]]:
    body = call.request.body
    return parse_qsl(body if isinstance(body, str) else body.decode(), keep_blank_values=True)


def make_invoice(gateway_id: str, status: str = InvoiceStatus.PENDING, **kw: Any) -> Invoice:
    order = OrderFactory(currency="BDT", amount=Decimal("100.00"))
    captured = Decimal("100.00") if status == InvoiceStatus.PAID else Decimal(0)
    invoice = InvoiceFactory(
        order=order,
        gateway="portwallet",
        gateway_id=gateway_id,
        status=status,
        captured_amount=captured,
        **kw,
    )
    assert isinstance(invoice, Invoice)
    return invoice


def envelope(code: int, invoice_id: str = "854EEEF3240FBB53", **data: Any) -> dict[str, Any]:
    """An answer in the document's shape for a status code."""
    if code in (400, 500):
        return {"status": code, "message": data.get("message", "Invalid Request")}
    return {
        "status": code,
        "data": {
            "invoice_id": invoice_id,
            "amount": "100.00",
            "currency": "BDT",
            "status": STATUS_CODES[code].name,
            "reason": "",
            **data,
        },
    }


# -- the token ---------------------------------------------------------------------------------


def test_token_is_lower_case_md5_of_secret_then_timestamp() -> None:
    assert md5_token(SECRET, NOW) == TOKEN
    assert len(TOKEN) == 32
    assert TOKEN.lower() == TOKEN


def test_every_request_gets_a_fresh_timestamp_and_token(
    portwallet_gateway: PortWalletGateway, mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = iter([NOW, NOW + 7])
    monkeypatch.setattr(portwallet, "unix_time", lambda: next(clock))
    invoice = make_invoice("854EEEF3240FBB53")
    mock.add(responses.POST, ENDPOINT, body=samples.GET_INVOICE_SAMPLE)
    mock.add(responses.POST, ENDPOINT, body=samples.GET_INVOICE_SAMPLE)
    portwallet_gateway.fetch_status(invoice)
    portwallet_gateway.fetch_status(invoice)
    first, second = (dict(sent_form(c)) for c in mock.calls)
    assert (first["timestamp"], second["timestamp"]) == (str(NOW), str(NOW + 7))
    assert second["token"] == md5_token(SECRET, NOW + 7) != first["token"]


# -- gen_invoice -------------------------------------------------------------------------------


def test_gen_invoice_request_carries_every_documented_field(mock: Any) -> None:
    order = OrderFactory(
        currency="BDT",
        amount=Decimal("100.00"),
        description="Spring collection",
        customer_name="Ada Lovelace",
        customer_email="ada@example.com",
        customer_phone="+880 1700-000000",
        billing_address={
            "line1": "12 Example Road",
            "line2": "Banani",
            "city": "Dhaka",
            "postal_code": "1213",
            "country": "bd",
        },
        shipping_address={
            "name": "Robbie Amell",
            "line1": "House 1, Road1",
            "line2": "Gulshan 1",
            "city": "Dhaka",
            "state": "Dhaka Division",
            "postal_code": "1212",
            "country": "BGD",
            "phone": "+880123456789",
        },
    )
    OrderItemFactory(order=order, name="Polo T-shirt", quantity=2, unit_price=Decimal("40.00"))
    OrderItemFactory(order=order, name="Cap", quantity=1, unit_price=Decimal("20.00"))
    mock.add(responses.POST, ENDPOINT, body=samples.GEN_INVOICE_SUCCESS)

    action = payments.start_payment(order, "portwallet")

    invoice = Invoice.objects.get(order=order)
    (call,) = mock.calls
    assert call.request.method == "POST"
    assert call.request.url == ENDPOINT
    assert call.request.headers["Content-Type"] == FORM
    assert "Authorization" not in call.request.headers
    assert sent_form(call) == [
        *common("gen_invoice"),
        ("amount", "100.00"),
        ("currency", "BDT"),
        ("product_name", "2x Polo T-shirt, 1x Cap"),
        ("product_description", "2x Polo T-shirt, 1x Cap: Spring collection"),
        ("name", "Ada Lovelace"),
        ("email", "ada@example.com"),
        ("phone", "+8801700000000"),
        ("address", "12 Example Road, Banani"),
        ("city", "Dhaka"),
        # "If there is no state, re-enter city."
        ("state", "Dhaka"),
        ("zipcode", "1213"),
        ("country", "BD"),
        ("redirect_url", f"http://testserver/payments/return/{invoice.pk}/"),
        ("ipn_url", "http://testserver/payments/notify/portwallet/"),
        ("ship_to_name", "Robbie Amell"),
        ("ship_to_email", "ada@example.com"),
        ("ship_to_phone", "+880123456789"),
        ("ship_to_address", "House 1, Road1, Gulshan 1"),
        ("ship_to_city", "Dhaka"),
        ("ship_to_state", "Dhaka Division"),
        ("ship_to_zipcode", "1212"),
        ("ship_to_country", "BGD"),
    ]
    # The sample's invoice_id, on the documented payment page: the test settings set
    # base_url (the emulator's API) but no payment_url, and base_url never moves the page.
    assert invoice.gateway_id == "854EEE3DCAEA1725"
    assert action.url == "https://payment-sandbox.portwallet.com/payment/?invoice=854EEE3DCAEA1725"
    assert invoice.redirect_url == action.url
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.gateway_data["data"]["invoice_id"] == "854EEE3DCAEA1725"


def test_no_shipping_address_sends_no_ship_to_fields(mock: Any) -> None:
    order = OrderFactory(currency="BDT", shipping_address={})
    mock.add(responses.POST, ENDPOINT, body=samples.GEN_INVOICE_SUCCESS)
    payments.start_payment(order, "portwallet")
    names = [name for name, _ in sent_form(mock.calls[0])]
    assert not [n for n in names if n.startswith("ship_to_")]


def test_long_item_lists_are_shortened_to_the_documented_limits(mock: Any) -> None:
    order = OrderFactory(currency="BDT", amount=Decimal("100.00"), description="")
    for n in range(30):
        OrderItemFactory(order=order, name=f"Product number {n}", unit_price=Decimal("1.00"))
    mock.add(responses.POST, ENDPOINT, body=samples.GEN_INVOICE_SUCCESS)
    payments.start_payment(order, "portwallet")
    sent = dict(sent_form(mock.calls[0]))
    assert len(sent["product_name"]) <= 150
    assert sent["product_name"].endswith("...")
    assert len(sent["product_description"]) <= 300


@pytest.mark.parametrize(
    ("currency", "amount"), [("EUR", "100.00"), ("BDT", "9.99"), ("BDT", "100000000.00")]
)
def test_currency_and_amount_limits_are_refused_before_calling(
    mock: Any, currency: str, amount: str
) -> None:
    order = OrderFactory(currency=currency, amount=Decimal(amount))
    with pytest.raises(InvalidRequest):
        payments.start_payment(order, "portwallet")
    assert len(mock.calls) == 0
    assert not Invoice.objects.filter(order=order).exists()


@pytest.mark.parametrize(
    ("currency", "amount", "field"),
    [("EUR", "100.00", "currency"), ("BDT", "9.99", "amount"), ("BDT", "10.00", None)],
)
def test_backend_checks_currency_and_minimum_itself(
    portwallet_gateway: PortWalletGateway, mock: Any, currency: str, amount: str, field: str | None
) -> None:
    """Even when called without the core's check (``Capabilities``), nothing is sent."""
    invoice = InvoiceFactory(
        order=OrderFactory(currency=currency, amount=Decimal(amount)),
        gateway="portwallet",
        gateway_id="",
        status=InvoiceStatus.CREATED,
    )
    urls = payments.payment_urls(invoice)
    if field is None:
        assert portwallet_gateway.invoice_fields(invoice, urls)["amount"] == "10.00"
        return
    with pytest.raises(InvalidRequest) as caught:
        portwallet_gateway.start_payment(invoice, urls)
    assert field in caught.value.fields
    assert len(mock.calls) == 0


def test_every_bad_field_is_named_and_nothing_is_sent(mock: Any) -> None:
    order = OrderFactory(
        currency="BDT",
        customer_name="N" * 51,
        customer_phone="",
        customer_email="not-an-email",
        billing_address={"line1": "Road 1", "city": "Dhaka", "country": "Bangladesh"},
        shipping_address={"line1": "Road 2", "city": "Dhaka", "postal_code": "123456789"},
    )
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portwallet")
    assert set(caught.value.fields) == {
        "name",
        "phone",
        "email",
        "zipcode",
        "country",
        "ship_to_name",
        "ship_to_email",
        "ship_to_zipcode",
    }
    assert "phone: is required" in str(caught.value)
    assert len(mock.calls) == 0
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.FAILED
    assert "phone" in invoice.failure_reason


def test_gen_invoice_failed_sample_gives_each_field_message(mock: Any) -> None:
    order = OrderFactory(currency="BDT")
    mock.add(responses.POST, ENDPOINT, body=samples.GEN_INVOICE_FAILED)
    with pytest.raises(PortWalletError) as caught:
        payments.start_payment(order, "portwallet")
    error = caught.value
    assert error.gateway_status == 400
    assert error.code == "invalid_request"
    assert error.fields == {
        "amount": "amount is not set",
        "product_name": "product_name is not set",
        "product_description": "product_description is not set",
        "redirect_url": "redirect_url is not set",
    }
    assert "amount: amount is not set" in str(error)
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.FAILED
    assert "product_name is not set" in invoice.failure_reason


def test_documented_hosts_and_payment_pages() -> None:
    keys = {"app_key": APP_KEY, "secret_key": SECRET}
    sandbox = PortWalletGateway("pw", {**keys, "sandbox": True})
    live = PortWalletGateway("pw", keys)
    assert sandbox.base_url == "https://api-sandbox.portwallet.com/api/v1/"
    assert live.base_url == "https://api.portwallet.com/api/v1/"
    assert (
        sandbox.payment_page("854EEA58BC861985")
        == "https://payment-sandbox.portwallet.com/payment/?invoice=854EEA58BC861985"
    )
    assert live.payment_page("X1") == "https://payment.portwallet.com/payment/?invoice=X1"
    proxied = PortWalletGateway(
        "pw", {**keys, "base_url": "https://proxy/api/v1/", "payment_url": "https://pay/p/"}
    )
    assert proxied.payment_page("X1") == "https://pay/p/?invoice=X1"


@pytest.mark.parametrize(
    ("sandbox", "page"),
    [
        (True, "https://payment-sandbox.portwallet.com/payment/?invoice=X1"),
        (False, "https://payment.portwallet.com/payment/?invoice=X1"),
    ],
)
def test_base_url_alone_never_moves_the_payment_page(sandbox: bool, page: str) -> None:
    """A reported defect: with base_url overridden (a proxy), customers were sent to
    ``<base_url>payment/``, i.e. ``…/api/v1/payment/``, a page no one serves. The page is
    the ``payment_url`` option, else the documented one ("PortWallet payment URL is")."""
    keys = {"app_key": APP_KEY, "secret_key": SECRET, "sandbox": sandbox}
    proxied = PortWalletGateway("pw", {**keys, "base_url": "https://proxy.example/api/v1/"})
    assert proxied.base_url == "https://proxy.example/api/v1/"
    assert proxied.payment_page("X1") == page
    assert "/api/v1/" not in proxied.payment_page("X1")


def test_customer_behind_a_proxied_api_is_sent_to_the_documented_page(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with_options(settings, base_url="https://proxy.example/api/v1/")
    order = OrderFactory(currency="BDT")
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "https://proxy.example/api/v1/", body=samples.GEN_INVOICE_SUCCESS)
        with caplog.at_level(logging.WARNING, logger="django_multipay.gateways.portwallet"):
            action = payments.start_payment(order, "portwallet")
        assert [c.request.url for c in mock.calls] == ["https://proxy.example/api/v1/"]
    assert action.url == "https://payment-sandbox.portwallet.com/payment/?invoice=854EEE3DCAEA1725"
    assert Invoice.objects.get(order=order).redirect_url == action.url
    # Said once per payment, so an emulator set-up without payment_url is noticed.
    assert "base_url is set but payment_url is not" in caplog.text


def test_sandbox_calls_go_to_the_documented_endpoint() -> None:
    gateway = PortWalletGateway(
        "portwallet", {"app_key": APP_KEY, "secret_key": SECRET, "sandbox": True}
    )
    invoice = make_invoice("854EEEF3240FBB53")
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            "https://api-sandbox.portwallet.com/api/v1/",
            body=samples.GET_INVOICE_SAMPLE,
        )
        assert gateway.fetch_status(invoice).status == InvoiceStatus.PAID


# -- ipn_validate ------------------------------------------------------------------------------


def test_ipn_validate_request_and_accepted_sample(
    portwallet_gateway: PortWalletGateway, mock: Any
) -> None:
    invoice = make_invoice("854EEEF3240FBB53")
    mock.add(responses.POST, ENDPOINT, body=samples.IPN_VALIDATE_ACCEPTED)
    result = portwallet_gateway.verify_notification(
        invoice, NotificationEvent(gateway_id="854EEEF3240FBB53")
    )
    (call,) = mock.calls
    assert call.request.method == "POST"
    assert call.request.url == ENDPOINT
    assert sent_form(call) == [
        *common("ipn_validate"),
        ("amount", "100.00"),
        ("invoice", "854EEEF3240FBB53"),
    ]
    assert result.status == InvoiceStatus.PAID
    assert result.amount == Decimal("100.00")
    assert result.currency == "BDT"
    assert result.gateway_id == "854EEEF3240FBB53"
    assert result.raw["data"]["card_brand"] == "VISA"


def test_rejected_sample_as_printed_is_not_json(
    portwallet_gateway: PortWalletGateway, mock: Any
) -> None:
    """The document prints the REJECTED sample with one closing brace too many."""
    invoice = make_invoice("854EEF01F62EBB53")
    mock.add(responses.POST, ENDPOINT, body=samples.IPN_VALIDATE_REJECTED)
    with pytest.raises(GatewayAPIError, match="not JSON"):
        portwallet_gateway.verify_notification(invoice, NotificationEvent())


def test_rejected_sample_without_the_stray_brace(
    portwallet_gateway: PortWalletGateway, mock: Any
) -> None:
    invoice = make_invoice("854EEF01F62EBB53")
    repaired = samples.IPN_VALIDATE_REJECTED.rstrip()[:-1].rstrip()
    mock.add(responses.POST, ENDPOINT, body=repaired)
    result = portwallet_gateway.verify_notification(invoice, NotificationEvent())
    assert result.status == InvoiceStatus.FAILED
    assert result.failure_reason == "Unsuccessful - Declined"
    assert result.amount == Decimal("100.00")


def test_pending_sample_has_no_currency(portwallet_gateway: PortWalletGateway, mock: Any) -> None:
    invoice = make_invoice("854EEF0AE647C438")
    mock.add(responses.POST, ENDPOINT, body=samples.IPN_VALIDATE_PENDING)
    result = portwallet_gateway.verify_notification(invoice, NotificationEvent())
    assert result.status == InvoiceStatus.PENDING
    assert result.currency is None
    assert result.amount == Decimal("100.00")


def test_invalid_ipn_sample_disowns_the_notification(
    portwallet_gateway: PortWalletGateway, mock: Any
) -> None:
    invoice = make_invoice("854EEEF3240FBB53")
    mock.add(responses.POST, ENDPOINT, body=samples.IPN_VALIDATE_INVALID)
    with pytest.raises(NotificationRejected, match="Invalid IPN Request"):
        portwallet_gateway.verify_notification(invoice, NotificationEvent())


# -- get_invoice -------------------------------------------------------------------------------


def test_get_invoice_request_and_sample(portwallet_gateway: PortWalletGateway, mock: Any) -> None:
    invoice = make_invoice("854EEEF3240FBB53")
    mock.add(responses.POST, ENDPOINT, body=samples.GET_INVOICE_SAMPLE)
    result = portwallet_gateway.fetch_status(invoice)
    (call,) = mock.calls
    assert call.request.method == "POST"
    assert call.request.url == ENDPOINT
    assert sent_form(call) == [*common("get_invoice"), ("invoice", "854EEEF3240FBB53")]
    assert result.status == InvoiceStatus.PAID
    assert (result.amount, result.currency) == (Decimal("100.00"), "BDT")


def test_get_invoice_invalid_sample(portwallet_gateway: PortWalletGateway, mock: Any) -> None:
    invoice = make_invoice("854EEEF3240FBB53")
    mock.add(responses.POST, ENDPOINT, body=samples.GET_INVOICE_INVALID)
    with pytest.raises(PortWalletError) as caught:
        portwallet_gateway.fetch_status(invoice)
    assert caught.value.gateway_status == 400
    assert (
        caught.value.message
        == "PortWallet refused get_invoice (400 INVALID_REQUEST): Invalid Request"
    )


# -- refund_request ----------------------------------------------------------------------------


def test_refund_request_and_sample(mock: Any) -> None:
    invoice = make_invoice("854EEEF3240FBB53", status=InvoiceStatus.PAID)
    mock.add(responses.POST, ENDPOINT, body=samples.REFUND_REQUEST_SAMPLE)
    refund = payments.refund(invoice, "10.00")
    (call,) = mock.calls
    assert call.request.method == "POST"
    assert call.request.url == ENDPOINT
    assert sent_form(call) == [
        *common("refund_request"),
        ("invoice", "854EEEF3240FBB53"),
        ("amount", "10.00"),
    ]
    # 210 REFUND_PENDING: submitted, not yet paid back.
    assert refund.status == RefundStatus.PENDING
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.refunded_amount == 0


def test_refund_refusal_sample_fails_the_refund(mock: Any) -> None:
    invoice = make_invoice("854EEEF3240FBB53", status=InvoiceStatus.PAID)
    mock.add(responses.POST, ENDPOINT, body=samples.REFUND_REQUEST_INVALID)
    with pytest.raises(
        RefundError, match=re.escape("Refund amount exceeded. Refundable amount is 19.00")
    ):
        payments.refund(invoice, "20.00")
    refund = Refund.objects.get(invoice=invoice)
    assert refund.status == RefundStatus.FAILED
    assert "Refundable amount is 19.00" in refund.failure_reason
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


@pytest.mark.parametrize(
    ("answer", "kwargs"),
    [
        ("timeout", {"body": requests.ReadTimeout("slow")}),
        ("http 500", {"status": 500, "body": "boom"}),
        ("html", {"body": "<html><body>Maintenance</body></html>"}),
        ("code 300", {"json": envelope(300)}),
        ("no data", {"json": {"status": 210}}),
    ],
)
def test_refund_with_an_unreadable_answer_stays_requested(
    mock: Any, answer: str, kwargs: dict[str, Any]
) -> None:
    """The refund may have been made: it is neither failed nor sent again."""
    invoice = make_invoice("854EEEF3240FBB53", status=InvoiceStatus.PAID)
    mock.add(responses.POST, ENDPOINT, **kwargs)
    with pytest.raises(GatewayError):
        payments.refund(invoice, "10.00", idempotency_key="k1")
    refund = Refund.objects.get(invoice=invoice)
    assert refund.status == RefundStatus.REQUESTED
    with pytest.raises(RefundRefused) as again:
        payments.refund(invoice, "10.00", idempotency_key="k1")
    assert again.value.code == "refund_outcome_unknown"
    assert len(mock.calls) == 1


def test_refund_not_allowed_is_a_refusal(mock: Any) -> None:
    invoice = make_invoice("854EEEF3240FBB53", status=InvoiceStatus.PAID)
    mock.add(responses.POST, ENDPOINT, json={"status": 500, "message": "Not allowed"})
    with pytest.raises(RefundError, match="500 NOT_ALLOWED"):
        payments.refund(invoice, "10.00")
    assert Refund.objects.get(invoice=invoice).status == RefundStatus.FAILED


# -- status codes ------------------------------------------------------------------------------


def test_the_table_has_the_eleven_documented_codes() -> None:
    assert sorted(STATUS_CODES) == [100, 120, 200, 210, 215, 220, 230, 240, 300, 400, 500]


@pytest.mark.parametrize(
    ("code", "invoice_status", "refund_status"),
    [
        (100, InvoiceStatus.PENDING, None),
        (120, InvoiceStatus.CANCELLED, None),
        (200, InvoiceStatus.PAID, RefundStatus.PENDING),
        (210, InvoiceStatus.PAID, RefundStatus.PENDING),
        (215, InvoiceStatus.PAID, RefundStatus.PENDING),
        (220, InvoiceStatus.PAID, RefundStatus.SUCCEEDED),
        (230, InvoiceStatus.PAID, RefundStatus.SUCCEEDED),
        (240, InvoiceStatus.CHARGED_BACK, None),
        (300, InvoiceStatus.FAILED, None),
        (400, None, None),
        (500, None, None),
    ],
)
def test_every_status_code_is_mapped(
    portwallet_gateway: PortWalletGateway,
    mock: Any,
    code: int,
    invoice_status: str | None,
    refund_status: str | None,
) -> None:
    invoice = make_invoice("854EEEF3240FBB53", status=InvoiceStatus.PAID)
    mock.add(responses.POST, ENDPOINT, json=envelope(code, message="Gateway says no"))
    mock.add(responses.POST, ENDPOINT, json=envelope(code, message="Gateway says no"))
    if invoice_status is None:
        with pytest.raises(PortWalletError) as caught:
            portwallet_gateway.fetch_status(invoice)
        assert caught.value.gateway_status == code
        assert f"({code} {STATUS_CODES[code].name}): Gateway says no" in str(caught.value)
    else:
        assert portwallet_gateway.fetch_status(invoice).status == invoice_status
    refund = Refund.objects.create(invoice=invoice, amount=Decimal("10.00"), currency="BDT")
    if refund_status is None and invoice_status is None:
        with pytest.raises(RefundError):
            portwallet_gateway.refund(refund)
    elif refund_status is None:
        with pytest.raises(GatewayAPIError) as unknown:
            portwallet_gateway.refund(refund)
        assert unknown.value.http_status is None  # outcome unknown: stays requested
    else:
        assert portwallet_gateway.refund(refund).status == refund_status


def test_unknown_status_code_is_logged_and_changes_nothing(
    mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    invoice = make_invoice("854EEEF3240FBB53")
    mock.add(responses.POST, ENDPOINT, json={**envelope(200), "status": 250})
    with (
        caplog.at_level(logging.WARNING, logger="django_multipay.gateways.portwallet"),
        pytest.raises(GatewayAPIError) as caught,
    ):
        payments.refresh(invoice)
    assert caught.value.code == "unknown_status"
    assert "unknown status code 250" in caplog.text
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


# -- bad answers -------------------------------------------------------------------------------

BAD_ANSWERS = {
    "timeout": ({"body": requests.ReadTimeout("slow")}, GatewayConnectionError, "timed out"),
    "http 500": ({"status": 500, "body": "boom"}, GatewayAPIError, "HTTP 500"),
    "html": ({"body": "<!DOCTYPE html><html>Oops</html>"}, GatewayAPIError, "not JSON"),
    "json list": ({"json": [1, 2]}, GatewayAPIError, "not an object"),
    "no status": ({"json": {"data": {}}}, GatewayAPIError, "without a numeric status"),
    "no data": ({"json": {"status": 200}}, GatewayAPIError, "no data object"),
    "no amount": (
        {"json": {"status": 200, "data": {"invoice_id": "854EEEF3240FBB53"}}},
        GatewayAPIError,
        "amount",
    ),
    "other invoice": ({"json": envelope(200, "OTHER")}, GatewayAPIError, "not '854EEEF3240FBB53'"),
    "status disagrees": (
        {"json": envelope(200, status="REJECTED")},
        GatewayAPIError,
        "data.status 'REJECTED'",
    ),
    "message object": (
        {"json": {"status": 400, "message": {"invoice": "invoice is not set"}}},
        PortWalletError,
        "invoice: invoice is not set",
    ),
    "http 400 envelope": (
        {"status": 400, "json": {"status": 400, "message": "Invalid Request"}},
        PortWalletError,
        "Invalid Request",
    ),
}


@pytest.mark.parametrize("name", list(BAD_ANSWERS))
def test_bad_answer_to_a_status_read_changes_nothing(mock: Any, name: str) -> None:
    kwargs, error, text = BAD_ANSWERS[name]
    invoice = make_invoice("854EEEF3240FBB53", gateway_data={"before": True})
    mock.add(responses.POST, ENDPOINT, **kwargs)
    with pytest.raises(error) as caught:
        payments.refresh(invoice)
    assert text in str(caught.value)
    assert "[portwallet]" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert TOKEN not in str(caught.value)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.gateway_data == {"before": True}


@pytest.mark.parametrize("name", ["timeout", "http 500", "html", "no data", "status disagrees"])
def test_bad_answer_while_validating_an_ipn_keeps_it_for_retry(mock: Any, name: str) -> None:
    kwargs, _error, _text = BAD_ANSWERS[name]
    invoice = make_invoice("854EEEF3240FBB53")
    mock.add(responses.POST, ENDPOINT, **kwargs)
    response = Client().post(
        reverse("django_multipay:notify", kwargs={"alias": "portwallet"}),
        data="invoice=854EEEF3240FBB53&amount=100.00&status=ACCEPTED",
        content_type=FORM,
    )
    assert response.status_code == 503
    stored = Notification.objects.get(gateway="portwallet")
    assert stored.result == NotificationResult.FAILED
    assert stored.invoice_id == invoice.pk
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


# -- options and the shared vocabulary ---------------------------------------------------------


def with_options(settings: Any, **options: Any) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portwallet"]["OPTIONS"].update(options)
    settings.MULTIPAY = config


def test_defaults_fill_customer_fields_the_order_lacks(settings: Any, mock: Any) -> None:
    with_options(settings, defaults={"phone": "+8801000000000", "state": "Dhaka"})
    order = OrderFactory(currency="BDT", customer_phone="", shipping_address={})
    mock.add(responses.POST, ENDPOINT, body=samples.GEN_INVOICE_SUCCESS)
    payments.start_payment(order, "portwallet")
    sent = dict(sent_form(mock.calls[0]))
    assert sent["phone"] == "+8801000000000"
    assert sent["state"] == "Dhaka"  # the order's own value wins


def test_unknown_defaults_are_a_configuration_error(settings: Any, mock: Any) -> None:
    with_options(settings, defaults={"amount": "1.00"})
    order = OrderFactory(currency="BDT")
    with pytest.raises(GatewayConfigurationError, match="amount"):
        payments.start_payment(order, "portwallet")
    assert len(mock.calls) == 0


def test_status_names_agree_with_the_shared_vocabulary() -> None:
    """PortPos v2 sends the same names; both backends read them the same way."""
    for code, entry in STATUS_CODES.items():
        assert status_name(code) == entry.name
        if entry.invoice is not None:
            assert invoice_status(entry.name) == entry.invoice


# -- payment_url (Introduction: "PortWallet payment URL is") ----------------------------------


def test_payment_url_option_names_the_page_whatever_base_url_says(settings: Any) -> None:
    with_options(settings, payment_url="https://pay.proxy.example/portwallet/payment/")
    order = OrderFactory(currency="BDT")
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, ENDPOINT, body=samples.GEN_INVOICE_SUCCESS)
        action = payments.start_payment(order, "portwallet")
    assert action.url == "https://pay.proxy.example/portwallet/payment/?invoice=854EEE3DCAEA1725"
    assert Invoice.objects.get(order=order).redirect_url == action.url


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("https://pay/p/", "https://pay/p/?invoice=X%2F1"),
        ("https://pay/p/?lang=bn", "https://pay/p/?lang=bn&invoice=X%2F1"),
        ("https://pay/p/?lang=bn&invoice=old&x=", "https://pay/p/?lang=bn&x=&invoice=X%2F1"),
        ("https://pay/p/?next=%2Fa%3Fb#top", "https://pay/p/?next=%2Fa%3Fb&invoice=X%2F1#top"),
    ],
)
def test_payment_url_keeps_its_own_query(page: str, expected: str) -> None:
    gateway = PortWalletGateway(
        "pw", {"app_key": APP_KEY, "secret_key": SECRET, "payment_url": page}
    )
    assert gateway.payment_page("X/1") == expected


def test_payment_url_is_a_declared_option() -> None:
    known = PortWalletGateway.known_options()
    assert known is not None
    assert "payment_url" in known


@pytest.mark.parametrize(
    "page",
    [
        "ftp://pay.example/payment/",
        "/payment/",
        "payment.portwallet.com/payment/",
        "https:///payment/",
        "https://pay example/payment/",
        "https://pay.example:port/payment/",
        "javascript:alert(1)",
        42,
        ["https://pay.example/"],
    ],
)
def test_a_payment_url_that_is_not_http_is_refused_by_a_check_and_at_payment(
    settings: Any, page: Any
) -> None:
    from django_multipay.checks import check_settings

    with_options(settings, payment_url=page)
    errors = [m for m in check_settings() if m.id == "multipay.E013"]
    assert len(errors) == 1
    assert "'portwallet'" in errors[0].msg
    assert "OPTIONS.payment_url" in errors[0].msg
    assert "must be a valid http URL" in errors[0].msg
    assert not [m for m in check_settings() if m.id == "multipay.W005"]
    order = OrderFactory(currency="BDT")
    with responses.RequestsMock() as mock:
        with pytest.raises(GatewayConfigurationError, match="payment_url"):
            payments.start_payment(order, "portwallet")
        assert len(mock.calls) == 0
    assert not Invoice.objects.filter(order=order).exists()


@pytest.mark.parametrize("page", ["https://pay.example/payment/", "http://localhost:8000/p/"])
def test_an_http_payment_url_passes_the_check(settings: Any, page: str) -> None:
    from django_multipay.checks import check_settings

    with_options(settings, payment_url=page)
    assert [m for m in check_settings() if m.id in ("multipay.E013", "multipay.W005")] == []


# ------------------------------------------------------------------------------------------------
# PortWallet (API v1) customer data on the wire: phone numbers and country codes.


DHAKA = {"line1": "House 1, Road 1", "city": "Dhaka", "postal_code": "1212", "country": "BD"}


def make_order(**fields: Any) -> Order:
    fields.setdefault("billing_address", dict(DHAKA))
    fields.setdefault("shipping_address", {})
    order = OrderFactory(currency="BDT", amount=Decimal("100.00"), **fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def gen_invoice_form(router: EmulatorRouter) -> dict[str, str]:
    """The form of the one ``gen_invoice`` call the backend made."""
    calls = [
        dict(parse_qsl(body if isinstance(body, str) else body.decode()))
        for body in (r.body or b"" for r in router.requests_to(r"/portwallet/", "POST"))
    ]
    [form] = [c for c in calls if c.get("call") == "gen_invoice"]
    return form


@pytest.mark.usefixtures("real_clock")
@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("+8801712345678", "+8801712345678"),
        ("+880 1712-345678", "+8801712345678"),
        ("+880 17 1234 5678", "+8801712345678"),
        ("008801712345678", "+8801712345678"),
        # National forms, read as Bangladeshi numbers (the billing address is in Bangladesh).
        ("01712345678", "+8801712345678"),
        ("01712-345678", "+8801712345678"),
        ("(017) 1234-5678", "+8801712345678"),
        # The document's own example (Create Invoice, "phone").
        ("+880123456789", "+880123456789"),
    ],
)
def test_phone_is_sent_in_international_form(router: EmulatorRouter, typed: str, sent: str) -> None:
    payments.start_payment(make_order(customer_phone=typed), "portwallet")
    assert gen_invoice_form(router)["phone"] == sent
    assert len(sent) <= 15


@pytest.mark.usefixtures("real_clock")
def test_national_phone_follows_the_billing_country(router: EmulatorRouter) -> None:
    address = {**DHAKA, "city": "Kolkata", "country": "IND"}
    payments.start_payment(
        make_order(customer_phone="098765 43210", billing_address=address), "portwallet"
    )
    assert gen_invoice_form(router)["phone"] == "+919876543210"


@pytest.mark.usefixtures("real_clock")
def test_national_phone_without_billing_country_is_bangladeshi(
    router: EmulatorRouter, settings: Any
) -> None:
    # PortWallet takes only BDT: a number without country code is read as Bangladeshi.
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portwallet"]["OPTIONS"]["defaults"] = {"country": "BGD"}
    settings.MULTIPAY = config
    address = {k: v for k, v in DHAKA.items() if k != "country"}
    payments.start_payment(
        make_order(customer_phone="01712345678", billing_address=address), "portwallet"
    )
    form = gen_invoice_form(router)
    assert (form["phone"], form["country"]) == ("+8801712345678", "BGD")


@pytest.mark.usefixtures("real_clock")
def test_shipping_phone_is_normalised_too(router: EmulatorRouter) -> None:
    shipping = {**DHAKA, "name": "Robbie Amell", "phone": "017-1100-0001"}
    payments.start_payment(
        make_order(customer_phone="+8801712345678", shipping_address=shipping), "portwallet"
    )
    form = gen_invoice_form(router)
    assert form["phone"] == "+8801712345678"
    assert form["ship_to_phone"] == "+8801711000001"


@pytest.mark.usefixtures("real_clock")
@pytest.mark.parametrize("typed", ["123", "phone me", "+880 1"])
def test_unusable_phone_is_refused_before_any_call(router: EmulatorRouter, typed: str) -> None:
    order = make_order(customer_phone=typed)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portwallet")
    # Create Invoice: "phone (required)": nothing is sent without one PortWallet can use.
    assert list(caught.value.fields) == ["phone"]
    assert typed not in str(caught.value)
    assert router.calls == []
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.FAILED
    assert "phone" in invoice.failure_reason


@pytest.mark.usefixtures("real_clock")
def test_unusable_shipping_phone_is_refused(router: EmulatorRouter) -> None:
    shipping = {**DHAKA, "phone": "12"}
    order = make_order(customer_phone="+8801712345678", shipping_address=shipping)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portwallet")
    assert list(caught.value.fields) == ["ship_to_phone"]
    assert router.calls == []


@pytest.mark.usefixtures("real_clock")
@pytest.mark.parametrize(("country", "sent"), [("bd", "BD"), ("BGD", "BGD"), ("ss", "SS")])
def test_iso_countries_are_sent_as_given(router: EmulatorRouter, country: str, sent: str) -> None:
    # "It is 2 or 3 digit iso code": both forms are accepted.
    payments.start_payment(
        make_order(customer_phone="+8801712345678", billing_address={**DHAKA, "country": country}),
        "portwallet",
    )
    assert gen_invoice_form(router)["country"] == sent


@pytest.mark.usefixtures("real_clock")
@pytest.mark.parametrize("country", ["XX", "ZZZ", "BDX"])
def test_unknown_country_codes_are_refused(router: EmulatorRouter, country: str) -> None:
    order = make_order(
        customer_phone="+8801712345678",
        billing_address={**DHAKA, "country": country},
        shipping_address={**DHAKA, "country": country},
    )
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portwallet")
    assert caught.value.fields == {
        "country": "must be an ISO 3166-1 alpha-2 or alpha-3 country code",
        "ship_to_country": "must be an ISO 3166-1 alpha-2 or alpha-3 country code",
    }
    assert router.calls == []


# ------------------------------------------------------------------------------------------------
# PortWallet (API v1) with customers' names in any script: UTF-8 percent-encoding on the wire.


#: Accents, Bangla, Arabic, and a "/" (which a form body must percent-encode).
NAMES = {
    "accents": "José Núñez",
    "bangla": "রহিম উদ্দিন",
    "arabic": "محمد علي",
    "slash": "A/B Traders",
}
#: The same names as the bytes of an application/x-www-form-urlencoded value, written out.
ON_THE_WIRE = {
    "accents": "Jos%C3%A9+N%C3%BA%C3%B1ez",
    "bangla": "%E0%A6%B0%E0%A6%B9%E0%A6%BF%E0%A6%AE+"
    "%E0%A6%89%E0%A6%A6%E0%A7%8D%E0%A6%A6%E0%A6%BF%E0%A6%A8",
    "arabic": "%D9%85%D8%AD%D9%85%D8%AF+%D8%B9%D9%84%D9%8A",
    "slash": "A%2FB+Traders",
}


def form_value(text: str) -> str:
    """WHATWG form encoding of ``text``, byte by byte of its UTF-8 (not via urllib)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if byte < 0x80 and (char.isalnum() or char in "-._~"):
            out.append(char)
        elif char == " ":
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


@pytest.mark.usefixtures("real_clock")
def test_the_written_out_bytes_are_utf8_form_encoding() -> None:
    assert {key: form_value(name) for key, name in NAMES.items()} == ON_THE_WIRE


def order_for(name: str) -> Order:
    order = OrderFactory(
        currency="BDT",
        amount=Decimal("100.00"),
        description="",
        customer_name=name,
        customer_phone="+8801712345678",
        billing_address={
            "name": name,
            "line1": f"{name}, Road 1",
            "city": "Dhaka",
            "postal_code": "1212",
            "country": "BD",
        },
        shipping_address={
            "name": name,
            "line1": "House 1/A",
            "city": "Chattogram",
            "postal_code": "4000",
            "country": "BD",
        },
    )
    OrderItemFactory(order=order, name=name, quantity=1, unit_price=Decimal("100.00"))
    assert isinstance(order, Order)
    return order


def raw_body(request: Any) -> bytes:
    body = request.body
    return body.encode("ascii") if isinstance(body, str) else bytes(body)


@pytest.mark.usefixtures("real_clock")
@pytest.mark.parametrize("script", list(NAMES))
def test_names_travel_percent_encoded_and_come_back_equal(
    router: EmulatorRouter, script: str
) -> None:
    name, wire = NAMES[script], ON_THE_WIRE[script]
    order = order_for(name)
    payments.start_payment(order, "portwallet")
    invoice = Invoice.objects.get(order=order)
    [call] = router.requests_to(r"^/sandbox/portwallet/$", "POST")
    assert call.headers["Content-Type"] == FORM
    body = raw_body(call)
    # Nothing but ASCII on the wire: every other byte is percent-encoded UTF-8.
    assert max(body) < 0x80
    pairs = body.decode("ascii").split("&")
    for field in ("name", "ship_to_name"):
        assert f"{field}={wire}" in pairs
    assert f"product_name=1x+{wire}" in pairs
    assert f"address={wire}%2C+Road+1" in pairs
    assert "ship_to_address=House+1%2FA" in pairs
    # What the emulator decoded is what the shop wrote, character for character.
    with store.table("portwallet.invoices") as table:
        kept = dict(table[invoice.gateway_id])
    assert (kept["name"], kept["ship_to_name"]) == (name, name)
    assert kept["product_name"] == f"1x {name}"
    assert kept["address"] == f"{name}, Road 1"
    assert kept["ship_to_address"] == "House 1/A"
    # And back through a JSON answer: get_invoice's buyer_name, as the backend reads it.
    read = get_gateway("portwallet").fetch_status(invoice)
    [asked] = router.requests_to(r"^/sandbox/portwallet/$", "POST")[1:]
    assert "call=get_invoice" in raw_body(asked).decode("ascii").split("&")
    assert read.raw["data"]["buyer_name"] == name
    assert read.raw["data"]["product_name"] == f"1x {name}"


@pytest.mark.usefixtures("real_clock")
def test_backend_counts_characters_not_bytes(router: EmulatorRouter) -> None:
    fifty = "ম" * 50
    payments.start_payment(order_for(fifty), "portwallet")
    [call] = router.requests_to(r"^/sandbox/portwallet/$", "POST")
    assert dict(parse_qsl(raw_body(call).decode("ascii")))["name"] == fifty
    too_long = order_for("ম" * 51)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(too_long, "portwallet")
    assert caught.value.fields["name"] == "is 51 characters; at most 50"
    assert len(router.requests_to(r"^/sandbox/portwallet/$", "POST")) == 1
