"""Every notify URL fuzzed: generated bodies, headers, content types and query strings.

Whatever arrives, the answer is never a 5xx, every request is stored as one notification,
and no invoice, refund or order changes: nothing generated here is signed with the right
secret, and the gateways' own records (the emulators) say every payment is still pending.
Bodies may name our real invoices, so lookups and server-to-server reads are exercised too.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_multipay import payments
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.testing.factories import OrderFactory

ALIASES = sorted(django_settings.MULTIPAY["GATEWAYS"])
#: Requests per alias: enough to reach every parser's branches, few enough for CI.
EXAMPLES = 30

#: Field names the gateways' notifications use, so generated bodies get past the first
#: ``if "x" in data`` of each parser and into the code behind it.
FIELDS = (
    "id",
    "type",
    "event",
    "data",
    "object",
    "invoice",
    "invoice_id",
    "order",
    "order_ref",
    "order_uuid",
    "uuid",
    "merchant_order_ref",
    "link_ref",
    "link_order_ref",
    "reference",
    "payment_id",
    "status",
    "status_code",
    "amount",
    "currency",
    "signature",
    "signature_hash",
    "refund_id",
    "refund_status",
    "transaction_id",
    "token",
    "created",
)
HEADERS = (
    "Multipay-Signature",
    "X-Postpay-Signature",
    "X-Portone-Client-Key",
    "X-Signature",
    "Authorization",
    "Content-Encoding",
    "X-Forwarded-For",
)
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=latin-1",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "text/xml",
    "",
)
#: Our id and the gateway's id of the invoice made for each alias (filled in by the fixture),
#: and the alias being fuzzed: generated bodies name that alias's invoice.
REAL_IDS: dict[str, list[str]] = {}
CURRENT: list[str] = [""]


def _pick(index: int) -> str:
    ids = REAL_IDS.get(CURRENT[0]) or [""]
    return ids[index % len(ids)]


#: Read when each example is drawn, so it follows ``CURRENT``.
real_id = st.integers(min_value=0, max_value=3).map(_pick)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["paid", "Success", "PAID", "ACCEPTED", "SUCCESS", "1e309", "-1", "0"]),
    real_id,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=12,
)


def deep(levels: int, opener: str) -> bytes:
    closer = {"[": "]", '{"data":': "}"}[opener]
    return (opener * levels + ("1" if opener != "[" else "") + closer * levels).encode()


IDS = ("invoice", "reference", "order_ref", "order_id", "uuid", "payment_id", "id")
amounts = st.sampled_from(
    ["25.00", "25.00", "25", 25, 2500, 25.0, "1e309", 1e308, -25, "abc", None, [], {}]
)
statuses = st.sampled_from(
    ["paid", "pending", "Success", "PAID", "ACCEPTED", "SUCCESS", "2", "REFUNDED", "", None, 7]
)


def shaped(
    inner: st.SearchStrategy[Any], *, top: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    """Something like a real notification: ids of our invoices, a status, an amount. At the
    top every id field is there (mostly our invoice's), so bodies get past the parsers' first
    checks and are looked up."""
    ids = {name: st.one_of(real_id, real_id, st.text(max_size=20)) for name in IDS}
    return st.fixed_dictionaries(
        ids if top else {},
        optional={
            **({} if top else ids),
            "status": statuses,
            "status_code": statuses,
            "type": st.sampled_from(["payment.paid", "refund.succeeded", "order.updated", ""]),
            "event": st.sampled_from(["order.captured", "order.denied", "", "x"]),
            "amount": amounts,
            "total_amount": amounts,
            "currency": st.sampled_from(["EUR", "BDT", "AED", "eur", "", "XXX", 978]),
            "data": inner,
            "order": inner,
            "transactions": st.lists(inner, max_size=2),
        },
    )


shaped_bodies = shaped(st.recursive(st.just({}), shaped, max_leaves=3), top=True)
shaped_json = shaped_bodies.map(lambda v: json.dumps(v).encode())
shaped_form = shaped_bodies.map(
    lambda v: urlencode(
        {k: json.dumps(x) if isinstance(x, (dict, list)) else x for k, x in v.items()}
    ).encode()
)
bodies = st.one_of(
    shaped_json,
    shaped_form,
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8).map(
        lambda v: json.dumps(v).encode()
    ),
    st.dictionaries(
        st.sampled_from(FIELDS), st.one_of(st.text(max_size=30), real_id), max_size=8
    ).map(lambda v: urlencode(v).encode()),
    st.builds(
        deep, st.sampled_from([50, 1_000, 20_000, 100_000]), st.sampled_from(["[", '{"data":'])
    ),
)
header_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=60,
)
#: A body and its content type: mostly as a gateway would send them, sometimes anything.
requests_ = st.one_of(
    st.tuples(shaped_json, st.just("application/json")),
    st.tuples(shaped_form, st.just("application/x-www-form-urlencoded")),
    st.tuples(bodies, st.one_of(st.sampled_from(CONTENT_TYPES), header_values)),
)


#: An invoice's record of the gateway's last answer is refreshed by every status read a
#: notification prompts; it is a note, not a state, and may change.
NOTES = {"gateway_data", "updated_at"}
INVOICE_STATE = [f.attname for f in Invoice._meta.concrete_fields if f.attname not in NOTES]


def snapshot() -> tuple[Any, ...]:
    """What a notification must never change."""
    return (
        list(Invoice.objects.order_by("pk").values_list(*INVOICE_STATE)),
        list(Order.objects.order_by("pk").values_list()),
        list(Refund.objects.order_by("pk").values_list()),
    )


@pytest.fixture
def invoices(router: Any) -> list[Invoice]:
    """One pending invoice per alias, its payment open at the gateway's emulator."""
    made = []
    for alias in ALIASES:
        currencies = get_gateway(alias).capabilities.currencies
        currency = sorted(currencies)[0] if currencies else "EUR"
        order = OrderFactory(amount=Decimal("25.00"), currency=currency)
        payments.start_payment(order, alias)
        made.append(Invoice.objects.get(order=order))
    REAL_IDS.update({i.gateway: [str(i.pk), i.gateway_id] for i in made})
    yield made
    REAL_IDS.clear()


def fuzz(client: Any, alias: str, before: tuple[Any, ...]) -> None:
    """Send generated requests to one alias's notify URL and check each one's outcome."""
    CURRENT[0] = alias

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests in every run: CI never fails by chance
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        method=st.sampled_from(["POST", "POST", "POST", "GET"]),  # what the view takes
        request=requests_,
        headers=st.dictionaries(st.sampled_from(HEADERS), header_values, max_size=3),
        query=st.dictionaries(
            st.sampled_from(FIELDS),
            st.one_of(st.text(max_size=20), real_id),
            max_size=3,
        ).map(urlencode),
    )
    def send(method: str, request: tuple[bytes, str], headers: dict, query: str) -> None:
        body, content_type = request
        stored = Notification.objects.count()
        response = client.generic(
            method,
            f"/payments/notify/{alias}/?{query}" if query else f"/payments/notify/{alias}/",
            data=body,
            content_type=content_type,
            headers=headers,
        )
        assert response.status_code < 500, (alias, response.status_code, response.content[:200])
        assert Notification.objects.count() == stored + 1
        assert snapshot() == before, alias

    send()


def test_notify_never_answers_5xx_stores_every_request_and_changes_nothing(
    invoices: list[Invoice],
) -> None:
    # One test for every alias: the invoices are made and the tables emptied once.
    client = Client(raise_request_exception=False)
    before = snapshot()
    for alias in ALIASES:
        fuzz(client, alias, before)
    assert Notification.objects.count() == EXAMPLES * len(ALIASES)
