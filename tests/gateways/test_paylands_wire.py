"""Paylands wire format: every call's method, path, headers and body; errors; status maps;
customer data (alpha-3 countries, split phones, names in any script, PHP's JSON)."""

from __future__ import annotations

import base64
import copy
import json
import re
from decimal import Decimal
from typing import Any

import pycountry
import pytest
import responses
from django.test import override_settings

from django_multipay import payments
from django_multipay.checks import check_settings
from django_multipay.exceptions import (
    GatewayAPIError,
    InvalidRequest,
    PaymentDeclined,
    RefundError,
)
from django_multipay.gateways import http, paylands
from django_multipay.gateways.paylands import (
    ERRORS,
    ORDER_STATUS_MAP,
    TRANSACTION_STATUS_MAP,
    PaylandsGateway,
)
from django_multipay.gateways.paylands_hash import hash_matches, php_json, validation_hash
from django_multipay.models import Invoice
from django_multipay.registry import get_gateway
from django_multipay.sandbox import paylands as emulator
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.router import EmulatorRouter
from tests.gateways.test_paylands import emulated, make_order, start

BASE = "http://testserver/sandbox/paylands/"
BASIC = "Basic " + base64.b64encode(b"paylands-api-key-one:").decode()
SIGNATURE = "paylands-signature-one"
SERVICE = "B1F13B01-BA97-491C-BBDE-1C18988BD229"


def body_of(request: Any) -> dict[str, Any]:
    return json.loads(request.body)


def wire_order(status: str, amount: int = 10000, **extra: Any) -> dict[str, Any]:
    return {
        "uuid": "D16004FF-3421-409C-ADFC-DA2618D36135",
        "amount": amount,
        "currency": "978",
        "status": status,
        "refunded": 0,
        "reference": "ref",
        "transactions": [],
        **extra,
    }


# -- POST /payment --------------------------------------------------------------------------------


def test_payment_order_carries_every_field(router: EmulatorRouter) -> None:
    order = make_order(
        amount=Decimal("10.50"),
        customer_name="Ana Sousa",
        customer_email="ana@example.pt",
        customer_phone="+351 912345678",
        billing_address={
            "line1": "Rua A 1",
            "city": "Lisboa",
            "postal_code": "1000",
            "country": "PT",
        },
        shipping_address={},
        description="Two books",
    )
    invoice = start(order)
    [call] = router.requests_to(r"/payment$", "POST")
    assert call.headers["Authorization"] == BASIC
    body = body_of(call)
    assert body == {
        "amount": 1050,
        "currency": "EUR",
        "operative": "AUTHORIZATION",
        "service": SERVICE,
        "description": "Two books",
        "reference": str(invoice.pk),
        "customer_ext_id": "ana@example.pt",
        "additional": order.reference,
        "secure": True,
        "url_ok": f"http://testserver/payments/return/{invoice.pk}/",
        "url_ko": f"http://testserver/payments/return/{invoice.pk}/",
        "url_post": "http://testserver/payments/notify/paylands/",
        "extra_data": {
            "profile": {
                "first_name": "Ana",
                "last_name": "Sousa",
                "email": "ana@example.pt",
                "phone": {"number": "912345678", "prefix": "351"},
            },
            "billing_address": {
                "address1": "Rua A 1",
                "city": "Lisboa",
                "country": "PRT",
                "zip_code": "1000",
            },
        },
        "signature": SIGNATURE,
    }
    token = emulator._load(invoice.gateway_id)["token"]  # type: ignore[index]
    assert invoice.redirect_url == f"{BASE}payment/process/{token}"
    assert invoice.status == InvoiceStatus.PENDING


def test_amounts_are_exact_integer_cents(router: EmulatorRouter) -> None:
    # floor(100 * 0.29) is 28 in floating point; the money module gives 29.
    start(make_order(amount=Decimal("0.29")))
    assert body_of(router.requests_to(r"/payment$")[0])["amount"] == 29


def test_bearer_auth_service_per_currency_and_alias_operative(router: EmulatorRouter) -> None:
    start(make_order(), "paylands-deferred")
    [call] = router.requests_to(r"/payment$")
    assert call.headers["Authorization"] == "Bearer paylands-api-key-two"
    body = body_of(call)
    assert body["service"] == "0E6B6F0C-5D0B-4A4E-9C55-2E1B7C0F9A11"
    assert body["operative"] == "DEFERRED"
    assert body["signature"] == "paylands-signature-two"


