"""The OpenAPI schema, and the error format every endpoint shares."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

pytest.importorskip("rest_framework")
pytest.importorskip("drf_spectacular")

from django.core.management import call_command
from django.test import override_settings
from rest_framework import serializers

from django_multipay.api.exceptions import flatten_errors

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("get", "/api/gateways/"),
    ("get", "/api/orders/"),
    ("post", "/api/orders/"),
    ("get", "/api/orders/{id}/"),
    ("post", "/api/orders/{id}/pay/"),
    ("get", "/api/invoices/{id}/"),
    ("post", "/api/invoices/{id}/verify/"),
    ("post", "/api/invoices/{id}/capture/"),
    ("post", "/api/invoices/{id}/cancel/"),
    ("get", "/api/invoices/{id}/refunds/"),
    ("post", "/api/invoices/{id}/refunds/"),
    ("get", "/api/refunds/{id}/"),
    ("post", "/api/refunds/{id}/resolve/"),
    ("get", "/api/notifications/"),
    ("get", "/api/notifications/{id}/"),
}


@pytest.fixture
def schema() -> dict[str, Any]:
    from drf_spectacular.management.commands.spectacular import Command

    out = io.StringIO()
    call_command(
        Command(),
        "--urlconf",
        "tests.api.urls",
        "--format",
        "openapi-json",
        "--validate",
        "--fail-on-warn",
        stdout=out,
    )
    return dict(json.loads(out.getvalue()))


def test_schema_is_valid_and_covers_every_endpoint(schema: dict[str, Any]) -> None:
    found = {
        (method, path)
        for path, operations in schema["paths"].items()
        if path.startswith("/api/") and path != "/api/schema/"
        for method in operations
    }
    assert found == OPERATIONS


def test_every_operation_documents_its_errors(schema: dict[str, Any]) -> None:
    for path, operations in schema["paths"].items():
        if path == "/api/schema/":
            continue
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403"} <= codes, (method, path)
            if "{id}" in path:
                assert "404" in codes, (method, path)
            if method == "post" and operation.get("requestBody"):
                assert {"400", "415"} <= codes, (method, path)
            for code in codes - {"200", "201"}:
                ref = operation["responses"][code]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/MultipayError"}, (method, path, code)


def test_schema_names_ids_and_amounts(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    assert components["MultipayOrder"]["properties"]["id"]["format"] == "uuid"
    assert components["MultipayInvoice"]["properties"]["id"]["format"] == "uuid"
    assert components["MultipayRefund"]["properties"]["id"]["format"] == "uuid"
    amount = components["MultipayOrderCreate"]["properties"]["amount"]
    assert amount["type"] == "string"
    assert amount["pattern"].startswith("^[0-9]")
    refund = schema["paths"]["/api/invoices/{id}/refunds/"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in refund["parameters"]]
    assert set(refund["responses"]) >= {"200", "201", "409"}


def test_schema_endpoint_serves_it(api: Any, customer: Any) -> None:
    response = api(customer).get("/api/schema/?format=json")
    assert response.status_code == 200
    assert "/api/orders/{id}/pay/" in response.json()["paths"]


def test_unauthenticated_with_basic_auth_first_is_401(api: Any, monkeypatch: Any) -> None:
    from rest_framework.authentication import BasicAuthentication, SessionAuthentication

    from django_multipay.api.views import OrderViewSet

    monkeypatch.setattr(
        OrderViewSet, "authentication_classes", [BasicAuthentication, SessionAuthentication]
    )
    response = api(None).get("/api/orders/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")
    assert response.json()["code"] == "not_authenticated"


def test_session_authentication_needs_csrf_for_writes(customer: Any) -> None:
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(customer)
    assert client.get("/api/orders/").status_code == 200
    refused = client.post(
        "/api/orders/", {"reference": "C-1", "amount": "1.00", "currency": "EUR"}, format="json"
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert "CSRF" in refused.json()["message"]


def test_method_not_allowed_is_405_json(api: Any, customer: Any) -> None:
    response = api(customer).delete("/api/orders/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_the_shops_own_exception_handler_is_not_used(api: Any, customer: Any) -> None:
    with override_settings(
        REST_FRAMEWORK={
            "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
            "EXCEPTION_HANDLER": "tests.api.test_schema_and_errors.no_handler",
        }
    ):
        response = api(customer).get("/api/orders/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def no_handler(exc: Exception, context: Any) -> None:
    raise AssertionError("the API answers its own errors")


def test_flatten_errors_names_nested_fields() -> None:
    error = serializers.ValidationError(
        {
            "items": [{}, {"unit_price": ["Bad."]}],
            "billing_address": {"planet": ["Unknown."]},
            "non_field_errors": ["Whole thing."],
        }
    )
    assert flatten_errors(error.get_full_details()) == {
        "items.1.unit_price": [{"code": "invalid", "message": "Bad."}],
        "billing_address.planet": [{"code": "invalid", "message": "Unknown."}],
        "non_field_errors": [{"code": "invalid", "message": "Whole thing."}],
    }
    listed = serializers.ValidationError(["Top."]).get_full_details()
    assert flatten_errors(listed) == {"non_field_errors": [{"code": "invalid", "message": "Top."}]}


def test_views_run_outside_request_transactions() -> None:
    from django.urls import resolve

    for path in ("/api/orders/", "/api/invoices/00000000-0000-0000-0000-000000000000/refunds/"):
        assert "default" in resolve(path).func._non_atomic_requests
