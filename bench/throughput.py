"""Parts 1 and 2: notifications per second (dummy, PortPos IPN) and the floor, in one run."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from bench import cpu, deferred, load, seed
from bench.emulator import Emulator, Server

HOST, PORT = "127.0.0.1", 8030
WORKERS = 2

#: name → (notify path, gateway alias the invoices belong to while it is measured).
MEASUREMENTS = {
    "floor": ("/floor/notify/", "dummy"),
    "dummy": ("/payments/notify/dummy/", "dummy"),
    "portpos": ("/payments/notify/portpos/", "portpos"),
}


def app_server(workers: int = WORKERS, env: dict[str, str] | None = None) -> Server:
    """The benchmark project under gunicorn: sync workers, as many shops run it."""
    return Server(
        "app",
        [
            "--bind", f"{HOST}:{PORT}",
            "--workers", str(workers),
            "--worker-class", "sync",
            "--log-level", "warning",
            "bench.wsgi:application",
        ],
        probe=f"http://{HOST}:{PORT}/floor/notify/",  # 405 to a GET: up
        env=env,
    )  # fmt: skip


def dummy_notification(target: seed.Target) -> tuple[bytes, dict[str, str]]:
    """The dummy emulator's signed "paid" notification for ``target``: body and headers."""
    from django.conf import settings

    from django_multipay.gateways.dummy import SIGNATURE_HEADER, sign
    from django_multipay.sandbox.dummy import notification_for

    secret = settings.MULTIPAY["GATEWAYS"]["dummy"]["OPTIONS"]["webhook_secret"]
    payment = {
        "id": target.gateway_id,
        "status": "paid",
        "reference": target.invoice_id,
        "amount": target.amount,
        "currency": target.currency,
    }
    body = json.dumps(notification_for(payment)).encode()
    return body, {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, int(time.time()), body),
    }


def portpos_ipn(target: seed.Target) -> tuple[bytes, dict[str, str]]:
    """The PortPos emulator's IPN for ``target`` once paid (form-encoded, unsigned)."""
    from django_multipay.sandbox.portpos import ipn_fields

    invoice = {
        "invoice_id": target.gateway_id,
        "reference": target.invoice_id,
        "order": {"amount": target.amount, "currency": target.currency, "status": "ACCEPTED"},
    }
    body = urlencode(ipn_fields(invoice)).encode()
    return body, {"Content-Type": "application/x-www-form-urlencoded"}


def build(name: str, targets: Sequence[seed.Target]) -> list[bytes]:
    """One request per target, before the clock starts."""
    path = MEASUREMENTS[name][0]
    make = portpos_ipn if name == "portpos" else dummy_notification
    return [load.build_request(HOST, PORT, path, *make(t)) for t in targets]


def check(sent: Sequence[seed.Target]) -> dict[str, Any]:
    """Every invoice sent a notification is paid exactly once, with one stored notification;
    nothing else changed."""
    from django.db import connection

    from django_multipay.models import Invoice, Notification, Order

    ids = [t.invoice_id for t in sent]
    q = connection.ops.quote_name
    invoice, order, notification = (q(m._meta.db_table) for m in (Invoice, Order, Notification))
    queries = {
        "invoices_paid": f"SELECT count(*) FROM {invoice} WHERE id = ANY(%s::uuid[]) "
        "AND status = 'paid' AND captured_amount = amount",
        "orders_paid": f"SELECT count(*) FROM {order} o JOIN {invoice} i ON i.order_id = o.id "
        "WHERE i.id = ANY(%s::uuid[]) AND o.status = 'paid'",
        "others_changed": f"SELECT count(*) FROM {invoice} WHERE NOT id = ANY(%s::uuid[]) "
        "AND status <> 'pending'",
        "notifications": f"SELECT count(*) FROM {notification}",
        "notifications_processed": f"SELECT count(DISTINCT invoice_id) FROM {notification} "
        "WHERE result = 'processed' AND invoice_id = ANY(%s::uuid[])",
    }
    found = {}
    with connection.cursor() as cursor:
        for key, sql in queries.items():
            cursor.execute(sql, [ids] if "%s" in sql else None)
            found[key] = int(cursor.fetchone()[0])
    expected = {key: len(ids) for key in queries} | {"others_changed": 0}
    problems = [f"{k}: {found[k]}, expected {v}" for k, v in expected.items() if found[k] != v]
    return {"ok": not problems, "sent": len(ids), **found, "problems": problems}


