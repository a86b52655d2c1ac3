"""The admin for operators: columns, filters, search, and every action with its refusals."""

from __future__ import annotations

import copy
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from django_multipay import payments, processing
from django_multipay.exceptions import GatewayConnectionError, PaymentDeclined
from django_multipay.gateways.base import Capabilities
from django_multipay.gateways.dummy import SIGNATURE_HEADER, DummyGateway, sign
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox import dummy as dummy_emulator
from django_multipay.sandbox.store import store
from django_multipay.status import InvoiceStatus, NotificationResult, OrderStatus, RefundStatus
from django_multipay.testing.factories import (
    InvoiceFactory,
    NotificationFactory,
    OrderFactory,
    RefundFactory,
)
from django_multipay.testing.router import EmulatorRouter

SECRETS = (
    "dummy-api-key-one",
    "dummy-webhook-secret-one",
    "dummy-api-key-two",
    "dummy-webhook-secret-two",
)


class NoRefundGateway(DummyGateway):
    """The dummy gateway without refunds, capture or cancel."""

    display_name = "No refunds"
    capabilities = Capabilities(fetch_status=True)


class OneRefundGateway(DummyGateway):
    """The dummy gateway allowing one refund per payment."""

    display_name = "One refund"
    capabilities = Capabilities(refund=True, partial_refund=True, max_refunds=1)


class FullRefundGateway(DummyGateway):
    """The dummy gateway refunding only the whole amount."""

    display_name = "Whole refunds"
    capabilities = Capabilities(refund=True, partial_refund=False)


@pytest.fixture(autouse=True)
def more_gateways(settings: Any) -> None:
    config = copy.deepcopy(settings.MULTIPAY)
    base = config["GATEWAYS"]["dummy"]
    for alias, cls in (
        ("norefund", NoRefundGateway),
        ("onerefund", OneRefundGateway),
        ("fullrefund", FullRefundGateway),
    ):
        config["GATEWAYS"][alias] = {
            "BACKEND": f"{__name__}.{cls.__name__}",
            "OPTIONS": {**base["OPTIONS"], "api_key": f"{alias}-key"},
        }
    settings.MULTIPAY = config


# -- helpers ---------------------------------------------------------------------------------


def changelist(model: str) -> str:
    return reverse(f"admin:django_multipay_{model}_changelist")


def change(model: str, pk: Any) -> str:
    return reverse(f"admin:django_multipay_{model}_change", args=[pk])


def url(name: str, pk: Any) -> str:
    return reverse(f"admin:django_multipay_invoice_{name}", args=[pk])


def texts(response: Any) -> list[str]:
    """The messages the user sees next: on this page, or on the page it redirects to."""
    if response.status_code == 302:
        response = response.client.get(response["Location"])
    return [str(m) for m in response.context["messages"]]


def started(order: Order, alias: str = "dummy") -> Invoice:
    payments.start_payment(order, alias)
    return Invoice.objects.filter(order=order).latest("created_at")


def paid_invoice(
    router: EmulatorRouter, amount: str = "100.00", alias: str = "dummy", **order: Any
) -> Invoice:
    """An invoice paid on the emulator's hosted page (its signed notification applied)."""
    invoice = started(OrderFactory(amount=Decimal(amount), **order), alias)
    response = router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    assert response.status_code == 302, response.content
    invoice.refresh_from_db()
    return invoice


def set_at_gateway(invoice: Invoice, **fields: str) -> None:
    """Change the emulator's record without it telling the shop."""
    with store.table("dummy.payments") as table:
        table[invoice.gateway_id].update(fields)


def action(client: Client, name: str, *objs: Any, model: str = "invoice", **extra: Any) -> Any:
    data = {"action": name, "_selected_action": [str(o.pk) for o in objs], **extra}
    return client.post(changelist(model), data)


def action_names(client: Client, model: str = "invoice") -> set[str]:
    response = client.get(changelist(model))
    assert response.status_code == 200
    form = response.context["action_form"]
    if form is None:
        return set()
    return {value for value, _label in form.fields["action"].choices if value}


def refund_page(client: Client, invoice: Invoice) -> tuple[Any, str]:
    """GET the refund form; the page and the idempotency key it carries."""
    response = client.get(url("refund", invoice.pk))
    assert response.status_code == 200
    return response, response.context["form"].initial["idempotency_key"]


def staff(*perms: str) -> Client:
    user = User.objects.create_user(f"staff{User.objects.count()}", password="x", is_staff=True)
    for perm in perms:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="django_multipay", codename=perm)
        )
    client = Client()
    client.force_login(user)
    return client


# -- lists, filters, search ------------------------------------------------------------------


