"""PortOne's HMAC signatures: base64 HMAC-SHA256 over sorted, form-encoded parameters."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

#: Payment request (initiatePayment, and payment links): payment-request-signature.md.
PAYMENT_REQUEST_FIELDS = (
    "amount",
    "client_key",
    "currency",
    "failure_url",
    "merchant_order_id",
    "success_url",
)
#: Payment webhook body: payment-webhook-response.md (gateway-notes, PortOne "Signatures").
PAYMENT_WEBHOOK_FIELDS = (
    "amount",
    "channel_key",
    "channel_order_ref",
    "country_code",
    "currency",
    "merchant_order_ref",
    "method_name",
    "order_ref",
    "status",
)
#: Payment-link webhook body.
LINK_WEBHOOK_FIELDS = (
    "amount",
    "country_code",
    "currency",
    "link_ref",
    "merchant_order_ref",
    "status",
)
#: Query string of the customer's redirect back to the shop: redirect-response.md.
REDIRECT_FIELDS = ("channel_order_ref", "merchant_order_ref", "order_ref", "status")
#: ``PUT /api/transaction/status`` (payment-openapi "Update Transaction Status"): its
#: ``signature`` is "the SignatureHash of the payload data", which names no fields; these are
#: the payload's other two, signed as every other PortOne message is (an inference).
TRANSACTION_STATUS_FIELDS = ("merchant_order_ref", "status")


def signature_message(params: Mapping[str, object], fields: Iterable[str]) -> str:
    """The signed text: ``fields`` sorted by name and form-encoded with spaces as ``+``
    (Go ``url.Values.Encode``, PHP ``http_build_query``; not the C# sample's ``%20``).

    A missing field is signed as an empty value, as the vendor's samples do. Amounts must
    already be written without trailing zeros (``money.format_trimmed``)."""
    pairs = [(name, "" if params.get(name) is None else str(params[name])) for name in fields]
    return urlencode(sorted(pairs))


def sign(secret: str, params: Mapping[str, object], fields: Iterable[str]) -> str:
    """``base64(HMAC-SHA256(secret, signature_message(params, fields)))``."""
    message = signature_message(params, fields).encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(
    secret: str, params: Mapping[str, object], fields: Iterable[str], signature: str
) -> bool:
    """True when ``signature`` is the one :func:`sign` makes (compared in constant time)."""
    if not signature:
        return False
    expected = sign(secret, params, fields)
    return hmac.compare_digest(expected.encode("ascii"), str(signature).encode("utf-8"))
