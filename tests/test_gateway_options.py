"""Per-payment gateway options: chosen by the shop's code or its staff, never by a customer."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from django_multipay import payments
from django_multipay.checks import check_settings
from django_multipay.exceptions import GatewayAPIError, InvalidRequest
from django_multipay.gateways.base import PaymentOption
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.sandbox import paylands as emulator
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory, OrderItemFactory
from django_multipay.testing.router import EmulatorRouter

pytest.importorskip("rest_framework")

PAYLANDS_KEY = "paylands-api-key-one"
OK_CARD = "5590337536718399"
SENSITIVE = ("secure", "card_uuid", "customer_ext_id")


# -- helpers --------------------------------------------------------------------------------------


@contextmanager
def configured(alias: str | None = None, **changes: Any) -> Iterator[None]:
    """``MULTIPAY`` with ``changes`` in an alias's OPTIONS (or at the top when no alias)."""
    config = copy.deepcopy(django_settings.MULTIPAY)
    target = config if alias is None else config["GATEWAYS"][alias]["OPTIONS"]
    target.update(changes)
    with override_settings(MULTIPAY=config):
        yield


def opted_in(*names: str, alias: str = "paylands") -> Any:
    return configured(alias, allow_sensitive_payment_options=list(names))


def make_order(**fields: Any) -> Order:
    order = OrderFactory(**fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def body_of(router: EmulatorRouter, path: str = r"/paylands/payment$") -> dict[str, Any]:
    [call] = router.requests_to(path, "POST")
    return json.loads(call.body)  # type: ignore[arg-type]


def bound_id(user: Any) -> str:
    """The shop's own customer id for a user (set as ``MULTIPAY["CUSTOMER_ID"]``)."""
    return f"shop-customer-{user.pk}"


def pay_page(router: EmulatorRouter, invoice: Invoice, number: str = OK_CARD) -> None:
    page = invoice.redirect_url.replace("http://testserver", "")
    router.client.post(page, {"action": "pay", "card_number": number, "cvv": "123"})


@pytest.fixture
def api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.api.urls"


@pytest.fixture
def customer(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("customer", password="pw")


@pytest.fixture
def other_customer(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("other", password="pw")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password="pw", is_staff=True)


def client_for(user: Any) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def order_over_api(user: Any, **fields: Any) -> Order:
    """An order created by ``user`` with ``POST /api/orders/``."""
    values: dict[str, Any] = {
        "reference": f"API-{Order.objects.count() + 1:04d}",
        "amount": "100.00",
        "currency": "EUR",
        "customer_name": "Ana Sousa",
        "customer_email": "ana@example.pt",
        **fields,
    }
    response = client_for(user).post("/api/orders/", values, format="json")
    assert response.status_code == 201, response.json()
    return Order.objects.get(public_id=response.json()["id"])


def pay_over_api(user: Any, order: Order, **body: Any) -> Any:
    return client_for(user).post(f"/api/orders/{order.public_id}/pay/", body, format="json")


# -- the declaration ------------------------------------------------------------------------------


def test_every_backend_declares_its_per_payment_options() -> None:
    paylands = get_gateway("paylands")
    assert set(paylands.payment_options) == {
        "operative",
        "service",
        "apm",
        "push",
        "card_uuid",
        "customer_ip",
        "customer_ext_id",
        "secure",
        "template_uuid",
        "dcc_template_uuid",
        "save_card",
        "lang",
        "extra_data",
        "reference_valid_days",
    }
    assert {n for n, o in paylands.payment_options.items() if o.sensitive} == set(SENSITIVE)
    assert all(isinstance(o, PaymentOption) for o in paylands.payment_options.values())
    assert set(get_gateway("postpay").payment_options) == {
        "customer",
        "shipping",
        "discounts",
        "num_instalments",
        "metadata",
        "alt_phone",
    }
    assert set(get_gateway("portpos").payment_options) == {"customs", "discount", "emi"}
    assert dict(get_gateway("dummy").payment_options) == {}


def test_check_payment_options_normalises_what_it_accepts() -> None:
    checked = get_gateway("paylands").check_payment_options(
        {"operative": "deferred", "apm": "payshop", "lang": "pt", "reference_valid_days": 3}
    )
    assert checked == {
        "operative": "DEFERRED",
        "apm": "PAYSHOP",
        "lang": "pt",
        "reference_valid_days": 3,
    }
    assert get_gateway("paylands").check_payment_options(None) == {}


# -- customer metadata never reaches a gateway ----------------------------------------------------


def test_customer_metadata_never_reaches_paylands(
    api_urls: None, customer: Any, router: EmulatorRouter
) -> None:
    victim_card = emulator.register_card(PAYLANDS_KEY, "victim@example.pt", OK_CARD)
    order = order_over_api(
        customer,
        metadata={
            "paylands": {
                "secure": False,
                "customer_ext_id": "victim@example.pt",
                "card_uuid": victim_card,
                "operative": "DEFERRED",
                "extra_data": {"profile": {"first_name": "Mallory"}},
            }
        },
    )
    response = pay_over_api(customer, order, gateway="paylands")
    assert response.status_code == 201, response.json()
    body = body_of(router)
    assert body["secure"] is True
    assert body["operative"] == "AUTHORIZATION"
    assert body["customer_ext_id"] == f"user-{customer.pk}"
    assert body["extra_data"]["profile"]["first_name"] == "Ana"
    assert router.requests_to(r"/payment/direct$") == []
    invoice = Invoice.objects.get(order=order)
    assert invoice.gateway_options == {}
    assert invoice.status == InvoiceStatus.PENDING


def test_customer_metadata_never_reaches_postpay(
    api_urls: None, customer: Any, router: EmulatorRouter
) -> None:
    address = {
        "name": "John Doe",
        "phone": "+971 50 199 8853",
        "line1": "The Gate District, DIFC",
        "city": "Dubai",
        "country": "AE",
        "postal_code": "00000",
    }
    order = order_over_api(
        customer,
        currency="AED",
        amount="100.00",
        billing_address=address,
        shipping_address=address,
        metadata={
            "postpay": {
                "customer": {"account": "existing", "gender": "other"},
                "discounts": [{"code": "free", "name": "Free", "amount": "99.00"}],
                "num_instalments": 1,
                "metadata": {"invoice": "someone-else"},
            }
        },
    )
    response = pay_over_api(customer, order, gateway="postpay")
    assert response.status_code == 201, response.json()
    body = body_of(router, r"/checkouts$")
    assert "discounts" not in body
    assert "num_instalments" not in body
    assert "gender" not in body["customer"]
    invoice = Invoice.objects.get(order=order)
    assert body["metadata"] == {"invoice": str(invoice.pk), "reference": order.reference}


def test_customer_metadata_never_reaches_portpos(
    api_urls: None, customer: Any, router: EmulatorRouter
) -> None:
    address = {
        "name": "Robbie Amell",
        "email": "robbie@example.com",
        "phone": "+8801711000000",
        "line1": "House 1, Road 1",
        "city": "Dhaka",
        "state": "Dhaka",
        "postal_code": "1212",
        "country": "BD",
    }
    order = order_over_api(
        customer,
        currency="BDT",
        amount="2050.00",
        billing_address=address,
        shipping_address=address,
        customer_phone="+8801711000000",
        metadata={"portpos_customs": {"paid": "yes"}},
    )
    response = pay_over_api(customer, order, gateway="portpos")
    assert response.status_code == 201, response.json()
    assert "customs" not in body_of(router, r"/portpos/invoice$")


# -- the staff-only REST field --------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"secure": False},
        {"card_uuid": "CARD"},
        {"customer_ext_id": "victim@example.pt"},
        {"operative": "DEFERRED"},
        {},
    ],
)
def test_a_customer_cannot_send_gateway_options(
    api_urls: None, customer: Any, router: EmulatorRouter, options: dict[str, Any]
) -> None:
    order = order_over_api(customer)
    with opted_in(*SENSITIVE):
        response = pay_over_api(customer, order, gateway="paylands", options=options)
    assert response.status_code == 400, response.json()
    assert "options" in response.json()["fields"]
    assert not Invoice.objects.exists()
    assert router.calls == []


