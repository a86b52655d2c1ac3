"""Fast, set-based seeding and resetting of orders, invoices and notifications on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from typing import NamedTuple

import django

#: Every seeded amount is in this currency (PortPos and the dummy both take it).
CURRENCY = "BDT"


class Target(NamedTuple):
    """A seeded invoice as notifications and the emulators name it."""

    invoice_id: str
    gateway_id: str
    amount: str  # as the gateways write it: "123.50"
    currency: str


def setup_django() -> None:
    """Configure Django with the benchmark settings (idempotent)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()


def _tables() -> tuple[str, str, str]:
    from django.db import connection

    from django_multipay.models import Invoice, Notification, Order

    q = connection.ops.quote_name
    return q(Order._meta.db_table), q(Invoice._meta.db_table), q(Notification._meta.db_table)


def _execute(sql: str, params: list[object] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def prepare_database() -> None:
    """Drop and recreate the benchmark database, then migrate it (a clean start every run)."""
    import psycopg
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    db = settings.DATABASES["default"]
    admin = psycopg.connect(
        dbname="postgres",
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        autocommit=True,
    )
    with admin:
        name = psycopg.sql.Identifier(db["NAME"])
        admin.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(name))
    # A process of its own, so this one's connection starts on the new database.
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        check=True,
    )


def gateway_id(n: int) -> str:
    """The gateway's id of seeded invoice ``n`` (the same for the dummy and PortPos)."""
    return f"BN{n:010d}"


def seed_invoices(
    first: int, last: int, *, status: str = "pending", gateway: str = "dummy"
) -> None:
    """Orders and invoices ``first..last`` (order id = n), one invoice each, in ``status``.

    Invoice ids are derived from n, amounts vary between 100.50 and 999.50 BDT."""
    order, invoice, _ = _tables()
    order_status = "paid" if status == "paid" else "pending"
    _execute(
        f"""
        INSERT INTO {order} (id, public_id, reference, amount, currency, tax_amount,
            shipping_amount, description, status, user_id, customer_name, customer_email,
            customer_phone, billing_address, shipping_address, success_url, failure_url,
            metadata, created_at, updated_at)
        SELECT n, md5('bench-order-' || n)::uuid, 'bench-' || n, 100.5 + mod(n, 900), %s, 0, 0,
            'Benchmark order ' || n, %s, NULL, 'Customer ' || n, 'c' || n || '@example.com',
            '+8801700000000', '{{}}', '{{}}', '', '', '{{}}',
            now() - interval '2 days' + n * interval '1 ms',
            now() - interval '2 days' + n * interval '1 ms'
        FROM generate_series(%s::bigint, %s::bigint) AS n
        """,
        [CURRENCY, order_status, first, last],
    )
    _execute(
        f"""
        INSERT INTO {invoice} (id, order_id, gateway, gateway_id, amount, currency, status,
            captured_amount, refunded_amount, redirect_url, expires_at, gateway_data,
            failure_reason, created_at, updated_at, reconcile_attempts, next_check_at,
            hold_expires_at, gateway_options)
        SELECT md5('bench-invoice-' || n)::uuid, n, %s, 'BN' || lpad(n::text, 10, '0'),
            100.5 + mod(n, 900), %s, %s,
            CASE WHEN %s = 'paid' THEN 100.5 + mod(n, 900) ELSE 0 END, 0,
            '', NULL, '{{}}', '', now() - interval '2 days' + n * interval '1 ms',
            now() - interval '2 days' + n * interval '1 ms', 0, NULL, NULL, '{{}}'
        FROM generate_series(%s::bigint, %s::bigint) AS n
        """,
        [gateway, CURRENCY, status, status, first, last],
    )
    _execute(
        f"SELECT setval(pg_get_serial_sequence('{order}', 'id'), (SELECT max(id) FROM {order}))"
    )


