"""The API's OpenAPI components merged into a shop's own schema: prefixed, so none collide."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

pytest.importorskip("drf_spectacular")

from django.core.management import call_command
from django.urls import include, path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


# A shop's own API, with the names any shop might use.
class AddressSerializer(serializers.Serializer):  # type: ignore[type-arg]
    street = serializers.CharField()


class OrderSerializer(serializers.Serializer):  # type: ignore[type-arg]
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["open", "shipped"])
    method = serializers.ChoiceField(choices=["post", "courier"])
    address = AddressSerializer()


class InvoiceSerializer(serializers.Serializer):  # type: ignore[type-arg]
    number = serializers.IntegerField()
    result = serializers.ChoiceField(choices=["sent", "bounced"])


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    detail = serializers.CharField()


class ShopOrders(APIView):
    @extend_schema(responses={200: OrderSerializer, 400: ErrorSerializer})
    def get(self, request: Request) -> Response:
        return Response({})

    @extend_schema(request=InvoiceSerializer, responses={201: InvoiceSerializer})
    def post(self, request: Request) -> Response:
        return Response({})


urlpatterns = [
    path("shop/orders/", ShopOrders.as_view()),
    path("api/", include("django_multipay.api.urls")),
]


@pytest.fixture(scope="module")
def merged_schema() -> dict[str, Any]:
    from drf_spectacular.management.commands.spectacular import Command

    out = io.StringIO()
    # --fail-on-warn: two components of one name are a warning ("Encountered 2 components
    # with identical names"), and so is an enum name that cannot be told apart.
    call_command(
        Command(),
        "--urlconf",
        __name__,
        "--format",
        "openapi-json",
        "--validate",
        "--fail-on-warn",
        stdout=out,
    )
    return dict(json.loads(out.getvalue()))


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_the_shops_components_and_ours_are_both_there(merged_schema: dict[str, Any]) -> None:
    schema = merged_schema
    components = schema["components"]["schemas"]
    for name in ("Order", "Invoice", "Error", "Address"):
        assert name in components, name
        assert f"Multipay{name}" in components, name
    assert set(components["Order"]["properties"]) == {"number", "status", "method", "address"}
    assert "reference" in components["MultipayOrder"]["properties"]
    billing = components["MultipayOrder"]["properties"]["billing_address"]
    assert billing["allOf"] == [ref("MultipayAddress")]
    assert components["Order"]["properties"]["address"] == ref("Address")
    # Every component of the API is prefixed, its enums and list pages too; the shop's enums
    # keep the plain names drf-spectacular gives them.
    shop = {
        name for name in components if not name.removeprefix("Paginated").startswith("Multipay")
    }
    assert shop == {
        "Order",
        "Invoice",
        "Error",
        "Address",
        "StatusEnum",
        "MethodEnum",
        "ResultEnum",
    }
    assert components["ResultEnum"]["enum"] == ["sent", "bounced"]
    result = components["MultipayNotification"]["properties"]["result"]
    assert result["allOf"] == [ref("MultipayNotificationResultEnum")]
    assert "processed" in components["MultipayNotificationResultEnum"]["enum"]


def test_each_side_refers_to_its_own_components(merged_schema: dict[str, Any]) -> None:
    paths = merged_schema["paths"]
    shop = paths["/shop/orders/"]["get"]["responses"]
    assert shop["200"]["content"]["application/json"]["schema"] == ref("Order")
    assert shop["400"]["content"]["application/json"]["schema"] == ref("Error")
    pay = paths["/api/orders/{id}/pay/"]["post"]["responses"]
    assert pay["201"]["content"]["application/json"]["schema"] == ref("MultipayPayment")
    assert pay["400"]["content"]["application/json"]["schema"] == ref("MultipayError")
    assert pay["429"]["content"]["application/json"]["schema"] == ref("MultipayError")
