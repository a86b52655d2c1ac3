"""Part 7: pruning the notification log (``multipay_prune_notifications``): time and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench import seed
from bench.reconcile import _reset_peak, _status_kb

#: Of every ten seeded notifications: which are old and finished (pruned) and which stay.
#: Kept: one received, one failed, and each invoice's latest.
RESULTS = ("processed", "duplicate", "rejected", "ignored", "processed", "duplicate")


def seed_log(count: int) -> dict[str, int]:
    """``count`` notifications received 100 days ago: 60% finished with no invoice, 20%
    unfinished (received, failed), 20% on invoices, two each (the older one pruned)."""
    _order, invoice, notification = seed._tables()
    invoices = count // 10
    seed.seed_invoices(1, invoices)
    results = "ARRAY[" + ", ".join(f"'{r}'" for r in RESULTS) + "]"
    seed._execute(
        f"""
        INSERT INTO {notification} (gateway, invoice_id, method, path, query_string, headers,
            body, remote_addr, received_at, verified, result, reason, dedup_key, attempts)
        SELECT 'dummy', NULL, 'POST', '/payments/notify/dummy/', '', '{{}}',
            '{{"id": "evt_' || n || '"}}', '127.0.0.1', now() - interval '100 days', true,
            CASE WHEN n %% 10 < 6 THEN ({results})[n %% 10 + 1]
                 WHEN n %% 10 < 8 THEN 'received' ELSE 'failed' END, '', '', 1
        FROM generate_series(1, %s) AS n
        """,
        [count - 2 * invoices],
    )
    seed._execute(
        f"""
        INSERT INTO {notification} (gateway, invoice_id, method, path, query_string, headers,
            body, remote_addr, received_at, verified, result, reason, dedup_key, attempts)
        SELECT 'dummy', i.id, 'POST', '/payments/notify/dummy/', '', '{{}}', '{{}}',
            '127.0.0.1', now() - interval '100 days' + k * interval '1 minute', true,
            'processed', '', '', 1
        FROM {invoice} i CROSS JOIN generate_series(0, 1) AS k ORDER BY k, i.id
        """
    )
    seed.vacuum_analyze()
    rest = count - 2 * invoices
    unfinished = sum(1 for n in range(1, rest + 1) if n % 10 >= 6)
    return {"stored": count, "prunable": rest - unfinished + invoices}


def child() -> dict[str, Any]:
    """Prune in this process and measure it."""
    seed.setup_django()
    from django.db import connection

    from django_multipay import retention

    connection.ensure_connection()
    peak_reset = _reset_peak()
    rss_before = _status_kb("VmRSS")
    began = time.perf_counter()
    summary = retention.prune()
    elapsed = time.perf_counter() - began
    return {
        "seconds": round(elapsed, 2),
        "deleted": summary.total,
        "batches": summary.batches,
        "peak_growth_mb": round((_status_kb("VmHWM") - rss_before) / 1024, 1),
        "peak_reset": peak_reset,
    }


def run(*, count: int = 1_000_000) -> dict[str, Any]:
    """A fresh database holding ``count`` old notifications; prune them in a child process."""
    seed.setup_django()
    from django_multipay.models import Notification

    seed.prepare_database()
    expected = seed_log(count)
    done = subprocess.run(
        [sys.executable, "-m", "bench.retention", "--child"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pruning failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    figures.update(expected)
    figures["left"] = Notification.objects.count()
    figures["rows_per_s"] = (
        round(figures["deleted"] / figures["seconds"]) if figures["seconds"] else 0
    )
    figures["ok"] = (
        figures["deleted"] == expected["prunable"]
        and figures["left"] == count - expected["prunable"]
    )
    return figures


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child()))
        return
    print(json.dumps(run(count=args.count), indent=2))


if __name__ == "__main__":
    main()