def test_staff_options_within_range_reach_the_wire(
    api_urls: None, customer: Any, staff: Any, router: EmulatorRouter
) -> None:
    order = order_over_api(customer)
    response = pay_over_api(
        staff,
        order,
        gateway="paylands",
        options={
            "operative": "deferred",
            "apm": "PAYSHOP",
            "template_uuid": "T-1",
            "lang": "pt",
            "reference_valid_days": 5,
        },
    )
    assert response.status_code == 201, response.json()
    body = body_of(router)
    assert body["operative"] == "DEFERRED"
    assert body["template_uuid"] == "T-1"
    assert re.fullmatch(r"\d{8}", body["extra_data"]["payment"]["expiration_date"])
    invoice = Invoice.objects.get(order=order)
    assert invoice.redirect_url.endswith("?apm=PAYSHOP&lang=pt")
    assert invoice.gateway_options == {
        "operative": "DEFERRED",
        "apm": "PAYSHOP",
        "template_uuid": "T-1",
        "lang": "pt",
        "reference_valid_days": 5,
    }


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"reference_valid_days": 0}, "options.reference_valid_days"),
        ({"reference_valid_days": 400}, "options.reference_valid_days"),
        ({"reference_valid_days": "5"}, "options.reference_valid_days"),
        ({"operative": "PAYOUT"}, "options.operative"),
        ({"push": "yes"}, "options.push"),
        ({"colour": "red"}, "options.colour"),
        ({"secure": False}, "options.secure"),
        ({"card_uuid": "CARD"}, "options.card_uuid"),
        ({"customer_ext_id": "x"}, "options.customer_ext_id"),
    ],
)
def test_staff_options_out_of_range_are_400_naming_the_field(
    api_urls: None,
    customer: Any,
    staff: Any,
    router: EmulatorRouter,
    options: dict[str, Any],
    field: str,
) -> None:
    order = order_over_api(customer)
    response = pay_over_api(staff, order, gateway="paylands", options=options)
    assert response.status_code == 400, response.json()
    assert set(response.json()["fields"]) == {field}
    assert not Invoice.objects.exists()
    assert router.calls == []


