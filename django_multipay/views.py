"""Pay, return and notify views: the customer-facing and gateway-facing URLs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from django_multipay import logs, notifications, payments
from django_multipay.conf import allows_test_gateways, multipay_settings
from django_multipay.exceptions import (
    GatewayConfigurationError,
    GatewayError,
    InvalidRequest,
    MultipayError,
)
from django_multipay.gateways.results import InboundRequest, PaymentAction
from django_multipay.models import Invoice, Order
from django_multipay.registry import gateway_aliases, get_gateway
from django_multipay.status import CAPTURED, OPEN, InvoiceStatus

logger = logs.get_logger("django_multipay.views")


def send_customer(request: HttpRequest, action: PaymentAction) -> HttpResponse:
    """A 302 to the gateway, or a page that auto-submits a POST form to it."""
    if action.is_redirect:
        return HttpResponseRedirect(action.url)
    return render(
        request,
        "django_multipay/redirect_form.html",
        {"action": action, "fields": dict(action.fields)},
    )


@require_http_methods(["GET", "POST"])
def pay(request: HttpRequest, order_id: UUID, alias: str | None = None) -> HttpResponse:
    """GET: choose a payment method. POST (or GET with an alias): start paying at that alias."""
    order = get_object_or_404(Order, public_id=order_id)
    alias = alias or request.POST.get("gateway") or None
    if alias is None:
        return pay_page(request, order)
    if request.method != "POST":
        # Starting a payment creates an invoice: only on POST (GET pages may be prefetched).
        return pay_page(request, order, chosen=alias)
    try:
        action = payments.start_payment(order, alias, request=request)
    except InvalidRequest as exc:
        return pay_page(request, order, status=400, error=exc.message, chosen=alias)
    except GatewayError as exc:
        logger.warning("Starting payment for %s at %s failed: %s", order.reference, alias, exc)
        return pay_page(
            request,
            order,
            status=502,
            chosen=alias,
            error=_("The payment service is not available right now. Please try again."),
        )
    except GatewayConfigurationError as exc:
        # The operator's mistake (a test-only gateway outside DEBUG, an alias gone): logged
        # loudly for them, a plain "not available" for the customer, never a 500.
        logger.error("Payment for %s at %s refused: %s", order.reference, alias, exc)
        return pay_page(
            request,
            order,
            status=503,
            chosen=alias,
            error=_("This payment method is not available."),
        )
    return send_customer(request, action)


def pay_page(
    request: HttpRequest, order: Order, *, status: int = 200, **extra: Any
) -> HttpResponse:
    """Render ``django_multipay/pay.html`` for ``order`` (docs/customising.md lists the
    context); ``extra`` adds ``error`` and ``chosen``."""
    order.refresh_from_db()  # a failed attempt may just have changed its status
    payable = order.status not in payments.NOT_PAYABLE
    order_url = _order_page(request, order)
    context = {
        "order": order,
        "items": list(order.items.all()),
        "aliases": _aliases_for(order) if payable else [],
        "payable": payable,
        "status_label": order.get_status_display(),
        "order_url": order_url,
        "back_url": order_url or "/",
        "chosen": None,
        "error": None,
        **extra,
    }
    return render(request, "django_multipay/pay.html", context, status=status)


def _order_page(request: HttpRequest, order: Order) -> str | None:
    """The shop's page for this order: ``ORDER_URL``; for an order that can no longer be
    paid, otherwise where a successful payment lands (``success_url``, ``SUCCESS_URL``)."""
    template = multipay_settings.ORDER_URL
    if template:
        url = str(template).replace("{reference}", order.reference)
        url = url.replace("{order}", str(order.public_id))
    elif order.status in payments.NOT_PAYABLE:
        url = _destination(order, True)
    else:
        return None
    # An order's own success_url comes from whoever created it: never a link off this site.
    return url if url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}) else "/"


def _aliases_for(order: Order) -> list[dict[str, Any]]:
    result = []
    for alias in gateway_aliases():
        gateway = get_gateway(alias)
        if gateway.test_only and not allows_test_gateways():
            continue  # it would be refused: not offered
        if gateway.accepts_currency(order.currency):
            config = multipay_settings.GATEWAYS[alias]
            label = config.get("LABEL") or gateway.display_name
            result.append({"alias": alias, "label": label, "name": gateway.display_name})
    return result


def _destination(order: Order, success: bool) -> str:
    url = (order.success_url if success else order.failure_url) or (
        multipay_settings.SUCCESS_URL if success else multipay_settings.FAILURE_URL
    )
    return str(url).replace("{reference}", order.reference).replace("{order}", str(order.public_id))


@require_http_methods(["GET", "POST"])
@csrf_exempt  # Some gateways POST the customer back (form posts cross-site).
@transaction.non_atomic_requests
def return_view(request: HttpRequest, invoice_id: UUID) -> HttpResponseBase:
    """The customer is back: verify with the gateway, then send them to success or failure."""
    invoice = get_object_or_404(Invoice.objects.select_related("order"), pk=invoice_id)
    if invoice.status in OPEN:
        # Only an open invoice can still change; a settled one needs no gateway call.
        try:
            gateway = get_gateway(invoice.gateway)
            result = gateway.verify_return(invoice, InboundRequest.from_django(request))
            payments.apply_verified(invoice, result)
        except MultipayError as exc:
            # The customer still needs a page; the notification or reconciliation settles it.
            logger.warning("Verifying invoice %s on return failed: %s", invoice.pk, exc)
        invoice.refresh_from_db()
    success = invoice.status in CAPTURED or invoice.status == InvoiceStatus.AUTHORIZED
    if invoice.status in (InvoiceStatus.PENDING, InvoiceStatus.CREATED):
        messages.info(request, _("Your payment is being confirmed."), fail_silently=True)
        success = True
    destination = _destination(invoice.order, success)
    if not url_has_allowed_host_and_scheme(destination, allowed_hosts={request.get_host()}):
        destination = "/"
    return HttpResponseRedirect(destination)


@csrf_exempt  # Gateways cannot send our CSRF token; notifications are authenticated instead.
@require_http_methods(["GET", "POST"])
@transaction.non_atomic_requests  # The raw notification must commit before processing starts.
def notify(request: HttpRequest, alias: str) -> HttpResponse:
    """Gateway callback: stored raw, authenticated, verified, applied; answered as expected."""
    return notifications.handle(alias, request, enqueue=_deferred_processing())


def _deferred_processing() -> Callable[[int], object] | None:
    """Under ``DEFER_NOTIFICATIONS``, what queues the task that finishes a stored notification."""
    if not multipay_settings.DEFER_NOTIFICATIONS:
        return None
    from django_multipay.tasks import process_notification  # the tasks backend is optional

    return process_notification.enqueue