def test_per_payment_options_from_the_shop(router: EmulatorRouter, settings: Any) -> None:
    config = json.loads(json.dumps(settings.MULTIPAY))
    config["GATEWAYS"]["paylands"]["OPTIONS"]["allow_sensitive_payment_options"] = [
        "customer_ext_id",
        "secure",
    ]
    settings.MULTIPAY = config
    options = {
        "operative": "deferred",
        "apm": "PAYSHOP",
        "customer_ext_id": "cust-7",
        "template_uuid": "T-1",
        "dcc_template_uuid": "T-2",
        "secure": False,
        "save_card": True,
        "lang": "pt",
        "reference_valid_days": 5,
        "extra_data": {"checkout": {"uuid": "CHK"}, "profile": {"first_name": "Rui"}},
    }
    invoice = start(make_order(), options=options)
    body = body_of(router.requests_to(r"/payment$")[0])
    assert body["operative"] == "DEFERRED"
    assert body["customer_ext_id"] == "cust-7"
    assert (body["template_uuid"], body["dcc_template_uuid"]) == ("T-1", "T-2")
    assert body["secure"] is False
    assert body["save_card"] is True
    assert body["extra_data"]["checkout"] == {"uuid": "CHK"}
    assert body["extra_data"]["profile"]["first_name"] == "Rui"
    payment = body["extra_data"]["payment"]
    assert payment["maxNbrPayments"] == "1"
    assert re.fullmatch(r"\d{8}", payment["expiration_date"])
    assert invoice.redirect_url.endswith("?apm=PAYSHOP&lang=pt")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"operative": "PAYOUT"}, "operative"),
        ({"apm": "BIZUM"}, "not enabled"),
        ({"push": True}, "push payments"),
        ({"colour": "red"}, "unknown option"),
    ],
)
def test_bad_per_payment_options_create_no_invoice(
    router: EmulatorRouter, options: dict[str, Any], message: str
) -> None:
    order = make_order()
    with pytest.raises(InvalidRequest, match=message):
        payments.start_payment(order, "paylands", options=options)
    assert not Invoice.objects.filter(order=order).exists()
    assert router.calls == []


def test_unknown_currency_is_not_offered() -> None:
    gateway = get_gateway("paylands")
    assert gateway.accepts_currency("EUR")
    assert not gateway.accepts_currency("BDT")
    assert PaylandsGateway("x", {"services": {"AED": "S"}}).accepts_currency("AED")
    assert not PaylandsGateway("x", {"services": {"AED": "S"}}).accepts_currency("EUR")


def test_environments_and_base_url_override() -> None:
    assert (
        PaylandsGateway("x", {"sandbox": True}).base_url == "https://api.paylands.com/v1/sandbox/"
    )
    assert PaylandsGateway("x", {}).base_url == "https://api.paylands.com/v1/"
    assert PaylandsGateway("x", {"base_url": "http://proxy/"}).base_url == "http://proxy/"


def test_missing_credentials_fail_the_system_check() -> None:
    config = {"GATEWAYS": {"p": {"BACKEND": "django_multipay.gateways.paylands.PaylandsGateway"}}}
    with override_settings(MULTIPAY=config, DEBUG=True):
        [message] = check_settings()
    assert message.id == "multipay.E004"
    assert "api_key, signature, service" in message.msg


# -- the other calls ------------------------------------------------------------------------------


def test_read_back_is_an_authenticated_get(router: EmulatorRouter) -> None:
    invoice = start(make_order())
    result = get_gateway("paylands").fetch_status(invoice)
    [call] = router.requests_to(rf"/order/{invoice.gateway_id}$", "GET")
    assert call.headers["Authorization"] == BASIC
    assert not call.body
    assert (result.status, result.amount, result.currency) == ("pending", Decimal("100.00"), "EUR")