def seed_notifications(first: int, last: int) -> None:
    """One stored notification per invoice of orders ``first..last``, as the dummy sends it:
    "paid" (processed, de-duplication key claimed) for paid invoices, "pending" otherwise."""
    _, invoice, notification = _tables()
    _execute(
        f"""
        INSERT INTO {notification} (gateway, invoice_id, method, path, query_string, headers,
            body, remote_addr, received_at, verified, result, reason, dedup_key, attempts,
            processed_at)
        SELECT i.gateway, i.id, 'POST', '/payments/notify/' || i.gateway || '/', '',
            json_build_object('Content-Type', 'application/json',
                'Multipay-Signature', 't=1700000000,v1=' || md5(i.id::text) || md5(i.gateway_id)),
            json_build_object('id', 'evt_' || i.gateway_id || '_' || i.status,
                'type', 'payment.' || i.status, 'created', 1700000000,
                'data', json_build_object('payment_id', i.gateway_id, 'reference', i.id,
                    'status', i.status, 'amount', to_char(i.amount, 'FM999999990.00'),
                    'currency', i.currency))::text,
            '127.0.0.1', i.created_at + interval '1 minute', true,
            CASE WHEN i.status = 'paid' THEN 'processed' ELSE 'duplicate' END, '',
            CASE WHEN i.status = 'paid' THEN 'evt_' || i.gateway_id || '_paid' ELSE '' END,
            1, i.created_at + interval '1 minute'
        FROM {invoice} i WHERE i.order_id BETWEEN %s AND %s ORDER BY i.order_id
        """,
        [first, last],
    )


def reset(gateway: str = "dummy") -> None:
    """Every invoice pending again at ``gateway``, every order pending, no notification."""
    order, invoice, notification = _tables()
    _execute(f"TRUNCATE {notification}")
    _execute(
        f"UPDATE {invoice} SET status = 'pending', captured_amount = 0, gateway = %s, "
        "gateway_data = '{}', updated_at = created_at "
        "WHERE status <> 'pending' OR gateway <> %s OR gateway_data <> '{}'",
        [gateway, gateway],
    )
    _execute(f"UPDATE {order} SET status = 'pending' WHERE status <> 'pending'")
    vacuum_analyze()


def vacuum_analyze() -> None:
    """Dead rows of the last run cleared, statistics fresh, and the writes flushed to disk
    now (CHECKPOINT) rather than during the next measurement: each one starts alike."""
    for table in _tables():
        _execute(f"VACUUM ANALYZE {table}")
    _execute("CHECKPOINT")


def targets(count: int, *, status: str = "pending", first: int = 1) -> list[Target]:
    """The first ``count`` invoices in ``status`` from order ``first`` on, in order."""
    from django.db import connection

    from django_multipay import money

    _, invoice, _ = _tables()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, gateway_id, amount, currency FROM {invoice} "
            "WHERE status = %s AND order_id >= %s ORDER BY order_id LIMIT %s",
            [status, first, count],
        )
        return [
            Target(str(pk), gid, money.format_decimal(Decimal(amount), cur), cur)
            for pk, gid, amount, cur in cursor.fetchall()
        ]


def counts() -> dict[str, int]:
    """Rows per table (a quick look after seeding)."""
    names = ("orders", "invoices", "notifications")
    return {
        name: _scalar(f"SELECT count(*) FROM {table}")
        for name, table in zip(names, _tables(), strict=True)
    }


def _scalar(sql: str, params: list[object] | None = None) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def main() -> None:
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--notifications", action="store_true", help="one per invoice too")
    args = parser.parse_args()
    setup_django()
    started = time.perf_counter()
    prepare_database()
    migrated = time.perf_counter()
    seed_invoices(1, args.invoices)
    if args.notifications:
        seed_notifications(1, args.invoices)
    vacuum_analyze()
    done = time.perf_counter()
    print(counts(), f"migrate {migrated - started:.1f} s, seed {done - migrated:.1f} s")


if __name__ == "__main__":
    main()
