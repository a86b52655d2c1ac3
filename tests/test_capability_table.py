"""docs/gateways/index.md's capability table is made from what each backend declares."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from django.utils.module_loading import import_string

from django_multipay.gateways.base import BaseGateway, Capabilities

INDEX = Path(__file__).resolve().parent.parent / "docs" / "gateways" / "index.md"
START, END = "<!-- capabilities:start -->", "<!-- capabilities:end -->"
BACKENDS = (
    ("Dummy", "django_multipay.gateways.dummy.DummyGateway"),
    ("PortPos", "django_multipay.gateways.portpos.PortPosGateway"),
    ("PortWallet", "django_multipay.gateways.portwallet.PortWalletGateway"),
    ("Postpay", "django_multipay.gateways.postpay.PostpayGateway"),
    ("PortOne", "django_multipay.gateways.portone.PortOneGateway"),
    ("Paylands", "django_multipay.gateways.paylands.PaylandsGateway"),
)
#: An en dash: what the table shows for "no".
NO = "\u2013"
COLUMNS = (
    "Gateway",
    "Refunds",
    "Refund retried after a timeout",
    "Capture",
    "Cancel",
    "Status read",
    "Listing (reconciliation)",
    "Refund list",
    "Settlement",
    "Signed notifications",
    "Currencies",
    "Amounts",
)


def _yes(value: bool) -> str:
    return "yes" if value else NO


def _amounts(low: Decimal | None, high: Decimal | None) -> str:
    if low is None and high is None:
        return "any"
    return f"{low if low is not None else 'any'} to {high if high is not None else 'any'}"


def row(name: str, backend: type[BaseGateway]) -> str:
    caps: Capabilities = backend.capabilities
    refunds = NO
    if caps.refund:
        refunds = "full"
        if caps.partial_refund:
            refunds = (
                f"full and partial (at most {caps.max_refunds})"
                if caps.max_refunds
                else "full and partial"
            )
    lists = backend.fetch_statuses is not BaseGateway.fetch_statuses
    currencies = ", ".join(sorted(caps.currencies)) if caps.currencies else "any"
    cells = (
        name,
        refunds,
        _yes(caps.idempotent_refunds),
        _yes(caps.capture),
        _yes(caps.cancel),
        _yes(caps.fetch_status),
        _yes(lists),
        _yes(caps.list_refunds),
        _yes(caps.settlement),
        _yes(caps.signed_notifications),
        currencies,
        _amounts(caps.min_amount, caps.max_amount),
    )
    return "| " + " | ".join(cells) + " |"


def table() -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *(row(name, import_string(path)) for name, path in BACKENDS),
    ]
    return "\n".join(lines)


def test_the_capability_table_is_what_the_backends_declare():
    text = INDEX.read_text()
    documented = text.split(START, 1)[1].split(END, 1)[0].strip()
    expected = table()
    assert documented == expected, (
        f"docs/gateways/index.md should read:\n{START}\n{expected}\n{END}"
    )
