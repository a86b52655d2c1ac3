"""Secret removal from text, headers and gateway answers."""

from __future__ import annotations

import pytest

from django_multipay.redaction import MASK, Redactor


def test_known_secrets_masked_in_text() -> None:
    redactor = Redactor(["sk_live_123456", None, "", "abc"])
    assert redactor.text("key=sk_live_123456&x=1") == f"key={MASK}&x=1"
    # Secrets shorter than four characters are not treated as secrets (too many false hits).
    assert redactor.text("abc") == "abc"


def test_longest_secret_masked_whole() -> None:
    redactor = Redactor(["secret", "secret-and-more"])
    assert redactor.text("x secret-and-more y secret") == f"x {MASK} y {MASK}"
    assert "more" not in redactor.text("secret-and-more")


@pytest.mark.parametrize(
    "name",
    ["Authorization", "X-Api-Key", "Cookie", "X-Auth-Token", "app_key"],
)
def test_secret_headers_masked(name: str) -> None:
    redacted = Redactor().headers(
        {name: "value", "Content-Type": "application/json"}, extra=["cookie", "x-api-key"]
    )
    assert redacted == {name: MASK, "Content-Type": "application/json"}


def test_header_values_carrying_known_secrets_masked() -> None:
    redacted = Redactor(["tok-123456"]).headers({"X-Echo": "bearer tok-123456"})
    assert redacted == {"X-Echo": f"bearer {MASK}"}


def test_data_masks_secret_keys_deeply() -> None:
    data = {
        "id": "pay_1",
        "api_key": "k-1",
        "nested": {"password": "p", "card_number": "4111111111111111", "amount": "10.00"},
        "list": [{"token": "t"}, "mentions known-secret-value", 5],
        "signature": "",
        "secret": None,
    }
    out = Redactor(["known-secret-value"]).data(data)
    assert out == {
        "id": "pay_1",
        "api_key": MASK,
        "nested": {"password": MASK, "card_number": MASK, "amount": "10.00"},
        "list": [{"token": MASK}, f"mentions {MASK}", 5],
        "signature": "",
        "secret": None,
    }
    assert data["api_key"] == "k-1"  # the input is not modified


@pytest.mark.parametrize("key", ["status", "amount", "tokenizer_version", "description"])
def test_ordinary_keys_kept(key: str) -> None:
    assert Redactor().data({key: "v"}) == {key: "v"}


def test_signatures_are_kept_so_a_stored_notification_can_be_checked_again() -> None:
    redactor = Redactor()
    assert redactor.headers({"Multipay-Signature": "t=1,v1=ab"}) == {
        "Multipay-Signature": "t=1,v1=ab"
    }
    assert redactor.data({"signature": "ab"}) == {"signature": "ab"}
