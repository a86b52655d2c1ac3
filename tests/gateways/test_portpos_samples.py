"""PortPos v2: the document's sample answers, copied line for line (blank lines dropped), parsed."""

# ruff: noqa: RUF001 - the document's e-mail placeholders hold no-break spaces, kept as they are

# Create Invoice (also "with discount" and "with EMI"): Response 201.
CREATE_201 = """\
{
"result": "success",
"data": {
"invoice_id": "85BE2D4A320E9009",
"reference": "ABC123",
"order": {
"amount": "1000.00",
"currency": "BDT",
"type": "emi_purchase",
"has_emi": 1,
"has_discount": 0,
"redirect_url": "http://www.yoursite.com",
"created_at": "Wed, 07 Nov 2018 18:03:47 +0600",
"status": "PENDING",
"emi": {
"partner": null,
"tenor": null,
"is_used": 0
}
},
"product": {
"name": "x Polo T-shirt",
"description": "x Polo T-shirt with shipping and handling"
},
"billing": {
"customer": {
"name": "Robbie Amell",
"email": "[email protected]",
"phone": "801234567893",
"address": {
"street": "House 1, Road1, Gulshan 1",
"city": "Dhaka",
"state": "Dhaka",
"zipcode": 1212,
"country": "Bangladesh"
}
}
},
"shipping": {
"customer": {
"name": "TEst",
"email": "[email protected]",
"phone": "017171817171",
"address": {
"street": "TEst",
"city": "TEst",
"state": "TEst",
"zipcode": 1212,
"country": "Bangladesh"
}
}
},
"action": {
"type": "redirect",
"url": "https://payment-sandbox.portpos.com/payment/index/emi/?invoice=85BE2D4A320E9009",
"payload": null,
"method": "GET"
},
"customs": [
{
"ss": "122"
},
{
"sdaas": "2343"
},
{
"discount_code": "Bengal 1,Bengal 2"
}
]
}
}
"""

# IPN validate: Response 200. The document breaks the "reason" string across two lines,
# which is not JSON; here the break is a space.
IPN_VALIDATE_200 = """\
{
"result":"success",
"data":{
"invoice_id":"85BC30171EA29531",
"reference":"123",
"order":{
"amount":"3393.00",
"currency":"BDT",
"type":"purchase",
"has_emi":0,
"discount_availed":0,
"redirect_url":"http://www.yoursite.com",
"created_at":"Sun, 14 Oct 2018 14:35:09 +0600",
"status":"ACCEPTED"
},
"product":{
"name":"x Polo T-shirt",
"description":"x Polo T-shirt with shipping and handling"
},
"billing":{
"customer":{
"name":"Robbie Amell",
"email":"[email protected]",
"phone":"801234567893",
"address":{
"street":"Unknown",
"city":"Unknown",
"state":"Unknown",
"zipcode":"Unknown",
"country":"Bangladesh"
}
},
"payer":{
"name":"Robbie Amell",
"account":"411111xxxxxx1111",
"ip_address":"123.456.789.123",
"user_agent":"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:61.0) Gecko/20100101 Firefox/61.0"
},
"gateway":{
"category":"card",
"network":"visa",
"status":"APPROVED",
"approve_code":"5BC3018D9DA53",
"reason":"APPROVED cardSecurityCode: MATCH 3DSecure: AUTHENTICATION_SUCCESSFUL "
},
"source":{
"category":"card",
"number":"411111xxxxxx1111",
"brand":{
"name":"VISA",
"type":null,
"category":null
},
"issuer":{
"name":"JPMORGAN CHASE BANK, N.A.",
"phone":"+14169819200",
"website":"http://www.jpmorganchase.com",
"country":{
"name":"United States",
"iso2":"US",
"iso3":"USA"
}
}
}
},
"shipping":{
"customer":{
"name":null,
"email":null,
"phone":null,
"address":{
"street":null,
"city":null,
"state":null,
"zipcode":null,
"country":null
}
}
},
"transactions":[
{
"amount":"3393.00",
"currency":"BDT",
"status":"ACCEPTED",
"type":"purchase",
"time":"Sun, 14 Oct 2018 14:43:04 +0600"
},
{
"amount":"-102.79",
"currency":"BDT",
"status":"ACCEPTED",
"type":"fee",
"time":"Sun, 14 Oct 2018 14:43:04 +0600"
}
],
"customs":[
{
"card_hash":"80e0f2352f868abb3e8fe7238c6103ac"
}
]
}
}
"""