@pytest.mark.django_db
def test_invoice_list_columns_use_the_currency_decimals(admin_client: Client) -> None:
    InvoiceFactory(
        order=OrderFactory(
            reference="R-EUR", amount=Decimal("49.8"), customer_email="ana@example.com"
        ),
        paid=True,
    )
    InvoiceFactory(order=OrderFactory(reference="R-JPY", amount=Decimal("500"), currency="JPY"))
    InvoiceFactory(order=OrderFactory(reference="R-KWD", amount=Decimal("1.234"), currency="KWD"))

    page = admin_client.get(changelist("invoice")).content.decode()

    for text in ("R-EUR", "ana@example.com", "€49.80", "¥500", "KWD\xa01.234", "Paid"):
        assert text in page
    assert "dummy" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status__exact": "paid"}, {"ALPHA-1"}),
        ({"gateway__exact": "dummy-manual"}, {"BRAVO-2"}),
        ({"currency__exact": "BDT"}, {"BRAVO-2"}),
        ({"q": "ALPHA-1"}, {"ALPHA-1"}),
        ({"q": "pay_findme"}, {"BRAVO-2"}),
        ({"q": "zed@example.com"}, {"CHARLIE-3"}),
        ({"created_at__gte": "2000-01-01 00:00:00+00:00"}, {"ALPHA-1", "BRAVO-2", "CHARLIE-3"}),
        ({"created_at__gte": "2999-01-01 00:00:00+00:00"}, set()),
    ],
)
def test_invoice_filters_and_search(
    admin_client: Client, query: dict[str, str], expected: set[str]
) -> None:
    InvoiceFactory(order=OrderFactory(reference="ALPHA-1"), paid=True)
    InvoiceFactory(
        order=OrderFactory(reference="BRAVO-2", currency="BDT"),
        gateway="dummy-manual",
        gateway_id="pay_findme",
    )
    InvoiceFactory(order=OrderFactory(reference="CHARLIE-3", customer_email="zed@example.com"))

    response = admin_client.get(changelist("invoice"), query)

    assert response.status_code == 200
    assert {i.order.reference for i in response.context["cl"].result_list} == expected


@pytest.mark.django_db
def test_order_refund_and_notification_lists(admin_client: Client) -> None:
    invoice = InvoiceFactory(order=OrderFactory(reference="O-9", currency="JPY", amount=700))
    RefundFactory(invoice=InvoiceFactory(order=OrderFactory(reference="O-8"), paid=True))
    NotificationFactory(invoice=invoice, result=NotificationResult.REJECTED, reason="forged")

    orders = admin_client.get(changelist("order"), {"q": invoice.gateway_id})
    assert [o.reference for o in orders.context["cl"].result_list] == ["O-9"]
    assert "¥700" in orders.content.decode()
    refunds = admin_client.get(changelist("refund"), {"q": "O-8"})
    assert len(refunds.context["cl"].result_list) == 1
    assert "€100.00" in refunds.content.decode()
    rejected = admin_client.get(changelist("notification"), {"result__exact": "rejected"})
    assert "forged" in rejected.content.decode()
    for model, field, count in (
        ("order", "created_at", 2),
        ("refund", "created_at", 1),
        ("notification", "received_at", 1),
    ):
        since = {f"{field}__gte": "2000-01-01 00:00:00+00:00"}
        listed = admin_client.get(changelist(model), since)
        assert listed.status_code == 200
        assert len(listed.context["cl"].result_list) == count
        later = {f"{field}__gte": "2999-01-01 00:00:00+00:00"}
        assert not admin_client.get(changelist(model), later).context["cl"].result_list


# -- the invoice page ------------------------------------------------------------------------


@pytest.mark.django_db
def test_invoice_page_shows_refunds_and_notifications_read_only(
    router: EmulatorRouter, admin_client: Client
) -> None:
    invoice = paid_invoice(router)
    payments.refund(invoice, "10.00", reason="scratched mug")

    response = admin_client.get(change("invoice", invoice.pk))
    page = response.content.decode()

    assert response.status_code == 200
    assert "scratched mug" in page  # the refund inline
    assert "€10.00" in page
    assert "Processed" in page  # the notification inline
    assert "€90.00" in page  # refundable now
    assert 'name="_save"' not in page
    assert not response.context["adminform"].form.fields  # every field read-only
    assert 'data-tool="refund"' in page
    assert 'data-tool="verify"' in page
    assert 'data-tool="capture"' not in page  # paid: nothing to capture or cancel
    assert 'data-tool="cancel"' not in page
    for secret in SECRETS:
        assert secret not in page

    assert "Gateway options chosen for this payment" in page
    Invoice.objects.filter(pk=invoice.pk).update(gateway_options={"operative": "DEFERRED"})
    assert "DEFERRED" in admin_client.get(change("invoice", invoice.pk)).content.decode()

    # A stale form saved over the record could undo a status change: refused.
    before = Invoice.objects.get(pk=invoice.pk)
    assert admin_client.post(change("invoice", invoice.pk), {}).status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).updated_at == before.updated_at


