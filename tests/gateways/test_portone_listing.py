"""PortOne: many invoices' statuses from "Fetch Merchant Transactions" (``fetch_statuses``)."""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from django_multipay import payments, reconcile
from django_multipay.exceptions import GatewayAPIError
from django_multipay.gateways.portone import PortOneGateway, read_token
from django_multipay.models import Invoice
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory
from django_multipay.testing.router import EmulatorRouter

KEY = "portone-client-key-one"
SECRET = "portone-secret-key-one-0123456789abcdef0123"
LISTING = rf"/api/merchant/{KEY}/fetch-all-payments$"
API = "http://testserver/sandbox/portone/"


def started(
    alias: str = "portone", amount: str = "100.00", age: timedelta | None = None
) -> Invoice:
    order = OrderFactory(amount=Decimal(amount), currency="EUR")
    invoice, _action = payments.begin_payment(order, alias)
    if age is not None:
        Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - age)
        invoice.refresh_from_db()
    return invoice


def settle(invoice: Invoice, outcome: str) -> None:
    """The payment settles at PortOne with no webhook reaching us."""
    with store.table(emulator.TRANSACTIONS) as table:
        emulator.settle(table[invoice.gateway_id], outcome)


def gateway(alias: str = "portone", **options: Any) -> PortOneGateway:
    return PortOneGateway(alias, {**get_gateway(alias).options, **options})


def reads_alone(router: EmulatorRouter) -> int:
    return len(router.requests_to(r"/api/transaction/[^/]+/status$")) + len(
        router.requests_to(r"/transaction-details$")
    )


@pytest.mark.parametrize("count", [1, 4, 5])
def test_n_invoices_are_settled_in_ceil_n_over_size_calls(
    router: EmulatorRouter, db: Any, count: int
) -> None:
    invoices = [started(amount=f"{10 + n}.50") for n in range(count)]
    for invoice in invoices:
        settle(invoice, "success")
    before = reads_alone(router)

    found = gateway(listing_page_size=2).fetch_statuses(invoices)

    calls = router.requests_to(LISTING)
    assert len(calls) == math.ceil(count / 2)
    assert [json.loads(call.body)["page"] for call in calls] == list(range(1, len(calls) + 1))
    assert reads_alone(router) == before  # no status read, no transaction details
    assert set(found) == {invoice.pk for invoice in invoices}
    for invoice in invoices:
        result = found[invoice.pk]
        assert result.status == InvoiceStatus.PAID
        assert (result.amount, result.currency) == (invoice.amount, "EUR")
        assert result.gateway_id == invoice.gateway_id
        assert result.raw["merchant_order_ref"] == str(invoice.pk)


