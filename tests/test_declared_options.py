"""Each backend declares the options an alias sets, and one check validates them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways import builtin_backends
from django_multipay.gateways.base import (
    COMMON_OPTIONS,
    BaseGateway,
    GatewayOption,
    OptionProblem,
)
from django_multipay.gateways.paylands import PaylandsGateway
from django_multipay.gateways.portone import PortOneGateway
from django_multipay.gateways.portpos import PortPosGateway
from django_multipay.registry import backend_class

GATEWAYS = Path(__file__).resolve().parents[1] / "django_multipay" / "gateways"
BACKENDS = {name: f"{cls.__module__}.{cls.__name__}" for name, cls in builtin_backends().items()}
#: What each backend required and kept secret before the options were declared.
REQUIRED_AND_SECRET = {
    "dummy": (("api_key", "webhook_secret"), ("api_key", "webhook_secret")),
    "paylands": (("api_key", "signature"), ("api_key", "signature")),
    "portone": (("client_key", "secret_key"), ("secret_key",)),
    "portpos": (("app_key", "secret_key"), ("app_key", "secret_key")),
    "portwallet": (("app_key", "secret_key"), ("app_key", "secret_key")),
    "postpay": (("merchant_id", "secret_key"), ("secret_key", "webhook_secret")),
}
READS = re.compile(r"""self\.(?:option\(|options\.get\(|options\[)\s*"([a-z_]+)["]""")


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_backend_declares_every_option_it_reads(name: str) -> None:
    cls = backend_class(BACKENDS[name])
    read = set(READS.findall((GATEWAYS / f"{name}.py").read_text()))
    declared = {option.name for option in cls.declared_options or ()}
    assert read - declared - set(COMMON_OPTIONS) == set()
    assert len(declared) == len(cls.declared_options or ())  # each once


@pytest.mark.parametrize("name", sorted(REQUIRED_AND_SECRET))
def test_required_and_secret_options_derive_from_the_declaration(name: str) -> None:
    cls = backend_class(BACKENDS[name])
    assert (cls.required_options, cls.secret_options) == REQUIRED_AND_SECRET[name]
    assert cls.config_options == tuple(o.name for o in cls.declared_options or ())
    assert cls.known_options() == {*COMMON_OPTIONS, *cls.config_options, *cls.renamed_options}


def test_a_class_declares_its_options_in_one_place() -> None:
    with pytest.raises(TypeError, match="derive from declared_options"):
        type(
            "Twice",
            (BaseGateway,),
            {"declared_options": (GatewayOption("key", required=True),), "required_options": ()},
        )


def test_a_subclass_adds_its_options() -> None:
    class Mine(PortPosGateway):
        declared_options = (*PortPosGateway.declared_options, GatewayOption("colour", int))

    assert "colour" in (Mine.known_options() or ())
    assert Mine.required_options == PortPosGateway.required_options
    problems = Mine("mine", {"app_key": "a", "secret_key": "s", "colour": "red"}).option_problems()
    assert [(p.kind, p.option) for p in problems] == [("type", "colour")]


def test_a_backend_that_declares_nothing_keeps_its_own_tuples() -> None:
    class Legacy(BaseGateway):
        required_options = ("api_key",)
        secret_options = ("api_key",)

    assert Legacy.known_options() is None
    assert Legacy("x", {}).missing_options() == ["api_key"]
    # The common options are checked for every backend.
    [problem] = Legacy("x", {"api_key": "k", "sandbox": "yes"}).option_problems()
    assert (problem.kind, problem.option) == ("type", "sandbox")


@pytest.mark.parametrize(
    ("declared", "value", "right"),
    [
        (int, 3, True),
        (int, True, False),  # a bool is never a number
        (int, "3", False),
        (float, 2, True),
        (float, 2.5, True),
        (float, False, False),
        (bool, False, True),
        (bool, "yes", False),
        (bool, 1, False),
        (str, "x", True),
        (str, 5, False),
        (list, ("a",), True),
        (list, "a", False),
        (dict, {"EUR": "x"}, True),
        (dict, [], False),
        (int, None, True),  # unset
        (int, "", True),  # unset
        (None, object(), True),  # checked by its reader
    ],
)
def test_the_declared_type(declared: Any, value: Any, right: bool) -> None:
    option = GatewayOption("name", declared)
    assert (option.type_problem(value) is None) is right


def test_a_required_option_by_a_backend_rule_is_missing() -> None:
    paylands = PaylandsGateway("pl", {"api_key": "k", "signature": "s"})
    assert paylands.missing_options() == ["service"]
    one_per_currency = {"api_key": "k", "signature": "s", "services": {"EUR": "u"}}
    assert PaylandsGateway("pl", one_per_currency).missing_options() == []
    half = PortOneGateway("po", {"client_key": "k", "secret_key": "s", "pmt_method": "CARD"})
    [problem] = half.option_problems()
    assert problem == OptionProblem("missing", "pmt_channel", problem.message)
    assert "set both pmt_channel and pmt_method" in problem.message


def test_portone_refuses_a_payment_with_what_the_check_reports() -> None:
    """One code path: start_payment's check is option_problems, as system checks use it."""
    gateway = PortOneGateway(
        "po", {"client_key": "k", "secret_key": "s", "token_ttl": "100", "auth_token": "jwt"}
    )
    problems = gateway.option_problems()
    assert [(p.kind, p.option) for p in problems] == [("type", "token_ttl"), ("rule", "auth_token")]
    with pytest.raises(GatewayConfigurationError) as caught:
        gateway.check_options()
    assert str(caught.value) == " ".join(p.message for p in problems)
    assert PortOneGateway("po", {"client_key": "k", "secret_key": "s"}).option_problems() == []


def test_a_rule_is_not_reported_again_for_an_option_of_the_wrong_type() -> None:
    class Counted(PortOneGateway):
        declared_options = tuple(
            GatewayOption("listing_page_size", int) if o.name == "listing_page_size" else o
            for o in PortOneGateway.declared_options
        )

    options = {"client_key": "k", "secret_key": "s", "listing_page_size": "many"}
    problems = Counted("po", options).option_problems()
    assert [(p.kind, p.option) for p in problems] == [("type", "listing_page_size")]
    problems = PortOneGateway("po", options).option_problems()
    assert [(p.kind, p.option) for p in problems] == [("rule", "listing_page_size")]