@pytest.mark.django_db
def test_no_admin_page_shows_gateway_secrets(router: EmulatorRouter, admin_client: Client) -> None:
    invoice = paid_invoice(router)
    refund = payments.refund(invoice, "1.00")
    notification = Notification.objects.filter(invoice=invoice).first()
    pages = [
        changelist("invoice"),
        change("invoice", invoice.pk),
        url("refund", invoice.pk),
        changelist("refund"),
        change("refund", refund.pk),
        changelist("notification"),
        change("notification", notification.pk),
        changelist("order"),
        change("order", invoice.order_id),
    ]
    for page in pages:
        content = admin_client.get(page).content.decode()
        for secret in SECRETS:
            assert secret not in content, page


@pytest.mark.django_db
def test_order_money_is_read_only_once_a_payment_started(admin_client: Client) -> None:
    fresh = OrderFactory()
    paying = InvoiceFactory().order

    assert "amount" in admin_client.get(change("order", fresh.pk)).context["adminform"].form.fields
    fields = admin_client.get(change("order", paying.pk)).context["adminform"].form.fields
    assert not {"amount", "currency", "tax_amount", "shipping_amount", "status"} & set(fields)


@pytest.mark.django_db
def test_refunds_and_notifications_cannot_be_edited(admin_client: Client) -> None:
    refund = RefundFactory()
    notification = NotificationFactory()
    for model, pk in (("refund", refund.pk), ("notification", notification.pk)):
        assert admin_client.post(change(model, pk), {"status": "succeeded"}).status_code == 403
        assert not admin_client.get(change(model, pk)).context["adminform"].form.fields
    assert Refund.objects.get(pk=refund.pk).status == RefundStatus.REQUESTED


# -- refund in full --------------------------------------------------------------------------


@pytest.mark.django_db
def test_refund_in_full_confirms_then_refunds(router: EmulatorRouter, admin_client: Client) -> None:
    paid = paid_invoice(router, "80.00", reference="PAID-1")
    part = paid_invoice(router, "50.00", reference="PART-1")
    payments.refund(part, "20.00")
    pending = started(OrderFactory(reference="PEND-1"))
    refunded = InvoiceFactory(
        order=OrderFactory(reference="DONE-1"),
        status=InvoiceStatus.REFUNDED,
        captured_amount=Decimal("100.00"),
        refunded_amount=Decimal("100.00"),
    )
    no_refunds = InvoiceFactory(
        order=OrderFactory(reference="NORF-1"), gateway="norefund", paid=True
    )
    chosen = (paid, part, pending, refunded, no_refunds)

    page = action(admin_client, "refund_in_full", *chosen)

    assert page.status_code == 200
    ready = {i["invoice"].order.reference: i["amount"] for i in page.context["ready"]}
    assert ready == {"PAID-1": Decimal("80.00"), "PART-1": Decimal("30.00")}
    refused = {i["invoice"].order.reference: i["reason"] for i in page.context["refused"]}
    assert refused == {
        "PEND-1": "not paid (the invoice is pending)",
        "DONE-1": "already refunded",
        "NORF-1": "No refunds does not support refunds",
    }
    html = page.content.decode()
    assert "€80.00" in html
    assert "€30.00" in html
    assert "Total: €110.00" in html
    assert Refund.objects.count() == 1  # only the earlier part refund: nothing done yet

    form = {k: v for k, v in page.context["request"].POST.items()}
    confirm = {
        "action": "refund_in_full",
        "post": "yes",
        "reason": "order lost in transit",
        "_selected_action": [str(i.pk) for i in chosen],
    }
    for item in page.context["ready"]:
        confirm[f"key-{item['invoice'].pk}"] = item["key"]
        confirm[f"amount-{item['invoice'].pk}"] = str(item["amount"])
    assert form["action"] == "refund_in_full"

    done = admin_client.post(changelist("invoice"), confirm)

    assert done.status_code == 302
    paid.refresh_from_db()
    part.refresh_from_db()
    assert paid.status == part.status == InvoiceStatus.REFUNDED
    assert paid.refunded_amount == Decimal("80.00")
    assert part.refunded_amount == Decimal("50.00")
    admin = User.objects.get(username="admin")
    new = Refund.objects.filter(reason="order lost in transit")
    assert sorted(r.amount for r in new) == [Decimal("30.00"), Decimal("80.00")]
    assert {r.requested_by for r in new} == {admin}
    assert {r.status for r in new} == {RefundStatus.SUCCEEDED}
    messages = texts(done)
    assert any("Refunded €80.00 on PAID-1" in m and "now refunded" in m for m in messages)
    assert any("Refunded €30.00 on PART-1" in m for m in messages)
    assert LogEntry.objects.filter(
        user=admin, action_flag=CHANGE, object_id=str(paid.pk), change_message__contains="80.00"
    ).exists()
    assert LogEntry.objects.filter(user=admin, action_flag=ADDITION).count() == 2
    posted = len(router.requests_to(r"/refunds$", "POST"))

    # A reload (or a second click) of the confirmation sends nothing again.
    again = admin_client.post(changelist("invoice"), confirm)

    assert Refund.objects.count() == 3
    assert len(router.requests_to(r"/refunds$", "POST")) == posted
    assert sum("already submitted" in m for m in texts(again)) == 2


