"""The invoice transition table, stale-news detection and the derived order status."""

from __future__ import annotations

import pytest

from django_multipay.status import (
    TRANSITIONS,
    InvoiceStatus,
    OrderStatus,
    can_move,
    is_stale,
    order_status_for,
)

S = InvoiceStatus

LEGAL = [
    (S.CREATED, S.PENDING),
    (S.CREATED, S.AUTHORIZED),
    (S.CREATED, S.PAID),
    (S.CREATED, S.FAILED),
    (S.CREATED, S.CANCELLED),
    (S.CREATED, S.EXPIRED),
    (S.PENDING, S.AUTHORIZED),
    (S.PENDING, S.PAID),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.EXPIRED),
    (S.AUTHORIZED, S.PAID),
    (S.AUTHORIZED, S.FAILED),
    (S.AUTHORIZED, S.CANCELLED),
    (S.AUTHORIZED, S.EXPIRED),
    (S.PAID, S.PARTIALLY_REFUNDED),
    (S.PAID, S.REFUNDED),
    (S.PAID, S.CHARGED_BACK),
    (S.PARTIALLY_REFUNDED, S.REFUNDED),
    (S.PARTIALLY_REFUNDED, S.CHARGED_BACK),
]


def test_table_is_exactly_the_legal_moves() -> None:
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == set(LEGAL)
    assert set(TRANSITIONS) == set(S.values)


@pytest.mark.parametrize(("current", "new"), LEGAL)
def test_legal_moves_allowed(current: str, new: str) -> None:
    assert can_move(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.FAILED, S.PAID),
        (S.CANCELLED, S.PAID),
        (S.EXPIRED, S.PAID),
        (S.PAID, S.PENDING),
        (S.PAID, S.FAILED),
        (S.PAID, S.CANCELLED),
        (S.REFUNDED, S.PAID),
        (S.REFUNDED, S.PARTIALLY_REFUNDED),
        (S.PARTIALLY_REFUNDED, S.PAID),
        (S.CHARGED_BACK, S.PAID),
        (S.PENDING, S.REFUNDED),
        (S.PENDING, S.PARTIALLY_REFUNDED),
        (S.AUTHORIZED, S.REFUNDED),
        (S.PENDING, S.PENDING),
        (S.PAID, S.PAID),
        (S.PENDING, "bogus"),
        ("bogus", S.PAID),
    ],
)
def test_illegal_moves_refused(current: str, new: str) -> None:
    assert not can_move(current, new)


@pytest.mark.parametrize(
    ("current", "new", "stale"),
    [
        (S.PAID, S.PENDING, True),
        (S.PAID, S.AUTHORIZED, True),
        (S.PAID, S.CREATED, True),
        (S.REFUNDED, S.PAID, True),
        (S.PARTIALLY_REFUNDED, S.PAID, True),
        (S.FAILED, S.PENDING, True),
        (S.CANCELLED, S.AUTHORIZED, True),
        (S.AUTHORIZED, S.PENDING, True),
        (S.PAID, S.PAID, True),
        (S.PENDING, S.PAID, False),
        (S.PENDING, S.AUTHORIZED, False),
        (S.AUTHORIZED, S.PAID, False),
        (S.PAID, S.REFUNDED, False),
        (S.PAID, S.PARTIALLY_REFUNDED, False),
        # Same stage but a different end: not stale news, an illegal move (refused elsewhere).
        (S.FAILED, S.PAID, False),
        (S.CANCELLED, S.PAID, False),
    ],
)
def test_is_stale(current: str, new: str, stale: bool) -> None:
    assert is_stale(current, new) is stale


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], OrderStatus.NEW),
        ([S.CREATED], OrderStatus.PENDING),
        ([S.PENDING], OrderStatus.PENDING),
        ([S.AUTHORIZED], OrderStatus.PENDING),
        ([S.PAID], OrderStatus.PAID),
        ([S.FAILED, S.PAID], OrderStatus.PAID),
        ([S.PAID, S.PENDING], OrderStatus.PAID),
        ([S.PARTIALLY_REFUNDED], OrderStatus.PARTIALLY_REFUNDED),
        ([S.PAID, S.PARTIALLY_REFUNDED], OrderStatus.PARTIALLY_REFUNDED),
        ([S.REFUNDED], OrderStatus.REFUNDED),
        ([S.CHARGED_BACK], OrderStatus.REFUNDED),
        ([S.REFUNDED, S.PAID], OrderStatus.PAID),
        ([S.FAILED], OrderStatus.FAILED),
        ([S.EXPIRED], OrderStatus.FAILED),
        ([S.CANCELLED], OrderStatus.CANCELLED),
        ([S.FAILED, S.PENDING], OrderStatus.PENDING),
        ([S.CANCELLED, S.FAILED], OrderStatus.FAILED),
        ([S.FAILED, S.CANCELLED], OrderStatus.CANCELLED),
        ([S.FAILED, S.EXPIRED], OrderStatus.FAILED),
        ([S.REFUNDED, S.FAILED], OrderStatus.REFUNDED),
    ],
)
def test_order_status_for(statuses: list[str], expected: str) -> None:
    assert order_status_for(statuses) == expected


def test_order_status_for_accepts_any_iterable() -> None:
    assert order_status_for(iter([S.PENDING, S.PAID])) == OrderStatus.PAID