# Retrieving an invoice: Response 200.
GET_INVOICE_200 = """\
{
"result":"success",
"data":{
"invoice_id":"85BC30171EA29531",
"reference":"123",
"order":{
"amount":"3393.00",
"currency":"BDT",
"type":"purchase",
"has_emi":0,
"discount_availed":0,
"redirect_url":"http://www.yoursite.com",
"created_at":"Sun, 14 Oct 2018 14:35:09 +0600",
"status":"ACCEPTED"
},
"product":{
"name":"x Polo T-shirt",
"description":"x Polo T-shirt with shipping and handling"
},
"billing":{
"customer":{
"name":"Robbie Amell",
"email":"[email protected]",
"phone":"801234567893",
"address":{
"street":"Unknown",
"city":"Unknown",
"state":"Unknown",
"zipcode":"Unknown",
"country":"Bangladesh"
}
},
"payer":{
"name":"Robbie Amell",
"account":"411111xxxxxx1111",
"ip_address":"123.456.789.123",
"user_agent":"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:61.0) Gecko/20100101 Firefox/61.0"
},
"gateway":{
"category":"card",
"network":"visa",
"status":"APPROVED",
"approve_code":"5BC3018D9DA53",
"reason":"APPROVED cardSecurityCode: MATCH3DSecure: AUTHENTICATION_SUCCESSFUL "
},
"source":{
"category":"card",
"number":"411111xxxxxx1111",
"brand":{
"name":"VISA",
"type":null,
"category":null
},
"issuer":{
"name":"JPMORGAN CHASE BANK, N.A.",
"phone":"+14169819200",
"website":"http://www.jpmorganchase.com",
"country":{
"name":"United States",
"iso2":"US",
"iso3":"USA"
}
}
}
},
"shipping":{
"customer":{
"name":null,
"email":null,
"phone":null,
"address":{
"street":null,
"city":null,
"state":null,
"zipcode":null,
"country":null
}
}
},
"transactions":[
{
"amount":"3393.00",
"currency":"BDT",
"status":"ACCEPTED",
"type":"purchase",
"time":"Sun, 14 Oct 2018 14:43:04 +0600"
},
{
"amount":"-102.79",
"currency":"BDT",
"status":"ACCEPTED",
"type":"fee",
"time":"Sun, 14 Oct 2018 14:43:04 +0600"
}
],
"customs":[
{
"card_hash":"80e0f2352f868abb3e8fe7238c6103ac"
}
]
}
}
"""

# Refund Request: Response 202.
REFUND_202 = """\
{
"data": {
"order": {
"invoice": "85BC30171EA29531",
"amount": "3393.00",
"currency": "BDT",
"status": "REFUND_PENDING"
},
"refund": {
"amount": 100,
"status": "APPROVED"
}
},
"result": "SUCCESS"
}
"""


# -- the samples, parsed as they stand ------------------------------------------------------

import json  # noqa: E402 - the samples above read best first
from decimal import Decimal  # noqa: E402

import pytest  # noqa: E402
import responses  # noqa: E402

from django_multipay.gateways.portpos import PortPosGateway  # noqa: E402
from django_multipay.gateways.results import NotificationEvent, PaymentUrls, StatusResult  # noqa: E402
from django_multipay.models import Invoice, Refund  # noqa: E402
from django_multipay.status import InvoiceStatus, RefundStatus  # noqa: E402
from django_multipay.testing.factories import OrderFactory  # noqa: E402

API = "https://api-sandbox.portpos.com/payment/v2/"
URLS = PaymentUrls(
    return_url="https://shop.example.com/payments/return/1/",
    cancel_url="https://shop.example.com/payments/return/1/?cancelled=1",
    notify_url="https://shop.example.com/payments/notify/portpos/",
)


