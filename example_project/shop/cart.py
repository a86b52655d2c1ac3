"""A cart kept in the session: product id -> quantity."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.http import HttpRequest

from shop.models import Product

SESSION_KEY = "cart"
MAX_QUANTITY = 20


@dataclass(frozen=True)
class Line:
    product: Product
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.product.price * self.quantity


class Cart:
    def __init__(self, request: HttpRequest) -> None:
        self.session = request.session
        raw = self.session.get(SESSION_KEY, {})
        self.quantities: dict[str, int] = raw if isinstance(raw, dict) else {}

    def _save(self) -> None:
        self.session[SESSION_KEY] = self.quantities
        self.session.modified = True

    def add(self, product: Product, quantity: int = 1) -> None:
        key = str(product.pk)
        self.quantities[key] = min(self.quantities.get(key, 0) + quantity, MAX_QUANTITY)
        self._save()

    def set(self, product_id: int, quantity: int) -> None:
        key = str(product_id)
        if quantity <= 0:
            self.quantities.pop(key, None)
        else:
            self.quantities[key] = min(quantity, MAX_QUANTITY)
        self._save()

    def clear(self) -> None:
        self.quantities = {}
        self._save()

    def lines(self) -> list[Line]:
        products = Product.objects.filter(pk__in=self.quantities.keys(), active=True)
        return [Line(p, self.quantities[str(p.pk)]) for p in products]

    def __iter__(self) -> Iterator[Line]:
        return iter(self.lines())

    def __len__(self) -> int:
        return sum(self.quantities.values())

    def currencies(self) -> set[str]:
        return {line.product.currency for line in self.lines()}

    def total(self) -> Decimal:
        return sum((line.total for line in self.lines()), Decimal(0))
