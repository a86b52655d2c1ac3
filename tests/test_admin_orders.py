"""Orders and invoices in the admin: what staff may still change on an order once a payment
was attempted, how orders and invoices link each other, and aliases that cannot notify."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.test import Client
from django.urls import reverse

from django_multipay.models import Order, OrderItem
from django_multipay.status import InvoiceStatus, OrderStatus
from django_multipay.testing.factories import (
    InvoiceFactory,
    NotificationFactory,
    OrderFactory,
    OrderItemFactory,
)


def change(model: str, pk: Any) -> str:
    return reverse(f"admin:django_multipay_{model}_change", args=[pk])


def changelist(model: str) -> str:
    return reverse(f"admin:django_multipay_{model}_changelist")


def posted_back(response: Any, **changes: Any) -> dict[str, Any]:
    """What a browser would send back from this change page, with ``changes`` applied (keys
    as the form names them: ``customer_email``, ``items-0-quantity``)."""
    data: dict[str, Any] = {}

    def add(form: Any) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    data.update(changes)
    return data


def paid_order_with_one_item() -> Order:
    order = OrderFactory(amount=Decimal("100.00"), currency="EUR")
    OrderItemFactory(order=order, quantity=1, unit_price=Decimal("100.00"))
    InvoiceFactory(order=order, paid=True)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PAID)
    return order


@pytest.mark.django_db
def test_staff_cannot_change_the_items_of_a_paid_order(admin_client: Client) -> None:
    order = paid_order_with_one_item()
    item = order.items.get()
    page = admin_client.get(change("order", order.pk))
    assert page.status_code == 200

    response = admin_client.post(
        change("order", order.pk),
        posted_back(page, **{"items-0-quantity": "3", "customer_email": "new@example.com"}),
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    assert OrderItem.objects.get(pk=item.pk).quantity == 1
    assert sum(i.total for i in order.items.all()) == order.amount
    # What may still change, does: how to reach the customer.
    assert Order.objects.get(pk=order.pk).customer_email == "new@example.com"


@pytest.mark.django_db
def test_staff_cannot_add_or_delete_items_of_a_paid_order(admin_client: Client) -> None:
    order = paid_order_with_one_item()
    item = order.items.get()
    page = admin_client.get(change("order", order.pk))
    inline = next(i for i in page.context["inline_admin_formsets"] if i.opts.model is OrderItem)
    assert not inline.has_add_permission
    assert not inline.has_delete_permission
    assert not inline.has_change_permission

    admin_client.post(
        change("order", order.pk),
        posted_back(
            page,
            **{
                "items-0-DELETE": "on",
                "items-TOTAL_FORMS": "2",
                "items-1-name": "Extra",
                "items-1-quantity": "1",
                "items-1-unit_price": "5",
            },
        ),
    )

    assert list(OrderItem.objects.filter(order=order)) == [item]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "1.00"),
        ("currency", "USD"),
        ("billing_address", '{"name": "Someone else"}'),
        ("shipping_address", '{"city": "Elsewhere"}'),
    ],
)
def test_money_and_addresses_of_a_paid_order_are_read_only(
    admin_client: Client, field: str, value: str
) -> None:
    order = paid_order_with_one_item()
    before = getattr(order, field)
    page = admin_client.get(change("order", order.pk))
    assert field not in page.context["adminform"].form.fields

    admin_client.post(change("order", order.pk), posted_back(page, **{field: value}))

    assert getattr(Order.objects.get(pk=order.pk), field) == before


@pytest.mark.django_db
@pytest.mark.parametrize("status", [s for s in InvoiceStatus if s != InvoiceStatus.CREATED])
def test_every_invoice_status_past_created_locks_the_order(
    admin_client: Client, status: str
) -> None:
    order = OrderFactory()
    InvoiceFactory(order=order, status=status)
    form = admin_client.get(change("order", order.pk)).context["adminform"].form
    assert not {"amount", "currency", "billing_address", "shipping_address"} & set(form.fields)


@pytest.mark.django_db
def test_an_order_never_paid_stays_editable(admin_client: Client) -> None:
    order = OrderFactory()
    item = OrderItemFactory(order=order, quantity=1, unit_price=Decimal("100.00"))
    page = admin_client.get(change("order", order.pk))
    form = page.context["adminform"].form
    assert {"amount", "currency", "billing_address", "shipping_address"} <= set(form.fields)

    response = admin_client.post(
        change("order", order.pk),
        posted_back(page, **{"items-0-quantity": "3", "amount": "300.00"}),
    )

    assert response.status_code == 302
    assert OrderItem.objects.get(pk=item.pk).quantity == 3
    assert Order.objects.get(pk=order.pk).amount == Decimal("300.00")


# -- lists and links -------------------------------------------------------------------------


@pytest.mark.django_db
def test_invoices_are_listed_by_order_reference_gateway_and_status(admin_client: Client) -> None:
    invoice = InvoiceFactory(order=OrderFactory(reference="SO-LIST-1"), paid=True)
    Order.objects.filter(pk=invoice.order_id).update(status=OrderStatus.PAID)

    response = admin_client.get(changelist("invoice"))

    columns = [c for c in response.context["cl"].list_display if c != "action_checkbox"]
    assert columns[:3] == ["order_reference", "gateway", "status"]
    page = response.content.decode()
    # The row's first cell, the link to the invoice, names it by its order (no UUID prefix).
    assert (
        f'<th class="field-order_reference"><a href="{change("invoice", invoice.pk)}">'
        "SO-LIST-1</a></th>"
    ) in page
    assert f'<a href="{change("order", invoice.order_id)}">SO-LIST-1</a> (paid)' in page


@pytest.mark.django_db
def test_orders_list_links_each_of_their_invoices(admin_client: Client) -> None:
    order = OrderFactory(reference="SO-LIST-2")
    failed = InvoiceFactory(order=order, status=InvoiceStatus.FAILED)
    paid = InvoiceFactory(order=order, gateway="dummy-manual", paid=True)

    page = admin_client.get(changelist("order")).content.decode()

    assert f'<a href="{change("invoice", failed.pk)}">dummy (failed)</a>' in page
    assert f'<a href="{change("invoice", paid.pk)}">dummy-manual (paid)</a>' in page


@pytest.mark.django_db
def test_order_and_invoice_pages_link_each_other(admin_client: Client) -> None:
    invoice = InvoiceFactory(order=OrderFactory(reference="SO-LINK"), paid=True)

    order_page = admin_client.get(change("order", invoice.order_id)).content.decode()
    invoice_page = admin_client.get(change("invoice", invoice.pk)).content.decode()

    assert f'href="{change("invoice", invoice.pk)}"' in order_page
    assert f'<a href="{change("order", invoice.order_id)}">SO-LINK</a>' in invoice_page


# -- aliases that can receive no notifications -----------------------------------------------

REGISTER = "python manage.py multipay_postpay_hooks create --alias postpay"


def rendered_without_gateway_calls(client: Client, url: str) -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        response = client.get(url)
        assert response.status_code == 200
        assert len(mock.calls) == 0  # rendering asks no gateway anything
    return response


@pytest.mark.django_db
def test_a_postpay_alias_without_notifications_says_how_to_register_its_webhook(
    admin_client: Client,
) -> None:
    invoice = InvoiceFactory(
        order=OrderFactory(currency="AED"), gateway="postpay", status=InvoiceStatus.PENDING
    )

    page = rendered_without_gateway_calls(admin_client, change("invoice", invoice.pk))
    log = rendered_without_gateway_calls(admin_client, changelist("notification"))

    assert REGISTER in page.content.decode()
    warnings = [str(m) for m in log.context["messages"]]
    assert len(warnings) == 1
    assert "No notification has been received from postpay" in warnings[0]
    assert REGISTER in warnings[0]


@pytest.mark.django_db
def test_the_note_goes_once_a_notification_arrived(admin_client: Client) -> None:
    invoice = InvoiceFactory(order=OrderFactory(currency="AED"), gateway="postpay")
    NotificationFactory(gateway="postpay", invoice=invoice, path="/payments/notify/postpay/")

    page = rendered_without_gateway_calls(admin_client, change("invoice", invoice.pk))
    log = rendered_without_gateway_calls(admin_client, changelist("notification"))

    assert REGISTER not in page.content.decode()
    assert "1 received (listed below)" in page.content.decode()
    assert not [str(m) for m in log.context["messages"]]


@pytest.mark.django_db
def test_a_postpay_alias_without_its_webhook_secret_says_so(
    admin_client: Client, settings: Any
) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    del config["GATEWAYS"]["postpay"]["OPTIONS"]["webhook_secret"]
    settings.MULTIPAY = config
    NotificationFactory(gateway="postpay", path="/payments/notify/postpay/")
    invoice = InvoiceFactory(order=OrderFactory(currency="AED"), gateway="postpay")

    page = rendered_without_gateway_calls(admin_client, change("invoice", invoice.pk)).content

    assert "has no webhook_secret in its OPTIONS" in page.decode()
    assert REGISTER in page.decode()


@pytest.mark.django_db
def test_gateways_given_a_notify_url_per_payment_get_no_note(admin_client: Client) -> None:
    invoice = InvoiceFactory(gateway="dummy")

    page = rendered_without_gateway_calls(admin_client, change("invoice", invoice.pk))

    assert "none received yet" in page.content.decode()
    assert "multipay_postpay_hooks" not in page.content.decode()
