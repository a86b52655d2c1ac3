"""PortPos discount and EMI chosen per payment: checked, kept, sent over the alias's own."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from django_multipay import payments
from django_multipay.checks import check_settings
from django_multipay.exceptions import GatewayConfigurationError, InvalidRequest
from django_multipay.gateways import portwallet_common
from django_multipay.gateways.portpos import authorization
from django_multipay.models import Invoice, Order
from django_multipay.sandbox import portpos as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

BOTH = {
    "emi": {"enable": True, "tenures": [3, 6]},
    "discount": {"enable": True, "codes": ["EID10"]},
}


def with_options(settings: Any, **options: Any) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portpos"]["OPTIONS"].update(options)
    settings.MULTIPAY = config


def make_order(**fields: Any) -> Order:
    order = OrderFactory(currency="BDT", **fields)  # type: ignore[no-untyped-call]
    assert isinstance(order, Order)
    return order


def sent(router: EmulatorRouter) -> dict[str, Any]:
    body = json.loads(router.requests_to(r"/portpos/invoice$", "POST")[-1].body)
    assert isinstance(body, dict)
    return body


def start(options: dict[str, Any] | None) -> Invoice:
    order = make_order()
    payments.start_payment(order, "portpos", options=options)
    return Invoice.objects.get(order=order)


def emulated(invoice: Invoice) -> dict[str, Any]:
    with store.table(emulator.TABLE) as invoices:
        found = invoices[invoice.gateway_id]
    assert isinstance(found, dict)
    return found


# -- on the wire ----------------------------------------------------------------------------------


def test_a_payments_discount_and_emi_reach_the_invoice_body(router: EmulatorRouter) -> None:
    invoice = start(BOTH)
    body = sent(router)
    # "Create an invoice with discount" / "with EMI": enable is the Integer 1 or 0.
    assert body["discount"] == {"enable": 1, "codes": ["EID10"]}
    assert body["emi"] == {"enable": 1, "tenures": [3, 6]}
    assert invoice.status == InvoiceStatus.PENDING
    # Kept on the invoice as checked, so a retry or an audit sees what was asked for.
    assert invoice.gateway_options == BOTH
    # PortPos made an EMI purchase offering those codes and tenures.
    stored = emulated(invoice)
    assert stored["order"]["type"] == "emi_purchase"
    assert stored["order"]["has_emi"] == 1
    assert (stored["_discount"], stored["_emi"]) == (
        {"enable": 1, "codes": ["EID10"]},
        {"enable": 1, "tenures": [3, 6]},
    )
    assert {"discount_code": "EID10"} in stored["customs"]


def test_the_documents_own_integers_are_taken(router: EmulatorRouter) -> None:
    invoice = start({"emi": {"enable": 1, "tenures": [0, 60]}, "discount": {"enable": 0}})
    assert sent(router)["emi"] == {"enable": 1, "tenures": [0, 60]}
    assert sent(router)["discount"] == {"enable": 0}
    assert invoice.gateway_options == {
        "emi": {"enable": True, "tenures": [0, 60]},
        "discount": {"enable": False},
    }


@pytest.mark.parametrize(
    ("options", "discount", "emi"),
    [
        # Nothing chosen: the alias's own.
        (None, {"enable": 1, "codes": ["ALIAS"]}, {"enable": 1, "tenures": [3, 6, 12]}),
        # The payment's emi replaces the alias's emi and emi_tenures; its discount stays.
        (
            {"emi": {"enable": True, "tenures": [24]}},
            {"enable": 1, "codes": ["ALIAS"]},
            {"enable": 1, "tenures": [24]},
        ),
        ({"emi": False}, {"enable": 1, "codes": ["ALIAS"]}, {"enable": 0}),
        ({"emi": {"enable": False}}, {"enable": 1, "codes": ["ALIAS"]}, {"enable": 0}),
        # Enabled with no list of its own: PortPos offers its own, not the alias's.
        ({"discount": {"enable": True}}, {"enable": 1}, {"enable": 1, "tenures": [3, 6, 12]}),
        ({"discount": True}, {"enable": 1}, {"enable": 1, "tenures": [3, 6, 12]}),
        (
            {"discount": {"enable": True, "codes": ["EID10", "VIP"]}, "emi": False},
            {"enable": 1, "codes": ["EID10", "VIP"]},
            {"enable": 0},
        ),
    ],
)
def test_the_payments_value_replaces_the_aliass_for_that_payment(
    router: EmulatorRouter,
    settings: Any,
    options: dict[str, Any] | None,
    discount: dict[str, Any],
    emi: dict[str, Any],
) -> None:
    with_options(settings, emi=True, emi_tenures=[3, 6, 12], discount_codes=["ALIAS"])
    start(options)
    body = sent(router)
    assert (body["discount"], body["emi"]) == (discount, emi)
    # The next payment at the alias is the alias's again.
    start(None)
    assert sent(router)["emi"] == {"enable": 1, "tenures": [3, 6, 12]}


def test_without_either_nothing_is_sent(router: EmulatorRouter) -> None:
    start(None)
    assert "discount" not in sent(router)
    assert "emi" not in sent(router)


# -- refused before any invoice exists ------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"emi": {"enable": True, "tenures": list(range(11))}}, "options.emi", "at most 10"),
        ({"emi": {"enable": True, "tenures": [61]}}, "options.emi", "from 0 to 60"),
        ({"emi": {"enable": True, "tenures": [-1]}}, "options.emi", "from 0 to 60"),
        ({"emi": {"enable": True, "tenures": ["3"]}}, "options.emi", "from 0 to 60"),
        ({"emi": {"enable": True, "tenures": [True]}}, "options.emi", "from 0 to 60"),
        ({"emi": {"enable": True, "tenures": 3}}, "options.emi", "tenures: must be a list"),
        ({"emi": {"enable": True, "tenures": [[3]]}}, "options.emi", "nests deeper"),
        ({"emi": {"tenures": [3]}}, "options.emi", "enable: required"),
        ({"emi": {"enable": 2}}, "options.emi", "enable: must be 0 or 1"),
        ({"emi": {"enable": "yes"}}, "options.emi", "enable: must be 0 or 1"),
        ({"emi": {"enable": True, "tenure": [3]}}, "options.emi", "unknown keys tenure"),
        ({"emi": "yes"}, "options.emi", "must be true, false or an object with enable"),
        ({"emi": 3}, "options.emi", "must be true, false or an object with enable"),
        ({"discount": {"enable": True, "codes": ["x" * 101]}}, "options.discount", "1 to 100"),
        ({"discount": {"enable": True, "codes": [""]}}, "options.discount", "1 to 100"),
        ({"discount": {"enable": True, "codes": [10]}}, "options.discount", "1 to 100"),
        ({"discount": {"enable": True, "codes": ["c"] * 11}}, "options.discount", "at most 10"),
        ({"discount": {"enable": True, "codes": "EID10"}}, "options.discount", "must be a list"),
        ({"discount": {"codes": ["EID10"]}}, "options.discount", "enable: required"),
    ],
)
def test_out_of_the_documents_limits_is_refused_before_any_call(
    router: EmulatorRouter, options: dict[str, Any], field: str, message: str
) -> None:
    order = make_order()
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portpos", options=options)
    assert list(caught.value.fields) == [field]
    assert message in caught.value.fields[field]
    assert not Invoice.objects.filter(order=order).exists()
    assert router.calls == []


def test_the_limits_are_the_aliass_own(router: EmulatorRouter, settings: Any) -> None:
    # The same tenure out of range at the alias is refused too, naming PortPos's field.
    with_options(settings, emi_tenures=[61])
    order = make_order()
    with pytest.raises(InvalidRequest) as caught:
        payments.start_payment(order, "portpos")
    assert caught.value.fields == {"emi.tenures": "each tenure must be whole months from 0 to 60"}
    assert router.calls == []


@pytest.mark.parametrize(("name", "value"), [("emi", "yes"), ("discount", {"enable": 5})])
def test_an_alias_flag_the_gateway_cannot_read_fails_the_system_check(
    db: None, settings: Any, name: str, value: Any
) -> None:
    with_options(settings, **{name: value})
    [message] = [m for m in check_settings() if m.id == "multipay.E013"]
    assert f"OPTIONS.{name}" in message.msg
    with pytest.raises(GatewayConfigurationError):
        payments.start_payment(make_order(), "portpos")


@pytest.mark.parametrize("value", [True, False, 1, 0, {"enable": 1, "tenures": [6]}])
def test_alias_flags_of_either_form_pass_the_system_check(
    db: None, settings: Any, value: Any
) -> None:
    with_options(settings, emi=value)
    assert [m for m in check_settings() if m.id == "multipay.E013"] == []


def test_an_aliass_emi_object_is_sent_as_the_document_writes_it(
    router: EmulatorRouter, settings: Any
) -> None:
    with_options(settings, emi={"enable": True, "tenures": [6]}, emi_tenures=[3])
    start(None)
    assert sent(router)["emi"] == {"enable": 1, "tenures": [6]}


# -- the emulator states the document's rules itself ----------------------------------------------


def create(client: Any, **parts: Any) -> Any:
    customer = {
        "name": "Robbie Amell",
        "email": "robbie@example.com",
        "phone": "01711000000",
        "address": {
            "street": "House 1",
            "city": "Dhaka",
            "state": "Dhaka",
            "zipcode": "1212",
            "country": "BD",
        },
    }
    body = {
        "order": {
            "amount": "500.00",
            "currency": "BDT",
            "redirect_url": "http://testserver/back/",
            "reference": "R-1",
        },
        "product": {"name": "Polo T-shirt", "description": "A polo T-shirt"},
        "billing": {"customer": customer},
        "shipping": {"customer": customer},
        **parts,
    }
    stamp = portwallet_common.unix_time()
    return client.post(
        "/sandbox/portpos/invoice",
        body,
        content_type="application/json",
        headers={
            "Authorization": authorization("portpos-app-key-one", "portpos-secret-key-one", stamp)
        },
    )


@pytest.mark.parametrize(
    ("parts", "prop"),
    [
        ({"discount": {"enable": True}}, "discount.enable"),
        ({"discount": {"enable": 2}}, "discount.enable"),
        ({"discount": {"codes": ["A"]}}, "discount.enable"),
        ({"discount": {"enable": 1, "codes": ["c"] * 11}}, "discount.codes"),
        ({"discount": {"enable": 1, "codes": ["x" * 101]}}, "discount.codes"),
        ({"discount": {"enable": 1, "codes": [""]}}, "discount.codes"),
        ({"discount": "yes"}, "discount"),
        ({"emi": {"enable": 1, "tenures": [61]}}, "emi.tenures"),
        ({"emi": {"enable": 1, "tenures": ["6"]}}, "emi.tenures"),
        ({"emi": {"enable": 1, "tenures": list(range(11))}}, "emi.tenures"),
        ({"emi": {"enable": False}}, "emi.enable"),
    ],
)
def test_emulator_refuses_offers_the_document_does_not_allow(
    router: EmulatorRouter, parts: dict[str, Any], prop: str
) -> None:
    # Posted to the emulator itself: its own rules, never the backend's request check.
    response = create(router.client, **parts)
    assert response.status_code == 400
    assert response.json()["error"]["property"] == prop


def test_emulator_takes_the_documents_offers(router: EmulatorRouter) -> None:
    response = create(
        router.client,
        discount={"enable": 1, "codes": ["Bengal 1", "Bengal 2"]},
        emi={"enable": 1, "tenures": [0, 3, 60]},
    )
    assert response.status_code == 201
    data = response.json()["data"]
    assert (data["order"]["has_discount"], data["order"]["has_emi"]) == (1, 1)
    assert data["order"]["type"] == "emi_purchase"
    assert {"discount_code": "Bengal 1,Bengal 2"} in data["customs"]
