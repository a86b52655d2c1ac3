"""Payments health for load balancers and monitoring: the checks and the view that answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.checks import ERROR
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from django_multipay import checks as system_checks
from django_multipay.access import may_see_details as may_see_details
from django_multipay.conf import multipay_settings
from django_multipay.models import Notification, ReconciliationRun
from django_multipay.reconcile import PENDING_NOTIFICATION_RESULTS

APP_LABEL = "django_multipay"


@dataclass(frozen=True)
class CheckResult:
    """One health check: whether it passed, and facts for the detailed answer (never a
    secret, an amount or a customer)."""

    name: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


def database() -> CheckResult:
    """The default database answers a query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return CheckResult("database", False, {"error": type(exc).__name__})
    return CheckResult("database", True)


#: Once every migration of the app is applied, it stays so for this process's code.
_migrated = False


def migrations() -> CheckResult:
    """Every migration of django_multipay is applied."""
    global _migrated
    if _migrated:
        return CheckResult("migrations", True)
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return CheckResult("migrations", False, {"error": type(exc).__name__})
    unapplied = sorted(m.name for m, _backwards in plan if m.app_label == APP_LABEL)
    _migrated = not unapplied
    return CheckResult("migrations", not unapplied, {"unapplied": unapplied} if unapplied else {})


def gateways() -> CheckResult:
    """Every gateway alias passes its system checks (errors only; warnings are for deploy
    time). The detail names the check ids and aliases, never a message, which may quote a
    setting."""
    found = [m for m in system_checks.check_settings() if m.level >= ERROR]
    aliases = (
        sorted(multipay_settings.GATEWAYS) if isinstance(multipay_settings.GATEWAYS, dict) else []
    )
    detail: dict[str, Any] = {"aliases": aliases}
    if found:
        detail["errors"] = sorted({str(m.id) for m in found})
    return CheckResult("gateways", not found, detail)


def notifications() -> CheckResult:
    """The oldest notification not yet processed (``received``, or ``failed`` and waiting
    for its retry) is younger than ``HEALTH_NOTIFICATION_MAX_AGE`` seconds: workers and
    retries keep up."""
    oldest = (
        Notification.objects.filter(result__in=PENDING_NOTIFICATION_RESULTS)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    limit = multipay_settings.HEALTH_NOTIFICATION_MAX_AGE
    if oldest is None:
        return CheckResult("notifications", True, {"oldest_unprocessed_seconds": None})
    age = round((timezone.now() - oldest).total_seconds())
    ok = limit is None or age <= float(limit)
    return CheckResult("notifications", ok, {"oldest_unprocessed_seconds": age})


def reconciliation() -> CheckResult:
    """Reconciliation finished a run (not a dry run) within ``HEALTH_RECONCILE_MAX_AGE``
    seconds; with that setting ``None`` the age is reported and never fails."""
    last = (
        ReconciliationRun.objects.filter(finished_at__isnull=False, dry_run=False)
        .order_by("-finished_at")
        .values_list("finished_at", "errors")
        .first()
    )
    limit = multipay_settings.HEALTH_RECONCILE_MAX_AGE
    if last is None:
        return CheckResult("reconciliation", limit is None, {"last_run_seconds_ago": None})
    finished_at, errors = last
    assert finished_at is not None  # filtered above
    age = round((timezone.now() - finished_at).total_seconds())
    ok = limit is None or age <= float(limit)
    return CheckResult(
        "reconciliation", ok, {"last_run_seconds_ago": age, "last_run_errors": errors}
    )


#: Every check, in the order the answer lists them.
CHECKS: tuple[Callable[[], CheckResult], ...] = (
    database,
    migrations,
    gateways,
    notifications,
    reconciliation,
)


def run_checks() -> list[CheckResult]:
    """Every check; after a database failure the ones that need the database are skipped
    as failed rather than raising."""
    results = [database()]
    for check in CHECKS[1:]:
        if not results[0].ok and check is not gateways:
            results.append(CheckResult(check.__name__, False, {"skipped": "database"}))
            continue
        try:
            results.append(check())
        except DatabaseError as exc:
            results.append(CheckResult(check.__name__, False, {"error": type(exc).__name__}))
    return results


@never_cache
@require_safe
def health(request: HttpRequest) -> HttpResponse:
    """``{"status": "ok"}`` (200) or ``{"status": "fail"}`` (503); staff, or a request
    bearing ``HEALTH_TOKEN``, also get every check and its facts."""
    results = run_checks()
    ok = all(result.ok for result in results)
    body: dict[str, Any] = {"status": "ok" if ok else "fail"}
    if may_see_details(request):
        body["checks"] = {result.name: {"ok": result.ok, **result.detail} for result in results}
    return JsonResponse(body, status=200 if ok else 503)


#: The checks by name, for one at a time (``django_multipay.contrib.health_check``).
BY_NAME: dict[str, Callable[[], CheckResult]] = {check.__name__: check for check in CHECKS}
