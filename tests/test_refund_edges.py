"""Refunds after faults: a line settles only a refund tied to it; every unknown has a way out."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_multipay import payments, reconcile
from django_multipay.exceptions import MultipayError, RefundRefused
from django_multipay.models import Invoice, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portpos as portpos_emulator
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.test_faults import FAULTS, Fault, driver, faulty, is_refund_call, outcome_of

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_GATEWAY = next(f for f in FAULTS if f.name == "http_500")
#: A 500 answered after the gateway made the refund.
AFTER_GATEWAY = Fault("http_500", reaches_gateway=True)


def judge_at_once(settings: Any) -> None:
    settings.MULTIPAY = {**settings.MULTIPAY, "REFUND_SETTLE_UNKNOWN_AFTER": 0}


def portpos_invoice(router: EmulatorRouter, amount: str = "1450.00") -> Invoice:
    gateway = driver("portpos")
    gateway.amount = Decimal(amount)
    invoice = gateway.start(gateway.make_order())
    gateway.complete_payment(router, invoice, "paid")
    payments.refresh(invoice)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.captured_amount == Decimal(amount)
    return invoice


def portpos_refunded(invoice: Invoice) -> Decimal:
    """What the PortPos emulator itself has refunded on the invoice."""
    with portpos_emulator.store.table(portpos_emulator.TABLE) as invoices:
        held = invoices[invoice.gateway_id]["_refunds"]
        return sum((Decimal(r["amount"]) for r in held if r["status"] != "REJECTED"), Decimal(0))


def refund_with(
    router: EmulatorRouter, invoice: Invoice, amount: str, key: str, fault: Any
) -> Refund:
    if fault is None:
        payments.refund(invoice, amount, idempotency_key=key)
    else:
        with faulty(router, fault, is_refund_call(invoice.gateway), lose_webhooks=True):
            assert isinstance(
                outcome_of(payments.refund, invoice, amount, idempotency_key=key), MultipayError
            )
    return Refund.objects.get(idempotency_key=key)


# -- case 1: a refund line settles at most one refund, and only one the gateway knows ----------


@pytest.mark.parametrize("lines", [False, True], ids=["documented-invoice", "with-refund-lines"])
def test_portpos_refund_that_never_arrived_is_not_settled_by_another(
    router: EmulatorRouter, settings: Any, lines: bool
) -> None:
    """1450.00 BDT paid; R1 362.50 answered 500 before PortPos saw it; R2 362.50 succeeds; the
    refund IPN and reconciliation then settle R2 only: PortPos holds one refund of 362.50."""
    judge_at_once(settings)
    portpos_emulator.set_refund_lines(lines)
    invoice = portpos_invoice(router)
    first = refund_with(router, invoice, "362.50", "r1", BEFORE_GATEWAY)
    second = refund_with(router, invoice, "362.50", "r2", None)
    assert portpos_refunded(invoice) == Decimal("362.50")
    for _ in range(2):  # the IPN came with R2's answer; reconciliation reads again
        reconcile.run()
        first.refresh_from_db()
        second.refresh_from_db()
        invoice.refresh_from_db()
        assert second.status == RefundStatus.SUCCEEDED
        assert first.status != RefundStatus.SUCCEEDED
        assert invoice.refunded_amount == Decimal("362.50")
    if lines:
        # PortPos itemises its refunds: R2's line is R2's, and nothing is left for R1.
        assert first.status == RefundStatus.FAILED
        assert first.gateway_data["matched_by"] == "absent"
    else:
        # Only "PARTIALLY_REFUNDED": R1 may or may not be in it. It stays unknown, for a person.
        assert first.status == RefundStatus.REQUESTED


def test_refunded_total_caps_what_answered_refunds_settle(router: EmulatorRouter) -> None:
    """Two answered refunds, and the invoice says REFUNDED: never more than was captured."""
    invoice = portpos_invoice(router, "100.00")
    portpos_emulator.set_refund_mode("pending")
    a = payments.refund(invoice, "60.00")
    b = payments.refund(invoice, "40.00")
    assert (a.status, b.status) == (RefundStatus.PENDING, RefundStatus.PENDING)
    portpos_emulator.settle_refunds(invoice.gateway_id, "refunded", notify=True)
    a.refresh_from_db()
    b.refresh_from_db()
    invoice.refresh_from_db()
    assert (a.status, b.status) == (RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED)
    assert invoice.refunded_amount == Decimal("100.00")
    assert invoice.status == InvoiceStatus.REFUNDED


# -- case 3: PortPos refunds settle from what PortPos documents -------------------------------


SANDBOX = "https://api-sandbox.portpos.com/payment/v2/"


def documented_invoice(invoice_id: str, status: str, amount: str = "3393.00") -> dict[str, Any]:
    """Retrieving an invoice, as the document's sample shows it: purchase and fee lines only."""
    return {
        "result": "success",
        "data": {
            "invoice_id": invoice_id,
            "reference": "123",
            "order": {"amount": amount, "currency": "BDT", "type": "purchase", "status": status},
            "transactions": [
                {"amount": amount, "currency": "BDT", "status": "ACCEPTED", "type": "purchase"},
                {"amount": "-102.79", "currency": "BDT", "status": "ACCEPTED", "type": "fee"},
            ],
        },
    }


