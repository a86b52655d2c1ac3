"""Which of our refunds a gateway's refund report settles, never counting more than it did."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django_multipay import money
from django_multipay.gateways.results import RefundReport, RefundResult, RefundState
from django_multipay.status import RefundStatus

#: Refunds a report may still settle.
OPEN = (RefundStatus.REQUESTED, RefundStatus.PENDING)

#: How a settlement was tied to our refund (kept in the refund's last gateway answer).
BY_LINE = "line"  # the gateway's refund id, or our key echoed back
BY_ANSWER = "answered"  # an anonymous line, given to a refund whose call the gateway answered
BY_TOTAL = "total"  # the gateway's refunded total (or refund state) covers an answered refund
BY_ABSENCE = "absent"  # the gateway's whole record accounts for every other refund
BY_EXCLUSION = "exclusion"  # the only money the gateway refunded that no other refund explains


class RefundLike(Protocol):
    """The fields of :class:`~django_multipay.models.Refund` the matching reads."""

    pk: Any
    amount: Decimal
    currency: str
    status: str
    gateway_refund_id: str
    idempotency_key: str
    created_at: datetime


@dataclass(frozen=True)
class Settlement:
    """Apply ``result`` to our refund ``refund_id``; ``basis`` says why it is that refund's."""

    refund_id: Any
    result: RefundResult
    basis: str


@dataclass
class Matching:
    """The outcome of matching a report: what to apply, and what stays unexplained."""

    settlements: list[Settlement] = field(default_factory=list)
    #: Gateway lines no refund of ours can be tied to (made in its dashboard, or a refund of
    #: ours whose answer was lost and that nothing names).
    unattributed: list[RefundResult] = field(default_factory=list)
    #: Our refunds whose outcome is still unknown after this report.
    unknown: list[Any] = field(default_factory=list)
    #: The gateway's refunded total, where it says or its lines add up to one.
    gateway_total: Decimal | None = None
    #: How much more our succeeded refunds count than the gateway's total (never expected).
    overcounted: Decimal = Decimal(0)


def _amount(line: RefundResult) -> Decimal | None:
    return None if line.amount is None else money.to_decimal(line.amount)


def _same_money(refund: RefundLike, line: RefundResult) -> bool:
    amount = _amount(line)
    return (
        amount is not None
        and amount == refund.amount
        and (not line.currency or line.currency.upper() == refund.currency)
    )


