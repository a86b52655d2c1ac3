"""`make bench`: run every part, write bench/results/latest.json and docs/performance.md's table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
PAGE = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import django
    import gunicorn
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = str(cursor.fetchone()[0]).split()[0]
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else ""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": postgres,
        "gunicorn": gunicorn.__version__,
    }


def run_all(quick: bool) -> dict[str, Any]:
    from bench import (
        breakdown,
        connections,
        listing,
        memory,
        overview,
        reconcile,
        retention,
        scale,
        seed,
        sqlcount,
        throughput,
    )

    seed.setup_django()
    seed.prepare_database()
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    timings: dict[str, float] = {}

    def part(name: str, call: Any) -> None:
        print(f"-- {name}", flush=True)
        began = time.perf_counter()
        results[name] = call()
        timings[name] = round(time.perf_counter() - began, 1)

    part("sql", lambda: {k: v["statements"] for k, v in sqlcount.measure().items()})
    if quick:
        part(
            "throughput",
            lambda: throughput.run(invoices=10_000, warmup=1, seconds=3, worker_tasks=300),
        )
        part("breakdown", lambda: breakdown.run(notifications=300, warmup=50))
        part("connections", lambda: connections.run(calls=200))
        part("scale", lambda: scale.run(sizes=(10_000, 50_000), notifications=300, warmup=50))
        part("reconcile", lambda: reconcile.run(counts=(1_000, 5_000)))
        part("retention", lambda: retention.run(count=20_000))
        part("overview", lambda: overview.run(count=20_000))
        part("listing", lambda: listing.run(count=100))
        part("memory", lambda: memory.run(notifications=5_000, first=500))
    else:
        part("throughput", throughput.run)
        part("breakdown", breakdown.run)
        part("connections", connections.run)
        part("scale", scale.run)
        part("reconcile", lambda: reconcile.run(counts=(10_000, 100_000)))
        part("retention", lambda: retention.run(count=1_000_000))
        part("overview", lambda: overview.run(count=1_000_000))
        part("listing", lambda: listing.run(count=1_000))
        part("memory", memory.run)
    results["seconds"] = timings
    results["targets"] = targets(results)
    return results


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the benchmark issue: what was measured and whether it was met."""
    sql, tp = results["sql"], results["throughput"]
    scale, rec, conn = results["scale"], results["reconcile"], results["connections"]
    dummy, mem = tp["dummy"], results["memory"]
    big_reconcile = rec[str(max(int(k) for k in rec if k.isdigit()))]
    rows = [
        (
            "Dummy ≥ 0.9 of the floor",
            f"{tp['dummy_floor_ratio']:.2f} ({dummy['requests_per_s']:.0f}/s against "
            f"{tp['floor']['requests_per_s']:.0f}/s)",
            tp["dummy_floor_ratio"] >= 0.9,
        ),
        ("Dummy p99 ≤ 10 ms", f"{dummy['p99_ms']:.1f} ms", dummy["p99_ms"] <= 10),
        (
            "PortPos IPN, validated, ≥ 0.5 of the floor",
            f"{tp['portpos_floor_ratio']:.2f} ({tp['portpos']['requests_per_s']:.0f}/s)",
            tp["portpos_floor_ratio"] >= 0.5,
        ),
    ]
    if "portpos_deferred" in tp:
        deferred = tp["portpos_deferred"]
        rows.append(
            (
                "PortPos IPN deferred: the answer ≥ 0.8 of the floor",
                f"{tp['portpos_deferred_floor_ratio']:.2f} ({deferred['requests_per_s']:.0f}/s;"
                f" {deferred['worker']['workers']} task workers verified and applied "
                f"{deferred['worker']['notifications_per_s']:.0f}/s)",
                tp["portpos_deferred_floor_ratio"] >= 0.8,
            )
        )
    rows += [
        ("No non-2xx answers", _non_2xx(tp), all(tp[n]["non_2xx_all"] == 0 for n in _runs(tp))),
        (
            "First notification ≤ 6 statements",
            str(sql["notification_first"]),
            sql["notification_first"] <= 6,
        ),
        (
            "Duplicate ≤ 4 statements",
            str(sql["notification_duplicate"]),
            sql["notification_duplicate"] <= 4,
        ),
        ("Refund through the API ≤ 10 statements", str(sql["refund"]), sql["refund"] <= 10),
        ("Pay ≤ 8 statements", str(sql["pay"]), sql["pay"] <= 8),
        (
            f"Worker memory after {mem['notifications']:,} notifications ≤ 10 MB above "
            f"after {mem['first']:,}",
            f"{mem['growth_mb']:.1f} MB",
            mem["growth_mb"] <= 10,
        ),
    ]
    for name, many in (
        ("api_orders", 50),
        ("api_notifications", 50),
        ("api_invoice_refunds", 50),
        ("admin_invoices", 100),
    ):
        one, lots = sql[f"{name}_1"], sql[f"{name}_{many}"]
        rows.append((f"{_label(name)}: same at 1 and {many}", f"{one} / {lots}", one == lots))
    rows += [
        (
            "Per notification at 1M invoices ≤ 1.2 times 10k",
            f"{scale['ratio_mean']:.2f}",
            scale["ratio_mean"] <= 1.2,
        ),
        (
            "Reconcile: memory growth ≤ 100 MB",
            f"{big_reconcile['peak_growth_mb']:.0f} MB",
            big_reconcile["peak_growth_mb"] <= 100,
        ),
        (
            "Reconcile: time linear in the count",
            f"{rec['linearity']:.2f} times the time per invoice at the smaller count",
            rec["linearity"] <= 1.2,
        ),
        ("One connection per gateway for 1,000 calls", _connections(conn), conn["ok"]),
    ]
    return [{"target": t, "measured": m, "met": bool(ok)} for t, m, ok in rows]


