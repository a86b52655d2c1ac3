"""Add, update or show a payment channel's credentials at PortOne, never echoing them."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from django_multipay.exceptions import GatewayConfigurationError, MultipayError
from django_multipay.gateways.portone import (
    PAY_TYPES,
    PayChannel,
    PortOneGateway,
    credential_values,
)
from django_multipay.management.commands.multipay_portone_hooks import portone_gateway
from django_multipay.redaction import MASK, Redactor


class Command(BaseCommand):
    help = (
        "Manage a payment channel's (PSP's) credentials at PortOne for a gateway alias:"
        " 'add' and 'update' read them as a JSON object from --file (a path, or - for standard"
        " input), never from the command line; 'show' names them with every value masked."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=("add", "update", "show"))
        parser.add_argument("channel", help="The payment channel key (e.g. MOMOPAY).")
        parser.add_argument("--alias", help="The PortOne alias (default: the only one).")
        parser.add_argument(
            "--file",
            help="add/update: a JSON file of the credentials, or - to read standard input.",
        )
        parser.add_argument("--country", help="add/update: VN, TH, ID... or GLOBAL.")
        parser.add_argument(
            "--pay-type", dest="pay_type", default="PAYIN", choices=PAY_TYPES, help="show only."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = portone_gateway(options["alias"])
        creds: dict[str, Any] = {}
        try:
            if options["action"] == "show":
                found = gateway.fetch_pay_channel(options["channel"], pay_type=options["pay_type"])
                for channel in found:
                    self._show(channel)
                if not found:
                    self.stdout.write(
                        _("No credentials for %(channel)s in the %(environment)s environment.")
                        % {"channel": options["channel"], "environment": gateway.environment}
                    )
                return
            if not options["country"]:
                raise CommandError(_("Name the channel's country with --country."))
            creds = self._read(options["file"])
            send = (
                gateway.add_pay_channel
                if options["action"] == "add"
                else gateway.update_pay_channel
            )
            channel = send(options["channel"], creds, country=options["country"])
        except GatewayConfigurationError:
            raise  # a settings mistake, not the gateway's answer: shown as it is
        except MultipayError as exc:
            raise CommandError(self._hide(gateway, creds, str(exc))) from None
        self.stdout.write(
            self.style.SUCCESS(_("Added:") if options["action"] == "add" else _("Updated:"))
        )
        self._show(channel)

    def _read(self, where: str | None) -> dict[str, Any]:
        """The credentials object from a file or standard input (not from argv: it would stay
        in the shell's history and the process list)."""
        if not where:
            raise CommandError(
                _(
                    "Give the credentials as a JSON object with --file PATH, or --file - and"
                    " standard input; never on the command line."
                )
            )
        try:
            text = sys.stdin.read() if where == "-" else Path(where).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": where, "error": exc.strerror}
            ) from None
        try:
            creds = json.loads(text, parse_float=Decimal)
        except ValueError:
            # The error's text would quote the file: say only where it is wrong.
            raise CommandError(_("The credentials are not valid JSON.")) from None
        if not isinstance(creds, dict) or not creds:
            raise CommandError(_("The credentials must be a JSON object with at least one member."))
        return creds

    def _hide(self, gateway: PortOneGateway, creds: dict[str, Any], text: str) -> str:
        return Redactor(credential_values(creds)).text(gateway.redactor.text(text))

    def _show(self, channel: PayChannel) -> None:
        enabled = {True: _("enabled"), False: _("disabled"), None: "-"}[channel.enabled]
        self.stdout.write(
            f"{channel.key}  {channel.country or '-'}  {channel.pay_type or '-'}  {enabled}"
        )
        for name in channel.credential_names:
            self.stdout.write(f"  {name}: {MASK}")
