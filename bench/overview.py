"""Part 8: the admin's payments overview over 1,000,000 invoices: time per page, queries."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from bench import seed

#: Of every ten invoices, what became of them (the rest of the overview's rows are these).
STATUSES = ("paid", "paid", "paid", "paid", "paid", "failed", "cancelled", "expired", "pending")


def spread(days: int = 90) -> None:
    """Give the seeded invoices creation times over the last ``days`` days, statuses and
    captured amounts like a shop's, and three aliases."""
    _order, invoice, _ = seed._tables()
    statuses = "ARRAY[" + ", ".join(f"'{s}'" for s in STATUSES) + "]"
    seed._execute(
        f"""
        UPDATE {invoice} i SET
            created_at = now() - (s.n %% %s) * interval '1 day'
                - (s.n %% 997) * interval '1 minute',
            status = ({statuses})[s.n %% {len(STATUSES)} + 1],
            captured_amount = CASE WHEN ({statuses})[s.n %% {len(STATUSES)} + 1] = 'paid'
                THEN i.amount ELSE 0 END,
            gateway = (ARRAY['dummy', 'portpos', 'paylands'])[s.n %% 3 + 1]
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {invoice}) s
        WHERE s.id = i.id
        """,
        [days],
    )
    seed.vacuum_analyze()


def measure(repeat: int = 5) -> dict[str, Any]:
    """The page's time for each period (median of ``repeat`` after one warm-up), and its
    queries, through the admin as a superuser sees it."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user = get_user_model().objects.create_superuser("bench-admin", password="x")
    client = Client()
    client.force_login(user)
    url = "/admin/django_multipay/paymentsoverview/"
    figures: dict[str, Any] = {}
    for period in ("today", "7d", "30d"):
        client.get(url, {"period": period})
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            response = client.get(url, {"period": period})
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.status_code
        with CaptureQueriesContext(connection) as queries:
            client.get(url, {"period": period})
        figures[period] = {
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "queries": len(queries),
        }
    return figures


def run(*, count: int = 1_000_000) -> dict[str, Any]:
    seed.setup_django()
    seed.prepare_database()
    seed.seed_invoices(1, count)
    spread()
    figures = measure()
    figures["invoices"] = count
    figures["ok"] = len({f["queries"] for k, f in figures.items() if k != "invoices"}) == 1
    return figures


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(run(count=args.count), indent=2))


if __name__ == "__main__":
    main()