def test_options_must_be_an_object(
    api_urls: None, customer: Any, staff: Any, router: EmulatorRouter
) -> None:
    order = order_over_api(customer)
    response = pay_over_api(staff, order, gateway="paylands", options=["secure"])
    assert response.status_code == 400
    assert "options" in response.json()["fields"]
    assert not Invoice.objects.exists()


# -- the Python API -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "options", "field"),
    [
        ("paylands", {"colour": "red"}, "options.colour"),
        ("paylands", {"operative": "PAYOUT"}, "options.operative"),
        ("paylands", {"operative": 1}, "options.operative"),
        ("paylands", {"apm": "BIZUM"}, "options.apm"),
        ("paylands", {"push": True}, "options.push"),
        ("paylands", {"service": "ANOTHER-MERCHANTS-SERVICE"}, "options.service"),
        ("paylands", {"customer_ip": "not an address"}, "options.customer_ip"),
        ("paylands", {"lang": "portuguese"}, "options.lang"),
        ("paylands", {"extra_data": {"cof": {"first_payment_uuid": "X"}}}, "options.extra_data"),
        ("paylands", {"save_card": None}, "options.save_card"),
        ("postpay", {"num_instalments": 0}, "options.num_instalments"),
        ("postpay", {"num_instalments": True}, "options.num_instalments"),
        ("postpay", {"discounts": [{"code": "x"}]}, "options.discounts"),
        ("postpay", {"discounts": [{"code": "x", "amount": "-1"}]}, "options.discounts"),
        ("postpay", {"customer": {"gender": "robot"}}, "options.customer"),
        ("postpay", {"customer": {"id": "someone"}}, "options.customer"),
        ("postpay", {"metadata": {"invoice": "other"}}, "options.metadata"),
        ("portpos", {"customs": {f"k{i}": "v" for i in range(11)}}, "options.customs"),
        ("portpos", {"customs": {"k": 1}}, "options.customs"),
        ("dummy", {"anything": 1}, "options.anything"),
    ],
)
def test_python_api_refuses_bad_options_before_any_invoice(
    router: EmulatorRouter, alias: str, options: dict[str, Any], field: str
) -> None:
    currency = {"postpay": "AED", "portpos": "BDT"}.get(alias, "EUR")
    order = make_order(currency=currency)
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order, alias, options=options)
    assert set(caught.value.fields) == {field}
    assert not Invoice.objects.exists()
    assert router.calls == []