@responses.activate
def test_portpos_refund_settles_from_the_documented_invoice_state(settings: Any) -> None:
    config = json.loads(json.dumps(settings.MULTIPAY))
    config["GATEWAYS"]["portpos"]["OPTIONS"]["base_url"] = SANDBOX
    settings.MULTIPAY = config
    invoice = Invoice.objects.create(
        order=payments.create_order(reference="PP-DOC", amount="3393.00", currency="BDT"),
        gateway="portpos",
        gateway_id="85BC30171EA29531",
        amount=Decimal("3393.00"),
        currency="BDT",
        status=InvoiceStatus.PAID,
        captured_amount=Decimal("3393.00"),
    )
    # Refund Request's sample answer: 202, the order REFUND_PENDING, the refund APPROVED.
    responses.post(
        SANDBOX + "invoice/refund/85BC30171EA29531",
        status=202,
        json={
            "data": {
                "order": {
                    "invoice": "85BC30171EA29531",
                    "amount": "3393.00",
                    "currency": "BDT",
                    "status": "REFUND_PENDING",
                },
                "refund": {"amount": 100, "status": "APPROVED"},
            },
            "result": "SUCCESS",
        },
    )
    refund = payments.refund(invoice, "100.00")
    assert refund.status == RefundStatus.PENDING
    responses.get(
        SANDBOX + "invoice/85BC30171EA29531",
        json=documented_invoice("85BC30171EA29531", "REFUND_PENDING"),
    )
    assert payments.sync_refunds(invoice) == []  # still under way: nothing settles
    responses.replace(
        responses.GET,
        SANDBOX + "invoice/85BC30171EA29531",
        json=documented_invoice("85BC30171EA29531", "PARTIALLY_REFUNDED"),
    )
    # The refund IPN names the invoice; the invoice read says PARTIALLY_REFUNDED.
    body = "invoice=85BC30171EA29531&amount=100.00&status=PARTIALLY_REFUNDED&reference=" + str(
        invoice.pk
    )
    answer = Client().post(
        reverse("django_multipay:notify", kwargs={"alias": "portpos"}),
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200, answer.content
    refund.refresh_from_db()
    invoice.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert refund.gateway_data["matched_by"] == "total"
    assert invoice.refunded_amount == Decimal("100.00")
    assert invoice.status == InvoiceStatus.PARTIALLY_REFUNDED


# -- case 2: no refund stays "requested" for ever ------------------------------------------------


@pytest.mark.parametrize("alias", ["paylands", "dummy", "postpay", "portone", "portwallet"])
def test_reconciliation_fails_a_refund_that_never_reached_the_gateway(
    router: EmulatorRouter, settings: Any, alias: str
) -> None:
    gateway = driver(alias)
    invoice = gateway.start(gateway.make_order())
    gateway.complete_payment(router, invoice, "paid")
    payments.refresh(invoice)
    invoice.refresh_from_db()
    if invoice.status == InvoiceStatus.AUTHORIZED:
        payments.capture(invoice)
        invoice.refresh_from_db()
    amount = (invoice.amount / 4).quantize(Decimal("0.01"))
    lost = refund_with(router, invoice, str(amount), "never-arrived", BEFORE_GATEWAY)
    assert lost.status == RefundStatus.REQUESTED
    # Within the wait, a call could still be in flight: nothing is judged.
    reconcile.run()
    lost.refresh_from_db()
    assert lost.status == RefundStatus.REQUESTED
    judge_at_once(settings)
    reconcile.run()
    lost.refresh_from_db()
    invoice.refresh_from_db()
    assert lost.status == RefundStatus.FAILED, lost.failure_reason
    assert lost.failure_reason.startswith("Not made")
    assert invoice.refunded_amount == Decimal(0)
    # Its amount is free again, and a new refund of it goes through.
    again = payments.refund(invoice, amount, idempotency_key="second-try")
    assert again.status in (RefundStatus.SUCCEEDED, RefundStatus.PENDING)


def test_refund_made_despite_a_500_settles_by_exclusion(
    router: EmulatorRouter, settings: Any
) -> None:
    """Paylands made it, the answer was a 500: its line is the only money no refund explains."""
    judge_at_once(settings)
    gateway = driver("paylands")
    invoice = gateway.start(gateway.make_order())
    gateway.complete_payment(router, invoice, "paid")
    payments.refresh(invoice)
    invoice.refresh_from_db()
    made = refund_with(router, invoice, "10.00", "made-then-500", AFTER_GATEWAY)
    assert made.status == RefundStatus.REQUESTED
    reconcile.run()
    made.refresh_from_db()
    invoice.refresh_from_db()
    assert made.status == RefundStatus.SUCCEEDED
    assert made.gateway_data["matched_by"] == "exclusion"
    assert made.gateway_refund_id  # the gateway's line, and its id, are kept
    assert invoice.refunded_amount == Decimal("10.00")


def staff(perms: tuple[str, ...] = ("add_refund", "view_refund", "view_invoice")) -> Any:
    user = get_user_model().objects.create_user("operator", "op@example.com", "pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=perms))
    return user


def test_staff_resolve_an_unknown_refund_in_the_admin(
    router: EmulatorRouter, signal_log: SignalLog
) -> None:
    invoice = portpos_invoice(router)
    lost = refund_with(router, invoice, "362.50", "lost-admin", BEFORE_GATEWAY)
    client = Client()
    client.force_login(staff())
    # The refund form warns that a refund of unknown outcome exists.
    form = client.get(reverse("admin:django_multipay_invoice_refund", args=[invoice.pk]))
    assert form.status_code == 200
    assert b"multipay-unknown-warning" in form.content
    assert "362.50" in form.content.decode()
    change = client.get(reverse("admin:django_multipay_refund_change", args=[lost.pk]))
    url = reverse("admin:django_multipay_refund_resolve", args=[lost.pk])
    assert url in change.content.decode()
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "What PortPos reports now" in text
    assert "<strong>nothing refunded</strong>" in text  # the invoice reads ACCEPTED
    # A decision without a reason is refused, and changes nothing.
    refused = client.post(url, {"decision": "not_refunded", "reason": "  "})
    assert refused.status_code == 200
    lost.refresh_from_db()
    assert lost.status == RefundStatus.REQUESTED
    before = signal_log.count("refund_status_changed")
    done = client.post(url, {"decision": "not_refunded", "reason": "Not in the PortPos panel"})
    assert done.status_code == 302
    lost.refresh_from_db()
    invoice.refresh_from_db()
    assert lost.status == RefundStatus.FAILED
    assert lost.resolved_by is not None
    assert lost.resolved_by.username == "operator"
    assert lost.resolved_at is not None
    assert lost.resolution_note == "not refunded: Not in the PortPos panel"
    assert signal_log.count("refund_status_changed") == before + 1
    # Shown on the refund's page, and the amount is free again.
    shown = client.get(reverse("admin:django_multipay_refund_change", args=[lost.pk]))
    assert "Not in the PortPos panel" in shown.content.decode()
    assert payments.refund(invoice, "1450.00").status == RefundStatus.SUCCEEDED
    # A settled refund cannot be resolved again.
    again = client.post(url, {"decision": "refunded", "reason": "changed my mind"})
    assert again.status_code == 302
    lost.refresh_from_db()
    assert lost.status == RefundStatus.FAILED


def test_resolve_refuses_without_a_reason_and_on_settled_refunds(router: EmulatorRouter) -> None:
    invoice = portpos_invoice(router)
    done = payments.refund(invoice, "10.00")
    with pytest.raises(RefundRefused) as settled:
        payments.resolve_refund(done, refunded=False, user=None, reason="x")
    assert settled.value.code == "invalid_status"
    lost = refund_with(router, invoice, "10.00", "lost-py", BEFORE_GATEWAY)
    with pytest.raises(RefundRefused) as no_reason:
        payments.resolve_refund(lost, refunded=False, user=None, reason="")
    assert no_reason.value.code == "reason_required"


def test_a_refund_still_in_flight_is_never_judged(router: EmulatorRouter) -> None:
    """Made a moment ago, its call may still be under way: absent from the list proves nothing."""
    invoice = portpos_invoice(router)
    Refund.objects.create(
        invoice=invoice, amount=Decimal("5.00"), currency="BDT", idempotency_key="in-flight"
    )
    reconcile.run()
    assert Refund.objects.get(idempotency_key="in-flight").status == RefundStatus.REQUESTED
    Refund.objects.filter(idempotency_key="in-flight").update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    reconcile.run()
    # Now past the wait, and PortPos reads ACCEPTED (nothing refunded): it was not made.
    assert Refund.objects.get(idempotency_key="in-flight").status == RefundStatus.FAILED
    assert get_gateway("portpos").supports("list_refunds")


def test_partial_state_can_be_told_to_settle_nothing(router: EmulatorRouter, settings: Any) -> None:
    config = json.loads(json.dumps(settings.MULTIPAY))
    config["GATEWAYS"]["portpos"]["OPTIONS"]["settle_refunds_from_state"] = False
    settings.MULTIPAY = config
    invoice = portpos_invoice(router, "100.00")
    portpos_emulator.set_refund_mode("pending")
    refund = payments.refund(invoice, "30.00")
    portpos_emulator.settle_refunds(invoice.gateway_id, "refunded", notify=True)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING  # for a person: PARTIALLY_REFUNDED says too little
    payments.resolve_refund(refund, refunded=True, user=None, reason="Seen in the PortPos panel")
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("30.00") == portpos_refunded(invoice)
