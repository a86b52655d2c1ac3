"""PortPos v2: the document's sample answers, copied line for line (blank lines dropped).

test_portpos_wire.py parses them."""

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
