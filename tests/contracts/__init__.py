"""Cross-gateway suites (attacks, faults) that each gateway's test module mixes in.

A gateway's test module ``tests/gateways/test_<backend module>.py`` declares, for each alias
of its backend in ``tests/settings.py``, one collected class mixing in both suites::

    class TestMyGatewaySuites(AttackContract, FaultContract):
        contract = TestMyGatewayContract      # the GatewayContract that drives the alias
        signed = "header"                     # ... and the suites' other hooks

and every attack and fault test runs on that alias. :func:`suite` finds the class of an
alias by that naming, so no list anywhere names the gateways.
"""

from __future__ import annotations

import importlib
from decimal import Decimal
from typing import ClassVar

import pytest
from django.conf import settings

from django_multipay.testing.contract import GatewayContract


class GatewaySuite:
    """What both suites share: the contract class that drives one alias."""

    #: The gateway's :class:`GatewayContract` (sub)class whose ``alias`` is the alias under
    #: test: its hooks act as the customer (``complete_payment``) and as the gateway
    #: (``settle_at_gateway``, ``notification``, ``forge``).
    contract: ClassVar[type[GatewayContract]]

    @property
    def alias(self) -> str:
        return self.contract.alias

    @property
    def driver(self) -> GatewayContract:
        return self.contract()

    @property
    def amount(self) -> Decimal:
        return self.contract.amount

    @property
    def currency(self) -> str:
        return self.contract.currency

    def option(self, name: str) -> str:
        """One of the alias's ``OPTIONS`` (its secrets sign the genuine notifications)."""
        return str(settings.MULTIPAY["GATEWAYS"][self.alias]["OPTIONS"][name])


def backend_module(alias: str) -> str:
    """The short name of the alias's backend module (``dummy``, ``portone``...)."""
    return str(settings.MULTIPAY["GATEWAYS"][alias]["BACKEND"]).rsplit(".", 2)[-2]


def suite_module(alias: str) -> str:
    """Where the alias's suite class lives: its backend's own test module."""
    return f"tests.gateways.test_{backend_module(alias)}"


def suite_classes(alias: str) -> list[type[GatewaySuite]]:
    """The collected (``Test``-named) suite classes of ``alias`` in its backend's module."""
    module = importlib.import_module(suite_module(alias))
    found = {
        obj: None
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, GatewaySuite)
        and obj.__name__.startswith("Test")
        and getattr(obj, "contract", None) is not None
        and obj.contract.alias == alias
    }
    return list(found)


def suite(alias: str) -> GatewaySuite:
    """The suite class of ``alias``, instantiated (its hooks, for tests keyed by alias)."""
    found = suite_classes(alias)
    if len(found) != 1:
        pytest.fail(
            f"{suite_module(alias)} should have one Test... class mixing in AttackContract and "
            f"FaultContract with contract.alias == {alias!r}; found {found}."
        )
    return found[0]()