def test_confirmation_cancellation_refund_direct_and_push_bodies(router: EmulatorRouter) -> None:
    gateway = get_gateway("paylands")
    invoice = start(make_order(), options={"operative": "DEFERRED"})
    order = emulator._load(invoice.gateway_id)
    assert order is not None
    emulator._settle_card(order, "5590337536718399", True)
    gateway.capture(invoice, Decimal("40.00"))
    assert body_of(router.requests_to(r"/payment/confirmation$", "POST")[0]) == {
        "order_uuid": invoice.gateway_id,
        "amount": 4000,
        "signature": SIGNATURE,
    }
    invoice.refresh_from_db()
    refund = payments.refund(invoice, Decimal("15.00"))
    assert refund.status == RefundStatus.SUCCEEDED
    assert body_of(router.requests_to(r"/payment/refund$", "POST")[0]) == {
        "order_uuid": invoice.gateway_id,
        "amount": 1500,
        "signature": SIGNATURE,
    }
    other = start(make_order(), options={"operative": "DEFERRED"})
    held = emulator._load(other.gateway_id)
    assert held is not None
    emulator._settle_card(held, "5590337536718399", True)
    gateway.cancel(other)
    assert body_of(router.requests_to(r"/payment/cancellation$", "POST")[0]) == {
        "order_uuid": other.gateway_id,
        "signature": SIGNATURE,
    }
    third = start(make_order())
    card = emulator.register_card(
        "paylands-api-key-one", third.order.customer_email, "5590337536718399"
    )
    gateway.pay_with_saved_card(third, card, "10.0.0.1")
    assert body_of(router.requests_to(r"/payment/direct$", "POST")[0]) == {
        "order_uuid": third.gateway_id,
        "card_uuid": card,
        "customer_ip": "10.0.0.1",
        "signature": SIGNATURE,
    }
    fourth = start(make_order())
    gateway.push(fourth.gateway_id, "PAYSHOP")
    assert body_of(router.requests_to(r"/payment/push$", "POST")[0]) == {
        "order_uuid": fourth.gateway_id,
        "apm": "PAYSHOP",
        "signature": SIGNATURE,
    }
    assert all(
        c.headers["Authorization"] == BASIC for c in router.calls if "/sandbox/paylands/" in c.url
    )


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(ERRORS))
def test_every_documented_error_becomes_a_clear_exception(status: int) -> None:
    gateway = PaylandsGateway(
        "paylands", {**get_gateway("paylands").options, "rate_limit_retries": 0}
    )
    answer = {"message": "Boom", "code": status, "details": "Service not found: F46ER1Q8"}
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}payment/cancellation", json=answer, status=status)
        with pytest.raises((GatewayAPIError, PaymentDeclined)) as caught:
            gateway.cancel(Invoice(gateway_id="U", currency="EUR"))
    error = caught.value
    code, meaning = ERRORS[status]
    assert error.code == code
    assert "Service not found: F46ER1Q8" in error.message
    assert meaning in error.message
    assert SIGNATURE not in str(error)
    if status == 402:
        assert isinstance(error, PaymentDeclined)
    else:
        assert isinstance(error, GatewayAPIError)
        assert error.http_status == status


def test_error_code_in_a_200_body_is_an_error() -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{BASE}order/U", json={"code": 404, "message": "Not Found"})
        with pytest.raises(GatewayAPIError) as caught:
            get_gateway("paylands").read_order("U")
    assert caught.value.code == "not_found"


def test_rate_limited_reads_back_off_and_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    gateway = PaylandsGateway(
        "paylands", {**get_gateway("paylands").options, "rate_limit_backoff": 0.5}
    )
    monkeypatch.setattr(http, "_sleep", waits.append)
    answer = {"code": 200, "message": "OK", "order": wire_order("SUCCESS")}
    limited = {"code": 429, "message": "Too Many Requests"}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{BASE}order/U", json=limited, status=429)
        mock.add(
            responses.GET, f"{BASE}order/U", json=limited, status=429, headers={"Retry-After": "2"}
        )
        mock.add(responses.GET, f"{BASE}order/U", json=answer)
        assert gateway.read_order("U")["order"]["status"] == "SUCCESS"
        assert len(mock.calls) == 3
    assert waits == [0.5, 2.0]


