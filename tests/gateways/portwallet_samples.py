"""The PortWallet v1 document's sample responses, verbatim (indentation aside)."""
# ruff: noqa: E501 - the samples keep the document's long lines

# Create Invoice, "Success response"
GEN_INVOICE_SUCCESS = r"""{
       "status":200,
       "data":{
          "id":"1711",
          "client_id":"13",
          "amount":"100",
          "currency":"BDT",
          "name":"",
          "email":"test@example.com",
          "phone":"0123456789",
          "address":"ddd",
          "country":"BD",
          "state":"dd",
          "city":"dd",
          "zipcode":"dd",
          "ship_to_name":"",
          "ship_to_email":"",
          "ship_to_phone":"",
          "ship_to_address":"",
          "ship_to_country":"",
          "ship_to_state":"",
          "ship_to_city":"",
          "ship_to_zipcode":"",
          "product_name":"dd",
          "product_description":"ddd",
          "ipn_url":"",
          "gateway_txn_id":"123456789",
          "reason":"",
          "redirect_url":"http:\/\/www.google.com",
          "invoice_id":"854EEE3DCAEA1725"
}
}"""

# Create Invoice, "Failed response"
GEN_INVOICE_FAILED = r"""{
       "status":400,
       "data":{
          "client_id":"13",
          "currency":"BDT",
          "name":"",
          "email":"test@example.com",
          "phone":"0123456789",
          "address":"ddd",
          "country":"BD",
          "state":"dd",
          "city":"dd",
          "zipcode":"dd",
          "ship_to_name":"",
          "ship_to_email":"",
          "ship_to_phone":"",
          "ship_to_address":"",
          "ship_to_country":"",
          "ship_to_state":"",
          "ship_to_city":"",
          "ship_to_zipcode":"",
          "ipn_url":""
       },
       "message":{
          "amount":"amount is not set",
          "product_name":"product_name is not set",
          "product_description":"product_description is not set",
          "redirect_url":"redirect_url is not set"
}
}"""

# Verify transaction, "ACCEPTED (Success) response"
IPN_VALIDATE_ACCEPTED = r"""{
       "status":200,
       "data":{
          "invoice_id":"854EEEF3240FBB53",
          "amount":"100.00",
          "buyer_email":"test@example.com",
          "buyer_name":"",
          "buyer_phone":"0123456789",
          "buyer_address":"ddd",
          "product_name":"test",
          "product_description":"dfdf",
          "currency":"BDT",
          "payer_account":"467922XXXXXX7653",
          "status":"ACCEPTED",
          "payer_name":"Sadiqur Rahman",
          "ip_address":"192.168.2.39",
          "user_agent":"Mozilla\/5.0 (Windows NT 6.3; WOW64) AppleWebKit\/537.36 (KHTML, like Gecko) Chrome\/40.0.2214.115 Safari\/537.36",
          "gateway_name":"BRAC Bank Limited",
          "gateway_url":"http:\/\/www.bracbank.com",
          "issuer_name":"Eastern Bank, Ltd",
          "issuer_phone":"+88028332232",
          "issuer_website":"http:\/\/www.ebl.com.bd",
          "card_brand":"VISA",
          "card_type":"credit",
          "gateway_txn_id":"123456789",
          "reason":"",
          "card_category":"Platinum",
          "issuer_country_iso2":"BD",
          "issuer_country":"Bangladesh"
}
}"""

# Verify transaction, "REJECTED payment response" (as printed: one closing brace too many)
IPN_VALIDATE_REJECTED = r"""{
       "status":300,
       "data":{
          "invoice_id":"854EEF01F62EBB53",
          "amount":"100.00",
          "buyer_email":"test@example.com",
          "buyer_name":"",
          "buyer_phone":"0123456789",
          "buyer_address":"ddd",
          "product_name":"test",
          "product_description":"dfdf",
          "currency":"BDT",
          "payer_account":"411111XXXXXX11",
          "status":"REJECTED",
          "payer_name":"Test",
          "ip_address":"192.168.2.39",
          "user_agent":"Mozilla\/5.0 (Windows NT 6.3; WOW64) AppleWebKit\/537.36 (KHTML, like Gecko) Chrome\/40.0.2214.115 Safari\/537.36",
          "gateway_name":"BRAC Bank Limited",
          "gateway_url":"http:\/\/www.bracbank.com",
          "issuer_name":"JPMORGAN CHASE BANK, N.A.",
          "issuer_phone":"+14169819200",
          "issuer_website":"http:\/\/www.jpmorganchase.com",
          "card_brand":"VISA",
          "gateway_txn_id":"123456789",
          "reason":"Unsuccessful - Declined",
          "card_type":null,
          "card_category":null,
          "issuer_country_iso2":"US",
          "issuer_country":"United States"
}
}
}"""

