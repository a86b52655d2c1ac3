"""The pay page in a real (headless) browser, at desktop and phone widths: a customer pays
through the dummy emulator, comes back to a paid order, and meets the error of an order paid
meanwhile in another tab.

The app runs on pytest-django's live server, the dummy gateway's emulator with it. The
screenshots of docs/customising.md are taken here: into a temporary folder on every run, and
into docs/_static/pay/ with ``MULTIPAY_DOCS_SCREENSHOTS=1`` (to refresh the docs).
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from django_multipay.models import Order
from django_multipay.status import OrderStatus
from django_multipay.testing.factories import OrderFactory, OrderItemFactory
from tests.shop_server import CHROMIUM, ROOT

SHOTS = (
    ROOT / "docs" / "_static" / "pay"
    if os.environ.get("MULTIPAY_DOCS_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "multipay-pay-screenshots"
)

#: (name, viewport): a laptop, and a phone held upright.
WIDTHS = [("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844})]

pytestmark = pytest.mark.django_db(transaction=True)


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 0
    return target


@pytest.fixture
def served(live_server: Any, settings: Any) -> str:
    """The app on the live server, offering three payment methods for euros; the dummy
    gateway's calls go to its emulator on the same server."""
    config = copy.deepcopy(settings.MULTIPAY)
    dummy = config["GATEWAYS"]["dummy"]
    dummy["OPTIONS"]["base_url"] = f"{live_server.url}/sandbox/dummy/"
    dummy["LABEL"] = "Test card"
    paylands = config["GATEWAYS"]["paylands"]
    paylands["LABEL"] = "Card"
    postpay = config["GATEWAYS"]["postpay"]
    config["GATEWAYS"] = {"dummy": dummy, "paylands": paylands, "postpay": postpay}
    config["BASE_URL"] = live_server.url
    settings.MULTIPAY = config
    return str(live_server.url)


@pytest.fixture
def chromium(served: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A headless Chromium started after the database is ready (skipped when missing)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    # Playwright's sync API keeps an event loop on this thread, and Django refuses database
    # calls from a thread with a loop unless told they are synchronous, which these are.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


def an_order(reference: str) -> Order:
    order = OrderFactory(
        reference=reference,
        amount=Decimal("56.80"),
        currency="EUR",
        description="Coffee for the office",
        shipping_amount=Decimal("7.00"),
    )
    OrderItemFactory(order=order, name="Espresso beans", quantity=2, unit_price=Decimal("24.90"))
    return order


def fits_the_screen(page: Any) -> bool:
    """Nothing wider than the window: no sideways scrolling on a phone."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize(("width", "viewport"), WIDTHS)
def test_customer_pays_and_comes_back_to_a_paid_order(
    served: str, chromium: Any, width: str, viewport: dict[str, int]
) -> None:
    order = an_order(f"SO-{width.upper()}-1")
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()

    page.goto(f"{served}/payments/pay/{order.public_id}/")
    assert page.locator("h1").inner_text() == f"Pay order {order.reference}"
    summary = page.locator(".mp-summary").inner_text()
    assert "Espresso beans" in summary
    assert "€49.80" in summary
    assert "€56.80" in summary
    buttons = page.get_by_role("button", name=re.compile("^Pay with"))
    # Postpay takes AED only: not offered for euros.
    assert buttons.count() == 2
    assert "Paylands" in page.locator(".mp-methods").inner_text()  # the gateway behind "Card"
    assert fits_the_screen(page)
    if width == "phone":
        # Each method a full-width target for a thumb.
        box = buttons.first.bounding_box()
        assert box["width"] >= viewport["width"] - 64
    shot(page, f"pay-{width}")

    page.get_by_role("button", name="Pay with Test card").click()
    page.wait_for_url(re.compile(r"/sandbox/dummy/pay/"))
    page.get_by_role("button", name="Paid").click()
    page.wait_for_url(re.compile(rf"/shop/thanks/{order.reference}/$"))
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID

    page.goto(f"{served}/payments/pay/{order.public_id}/")
    assert page.get_by_role("button", name=re.compile("^Pay with")).count() == 0
    assert page.locator(".mp-status").inner_text() == "paid"
    link = page.get_by_role("link", name="View your order")
    assert link.get_attribute("href") == f"/shop/thanks/{order.reference}/"
    assert fits_the_screen(page)
    shot(page, f"paid-{width}")
    context.close()


@pytest.mark.parametrize(("width", "viewport"), WIDTHS)
def test_an_order_paid_in_another_tab_shows_why_and_no_buttons(
    served: str, chromium: Any, width: str, viewport: dict[str, int]
) -> None:
    order = an_order(f"SO-{width.upper()}-2")
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{served}/payments/pay/{order.public_id}/")
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PAID)  # paid elsewhere

    page.get_by_role("button", name="Pay with Test card").click()
    page.wait_for_load_state()

    alert = page.get_by_role("alert")
    assert "This order can no longer be paid." in alert.inner_text()
    assert f"Order {order.reference} is paid and cannot be paid." in alert.inner_text()
    assert page.get_by_role("button", name=re.compile("^Pay with")).count() == 0
    assert page.get_by_role("link", name="View your order").count() == 1
    assert not order.invoices.exists()
    assert fits_the_screen(page)
    shot(page, f"error-{width}")
    context.close()


@pytest.mark.parametrize(("width", "viewport"), WIDTHS)
def test_the_page_reads_right_to_left_in_arabic(
    served: str, chromium: Any, width: str, viewport: dict[str, int]
) -> None:
    """The browser asks for Arabic: the page is Arabic, mirrored, and still pays."""
    order = an_order(f"SO-{width.upper()}-3")
    context = chromium.new_context(viewport=viewport, locale="ar")
    page = context.new_page()

    page.goto(f"{served}/payments/pay/{order.public_id}/")

    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert page.locator("h1").inner_text() == f"ادفع الطلب {order.reference}"
    # Mirrored: the label of the total on the right, its amount on the left, text from the
    # right edge of each card, and the back link pointing right.
    label = page.locator(".mp-total th").bounding_box()
    amount = page.locator(".mp-total td").bounding_box()
    assert amount["x"] + amount["width"] <= label["x"]
    heading = page.locator("#mp-methods-title").bounding_box()
    card = page.locator(".mp-card").last.bounding_box()
    assert card["x"] + card["width"] - (heading["x"] + heading["width"]) < 40
    assert page.locator(".mp-back").inner_text().startswith("→")
    assert "\u200f56.80\xa0€" in page.locator(".mp-total td").inner_text()
    assert fits_the_screen(page)
    shot(page, f"pay-ar-{width}")

    page.locator("button.mp-method").first.click()
    page.wait_for_url(re.compile(r"/sandbox/dummy/pay/"))
    page.get_by_role("button", name="Paid").click()
    page.wait_for_url(re.compile(rf"/shop/thanks/{order.reference}/$"))
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    context.close()
