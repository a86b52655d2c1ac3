"""An operator refunds a paid invoice in the example shop's admin, in a real (headless) browser.

The shop runs for real (``tests.shop_server``); the payment is made through the dummy
emulator. The screenshots of docs/admin.md are taken here: into a temporary folder on every
run, and into docs/_static/admin/ with ``MULTIPAY_DOCS_SCREENSHOTS=1`` (to refresh the docs).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from tests.shop_server import ROOT, Shop, buy

SHOTS = (
    ROOT / "docs" / "_static" / "admin"
    if os.environ.get("MULTIPAY_DOCS_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "multipay-admin-screenshots"
)


def shot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 0
    return target


def refunds_of(shop: Shop, reference: str) -> dict[str, Any]:
    """The invoice and its refunds, read by the shop's own ORM."""
    code = (
        "import json; from django_multipay.models import Invoice; "
        f"i = Invoice.objects.get(order__reference={reference!r}); "
        "print(json.dumps({'status': i.status, 'refunded': str(i.refunded_amount), "
        "'refunds': [[str(r.amount), r.status, r.reason, r.requested_by.username] "
        "for r in i.refunds.order_by('created_at')]}))"
    )
    return json.loads(shop.shell(code))  # type: ignore[no-any-return]


def sign_in(page: Any, shop: Shop) -> None:
    page.goto(shop.url + "/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin")
    page.locator("input[type=submit]").click()
    page.wait_for_url(shop.url + "/admin/")


def open_invoice(page: Any, shop: Shop, reference: str) -> None:
    page.goto(f"{shop.url}/admin/django_multipay/invoice/?q={reference}")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_url(re.compile(r"/admin/django_multipay/invoice/[0-9a-f-]+/change/"))


def test_operator_refunds_part_of_a_paid_invoice(shop: Shop, browser: Any) -> None:
    reference, _ = buy(shop, "paid")  # 2 x €24.90
    second, _ = buy(shop, "paid")
    declined, _ = buy(shop, "declined")
    assert refunds_of(shop, reference) == {"status": "paid", "refunded": "0.0000", "refunds": []}
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, shop)

    # The list, searched by the order's reference.
    page.goto(f"{shop.url}/admin/django_multipay/invoice/")
    listing = page.locator("#result_list").inner_text()
    assert reference in listing
    assert "€49.80" in listing
    shot(page, "invoice-list")

    # The invoice page: what can be refunded, and the buttons.
    open_invoice(page, shop, reference)
    assert page.locator(".field-status .readonly").inner_text() == "Paid"
    assert "€49.80" in page.locator(".field-refundable_display .readonly").inner_text()
    shot(page, "invoice-page")

    # Refund part: the form says what is left and the gateway's limits.
    page.locator("a[data-tool=refund]").click()
    page.wait_for_url(re.compile(r"/refund/$"))
    assert "€49.80" in page.locator("#multipay-remaining").inner_text()
    assert (
        "At most 10 refunds per payment (0 used)" in page.locator("#multipay-limits").inner_text()
    )
    page.fill("#id_amount", "60.00")
    page.fill("#id_reason", "One bag arrived torn")
    page.locator("input[type=submit][value=Refund]").click()
    assert "At most €49.80 can be refunded." in page.locator(".errorlist").inner_text()
    assert refunds_of(shop, reference)["refunds"] == []
    page.goto(page.url)  # A fresh form (and idempotency key), for the picture.
    page.fill("#id_amount", "10.00")
    page.fill("#id_reason", "One bag arrived torn")
    shot(page, "refund-form")
    page.locator("input[type=submit][value=Refund]").click()

    # Back on the invoice: the message, the new status and the refund.
    page.wait_for_url(re.compile(r"/change/$"))
    assert "Refunded €10.00 on " + reference in page.locator(".messagelist").inner_text()
    assert page.locator(".field-status .readonly").inner_text() == "Partially refunded"
    refunds = page.locator("#refunds-group").inner_text()
    assert "€10.00" in refunds
    assert "One bag arrived torn" in refunds
    assert "Succeeded" in refunds
    shot(page, "refunded")
    assert refunds_of(shop, reference) == {
        "status": "partially_refunded",
        "refunded": "10.0000",
        "refunds": [["10.0000", "succeeded", "One bag arrived torn", "admin"]],
    }

    # Refund in full, on the list: the confirmation page names amounts and refusals.
    page.goto(f"{shop.url}/admin/django_multipay/invoice/")
    for ref in (reference, second, declined):
        row = page.locator("#result_list tbody tr", has_text=ref)
        row.locator("input.action-select").check()
    page.select_option("select[name=action]", "refund_in_full")
    page.locator("button[name=index]").click()
    ready = page.locator("#multipay-ready").inner_text()
    assert "€39.80" in ready
    assert "€49.80" in ready
    assert declined not in ready
    refused = page.locator("#multipay-refused").inner_text()
    assert f"{declined} (dummy, €49.80): not paid (the invoice is failed)" in refused
    shot(page, "refund-in-full")
    page.fill("#id_reason", "Order cancelled by the customer")
    page.locator("input[type=submit][value='Yes, refund in full']").click()
    page.wait_for_url(re.compile(r"/admin/django_multipay/invoice/$"))
    notes = page.locator(".messagelist").inner_text()
    assert f"Refunded €39.80 on {reference}" in notes
    assert f"Refunded €49.80 on {second}" in notes
    assert refunds_of(shop, second)["status"] == "refunded"
    assert refunds_of(shop, reference)["refunded"] == "49.8000"

    # The notifications the gateway sent, as stored.
    page.goto(f"{shop.url}/admin/django_multipay/notification/")
    assert "Processed" in page.locator("#result_list").inner_text()
    shot(page, "notifications")
    context.close()


