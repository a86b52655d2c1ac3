"""CPU seconds used by a process tree and by PostgreSQL, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _seconds(pid: int) -> float:
    """User + system CPU of one process, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def tree(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (gunicorn's master and workers)."""
    pending, total = [pid], 0.0
    while pending:
        current = pending.pop()
        total += _seconds(current)
        pending += _children(current)
    return total


def postgres() -> float:
    """CPU seconds of every live PostgreSQL process (backends and background workers)."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                total += _seconds(int(comm.parent.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total
