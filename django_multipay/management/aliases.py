"""Which alias an operator's command acts on: the one named, or the only one of its backend."""

from __future__ import annotations

from typing import TypeVar

from django.core.management.base import CommandError

from django_multipay.conf import multipay_settings
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways.base import BaseGateway
from django_multipay.registry import backend_class, get_gateway

G = TypeVar("G", bound=BaseGateway)


def gateway_for(backend: type[G], alias: str | None) -> G:
    """The alias ``alias`` if its backend is ``backend`` (or a subclass), or with no alias
    named the only such alias; ``CommandError`` saying which exist otherwise."""
    aliases = []
    for name, config in multipay_settings.GATEWAYS.items():
        try:
            if issubclass(backend_class(config["BACKEND"]), backend):
                aliases.append(name)
        except (GatewayConfigurationError, KeyError, TypeError):
            continue
    shown = backend.display_name
    if alias is None:
        if len(aliases) != 1:
            raise CommandError(
                f"Name the alias with --alias ({shown} aliases: {', '.join(aliases) or '-'})."
            )
        alias = aliases[0]
    if alias not in aliases:
        raise CommandError(f"{alias!r} is not a {shown} alias in MULTIPAY['GATEWAYS'].")
    gateway = get_gateway(alias)
    assert isinstance(gateway, backend)
    return gateway
