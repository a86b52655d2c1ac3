"""Part 4: time per dummy notification with 10,000 and with 1,000,000 invoices stored."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

from bench import seed
from bench.emulator import Emulator
from bench.load import percentile
from bench.throughput import dummy_notification

NOTIFY_PATH = "/payments/notify/dummy/"


def measure(targets: Sequence[seed.Target], path: str = NOTIFY_PATH) -> list[float]:
    """Send the signed "paid" notification of each target in turn to ``path``, in this
    process (Django's WSGI handler through the test client, one thread); seconds each took."""
    from django.test import Client

    client = Client()
    prepared = []
    for target in targets:
        body, headers = dummy_notification(target)
        content_type = headers.pop("Content-Type")
        prepared.append((body, content_type, headers))
    times = []
    for body, content_type, headers in prepared:
        began = time.perf_counter()
        response = client.post(path, data=body, content_type=content_type, headers=headers)
        times.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.content!r}")
    return times


def grow_to(first: int, last: int, pending: int) -> None:
    """Orders, invoices and notifications ``first..last``: paid (one processed notification
    each) but for the last ``pending`` invoices, which wait for theirs; then VACUUM ANALYZE."""
    seed.seed_invoices(first, last - pending, status="paid")
    seed.seed_invoices(last - pending + 1, last, status="pending")
    seed.seed_notifications(first, last)
    seed.vacuum_analyze()


def run(
    *, sizes: Sequence[int] = (10_000, 1_000_000), notifications: int = 2000, warmup: int = 200
) -> dict[str, Any]:
    """Grow the tables to each size in turn and time ``notifications`` first "paid"
    notifications on distinct pending invoices (after ``warmup`` untimed ones)."""
    seed.setup_django()
    seed.prepare_database()
    pending = warmup + notifications
    results: dict[str, Any] = {"notifications": notifications, "warmup": warmup}
    # Only needed if the dummy reads the status back; the count of its requests says.
    with Emulator() as emulator:
        stored = 0
        for size in sizes:
            began = time.perf_counter()
            grow_to(stored + 1, size, pending)
            seeded = time.perf_counter() - began
            stored = size
            targets = seed.targets(pending, first=size - pending + 1)
            rows = seed.counts()
            emulator.load(targets, ("dummy",))
            before = emulator.stats()
            measure(targets[:warmup])
            times = sorted(t * 1000 for t in measure(targets[warmup:]))
            results[str(size)] = {
                **rows,
                "seed_s": round(seeded, 1),
                "mean_ms": round(statistics.fmean(times), 3),
                "p50_ms": round(statistics.median(times), 3),
                "p99_ms": round(percentile(times, 99), 3),
                "emulator_requests": emulator.stats()["requests"] - before["requests"],
            }
    small, large = (results[str(s)] for s in (sizes[0], sizes[-1]))
    results["ratio_mean"] = round(large["mean_ms"] / small["mean_ms"], 3)
    results["ratio_p50"] = round(large["p50_ms"] / small["p50_ms"], 3)
    return results


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--notifications", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    result = run(sizes=args.sizes, notifications=args.notifications, warmup=args.warmup)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
