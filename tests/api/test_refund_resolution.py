"""Staff resolve a refund of unknown outcome through the API; nobody else can."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytest.importorskip("rest_framework")

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from django_multipay.status import RefundStatus
from django_multipay.testing.fixtures import SignalLog
from django_multipay.testing.router import EmulatorRouter
from tests.test_refund_edges import (
    AFTER_GATEWAY,
    portpos_invoice,
    portpos_refunded,
    refund_with,
    staff,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_resolve_through_the_api(router: EmulatorRouter, signal_log: SignalLog) -> None:
    invoice = portpos_invoice(router)
    lost = refund_with(router, invoice, "100.00", "lost-api", AFTER_GATEWAY)
    url = f"/api/refunds/{lost.pk}/resolve/"
    body = {"refunded": True, "reason": "PortPos support confirmed it"}
    customer = get_user_model().objects.create_user("buyer", "b@example.com", "pw")
    client = Client()
    client.force_login(customer)
    assert client.post(url, body, content_type="application/json").status_code in (403, 404)
    client.force_login(staff(perms=("view_refund",)))
    assert client.post(url, body, content_type="application/json").status_code == 403
    operator = get_user_model().objects.create_user("op2", "o@example.com", "pw", is_staff=True)
    operator.user_permissions.add(*Permission.objects.filter(codename="add_refund"))
    client.force_login(operator)
    missing = client.post(url, {"refunded": True}, content_type="application/json")
    assert missing.status_code == 400
    assert "reason" in missing.content.decode()
    lost.refresh_from_db()
    assert lost.status == RefundStatus.REQUESTED
    before = signal_log.count("refund_status_changed")
    answer = client.post(url, body, content_type="application/json")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["status"] == RefundStatus.SUCCEEDED
    assert data["resolved_by"] == "op2"
    assert data["resolution_note"] == "refunded: PortPos support confirmed it"
    assert data["outcome_unknown"] is False
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("100.00") == portpos_refunded(invoice)
    assert signal_log.count("refund_status_changed") == before + 1
    conflict = client.post(url, body, content_type="application/json")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "invalid_status"
