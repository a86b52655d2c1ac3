"""PortOne's management commands: webhooks, the signature check and PSP credentials."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import responses
from django.core.management import CommandError, call_command

from django_multipay.management.commands import multipay_portone_channels
from django_multipay.registry import get_gateway
from django_multipay.sandbox import portone as emulator
from django_multipay.testing.router import EmulatorRouter

KEY = "portone-client-key-one"
SECRET = "portone-secret-key-one-0123456789abcdef0123"
NOTIFY = "http://testserver/payments/notify/portone/"
API = "http://testserver/sandbox/portone/"
CREDS = {"accessKey": "TestKeyA1b2", "partnerCode": "TestCode77", "secretKey": "psp-SECRET-9f8e7d"}


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def hooks(*args: str) -> str:
    return run("multipay_portone_hooks", *args, "--alias", "portone")[0]


# -- multipay_portone_hooks --------------------------------------------------------------------


def test_hooks_create_registers_the_notify_url_for_each_webhook_type(
    router: EmulatorRouter, db: Any
) -> None:
    assert "No webhooks in the sandbox environment." in hooks("list")
    before = len(router.calls)
    output = hooks("create")
    listing, *created = router.calls[before:]
    assert listing.method == "GET"  # the listing first
    assert [c.method for c in created] == ["POST"] * 3
    assert [json.loads(c.body) for c in created] == [
        {"name": f"multipay-portone-{kind}", "url": NOTIFY, "type": kind, "environment": "sandbox"}
        for kind in ("payment_status", "payment_link_status", "refund_status")
    ]
    assert output.count("Created:") == 3
    listed = hooks("list").splitlines()
    assert len(listed) == 3
    assert all(NOTIFY in line and "enabled" in line for line in listed)
    assert SECRET not in output


def test_hooks_create_refuses_a_url_already_registered(router: EmulatorRouter, db: Any) -> None:
    hooks("create", "--type", "payment_status")
    posts = len(router.requests_to(r"/webhook$", "POST"))
    with pytest.raises(CommandError, match="already delivers to"):
        hooks("create")  # payment_status is there: nothing at all is created
    assert len(router.requests_to(r"/webhook$", "POST")) == posts
    hooks("create", "--type", "refund_status")
    hooks("create", "--url", "https://shop.example/other/", "--name", "other")
    kinds = [(h.url, h.type) for h in get_gateway("portone").list_webhooks()]
    assert kinds == [
        (NOTIFY, "payment_status"),
        (NOTIFY, "refund_status"),
        ("https://shop.example/other/", "payment_status"),
        ("https://shop.example/other/", "payment_link_status"),
        ("https://shop.example/other/", "refund_status"),
    ]


def test_hooks_need_a_portone_alias(router: EmulatorRouter, db: Any) -> None:
    with pytest.raises(CommandError, match="portone, portone-preauth, portone-link"):
        run("multipay_portone_hooks", "list")
    with pytest.raises(CommandError, match="not a PortOne alias"):
        run("multipay_portone_hooks", "list", "--alias", "paylands")


def test_hooks_never_print_the_secret(db: Any) -> None:
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            API + f"api/merchant/{KEY}/webhook",
            status=401,
            json={
                "message": f"bad secret {SECRET}",
                "status_code": "4010",
                "status_reason": "INVALID_UNAUTHORISED_TRANSACTION_IAMPORTKEY_ERROR",
            },
        )
        with pytest.raises(CommandError) as caught:
            hooks("create")
    assert "4010" in str(caught.value)
    assert SECRET not in str(caught.value)


# -- multipay_portone_signature ----------------------------------------------------------------


def test_signature_check_matches(router: EmulatorRouter, db: Any) -> None:
    out, _err = run("multipay_portone_signature", "--alias", "portone")
    calls = router.requests_to(r"/api/merchant/generate-signature$", "POST")
    assert [json.loads(c.body)["amount"] for c in calls] == [111.12, 100]
    assert b'"amount":100.00' in calls[1].body
    assert out.count("match") == 2
    assert "mismatch" not in out
    assert "Signed: amount=100&client_key=portone-client-key-one&currency=THB" in out
    assert SECRET not in out


def test_signature_check_says_mismatch(router: EmulatorRouter, db: Any, monkeypatch: Any) -> None:
    # As if PortOne signed the amount as sent (100.00), not without trailing zeros.
    monkeypatch.setattr(emulator, "trimmed", lambda amount: format(amount, "f"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 signatures do not match"):
        call_command("multipay_portone_signature", "--alias", "portone", stdout=out)
    assert out.getvalue().splitlines().count("mismatch") == 1
    assert SECRET not in out.getvalue()


def test_signature_check_of_one_amount(router: EmulatorRouter, db: Any) -> None:
    out, _err = run(
        "multipay_portone_signature", "--alias", "portone", "--amount", "1500", "--currency", "JPY"
    )
    (call,) = router.requests_to(r"/api/merchant/generate-signature$")
    assert json.loads(call.body)["currency"] == "JPY"
    assert out.splitlines()[-1] == "match"
    with pytest.raises(CommandError, match="not an amount"):
        run(
            "multipay_portone_signature",
            "--alias",
            "portone",
            "--amount",
            "1.5",
            "--currency",
            "JPY",
        )


# -- multipay_portone_channels ----------------------------------------------------------------


def channels(*args: str) -> tuple[str, str]:
    return run("multipay_portone_channels", *args, "--alias", "portone")


def never_echoed(*texts: str) -> None:
    for text in texts:
        for value in CREDS.values():
            assert value not in text


def test_channels_add_from_a_file_and_show_masked(
    router: EmulatorRouter, db: Any, tmp_path: Path
) -> None:
    file = tmp_path / "momo.json"
    file.write_text(json.dumps(CREDS))
    out, err = channels("add", "momopay", "--country", "VN", "--file", str(file))
    (call,) = router.requests_to(rf"/api/merchant/{KEY}/add-pay-channel/MOMOPAY$", "POST")
    assert json.loads(call.body) == {"creds": CREDS, "country": "VN", "environment": "sandbox"}
    assert "Added:" in out
    assert "  accessKey: ********" in out
    assert "  secretKey: ********" in out
    never_echoed(out, err)

    shown, err = channels("show", "MOMOPAY")
    assert shown.splitlines() == [
        "MOMOPAY  VN  PAYIN  enabled",
        "  accessKey: ********",
        "  partnerCode: ********",
        "  secretKey: ********",
    ]
    never_echoed(shown, err)
    nothing, _err = channels("show", "OMISE")
    assert "No credentials for OMISE" in nothing


def test_channels_update_from_standard_input(
    router: EmulatorRouter, db: Any, monkeypatch: Any, tmp_path: Path
) -> None:
    file = tmp_path / "momo.json"
    file.write_text(json.dumps(CREDS))
    channels("add", "MOMOPAY", "--country", "VN", "--file", str(file))
    changed = {**CREDS, "secretKey": "psp-ROTATED-1234"}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(changed)))
    out, err = channels("update", "MOMOPAY", "--country", "VN", "--file", "-")
    (call,) = router.requests_to(rf"/api/merchant/{KEY}/add-pay-channel/MOMOPAY$", "PUT")
    assert json.loads(call.body)["creds"] == changed
    assert "Updated:" in out
    assert "psp-ROTATED-1234" not in out + err


def test_channels_never_take_credentials_from_the_command_line() -> None:
    parser = multipay_portone_channels.Command().create_parser(
        "manage.py", "multipay_portone_channels"
    )
    dests = {action.dest for action in parser._actions}
    assert dests >= {"action", "channel", "alias", "file", "country", "pay_type"}
    assert not dests & {"creds", "credentials", "secret", "json"}
    with pytest.raises(CommandError):
        call_command(
            "multipay_portone_channels", "add", "MOMOPAY", "--alias", "portone", "--creds", "{}"
        )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json " + CREDS["secretKey"], "not valid JSON"),
        ("[]", "JSON object"),
        ("{}", "JSON object"),
    ],
)
def test_channels_refuse_unreadable_credentials_without_quoting_them(
    router: EmulatorRouter, db: Any, tmp_path: Path, content: str, says: str
) -> None:
    file = tmp_path / "bad.json"
    file.write_text(content)
    with pytest.raises(CommandError, match=says) as caught:
        channels("add", "MOMOPAY", "--country", "VN", "--file", str(file))
    never_echoed(str(caught.value))
    assert router.calls == []


def test_channels_need_a_file_and_a_country(router: EmulatorRouter, db: Any) -> None:
    with pytest.raises(CommandError, match="never on the command line"):
        channels("add", "MOMOPAY", "--country", "VN")
    with pytest.raises(CommandError, match="--country"):
        channels("add", "MOMOPAY", "--file", "-")
    with pytest.raises(CommandError, match="Cannot read"):
        channels("add", "MOMOPAY", "--country", "VN", "--file", "/no/such/file.json")
    assert router.calls == []


def test_channels_errors_never_echo_the_credentials(db: Any, tmp_path: Path) -> None:
    file = tmp_path / "momo.json"
    file.write_text(json.dumps(CREDS))
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            API + f"api/merchant/{KEY}/add-pay-channel/MOMOPAY",
            status=400,
            json={
                "message": f"bad {CREDS['secretKey']} / {CREDS['partnerCode']} {SECRET}",
                "status_code": "4001",
                "status_reason": "INVALID_REQUEST",
            },
        )
        with pytest.raises(CommandError) as caught:
            channels("add", "MOMOPAY", "--country", "VN", "--file", str(file))
    never_echoed(str(caught.value))
    assert SECRET not in str(caught.value)
    assert "4001" in str(caught.value)