def test_the_listing_call_on_the_wire(router: EmulatorRouter, db: Any) -> None:
    old = started(age=timedelta(days=3))
    new = started()
    gateway().fetch_statuses([old, new])

    (call,) = router.requests_to(LISTING)
    assert call.method == "POST"
    assert call.headers["X-Portone-Client-Key"] == KEY
    scheme, _, token = call.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    assert read_token(token, KEY, SECRET)["sub"] == KEY
    body = json.loads(call.body)
    assert set(body) == {"page", "size", "from", "to", "environment"}
    assert (body["page"], body["size"], body["environment"]) == (1, 100, "sandbox")
    start, end = parse_datetime(body["from"]), parse_datetime(body["to"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["from"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["to"])
    # A day of margin before the earliest invoice, until now.
    assert abs(start - (old.created_at - timedelta(days=1))) < timedelta(seconds=1)
    assert abs(end - timezone.now()) < timedelta(seconds=5)


def test_paging_stops_once_every_invoice_is_found(router: EmulatorRouter, db: Any) -> None:
    others = [started(age=timedelta(hours=5 - n)) for n in range(4)]  # older payments
    ours = [started(), started()]  # the newest: PortOne's first page
    assert len(others) == 4

    found = gateway(listing_page_size=2).fetch_statuses(ours)

    (call,) = router.requests_to(LISTING)
    assert json.loads(call.body)["page"] == 1
    assert set(found) == {invoice.pk for invoice in ours}


def test_invoices_the_listing_does_not_name_are_left_out(router: EmulatorRouter, db: Any) -> None:
    started(age=timedelta(minutes=5))  # another payment of the account
    listed = started()
    settle(listed, "success")
    unknown = started()
    with store.table(emulator.TRANSACTIONS) as table:
        del table[unknown.gateway_id]  # PortOne has never heard of it

    found = gateway(listing_page_size=1).fetch_statuses([listed, unknown])

    assert set(found) == {listed.pk}
    assert len(router.requests_to(LISTING)) == 2  # every page read: the pages ran out


def test_the_page_cap_leaves_the_rest_to_be_read_alone(router: EmulatorRouter, db: Any) -> None:
    first = started(age=timedelta(hours=2))
    second = started()

    found = gateway(listing_page_size=1, listing_max_pages=1).fetch_statuses([first, second])

    assert len(router.requests_to(LISTING)) == 1
    assert set(found) == {second.pk}  # newest first; the older one is left out


def test_held_preauth_reads_authorized_and_failures_keep_their_reason(
    router: EmulatorRouter, db: Any
) -> None:
    held = started("portone-preauth")
    settle(held, "success")
    declined = started("portone-preauth")
    settle(declined, "failure")
    pending = started("portone-preauth")

    found = gateway("portone-preauth").fetch_statuses([held, declined, pending])

    assert found[held.pk].status == InvoiceStatus.AUTHORIZED
    assert found[declined.pk].status == InvoiceStatus.FAILED
    assert found[declined.pk].failure_reason == "BANK_REFUSED_TRANSACTION"
    assert found[pending.pk].status == InvoiceStatus.PENDING
    assert found[pending.pk].failure_reason == ""
    # The same as each invoice's own status read says.
    alone = get_gateway("portone-preauth")
    for invoice in (held, declined, pending):
        read = alone.fetch_status(invoice)
        assert (read.status, read.failure_reason, read.amount, read.currency) == (
            found[invoice.pk].status,
            found[invoice.pk].failure_reason,
            found[invoice.pk].amount,
            found[invoice.pk].currency,
        )


def test_payment_links_are_left_out_and_read_alone(router: EmulatorRouter, db: Any) -> None:
    links = [started("portone-link"), started("portone-link")]
    assert gateway("portone-link").fetch_statuses(links) == {}
    assert not router.requests_to(r"/fetch-all-payments$")


def listing_answer(*rows: dict[str, Any], pages: int = 1) -> dict[str, Any]:
    return {
        "json": {
            "body": {
                "content": list(rows),
                "total_elements": len(rows),
                "total_pages": pages,
                "size": 100,
                "page": 1,
                "number_of_elements": len(rows),
            },
            "status_code": "2000",
            "status_message": "SUCCESS",
        }
    }


def invoice_at(db: Any, gateway_id: str) -> Invoice:
    order = OrderFactory(amount=Decimal("100.00"), currency="EUR")
    return Invoice.objects.create(
        order=order,
        gateway="portone",
        gateway_id=gateway_id,
        amount=order.amount,
        currency="EUR",
        status=InvoiceStatus.PENDING,
        gateway_options={"started_with": "initiatePayment"},
    )


def row(invoice: Invoice, **changes: Any) -> dict[str, Any]:
    return {
        "currency": "EUR",
        "amount": 100,
        "order_ref": invoice.gateway_id,
        "merchant_order_ref": str(invoice.pk),
        "status": "Success",
        "status_code": "2000",
        "status_reason": "SUCCESS",
        **changes,
    }


def test_an_unreadable_row_leaves_only_its_invoice_out(db: Any) -> None:
    """Reading the rest cannot mis-book money: the bad row's invoice is read alone, by the
    status read and transaction details, and no status is ever taken without its amount."""
    good, no_amount, bad_status, foreign = (invoice_at(db, f"REF{n}") for n in range(4))
    bad = row(no_amount)
    del bad["amount"]
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + f"api/merchant/{KEY}/fetch-all-payments",
            **listing_answer(
                row(good),
                bad,
                row(bad_status, status="Whatever", status_code="2000"),
                row(foreign, order_ref="ANOTHER"),  # names another PortOne transaction
                "not an object",  # type: ignore[arg-type]
            ),
        )
        found = get_gateway("portone").fetch_statuses([good, no_amount, bad_status, foreign])
    assert set(found) == {good.pk}
    assert found[good.pk].status == InvoiceStatus.PAID


def test_an_invoice_named_twice_is_left_out(db: Any) -> None:
    twice = invoice_at(db, "REF1")
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + f"api/merchant/{KEY}/fetch-all-payments",
            **listing_answer(row(twice), row(twice, status="Failed")),
        )
        assert get_gateway("portone").fetch_statuses([twice]) == {}


@pytest.mark.parametrize(
    "body",
    [
        {"status_code": "2000", "status_message": "SUCCESS"},
        {"body": {"content": None}, "status_code": "2000"},
        {"message": "nope", "status_code": "4016", "status_message": "MERCHANT_NOT_FOUND"},
    ],
)
def test_an_unreadable_or_refused_listing_raises(db: Any, body: dict[str, Any]) -> None:
    invoice = invoice_at(db, "REF1")
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, API + f"api/merchant/{KEY}/fetch-all-payments", json=body)
        with pytest.raises(GatewayAPIError):
            get_gateway("portone").fetch_statuses([invoice])


def test_reconciliation_books_a_batch_from_the_listing(router: EmulatorRouter, db: Any) -> None:
    invoices = [started(age=timedelta(hours=1)) for _ in range(3)]
    for invoice in invoices:
        settle(invoice, "success")
    before = reads_alone(router)

    reconcile.check_invoices(invoices)

    assert len(router.requests_to(LISTING)) == 1
    assert reads_alone(router) == before
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.status == InvoiceStatus.PAID
        assert invoice.captured_amount == Decimal("100.00")


def test_emulator_listing_refuses_what_the_document_does_not_allow(
    router: EmulatorRouter, db: Any
) -> None:
    headers = get_gateway("portone").headers()
    url = f"/sandbox/portone/api/merchant/{KEY}/fetch-all-payments"
    body = {"page": 1, "size": 10, "from": "2022-12-11T09:05:35.803Z", "to": "2099-01-01T00:00:00Z"}
    for wrong, code in (
        ({**body}, "4001"),  # environment missing
        ({**body, "environment": "prod"}, "4001"),
        ({**body, "environment": "sandbox", "page": "1"}, "4001"),
        ({**body, "environment": "sandbox", "size": 0}, "4001"),
    ):
        answer = router.client.post(
            url, json.dumps(wrong), content_type="application/json", headers=headers
        )
        assert answer.status_code == 400
        assert answer.json()["status_code"] == code
    other = router.client.post(
        "/sandbox/portone/api/merchant/someone-else/fetch-all-payments",
        json.dumps({**body, "environment": "sandbox"}),
        content_type="application/json",
        headers=headers,
    )
    assert other.json()["status_code"] == "4016"
    unsigned = router.client.post(
        url,
        json.dumps({**body, "environment": "sandbox"}),
        content_type="application/json",
        headers={"X-Portone-Client-Key": KEY},
    )
    assert unsigned.status_code == 401
    assert unsigned.json()["status_code"] == "4054"
