"""Delete finished notifications older than the retention, in batches: the log stays bounded."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_multipay import retention
from django_multipay.management.commands.multipay_reconcile import duration


class Command(BaseCommand):
    help = (
        "Delete processed, duplicate, ignored and rejected notifications received longer ago "
        "than MULTIPAY['NOTIFICATION_RETENTION'] (or --older-than), in batches. Never deletes "
        "one still received, failed or abandoned, nor the latest notification of an invoice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=duration,
            help="Prune notifications older than this (90, 30s, 15m, 2h, 1d; default "
            "MULTIPAY['NOTIFICATION_RETENTION'] seconds).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.DEFAULT_BATCH_SIZE,
            help=f"Rows deleted per statement (default {retention.DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be deleted."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        older_than = options["older_than"]
        try:
            if older_than is None and retention.retention() is None:
                self.stdout.write(
                    "MULTIPAY['NOTIFICATION_RETENTION'] is None: every notification is kept."
                )
                return
            verbose = int(options["verbosity"]) >= 2
            summary = retention.prune(
                older_than=older_than,
                batch_size=options["batch_size"],
                dry_run=options["dry_run"],
                progress=self._progress if verbose else None,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if int(options["verbosity"]) >= 1:
            self.stdout.write(str(summary))

    def _progress(self, summary: retention.PruneSummary) -> None:
        self.stdout.write(f"  batch {summary.batches}: {summary.total} so far")
        self.stdout.flush()
