"""API endpoints: gateways, orders (create, list, pay), invoices, refunds and notifications."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_filters.rest_framework import DjangoFilterBackend  # type: ignore[import-untyped]
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet, ViewSet

from django_multipay import logs, payments
from django_multipay.api import permissions
from django_multipay.api.exceptions import Conflict, api_exception_handler
from django_multipay.api.filters import NotificationFilter, OrderFilter
from django_multipay.api.pagination import MultipayPagination
from django_multipay.api.parsers import JSONParser
from django_multipay.api.schema import errors
from django_multipay.api.serializers import (
    CaptureRequestSerializer,
    GatewaySerializer,
    InvoiceSerializer,
    NotificationDetailSerializer,
    NotificationSerializer,
    OrderCreateSerializer,
    OrderSerializer,
    PaymentSerializer,
    PayRequestSerializer,
    RefundRequestSerializer,
    RefundResolutionSerializer,
    RefundSerializer,
)
from django_multipay.api.throttling import PAY_SCOPE, REFUND_SCOPE, MultipayScopedRateThrottle
from django_multipay.conf import allows_test_gateways, multipay_settings
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.models import Invoice, Refund
from django_multipay.registry import gateway_aliases, get_gateway

logger = logs.get_logger("django_multipay.api")

#: What a client may send as ``Idempotency-Key``: the refund row's column holds 100.
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
IDEMPOTENCY_KEY_RULE = gettext_noop("Up to 100 letters, digits or `._:-` (a UUID is ideal).")

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=f"{IDEMPOTENCY_KEY_RULE} Sending the same key again returns the refund it "
    "created (200) instead of refunding twice.",
    pattern=IDEMPOTENCY_KEY.pattern,
)


class MultipayAPIMixin(APIView):
    """What every endpoint shares: JSON bodies, the API's error format and permissions."""

    parser_classes = [JSONParser]
    permission_classes = [IsAuthenticated, permissions.ActionPermissions]
    action_permissions: dict[str, tuple[str, ...]] = {}

    def get_exception_handler(self) -> Any:
        return api_exception_handler


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class MultipayViewSet(MultipayAPIMixin, GenericViewSet):  # type: ignore[type-arg]
    """No request-wide transaction (``ATOMIC_REQUESTS``): a refund row must commit before the
    gateway is called, and row locks must not outlive the processing engine's own blocks."""

    pagination_class = MultipayPagination
    # Any one path segment reaches the view (and gets the API's JSON 404), dots included.
    lookup_value_regex = "[^/]+"
    #: Actions rate-limited under a DRF throttle scope, on top of the shop's own throttles.
    throttle_scopes: dict[str, str] = {}

    def get_throttles(self) -> list[Any]:
        return [*super().get_throttles(), MultipayScopedRateThrottle()]


def _gateway_data(alias: str) -> dict[str, Any] | None:
    try:
        gateway = get_gateway(alias)
    except GatewayConfigurationError as exc:
        # The system checks report it at start-up; the other aliases are still offered.
        logger.error("Gateway alias %r is left out of the API: %s", alias, exc)
        return None
    if gateway.test_only and not allows_test_gateways():
        return None  # paying there would be refused (503): not offered
    caps = gateway.capabilities
    config = multipay_settings.GATEWAYS.get(alias) or {}
    return {
        "alias": alias,
        "label": str(config.get("LABEL") or gateway.display_name),
        "display_name": gateway.display_name,
        "currencies": sorted(caps.currencies) if caps.currencies is not None else None,
        "min_amount": None if caps.min_amount is None else f"{caps.min_amount:f}",
        "max_amount": None if caps.max_amount is None else f"{caps.max_amount:f}",
        "capabilities": {
            "refund": caps.refund,
            "partial_refund": caps.refund and caps.partial_refund,
            "max_refunds": caps.max_refunds,
            "capture": caps.capture,
            "cancel": caps.cancel,
            "fetch_status": caps.fetch_status,
        },
    }


