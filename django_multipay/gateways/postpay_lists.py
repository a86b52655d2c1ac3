"""Postpay's list calls: the documented filters, lookups and orderings, and their pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from datetime import timezone as dt_timezone
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from django_multipay import money
from django_multipay.exceptions import InvalidRequest
from django_multipay.gateways.base import BaseGateway

#: "Pagination": at most 50 items per page.
MAX_PAGE_SIZE = 50

#: Documented filters and their lookups, per list endpoint ("Orders", "Refunds",
#: "Settlements", "Webhooks"). Amount filters take Decimals and are sent in minor units.
DATETIME_LOOKUPS = frozenset(
    {"exact", "gt", "lt", "gte", "lte", "date", "year", "month", "week_day", "day", "hour"}
)
NUMBER_LOOKUPS = frozenset({"exact", "gt", "lt", "gte", "lte"})
#: exact, in, and each text match also case-insensitive (contains, icontains, ...).
TEXT_LOOKUPS = frozenset({"exact", "in"}).union(
    f"{case}{lookup}"
    for lookup in ("contains", "startswith", "endswith", "regex")
    for case in ("", "i")
)
FILTERS: dict[str, dict[str, frozenset[str]]] = {
    "orders": {
        "order_id": frozenset({"exact", "in"}),
        "status": frozenset({"exact", "in"}),
        "total_amount": NUMBER_LOOKUPS,
        "currency": frozenset({"exact", "in"}),
        "created": DATETIME_LOOKUPS,
    },
    "refunds": {
        "refund_id": frozenset({"exact", "in"}),
        "description": TEXT_LOOKUPS - {"exact", "in"},
        "amount": NUMBER_LOOKUPS,
        "created": DATETIME_LOOKUPS,
    },
    "transactions": {
        "id": frozenset({"exact", "in"}),
        "type": frozenset({"exact", "in"}),
        "amount": NUMBER_LOOKUPS,
        "currency": frozenset({"exact", "in"}),
        "created": DATETIME_LOOKUPS,
        "paid": DATETIME_LOOKUPS | {"isnull"},
    },
    "hooks": {
        "id": frozenset({"exact", "in"}),
        "events": frozenset({"exact", "contains"}),
        "url": TEXT_LOOKUPS,
        "active": frozenset({"exact"}),
        "last_response_code": NUMBER_LOOKUPS | {"in"},
        "created": DATETIME_LOOKUPS,
    },
}
ORDERING: dict[str, frozenset[str]] = {
    "orders": frozenset({"total_amount", "created"}),
    "refunds": frozenset({"amount", "created"}),
    "transactions": frozenset({"amount", "created", "paid"}),
    "hooks": frozenset({"created"}),
}
AMOUNT_FILTERS = frozenset({"total_amount", "amount"})

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list answer ("Pagination")."""

    count: int
    next: str | None
    previous: str | None
    results: list[T]


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as in Postpay's samples."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt_timezone.utc)
    text = value.astimezone(dt_timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def fetch_page(
    gateway: BaseGateway,
    path: str,
    parse: Callable[[Any], T],
    filters: Mapping[str, Any],
    ordering: str | Iterable[str] | None,
    page: int | None,
    page_size: int | None,
    currency: str | None = None,
) -> Page[T]:
    """One page of ``GET <path>`` (its resource: the last segment), the query checked against
    the documented filters, lookups and orderings (else ``InvalidRequest``), items by ``parse``."""
    resource = path.rpartition("/")[2]
    allowed = FILTERS[resource]
    params: dict[str, str] = {}
    if currency is None and isinstance(filters.get("currency"), str):
        currency = money.normalize_currency(filters["currency"])
    for key, value in filters.items():
        name, *lookups = key.split("__")
        if name not in allowed or any(lookup not in allowed[name] for lookup in lookups):
            raise InvalidRequest(
                # Translators: %(resource)s is a Postpay API list (orders, refunds,
                # transactions, hooks); %(key)s a filter's name.
                gettext("Postpay %(resource)s cannot be filtered by %(key)s.")
                % {"resource": resource, "key": repr(key)},
                gateway=gateway.alias,
            )
        params[key] = filter_value(name, value, currency, gateway.alias)
    if ordering:
        fields = [ordering] if isinstance(ordering, str) else list(ordering)
        for item in fields:
            if item.lstrip("-") not in ORDERING[resource]:
                raise InvalidRequest(
                    # Translators: %(resource)s is a Postpay API list (orders, refunds,
                    # transactions, hooks); %(field)s a field's name.
                    gettext("Postpay %(resource)s cannot be ordered by %(field)s.")
                    % {"resource": resource, "field": repr(item)},
                    gateway=gateway.alias,
                )
        params["ordering"] = ",".join(fields)
    if page is not None:
        if int(page) < 1:
            # Translators: page is the list call's argument; keep it.
            raise InvalidRequest(gettext("page starts at 1."), gateway=gateway.alias)
        params["page"] = str(int(page))
    if page_size is not None:
        if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
            raise InvalidRequest(
                # Translators: page_size is the list call's argument; keep it.
                gettext("page_size is 1 to %(maximum)s (Postpay's limit).")
                % {"maximum": MAX_PAGE_SIZE},
                gateway=gateway.alias,
            )
        params["page_size"] = str(int(page_size))
    data = gateway.call("GET", path, params=params)
    with gateway.reading("list", data):
        return Page(
            count=int(data.get("count") or 0),
            next=data.get("next") or None,
            previous=data.get("previous") or None,
            results=[parse(item) for item in data["results"]],
        )


def filter_value(name: str, value: Any, currency: str | None, alias: str) -> str:
    """One filter's value as sent: amounts in minor units of ``currency``, lists comma-separated."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(filter_value(name, v, currency, alias) for v in value)
    if name in AMOUNT_FILTERS:
        if currency is None:
            raise InvalidRequest(
                # Translators: %(name)s is a filter's name; currency=... is code: keep it.
                gettext("Filtering by %(name)s needs a currency (filter currency=...).")
                % {"name": name},
                gateway=alias,
            )
        try:
            return str(money.to_minor_units(value, currency))
        except ValidationError as exc:
            raise InvalidRequest(
                # Translators: %(name)s is a filter's name.
                gettext("Bad %(name)s filter: %(problems)s")
                % {"name": name, "problems": "; ".join(exc.messages)},
                gateway=alias,
            ) from None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