@pytest.mark.django_db
def test_refund_in_full_with_nothing_refundable(admin_client: Client) -> None:
    pending = InvoiceFactory()

    page = action(admin_client, "refund_in_full", pending)

    assert page.context["ready"] == []
    assert "Nothing to do" in page.content.decode()
    assert 'value="Yes, refund in full"' not in page.content.decode()


@pytest.mark.django_db
def test_two_staff_refunding_in_full_refund_once(
    router: EmulatorRouter, admin_client: Client
) -> None:
    invoice = paid_invoice(router)
    first = action(admin_client, "refund_in_full", invoice)
    second = action(admin_client, "refund_in_full", invoice)

    for page in (first, second):
        item = page.context["ready"][0]
        done = admin_client.post(
            changelist("invoice"),
            {
                "action": "refund_in_full",
                "post": "yes",
                "_selected_action": [str(invoice.pk)],
                f"key-{invoice.pk}": item["key"],
                f"amount-{invoice.pk}": str(item["amount"]),
            },
        )
        shown = texts(done)

    assert Refund.objects.filter(invoice=invoice).count() == 1
    assert shown == [
        f"Refund of €100.00 on {invoice.order.reference} (dummy {invoice.gateway_id}) "
        "refused: [dummy] Only paid invoices can be refunded; this one is refunded."
    ]


# -- refund part -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_refund_part_form_and_refund(router: EmulatorRouter, admin_client: Client) -> None:
    invoice = paid_invoice(router)

    page, key = refund_page(admin_client, invoice)
    html = page.content.decode()

    assert "€100.00" in html
    assert "At most 10 refunds per payment (0 used)" in html
    assert page.context["form"].initial["amount"] == "100.00"
    assert key.startswith("admin-")

    done = admin_client.post(
        url("refund", invoice.pk),
        {"amount": "30.00", "reason": "one cup broken", "idempotency_key": key},
    )

    assert done.status_code == 302
    assert done["Location"] == change("invoice", invoice.pk)
    refund = Refund.objects.get(invoice=invoice)
    assert (refund.amount, refund.status, refund.reason) == (
        Decimal("30.00"),
        RefundStatus.SUCCEEDED,
        "one cup broken",
    )
    assert refund.idempotency_key == key
    assert refund.requested_by == User.objects.get(username="admin")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert Order.objects.get(pk=invoice.order_id).status == OrderStatus.PARTIALLY_REFUNDED
    assert texts(done) == [
        f"Refunded €30.00 on {invoice.order.reference} (dummy {invoice.gateway_id}). "
        "The invoice is now partially refunded."
    ]
    [sent] = router.requests_to(r"/refunds$", "POST")
    assert sent.headers["Idempotency-Key"] == key

    # The browser re-posts the same page: the same refund, nothing sent again.
    again = admin_client.post(
        url("refund", invoice.pk),
        {"amount": "30.00", "reason": "one cup broken", "idempotency_key": key},
    )
    assert again.status_code == 302
    assert Refund.objects.filter(invoice=invoice).count() == 1
    assert len(router.requests_to(r"/refunds$", "POST")) == 1
    assert "already submitted" in texts(again)[0]

    page, _ = refund_page(admin_client, invoice)
    assert page.context["form"].initial["amount"] == "70.00"
    assert "(1 used)" in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("currency", "amount", "error"),
    [
        ("EUR", "100.01", "At most €100.00 can be refunded."),
        ("EUR", "10.005", "EUR amounts have at most 2 decimal places"),
        ("EUR", "0", "Amount must be greater than zero."),
        ("EUR", "-5", "Amount must be greater than zero."),
        ("EUR", "ten", "is not an amount"),
        ("EUR", "1e2", ""),  # Accepted: 100, the whole amount.
        ("JPY", "99.5", "JPY amounts have at most 0 decimal places"),
        ("KWD", "1.0001", "KWD amounts have at most 3 decimal places"),
    ],
)
def test_refund_part_amount_validation(
    admin_client: Client, currency: str, amount: str, error: str
) -> None:
    value = {"EUR": Decimal("100.00"), "JPY": Decimal("100"), "KWD": Decimal("100.000")}[currency]
    invoice = InvoiceFactory(order=OrderFactory(amount=value, currency=currency), paid=True)
    _, key = refund_page(admin_client, invoice)

    if not error:
        return
    response = admin_client.post(
        url("refund", invoice.pk), {"amount": amount, "reason": "r", "idempotency_key": key}
    )

    assert response.status_code == 200
    assert error in " ".join(response.context["form"].errors["amount"])
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_refund_part_needs_a_reason_and_a_key_from_the_page(admin_client: Client) -> None:
    invoice = InvoiceFactory(paid=True)

    response = admin_client.post(
        url("refund", invoice.pk), {"amount": "1.00", "reason": "", "idempotency_key": "guess"}
    )

    assert set(response.context["form"].errors) == {"reason", "idempotency_key"}
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_refund_part_shows_and_enforces_the_gateways_refund_limit(admin_client: Client) -> None:
    invoice = InvoiceFactory(gateway="onerefund", paid=True)
    RefundFactory(invoice=invoice, amount=Decimal("10.00"), status=RefundStatus.SUCCEEDED)

    page = admin_client.get(url("refund", invoice.pk))
    html = page.content.decode()

    assert "At most 1 refunds per payment (1 used)" in html
    assert "One refund allows at most 1 refunds per payment" in html
    assert "refund_form" not in html
    posted = admin_client.post(
        url("refund", invoice.pk),
        {"amount": "5.00", "reason": "r", "idempotency_key": "admin-x"},
    )
    assert "One refund allows at most 1 refunds" in " ".join(
        posted.context["form"].errors["amount"]
    )
    assert Refund.objects.filter(invoice=invoice).count() == 1
    change_page = admin_client.get(change("invoice", invoice.pk)).content.decode()
    assert 'data-tool="refund"' not in change_page


