"""The shared HTTP client: User-Agent, timeouts, safe retries, typed errors, redaction."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests
import responses
from django.conf import settings
from django.test import override_settings

from django_multipay import __version__
from django_multipay.exceptions import GatewayAPIError, GatewayConnectionError
from django_multipay.gateways.base import BaseGateway
from django_multipay.gateways.http import HttpClient
from django_multipay.redaction import MASK

BASE = "https://api.gateway.test/v1/"
SECRET = "sk_live_very_secret_value"


class SecretGateway(BaseGateway):
    display_name = "Secretive"
    secret_options = ("secret_key", "app_key")


def client(**kwargs: Any) -> HttpClient:
    defaults: dict[str, Any] = {
        "gateway": "test",
        "base_url": BASE,
        "timeout": (1.5, 7.0),
        "retries": 2,
        "backoff": 0,
        "secrets": [SECRET],
    }
    return HttpClient(**{**defaults, **kwargs})


@responses.activate
def test_user_agent_and_timeouts() -> None:
    responses.get(BASE + "orders/1", json={"ok": True})
    data = client().json("GET", "orders/1", headers={"X-Extra": "1"})
    assert data == {"ok": True}
    [call] = responses.calls
    assert call.request.headers["User-Agent"] == f"django-multipay/{__version__}"
    assert call.request.headers["X-Extra"] == "1"
    assert call.request.req_kwargs["timeout"] == (1.5, 7.0)


@responses.activate
def test_custom_user_agent_and_absolute_url() -> None:
    responses.post("https://other.test/hook", json={})
    client(user_agent="shop/2.0").request("POST", "https://other.test/hook", json={"a": 1})
    [call] = responses.calls
    assert call.request.headers["User-Agent"] == "shop/2.0"
    assert call.request.method == "POST"
    assert json.loads(call.request.body) == {"a": 1}


@responses.activate
def test_gateway_options_reach_the_client() -> None:
    responses.get("https://gw.test/status", json={})
    multipay = {**settings.MULTIPAY, "USER_AGENT": "myshop/1.0", "HTTP_TIMEOUT": (3, 9)}
    with override_settings(MULTIPAY=multipay):
        gateway = SecretGateway("x", {"base_url": "https://gw.test/", "secret_key": SECRET})
        gateway.http.request("GET", "status")
        short = SecretGateway("y", {"base_url": "https://gw.test/", "timeout": 4})
        assert short.http.timeout == (4.0, 4.0)
    [call] = responses.calls
    assert call.request.headers["User-Agent"] == "myshop/1.0"
    assert call.request.req_kwargs["timeout"] == (3.0, 9.0)
    assert gateway.http.base_url == "https://gw.test/"


@responses.activate
def test_get_retried_on_503_then_succeeds() -> None:
    url = BASE + "orders/1"
    responses.get(url, status=503)
    responses.get(url, status=503)
    responses.get(url, json={"status": "paid"})
    assert client(retries=2).json("GET", "orders/1") == {"status": "paid"}
    assert len(responses.calls) == 3


@responses.activate
def test_get_retries_are_bounded() -> None:
    url = BASE + "orders/1"
    responses.get(url, status=503)
    with pytest.raises(GatewayAPIError) as info:
        client(retries=2).request("GET", "orders/1")
    assert info.value.http_status == 503
    assert len(responses.calls) == 3


@responses.activate
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_writes_never_retried_on_503(method: str) -> None:
    url = BASE + "refunds"
    responses.add(method, url, status=503)
    responses.add(method, url, json={"id": "re_1"})
    with pytest.raises(GatewayAPIError) as info:
        client(retries=3).request(method, "refunds", json={"amount": "1.00"})
    assert info.value.http_status == 503
    assert len(responses.calls) == 1


@responses.activate
def test_post_never_retried_on_connection_error() -> None:
    url = BASE + "refunds"
    responses.post(url, body=requests.ConnectionError("reset"))
    responses.post(url, json={"id": "re_1"})
    with pytest.raises(GatewayConnectionError):
        client(retries=3).request("POST", "refunds")
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize("exc", [requests.ReadTimeout("slow"), requests.ConnectTimeout("slow")])
def test_timeout_is_connection_error(exc: Exception) -> None:
    responses.post(BASE + "payments", body=exc)
    with pytest.raises(GatewayConnectionError, match="timed out") as info:
        client().request("POST", "payments")
    assert info.value.gateway == "test"
    assert info.value.status_code == 504


@responses.activate
@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_4xx_is_api_error_with_status(status: int) -> None:
    responses.post(BASE + "payments", status=status, json={"error": "nope"})
    with pytest.raises(GatewayAPIError) as info:
        client().request("POST", "payments")
    assert info.value.http_status == status
    assert info.value.response == {"error": "nope"}
    assert f"HTTP {status}" in str(info.value)


@responses.activate
def test_expected_statuses() -> None:
    responses.post(BASE + "payments", status=202, json={})
    with pytest.raises(GatewayAPIError):
        client().request("POST", "payments", expected=(200, 201))
    responses.post(BASE + "other", status=409, json={})
    assert client().request("POST", "other", expected=(409,)).status_code == 409


@responses.activate
def test_non_json_answer_is_api_error() -> None:
    responses.get(BASE + "orders/1", body="<html>oops</html>")
    with pytest.raises(GatewayAPIError, match="not JSON") as info:
        client().json("GET", "orders/1")
    assert info.value.http_status == 200


@responses.activate
def test_secrets_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    path = f"orders?key={SECRET}"
    responses.get(
        BASE + "orders",
        status=401,
        json={"message": f"bad key {SECRET}", "api_key": SECRET, "token": "tok_123456"},
    )
    responses.post(BASE + "orders", body=requests.ConnectionError(f"cannot reach {SECRET}"))
    responses.put(BASE + "orders", body=requests.ReadTimeout(SECRET))
    errors: list[Exception] = []
    with caplog.at_level(logging.DEBUG, logger="django_multipay"):
        for method in ("GET", "POST", "PUT"):
            with pytest.raises((GatewayAPIError, GatewayConnectionError)) as info:
                client().request(method, path, data=f"secret={SECRET}")
            errors.append(info.value)
    assert len(caplog.records) >= 3
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert SECRET not in logged
    assert MASK in logged
    for error in errors:
        assert SECRET not in str(error)
        assert SECRET not in repr(error.args)
        assert SECRET not in json.dumps(error.response)
        # No chained exception carries the unredacted request or URL along.
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
    assert errors[0].response["api_key"] == MASK
    assert errors[0].response["token"] == MASK
    assert "tok_123456" not in str(errors[0])


@responses.activate
def test_gateway_secret_options_redacted_in_errors(caplog: pytest.LogCaptureFixture) -> None:
    app_key = "app-key-0123456789"
    gateway = SecretGateway(
        "secretive", {"base_url": BASE, "secret_key": SECRET, "app_key": app_key}
    )
    responses.get(BASE + "check", status=500, body=f"{app_key} rejected; hint {SECRET}")
    with (
        caplog.at_level(logging.DEBUG, logger="django_multipay"),
        pytest.raises(GatewayAPIError) as info,
    ):
        gateway.http.request("GET", f"check?app_key={app_key}&sig={SECRET}")
    text = str(info.value) + "\n".join(r.getMessage() for r in caplog.records)
    assert app_key not in text
    assert SECRET not in text
    assert info.value.gateway == "secretive"