def match_refunds(
    ours: Iterable[RefundLike],
    report: RefundReport,
    *,
    captured: Decimal,
    settle_unknown_before: datetime | None = None,
) -> Matching:
    """Decide which of ``ours`` the gateway's ``report`` settles, and how.

    1. A line settles the refund it is tied to: by the gateway's refund id, or by our key
       where the gateway echoes it. Each line settles one refund at most, each refund one line.
    2. A line with neither goes to a refund whose call the gateway answered (``pending``) and
       that has no gateway id, of the same amount, oldest first; never to a refund whose
       call had no answer (``requested``): that one may never have reached the gateway.
    3. Where the gateway itemises nothing but gives a total (or says everything captured was
       refunded, or that it refunded in part and nothing is under way), answered refunds
       settle oldest first while our succeeded total stays within it.
    4. A refund whose call had no answer, made before ``settle_unknown_before`` and with
       nothing under way at the gateway: when the gateway's total is fully explained by our
       other refunds, it was not made (failed); when what is left unexplained is exactly the
       amount of our unanswered refunds, they were made (succeeded). Anything else stays
       unknown for a person (``Matching.unknown``). Likewise an answered refund that an
       un-itemised record has no room for, with nothing under way there, was turned down.

    Our succeeded total never goes above the gateway's total in any of these steps.
    """
    refunds = sorted(ours, key=lambda r: (r.created_at, str(r.pk)))
    status = {r.pk: r.status for r in refunds}
    result = Matching()
    claimed: set[Any] = set()

    def settle(refund: RefundLike, line: RefundResult, basis: str) -> None:
        claimed.add(refund.pk)
        if status[refund.pk] not in OPEN or line.status in (status[refund.pk], ""):
            return
        if line.status == RefundStatus.REQUESTED:
            return
        status[refund.pk] = line.status
        result.settlements.append(Settlement(refund.pk, line, basis))

    by_id = {r.gateway_refund_id: r for r in refunds if r.gateway_refund_id}
    by_key = {r.idempotency_key: r for r in refunds if r.idempotency_key}
    untied: list[RefundResult] = []
    for line in report.lines:  # 1.
        tied = by_id.get(line.gateway_refund_id) if line.gateway_refund_id else None
        if tied is None and line.idempotency_key:
            tied = by_key.get(line.idempotency_key)
        if tied is None or tied.pk in claimed:
            untied.append(line)
            continue
        settle(tied, line, BY_LINE)
    for line in list(untied):  # 2.
        answered = next(
            (
                r
                for r in refunds
                if r.pk not in claimed
                and r.status == RefundStatus.PENDING
                and not r.gateway_refund_id
                and _same_money(r, line)
            ),
            None,
        )
        if answered is not None:
            untied.remove(line)
            settle(answered, line, BY_ANSWER)
    result.unattributed = untied

    total = report.refunded_total
    if total is None and report.state == RefundState.FULL:
        total = captured
    if total is None and report.state == RefundState.NONE:
        total = Decimal(0)
    if total is None and report.complete:
        succeeded = [line for line in report.lines if line.status == RefundStatus.SUCCEEDED]
        amounts = [_amount(line) for line in succeeded]
        if all(a is not None for a in amounts):
            total = sum((a for a in amounts if a is not None), Decimal(0))
    if total is not None:
        total = money.to_decimal(total)
    result.gateway_total = total

    def succeeded_sum() -> Decimal:
        return sum(
            (r.amount for r in refunds if status[r.pk] == RefundStatus.SUCCEEDED), Decimal(0)
        )

    if not report.complete:  # 3.
        for refund in refunds:
            if refund.pk in claimed or status[refund.pk] != RefundStatus.PENDING:
                continue
            after = succeeded_sum() + refund.amount
            if total is not None:
                fits = after <= total
            else:
                fits = report.state == RefundState.PARTIAL and after < captured
            if fits:
                line = RefundResult(
                    status=RefundStatus.SUCCEEDED,
                    amount=refund.amount,
                    currency=refund.currency,
                    raw=_basis_raw(report, total),
                )
                settle(refund, line, BY_TOTAL)

    # A refund of ours made after the cutoff may still be on its way to the gateway: while one
    # is, unexplained money (or its absence) proves nothing about the others.
    in_flight = any(
        status[r.pk] == RefundStatus.REQUESTED
        and r.pk not in claimed
        and (settle_unknown_before is None or r.created_at >= settle_unknown_before)
        for r in refunds
    )
    in_progress = (
        in_flight
        or report.state == RefundState.IN_PROGRESS
        or any(line.status in (RefundStatus.REQUESTED, RefundStatus.PENDING) for line in untied)
    )
    judged = [
        r
        for r in refunds
        if r.pk not in claimed
        and settle_unknown_before is not None
        and r.created_at < settle_unknown_before
    ]
    if not report.complete and total is not None and not in_progress:
        # An answered refund the gateway's record has no room for, with nothing under way
        # there: the gateway turned it down after accepting it.
        for refund in judged:
            if status[refund.pk] == RefundStatus.PENDING and succeeded_sum() == total:
                line = RefundResult(
                    status=RefundStatus.FAILED,
                    failure_reason=(
                        f"Not made: the gateway reports {total} {refund.currency} refunded "
                        "in all, already accounted for, and no refund under way."
                    ),
                    raw=_basis_raw(report, total),
                )
                settle(refund, line, BY_ABSENCE)
    unanswered = [r for r in judged if status[r.pk] == RefundStatus.REQUESTED]
    if unanswered and total is not None and not in_progress:  # 4.
        unexplained = total - succeeded_sum()
        if unexplained == 0:
            for refund in unanswered:
                line = RefundResult(
                    status=RefundStatus.FAILED,
                    failure_reason=(
                        "Not made: the gateway's refunds are all accounted for by other refunds."
                    ),
                    raw=_basis_raw(report, total),
                )
                settle(refund, line, BY_ABSENCE)
        elif unexplained == sum((r.amount for r in unanswered), Decimal(0)):
            lines = [line for line in untied if line.status == RefundStatus.SUCCEEDED]
            for refund in unanswered:
                # Where the gateway itemised it, keep its line (and id) for the refund.
                own = next((line for line in lines if _same_money(refund, line)), None)
                if own is not None:
                    lines.remove(own)
                    untied.remove(own)
                line = own or RefundResult(
                    status=RefundStatus.SUCCEEDED,
                    amount=refund.amount,
                    currency=refund.currency,
                    raw=_basis_raw(report, total),
                )
                settle(refund, line, BY_EXCLUSION)
    result.unknown = [r.pk for r in refunds if status[r.pk] == RefundStatus.REQUESTED]
    if total is not None and succeeded_sum() > total:
        result.overcounted = succeeded_sum() - total
    return result


def _basis_raw(report: RefundReport, total: Decimal | None) -> dict[str, Any]:
    return {
        "refund_state": report.state or "unknown",
        "refunded_total": None if total is None else str(total),
    }
