"""Per-payment options a gateway cannot read are refused where they enter, before any invoice."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from django_multipay import payments
from django_multipay.exceptions import GatewayConfigurationError, InvalidRequest
from django_multipay.gateways.base import MAX_OPTION_INTEGER, PaymentOption, json_problem
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

pytest.importorskip("rest_framework")

CURRENCY = {"postpay": "AED", "paylands": "EUR"}


@contextmanager
def alias_options(alias: str, **changes: Any) -> Iterator[None]:
    config = copy.deepcopy(django_settings.MULTIPAY)
    config["GATEWAYS"][alias]["OPTIONS"].update(changes)
    with override_settings(MULTIPAY=config):
        yield


def make_order(alias: str) -> Order:
    order = OrderFactory(currency=CURRENCY[alias], amount=Decimal("100.00"))  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


@pytest.fixture
def api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.api.urls"


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("staff", password="pw", is_staff=True)


def pay_over_api(user: Any, order: Order, **body: Any) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client.post(f"/api/orders/{order.public_id}/pay/", body, format="json")


#: Inside ``extra_data.payment``: nine objects deep in all, one more than an option may hold.
NINE_DEEP: dict[str, Any] = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {}}}}}}}}

#: Values sent as JSON by staff through ``POST /api/orders/{id}/pay/``: each a 400 on its field.
JSON_CASES = [
    # The values a fault run sent, each once a 500 and a failed invoice.
    ("postpay", {"num_instalments": "abc"}, "options.num_instalments"),
    ("postpay", {"discounts": [{"code": "X", "amount": "abc"}]}, "options.discounts"),
    ("postpay", {"metadata": ["a", "b"]}, "options.metadata"),
    ("paylands", {"apm": "PAYSHOP", "reference_valid_days": "abc"}, "options.reference_valid_days"),
    ("paylands", {"apm": "PAYSHOP", "reference_valid_days": 10**9}, "options.reference_valid_days"),
    # Numbers past what the wire (minor units, JSON doubles) or a date can carry.
    ("postpay", {"discounts": [{"code": "X", "amount": "1e999999"}]}, "options.discounts"),
    ("postpay", {"discounts": [{"code": "X", "amount": 10**30}]}, "options.discounts"),
    ("postpay", {"discounts": [{"code": "X", "amount": "99999999999999.99"}]}, "options.discounts"),
    ("postpay", {"metadata": {"n": 10**30}}, "options.metadata"),
    ("postpay", {"num_instalments": 10**30}, "options.num_instalments"),
    ("postpay", {"num_instalments": 2.5}, "options.num_instalments"),
    ("paylands", {"reference_valid_days": -(10**20)}, "options.reference_valid_days"),
    ("paylands", {"extra_data": {"payment": {"n": 10**30}}}, "options.extra_data"),
    # Shapes the gateway does not read.
    ("postpay", {"customer": {"gender": ["male"]}}, "options.customer"),
    ("postpay", {"discounts": {"code": "X", "amount": "1"}}, "options.discounts"),
    ("postpay", {"shipping": ["id"]}, "options.shipping"),
    ("paylands", {"extra_data": {"payment": "x"}}, "options.extra_data"),
    ("paylands", {"extra_data": {"payment": NINE_DEEP}}, "options.extra_data"),
]


@pytest.mark.parametrize(("alias", "options", "field"), JSON_CASES)
def test_staff_options_the_gateway_cannot_read_are_400(
    api_urls: None,
    staff: Any,
    router: EmulatorRouter,
    alias: str,
    options: dict[str, Any],
    field: str,
) -> None:
    order = make_order(alias)
    response = pay_over_api(staff, order, gateway=alias, options=options)
    assert response.status_code == 400, response.content
    assert set(response.json()["fields"]) == {field}
    assert not Invoice.objects.exists()
    assert router.calls == []


#: Values only Python code can give (JSON has no NaN, no infinity, no sets or Decimals).
PYTHON_CASES = [
    *JSON_CASES,
    ("postpay", {"metadata": {"n": math.nan}}, "options.metadata"),
    ("postpay", {"metadata": {"n": math.inf}}, "options.metadata"),
    ("postpay", {"metadata": {1: "x"}}, "options.metadata"),
    ("postpay", {"discounts": [{"code": "X", "amount": Decimal("NaN")}]}, "options.discounts"),
    ("paylands", {"extra_data": {"payment": {"n": math.inf}}}, "options.extra_data"),
    ("paylands", {"extra_data": {"payment": {"n": Decimal("1")}}}, "options.extra_data"),
    ("paylands", {"extra_data": {"payment": {"n": {1, 2}}}}, "options.extra_data"),
    ("paylands", {"reference_valid_days": 3.0}, "options.reference_valid_days"),
]


@pytest.mark.parametrize(("alias", "options", "field"), PYTHON_CASES)
def test_python_api_refuses_options_the_gateway_cannot_read(
    router: EmulatorRouter, alias: str, options: dict[str, Any], field: str
) -> None:
    order = make_order(alias)
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order, alias, options=options)
    assert set(caught.value.fields) == {field}
    assert not Invoice.objects.exists()
    assert router.calls == []


def test_options_nested_without_bound_are_refused_without_recursion(
    router: EmulatorRouter,
) -> None:
    deep: dict[str, Any] = {}
    inner = deep
    for _ in range(100_000):
        inner["x"] = {}
        inner = inner["x"]
    order = make_order("paylands")
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order, "paylands", options={"extra_data": {"payment": deep}})
    assert "nests deeper than" in caught.value.fields["options.extra_data"]
    assert not Invoice.objects.exists()


def test_readable_options_still_reach_the_wire(router: EmulatorRouter) -> None:
    order = make_order("postpay")
    invoice, _action = payments.begin_payment(
        order,
        "postpay",
        options={
            "num_instalments": 3,
            "discounts": [{"code": "SPRING", "amount": "10.00"}],
            "metadata": {"campaign": "spring", "n": MAX_OPTION_INTEGER, "rate": 0.5},
        },
    )
    assert invoice.status == "pending"
    assert invoice.gateway_options["metadata"]["n"] == MAX_OPTION_INTEGER
    [call] = router.requests_to(r"/postpay/checkouts$", "POST")
    assert b'"num_instalments": 3' in call.body  # type: ignore[operator]


# -- the alias's own defaults for the same fields ---------------------------------------------

ALIAS_CASES = [
    ("postpay", {"num_instalments": "abc"}, "OPTIONS.num_instalments"),
    ("postpay", {"num_instalments": 10**9}, "OPTIONS.num_instalments"),
    ("paylands", {"reference_valid_days": "abc"}, "OPTIONS.reference_valid_days"),
    ("paylands", {"reference_valid_days": 10**9}, "OPTIONS.reference_valid_days"),
    ("paylands", {"extra_data": ["payment"]}, "OPTIONS.extra_data"),
    ("paylands", {"extra_data": {"payment": {"n": math.nan}}}, "OPTIONS.extra_data"),
    ("paylands", {"operative": 5}, "OPTIONS.operative"),
    ("paylands", {"push": "yes"}, "OPTIONS.push"),
    ("paylands", {"lang": "portuguese"}, "OPTIONS.lang"),
    ("paylands", {"apm": "BIZUM", "apms": ["PAYSHOP"]}, "OPTIONS.apm"),
]


@pytest.mark.parametrize(("alias", "changes", "field"), ALIAS_CASES)
def test_alias_defaults_the_gateway_cannot_read_are_named(
    alias: str, changes: dict[str, Any], field: str
) -> None:
    with alias_options(alias, **changes):
        assert set(get_gateway(alias).default_option_errors()) == {field}


@pytest.mark.parametrize(("alias", "changes", "field"), ALIAS_CASES)
def test_alias_defaults_the_gateway_cannot_read_start_no_invoice(
    router: EmulatorRouter, alias: str, changes: dict[str, Any], field: str
) -> None:
    with alias_options(alias, **changes):
        order = make_order(alias)
        with pytest.raises(GatewayConfigurationError, match=field):
            payments.begin_payment(order, alias)
    assert not Invoice.objects.exists()
    assert router.calls == []


@pytest.mark.parametrize(("alias", "changes", "field"), ALIAS_CASES[:4])
def test_alias_defaults_the_gateway_cannot_read_are_503_on_pay(
    api_urls: None,
    staff: Any,
    router: EmulatorRouter,
    alias: str,
    changes: dict[str, Any],
    field: str,
) -> None:
    with alias_options(alias, **changes):
        order = make_order(alias)
        response = pay_over_api(staff, order, gateway=alias)
    assert response.status_code == 503
    assert response.json()["code"] == "gateway_not_configured"
    assert not Invoice.objects.exists()
    assert router.calls == []


def test_alias_sensitive_defaults_need_no_opt_in() -> None:
    with alias_options("paylands", secure=False, reference_valid_days=3, apm="payshop"):
        assert get_gateway("paylands").default_option_errors() == {}


# -- the shared check -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"a": [1, "x", None, True, 1.5]}, None),
        ({"a": math.nan}, "not finite at a"),
        ({"a": [0, -math.inf]}, "not finite at a[1]"),
        ({"a": MAX_OPTION_INTEGER + 1}, "too large at a"),
        ({"a": {2: "x"}}, "key that is not a string at a"),
        ({"a": (1, b"x")}, "bytes at a[1]"),
        ([[[[[[[[[]]]]]]]]], "deeper than 8 levels"),
    ],
)
def test_json_problem(value: Any, problem: str | None) -> None:
    found = json_problem(value)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_an_option_may_bound_its_own_depth() -> None:
    flat = PaymentOption(dict, max_depth=1)
    assert flat.check({"a": 1}) == {"a": 1}
    with pytest.raises(ValueError, match="deeper than 1"):
        flat.check({"a": {}})
