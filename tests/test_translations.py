"""The pay page, the admin and the REST API in Bangla, Arabic, Spanish and Portuguese, chosen
by the browser's Accept-Language or by ``translation.override``; amounts as each language
writes money, while the API, the database and the gateways keep the machine's format."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import translation

from django_multipay import payments
from django_multipay.display import format_money
from django_multipay.models import Invoice, Order, Refund
from django_multipay.status import InvoiceStatus, RefundStatus
from django_multipay.testing.factories import InvoiceFactory, OrderFactory, OrderItemFactory
from django_multipay.testing.router import EmulatorRouter

LANGUAGES = ("bn", "ar", "es", "pt")

#: What each language says, as its catalogue has it (django_multipay/locale).
SAYS: dict[str, dict[str, str]] = {
    "bn": {
        "choose": "কীভাবে পেমেন্ট করবেন তা বেছে নিন",
        "summary": "অর্ডারের সারসংক্ষেপ",
        "title": "অর্ডার SO-1-এর পেমেন্ট করুন",
        "invalid": "অবৈধ ইনপুট।",
        "unknown_field": "অজানা ফিল্ড।",
        "refund_action": "সম্পূর্ণ অর্থ ফেরত দিন…",
        "refunded": "{invoice}-এ {amount} ফেরত দেওয়া হয়েছে। ইনভয়েসের অবস্থা এখন: {status}।",
    },
    "ar": {
        "choose": "اختر طريقة الدفع",
        "summary": "ملخص الطلب",
        "title": "ادفع الطلب SO-1",
        "invalid": "مدخلات غير صالحة.",
        "unknown_field": "حقل غير معروف.",
        "refund_action": "استرداد كامل المبلغ…",
        "refunded": "تم رد {amount} على {invoice}. حالة الفاتورة الآن: {status}.",
    },
    "es": {
        "choose": "Elija cómo pagar",
        "summary": "Resumen del pedido",
        "title": "Pagar el pedido SO-1",
        "invalid": "Datos no válidos.",
        "unknown_field": "Campo desconocido.",
        "refund_action": "Reembolsar íntegramente…",
        "refunded": "Se han reembolsado {amount} en {invoice}. Estado de la factura: {status}.",
    },
    "pt": {
        "choose": "Escolha como pagar",
        "summary": "Resumo da encomenda",
        "title": "Pagar a encomenda SO-1",
        "invalid": "Dados inválidos.",
        "unknown_field": "Campo desconhecido.",
        "refund_action": "Reembolsar na totalidade…",
        "refunded": "Foram reembolsados {amount} em {invoice}. Estado da fatura: {status}.",
    },
}

#: 6,800.00 BDT and 1,234.50 EUR as people read them in each language (CLDR, through Babel):
#: the symbol and its place, the separators, and Arabic's right-to-left mark.
AMOUNTS = {
    "en": ("BDT\xa06,800.00", "€1,234.50"),
    "bn": ("6,800.00৳", "1,234.50€"),
    "ar": ("\u200f6,800.00\xa0BDT", "\u200f1,234.50\xa0€"),
    "es": ("6.800,00\xa0BDT", "1.234,50\xa0€"),
    "pt": ("6\xa0800,00\xa0BDT", "1\xa0234,50\xa0€"),  # European Portuguese, not Brazil's
}


def pay_url(order: Order) -> str:
    return reverse("django_multipay:pay", args=[order.public_id])


@pytest.fixture
def order() -> Order:
    order = OrderFactory(reference="SO-1", amount=Decimal("6800.00"), currency="BDT")
    OrderItemFactory(order=order, name="Brass tea set", quantity=1, unit_price=Decimal("6800"))
    return order


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.django_db
def test_the_pay_page_speaks_the_browsers_language(order: Order, language: str) -> None:
    page = Client(headers={"accept-language": language}).get(pay_url(order))

    html = page.content.decode()
    assert page.status_code == 200
    assert f'lang="{language}"' in html
    assert f'dir="{"rtl" if language == "ar" else "ltr"}"' in html
    for key in ("choose", "summary", "title"):
        assert SAYS[language][key] in html
    assert "Choose how to pay" not in html
    assert AMOUNTS[language][0] in html  # the total, as the language writes it


@pytest.mark.django_db
def test_english_stays_the_default(order: Order) -> None:
    html = Client().get(pay_url(order)).content.decode()

    assert 'lang="en" dir="ltr"' in html
    assert "Choose how to pay" in html
    assert AMOUNTS["en"][0] in html


@pytest.mark.parametrize("language", ["en", *LANGUAGES])
def test_amounts_are_written_as_the_language_writes_money(language: str) -> None:
    with translation.override(language):
        shown = (
            format_money(Decimal("6800"), "BDT"),
            format_money(Decimal("1234.5"), "EUR"),
        )
    assert shown == AMOUNTS[language]


def test_an_amount_keeps_its_currencys_iso_decimals_in_every_language() -> None:
    with translation.override("ar"):
        assert format_money(Decimal("1.25"), "KWD") == "\u200f1.250\xa0د.ك.\u200f"
    with translation.override("es"):
        assert format_money(Decimal("500"), "JPY") == "500\xa0JPY"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.django_db
def test_api_errors_keep_their_code_and_translate_their_message(
    language: str, settings: Any, django_user_model: Any
) -> None:
    from rest_framework.test import APIClient

    settings.ROOT_URLCONF = "tests.api.urls"
    client = APIClient(headers={"accept-language": language})
    client.force_authenticate(django_user_model.objects.create_user("shopper"))

    answer = client.post(
        "/api/orders/",
        {"reference": "SO-9", "amount": "10.00", "currency": "EUR", "colour": "red"},
        format="json",
    )

    body = answer.json()
    assert answer.status_code == 400
    assert body["code"] == "invalid"
    assert body["fields"]["colour"] == [
        {"code": "unknown_field", "message": SAYS[language]["unknown_field"]}
    ]
    assert body["message"].startswith(SAYS[language]["invalid"])
    assert not Order.objects.filter(reference="SO-9").exists()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.django_db
def test_the_api_and_the_database_keep_machine_amounts(
    language: str, settings: Any, django_user_model: Any
) -> None:
    from rest_framework.test import APIClient

    settings.ROOT_URLCONF = "tests.api.urls"
    owner = django_user_model.objects.create_user("shopper")
    order = OrderFactory(user=owner, amount=Decimal("6800.00"), currency="BDT")
    InvoiceFactory(order=order, status=InvoiceStatus.PENDING)
    client = APIClient(headers={"accept-language": language})
    client.force_authenticate(owner)

    body = client.get(f"/api/orders/{order.public_id}/").json()

    assert body["amount"] == "6800.00"
    assert Invoice.objects.get(order=order).amount == Decimal("6800.00")


def paid_invoice(router: EmulatorRouter) -> Invoice:
    """A 100.00 EUR invoice paid on the dummy emulator's hosted page."""
    payments.start_payment(OrderFactory(amount=Decimal("100.00"), currency="EUR"), "dummy")
    invoice = Invoice.objects.latest("created_at")
    paid = router.client.post(f"/sandbox/dummy/pay/{invoice.gateway_id}", {"outcome": "paid"})
    assert paid.status_code == 302
    invoice.refresh_from_db()
    return invoice


