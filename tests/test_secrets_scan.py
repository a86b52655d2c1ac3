"""Known credentials, every flow driven: none appears in logs, errors, admin, API or rows."""

from __future__ import annotations

import copy
import importlib.util
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.core import serializers
from django.test import Client, override_settings
from django.urls import reverse

from django_multipay import payments
from django_multipay.models import Invoice, Notification, Order, OrderItem, Refund
from django_multipay.registry import backend_class, get_gateway
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import InvoiceFactory, OrderFactory
from tests.test_attacks import ALIASES, forge, genuine, kind, post, settle_paid


def secret_value(alias: str, name: str) -> str:
    """A distinctive value for one credential, long enough for any backend's checks."""
    return f"LK{alias.replace('-', '')}{name.replace('_', '')}".ljust(32, "Q")[:32]


def with_known_secrets() -> tuple[dict[str, Any], dict[str, str]]:
    """``MULTIPAY`` with every alias's secret options set to known values, and those values."""
    config = copy.deepcopy(settings.MULTIPAY)
    known: dict[str, str] = {}
    for alias, gateway in config["GATEWAYS"].items():
        for name in backend_class(gateway["BACKEND"]).secret_options:
            if name in gateway["OPTIONS"]:
                value = secret_value(alias, name)
                gateway["OPTIONS"][name] = value
                known[f"{alias}.{name}"] = value
    return config, known


def errors_of(call: Any) -> list[str]:
    """Run ``call``; the text of whatever it raised (message, repr, arguments, answer)."""
    try:
        call()
    except Exception as exc:
        return [str(exc), repr(exc), repr(exc.args), repr(getattr(exc, "response", None))]
    return []


def drive(alias: str, router: Any) -> list[str]:
    """Start, notify (genuine and forged), pay, refund and provoke a gateway error at
    ``alias``; the text of every error raised on the way."""
    spec = kind(alias)
    errors: list[str] = []
    order = OrderFactory(amount=spec.amount, currency=spec.currency)
    payments.start_payment(order, alias)
    invoice = Invoice.objects.get(order=order)
    if alias == "portone-link":
        page = urlsplit(invoice.redirect_url)
        router.client.post(f"{page.path}?{page.query}", {"outcome": "pending"})
    post(alias, *genuine(alias, invoice))
    post(alias, *forge(alias, *genuine(alias, invoice)))
    settle_paid(alias, invoice)
    # The customer comes back: the return view reads the status server-to-server.
    Client().get(reverse("django_multipay:return", kwargs={"invoice_id": invoice.pk}))
    invoice.refresh_from_db()
    if invoice.status == InvoiceStatus.AUTHORIZED:
        errors += errors_of(lambda: payments.capture(invoice))
        invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID, invoice.status
    errors += errors_of(lambda: payments.refund(invoice, spec.amount / 2))
    errors += errors_of(lambda: payments.refund(invoice))
    post(alias, *genuine(alias, invoice))
    # An error answer from the gateway: a payment it does not know.
    unknown = InvoiceFactory(
        gateway=alias,
        gateway_id="nonexistent-payment-0001",
        order=OrderFactory(amount=spec.amount, currency=spec.currency),
    )
    failed = errors_of(lambda: payments.refresh(unknown))
    assert failed, "the gateway accepted a payment it does not know"
    errors += failed
    return errors


def admin_pages(admin_client: Any) -> list[str]:
    pages = []
    for model in (Order, OrderItem, Invoice, Refund, Notification):
        if model not in admin.site._registry:
            continue
        info = model._meta.app_label, model._meta.model_name
        response = admin_client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert response.status_code == 200
        pages.append(response.content.decode())
        for pk in model.objects.values_list("pk", flat=True):
            response = admin_client.get(reverse("admin:{}_{}_change".format(*info), args=[pk]))
            assert response.status_code == 200
            pages.append(response.content.decode())
    return pages


def api_pages(admin_user: Any) -> list[str]:
    pytest.importorskip("rest_framework")
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(admin_user)
    pages = []

    def read(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.content)
        pages.append(response.content.decode())

    # Every read the API has: lists where it has them, and each row's own page.
    for listing in ("/api/gateways/", "/api/orders/", "/api/notifications/"):
        read(listing)
    for pk in Order.objects.values_list("public_id", flat=True):
        read(f"/api/orders/{pk}/")
    for pk in Invoice.objects.values_list("pk", flat=True):
        read(f"/api/invoices/{pk}/")
        read(f"/api/invoices/{pk}/refunds/")
    for pk in Refund.objects.values_list("pk", flat=True):
        read(f"/api/refunds/{pk}/")
    for pk in Notification.objects.values_list("pk", flat=True):
        read(f"/api/notifications/{pk}/")
    return pages


def stored_rows() -> str:
    """Every stored row (notification headers and bodies, gateway answers...) as text."""
    models = (Order, OrderItem, Invoice, Refund, Notification)
    return "".join(serializers.serialize("json", m.objects.all()) for m in models)


@pytest.mark.parametrize("alias", ALIASES)
def test_no_secret_leaks(
    alias: str, router: Any, caplog: Any, admin_client: Any, admin_user: Any, settings: Any
) -> None:
    # The suite's URLs plus the REST API (tests.api.urls includes tests.urls), when installed.
    with_api = importlib.util.find_spec("rest_framework") is not None
    if with_api:
        settings.ROOT_URLCONF = "tests.api.urls"
    config, known = with_known_secrets()
    caplog.set_level(logging.DEBUG)
    with override_settings(MULTIPAY=config):
        gateway = get_gateway(alias)
        for name in gateway.secret_options:
            assert gateway.options[name] == known[f"{alias}.{name}"]
        errors = drive(alias, router)
        outputs = {
            "logs": caplog.text
            + "".join(f"{r.getMessage()} {r.args!r} {r.__dict__!r}" for r in caplog.records),
            "errors": "\n".join(errors),
            "admin": "\n".join(admin_pages(admin_client)),
            "api": "\n".join(api_pages(admin_user)) if with_api else "",
            "rows": stored_rows(),
        }
    assert Notification.objects.filter(gateway=alias).exists()
    assert Refund.objects.filter(invoice__gateway=alias).exists()
    for where, text in outputs.items():
        for name, value in known.items():
            assert value not in text, f"{name} appears in the {where}"
    # The scan saw real traffic: the flows logged their HTTP calls.
    assert "http://testserver/sandbox/" in outputs["logs"]


def test_secret_values_are_distinct() -> None:
    _config, known = with_known_secrets()
    assert len(set(known.values())) == len(known)
    assert {name.split(".")[0] for name in known} == set(ALIASES)
