"""The core's refund matching: ties only what the gateway names, never counts more than it did."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from django_multipay.gateways.results import RefundReport, RefundResult, RefundState
from django_multipay.refund_matching import match_refunds
from django_multipay.status import RefundStatus

T0 = datetime(2026, 1, 1, 12, 0, 0)
LATER = T0 + timedelta(hours=1)
CAPTURED = Decimal("100.00")


@dataclass
class Ours:
    """A refund row as the matching reads it."""

    amount: Decimal
    status: str = RefundStatus.REQUESTED
    gateway_refund_id: str = ""
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    currency: str = "BDT"
    created_at: datetime = T0
    pk: Any = field(default_factory=uuid.uuid4)


def line(amount: str, status: str = RefundStatus.SUCCEEDED, **kwargs: Any) -> RefundResult:
    return RefundResult(status=status, amount=Decimal(amount), currency="BDT", **kwargs)


def statuses(matching: Any, ours: list[Ours]) -> dict[Any, str]:
    after = {r.pk: r.status for r in ours}
    for s in matching.settlements:
        after[s.refund_id] = s.result.status
    return after


def test_anonymous_line_goes_to_the_answered_refund_not_the_lost_one() -> None:
    lost = Ours(Decimal("362.50"))
    answered = Ours(Decimal("362.50"), status=RefundStatus.PENDING, created_at=T0 + timedelta(1))
    report = RefundReport(lines=(line("362.50"),), complete=True)
    matching = match_refunds([lost, answered], report, captured=Decimal("1450.00"))
    assert statuses(matching, [lost, answered]) == {
        lost.pk: RefundStatus.REQUESTED,
        answered.pk: RefundStatus.SUCCEEDED,
    }
    assert matching.unknown == [lost.pk]


def test_a_line_never_settles_two_refunds() -> None:
    a = Ours(Decimal("10.00"), status=RefundStatus.PENDING)
    b = Ours(Decimal("10.00"), status=RefundStatus.PENDING, created_at=T0 + timedelta(1))
    matching = match_refunds(
        [a, b], RefundReport(lines=(line("10.00"),), complete=True), captured=CAPTURED
    )
    assert [s.refund_id for s in matching.settlements] == [a.pk]


def test_total_only_never_settles_past_the_total() -> None:
    a = Ours(Decimal("60.00"), status=RefundStatus.PENDING)
    b = Ours(Decimal("50.00"), status=RefundStatus.PENDING, created_at=T0 + timedelta(1))
    report = RefundReport(refunded_total=Decimal("60.00"), state=RefundState.PARTIAL)
    matching = match_refunds([a, b], report, captured=CAPTURED)
    assert statuses(matching, [a, b]) == {a.pk: RefundStatus.SUCCEEDED, b.pk: RefundStatus.PENDING}


def test_partial_state_keeps_the_sum_below_what_was_captured() -> None:
    a = Ours(Decimal("60.00"), status=RefundStatus.PENDING)
    b = Ours(Decimal("40.00"), status=RefundStatus.PENDING, created_at=T0 + timedelta(1))
    report = RefundReport(state=RefundState.PARTIAL)
    matching = match_refunds([a, b], report, captured=CAPTURED)
    # "Partially refunded" cannot be all 100.00: the second stays pending.
    assert statuses(matching, [a, b]) == {a.pk: RefundStatus.SUCCEEDED, b.pk: RefundStatus.PENDING}


def test_unknown_refunds_are_judged_only_after_the_wait_and_with_nothing_under_way() -> None:
    lost = Ours(Decimal("10.00"))
    nothing = RefundReport(state=RefundState.NONE)
    assert match_refunds([lost], nothing, captured=CAPTURED).settlements == []
    judged = match_refunds([lost], nothing, captured=CAPTURED, settle_unknown_before=LATER)
    assert [s.result.status for s in judged.settlements] == [RefundStatus.FAILED]
    busy = RefundReport(state=RefundState.IN_PROGRESS, refunded_total=Decimal(0))
    assert match_refunds([lost], busy, captured=CAPTURED, settle_unknown_before=LATER).unknown


def test_unexplained_money_settles_unknown_refunds_only_when_it_is_exactly_theirs() -> None:
    a, b = Ours(Decimal("10.00")), Ours(Decimal("10.00"), created_at=T0 + timedelta(minutes=1))
    report = RefundReport(lines=(line("10.00", gateway_refund_id="x"),), complete=True)
    matching = match_refunds([a, b], report, captured=CAPTURED, settle_unknown_before=LATER)
    # 10.00 unexplained, 20.00 of unknown refunds: which one is it? Nobody can say.
    assert matching.settlements == []
    assert sorted(map(str, matching.unknown)) == sorted([str(a.pk), str(b.pk)])
    # Nor while another unanswered refund may still be on its way to the gateway.
    young = Ours(Decimal("10.00"), created_at=LATER + timedelta(minutes=1))
    assert not match_refunds(
        [a, young], report, captured=CAPTURED, settle_unknown_before=LATER
    ).settlements
    matching = match_refunds([a], report, captured=CAPTURED, settle_unknown_before=LATER)
    assert [(s.result.status, s.result.gateway_refund_id) for s in matching.settlements] == [
        (RefundStatus.SUCCEEDED, "x")
    ]


# -- the property: never above the gateway's total ----------------------------------------------


@st.composite
def scenarios(draw: Any) -> tuple[list[Ours], RefundReport, Decimal]:
    """Our refunds, and a gateway that made some of them (or some of its own), reporting in
    one of the ways gateways do: keyed lines, anonymous lines, a total, or a state."""
    count = draw(st.integers(min_value=0, max_value=5))
    ours: list[Ours] = []
    made: list[tuple[Ours | None, Decimal]] = []
    refused_after_answer: list[bool] = []
    for index in range(count):
        amount = Decimal(draw(st.sampled_from([5, 10, 10, 20, 25]))).quantize(Decimal("0.01"))
        answered = draw(st.booleans())
        reached = answered or draw(st.booleans())
        refund = Ours(
            amount,
            status=RefundStatus.PENDING if answered else RefundStatus.REQUESTED,
            gateway_refund_id=f"g{index}" if answered and draw(st.booleans()) else "",
            created_at=T0 + timedelta(seconds=index),
        )
        ours.append(refund)
        made_it = reached and draw(st.integers(0, 4)) > 0  # the gateway may turn it down
        if made_it:
            made.append((refund, amount))
        refused_after_answer.append(answered and not made_it)
    if draw(st.booleans()):
        made.append((None, Decimal(draw(st.sampled_from([5, 10])))))  # made in the dashboard
    total_made = sum((amount for _r, amount in made), Decimal(0))
    captured = max(CAPTURED, total_made)
    # A gateway that reports only a state (PortPos, PortWallet) documents no refusal of a
    # refund it accepted: that reading is what lets its state settle refunds at all.
    kinds = ["keyed", "anonymous", "total"] + ([] if any(refused_after_answer) else ["state"])
    kind = draw(st.sampled_from(kinds))
    lines: tuple[RefundResult, ...] = ()
    report: RefundReport
    if kind in ("keyed", "anonymous"):
        for refund, amount in made:
            extra: dict[str, Any] = {}
            if kind == "keyed" and refund is not None:
                extra = (
                    {"gateway_refund_id": refund.gateway_refund_id}
                    if refund.gateway_refund_id
                    else {"idempotency_key": refund.idempotency_key}
                )
            lines += (line(str(amount), **extra),)
        report = RefundReport(lines=lines, complete=True)
    elif kind == "total":
        report = RefundReport(refunded_total=total_made)
    else:
        state = (
            RefundState.NONE
            if total_made == 0
            else RefundState.FULL
            if total_made == captured
            else RefundState.PARTIAL
        )
        report = RefundReport(state=state)
    return ours, report, captured, total_made  # type: ignore[return-value]


@settings(max_examples=400, deadline=None)
@given(scenarios(), st.booleans())
def test_our_succeeded_total_never_exceeds_what_the_gateway_refunded(
    scenario: Any, judge: bool
) -> None:
    ours, report, captured, total_made = scenario
    matching = match_refunds(
        ours, report, captured=captured, settle_unknown_before=LATER if judge else None
    )
    after = statuses(matching, ours)
    succeeded = sum((r.amount for r in ours if after[r.pk] == RefundStatus.SUCCEEDED), Decimal(0))
    assert succeeded <= total_made
    # Each refund is settled once at most, and only refunds still open are.
    assert len({s.refund_id for s in matching.settlements}) == len(matching.settlements)
    assert matching.overcounted == 0
