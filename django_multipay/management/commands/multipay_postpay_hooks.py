"""Create, list, update or delete the shop's Postpay webhook from the alias's settings."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from django_multipay.conf import multipay_settings
from django_multipay.exceptions import GatewayConfigurationError, MultipayError
from django_multipay.gateways.postpay import HOOK_EVENTS, PostpayGateway, PostpayHook
from django_multipay.management.aliases import gateway_for


class Command(BaseCommand):
    help = (
        "Manage the Postpay webhook (/hooks) of a gateway alias: its URL is the shop's notify "
        "URL (or OPTIONS webhook_url), its secret OPTIONS webhook_secret, its events OPTIONS "
        "webhook_events (default: order and transaction)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=("create", "list", "update", "delete"))
        parser.add_argument("--alias", help="The Postpay alias (default: the only one).")
        parser.add_argument("--id", dest="hook_id", help="The hook (default: the one at our URL).")
        parser.add_argument("--url", help="Override the URL the hook delivers to.")
        parser.add_argument("--events", nargs="+", choices=HOOK_EVENTS, help="Override the events.")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--active", dest="active", action="store_true", default=None)
        state.add_argument("--inactive", dest="active", action="store_false")

    def handle(self, *args: Any, **options: Any) -> None:
        gateway = self._gateway(options["alias"])
        try:
            getattr(self, f"_{options['action']}")(gateway, options)
        except GatewayConfigurationError:
            raise  # a settings mistake, not the gateway's answer: shown as it is
        except MultipayError as exc:
            raise CommandError(str(exc)) from None

    # -- settings ----------------------------------------------------------------------------

    def _gateway(self, alias: str | None) -> PostpayGateway:
        return gateway_for(PostpayGateway, alias)

    def _url(self, gateway: PostpayGateway, options: dict[str, Any]) -> str:
        url = options["url"] or gateway.option("webhook_url")
        if url:
            return str(url)
        base = multipay_settings.BASE_URL
        if not base:
            raise CommandError("Set MULTIPAY['BASE_URL'] (or OPTIONS webhook_url, or --url).")
        path = reverse("django_multipay:notify", kwargs={"alias": gateway.alias})
        return str(base).rstrip("/") + path

    def _events(self, gateway: PostpayGateway, options: dict[str, Any]) -> list[str]:
        return list(options["events"] or gateway.option("webhook_events", HOOK_EVENTS))

    def _secret(self, gateway: PostpayGateway) -> str:
        secret = gateway.option("webhook_secret")
        if not secret:
            raise CommandError(f"Set OPTIONS['webhook_secret'] of {gateway.alias!r} first.")
        return str(secret)

    def _ours(self, gateway: PostpayGateway, options: dict[str, Any]) -> list[PostpayHook]:
        if options["hook_id"]:
            return [gateway.get_hook(options["hook_id"])]
        url = self._url(gateway, options)
        return [h for h in self._all(gateway) if h.url == url]

    def _all(self, gateway: PostpayGateway) -> list[PostpayHook]:
        hooks: list[PostpayHook] = []
        page = 1
        while True:
            found = gateway.list_hooks(page=page, page_size=50, ordering="created")
            hooks.extend(found.results)
            if not found.next:
                return hooks
            page += 1

    def _show(self, hook: PostpayHook) -> None:
        state = "active" if hook.active else "inactive"
        last = hook.last_response_status or "unused"
        if hook.last_response_code is not None:
            last += f" ({hook.last_response_code})"
        self.stdout.write(
            f"{hook.id}  {state}  events={','.join(hook.events)}  {hook.url}  last={last}"
        )

    # -- actions -----------------------------------------------------------------------------

    def _list(self, gateway: PostpayGateway, options: dict[str, Any]) -> None:
        hooks = self._all(gateway)
        for hook in hooks:
            self._show(hook)
        if not hooks:
            self.stdout.write("No hooks.")

    def _create(self, gateway: PostpayGateway, options: dict[str, Any]) -> None:
        url = self._url(gateway, options)
        existing = [h for h in self._all(gateway) if h.url == url]
        if existing:
            raise CommandError(
                f"A hook already delivers to {url} ({existing[0].id}); use 'update' instead."
            )
        active = options["active"]
        hook = gateway.create_hook(
            url=url,
            secret=self._secret(gateway),
            events=self._events(gateway, options),
            active=bool(gateway.option("webhook_active", True)) if active is None else active,
        )
        self.stdout.write(self.style.SUCCESS("Created:"))
        self._show(hook)

    def _update(self, gateway: PostpayGateway, options: dict[str, Any]) -> None:
        hooks = self._ours(gateway, options)
        if len(hooks) != 1:
            raise CommandError(
                f"Found {len(hooks)} hooks at {self._url(gateway, options)}; choose one with --id."
            )
        active = options["active"]
        hook = gateway.update_hook(
            hooks[0].id,
            url=self._url(gateway, options),
            secret=self._secret(gateway),
            events=self._events(gateway, options),
            active=bool(gateway.option("webhook_active", True)) if active is None else active,
        )
        self.stdout.write(self.style.SUCCESS("Updated:"))
        self._show(hook)

    def _delete(self, gateway: PostpayGateway, options: dict[str, Any]) -> None:
        hooks = self._ours(gateway, options)
        if not hooks:
            raise CommandError(f"No hook delivers to {self._url(gateway, options)}.")
        for hook in hooks:
            gateway.delete_hook(hook.id)
            self.stdout.write(self.style.SUCCESS(f"Deleted {hook.id} ({hook.url})."))
