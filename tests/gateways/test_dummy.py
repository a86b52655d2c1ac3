"""The dummy gateway: the shared contract, plus its own wire details."""

from __future__ import annotations

import json
import time

from django_multipay.gateways.dummy import SIGNATURE_HEADER, sign
from django_multipay.models import Invoice
from django_multipay.sandbox import dummy as emulator
from django_multipay.sandbox.store import store
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.router import EmulatorRouter

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
