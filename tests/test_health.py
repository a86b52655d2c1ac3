"""The health view and its checks: what fails them, who sees the details, no secret shown."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.test import Client, override_settings
from django.utils import timezone

from django_multipay import health, reconcile
from django_multipay.models import Notification, ReconciliationRun
from django_multipay.status import NotificationResult

URL = "/health/"
TOKEN = "health-token-for-tests-0123456789"


def multipay(**changes: Any) -> dict[str, Any]:
    from django.conf import settings

    return {**settings.MULTIPAY, **changes}


def answer(client: Client, **headers: str) -> tuple[int, dict[str, Any]]:
    response = client.get(URL, headers=headers)
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


@pytest.fixture
def staff_client(db) -> Client:
    user = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def notification(result: str, age: timedelta) -> Notification:
    row = Notification.objects.create(gateway="dummy", method="POST", path="/", result=result)
    Notification.objects.filter(pk=row.pk).update(received_at=timezone.now() - age)
    return row


@pytest.mark.django_db
def test_public_answer_is_the_status_only(client):
    status, body = answer(client)
    assert (status, body) == (200, {"status": "ok"})


@pytest.mark.django_db
def test_staff_see_every_check(staff_client):
    reconcile.run()
    status, body = answer(staff_client)
    assert status == 200
    checks = body["checks"]
    assert list(checks) == ["database", "migrations", "gateways", "notifications", "reconciliation"]
    assert all(check["ok"] for check in checks.values())
    assert "dummy" in checks["gateways"]["aliases"]
    assert checks["notifications"]["oldest_unprocessed_seconds"] is None
    assert 0 <= checks["reconciliation"]["last_run_seconds_ago"] <= 5
    assert checks["reconciliation"]["last_run_errors"] == 0


@pytest.mark.django_db
def test_the_token_shows_details_and_a_wrong_one_does_not(client):
    with override_settings(MULTIPAY=multipay(HEALTH_TOKEN=TOKEN)):
        assert "checks" in answer(client, Authorization=f"Bearer {TOKEN}")[1]
        for wrong in (f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}", "Bearer "):
            assert answer(client, Authorization=wrong)[1] == {"status": "ok"}
    # No token configured: a bearer header shows nothing.
    assert answer(client, Authorization="Bearer ")[1] == {"status": "ok"}


@pytest.mark.django_db
def test_an_old_unprocessed_notification_fails_it(client, staff_client):
    notification(NotificationResult.PROCESSED, timedelta(days=3))
    notification(NotificationResult.RECEIVED, timedelta(minutes=5))
    assert answer(client)[0] == 200
    notification(NotificationResult.FAILED, timedelta(hours=2))

    status, body = answer(client)
    assert (status, body) == (503, {"status": "fail"})
    check = answer(staff_client)[1]["checks"]["notifications"]
    assert check["ok"] is False
    assert 7190 <= check["oldest_unprocessed_seconds"] <= 7210
    with override_settings(MULTIPAY=multipay(HEALTH_NOTIFICATION_MAX_AGE=None)):
        assert answer(client)[0] == 200


@pytest.mark.django_db
def test_reconciliation_age_fails_it_only_when_a_limit_is_set(client, staff_client):
    with override_settings(MULTIPAY=multipay(HEALTH_RECONCILE_MAX_AGE=3600)):
        # Never ran.
        assert answer(client)[0] == 503
        reconcile.run(dry_run=True)  # a dry run does not count
        assert answer(client)[0] == 503
        reconcile.run()
        assert answer(client)[0] == 200
        ReconciliationRun.objects.update(finished_at=timezone.now() - timedelta(hours=2))
        assert answer(client)[0] == 503
        check = answer(staff_client)[1]["checks"]["reconciliation"]
        assert 7190 <= check["last_run_seconds_ago"] <= 7210


@pytest.mark.django_db
def test_a_broken_gateway_alias_fails_it_by_check_id_without_its_message(client, staff_client):
    gateways = multipay()["GATEWAYS"]
    broken = {**gateways, "portpos": {**gateways["portpos"], "OPTIONS": {"app_key": "k" * 40}}}
    with override_settings(MULTIPAY=multipay(GATEWAYS=broken)):
        assert answer(client)[0] == 503
        response = staff_client.get(URL)
    check = json.loads(response.content)["checks"]["gateways"]
    assert check["ok"] is False
    assert check["errors"] == ["multipay.E004"]
    assert "k" * 40 not in response.content.decode()


@pytest.mark.django_db
def test_unapplied_migrations_fail_it(client, staff_client, monkeypatch):
    monkeypatch.setattr(health, "_migrated", False)
    leaf = mock.Mock(app_label="django_multipay")
    leaf.name = "0099_future"
    with mock.patch.object(
        health.MigrationExecutor, "migration_plan", return_value=[(leaf, False)]
    ):
        assert answer(client)[0] == 503
        check = answer(staff_client)[1]["checks"]["migrations"]
    assert check == {"ok": False, "unapplied": ["0099_future"]}


@pytest.mark.django_db
def test_a_database_that_does_not_answer_fails_it_and_skips_the_rest(client, staff_client):
    with mock.patch.object(health, "database", return_value=health.CheckResult("database", False)):
        results = health.run_checks()
    assert [r.name for r in results if not r.ok] == [
        "database",
        "migrations",
        "notifications",
        "reconciliation",
    ]
    with mock.patch.object(health.connection, "cursor", side_effect=DatabaseError("down")):
        assert health.database() == health.CheckResult(
            "database", False, {"error": "DatabaseError"}
        )


@pytest.mark.django_db
def test_only_get_and_head(client):
    assert client.head(URL).status_code == 200
    assert client.post(URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_the_same_checks_under_django_health_check(client):
    pytest.importorskip("health_check")
    response = client.get("/ht/?format=json")
    assert response.status_code == 200, response.content
    assert set(json.loads(response.content).values()) == {"OK"}
    notification(NotificationResult.RECEIVED, timedelta(hours=3))
    response = client.get("/ht/?format=json")
    assert response.status_code == 500
    text = response.content.decode()
    assert "notifications failed (oldest_unprocessed_seconds 108" in text


def test_an_unknown_check_name_is_refused():
    pytest.importorskip("health_check")
    from django_multipay.contrib.health_check import Payments

    with pytest.raises(ValueError, match="unknown django-multipay check 'nope'"):
        Payments(check="nope")
