"""Every API error as JSON with a machine ``code`` and a human ``message``; never a 500."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from django_multipay import logs
from django_multipay.exceptions import (
    AmountMismatch,
    GatewayConfigurationError,
    InvalidRequest,
    MultipayError,
)

logger = logs.get_logger("django_multipay.api")

#: Error codes that mean "not in this state": answered 409 Conflict whatever the class says.
CONFLICT_CODES = frozenset(
    {
        "order_not_payable",
        "invalid_status",
        "invalid_transition",
        "idempotency_key_reused",
        "refund_outcome_unknown",
        "not_started",
    }
)


class Conflict(exceptions.APIException):
    """The object is not in a state that allows the operation."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = gettext_lazy("The object is not in a state that allows this.")
    default_code = "conflict"


def _field_path(name: str) -> str:
    """``items[2].unit_price`` (the Python API's spelling) → ``items.2.unit_price``."""
    return re.sub(r"\[(\d+)\]", r".\1", name)


def _is_leaf(detail: Any) -> bool:
    return isinstance(detail, dict) and set(detail) == {"message", "code"}


def flatten_errors(detail: Any) -> dict[str, list[dict[str, str]]]:
    """DRF's nested full details as ``{"items.0.unit_price": [{"code", "message"}]}``."""
    flat: dict[str, list[dict[str, str]]] = {}

    def walk(node: Any, path: str) -> None:
        if _is_leaf(node):
            flat.setdefault(path or api_settings.NON_FIELD_ERRORS_KEY, []).append(
                {"code": str(node["code"]), "message": str(node["message"])}
            )
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, path if _is_leaf(value) else f"{path}.{index}" if path else str(index))

    walk(detail, "")
    return flat


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **{k: v for k, v in extra.items() if v}}


def multipay_status(exc: MultipayError) -> int:
    """The HTTP status for one of the project's errors, as the API answers it."""
    if exc.code in CONFLICT_CODES:
        return status.HTTP_409_CONFLICT
    if isinstance(exc, AmountMismatch):
        # Over the API, the gateway's figures disagreeing with ours is a bad gateway answer.
        return status.HTTP_502_BAD_GATEWAY
    return int(exc.status_code)


def multipay_error_response(exc: MultipayError) -> Response:
    fields = None
    if isinstance(exc, InvalidRequest) and exc.fields:
        fields = {
            _field_path(name): [{"code": "invalid", "message": message}]
            for name, message in exc.fields.items()
        }
    code = "invalid" if fields else exc.code
    return Response(
        error_body(code, exc.message or str(exc), fields=fields, gateway=exc.gateway),
        status=multipay_status(exc),
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler of the multipay API views (the shop's own handler is not used)."""
    if isinstance(exc, GatewayConfigurationError):
        # Before the root's clause, which it is under: a payment made through an alias that is
        # no longer configured. The operator must fix the settings (logged, never shown); the
        # client gets a clear answer rather than a 500.
        logger.error("Gateway configuration error in the API: %s", exc, exc_info=exc)
        return Response(
            error_body("gateway_not_configured", _("This payment method is not available.")),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, MultipayError):
        return multipay_error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = f"{int(exc.wait)}"  # type: ignore[attr-defined]
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.get_full_details())
        summary = "; ".join(
            f"{name}: {errors[0]['message']}" for name, errors in sorted(fields.items())
        )
        body = error_body(
            "invalid", (_("Invalid input. %(errors)s") % {"errors": summary}).strip(), fields=fields
        )
    else:
        details = exc.get_full_details()
        if isinstance(details, dict) and "code" in details:
            body = error_body(str(details["code"]), str(details["message"]))
        else:
            body = error_body(exc.default_code, str(exc.default_detail))
    return Response(body, status=exc.status_code, headers=headers)
