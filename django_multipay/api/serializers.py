"""What the API reads and writes: orders, invoices, refunds, notifications, gateways, errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from django_multipay import money
from django_multipay.api.fields import AmountField, MoneyField, validate_for_currency
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.models import Invoice, Notification, Order, OrderItem, Refund
from django_multipay.models.order import ADDRESS_KEYS, validate_metadata
from django_multipay.registry import get_gateway, has_gateway
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus

#: Most line items one order may have.
MAX_ITEMS = 500


class StrictSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Refuses keys it does not know, so a misspelt field is an error rather than lost."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {
                        key: [serializers.ErrorDetail(_("Unknown field."), code="unknown_field")]
                        for key in unknown
                    }
                )
        return super().to_internal_value(data)


class EnumField(serializers.ChoiceField):
    """A choice field whose OpenAPI enum is a component of its own, ``component_name``
    (api/schema.py): drf-spectacular names a shared enum after the field (``ResultEnum``),
    which a shop's field of that name would collide with."""

    def __init__(self, *, component_name: str, **kwargs: Any) -> None:
        self.component_name = component_name
        super().__init__(**kwargs)


# -- errors (for the schema) ----------------------------------------------------------------

# Each serializer's ``Meta.ref_name`` names its OpenAPI component with a ``Multipay`` prefix,
# so the API's schema merges into a shop's own (which may well have an ``Order``).


class ErrorDetailSerializer(serializers.Serializer):  # type: ignore[type-arg]
    code = serializers.CharField(help_text="Machine-readable reason, like `amount_precision`.")
    message = serializers.CharField(help_text="Human-readable explanation.")

    class Meta:
        ref_name = "MultipayErrorDetail"


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """Every error the API answers."""

    code = serializers.CharField(
        help_text="Machine-readable: `invalid`, `not_found`, `permission_denied`, "
        "`order_not_payable`, `invalid_status`, or the gateway's own code…"
    )
    message = serializers.CharField(help_text="Human-readable explanation.")
    fields = serializers.DictField(  # type: ignore[assignment]
        child=ErrorDetailSerializer(many=True),
        required=False,
        help_text="Per-field errors, keyed by the field's path (`items.0.unit_price`).",
    )
    gateway = serializers.CharField(
        required=False, help_text="The gateway alias whose answer caused the error."
    )

    class Meta:
        ref_name = "MultipayError"


# -- gateways -------------------------------------------------------------------------------


class CapabilitiesSerializer(serializers.Serializer):  # type: ignore[type-arg]
    refund = serializers.BooleanField()
    partial_refund = serializers.BooleanField()
    max_refunds = serializers.IntegerField(
        allow_null=True, help_text="Refunds one payment may have (null: no limit)."
    )
    capture = serializers.BooleanField()
    cancel = serializers.BooleanField()
    fetch_status = serializers.BooleanField(help_text="`verify` can read the true status.")

    class Meta:
        ref_name = "MultipayCapabilities"


class GatewaySerializer(serializers.Serializer):  # type: ignore[type-arg]
    alias = serializers.CharField(help_text="What to send as `gateway` when paying.")
    label = serializers.CharField(help_text="The name to show customers.")  # type: ignore[assignment]
    display_name = serializers.CharField()
    currencies = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="ISO 4217 codes (null: any)."
    )
    min_amount = serializers.CharField(allow_null=True)
    max_amount = serializers.CharField(allow_null=True)
    capabilities = CapabilitiesSerializer()

    class Meta:
        ref_name = "MultipayGateway"


# -- orders ---------------------------------------------------------------------------------


