"""The dummy gateway: the shared contract, plus its own wire details."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests

from django_multipay.gateways.dummy import SIGNATURE_HEADER, sign, verify_signature
from django_multipay.models import Invoice
from django_multipay.sandbox import dummy as emulator
from django_multipay.sandbox.store import store
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.router import EmulatorRouter
from tests.contracts.attacks import JSON, AttackContract
from tests.contracts.faults import FaultContract, path_of

WEBHOOK_SECRET = "dummy-webhook-secret-one"


class TestDummyContract(GatewayContract):
    alias = "dummy"
    sandbox_path = "/sandbox/dummy/"

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # The hosted page would notify the shop at once; change the state silently instead.
        status = {"paid": "paid", "declined": "declined", "cancelled": "cancelled"}[outcome]
        with store.table("dummy.payments") as payments:
            payment = payments[invoice.gateway_id]
            payment["status"] = status
            if status == "paid":
                payment["captured_amount"] = payment["amount"]

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        response = router.client.post(
            f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": outcome}
        )
        assert response.status_code == 302, response.content

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        with store.table("dummy.payments") as payments:
            payment = payments[invoice.gateway_id]
        body = json.dumps(emulator.notification_for(payment)).encode()
        return body, {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(WEBHOOK_SECRET, int(time.time()), body),
        }


class DummyManual(TestDummyContract):
    """The manual-capture alias: its payments wait for a capture; its own webhook secret."""

    alias = "dummy-manual"

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        body, headers = super().notification(invoice)
        stamp = int(headers[SIGNATURE_HEADER].split(",")[0].split("=")[1])
        signature = sign("dummy-webhook-secret-two", stamp, body)
        return body, {**headers, SIGNATURE_HEADER: signature}


class DummySuites(AttackContract, FaultContract):
    """The attack and fault suites' hooks for the dummy backend (tests/contracts/)."""

    signed = "header"
    timestamped = True
    amount_forms = ("decimal",)

    def genuine(self, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        stamp = int(time.time()) if at is None else at
        with store.table("dummy.payments") as payments:
            payment = payments[invoice.gateway_id]
        body = json.dumps(emulator.notification_for(payment)).encode()
        signature = sign(self.option("webhook_secret"), stamp, body)
        return body, {"Content-Type": JSON, SIGNATURE_HEADER: signature}

    def is_refund_call(self, request: requests.PreparedRequest) -> bool:
        return request.method == "POST" and path_of(request).endswith("/refunds")


class TestDummySuites(DummySuites):
    contract = TestDummyContract


class TestDummyManualSuites(DummySuites):
    contract = DummyManual
    holds = True


def test_the_emulator_signs_as_its_document_says() -> None:
    # docs/gateways/dummy.md, "Signature": t=<unix time>,v1=<hex HMAC-SHA256(webhook_secret,
    # "<t>." + body)>, over the raw body bytes; computed by the emulator itself.
    body = b'{"id": "evt_1", "data": {"reference": "r\xc3\xa9"}}'
    digest = hmac.new(b"secret", b"1735732800." + body, hashlib.sha256).hexdigest()
    assert emulator.sign("secret", 1735732800, body) == f"t=1735732800,v1={digest}"
    assert emulator.SIGNATURE_HEADER == SIGNATURE_HEADER == "Multipay-Signature"
    # The backend, reading the same document apart, takes it.
    now = int(time.time())
    verify_signature("secret", emulator.sign("secret", now, body), body, tolerance=300)
    assert emulator.sign("secret", now, body) == sign("secret", now, body)