class GatewayViewSet(MultipayAPIMixin, ViewSet):
    """The payment methods a client may offer."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "currency",
                OpenApiTypes.STR,
                description="Only gateways that take this ISO 4217 currency.",
            )
        ],
        responses={200: GatewaySerializer(many=True), **errors()},
    )
    def list(self, request: Request) -> Response:
        """Every configured gateway alias, with what it can do."""
        currency = str(request.query_params.get("currency", "")).upper()
        found = []
        for alias in gateway_aliases():
            data = _gateway_data(alias)
            if data is None:
                continue
            if currency and not get_gateway(alias).accepts_currency(currency):
                continue
            found.append(data)
        return Response(GatewaySerializer(found, many=True).data)


class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, MultipayViewSet):
    """Orders: yours, or every order for staff."""

    serializer_class = OrderSerializer
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    filter_backends = (DjangoFilterBackend, OrderingFilter)
    filterset_class = OrderFilter
    ordering_fields = ("created_at", "updated_at", "amount", "reference", "status")
    ordering = ("-created_at",)
    throttle_scopes = {"pay": PAY_SCOPE}

    def get_queryset(self) -> Any:
        return permissions.visible_orders(self.request.user).prefetch_related("items", "invoices")

    @extend_schema(responses={200: OrderSerializer(many=True), **errors(400, 404)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Your orders (staff: all), newest first; filter and order with the parameters."""
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: OrderSerializer, **errors(404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One order, with its items and payment attempts (invoices)."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=OrderCreateSerializer,
        responses={201: OrderSerializer, **errors(400, 415)},
    )
    def create(self, request: Request) -> Response:
        """Create an order for the authenticated user."""
        given = OrderCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        items = [dict(item) for item in data.pop("items", [])]
        for name in ("billing_address", "shipping_address"):
            if name in data:
                data[name] = dict(data[name])
        try:
            order = payments.create_order(items=items, user=request.user, **data)
        except IntegrityError:
            # Another request took the reference between the check and the insert.
            raise serializers.ValidationError(
                {"reference": [_("An order with this reference already exists.")]}, code="unique"
            ) from None
        order = self.get_queryset().get(pk=order.pk)
        location = self.reverse_action("detail", kwargs={"id": order.public_id})
        return Response(
            OrderSerializer(order, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )

    @extend_schema(
        request=PayRequestSerializer,
        responses={201: PaymentSerializer, **errors(400, 404, 409, 415, 429, 502, 503, 504)},
    )
    @action(detail=True, methods=["post"])
    def pay(self, request: Request, id: str | None = None) -> Response:
        """Start paying the order at a gateway: creates an invoice and says where the
        customer goes next (a GET redirect, or a form to POST)."""
        order = self.get_object()
        given = PayRequestSerializer(data=request.data, context={"request": request})
        given.is_valid(raise_exception=True)
        alias = given.validated_data.get("gateway")
        invoice, started = payments.begin_payment(
            order, alias, request=request._request, options=given.validated_data.get("options")
        )
        return Response(
            {
                "invoice": InvoiceSerializer(invoice).data,
                "action": {
                    "method": started.method.upper(),
                    "url": started.url,
                    "fields": {str(k): str(v) for k, v in started.fields.items()},
                },
            },
            status=status.HTTP_201_CREATED,
        )


class InvoiceViewSet(mixins.RetrieveModelMixin, MultipayViewSet):
    """Payment attempts: read, verify, capture, cancel, refund."""

    serializer_class = InvoiceSerializer
    lookup_url_kwarg = "id"
    action_permissions = {
        "capture": ("django_multipay.change_invoice",),
        "cancel": ("django_multipay.change_invoice",),
        "create_refund": ("django_multipay.add_refund",),
    }
    throttle_scopes = {"create_refund": REFUND_SCOPE}

    def get_queryset(self) -> Any:
        return permissions.visible_invoices(self.request.user)

    def _answer(self, invoice: Invoice) -> Response:
        return Response(InvoiceSerializer(self.get_queryset().get(pk=invoice.pk)).data)

    @extend_schema(responses={200: InvoiceSerializer, **errors(404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One invoice."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=None, responses={200: InvoiceSerializer, **errors(400, 404, 409, 502, 503, 504)}
    )
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, id: str | None = None) -> Response:
        """Read the invoice's true status from the gateway now, and apply it."""
        invoice = self.get_object()
        if not invoice.gateway_id:
            raise Conflict(_("This invoice never reached the gateway."), code="not_started")
        payments.refresh(invoice)
        return self._answer(invoice)

    @extend_schema(
        request=CaptureRequestSerializer,
        responses={200: InvoiceSerializer, **errors(400, 402, 404, 409, 415, 502, 503, 504)},
    )
    @action(detail=True, methods=["post"])
    def capture(self, request: Request, id: str | None = None) -> Response:
        """Capture an authorized invoice (all of it unless ``amount`` says less).
        Needs the ``change_invoice`` permission."""
        invoice = self.get_object()
        given = CaptureRequestSerializer(data=request.data, context={"invoice": invoice})
        given.is_valid(raise_exception=True)
        payments.capture(invoice, given.validated_data.get("amount"))
        return self._answer(invoice)

    @extend_schema(
        request=None, responses={200: InvoiceSerializer, **errors(400, 404, 409, 502, 503, 504)}
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, id: str | None = None) -> Response:
        """Cancel an invoice the customer has not paid. Needs ``change_invoice``."""
        invoice = self.get_object()
        payments.cancel(invoice)
        return self._answer(invoice)

    @extend_schema(responses={200: RefundSerializer(many=True), **errors(400, 404)})
    @action(detail=True, methods=["get"], pagination_class=MultipayPagination)
    def refunds(self, request: Request, id: str | None = None) -> Response:
        """The invoice's refunds, newest first."""
        invoice = self.get_object()
        refunds = Refund.objects.filter(invoice=invoice).select_related("resolved_by")
        page = self.paginate_queryset(refunds)
        return self.get_paginated_response(RefundSerializer(page, many=True).data)

    @extend_schema(
        operation_id="invoices_refunds_create",
        parameters=[IDEMPOTENCY_HEADER],
        request=RefundRequestSerializer,
        responses={
            201: OpenApiResponse(RefundSerializer, description="Refund requested."),
            200: OpenApiResponse(
                RefundSerializer, description="The refund this Idempotency-Key already made."
            ),
            **errors(400, 404, 409, 415, 429, 502, 503, 504),
        },
    )
    @refunds.mapping.post
    def create_refund(self, request: Request, id: str | None = None) -> Response:
        """Refund ``amount`` (default: all that is left). Needs the ``add_refund`` permission.
        Send an ``Idempotency-Key`` header so that a retry cannot refund twice."""
        invoice = self.get_object()
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.match(key):
            raise serializers.ValidationError(
                {"Idempotency-Key": [_(IDEMPOTENCY_KEY_RULE)]},
                code="invalid",
            )
        given = RefundRequestSerializer(data=request.data, context={"invoice": invoice})
        given.is_valid(raise_exception=True)
        amount = given.validated_data.get("amount")
        replay = False
        if key:
            earlier = Refund.objects.filter(idempotency_key=key).first()
            if earlier is not None:
                if earlier.invoice_id != invoice.pk or (
                    amount is not None and amount != earlier.amount
                ):
                    raise Conflict(
                        _("That Idempotency-Key was used for a different refund."),
                        code="idempotency_key_reused",
                    )
                replay = True
        refund = payments.refund(
            invoice,
            amount,
            reason=given.validated_data["reason"],
            user=request.user,
            idempotency_key=key or None,
        )
        return Response(
            RefundSerializer(refund).data,
            status=status.HTTP_200_OK if replay else status.HTTP_201_CREATED,
        )


class RefundViewSet(mixins.RetrieveModelMixin, MultipayViewSet):
    """One refund; staff resolve one of unknown outcome."""

    serializer_class = RefundSerializer
    lookup_url_kwarg = "id"
    action_permissions = {"resolve": ("django_multipay.add_refund",)}

    def get_queryset(self) -> Any:
        return permissions.visible_refunds(self.request.user)

    @extend_schema(responses={200: RefundSerializer, **errors(404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One refund of one of your invoices (staff: any)."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=RefundResolutionSerializer,
        responses={200: RefundSerializer, **errors(400, 403, 404, 409, 415)},
    )
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[
            IsAuthenticated,
            permissions.IsStaffResolver,
            permissions.ActionPermissions,
        ],
    )
    def resolve(self, request: Request, id: str | None = None) -> Response:
        """Staff only, with ``add_refund``: settle a refund whose outcome the gateway cannot
        tell. ``refunded`` false frees its amount; the decision, who and why are recorded.
        A refund already settled answers 409 ``invalid_status``."""
        refund = self.get_object()
        given = RefundResolutionSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        refund = payments.resolve_refund(
            refund,
            refunded=given.validated_data["refunded"],
            user=request.user,
            reason=given.validated_data["reason"],
        )
        return Response(RefundSerializer(refund).data)


class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, MultipayViewSet):
    """The log of gateway callbacks, for staff with the ``view_notification`` permission."""

    serializer_class = NotificationSerializer
    permission_classes = [IsAuthenticated, permissions.IsStaff, permissions.ActionPermissions]
    action_permissions = {"*": ("django_multipay.view_notification",)}
    lookup_url_kwarg = "id"
    filter_backends = (DjangoFilterBackend, OrderingFilter)
    filterset_class = NotificationFilter
    ordering_fields = ("received_at", "processed_at", "attempts")
    ordering = ("-received_at", "-id")

    def get_queryset(self) -> Any:
        return permissions.visible_notifications(self.request.user)

    def get_serializer_class(self) -> Any:
        return NotificationDetailSerializer if self.action == "retrieve" else NotificationSerializer

    @extend_schema(responses={200: NotificationSerializer(many=True), **errors(400, 404)})
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Stored notifications, newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(responses={200: NotificationDetailSerializer, **errors(404)})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One notification, with its stored request (secrets masked)."""
        return super().retrieve(request, *args, **kwargs)