def test_rate_limited_reads_give_up_and_writes_never_repeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway = PaylandsGateway(
        "paylands", {**get_gateway("paylands").options, "rate_limit_retries": 2}
    )
    monkeypatch.setattr(http, "_sleep", lambda seconds: None)
    limited = {"code": 429, "message": "Too Many Requests"}
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{BASE}order/U", json=limited, status=429)
        with pytest.raises(GatewayAPIError) as caught:
            gateway.read_order("U")
        assert caught.value.code == "too_many_requests"
        assert len(mock.calls) == 3
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}payment/cancellation", json=limited, status=429)
        with pytest.raises(GatewayAPIError):
            gateway.cancel(Invoice(gateway_id="U", currency="EUR"))
        assert len(mock.calls) == 1


def test_refund_refusals_are_refund_errors() -> None:
    refund = payments.Refund(amount=Decimal("1.00"), currency="EUR")
    refund.invoice = Invoice(gateway_id="U", currency="EUR", captured_amount=Decimal("5.00"))
    for status in (400, 402, 409):
        with responses.RequestsMock() as mock:
            mock.add(responses.POST, f"{BASE}payment/refund", json={"code": status}, status=status)
            with pytest.raises(RefundError):
                get_gateway("paylands").refund(refund)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}payment/refund", json={"code": 503}, status=503)
        with pytest.raises(GatewayAPIError) as caught:
            get_gateway("paylands").refund(refund)
        assert caught.value.http_status == 503  # outcome unknown: the refund stays requested


def test_refund_above_what_is_left_is_refused_without_a_call() -> None:
    refund = payments.Refund(amount=Decimal("6.00"), currency="EUR")
    refund.invoice = Invoice(gateway_id="U", currency="EUR", captured_amount=Decimal("5.00"))
    with responses.RequestsMock(), pytest.raises(RefundError, match="exceeds"):
        get_gateway("paylands").refund(refund)


# -- statuses -------------------------------------------------------------------------------------

EXPECTED_ORDER_STATUSES = {
    "BLACKLISTED": "failed",
    "CANCELLED": "cancelled",
    "CREATED": "pending",
    "EXPIRED": "expired",
    "FRAUD": "failed",
    "PARTIALLY_REFUNDED": "partially_refunded",
    "PARTIALLY_CONFIRMED": "paid",
    "PENDING_CONFIRMATION": "authorized",
    "REFUNDED": "refunded",
    "SUCCESS": "paid",
    "REFUSED": "failed",
    "PENDING_PROCESSOR_RESPONSE": "pending",
    "PENDING_3DS_RESPONSE": "pending",
    "PENDING_CARD": "pending",
    "USER_CANCELLED": "cancelled",
    "REDIRECTED_TO_3DS": "pending",
    "AUTHENTICATION_REQUIRED": "pending",
    "PENDING_PAYMENT": "pending",
    "THREEDS_EXPIRED": "expired",
}


def test_all_nineteen_order_statuses_are_mapped() -> None:
    assert len(EXPECTED_ORDER_STATUSES) == 19
    assert ORDER_STATUS_MAP == EXPECTED_ORDER_STATUSES


@pytest.mark.parametrize(("wire", "ours"), sorted(EXPECTED_ORDER_STATUSES.items()))
def test_order_status_maps(wire: str, ours: str) -> None:
    result = get_gateway("paylands").status_from({"order": wire_order(wire, refunded=2500)}, "EUR")
    assert result.status == ours
    assert (result.amount, result.currency) == (Decimal("100.00"), "EUR")
    if ours in ("failed", "cancelled", "expired"):
        assert result.failure_reason.startswith(wire)
    else:
        assert result.failure_reason == ""
    if ours in ("refunded", "partially_refunded"):
        assert result.refunded_amount == Decimal("25.00")


@pytest.mark.parametrize("wire", ["FRAUD", "BLACKLISTED"])
def test_fraud_and_blacklist_fail_with_their_reason(wire: str) -> None:
    tx = {"operative": "AUTHORIZATION", "amount": 10000, "status": "REFUSED", "error": "ANTIFRAUD"}
    result = get_gateway("paylands").status_from(wire_order(wire, transactions=[tx]), "EUR")
    assert result.status == InvoiceStatus.FAILED
    assert wire in result.failure_reason
    assert "ANTIFRAUD" in result.failure_reason


