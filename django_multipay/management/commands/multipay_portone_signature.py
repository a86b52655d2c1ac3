"""Check our PortOne payment request signature against PortOne's for a sample payload."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from django_multipay import money
from django_multipay.exceptions import GatewayConfigurationError, MultipayError
from django_multipay.gateways import portone_signing as signing
from django_multipay.management.commands.multipay_portone_hooks import portone_gateway

#: payment-openapi "Generate signature hash": its example request (the key is the alias's).
SAMPLE = {
    "amount": "111.12",
    "currency": "THB",
    "merchant_order_id": "e203767a-ae29-42dc-820f-61cbde24966e",
    "success_url": "https://yourwebsite.com/success",
    "failure_url": "https://yourwebsite.com/failure",
}


class Command(BaseCommand):
    help = (
        "Ask PortOne (POST /api/merchant/generate-signature) to sign a sample payment request"
        " and compare its signature with ours (portone_signing): 'match' or 'mismatch'. By"
        " default the sample of PortOne's reference, and the same with 100.00 (the"
        " trailing-zero rule). The secret key is never printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--alias", help="The PortOne alias (default: the only one).")
        parser.add_argument("--amount", help="The sample's amount (default: 111.12 and 100.00).")
        parser.add_argument("--currency", default=SAMPLE["currency"])
        parser.add_argument("--order-id", dest="order_id", default=SAMPLE["merchant_order_id"])
        parser.add_argument("--success-url", dest="success_url", default=SAMPLE["success_url"])
        parser.add_argument("--failure-url", dest="failure_url", default=SAMPLE["failure_url"])

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = portone_gateway(options["alias"])
        try:
            currency = money.normalize_currency(options["currency"])
            amounts = [
                money.validate_amount(Decimal(text), currency)
                for text in ([options["amount"]] if options["amount"] else ["111.12", "100.00"])
            ]
        except (ValidationError, ArithmeticError, ValueError):
            raise CommandError(
                _("%(amount)s is not an amount in %(currency)s.")
                % {"amount": options["amount"], "currency": options["currency"]}
            ) from None
        mismatches = 0
        for amount in amounts:
            fields = {
                "amount": amount,
                "currency": currency,
                "merchant_order_id": options["order_id"],
                "success_url": options["success_url"],
                "failure_url": options["failure_url"],
            }
            ours = gateway.payment_request_signature(**fields)
            try:
                theirs = gateway.generate_signature(**fields)
            except GatewayConfigurationError:
                raise  # a settings mistake, not the gateway's answer: shown as it is
            except MultipayError as exc:
                raise CommandError(gateway.redactor.text(str(exc))) from None
            message = signing.signature_message(
                {
                    **fields,
                    "amount": money.format_trimmed(amount, currency),
                    "client_key": gateway.client_key,
                },
                signing.PAYMENT_REQUEST_FIELDS,
            )
            self.stdout.write(_("Signed: %(message)s") % {"message": message})
            self.stdout.write(_("Ours: %(signature)s") % {"signature": ours})
            self.stdout.write(_("PortOne's: %(signature)s") % {"signature": theirs})
            if ours == theirs:
                # Translators: our signature and PortOne's are the same.
                self.stdout.write(self.style.SUCCESS(_("match")))
            else:
                mismatches += 1
                # Translators: our signature and PortOne's differ.
                self.stdout.write(self.style.ERROR(_("mismatch")))
        if mismatches:
            raise CommandError(
                _("%(count)s of %(total)s signatures do not match PortOne's.")
                % {"count": mismatches, "total": len(amounts)}
            )
