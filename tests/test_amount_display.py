"""Amounts as people read them: each with its currency's decimals (titles, breadcrumbs,
inlines, the models' names), and the refund form reading amounts as the staff's language
writes them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from django_multipay.admin.forms import RefundForm, parse_amount, refund_state
from django_multipay.models import Refund
from django_multipay.status import RefundStatus
from django_multipay.testing.factories import (
    InvoiceFactory,
    OrderFactory,
    OrderItemFactory,
    RefundFactory,
)


def change(model: str, pk: Any) -> str:
    return reverse(f"admin:django_multipay_{model}_change", args=[pk])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("6800", "BDT", "6800.00 BDT"),
        ("500", "JPY", "500 JPY"),
        ("1.25", "KWD", "1.250 KWD"),
    ],
)
def test_model_names_use_the_currency_exponent(amount: str, currency: str, shown: str) -> None:
    order = OrderFactory(reference="SO-1", amount=Decimal(amount), currency=currency)
    invoice = InvoiceFactory(order=order, gateway_id="pay_1", paid=True)
    refund = RefundFactory(invoice=invoice, status=RefundStatus.SUCCEEDED)
    for obj in (order, invoice, refund):
        obj.refresh_from_db()  # as stored: four decimals in the database

    assert str(order) == f"SO-1 ({shown})"
    assert str(invoice) == f"dummy:pay_1 ({shown})"
    assert str(refund) == f"Refund {shown} (succeeded)"


def test_a_name_never_fails_on_an_unsaved_bad_amount() -> None:
    assert str(OrderFactory.build(reference="X", amount="abc", currency="EUR")) == "X (abc EUR)"
    assert str(OrderFactory.build(reference="X", amount=1, currency="ZZZ")) == "X (1 ZZZ)"


@pytest.mark.django_db
def test_admin_titles_breadcrumbs_and_inlines_show_the_currency_decimals(
    admin_client: Client,
) -> None:
    order = OrderFactory(reference="SO-BDT", amount=Decimal("6800"), currency="BDT")
    OrderItemFactory(order=order, quantity=2, unit_price=Decimal("3400"))
    invoice = InvoiceFactory(order=order, paid=True)
    refund = RefundFactory(invoice=invoice, amount=Decimal("4800"), status="succeeded")

    pages = {
        "order": admin_client.get(change("order", order.pk)).content.decode(),
        "invoice": admin_client.get(change("invoice", invoice.pk)).content.decode(),
        "refund": admin_client.get(change("refund", refund.pk)).content.decode(),
    }

    for name, page in pages.items():
        assert ".0000" not in page, name
    assert "SO-BDT (6800.00 BDT)" in pages["order"]  # title and breadcrumb
    assert "BDT\xa03,400.00" in pages["order"]  # the item's unit price, read-only once paid
    assert "Refund 4800.00 BDT (succeeded)" in pages["refund"]
    assert "Refund 4800.00 BDT (succeeded)" in pages["invoice"]  # the refunds inline


@pytest.mark.django_db
def test_an_editable_order_shows_its_amounts_with_the_currency_decimals(
    admin_client: Client,
) -> None:
    order = OrderFactory(amount=Decimal("5000"), currency="JPY")
    OrderItemFactory(order=order, unit_price=Decimal("5000"))
    page = admin_client.get(change("order", order.pk))
    form = page.context["adminform"].form
    assert form["amount"].value() == "5000"
    [items] = [
        i.formset for i in page.context["inline_admin_formsets"] if i.formset.prefix == "items"
    ]
    assert items.forms[0]["unit_price"].value() == "5000"


# -- the refund form -------------------------------------------------------------------------


def refund_form(amount: str, invoice: Any) -> RefundForm:
    return RefundForm(
        {"amount": amount, "reason": "r", "idempotency_key": "admin-x"},
        state=refund_state(invoice),
    )


@pytest.mark.django_db
def test_refund_form_reads_grouped_thousands_in_english() -> None:
    invoice = InvoiceFactory(order=OrderFactory(amount=Decimal("6800"), currency="BDT"), paid=True)
    with translation.override("en"):
        form = refund_form("2,000.00", invoice)
        assert form.is_valid(), form.errors
    assert form.cleaned_data["amount"] == Decimal("2000.00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "typed", "read"),
    [
        ("en", "2000.00", "2000.00"),
        ("en", "2,000", "2000"),
        ("de", "2.000,00", "2000.00"),
        ("de", "2000,5", "2000.5"),
        ("de", "2000.50", "2000.50"),  # as the machine writes it: not German, not ambiguous
        ("fr", "2 000,00", "2000.00"),
        ("fr", "2\u202f000,00", "2000.00"),
        # The languages django-multipay ships.
        ("bn", "6,800.00", "6800.00"),
        ("ar", "6,800.00", "6800.00"),
        ("es", "6.800,00", "6800.00"),
        ("es", "6800,5", "6800.5"),
        ("pt", "6 800,00", "6800.00"),  # Portugal groups with a space, as the page writes it
        ("pt", "6800,50", "6800.50"),
    ],
)
def test_refund_amounts_in_the_formats_of_the_active_language(
    language: str, typed: str, read: str
) -> None:
    with translation.override(language):
        assert parse_amount(typed, "BDT") == Decimal(read)


@pytest.mark.django_db
def test_refund_form_refuses_an_ambiguous_amount_and_says_what_it_accepts(
    admin_client: Client,
) -> None:
    invoice = InvoiceFactory(order=OrderFactory(amount=Decimal("6800"), currency="KWD"), paid=True)
    with translation.override("de"):
        form = refund_form("1.500", invoice)
        assert not form.is_valid()
    assert form.errors["amount"] == [
        "“1.500” could be read as 1500 or as 1.5 (with a decimal point). Type it as "
        "1.234,567 or 1234,567 or 1234.567 (German numbers: “.” between thousands if you "
        "like, “,” before the 3 decimal places)."
    ]

    with translation.override("en"):
        form = refund_form("1,5", invoice)
        assert not form.is_valid()
    assert form.errors["amount"] == [
        "“1,5” is not an amount this form can read. Type it as 1,234.567 or 1234.567 "
        "(English numbers: “,” between thousands if you like, “.” before the 3 decimal places)."
    ]
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_refund_page_posts_a_grouped_amount(admin_client: Client, router: Any) -> None:
    from tests.test_admin import paid_invoice

    invoice = paid_invoice(router, "6800.00", reference="SO-GROUPED")
    page = admin_client.get(reverse("admin:django_multipay_invoice_refund", args=[invoice.pk]))
    assert page.context["form"].initial["amount"] == "6,800.00"  # as it reads it back
    assert "1,234.56 or 1234.56" in page.content.decode()
    key = page.context["form"].initial["idempotency_key"]

    admin_client.post(
        reverse("admin:django_multipay_invoice_refund", args=[invoice.pk]),
        {"amount": "2,000.00", "reason": "Damaged", "idempotency_key": key},
    )

    [refund] = Refund.objects.filter(invoice=invoice)
    assert (refund.amount, refund.status) == (Decimal("2000.00"), RefundStatus.SUCCEEDED)
