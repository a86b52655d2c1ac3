"""Create or list the shop's PortOne webhook endpoints from the alias's settings."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils.translation import gettext as _

from django_multipay.conf import multipay_settings
from django_multipay.exceptions import GatewayConfigurationError, MultipayError
from django_multipay.gateways.portone import (
    NOTIFY_WEBHOOK_TYPES,
    WEBHOOK_TYPES,
    PortOneGateway,
    Webhook,
)
from django_multipay.management.aliases import gateway_for


def portone_gateway(alias: str | None) -> PortOneGateway:
    """The PortOne alias named, or the only one; ``CommandError`` otherwise."""
    return gateway_for(PortOneGateway, alias)


class Command(BaseCommand):
    help = (
        "Manage the PortOne webhook endpoints (/api/merchant/{key}/webhook) of a gateway alias:"
        " 'create' registers the shop's notify URL (or OPTIONS webhook_url, or --url) for the"
        " payment_status, payment_link_status and refund_status webhooks (or --type), unless"
        " one is registered there already; 'list' shows those of the alias's environment."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=("create", "list"))
        parser.add_argument("--alias", help="The PortOne alias (default: the only one).")
        parser.add_argument("--url", help="Override the URL the webhooks deliver to.")
        parser.add_argument(
            "--type",
            dest="types",
            nargs="+",
            choices=WEBHOOK_TYPES,
            help="The webhook types (default: the three the notify URL reads).",
        )
        parser.add_argument(
            "--name", help="The names' prefix (default: multipay-<alias>); each adds its type."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = portone_gateway(options["alias"])
        try:
            getattr(self, f"_{options['action']}")(gateway, options)
        except GatewayConfigurationError:
            raise  # a settings mistake, not the gateway's answer: shown as it is
        except MultipayError as exc:
            # PortOne's answers never hold the secret key (it is redacted anyway).
            raise CommandError(gateway.redactor.text(str(exc))) from None

    def _url(self, gateway: PortOneGateway, options: dict[str, Any]) -> str:
        url = options["url"] or gateway.option("webhook_url")
        if url:
            return str(url)
        base = multipay_settings.BASE_URL
        if not base:
            raise CommandError(_("Set MULTIPAY['BASE_URL'] (or OPTIONS webhook_url, or --url)."))
        path = reverse("django_multipay:notify", kwargs={"alias": gateway.alias})
        return str(base).rstrip("/") + path

    def _show(self, gateway: PortOneGateway, hook: Webhook) -> None:
        # Translators: the state of a webhook endpoint (or of a payment channel).
        state = _("enabled") if hook.enabled else _("disabled")
        self.stdout.write(
            gateway.redactor.text(
                f"{hook.uuid}  {hook.type}  {state}  {hook.name}  {hook.url}  {hook.created_at}"
            )
        )

    def _list(self, gateway: PortOneGateway, options: dict[str, Any]) -> None:
        hooks = gateway.list_webhooks()
        for hook in hooks:
            self._show(gateway, hook)
        if not hooks:
            self.stdout.write(
                _("No webhooks in the %(environment)s environment.")
                % {"environment": gateway.environment}
            )

    def _create(self, gateway: PortOneGateway, options: dict[str, Any]) -> None:
        url = self._url(gateway, options)
        types = list(dict.fromkeys(options["types"] or NOTIFY_WEBHOOK_TYPES))
        prefix = options["name"] or f"multipay-{gateway.alias}"
        # The listing first: nothing is created when any of them is there already.
        existing = [h for h in gateway.list_webhooks() if h.url == url and h.type in types]
        if existing:
            raise CommandError(
                _("A %(type)s webhook already delivers to %(url)s (%(uuid)s); nothing was created.")
                % {"type": existing[0].type, "url": url, "uuid": existing[0].uuid}
            )
        for kind in types:
            hook = gateway.create_webhook(name=f"{prefix}-{kind}", url=url, type=kind)
            self.stdout.write(self.style.SUCCESS(_("Created:")))
            self._show(gateway, hook)
