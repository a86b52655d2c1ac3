"""Template context for every page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from shop.cart import Cart


def cart(request: HttpRequest) -> dict[str, Any]:
    if not hasattr(request, "session"):
        return {}
    return {"cart_count": len(Cart(request))}
