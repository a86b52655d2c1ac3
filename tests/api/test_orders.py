"""Orders over the API: create, list (filters, ordering, pages), retrieve, and who sees what."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_multipay.models import Order, OrderItem
from django_multipay.status import OrderStatus
from tests.api.conftest import order_for

pytestmark = pytest.mark.django_db

NEW_ORDER = {
    "reference": "WEB-1",
    "currency": "EUR",
    "description": "Two teas",
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "billing_address": {
        "name": "Ada Lovelace",
        "line1": "1 Road",
        "city": "Dhaka",
        "country": "BD",
    },
    "items": [
        {"name": "Tea", "quantity": 2, "unit_price": "3.50", "reference": "TEA"},
        {"name": "Cup", "unit_price": "10.00"},
    ],
    "shipping_amount": "4.99",
    "metadata": {"cart": 12, "tags": ["gift"]},
}


# -- create ----------------------------------------------------------------------------------


def test_create_order_computes_amount_and_belongs_to_the_user(api: Any, customer: Any) -> None:
    response = api(customer).post("/api/orders/", NEW_ORDER, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    order = Order.objects.get(reference="WEB-1")
    assert order.user == customer
    assert order.amount == Decimal("21.99")
    assert body["id"] == str(order.public_id)
    assert response["Location"].endswith(f"/api/orders/{order.public_id}/")
    assert body["amount"] == "21.99"
    assert body["shipping_amount"] == "4.99"
    assert body["tax_amount"] == "0.00"
    assert body["status"] == "new"
    assert body["billing_address"] == NEW_ORDER["billing_address"]
    assert body["shipping_address"] == {}
    assert body["metadata"] == {"cart": 12, "tags": ["gift"]}
    assert [(i["name"], i["quantity"], i["unit_price"], i["total"]) for i in body["items"]] == [
        ("Tea", 2, "3.50", "7.00"),
        ("Cup", 1, "10.00", "10.00"),
    ]
    assert body["invoices"] == []
    assert list(OrderItem.objects.filter(order=order).values_list("name", flat=True)) == [
        "Tea",
        "Cup",
    ]


def test_create_order_with_explicit_amount_in_a_three_decimal_currency(
    api: Any, customer: Any
) -> None:
    response = api(customer).post(
        "/api/orders/", {"reference": "K-1", "amount": "1.234", "currency": "kwd"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "1.234"
    assert response.json()["currency"] == "KWD"
    assert Order.objects.get().amount == Decimal("1.234")


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"amount": "10.005"}, "amount", "amount_precision"),
        ({"amount": "0"}, "amount", "amount_not_positive"),
        ({"amount": 10.5}, "amount", "not_a_string"),
        ({"amount": "1e3"}, "amount", "invalid"),
        ({"amount": "NaN"}, "amount", "invalid"),
        (
            {"amount": "10", "currency": "JPY", "tax_amount": "0.5"},
            "tax_amount",
            "amount_precision",
        ),
        ({"amount": "1", "currency": "XYZ"}, "currency", "currency"),
        ({"amount": "1", "colour": "red"}, "colour", "unknown_field"),
        ({"amount": "1", "reference": ""}, "reference", "blank"),
        ({"amount": "1", "reference": "x" * 101}, "reference", "max_length"),
        ({"amount": "1", "customer_email": "not-an-email"}, "customer_email", "invalid"),
        (
            {"amount": "1", "billing_address": {"planet": "Mars"}},
            "billing_address.planet",
            "unknown_field",
        ),
        ({"amount": "1", "metadata": ["not", "an", "object"]}, "metadata", "not_a_dict"),
        ({"amount": "1", "metadata": {"note": "a\x00b"}}, "metadata", "null"),
        ({"amount": "1", "description": "a\x00b"}, "description", "null_characters_not_allowed"),
        (
            {"items": [{"name": "Tea", "unit_price": "1.001"}]},
            "items.0.unit_price",
            "amount_precision",
        ),
        (
            {"items": [{"name": "Tea", "unit_price": "1", "quantity": 0}]},
            "items.0.quantity",
            "min_value",
        ),
        ({"items": [{"unit_price": "1"}]}, "items.0.name", "required"),
        ({}, "amount", "required"),
    ],
)
def test_create_order_names_each_bad_field(
    api: Any, customer: Any, changes: dict[str, Any], field: str, code: str
) -> None:
    body = {"reference": "BAD-1", "currency": "EUR", **changes}
    response = api(customer).post("/api/orders/", body, format="json")
    assert response.status_code == 400, response.json()
    error = response.json()
    assert error["code"] == "invalid"
    assert field in error["message"]
    assert [e["code"] for e in error["fields"][field]] == [code], error
    assert not Order.objects.exists()


def test_create_order_duplicate_reference_is_a_field_error(api: Any, customer: Any) -> None:
    order_for(customer, reference="DUP-1")
    response = api(customer).post(
        "/api/orders/", {"reference": "DUP-1", "amount": "5.00", "currency": "EUR"}, format="json"
    )
    assert response.status_code == 400
    assert "reference" in response.json()["fields"]
    assert Order.objects.count() == 1


def test_create_order_total_too_large_for_the_column(api: Any, customer: Any) -> None:
    body = {
        "reference": "BIG-1",
        "currency": "EUR",
        "items": [{"name": "Gold", "unit_price": "99999999999999", "quantity": 100000}],
    }
    response = api(customer).post("/api/orders/", body, format="json")
    assert response.status_code == 400
    assert "amount" in response.json()["fields"]
    assert not Order.objects.exists()


def test_create_order_body_must_be_json(api: Any, customer: Any) -> None:
    response = api(customer).post(
        "/api/orders/", "reference=X", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    malformed = api(customer).post("/api/orders/", "{", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "parse_error"
    nested = api(customer).post(
        "/api/orders/", "[" * 100_000 + "]" * 100_000, content_type="application/json"
    )
    assert nested.status_code == 400
    assert nested.json()["code"] == "parse_error"
    listed = api(customer).post("/api/orders/", [1, 2], format="json")
    assert listed.status_code == 400
    assert "non_field_errors" in listed.json()["fields"]


def test_anonymous_cannot_create_or_list(api: Any) -> None:
    created = api(None).post("/api/orders/", NEW_ORDER, format="json")
    listed = api(None).get("/api/orders/")
    assert created.status_code == listed.status_code == 403
    assert listed.json()["code"] == "not_authenticated"
    assert not Order.objects.exists()


# -- list and retrieve -----------------------------------------------------------------------


def test_users_see_only_their_own_orders_and_staff_see_all(
    api: Any, customer: Any, stranger: Any, bare_staff: Any
) -> None:
    mine = order_for(customer)
    theirs = order_for(stranger)
    guest = order_for(None)
    listed = api(customer).get("/api/orders/").json()
    assert [o["id"] for o in listed["results"]] == [str(mine.public_id)]
    assert listed["count"] == 1
    assert api(customer).get(f"/api/orders/{theirs.public_id}/").status_code == 404
    assert api(customer).get(f"/api/orders/{guest.public_id}/").status_code == 404
    missing = api(customer).get(f"/api/orders/{theirs.public_id}/").json()
    assert missing["code"] == "not_found"
    assert api(customer).get(f"/api/orders/{mine.public_id}/").status_code == 200
    everything = api(bare_staff).get("/api/orders/").json()
    assert {o["id"] for o in everything["results"]} == {
        str(o.public_id) for o in (mine, theirs, guest)
    }
    assert api(bare_staff).get(f"/api/orders/{theirs.public_id}/").status_code == 200


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "00000000-0000-0000-0000-000000000000"])
def test_unknown_order_ids_are_404(api: Any, customer: Any, bad_id: str) -> None:
    response = api(customer).get(f"/api/orders/{bad_id}/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_list_filters(api: Any, staff: Any, customer: Any) -> None:
    eur = order_for(customer, reference="F-EUR")
    bdt = order_for(customer, reference="F-BDT", currency="BDT")
    paid = order_for(customer, reference="F-PAID")
    Order.objects.filter(pk=paid.pk).update(status=OrderStatus.PAID)
    old = order_for(customer, reference="F-OLD")
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    client = api(staff)

    def refs(query: str) -> set[str]:
        response = client.get(f"/api/orders/?{query}")
        assert response.status_code == 200, response.json()
        return {o["reference"] for o in response.json()["results"]}

    assert refs("currency=bdt") == {bdt.reference}
    assert refs("status=paid") == {paid.reference}
    assert refs("status=paid&status=new") == {
        eur.reference,
        bdt.reference,
        paid.reference,
        old.reference,
    }
    assert refs("reference=F-EUR") == {eur.reference}
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert refs(f"created_before={since.replace('+', '%2B')}") == {old.reference}
    assert old.reference not in refs(f"created_after={since.replace('+', '%2B')}")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=bogus", "status"),
        ("created_after=yesterday", "created_after"),
        ("created_after=0001-01-01T00:00:00%2B14:00", "created_after"),
        ("reference=a%00b", "reference"),
    ],
)
def test_bad_filters_are_400(api: Any, staff: Any, query: str, field: str) -> None:
    response = api(staff).get(f"/api/orders/?{query}")
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]


def test_ordering_and_pages(api: Any, staff: Any) -> None:
    for amount in ("30.00", "10.00", "20.00"):
        order_for(None, amount=amount)
    client = api(staff)
    amounts = [o["amount"] for o in client.get("/api/orders/?ordering=amount").json()["results"]]
    assert amounts == ["10.00", "20.00", "30.00"]
    first = client.get("/api/orders/?ordering=-amount&page_size=2").json()
    assert first["count"] == 3
    assert [o["amount"] for o in first["results"]] == ["30.00", "20.00"]
    assert first["next"] is not None
    second = client.get("/api/orders/?ordering=-amount&page_size=2&page=2").json()
    assert [o["amount"] for o in second["results"]] == ["10.00"]
    beyond = client.get("/api/orders/?page=9")
    assert beyond.status_code == 404
    assert beyond.json()["code"] == "not_found"


def list_queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_order_list_queries_do_not_grow_with_orders(
    api: Any, staff: Any, django_assert_num_queries: Any
) -> None:
    from django_multipay.testing.factories import InvoiceFactory, OrderItemFactory

    def add_order() -> None:
        order = order_for(None)
        OrderItemFactory(order=order)
        InvoiceFactory(order=order)

    add_order()
    client = api(staff)
    one = list_queries(client, "/api/orders/?page_size=100")
    for _ in range(49):
        add_order()
    with django_assert_num_queries(one):
        response = client.get("/api/orders/?page_size=100")
    assert len(response.json()["results"]) == 50
