"""What an invoice allows an operator to do, and the admin's refund form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from babel import Locale
from babel.numbers import (
    NumberFormatError,
    format_decimal,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from django_multipay import money
from django_multipay.display import active_locale
from django_multipay.exceptions import GatewayConfigurationError, MultipayError
from django_multipay.gateways.base import BaseGateway
from django_multipay.models import Invoice
from django_multipay.processing import RESERVING_REFUND_STATUSES
from django_multipay.registry import get_gateway, has_gateway
from django_multipay.status import OPEN, InvoiceStatus
from django_multipay.templatetags.multipay import money as money_text

REFUNDABLE_STATUSES = (InvoiceStatus.PAID, InvoiceStatus.PARTIALLY_REFUNDED)


def new_admin_key() -> str:
    """An idempotency key made when a refund page is shown, sent back by the form."""
    return f"admin-{uuid.uuid4().hex}"


def gateway_for(alias: str) -> BaseGateway | None:
    """The backend of ``alias``, or ``None`` if the alias is no longer configured."""
    if not has_gateway(alias):
        return None
    try:
        return get_gateway(alias)
    except GatewayConfigurationError:
        return None


def gateway_name(alias: str) -> str:
    gateway = gateway_for(alias)
    return gateway.display_name if gateway is not None else alias


@dataclass(frozen=True)
class RefundState:
    """How much of an invoice can still be refunded, and why not if nothing can."""

    invoice: Invoice
    #: Captured minus every refund requested, pending or succeeded (what the core allows).
    remaining: Decimal
    #: Refunds requested or pending at the gateway (their outcome is not known yet).
    in_flight: Decimal
    #: Of those, refunds whose call never had a readable answer: the gateway may or may not
    #: have made them. Refunding "again" could pay the customer twice.
    unknown: Decimal
    #: Refunds that count against the gateway's limit on the number of refunds.
    count: int
    max_refunds: int | None
    partial_allowed: bool
    #: Why no refund can be made now; empty if one can.
    refusal: str

    @property
    def can_refund(self) -> bool:
        return not self.refusal

    @property
    def full_only(self) -> bool:
        """The gateway refunds only the whole captured amount."""
        return not self.partial_allowed


def refund_state(invoice: Invoice) -> RefundState:
    """Read the invoice's refunds and its gateway's limits (a display; the core re-checks)."""
    active = invoice.refunds.filter(status__in=RESERVING_REFUND_STATUSES)
    totals = active.aggregate(total=Sum("amount"), count=Count("pk"))
    reserved = totals["total"] or Decimal(0)
    in_flight = active.exclude(status="succeeded").aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal(0)
    unknown = active.filter(status="requested").aggregate(total=Sum("amount"))["total"] or Decimal(
        0
    )
    remaining = max(Decimal(invoice.captured_amount) - reserved, Decimal(0))
    gateway = gateway_for(invoice.gateway)
    caps = gateway.capabilities if gateway is not None else None
    # Shown to staff (the invoice page, the refund pages, messages): in their language.
    refusal = ""
    if gateway is None:
        refusal = gettext("the gateway alias %(alias)s is not configured") % {
            "alias": repr(invoice.gateway)
        }
    elif not gateway.supports("refund"):
        refusal = gettext("%(gateway)s does not support refunds") % {
            "gateway": gateway.display_name
        }
    elif invoice.status == InvoiceStatus.REFUNDED:
        refusal = gettext("already refunded")
    elif invoice.status == InvoiceStatus.CHARGED_BACK:
        refusal = gettext("charged back: the money already went back to the customer")
    elif invoice.status not in REFUNDABLE_STATUSES:
        refusal = gettext("not paid (the invoice is %(status)s)") % {
            "status": invoice.get_status_display().lower()
        }
    elif remaining <= 0:
        refusal = (
            gettext(
                "nothing left to refund: earlier refunds cover the captured amount "
                "(some are still in progress at the gateway)"
            )
            if in_flight
            else gettext("nothing left to refund: earlier refunds cover the captured amount")
        )
    elif caps is not None and caps.max_refunds is not None and totals["count"] >= caps.max_refunds:
        refusal = ngettext(
            "%(gateway)s allows at most %(count)d refunds per payment",
            "%(gateway)s allows at most %(count)d refunds per payment",
            caps.max_refunds,
        ) % {"gateway": gateway.display_name, "count": caps.max_refunds}
    elif caps is not None and not caps.partial_refund and reserved > 0:
        refusal = gettext("%(gateway)s refunds only the whole amount, and part was refunded") % {
            "gateway": gateway.display_name
        }
    return RefundState(
        invoice=invoice,
        remaining=remaining,
        in_flight=in_flight,
        unknown=unknown,
        count=int(totals["count"] or 0),
        max_refunds=caps.max_refunds if caps is not None else None,
        partial_allowed=bool(caps.partial_refund) if caps is not None else False,
        refusal=refusal,
    )


def operation_refusal(invoice: Invoice, operation: str) -> str:
    """Why ``capture``, ``cancel`` or ``fetch_status`` cannot be done on the invoice now."""
    gateway = gateway_for(invoice.gateway)
    if gateway is None:
        return gettext("the gateway alias %(alias)s is not configured") % {
            "alias": repr(invoice.gateway)
        }
    if not gateway.supports(operation):
        unsupported = {
            "capture": gettext("%(gateway)s does not support capture"),
            "cancel": gettext("%(gateway)s does not support cancel"),
            "fetch_status": gettext("%(gateway)s does not support status reads"),
        }
        return unsupported[operation] % {"gateway": gateway.display_name}
    if not invoice.gateway_id and operation != "cancel":
        return gettext("the gateway never gave this attempt an id")
    status = {"status": invoice.get_status_display().lower()}
    if operation == "capture" and invoice.status != InvoiceStatus.AUTHORIZED:
        return gettext("only authorized invoices can be captured; this one is %(status)s") % status
    if operation == "cancel" and invoice.status not in OPEN:
        return gettext("only unpaid invoices can be cancelled; this one is %(status)s") % status
    return ""


#: An amount as the machine writes it, accepted in every language: digits, "." and decimals.
PLAIN_AMOUNT = re.compile(r"[0-9]+(\.[0-9]+)?")
#: Spaces people type between thousands where the language groups with a (narrow) no-break
#: space (French, Swedish…).
SPACES = ("\u00a0", "\u202f", " ")


def localized_amount(amount: Decimal, currency: str, locale: Locale | None = None) -> str:
    """The amount as the active language writes it, with the currency's decimals and
    thousands grouped: ``2,000.00`` (en), ``2.000,00`` (de), ``2 000,00`` (fr)."""
    exponent = money.currency_exponent(currency)
    pattern = "#,##0" + ("." + "0" * exponent if exponent else "")
    exact = money.quantize(amount, currency)
    return str(format_decimal(exact, pattern, locale=locale or active_locale()))


def accepted_formats(currency: str, locale: Locale | None = None) -> str:
    """The ways an amount may be typed, said with an example: ``1,234.56 or 1234.56``."""
    locale = locale or active_locale()
    exponent = money.currency_exponent(currency)
    example = Decimal("1234.5678").quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_DOWN)
    grouped = localized_amount(example, currency, locale)
    plain = money.format_decimal(example, currency)
    group, decimal = get_group_symbol(locale), get_decimal_symbol(locale)
    ways = [grouped, plain] if grouped != plain else [grouped]
    ungrouped = grouped.replace(group, "")
    if ungrouped not in ways:
        ways.insert(1, ungrouped)
    listed = ways[0]
    for way in ways[1:]:
        # Translators: two ways of typing an amount ("1,234.56 or 1234.56"); applied again
        # for a third.
        listed = gettext("%(first)s or %(second)s") % {"first": listed, "second": way}
    names = {
        "ways": listed,
        "language": locale.get_display_name("en"),
        "group": group,
        "decimal": decimal,
        "count": exponent,
    }
    # Whole sentences for translators: grouped by a space or by a sign, with or without
    # decimals.
    if group in SPACES:
        text = (
            ngettext(
                "%(ways)s (%(language)s numbers: a space between thousands if you like, "
                "“%(decimal)s” before the %(count)d decimal place)",
                "%(ways)s (%(language)s numbers: a space between thousands if you like, "
                "“%(decimal)s” before the %(count)d decimal places)",
                exponent,
            )
            if exponent
            else gettext(
                "%(ways)s (%(language)s numbers: a space between thousands if you like, "
                "no decimals)"
            )
        )
    else:
        text = (
            ngettext(
                "%(ways)s (%(language)s numbers: “%(group)s” between thousands if you like, "
                "“%(decimal)s” before the %(count)d decimal place)",
                "%(ways)s (%(language)s numbers: “%(group)s” between thousands if you like, "
                "“%(decimal)s” before the %(count)d decimal places)",
                exponent,
            )
            if exponent
            else gettext(
                "%(ways)s (%(language)s numbers: “%(group)s” between thousands if you like, "
                "no decimals)"
            )
        )
    if "%(language)s numbers" not in text:
        # The sentence is translated: the language is named in the sentence's language
        # ("números de español"), not in English ("German numbers" in an English sentence).
        names["language"] = locale.get_display_name(active_locale())
    return text % names


def parse_amount(text: str, currency: str, locale: Locale | None = None) -> Decimal:
    """An amount typed in the active language's format (thousands grouped or not), or as the
    machine writes it (``1234.56``). Anything that could be read two ways is refused with
    the formats accepted, never guessed: ``1,5`` is 15 in English and 1.5 in German."""
    locale = locale or active_locale()
    raw = str(text).strip()
    group = get_group_symbol(locale)
    if group in SPACES:
        for space in SPACES:
            raw = raw.replace(space, group)
    if raw:
        plain = Decimal(raw) if PLAIN_AMOUNT.fullmatch(raw) else None
        try:
            # strict: the grouping must be where the language puts it ("2,0000.00" is refused).
            local = Decimal(parse_decimal(raw, locale=locale, strict=True))
        except NumberFormatError:
            local = None
        if local is not None and plain is not None and local != plain:
            # "1.500" in German: 1500 as the language groups it, 1.5 as the machine writes it.
            raise ValidationError(
                _(
                    "“%(value)s” could be read as %(one)s or as %(other)s (with a decimal "
                    "point). Type it as %(formats)s."
                ),
                code="amount_ambiguous",
                params={
                    "value": text,
                    "one": f"{local:f}",
                    "other": f"{plain.normalize():f}",
                    "formats": accepted_formats(currency, locale),
                },
            )
        if local is not None or plain is not None:
            return local if local is not None else plain  # type: ignore[return-value]
    raise ValidationError(
        _("“%(value)s” is not an amount this form can read. Type it as %(formats)s."),
        code="amount_format",
        params={"value": text, "formats": accepted_formats(currency, locale)},
    )


class RefundForm(forms.Form):
    """Refund part (or all) of one invoice: amount checked against what is left to refund."""

    amount = forms.CharField(
        label=_("Amount"),
        max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=255,
        help_text=_("Recorded on the refund and sent to the gateway where it takes one."),
        widget=forms.TextInput(attrs={"size": 60, "autocomplete": "off"}),
    )
    #: Made when the page is shown: a second submission of the same page is the same refund.
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: Any, state: RefundState, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = state
        currency = state.invoice.currency
        self.fields["amount"].label = gettext("Amount (%(currency)s)") % {"currency": currency}
        exponent = money.currency_exponent(currency)
        self.fields["amount"].help_text = ngettext(
            "At most %(amount)s %(currency)s; %(count)d decimal place. Type it as %(formats)s.",
            "At most %(amount)s %(currency)s; %(count)d decimal places. Type it as %(formats)s.",
            exponent,
        ) % {
            "amount": localized_amount(state.remaining, currency),
            "currency": currency,
            "count": exponent,
            "formats": accepted_formats(currency),
        }
        if state.full_only:
            self.fields["amount"].widget.attrs["readonly"] = True
            self.fields["amount"].help_text = gettext("This gateway refunds only the whole amount.")

    def clean_amount(self) -> Decimal:
        state = self.state
        currency = state.invoice.currency
        try:
            typed = parse_amount(self.cleaned_data["amount"], currency)
            value = money.validate_amount(typed, currency)
        except ValidationError as exc:
            raise ValidationError(exc.messages, code="amount") from None
        if state.refusal:
            raise ValidationError(
                _("This invoice cannot be refunded: %(reason)s."),
                params={"reason": state.refusal},
            )
        if value > state.remaining:
            # The amount as the staff's language writes money, its currency included.
            raise ValidationError(
                _("At most %(amount)s can be refunded."),
                code="too_much",
                params={"amount": money_text(state.remaining, currency)},
            )
        if state.full_only and value != state.remaining:
            raise ValidationError(
                _("This gateway refunds only the whole amount: %(amount)s."),
                code="full_only",
                params={"amount": money_text(state.remaining, currency)},
            )
        return value

    def clean_idempotency_key(self) -> str:
        key = str(self.cleaned_data["idempotency_key"])
        if not key.startswith("admin-"):
            raise ValidationError(_("This page has expired; open it again."), code="key")
        return key


class RefundResolutionForm(forms.Form):
    """Staff's decision on a refund of unknown outcome, with the reason it rests on."""

    decision = forms.ChoiceField(
        choices=(
            ("not_refunded", _("The gateway did not refund this")),
            ("refunded", _("The gateway did refund this")),
        ),
        widget=forms.RadioSelect,
        label=_("Decision"),
    )
    reason = forms.CharField(
        max_length=400,
        widget=forms.Textarea(attrs={"rows": 3}),
        label=_("Reason"),
        help_text=_("What you saw at the gateway (dashboard, support ticket). Kept on the refund."),
    )


@dataclass(frozen=True)
class GatewayReport:
    """What the gateway says of an invoice's refunds right now, for a person to read."""

    state: str = ""
    refunded_total: Decimal | None = None
    lines: tuple[Any, ...] = ()
    error: str = ""


def gateway_report(invoice: Invoice) -> GatewayReport:
    """Ask the gateway for the invoice's refunds now; an error is shown, never raised."""
    gateway = gateway_for(invoice.gateway)
    if gateway is None or not gateway.supports("list_refunds"):
        return GatewayReport(error=gettext("this gateway cannot be asked about refunds"))
    try:
        report = gateway.refund_report(invoice)
    except GatewayConfigurationError:
        raise  # the operator's mistake, never shown as the gateway's answer
    except MultipayError as exc:
        return GatewayReport(error=str(exc))  # the gateway's own words, as they came
    labels = {
        "none": gettext("nothing refunded"),
        "in_progress": gettext("a refund is under way"),
        "partial": gettext("refunded in part"),
        "full": gettext("refunded in full"),
    }
    fallback = (
        gettext("not said; its refund list is complete") if report.complete else gettext("not said")
    )
    return GatewayReport(
        state=labels.get(report.state, fallback),
        refunded_total=report.refunded_total,
        lines=report.lines,
    )