def test_partially_confirmed_captures_the_confirmed_part() -> None:
    transactions = [
        {"operative": "DEFERRED", "amount": 10000, "status": "SUCCESS"},
        {"operative": "CONFIRMATION", "amount": 4000, "status": "SUCCESS"},
    ]
    result = get_gateway("paylands").status_from(
        wire_order("PARTIALLY_CONFIRMED", transactions=transactions), "EUR"
    )
    assert (result.status, result.captured_amount) == ("paid", Decimal("40.00"))


def test_unknown_status_is_an_error_not_a_guess() -> None:
    with pytest.raises(GatewayAPIError, match="unknown status"):
        get_gateway("paylands").status_from(wire_order("TELEPORTED"), "EUR")


@pytest.mark.parametrize(
    ("wire", "ours"),
    [
        ("CREATED", RefundStatus.PENDING),
        ("SUCCESS", RefundStatus.SUCCEEDED),
        ("REFUSED", RefundStatus.FAILED),
        ("ERROR", RefundStatus.FAILED),
        ("PENDING", RefundStatus.PENDING),
        ("CANCELLED", RefundStatus.FAILED),
    ],
)
def test_all_six_transaction_statuses_are_mapped(wire: str, ours: str) -> None:
    assert len(TRANSACTION_STATUS_MAP) == 6
    tx = {"uuid": "T", "operative": "REFUND", "amount": 150, "status": wire, "error": "NONE"}
    result = get_gateway("paylands")._refund_result(tx, "EUR", tx)
    assert (result.status, result.amount, result.gateway_refund_id) == (ours, Decimal("1.50"), "T")


@pytest.mark.parametrize(
    ("wire", "alpha"), [("978", "EUR"), (978, "EUR"), ("840", "USD"), ("EUR", "EUR")]
)
def test_currencies_are_read_as_iso_numeric(wire: Any, alpha: str) -> None:
    assert paylands.currency_from_wire(wire) == alpha


# -- validation_hash ------------------------------------------------------------------------------

NOTIFICATION = {
    "message": "OK",
    "code": 200,
    "order": {"uuid": "D16004FF", "amount": 1050, "currency": "978", "status": "SUCCESS"},
    "client": {"uuid": "42B8CF56"},
    "extra_data": {"profile": {"first_name": "José"}},
}


def signed() -> dict[str, Any]:
    body = json.loads(json.dumps(NOTIFICATION))
    body["validation_hash"] = validation_hash(body, SIGNATURE)
    return body


def test_altered_order_fails() -> None:
    body = signed()
    body["order"]["status"] = "REFUSED"
    assert not hash_matches(body, SIGNATURE)


def test_altered_amount_fails() -> None:
    body = signed()
    body["order"]["amount"] = 1
    assert not hash_matches(body, SIGNATURE)


def test_other_signature_and_other_algorithm_fail() -> None:
    assert not hash_matches(signed(), "another-signature")
    assert not hash_matches(signed(), SIGNATURE, "hmac-sha256")
    body = signed()
    body["validation_hash"] = validation_hash(body, SIGNATURE, "hmac-sha256")
    assert hash_matches(body, SIGNATURE, "hmac-sha256")


# ------------------------------------------------------------------------------------------------
# Paylands customer data on the wire: alpha-3 countries in addresses, split phone numbers.


def sent_extra_data(router: EmulatorRouter) -> dict[str, Any]:
    """``extra_data`` of the last ``POST /payment`` the backend made."""
    call = router.requests_to(r"/payment$", "POST")[-1]
    body = json.loads(call.body or b"{}")
    extra = body.get("extra_data") or {}
    assert isinstance(extra, dict)
    return extra


def with_options(settings: Any, **options: Any) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["paylands"]["OPTIONS"].update(options)
    settings.MULTIPAY = config


# -- countries ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alpha2", "alpha3"),
    [
        ("SS", "SSD"),
        ("GU", "GUM"),
        ("VI", "VIR"),
        ("PM", "SPM"),
        ("SX", "SXM"),
        ("BQ", "BES"),
        ("TC", "TCA"),
        ("PT", "PRT"),
    ],
)
def test_address_country_goes_out_as_alpha3(
    router: EmulatorRouter, alpha2: str, alpha3: str
) -> None:
    address = {"line1": "1 Main St", "city": "Town", "country": alpha2.lower()}
    payments.start_payment(
        make_order(billing_address=address, shipping_address=dict(address)), "paylands"
    )
    extra = sent_extra_data(router)
    assert extra["billing_address"]["country"] == alpha3
    assert extra["shipping_address"]["country"] == alpha3


