"""Property: refunds under faults, notifications and reconciliation never outcount the gateway."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from django_multipay import money, payments, reconcile
from django_multipay.exceptions import MultipayError
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.sandbox.store import store
from django_multipay.status import RefundStatus
from django_multipay.testing.router import EmulatorRouter
from tests.test_faults import REFUND_ALIASES, Fault, driver, faulty, is_refund_call, paid_invoice

pytestmark = pytest.mark.django_db(transaction=True)

#: The faults a refund call meets: none; a 500 before the gateway acts; a 500 after it acted;
#: a timeout (it acted, the answer is lost); a connection reset (it never arrived).
FAULTS: dict[str, Fault | None] = {
    "none": None,
    "http_500_before": Fault("http_500", reaches_gateway=False),
    "http_500_after": Fault("http_500", reaches_gateway=True),
    "timeout": Fault("timeout", reaches_gateway=True),
    "connection_reset": Fault("connection_reset", reaches_gateway=False),
}
NO_FAULT = Fault("none", reaches_gateway=True)  # never used: nothing matches when unfaulted

#: Refund amounts, in thousandths of the invoice: a few fixed shares (so that refunds of equal
#: amounts, which only ids can tell apart, are common) and any small share.
SHARES = st.one_of(st.sampled_from([125, 250, 375, 500]), st.integers(min_value=1, max_value=300))
FAULT_NAMES = st.sampled_from(sorted(FAULTS))

refund_steps = st.tuples(st.just("refund"), SHARES, FAULT_NAMES, st.booleans())
#: The caller tries an earlier refund again, with its key and amount.
retry_steps = st.tuples(st.just("retry"), st.integers(0, 9), FAULT_NAMES, st.booleans())
#: A refund notification: what it triggers is ``payments.sync_refunds``.
notify_steps = st.tuples(st.just("notify"))
reconcile_steps = st.tuples(st.just("reconcile"))
STEPS = st.lists(
    st.one_of(refund_steps, retry_steps, notify_steps, reconcile_steps), min_size=1, max_size=10
)

#: Issue 14, case 1: a refund whose call never reached the gateway, then one of the same
#: amount that succeeded, then the refund notification and reconciliation.
ISSUE_14 = [
    ("refund", 250, "http_500_before", True),
    ("refund", 250, "none", False),
    ("notify",),
    ("reconcile",),
]
#: Two refunds of one amount whose answers were lost; only the first reached the gateway.
LOST_TWINS = [
    ("refund", 125, "timeout", True),
    ("refund", 125, "connection_reset", True),
    ("notify",),
    ("retry", 1, "none", False),
    ("reconcile",),
]

_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def judge_lost_refunds_at_once(settings: Any) -> None:
    """No call is still in flight when reconciliation or a notification reads the gateway."""
    settings.MULTIPAY = {**settings.MULTIPAY, "REFUND_SETTLE_UNKNOWN_AFTER": 0}


# -- the gateway's own record: read from each emulator's store, never through our backends ----


def _backend(alias: str) -> str:
    return str(django_settings.MULTIPAY["GATEWAYS"][alias]["BACKEND"]).rsplit(".", 2)[-2]


def _dummy_refunded(invoice: Invoice) -> Decimal:
    """Emulator record: ``dummy.payments[id]._refunds`` (each one made is ``succeeded``)."""
    with store.table("dummy.payments") as table:
        refunds = list(table[invoice.gateway_id]["_refunds"])
    return sum((Decimal(r["amount"]) for r in refunds if r["status"] == "succeeded"), Decimal(0))


def _portpos_refunded(invoice: Invoice) -> Decimal:
    """Emulator record: ``portpos.invoices[id]._refunds`` paid back (``REFUNDED``; the
    emulator's default instant mode never leaves one ``REFUND_PENDING``)."""
    with store.table("portpos.invoices") as table:
        refunds = list(table[invoice.gateway_id]["_refunds"])
    return sum((Decimal(r["amount"]) for r in refunds if r["status"] == "REFUNDED"), Decimal(0))


def _portwallet_refunded(invoice: Invoice) -> Decimal:
    """Emulator record: ``portwallet.invoices[id]._refunds`` the bank settled."""
    with store.table("portwallet.invoices") as table:
        refunds = list(table[invoice.gateway_id]["_refunds"])
    return sum((Decimal(r["amount"]) for r in refunds if r["settled"]), Decimal(0))


def _postpay_order(invoice: Invoice) -> dict[str, Any]:
    with store.table("postpay.checkouts") as checkouts:
        merchant, order_id = checkouts[invoice.gateway_id]
    with store.table("postpay.orders") as orders:
        return dict(orders[merchant][order_id])


def _postpay_refunded(invoice: Invoice) -> Decimal:
    """Emulator record: the order's ``_refunds`` (amounts in minor units)."""
    order = _postpay_order(invoice)
    minor = sum(int(r["amount"]) for r in order["_refunds"])
    return money.from_minor_units(minor, order["currency"])


def _paylands_refunded(invoice: Invoice) -> Decimal:
    """Emulator record: the order's ``refunded`` (minor units), which its REFUND transactions
    add up to."""
    with store.table("paylands.orders") as table:
        order = dict(table[invoice.gateway_id.upper()])
    lines = sum(
        t["amount"]
        for t in order["transactions"]
        if t["operative"] == "REFUND" and t["status"] == "SUCCESS"
    )
    assert lines == order["refunded"], order
    return money.from_minor_units(order["refunded"], order["_currency"])


def _portone_transactions(invoice: Invoice) -> list[dict[str, Any]]:
    """The invoice's transactions: its own ``order_ref``, or those made on its payment link."""
    with store.table("portone.transactions") as table:
        return [
            dict(t)
            for t in table.values()
            if t["order_ref"] == invoice.gateway_id
            or str(t["merchant_order_ref"]).startswith(f"{invoice.gateway_id}_")
        ]


def _portone_refunded(invoice: Invoice) -> Decimal:
    """Emulator record: every ``SUCCESS`` refund of the invoice's transactions."""
    return sum(
        (
            Decimal(r["amount"])
            for t in _portone_transactions(invoice)
            for r in t["_refunds"]
            if r["refund_status"] == "SUCCESS"
        ),
        Decimal(0),
    )


EMULATOR_REFUNDED: dict[str, Callable[[Invoice], Decimal]] = {
    "dummy": _dummy_refunded,
    "portpos": _portpos_refunded,
    "portwallet": _portwallet_refunded,
    "postpay": _postpay_refunded,
    "paylands": _paylands_refunded,
    "portone": _portone_refunded,
}


def emulator_refunded(alias: str, invoice: Invoice) -> Decimal:
    """What the gateway (its emulator) has paid back for ``invoice``: the truth."""
    return EMULATOR_REFUNDED[_backend(alias)](invoice)


def emulator_refunds_per_key(alias: str, invoice: Invoice) -> Counter[str]:
    """Refunds the emulator made under each of our keys, where it records our key."""
    backend = _backend(alias)
    if backend == "dummy":
        with store.table("dummy.payments") as table:
            return Counter(r["idempotency_key"] for r in table[invoice.gateway_id]["_refunds"])
    if backend == "postpay":
        return Counter(r["refund_id"] for r in _postpay_order(invoice)["_refunds"])
    return Counter()


# -- our books ----------------------------------------------------------------------------------


def succeeded_total(invoice: Invoice) -> Decimal:
    rows = Refund.objects.filter(invoice=invoice, status=RefundStatus.SUCCEEDED)
    return sum((r.amount for r in rows), Decimal(0))


def books(invoice: Invoice) -> str:
    rows = Refund.objects.filter(invoice=invoice).order_by("created_at", "pk")
    return ", ".join(f"{r.idempotency_key}={r.amount}:{r.status}" for r in rows)


def check_never_above(alias: str, invoice: Invoice, after: str) -> None:
    invoice.refresh_from_db()
    ours = succeeded_total(invoice)
    truth = emulator_refunded(alias, invoice)
    assert invoice.refunded_amount == ours, (after, invoice.refunded_amount, books(invoice))
    assert ours <= truth, (
        f"after {after}: we count {ours} refunded, the gateway {truth}; {books(invoice)}"
    )


# -- one example --------------------------------------------------------------------------------


def fresh_state(router: EmulatorRouter) -> None:
    """Each example starts from empty books and empty emulators."""
    store.reset()
    router.calls.clear()
    Refund.objects.all().delete()
    Notification.objects.all().delete()
    Invoice.objects.all().delete()
    Order.objects.all().delete()


def share_of(invoice: Invoice, permille: int) -> Decimal:
    minor = money.to_minor_units(invoice.amount, invoice.currency)
    return money.from_minor_units(max(1, minor * permille // 1000), invoice.currency)


def call_refund(
    router: EmulatorRouter,
    alias: str,
    invoice: Invoice,
    amount: Decimal,
    key: str,
    fault_name: str,
    lose_webhooks: bool,
    sent: Counter[str],
) -> None:
    fault = FAULTS[fault_name]
    refund_call = is_refund_call(alias)
    match: Callable[[Any], bool] = refund_call if fault is not None else (lambda request: False)
    before = len(router.calls)
    outcome = "answered"
    with faulty(router, fault or NO_FAULT, match, lose_webhooks=lose_webhooks):
        try:
            payments.refund(invoice, amount, idempotency_key=key)
        except MultipayError as exc:
            outcome = f"{type(exc).__name__}({getattr(exc, 'code', '')})"
            note(f"  -> {outcome}: {exc}")
    sent[key] += sum(1 for r in router.calls[before:] if refund_call(r))
    status = Refund.objects.filter(idempotency_key=key).values_list("status", flat=True).first()
    event(f"refund under {fault_name}: {outcome}, {status or 'no row'}")


def operator_resolves(alias: str, invoice: Invoice) -> None:
    """Staff compare the gateway's record with ours and decide every refund it left open: the
    open refunds that make up what the gateway refunded beyond our succeeded ones were made
    (for equal amounts any of them will do), the others were not."""
    truth = emulator_refunded(alias, invoice)
    missing = truth - succeeded_total(invoice)
    open_rows = list(
        Refund.objects.filter(
            invoice=invoice, status__in=(RefundStatus.REQUESTED, RefundStatus.PENDING)
        ).order_by("created_at", "pk")
    )
    made: tuple[Refund, ...] | None = None
    for size in range(len(open_rows) + 1):
        for chosen in itertools.combinations(open_rows, size):
            if sum((r.amount for r in chosen), Decimal(0)) == missing:
                made = chosen
                break
        if made is not None:
            break
    assert made is not None, (
        f"the gateway refunded {truth}; no choice of our open refunds makes up the "
        f"{missing} it refunded beyond our succeeded ones: {books(invoice)}"
    )
    event(f"operator resolves {len(open_rows)} open refund(s)")
    for refund in open_rows:
        payments.resolve_refund(
            refund,
            refunded=refund in made,
            user=None,
            reason="Checked against the gateway's refund record",
        )


def run_example(router: EmulatorRouter, alias: str, steps: list[tuple[Any, ...]]) -> None:
    fresh_state(router)
    gateway = driver(alias)
    backend = get_gateway(alias)
    invoice = paid_invoice(router, gateway)
    sent: Counter[str] = Counter()
    keys: list[tuple[str, Decimal]] = []
    check_never_above(alias, invoice, "payment")
    for number, step in enumerate(steps, 1):
        kind = step[0]
        note(f"step {number}: {step}")
        if kind == "refund":
            _, permille, fault_name, lose_webhooks = step
            key = f"prop-{next(_keys)}"
            amount = share_of(invoice, permille)
            keys.append((key, amount))
            call_refund(router, alias, invoice, amount, key, fault_name, lose_webhooks, sent)
        elif kind == "retry":
            _, index, fault_name, lose_webhooks = step
            if not keys:
                continue
            key, amount = keys[index % len(keys)]
            call_refund(router, alias, invoice, amount, key, fault_name, lose_webhooks, sent)
        elif kind == "notify":
            payments.sync_refunds(invoice)
        else:
            reconcile.run()
        note(f"  books: {books(invoice)}; gateway {emulator_refunded(alias, invoice)}")
        check_never_above(alias, invoice, f"step {number} {step}")

    reconcile.run()
    check_never_above(alias, invoice, "the final reconciliation")
    operator_resolves(alias, invoice)
    invoice.refresh_from_db()
    truth = emulator_refunded(alias, invoice)
    assert succeeded_total(invoice) == truth, books(invoice)
    assert invoice.refunded_amount == truth
    left = Refund.objects.filter(
        invoice=invoice, status__in=(RefundStatus.REQUESTED, RefundStatus.PENDING)
    )
    assert not left.exists(), books(invoice)
    if not backend.capabilities.idempotent_refunds:
        # The gateway cannot de-duplicate: a refund row's call reaches it at most once.
        assert all(count <= 1 for count in sent.values()), sent
    # Where the gateway keeps our key, it made at most one refund of each.
    made = emulator_refunds_per_key(alias, invoice)
    assert all(count <= 1 for count in made.values()), made


@pytest.mark.parametrize("alias", REFUND_ALIASES)
def test_refunds_never_count_more_than_the_gateway(router: EmulatorRouter, alias: str) -> None:
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(steps=STEPS)
    @example(steps=ISSUE_14)
    @example(steps=LOST_TWINS)
    def check(steps: list[tuple[Any, ...]]) -> None:
        run_example(router, alias, steps)

    check()


def test_every_backend_has_an_emulator_reading() -> None:
    backends = {_backend(alias) for alias in REFUND_ALIASES}
    assert backends == set(EMULATOR_REFUNDED), backends
    assert backends >= {"dummy", "portpos", "portwallet", "postpay", "portone", "paylands"}
