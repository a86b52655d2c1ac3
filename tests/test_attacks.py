"""Every configured alias runs the attack and fault suites; the attacks' hooks, by alias."""

from __future__ import annotations

import pytest
from django.conf import settings

from django_multipay.models import Invoice
from django_multipay.registry import get_gateway
from tests.contracts import suite, suite_classes, suite_module
from tests.contracts.attacks import FORM, JSON, AttackContract, post, state
from tests.contracts.faults import FaultContract

__all__ = ["ALIASES", "FORM", "JSON", "forge", "genuine", "kind", "post", "settle_paid", "state"]

ALIASES = list(settings.MULTIPAY["GATEWAYS"])


@pytest.mark.parametrize("alias", ALIASES)
def test_every_alias_runs_the_attack_and_fault_suites(alias: str) -> None:
    found = suite_classes(alias)
    assert len(found) == 1, (
        f"{suite_module(alias)} needs one class Test...(AttackContract, FaultContract) with "
        f"contract.alias == {alias!r} (docs/gateways/adding.md); found {found}"
    )
    (cls,) = found
    assert issubclass(cls, AttackContract), f"{cls.__name__} does not mix in AttackContract"
    assert issubclass(cls, FaultContract), f"{cls.__name__} does not mix in FaultContract"
    assert cls.genuine is not AttackContract.genuine, f"{cls.__name__}: fill in genuine()"
    backend = get_gateway(alias)
    if backend.supports("refund"):
        assert cls.is_refund_call is not FaultContract.is_refund_call, (
            f"{cls.__name__}: fill in is_refund_call()"
        )
    # A backend that checks signatures says where they are, so the signature attacks run.
    assert bool(cls.signed) == backend.capabilities.signed_notifications, cls.__name__
    if cls.signed == "body":
        assert cls.signature_field, f"{cls.__name__}: name the signature_field"
    assert cls().sibling_alias() in ALIASES


# -- the hooks by alias, for tests that drive every alias themselves ------------------------------


def kind(alias: str) -> AttackContract:
    """The alias's suite: its amount, currency and how its notifications look."""
    found = suite(alias)
    assert isinstance(found, AttackContract)
    return found


def genuine(alias: str, invoice: Invoice, *, at: int | None = None) -> tuple[bytes, dict[str, str]]:
    return kind(alias).genuine(invoice, at=at)


def forge(alias: str, body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return kind(alias).forge(body, headers)


def settle_paid(alias: str, invoice: Invoice) -> None:
    kind(alias).settle_paid(invoice)
