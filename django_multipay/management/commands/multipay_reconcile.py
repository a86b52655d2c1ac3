"""Settle what callbacks left open: re-check, expire, retry notifications, settle refunds."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_multipay import reconcile
from django_multipay.conf import multipay_settings

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(value: str) -> timedelta:
    """``90`` (seconds), ``30s``, ``15m``, ``2h`` or ``1d``."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", value)
    if not match:
        raise ValueError(value)
    return timedelta(seconds=int(match[1]) * UNITS[match[2] or "s"])


class Command(BaseCommand):
    help = (
        "Re-check invoices still pending at their gateway (with back-off), expire invoices "
        "past their validity, retry notifications that failed to process and settle refunds "
        "the gateway has not confirmed yet. Safe to run while the shop is serving, and from "
        "several machines at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--gateway", help="Only this gateway alias.")
        parser.add_argument(
            "--older-than",
            type=duration,
            help="Re-check invoices pending longer than this (90, 30s, 15m, 2h, 1d; default "
            "MULTIPAY['RECONCILE_PENDING_AFTER'] seconds).",
        )
        parser.add_argument(
            "--limit", type=int, help="At most this many rows per step (default: all)."
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only say what would be looked at; change nothing and call no gateway.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["gateway"]
        if alias and alias not in multipay_settings.GATEWAYS:
            raise CommandError(f"Unknown gateway alias {alias!r}.")
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        verbosity = int(options["verbosity"])
        summary = reconcile.run(
            gateway=alias,
            older_than=options["older_than"],
            limit=options["limit"],
            dry_run=options["dry_run"],
            progress=self._progress if verbosity >= 2 else None,
        )
        if verbosity >= 2:
            for change in summary.changes:
                self.stdout.write(f"  {change}")
            if summary.changes_omitted:
                self.stdout.write(f"  ... and {summary.changes_omitted} more")
        if verbosity >= 1:
            if options["dry_run"]:
                self.stdout.write("Dry run: nothing was changed.")
            for line in summary.lines():
                self.stdout.write(line)
        if summary.errors:
            self.stderr.write(f"{summary.errors} error(s); see the django_multipay logs.")

    def _progress(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()
