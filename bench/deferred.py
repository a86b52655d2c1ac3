"""PortPos IPNs with ``DEFER_NOTIFICATIONS``: the notify answer, then real task workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import load, seed

#: Task workers (django-tasks-db's ``db_worker``), one per core of the machine measured.
WORKERS = 2


def available() -> bool:
    """The database task backend is installed (the bench settings then configure it)."""
    from django.conf import settings

    return "django_tasks_db" in settings.INSTALLED_APPS


def environment() -> dict[str, str]:
    """The app's and the workers' environment: the bench settings, notifications deferred."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_DEFER_NOTIFICATIONS": "1",
    }


def clear_tasks() -> None:
    """No task left from an earlier measurement."""
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()


def stored(sent: Sequence[seed.Target]) -> dict[str, Any]:
    """After the notify load: one stored notification and one queued task per request, and
    no invoice changed yet (nothing is applied before a worker verifies it)."""
    from django_tasks_db.models import DBTaskResult

    from django_multipay.models import Invoice, Notification

    found = {
        "notifications": Notification.objects.count(),
        "tasks": DBTaskResult.objects.count(),
        "invoices_changed": Invoice.objects.exclude(status="pending").count(),
    }
    expected = {"notifications": len(sent), "tasks": len(sent), "invoices_changed": 0}
    problems = [f"{k}: {found[k]}, expected {v}" for k, v in expected.items() if found[k] != v]
    return {"ok": not problems, **found, "problems": problems}


def drain(tasks: int, *, workers: int = WORKERS) -> dict[str, Any]:
    """Run ``workers`` task workers until they have worked ``tasks`` queued notifications
    between them; their throughput, and what they left in the database."""
    from django_tasks_db.models import DBTaskResult

    from django_multipay.models import Invoice, Notification

    each = -(-tasks // workers)  # ceil
    command = [
        sys.executable, "-m", "django", "db_worker",
        "--batch", "--no-startup-delay", "--max-tasks", str(each), "-v", "0",
    ]  # fmt: skip
    began = time.perf_counter()
    running = [
        subprocess.Popen(command, env=environment(), stdout=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    codes = [proc.wait() for proc in running]
    elapsed = time.perf_counter() - began
    done = DBTaskResult.objects.filter(status="SUCCESSFUL").count()
    failed = DBTaskResult.objects.filter(status="FAILED").count()
    processed = Notification.objects.filter(result="processed").count()
    paid = Invoice.objects.filter(status="paid").count()
    problems = [f"worker exited {code}" for code in codes if code]
    if failed:
        problems.append(f"{failed} tasks failed")
    if not processed == paid == done:
        problems.append(f"processed {processed}, paid {paid}, tasks done {done}: not equal")
    return {
        "ok": not problems,
        "workers": workers,
        "tasks_done": done,
        "seconds": round(elapsed, 2),
        # Process start-up (Django set-up, a database connection) is inside the window.
        "notifications_per_s": round(done / elapsed, 1) if elapsed > 0 else 0.0,
        "problems": problems,
    }


def measure(
    requests: Sequence[bytes],
    targets: Sequence[seed.Target],
    *,
    host: str,
    port: int,
    threads: int,
    warmup: float,
    seconds: float,
    worker_tasks: int,
) -> dict[str, Any]:
    """The notify answers under load (the app already serving with notifications deferred),
    then the workers over the first ``worker_tasks`` of what was queued."""
    figures = load.run(
        requests, host=host, port=port, threads=threads, warmup=warmup, seconds=seconds
    )
    figures["check"] = stored(targets[: figures["sent"]])
    figures["worker"] = drain(min(worker_tasks, figures["sent"]))
    return figures