# Verify transaction, "PENDING payment response"
IPN_VALIDATE_PENDING = r"""{
       "status":100,
       "data":{
          "invoice_id":"854EEF0AE647C438",
          "amount":"100.00",
          "buyer_email":"test@example.com",
          "buyer_name":"",
          "buyer_phone":"0123456789",
          "buyer_address":"ddd",
          "product_name":"product name",
          "product_description":"product description",
          "payer_account":null,
          "status":null,
          "payer_name":null,
          "ip_address":null,
          "user_agent":null,
          "gateway_name":null,
          "gateway_url":null,
          "issuer_name":null,
          "issuer_phone":null,
          "issuer_website":null,
          "gateway_txn_id":"",
          "reason":"",
          "card_brand":null,
          "card_type":null,
          "card_category":null,
          "issuer_country_iso2":null,
          "issuer_country":null
}
}"""

# Verify transaction, "Invalid request response"
IPN_VALIDATE_INVALID = r"""{
       "status":400,
       "message":"Invalid IPN Request"
}"""

# Get invoice, "Sample response"
GET_INVOICE_SAMPLE = r"""{
       "status":200,
       "data":{
          "invoice_id":"854EEEF3240FBB53",
          "amount":"100.00",
          "buyer_email":"test@example.com",
          "buyer_name":"",
          "buyer_phone":"0123456789",
          "buyer_address":"ddd",
          "product_name":"test",
          "product_description":"dfdf",
          "currency":"BDT",
          "payer_account":"467922XXXXXX7653",
          "status":"ACCEPTED",
          "payer_name":"Sadiqur Rahman",
          "ip_address":"192.168.2.39",
          "user_agent":"Mozilla\/5.0 (Windows NT 6.3; WOW64) AppleWebKit\/537.36 (KHTML, like Gecko) Chrome\/40.0.2214.115 Safari\/537.36",
          "gateway_name":"BRAC Bank Limited",
          "gateway_url":"http:\/\/www.bracbank.com",
          "issuer_name":"Eastern Bank, Ltd",
          "issuer_phone":"+88028332232",
          "issuer_website":"http:\/\/www.ebl.com.bd",
          "card_brand":"VISA",
          "card_type":"credit",
          "gateway_txn_id":"123456789",
          "reason":"",
          "card_category":"Platinum",
          "issuer_country_iso2":"BD",
          "issuer_country":"Bangladesh"
}
}"""

# Get invoice, "Invalid request response"
GET_INVOICE_INVALID = r"""{
       "status":400,
       "message":"Invalid Request"
}"""

# Refund Request, "Sample response"
REFUND_REQUEST_SAMPLE = r"""{
       "status":210,
       "data":{
          "invoice_id":"854EEEF3240FBB53",
          "amount":"100.00",
          "buyer_email":"test@example.com",
          "buyer_name":"",
          "buyer_phone":"0123456789",
          "buyer_address":"ddd",
          "product_name":"test",
          "product_description":"dfdf",
          "currency":"BDT",
          "payer_account":"467922XXXXXX7653",
          "status":"REFUND_PENDING",
          "payer_name":"Sadiqur Rahman",
          "ip_address":"192.168.2.39",
          "user_agent":"Mozilla\/5.0 (Windows NT 6.3; WOW64) AppleWebKit\/537.36 (KHTML, like Gecko) Chrome\/40.0.2214.115 Safari\/537.36",
          "gateway_name":"BRAC Bank Limited",
          "gateway_url":"http:\/\/www.bracbank.com",
          "issuer_name":"Eastern Bank, Ltd",
          "issuer_phone":"+88028332232",
          "issuer_website":"http:\/\/www.ebl.com.bd",
          "card_brand":"VISA",
          "card_type":"credit",
          "gateway_txn_id":"123456789",
          "reason":"",
          "card_category":"Platinum",
          "issuer_country_iso2":"BD",
          "issuer_country":"Bangladesh"
}
}"""

# Refund Request, "Invalid request response"
REFUND_REQUEST_INVALID = r"""{
       "status":400,
       "message":"Refund amount exceeded. Refundable amount is 19.00"
}"""