def test_every_iso_3166_country_goes_out_as_its_alpha3(router: EmulatorRouter) -> None:
    countries = sorted(pycountry.countries, key=lambda c: c.alpha_2)
    assert len(countries) == 249
    sent: dict[str, str] = {}
    for country in countries:
        address = {"line1": "1 Main St", "city": "Town", "country": country.alpha_2}
        payments.start_payment(make_order(billing_address=address), "paylands")
        sent[country.alpha_2] = sent_extra_data(router)["billing_address"]["country"]
    assert sent == {c.alpha_2: c.alpha_3 for c in countries}
    assert len(router.requests_to(r"/payment$", "POST")) == 249


def test_alpha3_country_is_sent_as_it_is(router: EmulatorRouter) -> None:
    address = {"line1": "Rua A 1", "city": "Lisboa", "country": "prt"}
    payments.start_payment(make_order(billing_address=address), "paylands")
    assert sent_extra_data(router)["billing_address"]["country"] == "PRT"


@pytest.mark.parametrize("country", ["XX", "ZZZ", "Portugal", "P"])
def test_unknown_country_is_refused_before_any_call(router: EmulatorRouter, country: str) -> None:
    address = {"line1": "Rua A 1", "city": "Lisboa", "country": country}
    order = make_order(billing_address=address)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "paylands")
    assert caught.value.fields == {
        "billing_address.country": "is not an ISO 3166-1 alpha-2 or alpha-3 country code"
    }
    assert router.requests_to(r"/payment$") == []
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == InvoiceStatus.FAILED
    assert "billing_address.country" in invoice.failure_reason


# -- phone numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "number", "prefix"),
    [
        ("+8801712345678", "1712345678", "880"),
        ("+880 1712-345678", "1712345678", "880"),
        ("+351 912345678", "912345678", "351"),
        ("+351-912-345-678", "912345678", "351"),
        ("00351 912 345 678", "912345678", "351"),
        ("(+44) 20 7946 0958", "2079460958", "44"),
        ("+1 (415) 555-2671", "4155552671", "1"),
    ],
)
def test_international_phones_are_split_into_prefix_and_number(
    router: EmulatorRouter, typed: str, number: str, prefix: str
) -> None:
    payments.start_payment(make_order(customer_phone=typed), "paylands")
    assert sent_extra_data(router)["profile"]["phone"] == {"number": number, "prefix": prefix}


def test_national_phone_takes_the_alias_phone_prefix(router: EmulatorRouter, settings: Any) -> None:
    with_options(settings, phone_prefix="351")
    # The billing address is in Bangladesh; the alias's phone_prefix still decides.
    payments.start_payment(make_order(customer_phone="912 345 678"), "paylands")
    assert sent_extra_data(router)["profile"]["phone"] == {"number": "912345678", "prefix": "351"}


def test_national_phone_without_phone_prefix_takes_the_billing_country(
    router: EmulatorRouter,
) -> None:
    address = {"line1": "House 1", "city": "Dhaka", "country": "BD"}
    payments.start_payment(
        make_order(customer_phone="01712-345678", billing_address=address), "paylands"
    )
    assert sent_extra_data(router)["profile"]["phone"] == {
        "number": "1712345678",
        "prefix": "880",
    }


@pytest.mark.parametrize("typed", ["123", "not a phone", "912345678"])
def test_unusable_phone_is_left_out_of_a_page_payment(router: EmulatorRouter, typed: str) -> None:
    # "912345678" has no country code, and the order has no billing address to say whose.
    order = make_order(customer_phone=typed, billing_address={}, shipping_address={})
    payments.start_payment(order, "paylands")
    invoice = Invoice.objects.get(order=order)
    profile = sent_extra_data(router)["profile"]
    # "Integration by redirection": the phone is optional; the payment page asks for it.
    assert "phone" not in profile
    assert profile["email"] == order.customer_email
    assert invoice.status == InvoiceStatus.PENDING