@pytest.mark.django_db
def test_refund_part_on_a_gateway_that_refunds_only_the_whole(admin_client: Client) -> None:
    invoice = InvoiceFactory(gateway="fullrefund", paid=True)

    page, key = refund_page(admin_client, invoice)
    assert "Only the whole amount can be refunded." in page.content.decode()
    response = admin_client.post(
        url("refund", invoice.pk), {"amount": "40.00", "reason": "r", "idempotency_key": key}
    )

    assert "refunds only the whole amount: €100.00" in " ".join(
        response.context["form"].errors["amount"]
    )
    assert not Refund.objects.exists()


@pytest.mark.django_db
def test_refund_part_action_needs_exactly_one_invoice(admin_client: Client) -> None:
    one, two = InvoiceFactory(paid=True), InvoiceFactory(paid=True)

    many = action(admin_client, "refund_part", one, two)
    single = action(admin_client, "refund_part", one)

    assert many.status_code == 302
    assert texts(many) == ["Select exactly one invoice to refund part of it."]
    assert single["Location"] == url("refund", one.pk)


@pytest.mark.django_db
def test_refund_refused_by_the_gateway_reports_its_reason(
    router: EmulatorRouter, admin_client: Client
) -> None:
    invoice = paid_invoice(router)
    # Refunded in the gateway's own dashboard: the gateway has nothing left to give back.
    set_at_gateway(invoice, refunded_amount="100.00")
    _, key = refund_page(admin_client, invoice)

    done = admin_client.post(
        url("refund", invoice.pk), {"amount": "10.00", "reason": "r", "idempotency_key": key}
    )

    refund = Refund.objects.get(invoice=invoice)
    assert refund.status == RefundStatus.FAILED
    [message] = texts(done)
    assert message.startswith(f"Refund of €10.00 on {invoice.order.reference}")
    assert "Refund exceeds what is left to refund" in message
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