@pytest.fixture
def gateway() -> PortPosGateway:
    return PortPosGateway("portpos", {"app_key": "app", "secret_key": "secret", "sandbox": True})


def invoice_for(amount: str, gateway_id: str = "", status: str = InvoiceStatus.PENDING) -> Invoice:
    order = OrderFactory(amount=Decimal(amount), currency="BDT")
    return Invoice.objects.create(
        order=order,
        gateway="portpos",
        gateway_id=gateway_id,
        amount=Decimal(amount),
        currency="BDT",
        status=status,
    )


def test_all_samples_are_json() -> None:
    for sample in (CREATE_201, IPN_VALIDATE_200, GET_INVOICE_200, REFUND_202):
        assert isinstance(json.loads(sample), dict)


@responses.activate
def test_create_invoice_sample_sends_customer_to_action_url(db, gateway) -> None:
    responses.post(API + "invoice", body=CREATE_201, status=201)
    invoice = invoice_for("1000.00")
    started = gateway.start_payment(invoice, URLS)
    assert started.gateway_id == "85BE2D4A320E9009"
    assert started.action.url == (
        "https://payment-sandbox.portpos.com/payment/index/emi/?invoice=85BE2D4A320E9009"
    )
    assert started.action.method == "GET"
    assert started.raw["order"]["status"] == "PENDING"
    assert started.raw["customs"][2] == {"discount_code": "Bengal 1,Bengal 2"}


@responses.activate
def test_get_invoice_sample_is_a_paid_invoice_with_its_details(db, gateway) -> None:
    responses.get(API + "invoice/85BC30171EA29531", body=GET_INVOICE_200)
    invoice = invoice_for("3393.00", "85BC30171EA29531")
    result = gateway.fetch_status(invoice)
    assert result == StatusResult(
        status=InvoiceStatus.PAID,
        gateway_id="85BC30171EA29531",
        amount=Decimal("3393.00"),
        currency="BDT",
        captured_amount=Decimal("3393.00"),
        raw=json.loads(GET_INVOICE_200)["data"],
    )
    # The fee line is the gateway's charge to the shop, kept but not money back.
    assert result.raw["transactions"][1] == {
        "amount": "-102.79",
        "currency": "BDT",
        "status": "ACCEPTED",
        "type": "fee",
        "time": "Sun, 14 Oct 2018 14:43:04 +0600",
    }
    assert result.raw["billing"]["payer"]["account"] == "411111xxxxxx1111"
    assert result.raw["billing"]["source"]["issuer"]["country"]["iso3"] == "USA"


@responses.activate
def test_ipn_validate_sample_confirms_the_ipn(db, gateway) -> None:
    # The IPN's amount is echoed as it came: PHP senders write 3393 for 3393.00.
    responses.get(API + "invoice/ipn/85BC30171EA29531/3393", body=IPN_VALIDATE_200)
    invoice = invoice_for("3393.00", "85BC30171EA29531")
    event = NotificationEvent(
        invoice_id="123",
        gateway_id="85BC30171EA29531",
        status=StatusResult(status=InvoiceStatus.PAID, amount=Decimal("3393")),
        raw={"invoice": "85BC30171EA29531", "amount": "3393", "status": "ACCEPTED"},
    )
    result = gateway.verify_notification(invoice, event)
    assert (result.status, result.amount, result.currency) == (
        InvoiceStatus.PAID,
        Decimal("3393.00"),
        "BDT",
    )
    assert result.raw["billing"]["gateway"]["approve_code"] == "5BC3018D9DA53"


@responses.activate
def test_refund_sample_is_a_pending_refund(db, gateway) -> None:
    responses.post(API + "invoice/refund/85BC30171EA29531", body=REFUND_202, status=202)
    invoice = invoice_for("3393.00", "85BC30171EA29531", InvoiceStatus.PAID)
    refund = Refund.objects.create(invoice=invoice, amount=Decimal("100.00"), currency="BDT")
    result = gateway.refund(refund)
    # refund.status APPROVED while the invoice is REFUND_PENDING: under way, not paid back yet.
    assert result.status == RefundStatus.PENDING
    assert result.amount == Decimal("100")
    assert result.currency == "BDT"
    assert result.idempotency_key == refund.idempotency_key
