"""django-multipay's health checks as django-health-check (4.x) checks."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from django.db import connections
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from django_multipay import health


def _describe(result: health.CheckResult) -> str:
    facts = ", ".join(f"{key} {value}" for key, value in result.detail.items())
    return f"{result.name} failed" + (f" ({facts})" if facts else "")


@dataclasses.dataclass
class Payments(HealthCheck):
    """One of :data:`django_multipay.health.CHECKS` by name (``database``, ``migrations``,
    ``gateways``, ``notifications``, ``reconciliation``), or all of them (``"all"``)."""

    check: str = "all"

    def __post_init__(self) -> None:
        if self.check != "all" and self.check not in health.BY_NAME:
            raise ValueError(
                f"unknown django-multipay check {self.check!r}; "
                f"one of: all, {', '.join(health.BY_NAME)}"
            )

    def run(self) -> None:
        try:
            results: list[Any] = (
                health.run_checks() if self.check == "all" else [health.BY_NAME[self.check]()]
            )
        finally:
            # django-health-check runs a check in a worker thread of its own: the database
            # connections the check opened there are closed with it, not left open.
            if threading.current_thread() is not threading.main_thread():
                connections.close_all()
        failed = [result for result in results if not result.ok]
        if failed:
            raise ServiceUnavailable("; ".join(_describe(result) for result in failed))