def _runs(tp: dict[str, Any]) -> list[str]:
    """The load runs of the throughput part, in order."""
    return [n for n in ("floor", "dummy", "portpos", "portpos_deferred") if n in tp]


def _non_2xx(tp: dict[str, Any]) -> str:
    return ", ".join(f"{n} {tp[n]['non_2xx_all']}" for n in _runs(tp))


def _connections(conn: dict[str, Any]) -> str:
    return ", ".join(f"{a} {conn[a]['connections']}" for a in ("dummy", "portpos"))


def _label(name: str) -> str:
    return {
        "api_orders": "API orders",
        "api_notifications": "API notifications",
        "api_invoice_refunds": "API invoice refunds",
        "admin_invoices": "Admin invoices",
    }[name]


def markdown(results: dict[str, Any]) -> str:
    """The results section of docs/performance.md."""
    m, tp, sql = results["machine"], results["throughput"], results["sql"]
    scale, rec, conn = results["scale"], results["reconcile"], results["connections"]
    out = [
        "## Results",
        "",
        f"Measured on {m['date']}: {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), "
        f"Python {m['python']}, Django {m['django']}, PostgreSQL {m['postgresql']}, "
        f"gunicorn {m['gunicorn']}."
        + (" **Quick run: shortened, not comparable.**" if results["quick"] else ""),
        "",
        "### Targets",
        "",
        "| Target | Measured | |",
        "|---|---|---|",
        *(
            f"| {t['target']} | {t['measured']} | {'met' if t['met'] else '**missed**'} |"
            for t in results["targets"]
        ),
        "",
        "### Notifications",
        "",
        f"{tp['invoices']:,} seeded invoices, gunicorn with {tp['app_workers']} sync workers, "
        "4 client threads.",
        "",
        "| | Requests/s | p50 ms | p99 ms | Requests | Non-2xx | Ours / floor "
        "| CPU ms per request: app, PostgreSQL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label in (
        ("floor", "Floor (bare view)"),
        ("dummy", "Dummy, signed"),
        ("portpos", "PortPos IPN, validated"),
    ):
        row = tp[name]
        ratio = "1" if name == "floor" else f"{tp[f'{name}_floor_ratio']:.2f}"
        used = row["cpu_ms_per_request"]
        out.append(
            f"| {label} | {row['requests_per_s']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
            f"| {row['count']:,} | {row['non_2xx_all']} | {ratio} "
            f"| {used['app']:.2f}, {used['postgres']:.2f} |"
        )
    if "portpos_deferred" in tp:
        row, worker = tp["portpos_deferred"], tp["portpos_deferred"]["worker"]
        out.append(
            f"| PortPos IPN, `DEFER_NOTIFICATIONS` (the answer) | {row['requests_per_s']:.0f} "
            f"| {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['count']:,} "
            f"| {row['non_2xx_all']} | {tp['portpos_deferred_floor_ratio']:.2f} | |"
        )
        out += [
            "",
            f"With `DEFER_NOTIFICATIONS`, {worker['workers']} task workers (django-tasks-db's "
            f"`db_worker`, started for the measurement) verified {worker['tasks_done']:,} of "
            f"the stored IPNs with the emulator and applied them in {worker['seconds']:.1f} s: "
            f"{worker['notifications_per_s']:.0f} notifications/s, start-up included.",
        ]
    bd = results["breakdown"]
    before = _before()
    earlier = before.get("breakdown", {}).get("stages_ms", {})
    out += [
        "",
        "### Where a notification's time goes",
        "",
        f"One thread, in-process, {bd['notifications']:,} first dummy notifications; the "
        f"floor's whole request took {bd['floor_ms']:.2f} ms. Stages nest: they do not add up.",
    ]
    if earlier:
        out += [
            f"*Before* is the run of {before['date']}, before the locked read, the row "
            "updates and the notification insert were built once per process (its floor: "
            f"{before['breakdown']['floor_ms']:.2f} ms); a dash, a stage the code no longer has.",
            "",
            "| Stage | ms per notification | Before |",
            "|---|---|---|",
            *(
                f"| {stage} | {_ms(bd['stages_ms'].get(stage))} | {_ms(earlier.get(stage))} |"
                for stage in {**bd["stages_ms"], **earlier}
            ),
        ]
    else:
        out += [
            "",
            "| Stage | ms per notification |",
            "|---|---|",
            *(f"| {stage} | {ms:.2f} |" for stage, ms in bd["stages_ms"].items()),
        ]
    mem = results["memory"]
    out += [
        "",
        "### Memory",
        "",
        f"{mem['notifications']:,} first dummy notifications, each to an invoice of its own, "
        f"through gunicorn's sync workers: resident memory of each worker after the first "
        f"{mem['first']:,} and at the end.",
        "",
        "| Worker | MB after the first | MB at the end |",
        "|---|---|---|",
        *(
            f"| {n} | {mem['rss_after_first_mb'][pid]:.1f} | {mem['rss_at_end_mb'][pid]:.1f} |"
            for n, pid in enumerate(sorted(mem["rss_after_first_mb"]), 1)
            if pid in mem["rss_at_end_mb"]
        ),
        "",
        f"Largest growth: {mem['growth_mb']:.1f} MB.",
    ]
    earlier_sql = before.get("sql", {})
    out += [
        "",
        "### SQL statements per operation",
        "",
        "BEGIN and COMMIT included.",
        "",
        "| Operation | Statements | Before |",
        "|---|---|---|",
    ]
    out += [
        f"| {_operation(name)} | {count} | {earlier_sql.get(name, '-')} |"
        for name, count in sql.items()
    ]
    out += [
        "",
        "### Cost as the tables grow",
        "",
        f"One thread, in-process, {scale['notifications']:,} first notifications "
        "on distinct invoices.",
        "",
        "| Invoices (and notifications) stored | Mean ms | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for size in sorted(int(k) for k in scale if k.isdigit()):
        row = scale[str(size)]
        out.append(
            f"| {size:,} | {row['mean_ms']:.2f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |"
        )
    out += [
        "",
        f"Largest over smallest: {scale['ratio_mean']:.2f} (mean), {scale['ratio_p50']:.2f} (p50).",
        "",
        "### Reconciliation",
        "",
        "| Pending invoices | Seconds | ms per invoice | Peak RSS growth MB | Paid after |",
        "|---|---|---|---|---|",
    ]
    for count in sorted(int(k) for k in rec if k.isdigit()):
        row = rec[str(count)]
        out.append(
            f"| {count:,} | {row['seconds']:.0f} | {row['per_invoice_ms']:.2f} "
            f"| {row['peak_growth_mb']:.0f} | {row['paid']:,} |"
        )
    out += [
        "",
        "PortOne invoices re-checked by reconciliation, gateway calls made (counted in-process "
        "against the emulator): read one by one, each is a status read and its transaction "
        "details; with the listing (`fetch-all-payments`), a page per 100 transactions.",
        "",
        "| Invoices | Calls, one by one | Calls, with the listing | Saved |",
        "|---|---|---|---|",
        (
            f"| {results['listing']['invoices']:,} "
            f"| {results['listing']['without_listing']['gateway_calls']:,} "
            f"| {results['listing']['with_listing']['gateway_calls']:,} "
            f"| {results['listing']['calls_saved']:,} |"
        ),
        "",
        "### Notification retention",
        "",
        "`multipay_prune_notifications` over old notifications, 1,000 a batch; the rest "
        "(unfinished, or an invoice's latest) stay.",
        "",
        "| Stored | Deleted | Left | Seconds | Rows/s | Batches | Peak RSS growth MB |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {ret['stored']:,} | {ret['deleted']:,} | {ret['left']:,} | {ret['seconds']:.1f} "
            f"| {ret['rows_per_s']:,} | {ret['batches']:,} | {ret['peak_growth_mb']:.0f} |"
            for ret in (results["retention"],)
        ),
        "",
        "### Payments overview",
        "",
        f"The admin page over {results['overview']['invoices']:,} invoices spread over 90 days, "
        "as a superuser opens it (median of 5).",
        "",
        "| Period | Median ms | Max ms | Queries |",
        "|---|---|---|---|",
        *(
            f"| {period} | {results['overview'][period]['median_ms']:.0f} "
            f"| {results['overview'][period]['max_ms']:.0f} "
            f"| {results['overview'][period]['queries']} |"
            for period in ("today", "7d", "30d")
        ),
        "",
        "### Connections",
        "",
        "| Gateway | Calls | TCP connections accepted |",
        "|---|---|---|",
        *(
            f"| {a} | {conn[a]['requests']:,} | {conn[a]['connections']} |"
            for a in ("dummy", "portpos")
        ),
        "",
    ]
    return "\n".join(out)


