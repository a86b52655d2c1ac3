"""The example shop, run for real: a customer buys through the dummy gateway's hosted page.

The shop runs in its own process (``example_project/manage.py runserver``) on its own SQLite
file, so these tests need neither the suite's settings nor its database.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import requests

from tests.shop_server import MANAGE, Shop, buy, csrf


def test_customer_pays_and_the_shop_order_becomes_paid(shop: Shop) -> None:
    reference, final = buy(shop, "paid")

    assert final.status_code == 200
    assert final.url == f"{shop.url}/orders/{reference}/"
    assert 'id="fulfilment-status" class="status status-paid" data-status="paid"' in final.text
    assert 'id="payment-status" class="status status-paid" data-status="paid"' in final.text
    assert "Try paying again" not in final.text
    assert "€49.80" in final.text
    assert shop.db_state(reference) == {
        "fulfilment": "paid",
        "order": "paid",
        "invoices": ["paid"],
        # The emulator's signed notification was verified and applied before the customer
        # came back.
        "notifications": [[True, "processed"]],
    }
    # Another browser cannot see the order.
    assert requests.get(final.url, timeout=10).status_code == 404


def test_declined_payment_leaves_the_shop_order_unpaid(shop: Shop) -> None:
    reference, final = buy(shop, "declined")

    assert final.status_code == 200
    assert final.url == f"{shop.url}/orders/{reference}/"
    assert 'data-status="awaiting_payment"' in final.text
    assert 'id="payment-status" class="status status-failed" data-status="failed"' in final.text
    assert "Try paying again" in final.text
    assert shop.db_state(reference) == {
        "fulfilment": "awaiting_payment",
        "order": "failed",
        "invoices": ["failed"],
        "notifications": [[True, "processed"]],
    }


def test_refunds_move_the_shop_order_to_refunded(shop: Shop) -> None:
    reference, _ = buy(shop, "paid")
    # The shop refunds through the Python API; the emulator is the running server.
    code = f"""
import json
from django_multipay import payments
from django_multipay.models import Invoice
from shop.models import ShopOrder

seen = []
for amount in ("10.00", None):
    invoice = Invoice.objects.get(order__reference={reference!r})
    seen.append(payments.refund(invoice, amount, reason="demo").status)
    seen.append(ShopOrder.objects.get(order__reference={reference!r}).fulfilment_status)
print(json.dumps(seen))
"""

    assert json.loads(shop.shell(code)) == [
        "succeeded",
        "partially_refunded",
        "succeeded",
        "refunded",
    ]
    assert shop.db_state(reference)["order"] == "refunded"


def test_customer_buys_in_a_browser(shop: Shop, browser: Any) -> None:
    """Cart, checkout, the pay page, the dummy's hosted page, back to a paid order."""
    page = browser.new_page()
    page.goto(shop.url + "/")
    page.locator("form[action='/cart/add/ceramic-mug/'] button").click()
    page.goto(shop.url + "/checkout/")
    for name, value in {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+8801700000000",
        "billing_line1": "12 Example Road",
        "billing_city": "Dhaka",
        "billing_state": "Dhaka",
        "billing_postal_code": "1207",
        "billing_country": "BD",
    }.items():
        page.fill(f"[name={name}]", value)
    page.check("[name=shipping_same]")
    page.locator("button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/payments/pay/"))
    assert "€12.50" in page.locator("body").inner_text()

    page.get_by_role("button", name=re.compile("^Pay with")).first.click()
    page.wait_for_url(re.compile(r"/sandbox/dummy/pay/"))
    page.get_by_role("button", name="Paid").click()
    page.wait_for_url(re.compile(r"/orders/"))

    reference = page.url.rstrip("/").rsplit("/", 1)[-1]
    text = page.locator("main").inner_text()
    assert "Paid, to be shipped" in text
    state = shop.db_state(reference)
    assert state["fulfilment"] == "paid"
    assert state["order"] == "paid"
    assert state["invoices"] == ["paid"]
    page.close()


def test_a_customer_switches_the_shop_to_spanish_and_pays_in_spanish(shop: Shop) -> None:
    customer = requests.Session()
    home = customer.get(shop.url + "/", timeout=10)
    switched = customer.post(
        shop.url + "/i18n/setlang/",
        data={"csrfmiddlewaretoken": csrf(home.text), "language": "es", "next": "/"},
        timeout=10,
    )

    assert switched.url == shop.url + "/"
    assert customer.cookies["django_language"] == "es"
    assert '<html lang="es" dir="ltr">' in switched.text
    assert '<option value="es" lang="es" selected>Español</option>' in switched.text
    pages: dict[str, Any] = {}
    reference, final = buy(shop, "paid", customer=customer, pages=pages)
    assert f"Pagar el pedido {reference}" in pages["pay"].text
    assert "Elija cómo pagar" in pages["pay"].text
    assert "49,80\xa0€" in pages["pay"].text  # 2 x 24.90, as Spanish writes it
    assert final.status_code == 200
    assert "49,80\xa0€" in final.text  # the shop's own order page, in the same language
    assert shop.db_state(reference)["order"] == "paid"


def test_load_demo_runs_under_each_language(shop: Shop) -> None:
    for language in ("en-us", "bn", "ar", "es", "pt"):
        done = subprocess.run(
            [*MANAGE, "load_demo"],
            env={**shop.env, "LANGUAGE_CODE": language},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (language, done.stderr)
    products = shop.shell("from shop.models import Product; print(Product.objects.count())")
    assert int(products) == 8  # idempotent: each run found them all