#: The invoice's new status as each language's catalogue names it, and 30.00 EUR as each
#: language writes it.
PARTIALLY_REFUNDED = {
    "bn": "আংশিক ফেরত",
    "ar": "مسترد جزئيًا",
    "es": "reembolsado parcialmente",
    "pt": "reembolsado parcialmente",
}
THIRTY_EUROS = {"bn": "30.00€", "ar": "\u200f30.00\xa0€", "es": "30,00\xa0€", "pt": "30,00\xa0€"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.django_db
def test_the_admin_speaks_the_operators_language(
    language: str, router: EmulatorRouter, admin_client: Client
) -> None:
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    invoice = paid_invoice(router)

    listing = admin_client.get(reverse("admin:django_multipay_invoice_changelist"))
    assert SAYS[language]["refund_action"] in listing.content.decode()
    assert "Refund in full" not in listing.content.decode()

    page = admin_client.get(reverse("admin:django_multipay_invoice_refund", args=[invoice.pk]))
    key = page.context["form"].initial["idempotency_key"]
    done = admin_client.post(
        reverse("admin:django_multipay_invoice_refund", args=[invoice.pk]),
        {"amount": "30.00", "reason": "one cup broken", "idempotency_key": key},
        follow=True,
    )

    shown = [str(message) for message in done.context["messages"]]
    label = f"{invoice.order.reference} (dummy {invoice.gateway_id})"
    assert shown == [
        SAYS[language]["refunded"].format(
            amount=THIRTY_EUROS[language], invoice=label, status=PARTIALLY_REFUNDED[language]
        )
    ]
    refund = Refund.objects.get(invoice=invoice)
    assert (refund.amount, refund.status) == (Decimal("30.00"), RefundStatus.SUCCEEDED)
    [sent] = router.requests_to(r"/refunds$", "POST")
    assert json.loads(sent.body or b"{}")["amount"] == "30.00"  # the machine's amount
    # The admin's history is a record, not a page: English, with the machine's amount.
    history = LogEntry.objects.filter(object_id=str(invoice.pk)).order_by("pk")
    assert [entry.get_change_message() for entry in history] == [
        f"Refund {refund.pk} of 30.00 EUR: succeeded"
    ]


#: A gateway's refusal of one option, after the field's name (``options.num_instalments: …``).
NOT_A_WHOLE_NUMBER = {
    "bn": "পূর্ণসংখ্যা হতে হবে",
    "ar": "يجب أن يكون عددًا صحيحًا",
    "es": "debe ser un número entero",
    "pt": "tem de ser um número inteiro",
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.django_db
def test_a_refused_gateway_option_is_named_the_machines_way_and_explained_in_the_clients(
    language: str, settings: Any, django_user_model: Any, router: EmulatorRouter
) -> None:
    from rest_framework.test import APIClient

    settings.ROOT_URLCONF = "tests.api.urls"
    client = APIClient(headers={"accept-language": language})
    client.force_authenticate(django_user_model.objects.create_user("staff", is_staff=True))
    order = OrderFactory(currency="AED", amount=Decimal("100.00"))  # type: ignore[no-untyped-call]

    answer = client.post(
        f"/api/orders/{order.public_id}/pay/",
        {"gateway": "postpay", "options": {"num_instalments": "abc"}},
        format="json",
    )

    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid"
    assert body["fields"] == {
        "options.num_instalments": [
            {"code": "invalid", "message": NOT_A_WHOLE_NUMBER[language]},
        ]
    }
    assert not Invoice.objects.exists()
    assert router.calls == []


#: multipay.E004 for an alias without its credential, as ``manage.py check`` prints it.
MISSING_CREDENTIAL = {
    "bn": "গেটওয়ে 'live'-এ app_key, secret_key নেই।",
    "ar": "تفتقر بوابة الدفع 'live' إلى app_key, secret_key.",
    "es": "Faltan opciones en la pasarela de pago 'live': app_key, secret_key.",
    "pt": "Faltam app_key, secret_key ao gateway de pagamento 'live'.",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_system_checks_speak_the_shops_language_code(language: str, settings: Any) -> None:
    from django_multipay.checks import check_settings

    settings.DEBUG = True
    settings.LANGUAGE_CODE = language
    settings.MULTIPAY = {
        "GATEWAYS": {
            "live": {"BACKEND": "django_multipay.gateways.portpos.PortPosGateway", "OPTIONS": {}}
        }
    }
    translation.deactivate()  # as under manage.py: no request, so LANGUAGE_CODE speaks
    [message] = check_settings()
    assert message.id == "multipay.E004"
    assert message.msg == MISSING_CREDENTIAL[language]
    with translation.override("en"):
        [english] = check_settings()
    assert english.msg.startswith("Gateway 'live' is missing ")