BEFORE = ROOT / "bench" / "results" / "before.json"


def _before() -> dict[str, Any]:
    """The figures kept from before the last change to the hot path, if any."""
    return json.loads(BEFORE.read_text()) if BEFORE.exists() else {}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _operation(name: str) -> str:
    labels = {
        "pay": "Pay (create the invoice, start at the gateway)",
        "notification_first": "First notification (dummy, signed)",
        "notification_duplicate": "Repeated notification (dummy, signed)",
        "portpos_ipn_first": "First PortPos IPN (validated)",
        "refund": "Refund through the API",
    }
    if name in labels:
        return labels[name]
    base, _, rows = name.rpartition("_")
    return f"{_label(base)} list, {rows} row{'s' if rows != '1' else ''}"


def write_page(section: str, start: str = START, end: str = END) -> None:
    """Put ``section`` between the ``start`` and ``end`` markers of docs/performance.md."""
    text = PAGE.read_text()
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    PAGE.write_text(f"{before}{start}\n{section}\n{end}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a shortened run that checks every part works; writes no files",
    )
    args = parser.parse_args()
    results = run_all(args.quick)
    for row in results["targets"]:
        print(f"{'met   ' if row['met'] else 'MISSED'} {row['target']}: {row['measured']}")
    problems = [
        name
        for name in (
            "throughput",
            "reconcile",
            "retention",
            "overview",
            "listing",
            "connections",
            "memory",
        )
        if not _all_ok(results[name])
    ]
    if args.quick:
        # Figures of a shortened run say nothing; only that every part ran and checked out.
        if problems:
            raise SystemExit(f"bench parts whose own checks failed: {', '.join(problems)}")
        print("Quick run: every part ran; no files written.")
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_page(markdown(results))
    print(f"Wrote {RESULTS.relative_to(ROOT)} and {PAGE.relative_to(ROOT)}")
    if problems:
        raise SystemExit(f"bench parts whose own checks failed: {', '.join(problems)}")


def _all_ok(part: dict[str, Any]) -> bool:
    """A part's own correctness checks (not its targets): rows as expected, no errors."""
    if "ok" in part:
        return bool(part["ok"])
    return all(_all_ok(value) for value in part.values() if isinstance(value, dict))


if __name__ == "__main__":
    main()
