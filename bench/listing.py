"""Part 9: gateway calls reconciliation makes for PortOne invoices, with and without its listing.

Counts, not times, so it runs in-process: the test settings (SQLite in memory), the PortOne
emulator answering through the test client, every call recorded."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from typing import Any
from unittest import mock


def _reconcile(count: int, *, listing: bool) -> dict[str, Any]:
    from django.utils import timezone

    from django_multipay import payments, reconcile
    from django_multipay.gateways.portone import PortOneGateway
    from django_multipay.models import Invoice, Order
    from django_multipay.sandbox import portone as emulator
    from django_multipay.sandbox.store import store
    from django_multipay.testing.router import emulators

    with emulators() as router:
        for n in range(count):
            order = Order.objects.create(
                reference=f"listing-{listing}-{n}",
                amount=Decimal("10.50") + n,
                currency="EUR",
                customer_email=f"c{n}@example.com",
            )
            invoice, _action = payments.begin_payment(order, "portone")
            with store.table(emulator.TRANSACTIONS) as table:
                emulator.settle(table[invoice.gateway_id], "success")
        Invoice.objects.update(created_at=timezone.now() - timedelta(hours=1))
        before = len(router.calls)
        # Without: the gateway says it has no listing, as every backend but PortOne does.
        patch = (
            mock.patch.object(PortOneGateway, "fetch_statuses", return_value=None)
            if not listing
            else contextlib.nullcontext()
        )
        with patch:
            summary = reconcile.run(gateway="portone")
        calls = router.calls[before:]
        paid = Invoice.objects.filter(status="paid").count()
        Invoice.objects.all().delete()
        Order.objects.all().delete()
    return {
        "gateway_calls": len(calls),
        "listing_calls": sum(1 for c in calls if re.search(r"/fetch-all-payments$", c.url or "")),
        "checked": summary.invoices_checked,
        "paid": paid,
        "ok": paid == count and summary.errors == 0,
    }


def child(count: int) -> dict[str, Any]:
    """Both runs, in this process, under the test settings."""
    import django
    from django.test.utils import setup_databases, setup_test_environment

    django.setup()
    setup_test_environment()
    setup_databases(verbosity=0, interactive=False, aliases={"default"})
    alone = _reconcile(count, listing=False)
    listed = _reconcile(count, listing=True)
    return {
        "invoices": count,
        "without_listing": alone,
        "with_listing": listed,
        "calls_saved": alone["gateway_calls"] - listed["gateway_calls"],
        "ok": alone["ok"] and listed["ok"],
    }


def run(*, count: int = 1_000) -> dict[str, Any]:
    """:func:`child` in a process of its own (the benchmarks' own settings stay as they are)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.pop("DATABASE_URL", None)  # SQLite in memory: a count needs no server
    done = subprocess.run(
        [sys.executable, "-m", "bench.listing", "--child", str(count)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"listing run failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    print(json.dumps(run(count=args.count), indent=2))


if __name__ == "__main__":
    main()