@pytest.mark.parametrize("typed", ["", "123"])
def test_mbway_push_without_a_usable_phone_is_refused_before_any_call(
    router: EmulatorRouter, typed: str
) -> None:
    order = make_order(customer_phone=typed)
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "paylands", options={"apm": "MBWAY", "push": True})
    assert list(caught.value.fields) == ["customer_phone"]
    assert router.calls == []
    assert Invoice.objects.get(order=order).status == InvoiceStatus.FAILED


def test_mbway_push_with_a_phone_without_space_is_pushed(router: EmulatorRouter) -> None:
    order = make_order(customer_phone="+351912345678")
    payments.start_payment(order, "paylands", options={"apm": "MBWAY", "push": True})
    assert sent_extra_data(router)["profile"]["phone"] == {"number": "912345678", "prefix": "351"}
    assert len(router.requests_to(r"/push$", "POST")) == 1


# -- the profile's phone: Portuguese, Spanish and other numbers ------------------------------------


def in_digits(text: str, zero: int) -> str:
    """``text`` with its ASCII digits in another script's (Bangla from U+09E6, Arabic-Indic
    from U+0660), as customers with those keyboards type them."""
    return "".join(chr(zero + int(c)) if c.isdigit() else c for c in text)


# docs.paylands.com, "MB WAY" (the manual's picture of it): "phone": {"number": "655655655",
# "prefix": "351"}: the calling code without "+" or "00", the national number, digits only.
PHONES = [
    pytest.param("+351 912 345 678", "BD", None, "912345678", "351", id="portuguese"),
    pytest.param("912 345 678", "PT", None, "912345678", "351", id="portuguese-national"),
    pytest.param("+34 612 34 56 78", "BD", None, "612345678", "34", id="spanish"),
    pytest.param("0034 612-345-678", "PT", None, "612345678", "34", id="spanish-00"),
    pytest.param("612 345 678", "ES", None, "612345678", "34", id="spanish-national"),
    pytest.param("+39 06 1234 5678", "PT", None, "0612345678", "39", id="italian-keeps-its-0"),
    pytest.param(
        in_digits("+880 1712-345678", 0x09E6), "PT", None, "1712345678", "880", id="bangla-digits"
    ),
    pytest.param(
        in_digits("+971 50 123 4567", 0x0660), "PT", None, "501234567", "971", id="arabic-indic"
    ),
    # phone_prefix: the country of a number written without its own code, before the
    # billing address's; never over a code the number carries.
    pytest.param("612 345 678", "PT", "34", "612345678", "34", id="prefix-over-billing"),
    pytest.param("912345678", "BD", "+351", "912345678", "351", id="prefix-with-plus"),
    pytest.param("+34 612345678", "PT", "351", "612345678", "34", id="own-code-over-prefix"),
    pytest.param("612 345 678", "ES", "999", "612345678", "34", id="unknown-prefix-billing"),
]


@pytest.mark.parametrize(("typed", "country", "phone_prefix", "number", "prefix"), PHONES)
def test_profile_phone_is_prefix_and_number_in_digits(
    router: EmulatorRouter,
    settings: Any,
    typed: str,
    country: str,
    phone_prefix: str | None,
    number: str,
    prefix: str,
) -> None:
    if phone_prefix is not None:
        with_options(settings, phone_prefix=phone_prefix)
    address = {"line1": "Rua A 1", "city": "Lisboa", "country": country}
    order = make_order(customer_phone=typed, billing_address=address, shipping_address={})
    payments.start_payment(order, "paylands")
    phone = sent_extra_data(router)["profile"]["phone"]
    assert phone == {"number": number, "prefix": prefix}
    assert all(isinstance(v, str) and v.isascii() and v.isdigit() for v in phone.values())
    # The emulator took it (it refuses a "+", separators or a missing part: see below).
    assert Invoice.objects.get(order=order).status == InvoiceStatus.PENDING


