"""PortOne signatures and tokens, against the examples in PortOne's own documents."""

from __future__ import annotations

from decimal import Decimal

import jwt
import pytest

from django_multipay import money
from django_multipay.gateways import portone_signing as signing
from django_multipay.gateways.portone import make_token, read_token

# payment-openapi "Create JWT Token": this key and secret, and the token PortOne issued.
KEY = "sjcrvcbVYkFobHlx"
SECRET = "6cd264c70ec38d41a5dc2662e98c72bac58d3afc5bb4e80debbe3a976a0dc4eb"
SPEC_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MjQzMjM2NTEsImlhdCI6MTcyNDMwMjA1MSwiaXNz"
    "IjoiUE9SVE9ORSIsInN1YiI6InNqY3J2Y2JWWWtGb2JIbHgifQ.-A7y_JSRNbST9wIE26xd-oq0vLsQ-PavhHyxSts0glY"
)


def test_token_is_byte_for_byte_the_specs_example() -> None:
    assert make_token(KEY, SECRET, ttl=21600, now=1724302051) == SPEC_TOKEN


def test_token_claims() -> None:
    claims = jwt.decode(
        make_token(KEY, SECRET, now=1000),
        SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False},
    )
    assert claims == {"iss": "PORTONE", "sub": KEY, "iat": 1000, "exp": 1100}


@pytest.mark.parametrize(
    "token",
    [
        make_token(KEY, SECRET, ttl=-10),  # expired
        make_token("another-key", SECRET),  # wrong subject
        make_token(KEY, "another-secret-0123456789abcdef0123456789"),  # wrong signature
        jwt.encode({"iss": "CHAIPAY", "sub": KEY, "iat": 1, "exp": 4102444800}, SECRET),
    ],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(jwt.InvalidTokenError):
        read_token(token, KEY, SECRET)


def test_fresh_token_is_accepted() -> None:
    assert read_token(make_token(KEY, SECRET), KEY, SECRET)["sub"] == KEY


# payment-openapi "Generate signature hash" request example.
REQUEST = {
    "amount": "111.12",
    "client_key": KEY,
    "currency": "THB",
    "merchant_order_id": "e203767a-ae29-42dc-820f-61cbde24966e",
    "success_url": "https://yourwebsite.com/success",
    "failure_url": "https://yourwebsite.com/failure",
}


def test_payment_request_message_sorted_and_form_encoded() -> None:
    assert signing.signature_message(REQUEST, signing.PAYMENT_REQUEST_FIELDS) == (
        "amount=111.12&client_key=sjcrvcbVYkFobHlx&currency=THB"
        "&failure_url=https%3A%2F%2Fyourwebsite.com%2Ffailure"
        "&merchant_order_id=e203767a-ae29-42dc-820f-61cbde24966e"
        "&success_url=https%3A%2F%2Fyourwebsite.com%2Fsuccess"
    )


def test_payment_request_signature() -> None:
    # base64(HMAC-SHA256) of the message above, computed independently with openssl.
    signature = signing.sign(SECRET, REQUEST, signing.PAYMENT_REQUEST_FIELDS)
    assert signature == "rupGgiRzV+47yaKYzuR2cGKKe2S26LVxJB+B8W2V0SI="
    assert signing.verify(SECRET, REQUEST, signing.PAYMENT_REQUEST_FIELDS, signature)
    assert not signing.verify(
        SECRET, {**REQUEST, "amount": "111.13"}, signing.PAYMENT_REQUEST_FIELDS, signature
    )
    assert not signing.verify(SECRET, REQUEST, signing.PAYMENT_REQUEST_FIELDS, "")


@pytest.mark.parametrize(
    ("amount", "currency", "written"),
    [
        ("100.00", "USD", "100"),  # payment-request-signature: 100.00 -> 100
        ("100.25", "USD", "100.25"),
        ("100.50", "USD", "100.5"),
        ("500", "JPY", "500"),
        ("1.230", "KWD", "1.23"),
        ("1000000.00", "VND", "1000000"),
    ],
)
def test_amounts_are_signed_without_trailing_zeros(
    amount: str, currency: str, written: str
) -> None:
    assert money.format_trimmed(Decimal(amount), currency) == written


# payment-webhook.md sample body (the fields the signature covers).
WEBHOOK = {
    "currency": "USD",
    "amount": "500",
    "order_ref": "2mbbExY77pp8iC0AQ1ucWymnd3c",
    "channel_order_ref": "20240926HULUNYGP6MA2",
    "merchant_order_ref": "2mbbDi9wX3wAgLUDCnRMbQwkwZm_1",
    "country_code": "US",
    "status": "Success",
    "channel_key": "PAYLETTER",
    "method_name": "Payletter Credit Card",
}


def test_webhook_message_writes_spaces_as_plus() -> None:
    message = signing.signature_message(WEBHOOK, signing.PAYMENT_WEBHOOK_FIELDS)
    assert message == (
        "amount=500&channel_key=PAYLETTER&channel_order_ref=20240926HULUNYGP6MA2"
        "&country_code=US&currency=USD&merchant_order_ref=2mbbDi9wX3wAgLUDCnRMbQwkwZm_1"
        "&method_name=Payletter+Credit+Card&order_ref=2mbbExY77pp8iC0AQ1ucWymnd3c&status=Success"
    )
    assert "%20" not in message
    assert (
        signing.sign(SECRET, WEBHOOK, signing.PAYMENT_WEBHOOK_FIELDS)
        == "9GdylKjsybenuq2jDOv1vMxpDJHhUDbfKGcB6px5mUs="
    )


def test_redirect_signature() -> None:
    # payment-openapi "Get Transaction Status" example refs, as a redirect query.
    query = {
        "channel_order_ref": "6G457114F4645741R",
        "merchant_order_ref": "MERCHANT1647433108462",
        "order_ref": "2YGZp22ExeOu0As61wa7i0JyMJn",
        "status": "Expired",
        "amount": "ignored",  # not a signed field
    }
    assert (
        signing.sign(SECRET, query, signing.REDIRECT_FIELDS)
        == "PYl5I99q4c+q8zZ06biyHrnk4rGj6AL832YvzyDKxtU="
    )


def test_missing_field_is_signed_empty() -> None:
    assert signing.signature_message({"b": "x"}, ("b", "a")) == "a=&b=x"