def test_operator_resolves_a_refund_of_unknown_outcome(shop: Shop, browser: Any) -> None:
    reference, _ = buy(shop, "paid")
    # A refund whose call never had an answer: saved, never settled by the gateway.
    refund_id = shop.shell(
        "from decimal import Decimal; from django_multipay import processing; "
        "from django_multipay.models import Invoice; "
        f"i = Invoice.objects.get(order__reference={reference!r}); "
        "r, _ = processing.reserve_refund(i.pk, Decimal('12.50'), reason='Lid cracked'); "
        "print(r.pk)"
    )
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, shop)
    open_invoice(page, shop, reference)
    page.locator("a[data-tool=refund]").click()
    page.wait_for_url(re.compile(r"/refund/$"))
    assert "€12.50 of refunds" in page.locator("#multipay-unknown-warning").inner_text()

    page.goto(f"{shop.url}/admin/django_multipay/refund/{refund_id}/change/")
    page.locator("a[data-tool=resolve]").click()
    page.wait_for_url(re.compile(r"/resolve/$"))
    report = page.locator("#multipay-gateway-report").inner_text()
    assert "The gateway lists no refund lines for this invoice." in report
    page.check("input[name=decision][value=not_refunded]")
    page.fill("#id_reason", "Not in the gateway's dashboard")
    shot(page, "resolve-refund")
    page.locator("input[type=submit][value='Record the decision']").click()
    page.wait_for_url(re.compile(r"/change/$"))
    assert "recorded as not refunded" in page.locator(".messagelist").inner_text()
    assert "Not in the gateway's dashboard" in page.locator(".field-resolution_note").inner_text()
    settled = shop.shell(
        "from django_multipay.models import Refund; "
        f"r = Refund.objects.get(pk={refund_id!r}); "
        "print(r.status, r.resolved_by.username, r.invoice.refunded_amount)"
    )
    assert settled == "failed admin 0.0000"
    context.close()


def test_operator_reads_the_payments_overview_in_light_and_dark(shop: Shop, browser: Any) -> None:
    for outcome in ("paid", "paid", "paid", "declined"):
        buy(shop, outcome)
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        page = context.new_page()
        sign_in(page, shop)
        # Listed in the admin index, and opened from there.
        page.locator("a", has_text="Payments overview").first.click()
        page.wait_for_url(re.compile(r"/admin/django_multipay/paymentsoverview/"))
        row = page.locator("#mp-by-alias tr[data-alias=dummy]")
        cells = row.locator("td").all_inner_texts()
        # The shop is shared with this module's other tests: at least this test's payments.
        started, paid, failed = (int(cell) for cell in cells[:3])
        assert (started >= 4, paid >= 3, failed >= 1) == (True, True, True), cells
        share = f"{paid / started * 100:.1f}".rstrip("0").rstrip(".")
        assert cells[5] == f"{share}%", cells
        chart = page.locator("svg.mp-chart").first
        assert chart.get_attribute("role") == "img"
        assert "Paid per day" in chart.locator("title").first.text_content()
        # The charts' text follows the theme: light text on the dark one, dark on the light.
        fill = page.evaluate("getComputedStyle(document.querySelector('.mp-axis')).fill")
        channels = [int(c) for c in re.findall(r"\d+", fill)[:3]]
        assert (sum(channels) / 3 > 127) == (scheme == "dark"), (scheme, fill)
        shot(page, f"overview-{scheme}")
        context.close()