def test_python_api_options_reach_postpay(router: EmulatorRouter, customer: Any) -> None:
    order = make_order(
        currency="AED",
        amount=Decimal("100.00"),
        user=customer,
        billing_address={
            "name": "John Doe",
            "line1": "The Gate District, DIFC",
            "city": "Dubai",
            "country": "AE",
            "postal_code": "00000",
        },
    )
    OrderItemFactory(order=order, unit_price=Decimal("100.00"))
    invoice, _action = payments.begin_payment(
        order,
        "postpay",
        options={
            "customer": {"gender": "female", "date_of_birth": "1990-01-20"},
            "shipping": {"id": "shipping-01", "name": "Express"},
            "discounts": [{"code": "return-10", "name": "Returning", "amount": "10.00"}],
            "num_instalments": 3,
            "metadata": {"channel": "phone"},
        },
    )
    body = body_of(router, r"/checkouts$")
    assert body["customer"]["gender"] == "female"
    assert body["customer"]["date_of_birth"] == "1990-01-20"
    assert body["customer"]["id"] == str(customer.pk)
    assert body["shipping"]["id"] == "shipping-01"
    assert body["discounts"] == [{"code": "return-10", "name": "Returning", "amount": 1000}]
    assert body["num_instalments"] == 3
    assert body["metadata"] == {
        "invoice": str(invoice.pk),
        "reference": order.reference,
        "channel": "phone",
    }
    assert invoice.gateway_options["discounts"] == [
        {"code": "return-10", "name": "Returning", "amount": "10.00"}
    ]


def test_python_api_options_reach_portpos(router: EmulatorRouter) -> None:
    order = make_order(currency="BDT", amount=Decimal("2050.00"))
    with configured("portpos", customs={"shop": "demo"}):
        payments.start_payment(order, "portpos", options={"customs": {"gift": "yes"}})
    assert body_of(router, r"/portpos/invoice$")["customs"] == [{"shop": "demo"}, {"gift": "yes"}]


def test_portpos_customs_count_with_the_alias_own(router: EmulatorRouter) -> None:
    order = make_order(currency="BDT", amount=Decimal("2050.00"))
    own = {f"k{i}": "v" for i in range(9)}
    with configured("portpos", customs=own), pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portpos", options={"customs": {"a": "1", "b": "2"}})
    assert set(caught.value.fields) == {"options.customs"}
    assert not Invoice.objects.exists()


