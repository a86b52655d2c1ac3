"""``GET notifications/``: the callback log, for staff with ``view_notification`` only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_multipay.models import Notification
from django_multipay.status import NotificationResult
from django_multipay.testing.factories import InvoiceFactory, NotificationFactory

pytestmark = pytest.mark.django_db


def test_staff_with_permission_list_and_read(api: Any, staff: Any) -> None:
    invoice = InvoiceFactory()
    note = NotificationFactory(
        invoice=invoice, result=NotificationResult.PROCESSED, verified=True, body='{"id": 1}'
    )
    listed = api(staff).get("/api/notifications/")
    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert row["id"] == note.pk
    assert row["invoice"] == str(invoice.pk)
    assert row["result"] == "processed"
    assert "body" not in row
    one = api(staff).get(f"/api/notifications/{note.pk}/").json()
    assert one["body"] == '{"id": 1}'
    assert one["headers"] == {"Content-Type": "application/json"}


def test_everyone_else_is_refused(
    api: Any, customer: Any, bare_staff: Any, django_user_model: Any
) -> None:
    from django.contrib.auth.models import Permission

    note = NotificationFactory()
    holder = django_user_model.objects.create_user("holder")
    holder.user_permissions.add(Permission.objects.get(codename="view_notification"))
    for user in (None, customer, bare_staff, holder):
        assert api(user).get("/api/notifications/").status_code == 403
        assert api(user).get(f"/api/notifications/{note.pk}/").status_code == 403


def test_filters(api: Any, staff: Any) -> None:
    processed = NotificationFactory(gateway="dummy", result=NotificationResult.PROCESSED)
    rejected = NotificationFactory(gateway="dummy", result=NotificationResult.REJECTED)
    other = NotificationFactory(gateway="other", result=NotificationResult.REJECTED)
    Notification.objects.filter(pk=other.pk).update(received_at=timezone.now() - timedelta(days=3))
    client = api(staff)

    def ids(query: str) -> set[int]:
        response = client.get(f"/api/notifications/?{query}")
        assert response.status_code == 200, response.json()
        return {n["id"] for n in response.json()["results"]}

    assert ids("gateway=dummy") == {processed.pk, rejected.pk}
    assert ids("result=rejected") == {rejected.pk, other.pk}
    day_ago = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(f"received_before={day_ago}") == {other.pk}
    assert ids(f"received_after={day_ago}&result=rejected") == {rejected.pk}
    assert client.get("/api/notifications/?result=nope").status_code == 400
    assert client.get("/api/notifications/?invoice=nope").status_code == 400
    assert client.get("/api/notifications/abc/").status_code == 404
    assert client.get(f"/api/notifications/{2**70}/").status_code == 404


def test_list_queries_do_not_grow(api: Any, staff: Any, django_assert_num_queries: Any) -> None:
    NotificationFactory(invoice=InvoiceFactory())
    client = api(staff)
    client.get("/api/notifications/")  # loads the user's permissions once (cached on the user)
    with CaptureQueriesContext(connection) as one:
        assert client.get("/api/notifications/?page_size=100").status_code == 200
    for _ in range(49):
        NotificationFactory(invoice=InvoiceFactory())
    with django_assert_num_queries(len(one)):
        response = client.get("/api/notifications/?page_size=100")
    assert len(response.json()["results"]) == 50
