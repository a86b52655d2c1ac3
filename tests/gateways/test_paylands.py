"""The Paylands gateway: the shared contract, run against its emulator."""

from __future__ import annotations

import json

import requests

from django_multipay.gateways.paylands_hash import php_json
from django_multipay.models import Invoice
from django_multipay.sandbox import paylands as emulator
from django_multipay.sandbox.store import store
from django_multipay.testing.contract import GatewayContract
from django_multipay.testing.router import EmulatorRouter
from tests.contracts.attacks import JSON, AttackContract
from tests.contracts.faults import FaultContract, path_of

CARDS = {"paid": "5590337536718399", "declined": "5485009949201879"}


def emulated_order(invoice: Invoice) -> dict:
    with store.table(emulator.ORDERS) as orders:
        return orders[invoice.gateway_id]


class TestPaylandsContract(GatewayContract):
    alias = "paylands"
    sandbox_path = "/sandbox/paylands/"

    def complete_payment(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        page = invoice.redirect_url.replace("http://testserver", "")
        if outcome == "cancelled":
            response = router.client.post(page, {"action": "cancel"})
        else:
            response = router.client.post(page, {"action": "pay", "card_number": CARDS[outcome]})
        assert response.status_code == 302, response.content

    def settle_at_gateway(self, router: EmulatorRouter, invoice: Invoice, outcome: str) -> None:
        # The payment page would notify the shop at once; change the order silently instead.
        status = {"paid": "SUCCESS", "declined": "REFUSED", "cancelled": "USER_CANCELLED"}
        order = emulated_order(invoice)
        with store.table(emulator.ORDERS):
            order["status"] = status[outcome]
            if outcome == "paid":
                order["transactions"].append(
                    emulator._transaction("AUTHORIZATION", order["amount"])
                )

    def notification(self, invoice: Invoice) -> tuple[bytes, dict[str, str]]:
        body = emulator.notification_for(emulated_order(invoice))
        return php_json(body).encode(), {"Content-Type": "application/json"}

    def forge(self, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        # Claim a payment without the signature credential: the hash no longer matches.
        payload = json.loads(body)
        payload["order"]["status"] = "SUCCESS"
        payload["order"]["paid"] = True
        return json.dumps(payload).encode(), headers


class PaylandsDeferred(TestPaylandsContract):
    alias = "paylands-deferred"


class PaylandsSuites(AttackContract, FaultContract):
    """The attack and fault suites' hooks for Paylands' aliases (tests/contracts/)."""

    signed = "body"
    signature_field = "validation_hash"
    amount_forms = ("minor",)

    def genuine(self, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
        payload = emulator.notification_for(emulated_order(invoice))
        return php_json(payload).encode(), {"Content-Type": JSON}

    def is_refund_call(self, request: requests.PreparedRequest) -> bool:
        return request.method == "POST" and path_of(request).endswith("/payment/refund")


class TestPaylandsSuites(PaylandsSuites):
    contract = TestPaylandsContract


class TestPaylandsDeferredSuites(PaylandsSuites):
    contract = PaylandsDeferred
    holds = True
