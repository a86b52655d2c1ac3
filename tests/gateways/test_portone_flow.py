"""PortOne: a payment link or a channel payment, as we asked for when the invoice was made."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
import responses

from django_multipay import payments
from django_multipay.exceptions import InvalidRequest
from django_multipay.models import Invoice, Order
from django_multipay.registry import get_gateway
from django_multipay.status import InvoiceStatus
from django_multipay.testing.factories import OrderFactory

API = "http://testserver/sandbox/portone/"


@pytest.fixture
def order(db) -> Order:
    return OrderFactory(amount=Decimal("100.00"), currency="EUR")


def test_a_channel_payment_whose_redirect_names_order_ref_is_not_a_link(order: Order) -> None:
    """Reported defect: ``ref=<gateway id>`` inside ``order_ref=<gateway id>`` of a PSP's page
    address made a channel payment read as a payment link (its status read the wrong API)."""
    order_ref = "2937z05mrtN17ZYigwZhfKdqEGQ"
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + "api/initiatePayment",
            json={
                "is_success": True,
                "redirect_url": f"https://psp.example/authorize?order_ref={order_ref}&x=1",
                "order_ref": order_ref,
                "merchant_order_ref": "ignored",
                "channel_order_ref": "",
                "expiry_in_minutes": "20",
            },
        )
        invoice, _action = payments.begin_payment(order, "portone")
    assert invoice.gateway_id == order_ref
    assert f"ref={order_ref}" in invoice.redirect_url
    gateway = get_gateway("portone")
    assert gateway.is_link(invoice) is False
    with responses.RequestsMock() as mock:
        status = mock.add(
            responses.GET,
            API + f"api/transaction/{invoice.pk}/status",
            json={
                "content": {"order_ref": order_ref, "channel_order_ref": "c1", "status": "Success"},
                "status_code": "2000",
                "status_reason": "SUCCESS",
            },
        )
        details = mock.add(
            responses.POST,
            API + "api/portone-client-key-one/transaction-details",
            json={
                "content": {"order_ref": order_ref, "amount": 100, "currency": "EUR"},
                "status_code": "2000",
                "status_reason": "SUCCESS",
            },
        )
        result = gateway.fetch_status(invoice)
    assert (status.call_count, details.call_count) == (1, 1)
    assert result.status == InvoiceStatus.PAID
    assert (result.amount, result.currency) == (Decimal("100"), "EUR")


def test_what_started_the_payment_is_kept_on_the_invoice(router, order: Order) -> None:
    channel, _action = payments.begin_payment(order, "portone")
    link, _action = payments.begin_payment(
        OrderFactory(amount=Decimal("100.00"), currency="EUR"), "portone-link"
    )
    assert channel.gateway_options == {"started_with": "initiatePayment"}
    assert link.gateway_options == {"started_with": "paymentLink"}
    assert get_gateway("portone").is_link(channel) is False
    assert get_gateway("portone-link").is_link(link) is True


def test_a_reconfigured_alias_reads_each_invoice_as_it_was_started(
    router, order: Order, settings
) -> None:
    """The alias switched from PortOne's checkout page to a channel while a link was open:
    the link is still read as a link, and a new payment starts at the channel."""
    link, _action = payments.begin_payment(order, "portone-link")
    config = copy.deepcopy(settings.MULTIPAY)
    config["GATEWAYS"]["portone-link"]["OPTIONS"].update(pmt_channel="STRIPE", pmt_method="CARD")
    settings.MULTIPAY = config
    gateway = get_gateway("portone-link")
    assert gateway.direct
    assert gateway.is_link(link)
    gateway.fetch_status(link)
    assert router.requests_to(rf"/api/paymentLink/{link.gateway_id}/fetch-status$", "GET")
    assert not router.requests_to(rf"/api/transaction/{link.pk}/status$")
    channel, _action = payments.begin_payment(
        OrderFactory(amount=Decimal("100.00"), currency="EUR"), "portone-link"
    )
    assert not gateway.is_link(channel)
    assert router.requests_to(r"/api/initiatePayment$", "POST")


def test_an_invoice_without_the_record_follows_the_alias(db, order: Order) -> None:
    """Invoices started before the record was kept (or built by hand): the alias decides,
    never the page address."""
    for alias, link in (("portone", False), ("portone-link", True)):
        invoice = Invoice(
            order=order,
            gateway=alias,
            gateway_id="2BEemUknaImTq5ljmoNQQV2tSll",
            redirect_url="https://checkout.portone.cloud?ref=2BEemUknaImTq5ljmoNQQV2tSll"
            if not link
            else "https://elsewhere.example/",
            amount=order.amount,
            currency="EUR",
        )
        assert get_gateway(alias).is_link(invoice) is link


def test_the_shop_cannot_choose_the_record(router, order: Order) -> None:
    with pytest.raises(InvalidRequest) as caught:
        payments.begin_payment(order, "portone", options={"started_with": "paymentLink"})
    assert set(caught.value.fields) == {"options.started_with"}
    assert not Invoice.objects.exists()
    assert router.calls == []