def test_mbway_push_with_a_spanish_number_is_pushed(router: EmulatorRouter) -> None:
    order = make_order(customer_phone="+34 612 34 56 78", customer_name="Lucía Pérez")
    payments.start_payment(order, "paylands", options={"apm": "MBWAY", "push": True})
    assert sent_extra_data(router)["profile"] == {
        "first_name": "Lucía",
        "last_name": "Pérez",
        "email": order.customer_email,
        "phone": {"number": "612345678", "prefix": "34"},
    }
    assert len(router.requests_to(r"/payment/push$", "POST")) == 1
    assert Invoice.objects.get(order=order).status == InvoiceStatus.PENDING


# ------------------------------------------------------------------------------------------------
# Paylands with customers' names in any script: the wire, PHP's JSON and the validation hash.


#: Names as customers write them, and how ``extra_data.profile`` splits them.
NAMES = [
    pytest.param("José Núñez", "José", "Núñez", id="accents"),
    pytest.param("রহিম উদ্দিন", "রহিম", "উদ্দিন", id="bangla"),
    pytest.param("محمد علي", "محمد", "علي", id="arabic"),
    pytest.param("A/B Traders", "A/B", "Traders", id="slash"),
]


def php_encode(value: Any) -> str:
    """PHP's ``json_encode`` with default flags, written out from its rules rather than from
    Python's encoder: no spaces; ``"``, ``\\`` and ``/`` escaped with a backslash; the short
    escapes for backspace, form feed, newline, return and tab; other characters below U+0020
    as ``\\u00XX``; ASCII from U+0020 (DEL included) as it is; everything else as ``\\uXXXX``
    of its UTF-16 code units, lower-case hex."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{php_encode(k)}:{php_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(php_encode(v) for v in value) + "]"
    assert isinstance(value, str)
    short = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
    short.update({"\r": "\\r", "\t": "\\t"})
    out = []
    for char in value:
        point = ord(char)
        if char in short:
            out.append(short[char])
        elif point < 0x20:
            out.append(f"\\u{point:04x}")
        elif point < 0x80:
            out.append(char)
        elif point < 0x10000:
            out.append(f"\\u{point:04x}")
        else:
            high, low = divmod(point - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
    return '"' + "".join(out) + '"'


def start_named(name: str) -> Invoice:
    order = make_order(customer_name=name, description=f"Gift for {name}")
    payments.start_payment(order, "paylands")
    return Invoice.objects.get(order=order)


# -- the payment order ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "first", "last"), NAMES)
def test_names_in_any_script_reach_the_profile_intact(
    router: EmulatorRouter, name: str, first: str, last: str
) -> None:
    invoice = start_named(name)
    [call] = router.requests_to(r"/payment$", "POST")
    raw = call.body if isinstance(call.body, bytes) else str(call.body).encode()
    # JSON with \uXXXX escapes: plain ASCII on the wire, whatever the script.
    assert raw.isascii()
    body = json.loads(raw)
    assert body["extra_data"]["profile"]["first_name"] == first
    assert body["extra_data"]["profile"]["last_name"] == last
    assert body["description"] == f"Gift for {name}"
    # The emulator read the same text back.
    order = emulated(invoice)
    assert order["_extra_data"]["profile"]["first_name"] == first
    assert order["_description"] == f"Gift for {name}"
    assert invoice.status == InvoiceStatus.PENDING


# -- PHP's JSON and the hash ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "José Núñez",
        "রহিম উদ্দিন",
        "محمد علي",
        "A/B Traders",
        "Zoë 😀",  # outside the Basic Multilingual Plane: a UTF-16 surrogate pair
        'Ann "Bee" \\ O\'Neil <a&b>',
        "tab\there\nnew line",
        "del\x7fchar",
        "\\u00e9 as typed",  # a backslash and "u00e9", not an é
        "\u2028line separator",
    ],
)
def test_php_json_writes_what_php_json_encode_writes(text: str) -> None:
    value = {"order": {"customer": text, "amount": 1050, "paid": True, "token": None}}
    assert php_json(value) == php_encode(value)
    assert json.loads(php_json(value)) == value


def test_the_documented_user_agent_is_written_as_the_manual_shows_it() -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:106.0) Gecko/20100101 Firefox/106.0"
    assert php_json({"user_agent": agent}) == (
        '{"user_agent":"Mozilla\\/5.0 (X11; Linux x86_64; rv:106.0) Gecko\\/20100101'
        ' Firefox\\/106.0"}'
    )
