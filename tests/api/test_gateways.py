"""``GET gateways/``: the aliases a client may offer, with what each can do."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_lists_every_alias_with_capabilities(
    api: Any, customer: Any, settings: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        response = api(customer).get("/api/gateways/")
    assert response.status_code == 200
    gateways = {g["alias"]: g for g in response.json()}
    assert list(gateways) == list(settings.MULTIPAY["GATEWAYS"])
    assert gateways["dummy"] == {
        "alias": "dummy",
        "label": "Dummy",
        "display_name": "Dummy",
        "currencies": None,
        "min_amount": None,
        "max_amount": None,
        "capabilities": {
            "refund": True,
            "partial_refund": True,
            "max_refunds": 10,
            "capture": True,
            "cancel": True,
            "fetch_status": True,
        },
    }
    assert "OPTIONS" not in response.content.decode()
    assert "dummy-api-key-one" not in response.content.decode()


def test_filter_by_currency_and_label(api: Any, customer: Any, settings: Any) -> None:
    from tests.test_views import BdtOnlyGateway, with_alias

    config = with_alias("bdt-only", f"{BdtOnlyGateway.__module__}.BdtOnlyGateway")
    config["GATEWAYS"]["bdt-only"]["LABEL"] = "Taka only"
    with override_settings(MULTIPAY=config):
        eur = api(customer).get("/api/gateways/?currency=eur").json()
        bdt = api(customer).get("/api/gateways/?currency=BDT").json()
    assert {"dummy", "dummy-manual"} <= {g["alias"] for g in eur}
    assert "bdt-only" not in {g["alias"] for g in eur}
    (taka,) = [g for g in bdt if g["alias"] == "bdt-only"]
    assert {"dummy", "dummy-manual"} <= {g["alias"] for g in bdt}
    assert taka["label"] == "Taka only"
    assert taka["currencies"] == ["BDT"]
    assert taka["capabilities"]["refund"] is False


def test_a_broken_alias_is_left_out(api: Any, customer: Any, settings: Any) -> None:
    gateways = dict(settings.MULTIPAY["GATEWAYS"])
    gateways["broken"] = {"BACKEND": "no.such.Backend"}
    settings.MULTIPAY = {**settings.MULTIPAY, "GATEWAYS": gateways}
    response = api(customer).get("/api/gateways/")
    assert response.status_code == 200
    assert "broken" not in [g["alias"] for g in response.json()]


def test_anonymous_is_refused(api: Any) -> None:
    response = api(None).get("/api/gateways/")
    assert response.status_code == 403
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
    }