def _cpu(app: Server, emulator: Emulator) -> dict[str, float]:
    """CPU seconds so far of the app's workers, PostgreSQL, the emulator and this client."""
    assert app.proc is not None
    assert emulator.proc is not None
    return {
        "app": cpu.tree(app.proc.pid),
        "postgres": cpu.postgres(),
        "emulator": cpu.tree(emulator.proc.pid),
        "client": time.process_time(),
    }


def run(
    *,
    invoices: int = 50_000,
    threads: int = 4,
    warmup: float = 3.0,
    seconds: float = 30.0,
    worker_tasks: int = 3_000,
) -> dict[str, Any]:
    """Seed, start the emulator and the app, measure the floor, the dummy and PortPos on
    the same invoices (reset between measurements), check the database after each; then
    PortPos again with notifications deferred, and ``worker_tasks`` of them worked by real
    task workers."""
    seed.setup_django()
    seed.prepare_database()
    seed.seed_invoices(1, invoices)
    targets = seed.targets(invoices)
    results: dict[str, Any] = {"invoices": invoices, "app_workers": WORKERS}
    with Emulator() as emulator:
        emulator.load(targets, ("dummy", "portpos"))
        with app_server() as app:
            _measure_all(results, app, emulator, targets, threads, warmup, seconds)
        if deferred.available():
            seed.reset("portpos")
            deferred.clear_tasks()
            with app_server(env=deferred.environment()):
                results["portpos_deferred"] = deferred.measure(
                    build("portpos", targets),
                    targets,
                    host=HOST,
                    port=PORT,
                    threads=threads,
                    warmup=warmup,
                    seconds=seconds,
                    worker_tasks=worker_tasks,
                )
    floor = results["floor"]["requests_per_s"] or float("nan")
    deferred_runs = [name for name in ("portpos_deferred",) if name in results]
    for name in ("dummy", "portpos", *deferred_runs):
        results[f"{name}_floor_ratio"] = round(results[name]["requests_per_s"] / floor, 3)
    answered = all(
        results[n]["check"]["ok"] and results[n]["non_2xx_all"] == 0
        for n in (*MEASUREMENTS, *deferred_runs)
    )
    results["ok"] = answered and all(results[n]["worker"]["ok"] for n in deferred_runs)
    return results


def _measure_all(
    results: dict[str, Any],
    app: Server,
    emulator: Emulator,
    targets: Sequence[seed.Target],
    threads: int,
    warmup: float,
    seconds: float,
) -> None:
    """The floor, the dummy notification and the PortPos IPN, one after another."""
    for name, (_path, gateway) in MEASUREMENTS.items():
        seed.reset(gateway)
        requests = build(name, targets)
        before = emulator.stats()
        spent = _cpu(app, emulator)
        figures = load.run(
            requests, host=HOST, port=PORT, threads=threads, warmup=warmup, seconds=seconds
        )
        figures["cpu_ms_per_request"] = {
            part: round((used - spent[part]) * 1000 / figures["sent"], 3)
            for part, used in _cpu(app, emulator).items()
        }
        after = emulator.stats()
        figures["emulator_requests"] = after["requests"] - before["requests"]
        figures["emulator_connections"] = after["connections"] - before["connections"]
        figures["check"] = check(targets[: figures["sent"]])
        results[name] = figures


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    result = run(
        invoices=args.invoices, threads=args.threads, warmup=args.warmup, seconds=args.seconds
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
