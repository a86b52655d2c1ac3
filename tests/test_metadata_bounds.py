"""An order's metadata is bounded in depth and size, checked without recursion: a 400 naming
the reason, never a ``RecursionError`` (a 500, and a worker busy rendering it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import override_settings

from django_multipay import payments
from django_multipay.exceptions import InvalidRequest
from django_multipay.models import Order
from django_multipay.models.order import validate_metadata

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def api_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.api.urls"


@pytest.fixture
def client(django_user_model: Any) -> Any:
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(django_user_model.objects.create_user("buyer", password="pw"))
    return api


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def nested_body(levels: int) -> bytes:
    """The order with its metadata nested ``levels`` deep, as raw JSON text."""
    metadata = '{"a": ' * (levels - 1) + "{}" + "}" * (levels - 1)
    return (
        '{"reference": "DEEP-1", "amount": "5.00", "currency": "EUR", "metadata": ' + metadata + "}"
    ).encode()


def post(client: Any, body: bytes) -> Any:
    return client.generic("POST", "/api/orders/", body, content_type="application/json")


def test_metadata_nested_400_levels_is_a_400_naming_the_depth(client: Any) -> None:
    body = nested_body(400)
    assert 2_800 < len(body) < 3_000  # the 2.9 KB request that crashed the validation

    response = post(client, body)

    assert response.status_code == 400, response.content[:300]
    error = response.json()
    assert error["code"] == "invalid"
    assert [e["code"] for e in error["fields"]["metadata"]] == ["too_deep"]
    assert "10 levels" in error["fields"]["metadata"][0]["message"]
    assert not Order.objects.exists()


def test_metadata_at_the_depth_limit_is_accepted(client: Any) -> None:
    response = post(client, nested_body(10))

    assert response.status_code == 201, response.content
    assert Order.objects.get().metadata == nested(10)


def test_lists_count_as_levels(client: Any) -> None:
    metadata = {"a": [[[[[[[[[[1]]]]]]]]]]}  # 11 levels: the object and ten lists
    body = {"reference": "L-1", "amount": "5.00", "currency": "EUR", "metadata": metadata}
    response = client.post("/api/orders/", body, format="json")

    assert response.status_code == 400
    assert response.json()["fields"]["metadata"][0]["code"] == "too_deep"


def test_oversized_metadata_is_a_400_naming_the_size(client: Any) -> None:
    metadata = {"note": "é" * 9_000}  # 9,000 characters, 18,000 bytes of UTF-8
    body = {"reference": "BIG-1", "amount": "5.00", "currency": "EUR", "metadata": metadata}
    response = client.post("/api/orders/", body, format="json")

    assert response.status_code == 400
    fields = response.json()["fields"]["metadata"]
    assert [e["code"] for e in fields] == ["too_large"]
    assert "16384 bytes" in fields[0]["message"]


def test_many_small_values_are_refused_before_they_are_all_walked() -> None:
    wide = {"items": [0] * 200_000}  # more values than the size limit has bytes

    with pytest.raises(ValidationError) as caught:
        validate_metadata(wide)

    assert caught.value.code == "too_large"


@override_settings(
    MULTIPAY={**settings.MULTIPAY, "MAX_METADATA_DEPTH": 3, "MAX_METADATA_BYTES": 64}
)
def test_the_limits_are_settings(client: Any) -> None:
    assert post(client, nested_body(3)).status_code == 201
    deep = post(client, nested_body(4).replace(b"DEEP-1", b"DEEP-2"))
    assert deep.json()["fields"]["metadata"][0]["code"] == "too_deep"
    body = {"reference": "S-1", "amount": "5.00", "currency": "EUR", "metadata": {"x": "y" * 80}}
    large = client.post("/api/orders/", body, format="json")
    assert large.json()["fields"]["metadata"][0]["code"] == "too_large"


def test_python_api_refuses_deep_metadata_without_recursing() -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.create_order(
            reference="PY-1", amount="5.00", currency="EUR", metadata=nested(5_000)
        )

    assert "metadata" in caught.value.fields
    assert "deeper" in caught.value.fields["metadata"]
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({"n": float("inf")}, "invalid"),
        ({"n": float("nan")}, "invalid"),
        ({"a\x00": 1}, "null"),
        ({"a": ["x\x00"]}, "null"),
        ({"d": object()}, "invalid"),
    ],
)
def test_metadata_a_database_cannot_store_is_refused(metadata: Any, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_metadata(metadata)
    assert caught.value.code == code


def test_a_number_too_large_for_a_float_in_the_body_is_refused(client: Any) -> None:
    body = b'{"reference": "F-1", "amount": "5.00", "currency": "EUR", "metadata": {"n": 1e309}}'

    response = post(client, body)

    assert response.status_code == 400
    assert "metadata" in response.json()["fields"]
    assert not Order.objects.exists()


def test_ordinary_metadata_round_trips(client: Any) -> None:
    metadata = {"cart": 12, "tags": ["gift", {"wrap": True}], "note": "ü"}
    body = {"reference": "OK-1", "amount": "5.00", "currency": "EUR", "metadata": metadata}
    response = client.post("/api/orders/", body, format="json")

    assert response.status_code == 201
    assert json.loads(json.dumps(Order.objects.get().metadata)) == metadata
