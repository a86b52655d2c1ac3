"""A gunicorn worker's resident memory after the first notifications and after many more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import cpu, load, seed, throughput


def rss_mb(pid: int) -> float:
    """Resident set size of one process, in MB (``VmRSS`` in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def workers_rss(master: int) -> dict[int, float]:
    """Each gunicorn worker's resident memory, by pid."""
    return {pid: rss_mb(pid) for pid in cpu._children(master)}


def run(*, notifications: int = 100_000, first: int = 1_000, threads: int = 4) -> dict[str, Any]:
    """Send ``notifications`` first "paid" dummy notifications, each to an invoice of its
    own, through gunicorn's workers; their memory after the first ``first`` and at the end."""
    seed.setup_django()
    seed.prepare_database()
    seed.seed_invoices(1, notifications)
    targets = seed.targets(notifications)
    requests = throughput.build("dummy", targets)
    with throughput.app_server() as app:
        assert app.proc is not None
        early = load.run(requests[:first], threads=threads, warmup=0, seconds=3600)
        before = workers_rss(app.proc.pid)
        late = load.run(requests[first:], threads=threads, warmup=0, seconds=3600)
        after = workers_rss(app.proc.pid)
    growth = {pid: after[pid] - before[pid] for pid in before if pid in after}
    problems = []
    if set(before) != set(after):
        problems.append(f"workers changed during the run: {sorted(before)} -> {sorted(after)}")
    failed = early["non_2xx_all"] + late["non_2xx_all"]
    if failed:
        problems.append(f"{failed} non-2xx answers")
    checked = throughput.check(targets[: early["sent"] + late["sent"]])
    problems += checked["problems"]
    return {
        "ok": not problems,
        "notifications": early["sent"] + late["sent"],
        "first": first,
        "rss_after_first_mb": {str(pid): round(mb, 1) for pid, mb in before.items()},
        "rss_at_end_mb": {str(pid): round(mb, 1) for pid, mb in after.items()},
        "growth_mb": round(max(growth.values(), default=float("nan")), 1),
        "requests_per_s": late["requests_per_s"],
        "problems": problems,
    }
