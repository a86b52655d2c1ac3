"""Catalogue, cart, checkout and order pages."""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from django_multipay import payments
from django_multipay.exceptions import InvalidRequest
from django_multipay.status import OrderStatus
from shop.cart import Cart
from shop.forms import CheckoutForm
from shop.models import Product, ShopOrder

logger = logging.getLogger("shop.views")

#: Session key listing the references of the orders placed in this browser.
ORDERS_KEY = "orders"
#: Library order statuses in which the customer may (still) pay.
PAYABLE = {OrderStatus.NEW, OrderStatus.PENDING, OrderStatus.FAILED, OrderStatus.CANCELLED}


def product_list(request: HttpRequest) -> HttpResponse:
    products = Product.objects.filter(active=True)
    return render(request, "shop/product_list.html", {"products": products})


def product_detail(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug, active=True)
    return render(request, "shop/product_detail.html", {"product": product})


@require_POST
def cart_add(request: HttpRequest, slug: str) -> HttpResponse:
    product = get_object_or_404(Product, slug=slug, active=True)
    try:
        quantity = max(1, int(request.POST.get("quantity", 1)))
    except ValueError:
        quantity = 1
    Cart(request).add(product, quantity)
    messages.success(request, f"Added {product.name} to your cart.")
    return redirect("shop:cart")


@require_http_methods(["GET", "POST"])
def cart_detail(request: HttpRequest) -> HttpResponse:
    cart = Cart(request)
    if request.method == "POST":
        for line in cart.lines():
            try:
                cart.set(line.product.pk, int(request.POST.get(f"qty-{line.product.pk}", "")))
            except ValueError:
                continue
        return redirect("shop:cart")
    return render(request, "shop/cart.html", {"cart": cart, "lines": cart.lines()})


def new_reference() -> str:
    """A short order number that is hard to guess: ``SO-20250101-3F9A1C``."""
    return f"SO-{timezone.now():%Y%m%d}-{secrets.token_hex(3).upper()}"


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    cart = Cart(request)
    lines = cart.lines()
    if not lines:
        messages.info(request, "Your cart is empty.")
        return redirect("shop:products")
    currencies = cart.currencies()
    form = CheckoutForm(request.POST or None)
    if request.method == "POST" and len(currencies) > 1:
        form.add_error(None, "Please order products priced in one currency at a time.")
    elif request.method == "POST" and form.is_valid():
        reference = new_reference()
        order_url = reverse("shop:order", args=[reference])
        data = form.cleaned_data
        try:
            with transaction.atomic():
                order = payments.create_order(
                    reference=reference,
                    currency=currencies.pop(),
                    items=[
                        {
                            "reference": line.product.slug,
                            "name": line.product.name,
                            "quantity": line.quantity,
                            "unit_price": line.product.price,
                            "url": settings.BASE_URL.rstrip("/") + line.product.get_absolute_url(),
                        }
                        for line in lines
                    ],
                    description=f"Example shop order {reference}",
                    customer_name=data["name"],
                    customer_email=data["email"],
                    customer_phone=data.get("phone", ""),
                    billing_address=form.billing_address(),
                    shipping_address=form.shipping_address(),
                    user=request.user if request.user.is_authenticated else None,
                    success_url=order_url,
                    failure_url=order_url,
                )
                ShopOrder.objects.create(order=order)
        except InvalidRequest as exc:
            logger.warning("Checkout refused: %s", exc)
            form.add_error(None, exc.message)
        else:
            cart.clear()
            request.session[ORDERS_KEY] = [*request.session.get(ORDERS_KEY, []), reference]
            return redirect("django_multipay:pay", order.public_id)
    return render(
        request, "shop/checkout.html", {"form": form, "lines": lines, "total": cart.total()}
    )


def order_detail(request: HttpRequest, reference: str) -> HttpResponse:
    """The order page: only for the browser that placed the order, or staff."""
    if reference not in request.session.get(ORDERS_KEY, []) and not request.user.is_staff:
        raise Http404("No such order.")
    shop_order = get_object_or_404(
        ShopOrder.objects.select_related("order"), order__reference=reference
    )
    order = shop_order.order
    return render(
        request,
        "shop/order_detail.html",
        {
            "shop_order": shop_order,
            "order": order,
            "items": order.items.all(),
            "invoices": order.invoices.order_by("created_at"),
            "can_pay": order.status in PAYABLE,
        },
    )