@pytest.mark.django_db
def test_refund_without_an_answer_stays_requested(
    router: EmulatorRouter, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = paid_invoice(router)

    def timeout(refund: Refund) -> Any:
        raise GatewayConnectionError("read timed out", gateway="dummy")

    monkeypatch.setattr(get_gateway("dummy"), "refund", timeout)
    _, key = refund_page(admin_client, invoice)

    done = admin_client.post(
        url("refund", invoice.pk), {"amount": "10.00", "reason": "r", "idempotency_key": key}
    )

    [message] = texts(done)
    assert "no clear answer" in message
    assert "do not refund again" in message
    assert Refund.objects.get(invoice=invoice).status == RefundStatus.REQUESTED
    page, _ = refund_page(admin_client, invoice)
    assert "€10.00" in page.content.decode()  # shown as in progress
    assert page.context["form"].initial["amount"] == "90.00"


# -- verify, capture, cancel -----------------------------------------------------------------


@pytest.mark.django_db
def test_verify_with_gateway(router: EmulatorRouter, admin_client: Client) -> None:
    invoice = started(OrderFactory(reference="V-1"))
    set_at_gateway(invoice, status="paid", captured_amount="100.00")
    unchanged = started(OrderFactory(reference="V-2"))

    done = action(admin_client, "verify_with_gateway", invoice, unchanged)

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert sorted(texts(done)) == [
        f"Verify V-1 (dummy {invoice.gateway_id}): pending → paid (confirmed by the gateway).",
        f"Verify V-2 (dummy {unchanged.gateway_id}): no change: the gateway confirms it is "
        "pending.",
    ]
    assert LogEntry.objects.filter(object_id=str(invoice.pk), action_flag=CHANGE).exists()

    # The button on the invoice page does the same, by POST only.
    assert admin_client.get(url("verify", unchanged.pk)).status_code == 405
    set_at_gateway(unchanged, status="declined")
    button = admin_client.post(url("verify", unchanged.pk))
    assert button["Location"] == change("invoice", unchanged.pk)
    unchanged.refresh_from_db()
    assert unchanged.status == InvoiceStatus.FAILED


@pytest.mark.django_db
def test_verify_reports_a_gateway_error(router: EmulatorRouter, admin_client: Client) -> None:
    invoice = InvoiceFactory(gateway_id="pay_unknown", order=OrderFactory(reference="V-3"))

    done = action(admin_client, "verify_with_gateway", invoice)

    [message] = texts(done)
    assert message.startswith("Verify V-3 (dummy pay_unknown) failed:")
    assert "404" in message or "No such payment" in message


@pytest.mark.django_db
def test_capture_confirms_then_captures(router: EmulatorRouter, admin_client: Client) -> None:
    held = started(OrderFactory(reference="C-1"), "dummy-manual")
    router.client.post(f"/sandbox/dummy/pay/{held.gateway_id}", {"outcome": "paid"})
    held.refresh_from_db()
    assert held.status == InvoiceStatus.AUTHORIZED
    pending = started(OrderFactory(reference="C-2"))
    no_capture = InvoiceFactory(gateway="norefund", status=InvoiceStatus.AUTHORIZED)

    page = action(admin_client, "capture", held, pending, no_capture)

    assert [i["invoice"] for i in page.context["ready"]] == [held]
    reasons = {i["invoice"].pk: i["reason"] for i in page.context["refused"]}
    assert reasons == {
        pending.pk: "only authorized invoices can be captured; this one is pending",
        no_capture.pk: "No refunds does not support capture",
    }
    held.refresh_from_db()
    assert held.status == InvoiceStatus.AUTHORIZED  # nothing yet

    done = action(admin_client, "capture", held, pending, no_capture, post="yes")

    held.refresh_from_db()
    assert held.status == InvoiceStatus.PAID
    assert held.captured_amount == Decimal("100.00")
    pending.refresh_from_db()
    assert pending.status == InvoiceStatus.PENDING
    assert sorted(texts(done)) == [
        f"Capture C-1 (dummy-manual {held.gateway_id}): authorized → paid "
        "(confirmed by the gateway).",
        f"Capture C-2 (dummy {pending.gateway_id}): not done, only authorized invoices can "
        "be captured; this one is pending.",
        f"Capture {no_capture.order.reference} (norefund {no_capture.gateway_id}): not done, "
        "No refunds does not support capture.",
    ]


@pytest.mark.django_db
def test_cancel_from_the_invoice_page(router: EmulatorRouter, admin_client: Client) -> None:
    invoice = started(OrderFactory(reference="X-1"))
    tools = admin_client.get(change("invoice", invoice.pk)).context["multipay_tools"]
    assert [t["name"] for t in tools] == ["verify", "cancel"]

    confirm = admin_client.get(url("cancel", invoice.pk))
    assert confirm.status_code == 200
    assert "Cancel these payments?" in confirm.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING

    done = admin_client.post(url("cancel", invoice.pk), {"post": "yes"})

    assert done["Location"] == change("invoice", invoice.pk)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED
    assert "pending → cancelled" in texts(done)[0]
    with store.table("dummy.payments") as table:
        assert table[invoice.gateway_id]["status"] == "cancelled"

    # Cancelling again is refused before any call.
    calls = len(router.calls)
    again = admin_client.post(url("cancel", invoice.pk), {"post": "yes"})
    assert "not done, only unpaid invoices can be cancelled" in texts(again)[0]
    assert len(router.calls) == calls


@pytest.mark.django_db
def test_capture_declined_by_the_gateway(
    router: EmulatorRouter, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = started(OrderFactory(reference="C-9"), "dummy-manual")
    router.client.post(f"/sandbox/dummy/pay/{held.gateway_id}", {"outcome": "paid"})
    held.refresh_from_db()
    assert held.status == InvoiceStatus.AUTHORIZED

    def refuse(invoice: Invoice, amount: Decimal) -> Any:
        raise PaymentDeclined("Capture declined: card expired", gateway="dummy-manual")

    monkeypatch.setattr(get_gateway("dummy-manual"), "capture", refuse)

    done = action(admin_client, "capture", held, post="yes")

    assert texts(done) == [
        f"Capture C-9 (dummy-manual {held.gateway_id}) failed: "
        "[dummy-manual] Capture declined: card expired"
    ]
    held.refresh_from_db()
    assert held.status == InvoiceStatus.AUTHORIZED
    assert LogEntry.objects.filter(
        object_id=str(held.pk), change_message__contains="Capture failed"
    ).exists()


# -- reprocessing notifications --------------------------------------------------------------


@pytest.mark.django_db
def test_reprocess_a_failed_notification(router: EmulatorRouter, admin_client: Client) -> None:
    invoice = started(OrderFactory(reference="N-1"))
    set_at_gateway(invoice, status="paid", captured_amount="100.00")
    failed = NotificationFactory(
        invoice=invoice, result=NotificationResult.FAILED, reason="gateway timed out"
    )
    orphan = NotificationFactory(result=NotificationResult.REJECTED, reason="unknown invoice")
    done_already = NotificationFactory(invoice=invoice, result=NotificationResult.PROCESSED)

    done = action(admin_client, "reprocess", failed, orphan, done_already, model="notification")

    failed.refresh_from_db()
    assert failed.result == NotificationResult.PROCESSED
    assert failed.attempts == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    messages = {m.split(" ", 2)[1]: m for m in texts(done)}
    assert "reprocessed: failed → processed" in messages[f"#{failed.pk}"]
    assert "cannot be replayed" in messages[f"#{orphan.pk}"]
    assert "unknown invoice" in messages[f"#{orphan.pk}"]
    assert "only failed or rejected" in messages[f"#{done_already.pk}"]
    orphan.refresh_from_db()
    assert orphan.result == NotificationResult.REJECTED
    assert LogEntry.objects.filter(object_id=str(failed.pk), action_flag=CHANGE).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("signed_ago", [0, 3600], ids=["signature-fresh", "signature-aged"])
def test_reprocessing_a_refund_notification_settles_the_refund(
    router: EmulatorRouter, admin_client: Client, signed_ago: int
) -> None:
    """A refund notification reprocessed from the admin is a refund notification: its refund
    is settled from the gateway's refund list, not the payment's status read again. Once its
    signature has aged, what it says is not taken: both are read from the gateway."""
    invoice = paid_invoice(router, reference="N-R")
    refund, _ = processing.reserve_refund(
        invoice.pk, Decimal("20.00"), idempotency_key="admin-replay", partial_allowed=True
    )
    # The refund is made, but its answer and its webhook are lost; the gateway's status read
    # of the payment still says "paid" (it does not count refunds).
    set_at_gateway(invoice, _notify_url="http://testserver/nowhere/")
    get_gateway("dummy").refund(refund)
    set_at_gateway(invoice, status="paid")
    with store.table("dummy.payments") as table:
        event = dummy_emulator.refund_event_for(
            table[invoice.gateway_id], table[invoice.gateway_id]["_refunds"][0]
        )
    body = json.dumps(event)
    secret = get_gateway("dummy").options["webhook_secret"]
    failed = NotificationFactory(
        invoice=invoice,
        result=NotificationResult.FAILED,
        reason="gateway timed out",
        body=body,
        headers={SIGNATURE_HEADER: sign(secret, int(time.time()) - signed_ago, body.encode())},
    )

    action(admin_client, "reprocess", failed, model="notification")

    refund.refresh_from_db()
    invoice.refresh_from_db()
    failed.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert invoice.refunded_amount == Decimal("20.00")
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED
    assert failed.result == NotificationResult.PROCESSED


@pytest.mark.django_db
def test_reprocess_button_on_the_notification_page(
    router: EmulatorRouter, admin_client: Client
) -> None:
    invoice = started(OrderFactory(reference="N-2"))
    rejected = NotificationFactory(
        invoice=invoice, result=NotificationResult.REJECTED, reason="disagrees"
    )
    page = admin_client.get(change("notification", rejected.pk))
    assert [t["name"] for t in page.context["multipay_tools"]] == ["reprocess"]
    reprocess = reverse("admin:django_multipay_notification_reprocess", args=[rejected.pk])

    done = admin_client.post(reprocess)

    assert done["Location"] == change("notification", rejected.pk)
    rejected.refresh_from_db()
    # The gateway still says pending: nothing to change, and the row says so.
    assert rejected.result == NotificationResult.DUPLICATE
    assert "rejected → ignored as duplicate" in texts(done)[0]
    assert admin_client.get(reprocess).status_code == 405


# -- permissions -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_view_only_staff_sees_no_action(router: EmulatorRouter) -> None:
    client = staff("view_invoice", "view_refund", "view_notification", "view_order")
    invoice = paid_invoice(router)
    pending = started(OrderFactory())
    notification = NotificationFactory(invoice=pending, result=NotificationResult.FAILED)

    assert action_names(client) == set()
    assert action_names(client, "notification") == set()
    assert client.get(change("invoice", invoice.pk)).context["multipay_tools"] == []
    assert client.get(change("notification", notification.pk)).context["multipay_tools"] == []
    assert client.get(url("refund", invoice.pk)).status_code == 403
    assert client.post(url("verify", pending.pk)).status_code == 403
    assert client.post(url("cancel", pending.pk), {"post": "yes"}).status_code == 403
    reprocess = reverse("admin:django_multipay_notification_reprocess", args=[notification.pk])
    assert client.post(reprocess).status_code == 403
    # Actions posted by hand are refused too.
    action(client, "refund_in_full", invoice, post="yes")
    action(client, "cancel", pending, post="yes")
    assert not Refund.objects.exists()
    pending.refresh_from_db()
    assert pending.status == InvoiceStatus.PENDING
    notification.refresh_from_db()
    assert notification.result == NotificationResult.FAILED


@pytest.mark.django_db
def test_refund_permission_gives_refunds_only(router: EmulatorRouter) -> None:
    client = staff("view_invoice", "add_refund")
    invoice = paid_invoice(router)

    assert action_names(client) == {"refund_in_full", "refund_part"}
    tools = client.get(change("invoice", invoice.pk)).context["multipay_tools"]
    assert [t["name"] for t in tools] == ["refund"]
    assert client.post(url("verify", invoice.pk)).status_code == 403
    _, key = refund_page(client, invoice)
    client.post(
        url("refund", invoice.pk), {"amount": "5.00", "reason": "r", "idempotency_key": key}
    )
    refund = Refund.objects.get(invoice=invoice)
    assert refund.requested_by is not None
    assert refund.requested_by.username.startswith("staff")


@pytest.mark.django_db
def test_change_permission_gives_verify_capture_cancel(router: EmulatorRouter) -> None:
    client = staff("view_invoice", "change_invoice")
    pending = started(OrderFactory())

    assert action_names(client) == {"verify_with_gateway", "capture", "cancel"}
    assert client.get(url("refund", pending.pk)).status_code == 403
    client.post(url("cancel", pending.pk), {"post": "yes"})
    pending.refresh_from_db()
    assert pending.status == InvoiceStatus.CANCELLED


@pytest.mark.django_db
def test_reprocess_needs_change_notification() -> None:
    assert action_names(staff("view_notification", "change_notification"), "notification") == {
        "reprocess"
    }
    assert action_names(staff("view_notification"), "notification") == set()


@pytest.mark.django_db
def test_refund_permission_without_seeing_invoices_is_refused() -> None:
    client = staff("add_refund")
    invoice = InvoiceFactory(paid=True)

    assert client.get(url("refund", invoice.pk)).status_code == 403
    response = client.post(
        url("refund", invoice.pk), {"amount": "1.00", "reason": "r", "idempotency_key": "admin-1"}
    )
    assert response.status_code == 403
    assert not Refund.objects.exists()


def test_invoice_page_shows_a_pushed_reference(admin_client: Any, router: Any) -> None:
    """Paylands' Payshop reference is on the invoice page, for the operator on the phone."""
    order = OrderFactory()
    payments.start_payment(order, "paylands", options={"apm": "PAYSHOP", "push": True})
    invoice = order.invoices.get()
    reference = get_gateway("paylands").payment_reference(invoice)
    assert reference is not None
    page = admin_client.get(f"/admin/django_multipay/invoice/{invoice.pk}/change/")
    assert page.status_code == 200
    assert f"reference: {reference.reference}" in page.content.decode()
