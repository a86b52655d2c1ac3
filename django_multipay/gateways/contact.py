"""Customer contact data in the forms gateways ask for: ISO 3166 alpha-3 countries, phones."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
import pycountry
from django.utils.translation import gettext as _

# ISO 3166-1 from pycountry (Debian's iso-codes data, which follows the ISO 3166 Maintenance
# Agency's newsletters): every officially assigned code, and nothing user-assigned.
_ALPHA3_BY_ALPHA2: dict[str, str] = {c.alpha_2: c.alpha_3 for c in pycountry.countries}
_ALPHA2_BY_ALPHA3: dict[str, str] = {a3: a2 for a2, a3 in _ALPHA3_BY_ALPHA2.items()}


def country_alpha3(code: str | None) -> str | None:
    """The ISO 3166-1 alpha-3 code for an alpha-2 or alpha-3 code (``"SS"`` → ``"SSD"``),
    any case; ``None`` when it is neither."""
    text = str(code or "").strip().upper()
    return text if text in _ALPHA2_BY_ALPHA3 else _ALPHA3_BY_ALPHA2.get(text)


def country_alpha2(code: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code for an alpha-2 or alpha-3 code; ``None`` when neither."""
    text = str(code or "").strip().upper()
    return text if text in _ALPHA3_BY_ALPHA2 else _ALPHA2_BY_ALPHA3.get(text)


class InvalidPhone(ValueError):
    """A phone number that cannot be read as a number of some country. The message says why,
    written to follow the field's name (``phone: is not a phone number``), and never repeats
    the number: error texts reach logs and failure reasons."""


@dataclass(frozen=True)
class Phone:
    """A phone number split the way gateways ask for it."""

    #: The international calling code, without ``+`` or ``00``: ``"880"``, ``"351"``.
    country_code: str
    #: The national significant number, digits only, without the trunk ``0``: ``"1712345678"``.
    number: str

    @property
    def e164(self) -> str:
        """``+`` country code and number, no separators: ``"+8801712345678"``."""
        return f"+{self.country_code}{self.number}"


def region_for_calling_code(calling_code: str | int) -> str | None:
    """The main region (alpha-2) of an international calling code (``"351"`` → ``"PT"``)."""
    try:
        region = phonenumbers.region_code_for_country_code(int(str(calling_code).strip("+ ")))
    except ValueError:
        return None
    return None if region == phonenumbers.UNKNOWN_REGION else region


def parse_phone(text: str, region: str | None = None) -> Phone:
    """Read a phone number as people type it: with ``+`` or ``00`` and the country code, with
    spaces, dashes, dots or brackets, or in national form (``"01712345678"``) when ``region``
    (an ISO 3166 alpha-2 or alpha-3 code) says whose. Raises :class:`InvalidPhone`.

    The check is ``is_possible_number`` (a length the country's numbering plan allows), not
    ``is_valid_number``: a number range opened after the installed metadata was published is
    not refused, and neither are the vendors' own sample numbers."""
    raw = str(text or "").strip()
    if not raw:
        # Translators: said of a phone number field, after its name ("phone: ...").
        raise InvalidPhone(_("no phone number given"))
    if raw.startswith("00"):
        # The international prefix most of the world dials; the same as "+".
        raw = "+" + raw[2:]
    home = country_alpha2(region) if region else None
    try:
        parsed = phonenumbers.parse(raw, home)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidPhone(
                # Translators: said of a phone number, after its field's name ("phone: ...").
                _("has no country code: write it with + and the country code")
            ) from None
        # Translators: said of a phone number, after its field's name ("phone: ...").
        raise InvalidPhone(_("is not a phone number")) from None
    if not phonenumbers.is_possible_number(parsed):
        # Translators: said of a phone number, after its field's name ("phone: ...").
        raise InvalidPhone(_("is too short or too long for a phone number of its country"))
    return Phone(
        country_code=str(parsed.country_code),
        number=phonenumbers.national_significant_number(parsed),
    )
