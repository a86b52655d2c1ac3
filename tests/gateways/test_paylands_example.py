"""The example shop pays through Paylands for real: card page and Payshop reference."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import requests

from tests.shop_server import Shop, csrf


def checkout(shop: Shop, alias: str) -> tuple[str, requests.Session, requests.Response]:
    """Buy two bags of espresso beans (EUR) and choose ``alias``; the gateway's first page."""
    customer = requests.Session()
    home = customer.get(shop.url + "/", timeout=10)
    customer.post(
        shop.url + "/cart/add/espresso-beans/",
        data={"csrfmiddlewaretoken": csrf(home.text), "quantity": "2"},
        timeout=10,
    )
    form = customer.get(shop.url + "/checkout/", timeout=10)
    pay_page = customer.post(
        shop.url + "/checkout/",
        data={
            "csrfmiddlewaretoken": csrf(form.text),
            "name": "Ana Sousa",
            "email": "ana@example.pt",
            "phone": "+351 912345678",
            "billing_line1": "Rua Augusta 1",
            "billing_city": "Lisboa",
            "billing_postal_code": "1100-053",
            "billing_country": "pt",
            "shipping_same": "on",
        },
        timeout=10,
    )
    assert f'value="{alias}"' in pay_page.text
    found = re.search(r"Pay order (SO-[0-9A-Z-]+)", pay_page.text)
    assert found is not None
    started = customer.post(
        pay_page.url,
        data={"csrfmiddlewaretoken": csrf(pay_page.text), "gateway": alias},
        allow_redirects=False,
        timeout=20,
    )
    assert started.status_code == 302, started.text
    page = customer.get(urljoin(pay_page.url, started.headers["Location"]), timeout=10)
    assert page.status_code == 200
    return found.group(1), customer, page


def test_card_payment_in_the_example_shop(shop: Shop) -> None:
    reference, customer, page = checkout(shop, "paylands")
    assert page.url.startswith(shop.url + "/sandbox/paylands/payment/process/")
    assert "49.80 EUR" in page.text
    final = customer.post(page.url, data={"action": "pay", "card_number": "5590337536718399"})
    assert final.url == f"{shop.url}/orders/{reference}/"
    assert shop.db_state(reference) == {
        "fulfilment": "paid",
        "order": "paid",
        "invoices": ["paid"],
        "notifications": [[True, "processed"]],
    }


def test_payshop_reference_in_the_example_shop(shop: Shop) -> None:
    reference, customer, page = checkout(shop, "paylands-payshop")
    assert page.url.endswith("?apm=PAYSHOP")
    payshop = re.search(r"Reference: <code>(\d{13})</code>", page.text)
    assert payshop is not None
    later = customer.post(page.url, data={"outcome": "later"})
    assert later.url == f"{shop.url}/orders/{reference}/"
    assert shop.db_state(reference)["invoices"] == ["pending"]
    # The customer pays the reference at an agent: Paylands notifies the shop.
    customer.post(page.url, data={"outcome": "paid"})
    assert shop.db_state(reference)["invoices"] == ["paid"]
