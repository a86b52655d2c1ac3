"""Part 5: reconciling pending dummy invoices (paid at the emulator): time and peak RSS growth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from bench import seed
from bench.emulator import Emulator


def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure (VmRSS, VmHWM) in kB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    """Make VmHWM start again from the current RSS (Linux ``clear_refs`` 5); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def child(count: int) -> dict[str, Any]:
    """Run the library's reconciliation of ``count`` invoices in this process and measure it
    (the child's side), with the time and RSS at every fifth of the way."""
    seed.setup_django()
    from django.db import connection

    from django_multipay import reconcile
    from django_multipay.registry import get_gateway

    # Everything a run needs before it starts (modules, connection, gateway), so the
    # growth measured is the run's own.
    connection.ensure_connection()
    get_gateway("dummy").http  # noqa: B018 (builds the session)
    step = max(count // 5, 1)
    splits: list[list[float]] = []

    def progress(message: str) -> None:
        # The library reports every chunk: "Re-checking invoices: 400 done".
        label, _, rest = message.partition(": ")
        done = int(rest.split()[0]) if rest.endswith(" done") else 0
        if label == "Re-checking invoices" and done and done % step == 0:
            seconds = round(time.perf_counter() - began, 2)
            splits.append([done, seconds, round(_status_kb("VmRSS") / 1024, 1)])

    peak_reset = _reset_peak()
    rss_before = _status_kb("VmRSS")
    began = time.perf_counter()
    summary = reconcile.run(gateway="dummy", older_than=timedelta(0), progress=progress)
    elapsed = time.perf_counter() - began
    return {
        "seconds": round(elapsed, 2),
        "checked": summary.invoices_checked,
        "changed": summary.invoices_changed,
        "errors": summary.errors,
        "rss_before_mb": round(rss_before / 1024, 1),
        "rss_after_mb": round(_status_kb("VmRSS") / 1024, 1),
        "peak_rss_mb": round(_status_kb("VmHWM") / 1024, 1),
        "peak_growth_mb": round((_status_kb("VmHWM") - rss_before) / 1024, 1),
        "peak_reset": peak_reset,
        "splits": splits,  # [invoices done, seconds, RSS MB]
    }


def reconcile_in_child(count: int) -> dict[str, Any]:
    """Run :func:`child` in a process of its own; its result."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.reconcile", "--child", str(count)],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"reconciliation failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _fifths(splits: list[list[float]]) -> float | None:
    """Time of the last fifth of a run over the first (1.0: no slower as it goes)."""
    if len(splits) < 2:
        return None
    first = splits[0][1]
    last = splits[-1][1] - splits[-2][1]
    return round(last / first, 3) if first else None


def paid_count() -> int:
    from django.db import connection

    from django_multipay.models import Invoice

    table = connection.ops.quote_name(Invoice._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table} WHERE status = 'paid'")
        return int(cursor.fetchone()[0])


def run(*, counts: Sequence[int] = (20_000, 100_000)) -> dict[str, Any]:
    """For each count, a fresh database of that many pending dummy invoices, all paid at the
    emulator; reconcile them in a child process."""
    seed.setup_django()
    results: dict[str, Any] = {}
    with Emulator() as emulator:
        loaded = 0
        for count in sorted(counts):
            seed.prepare_database()
            seed.seed_invoices(1, count)
            seed.vacuum_analyze()
            if count > loaded:  # ids depend only on n: the emulator keeps the smaller sets
                emulator.load(seed.targets(count - loaded, first=loaded + 1), ("dummy",))
                loaded = count
            before = emulator.stats()
            figures = reconcile_in_child(count)
            after = emulator.stats()
            figures["per_invoice_ms"] = round(figures["seconds"] * 1000 / count, 3)
            figures["last_to_first_fifth"] = _fifths(figures["splits"])
            figures["emulator_requests"] = after["requests"] - before["requests"]
            figures["emulator_connections"] = after["connections"] - before["connections"]
            figures["paid"] = paid_count()
            figures["ok"] = figures["paid"] == count and figures["errors"] == 0
            results[str(count)] = figures
    small, large = (results[str(c)] for c in (min(counts), max(counts)))
    # 1.0 when the time per invoice does not depend on how many there are: the larger run
    # against the smaller, or with one count, its last fifth against its first.
    if small is large:
        results["linearity"] = large["last_to_first_fifth"]
    else:
        results["linearity"] = round(large["per_invoice_ms"] / small["per_invoice_ms"], 3)
    return results


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[2_000, 10_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    print(json.dumps(run(counts=args.counts), indent=2))


if __name__ == "__main__":
    main()