def test_options_started_with_are_kept_for_later_operations(router: EmulatorRouter) -> None:
    invoice, _ = payments.begin_payment(make_order(), "paylands", options={"operative": "DEFERRED"})
    assert invoice.gateway_options == {"operative": "DEFERRED"}
    pay_page(router, invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.AUTHORIZED
    payments.capture(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


# -- sensitive options: refused unless the shop opts in -------------------------------------------


def test_secure_true_needs_no_opt_in(router: EmulatorRouter) -> None:
    payments.start_payment(make_order(), "paylands", options={"secure": True})
    assert body_of(router)["secure"] is True


@pytest.mark.parametrize(
    "options", [{"secure": False}, {"customer_ext_id": "cust-7"}, {"card_uuid": "CARD"}]
)
def test_sensitive_options_are_refused_without_the_opt_in(
    router: EmulatorRouter, options: dict[str, Any]
) -> None:
    [name] = options
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(make_order(), "paylands", options=options)
    assert set(caught.value.fields) == {f"options.{name}"}
    assert "allow_sensitive_payment_options" in caught.value.fields[f"options.{name}"]
    assert not Invoice.objects.exists()
    assert router.calls == []


def test_opting_into_one_sensitive_option_does_not_allow_another(router: EmulatorRouter) -> None:
    with opted_in("secure"), pytest.raises(InvalidRequest) as caught:
        payments.start_payment(make_order(), "paylands", options={"customer_ext_id": "c"})
    assert set(caught.value.fields) == {"options.customer_ext_id"}


def test_sensitive_options_are_accepted_with_the_opt_in(router: EmulatorRouter) -> None:
    with opted_in("secure", "customer_ext_id"):
        payments.start_payment(
            make_order(), "paylands", options={"secure": False, "customer_ext_id": "cust-7"}
        )
    body = body_of(router)
    assert body["secure"] is False
    assert body["customer_ext_id"] == "cust-7"


def test_saved_card_is_refused_without_a_bound_customer(router: EmulatorRouter) -> None:
    """A guest order has no signed-in user, so no customer id the shop bound: no saved card."""
    order = make_order()
    card = emulator.register_card(PAYLANDS_KEY, order.customer_email, OK_CARD)
    with opted_in("card_uuid"), pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "paylands", options={"card_uuid": card})
    assert set(caught.value.fields) == {"options.card_uuid"}
    assert not Invoice.objects.exists()
    assert router.calls == []


def test_saved_card_pays_with_the_customer_id_bound_to_the_user(
    router: EmulatorRouter, customer: Any
) -> None:
    card = emulator.register_card(PAYLANDS_KEY, bound_id(customer), OK_CARD)
    order = make_order(user=customer)
    with opted_in("card_uuid"), configured(None, CUSTOMER_ID=bound_id):
        invoice, action = payments.begin_payment(
            order, "paylands", options={"card_uuid": card, "customer_ip": "203.0.113.9"}
        )
    assert body_of(router)["customer_ext_id"] == bound_id(customer)
    assert json.loads(router.requests_to(r"/payment/direct$")[0].body) == {  # type: ignore[arg-type]
        "order_uuid": invoice.gateway_id,
        "card_uuid": card,
        "customer_ip": "203.0.113.9",
        "signature": "paylands-signature-one",
    }
    assert action.url == f"http://testserver/payments/return/{invoice.pk}/"


def test_another_customers_saved_card_is_not_charged(
    router: EmulatorRouter, customer: Any, other_customer: Any
) -> None:
    """The card belongs to another user's bound id: Paylands refuses it, nothing is paid."""
    card = emulator.register_card(PAYLANDS_KEY, bound_id(other_customer), OK_CARD)
    order = make_order(user=customer)
    with (
        opted_in("card_uuid", "customer_ext_id"),
        configured(None, CUSTOMER_ID="tests.test_gateway_options.bound_id"),
    ):
        with pytest.raises(InvalidRequest) as caught:
            payments.start_payment(
                order,
                "paylands",
                options={"card_uuid": card, "customer_ext_id": bound_id(other_customer)},
            )
        assert set(caught.value.fields) == {"options.customer_ext_id"}
        assert not Invoice.objects.exists()
        with pytest.raises(GatewayAPIError, match="Card not found"):
            payments.start_payment(order, "paylands", options={"card_uuid": card})
    assert body_of(router)["customer_ext_id"] == bound_id(customer)
    assert Invoice.objects.get(order=order).status == InvoiceStatus.FAILED


def test_per_alias_customer_id_overrides_the_setting(router: EmulatorRouter, customer: Any) -> None:
    with (
        configured(None, CUSTOMER_ID=bound_id),
        configured("paylands", customer_id=lambda user: f"alias-{user.pk}"),
    ):
        payments.start_payment(make_order(user=customer), "paylands")
    assert body_of(router)["customer_ext_id"] == f"alias-{customer.pk}"


def test_staff_sensitive_option_with_the_opt_in(
    api_urls: None, customer: Any, staff: Any, router: EmulatorRouter
) -> None:
    order = order_over_api(customer)
    with opted_in("secure"):
        response = pay_over_api(staff, order, gateway="paylands", options={"secure": False})
    assert response.status_code == 201, response.json()
    assert body_of(router)["secure"] is False


# -- the settings are checked ---------------------------------------------------------------------


@pytest.mark.parametrize("names", [["colour"], ["operative"], "secure"])
def test_opt_in_naming_no_sensitive_option_fails_the_check(names: Any) -> None:
    with configured("paylands", allow_sensitive_payment_options=names):
        messages = [m for m in check_settings() if m.id == "multipay.E006"]
    assert len(messages) == 1
    assert "paylands" in messages[0].msg


def test_valid_opt_in_passes_the_check() -> None:
    with opted_in(*SENSITIVE):
        assert [m for m in check_settings() if m.id == "multipay.E006"] == []


@pytest.mark.parametrize("value", ["no.such.module.function", 42])
def test_customer_id_that_is_not_a_callable_fails_the_check(value: Any) -> None:
    with configured(None, CUSTOMER_ID=value):
        assert [m.id for m in check_settings() if m.id == "multipay.E007"] == ["multipay.E007"]
    with configured("paylands", customer_id=value):
        assert [m.id for m in check_settings() if m.id == "multipay.E007"] == ["multipay.E007"]


def test_customer_id_as_a_dotted_path_passes_the_check() -> None:
    with configured(None, CUSTOMER_ID="tests.test_gateway_options.bound_id"):
        assert [m for m in check_settings() if m.id == "multipay.E007"] == []
