"""The pay page a customer sees: the order summary, the payment methods by name, clear
errors, and for an order that can no longer be paid its status and the shop's order page."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.template.loader import get_template
from django.test import Client, override_settings

from django_multipay.checks import check_settings
from django_multipay.models import Invoice, Order
from django_multipay.status import OrderStatus
from django_multipay.testing.factories import OrderFactory, OrderItemFactory


def pay_url(order: Order) -> str:
    return f"/payments/pay/{order.public_id}/"


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.mark.django_db
def test_the_page_summarises_the_order(client: Client) -> None:
    order = OrderFactory(
        reference="SO-100",
        amount=Decimal("56.80"),
        currency="EUR",
        description="Coffee for the office",
        shipping_amount=Decimal("7.00"),
        tax_amount=Decimal("0"),
    )
    OrderItemFactory(order=order, name="Espresso beans", quantity=2, unit_price=Decimal("24.90"))

    response = client.get(pay_url(order))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Pay order SO-100" in page
    assert "Coffee for the office" in page
    assert "Espresso beans" in page
    assert "€49.80" in page  # the line: 2 x 24.90
    assert "€7.00" in page  # shipping
    assert "Tax" not in page  # none charged, none shown
    assert "€56.80" in page
    # Anyone with the link sees the page: nothing about the customer is on it.
    assert order.customer_email not in page
    assert order.billing_address["line1"] not in page
    assert "<link" not in page  # no outside assets
    assert "<script" not in page


@pytest.mark.django_db
def test_each_payment_method_is_shown_by_its_label_and_gateway_name(
    client: Client, settings: Any
) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["dummy"]["LABEL"] = "Test card"
    settings.MULTIPAY = config
    order = OrderFactory()

    response = client.get(pay_url(order))

    page = response.content.decode()
    labels = {a["alias"]: (a["label"], a["name"]) for a in response.context["aliases"]}
    assert labels["dummy"] == ("Test card", "Dummy")
    assert labels["dummy-manual"] == ("Dummy", "Dummy")
    assert "Pay with Test card" in page
    assert '<span class="mp-method-name">Dummy</span>' in page  # the gateway behind the label
    assert page.count('name="gateway"') == len(labels)
    assert response.context["payable"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "said"),
    [
        (OrderStatus.PAID, "It is paid"),
        (OrderStatus.PARTIALLY_REFUNDED, "part of the payment refunded"),
        (OrderStatus.REFUNDED, "the payment refunded"),
        (OrderStatus.CANCELLED, "can no longer be paid"),
    ],
)
def test_an_order_that_cannot_be_paid_shows_its_status_and_no_buttons(
    client: Client, status: str, said: str
) -> None:
    order = OrderFactory(reference="SO-200", status=status)

    response = client.get(pay_url(order))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<h1>Order SO-200</h1>" in page
    assert 'name="gateway"' not in page
    assert "Pay with" not in page
    assert response.context["aliases"] == []
    assert f'<span class="mp-status">{order.get_status_display().lower()}</span>' in page
    assert said in page
    # The test settings' SUCCESS_URL is the shop's page for the order.
    assert '<a class="mp-button" href="/shop/thanks/SO-200/">View your order</a>' in page


@pytest.mark.django_db
def test_paying_a_paid_order_again_says_why_and_offers_no_button(client: Client) -> None:
    order = OrderFactory(reference="SO-201", status=OrderStatus.PAID)

    response = client.post(pay_url(order), {"gateway": "dummy"})

    assert response.status_code == 400
    page = response.content.decode()
    assert "This order can no longer be paid." in page
    assert "Order SO-201 is paid and cannot be paid." in page
    assert 'name="gateway"' not in page
    assert "View your order" in page
    assert not Invoice.objects.exists()


@pytest.mark.django_db
def test_order_url_setting_names_the_shops_order_page(client: Client, settings: Any) -> None:
    settings.MULTIPAY = {**settings.MULTIPAY, "ORDER_URL": "/account/orders/{reference}/"}
    paid = OrderFactory(reference="SO-300", status=OrderStatus.PAID)
    open_order = OrderFactory(reference="SO-301")

    paid_page = client.get(pay_url(paid)).content.decode()
    open_page = client.get(pay_url(open_order)).content.decode()

    assert 'href="/account/orders/SO-300/">View your order' in paid_page
    assert (
        'href="/account/orders/SO-301/"><span aria-hidden="true">&larr;</span> Back to your order'
        in open_page
    )


@pytest.mark.django_db
def test_the_order_url_takes_the_public_id_placeholder(client: Client, settings: Any) -> None:
    settings.MULTIPAY = {**settings.MULTIPAY, "ORDER_URL": "/o/{order}/"}
    order = OrderFactory(status=OrderStatus.REFUNDED)

    page = client.get(pay_url(order)).content.decode()

    assert f'href="/o/{order.public_id}/"' in page


@pytest.mark.django_db
def test_an_open_order_without_order_url_links_back_to_the_shop(client: Client) -> None:
    page = client.get(pay_url(OrderFactory())).content.decode()
    back = '<a class="mp-back" href="/"><span aria-hidden="true">&larr;</span> Back to the shop</a>'
    assert back in page


@pytest.mark.django_db
def test_an_order_page_off_this_site_is_never_linked(client: Client) -> None:
    order = OrderFactory(status=OrderStatus.PAID, success_url="https://evil.example/phish")

    response = client.get(pay_url(order))

    assert response.context["order_url"] == "/"
    assert "evil.example" not in response.content.decode()


def test_gateway_down_shows_a_clear_error_and_the_methods_again(
    client: Client, transactional_db: Any
) -> None:
    order = OrderFactory()
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, "http://testserver/sandbox/dummy/api/payments", status=503)
        response = client.post(pay_url(order), {"gateway": "dummy"})

    assert response.status_code == 502
    page = response.content.decode()
    assert "The payment could not be started." in page
    assert "The payment service is not available right now. Please try again." in page
    assert "Choose a payment method below to try again." in page
    assert 'value="dummy"' in page
    assert "mp-method-chosen" in page  # the method that failed is the one focused


@pytest.mark.django_db
def test_no_method_for_the_currency_is_said_plainly(client: Client, settings: Any) -> None:
    with override_settings(MULTIPAY={**settings.MULTIPAY, "GATEWAYS": {}}):
        page = client.get(pay_url(OrderFactory(currency="EUR"))).content.decode()
    assert "No payment method takes EUR." in page


class CustomTemplates:
    """A shop's own pay.html extending the app's, replacing two blocks."""

    templates = {
        "django_multipay/pay.html": (
            '{% extends "django_multipay/pay.html" %}'
            "{% block header %}<h1>Checkout at Beans &amp; Co</h1>{{ block.super }}{% endblock %}"
            "{% block footer %}<p>Questions? Call us.</p>{% endblock %}"
        ),
    }


@pytest.mark.django_db
def test_a_shop_overrides_blocks_of_the_page(client: Client, settings: Any) -> None:
    engine = copy.deepcopy(settings.TEMPLATES[0])
    engine["APP_DIRS"] = False
    engine["OPTIONS"]["loaders"] = [
        ("django.template.loaders.locmem.Loader", CustomTemplates.templates),
        "django.template.loaders.app_directories.Loader",
    ]
    settings.TEMPLATES = [engine]
    order = OrderFactory(reference="SO-400")

    page = client.get(pay_url(order)).content.decode()

    assert "Checkout at Beans &amp; Co" in page
    assert "Pay order SO-400" in page  # block.super keeps the app's header
    assert "Questions? Call us." in page
    assert "Back to the shop" not in page  # the footer block was replaced
    assert 'name="gateway"' in page


def test_the_documented_blocks_exist() -> None:
    source = get_template("django_multipay/pay.html").template.source
    base = get_template("django_multipay/base.html").template.source
    for block in ("header", "messages", "order_summary", "payment_methods", "order_status"):
        assert f"{{% block {block} %}}" in source, block
    for block in ("title", "style", "extra_head", "content", "body"):
        assert f"{{% block {block} %}}" in source + base, block


def test_a_misspelt_order_url_placeholder_fails_the_system_check(settings: Any) -> None:
    settings.MULTIPAY = {**settings.MULTIPAY, "ORDER_URL": "/orders/{refrence}/"}

    [error] = [m for m in check_settings() if m.id == "multipay.E008"]

    assert "ORDER_URL" in error.msg
    assert "Did you mean 'reference'?" in error.hint
