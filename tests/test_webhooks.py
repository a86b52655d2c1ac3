"""The webhook toolkit backends compose: required headers, timestamped HMACs, renamed options."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from django_multipay.exceptions import NotificationRejected
from django_multipay.gateways import dummy, postpay
from django_multipay.gateways.portone import PortOneGateway
from django_multipay.gateways.results import InboundRequest
from django_multipay.gateways.webhooks import TimestampedHmac, required_header

BODY = '{"id": "evt_1", "name": "José"}'.encode()
SECRET = "whsec-test"
NOW = 1_700_000_000


def request(**headers: str) -> InboundRequest:
    return InboundRequest(method="POST", path="/", headers=headers, body=BODY)


def test_required_header_names_what_is_missing():
    assert required_header(request(**{"x-sig": "abc"}), "X-Sig") == "abc"
    with pytest.raises(NotificationRejected, match="missing X-Sig header") as caught:
        required_header(request(), "X-Sig")
    assert caught.value.code == "signature"
    with pytest.raises(NotificationRejected, match=r"^no signature$"):
        required_header(request(), "X-Sig", "no signature")


@pytest.mark.parametrize("separator", [".", ":"])
def test_the_digest_is_hmac_sha256_over_timestamp_separator_body(separator):
    signer = TimestampedHmac(separator)
    expected = hmac.new(
        SECRET.encode(), f"{NOW}{separator}".encode() + BODY, hashlib.sha256
    ).hexdigest()
    assert signer.digest(SECRET, NOW, BODY) == expected
    signer.verify(SECRET, NOW, ["nope", expected.upper()], BODY, tolerance=300, now=NOW + 300)


def test_an_old_or_wrong_signature_is_refused_with_its_reason():
    signer = TimestampedHmac(".")
    good = signer.digest(SECRET, NOW, BODY)
    with pytest.raises(NotificationRejected, match="outside tolerance") as old:
        signer.verify(SECRET, NOW, [good], BODY, tolerance=300, now=NOW + 301)
    assert old.value.code == "replay"
    # The timestamp is signed: the same digest under a new timestamp does not verify.
    with pytest.raises(NotificationRejected, match="does not match"):
        signer.verify(SECRET, NOW + 1, [good], BODY, tolerance=300, now=NOW)
    with pytest.raises(NotificationRejected, match="does not match"):
        signer.verify(SECRET, NOW, [good], BODY + b" ", tolerance=300, now=NOW)
    with pytest.raises(NotificationRejected, match="does not match"):
        signer.verify(SECRET, NOW, [], BODY, tolerance=300, now=NOW)


def test_the_dummy_and_postpay_sign_with_it():
    assert dummy.sign(SECRET, NOW, BODY) == f"t={NOW},v1={dummy.SIGNED.digest(SECRET, NOW, BODY)}"
    assert (
        postpay.signature(SECRET, NOW, BODY) == f"{NOW}:{postpay.SIGNED.digest(SECRET, NOW, BODY)}"
    )
    dummy.verify_signature(SECRET, dummy.sign(SECRET, NOW, BODY), BODY, tolerance=5, now=NOW)
    postpay.verify_signature(SECRET, postpay.signature(SECRET, NOW, BODY), BODY, now=NOW)


def test_an_options_old_name_still_works_and_warns():
    with pytest.warns(DeprecationWarning, match="'trust_signed_webhooks' is now called"):
        old = PortOneGateway("p1", {"trust_signed_webhooks": True})
    assert old.option("trust_signed_notifications") is True
    assert "trust_signed_webhooks" not in old.options
    assert "trust_signed_webhooks" in PortOneGateway.known_options()
    # The new name wins when both are given.
    with pytest.warns(DeprecationWarning, match="trust_signed_webhooks"):
        both = PortOneGateway(
            "p2", {"trust_signed_webhooks": True, "trust_signed_notifications": False}
        )
    assert both.option("trust_signed_notifications") is False
