"""The example shop, run for real, sells an AED product through Postpay's emulator."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import requests

from tests.shop_server import Shop, csrf


def test_customer_pays_later_with_postpay(shop: Shop) -> None:
    customer = requests.Session()
    home = customer.get(shop.url + "/", timeout=10)
    customer.post(
        shop.url + "/cart/add/cardamom-coffee/",
        data={"csrfmiddlewaretoken": csrf(home.text), "quantity": "2"},
        timeout=10,
    )
    form = customer.get(shop.url + "/checkout/", timeout=10)
    pay_page = customer.post(
        shop.url + "/checkout/",
        data={
            "csrfmiddlewaretoken": csrf(form.text),
            "name": "John Doe",
            "email": "john@example.ae",
            "phone": "+971 50 199 8853",
            "billing_line1": "The Gate District, DIFC",
            "billing_city": "Dubai",
            "billing_postal_code": "00000",
            "billing_country": "ae",
            "shipping_same": "on",
        },
        timeout=10,
    )
    assert pay_page.status_code == 200, pay_page.text
    assert "Postpay: pay later in instalments (AED)" in pay_page.text
    reference = re.search(r"Pay order (SO-[0-9A-Z-]+)", pay_page.text).group(1)  # type: ignore[union-attr]
    started = customer.post(
        pay_page.url,
        data={"csrfmiddlewaretoken": csrf(pay_page.text), "gateway": "postpay"},
        allow_redirects=False,
        timeout=20,
    )
    assert started.status_code == 302, started.text
    checkout = urljoin(pay_page.url, started.headers["Location"])
    assert checkout.startswith(shop.url + "/sandbox/postpay/checkout/")
    page = customer.get(checkout, timeout=10)
    assert "178.00 AED" in page.text

    final = customer.post(checkout, data={"outcome": "approve"}, timeout=20)

    assert final.status_code == 200
    assert final.url == f"{shop.url}/orders/{reference}/"
    assert 'id="payment-status" class="status status-paid" data-status="paid"' in final.text
    state = shop.db_state(reference)
    assert (state["order"], state["invoices"]) == ("paid", ["paid"])