class AddressSerializer(StrictSerializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    email = serializers.CharField(
        required=False, allow_blank=True, max_length=254, validators=[EmailValidator()]
    )
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    line1 = serializers.CharField(required=False, allow_blank=True, max_length=200)
    line2 = serializers.CharField(required=False, allow_blank=True, max_length=200)
    city = serializers.CharField(required=False, allow_blank=True, max_length=100)
    state = serializers.CharField(required=False, allow_blank=True, max_length=100)
    postal_code = serializers.CharField(required=False, allow_blank=True, max_length=20)
    country = serializers.CharField(
        required=False, allow_blank=True, max_length=2, help_text="ISO 3166-1 alpha-2."
    )

    class Meta:
        ref_name = "MultipayAddress"

    def to_representation(self, instance: Any) -> Any:
        if not isinstance(instance, Mapping):
            return {}
        return {key: str(instance[key]) for key in ADDRESS_KEYS if key in instance}


class OrderItemInputSerializer(StrictSerializer):
    reference = serializers.CharField(required=False, allow_blank=True, max_length=100)
    name = serializers.CharField(max_length=150)
    description = serializers.CharField(required=False, allow_blank=True, max_length=300)
    quantity = serializers.IntegerField(required=False, default=1, min_value=1, max_value=100_000)
    unit_price = AmountField()
    url = serializers.URLField(required=False, allow_blank=True, max_length=200)
    image_url = serializers.URLField(required=False, allow_blank=True, max_length=200)

    class Meta:
        ref_name = "MultipayOrderItemInput"


class OrderItemSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    unit_price = MoneyField(currency_attr="order.currency")
    total = MoneyField(currency_attr="order.currency")
    url = serializers.CharField(read_only=True, help_text="Empty, or a URL.")
    image_url = serializers.CharField(read_only=True, help_text="Empty, or a URL.")

    class Meta:
        model = OrderItem
        ref_name = "MultipayOrderItem"
        fields = (
            "reference",
            "name",
            "description",
            "quantity",
            "unit_price",
            "total",
            "url",
            "image_url",
        )
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    order = serializers.UUIDField(source="order.public_id", read_only=True)
    status = EnumField(
        choices=InvoiceStatus.choices, read_only=True, component_name="MultipayInvoiceStatusEnum"
    )
    amount = MoneyField()
    captured_amount = MoneyField()
    refunded_amount = MoneyField()
    refundable_amount = MoneyField(help_text="Captured minus refunded.")
    redirect_url = serializers.CharField(
        read_only=True, help_text="Where the customer was sent (empty until the gateway answers)."
    )
    payment_instructions = serializers.SerializerMethodField(
        help_text="What the customer needs to pay another way (for example a Payshop or "
        "Multibanco reference with its entity and deadline), or null."
    )

    class Meta:
        model = Invoice
        ref_name = "MultipayInvoice"
        fields = (
            "id",
            "order",
            "gateway",
            "gateway_id",
            "status",
            "amount",
            "currency",
            "captured_amount",
            "refunded_amount",
            "refundable_amount",
            "redirect_url",
            "payment_instructions",
            "expires_at",
            "hold_expires_at",
            "failure_reason",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    @extend_schema_field(
        {"type": "object", "additionalProperties": {"type": "string"}, "nullable": True}
    )
    def get_payment_instructions(self, invoice: Invoice) -> dict[str, str] | None:
        try:
            return get_gateway(invoice.gateway).payment_instructions(invoice)
        except GatewayConfigurationError:
            return None  # The alias was removed from the settings.


class OrderSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    id = serializers.UUIDField(source="public_id", read_only=True)
    status = EnumField(
        choices=OrderStatus.choices, read_only=True, component_name="MultipayOrderStatusEnum"
    )
    amount = MoneyField()
    tax_amount = MoneyField()
    shipping_amount = MoneyField()
    billing_address = AddressSerializer(read_only=True)
    shipping_address = AddressSerializer(read_only=True)
    metadata = serializers.DictField(read_only=True)
    customer_email = serializers.CharField(read_only=True, help_text="Empty, or an address.")
    items = OrderItemSerializer(many=True, read_only=True)
    invoices = InvoiceSerializer(many=True, read_only=True, help_text="Payment attempts.")

    class Meta:
        model = Order
        ref_name = "MultipayOrder"
        fields = (
            "id",
            "reference",
            "status",
            "amount",
            "currency",
            "tax_amount",
            "shipping_amount",
            "description",
            "customer_name",
            "customer_email",
            "customer_phone",
            "billing_address",
            "shipping_address",
            "success_url",
            "failure_url",
            "metadata",
            "items",
            "invoices",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class OrderCreateSerializer(StrictSerializer):
    """A new order. ``amount`` defaults to the items' total plus tax and shipping."""

    reference = serializers.CharField(max_length=100, help_text="Your own order number; unique.")
    amount = AmountField(required=False)
    currency = serializers.CharField(min_length=3, max_length=3, help_text="ISO 4217 code.")
    tax_amount = AmountField(required=False)
    shipping_amount = AmountField(required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=300)
    customer_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    customer_email = serializers.CharField(
        required=False, allow_blank=True, max_length=254, validators=[EmailValidator()]
    )
    customer_phone = serializers.CharField(required=False, allow_blank=True, max_length=30)
    billing_address = AddressSerializer(required=False)
    shipping_address = AddressSerializer(required=False)
    items = OrderItemInputSerializer(many=True, required=False, max_length=MAX_ITEMS)  # type: ignore[call-arg]
    metadata = serializers.DictField(
        required=False,
        help_text="Any JSON object, up to 16 KiB and 10 levels deep by default "
        "(MULTIPAY MAX_METADATA_BYTES, MAX_METADATA_DEPTH).",
    )
    success_url = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Where the customer lands after paying (a path, or a URL on this site).",
    )
    failure_url = serializers.CharField(required=False, allow_blank=True, max_length=500)

    class Meta:
        ref_name = "MultipayOrderCreate"

    def validate_currency(self, value: str) -> str:
        try:
            return money.normalize_currency(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code="currency") from None

    def validate_metadata(self, value: dict[str, Any]) -> dict[str, Any]:
        # Depth and size (MULTIPAY MAX_METADATA_DEPTH, MAX_METADATA_BYTES), without recursion.
        try:
            validate_metadata(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.error_list[0].code) from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        currency = attrs["currency"]
        if attrs.get("amount") is not None:
            attrs["amount"] = validate_for_currency(attrs["amount"], currency, "amount")
        for name in ("tax_amount", "shipping_amount"):
            if attrs.get(name) is not None:
                attrs[name] = validate_for_currency(attrs[name], currency, name, allow_zero=True)
        errors: dict[str, Any] = {}
        for index, item in enumerate(attrs.get("items", [])):
            try:
                item["unit_price"] = validate_for_currency(
                    item["unit_price"], currency, "unit_price", allow_zero=True
                )
            except serializers.ValidationError as exc:
                errors[f"items.{index}.unit_price"] = exc.detail["unit_price"]  # type: ignore[call-overload]
        if attrs.get("amount") is None and not attrs.get("items"):
            errors["amount"] = [
                serializers.ErrorDetail("Give an amount, or items to add up.", code="required")
            ]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# -- paying ---------------------------------------------------------------------------------


class PayRequestSerializer(StrictSerializer):
    gateway = serializers.CharField(
        required=False,
        max_length=50,
        help_text="A gateway alias from `GET gateways/` (default: the shop's default gateway).",
    )

    options = serializers.JSONField(
        required=False,
        help_text=(
            "Staff only: per-payment gateway options, checked against those the gateway "
            "declares (its page in the documentation lists them)."
        ),
    )

    class Meta:
        ref_name = "MultipayPayRequest"

    def validate_gateway(self, value: str) -> str:
        if not has_gateway(value):
            raise serializers.ValidationError(
                _("Unknown gateway %(alias)r.") % {"alias": value}, code="unknown_gateway"
            )
        return value

    def validate_options(self, value: Any) -> dict[str, Any]:
        """Only staff choose gateway options; a customer sending the field is refused."""
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if not getattr(user, "is_staff", False):
            raise serializers.ValidationError(
                _("Only staff may choose gateway options."), code="staff_only"
            )
        if not isinstance(value, dict):
            raise serializers.ValidationError(_("Expected an object."), code="not_a_dict")
        return value


class PaymentActionSerializer(serializers.Serializer):  # type: ignore[type-arg]
    method = EnumField(choices=["GET", "POST"], component_name="MultipayPaymentActionMethodEnum")
    url = serializers.URLField()
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.CharField(allow_blank=True),
        help_text="Form fields to POST (empty for a GET redirect).",
    )

    class Meta:
        ref_name = "MultipayPaymentAction"


class PaymentSerializer(serializers.Serializer):  # type: ignore[type-arg]
    invoice = InvoiceSerializer()
    action = PaymentActionSerializer(help_text="Where to send the customer now.")

    class Meta:
        ref_name = "MultipayPayment"


class CaptureRequestSerializer(StrictSerializer):
    amount = AmountField(required=False, help_text="Default: the whole invoice.")

    class Meta:
        ref_name = "MultipayCaptureRequest"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        invoice = self.context["invoice"]
        if attrs.get("amount") is not None:
            attrs["amount"] = validate_for_currency(attrs["amount"], invoice.currency, "amount")
        return attrs


# -- refunds --------------------------------------------------------------------------------


class RefundRequestSerializer(StrictSerializer):
    amount = AmountField(required=False, help_text="Default: all that is left to refund.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")

    class Meta:
        ref_name = "MultipayRefundRequest"

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        invoice = self.context["invoice"]
        if attrs.get("amount") is not None:
            attrs["amount"] = validate_for_currency(attrs["amount"], invoice.currency, "amount")
        return attrs


class RefundSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    invoice = serializers.UUIDField(source="invoice_id", read_only=True)
    amount = MoneyField()
    status = EnumField(
        choices=RefundStatus.choices, read_only=True, component_name="MultipayRefundStatusEnum"
    )

    class Meta:
        model = Refund
        ref_name = "MultipayRefund"
        fields = (
            "id",
            "invoice",
            "amount",
            "currency",
            "reason",
            "status",
            "gateway_refund_id",
            "idempotency_key",
            "failure_reason",
            "outcome_unknown",
            "resolved_by",
            "resolved_at",
            "resolution_note",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    outcome_unknown = serializers.BooleanField(
        read_only=True,
        help_text="The gateway never gave a readable answer to this refund's call: "
        "reconciliation or staff settle it.",
    )
    resolved_by = serializers.SerializerMethodField(
        help_text="Who resolved a refund of unknown outcome (their username), if anyone."
    )

    def get_resolved_by(self, refund: Refund) -> str | None:
        user = refund.resolved_by
        return None if user is None else str(user.get_username())


class RefundResolutionSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A staff decision on a refund of unknown outcome."""

    refunded = serializers.BooleanField(
        help_text="True: the gateway did refund this (seen at the gateway); false: it did not, "
        "and the amount is free to refund again."
    )
    reason = serializers.CharField(
        max_length=400,
        trim_whitespace=True,
        help_text="Why: what the gateway's dashboard or support said. Required.",
    )

    class Meta:
        ref_name = "MultipayRefundResolution"


# -- notifications --------------------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    invoice = serializers.UUIDField(source="invoice_id", read_only=True, allow_null=True)
    result = EnumField(
        choices=NotificationResult.choices,
        read_only=True,
        component_name="MultipayNotificationResultEnum",
    )

    class Meta:
        model = Notification
        ref_name = "MultipayNotification"
        fields: tuple[str, ...] = (
            "id",
            "gateway",
            "invoice",
            "method",
            "path",
            "remote_addr",
            "received_at",
            "verified",
            "result",
            "reason",
            "attempts",
            "processed_at",
        )
        read_only_fields = fields


class NotificationDetailSerializer(NotificationSerializer):
    headers = serializers.DictField(read_only=True, help_text="Secrets masked.")

    class Meta(NotificationSerializer.Meta):
        ref_name = "MultipayNotificationDetail"
        fields = (*NotificationSerializer.Meta.fields, "query_string", "headers", "body")
        read_only_fields = fields
