"""Demo data for the example shop: a few products and an ``admin`` superuser. Idempotent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from shop.models import Product

PRODUCTS = [
    {
        "slug": "espresso-beans",
        "name": "Espresso beans, 1 kg",
        "description": "Dark roast for espresso and moka pots.",
        "price": Decimal("24.90"),
    },
    {
        "slug": "pour-over-kettle",
        "name": "Pour-over kettle",
        "description": "Gooseneck kettle, 1 litre, stainless steel.",
        "price": Decimal("39.00"),
    },
    {
        "slug": "ceramic-mug",
        "name": "Ceramic mug",
        "description": "Hand-glazed, 300 ml.",
        "price": Decimal("12.50"),
    },
    {
        "slug": "hand-grinder",
        "name": "Hand grinder",
        "description": "Conical steel burrs, 30 grind settings.",
        "price": Decimal("69.00"),
    },
    # Priced for the gateways that take other currencies: PortPos and PortWallet (BDT),
    # Postpay (AED).
    {
        "slug": "darjeeling-tea",
        "name": "Darjeeling tea, 250 g",
        "description": "First flush, loose leaf.",
        "price": Decimal("1450.00"),
        "currency": "BDT",
    },
    {
        "slug": "brass-tea-set",
        "name": "Brass tea set",
        "description": "Teapot and four cups, hand-finished.",
        "price": Decimal("6800.00"),
        "currency": "BDT",
    },
    {
        "slug": "cardamom-coffee",
        "name": "Cardamom coffee, 500 g",
        "description": "Light roast with green cardamom.",
        "price": Decimal("89.00"),
        "currency": "AED",
    },
    {
        "slug": "dallah-pot",
        "name": "Dallah coffee pot",
        "description": "Traditional brass dallah, 1 litre.",
        "price": Decimal("245.00"),
        "currency": "AED",
    },
]

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"  # Demo only: the example shop runs on 127.0.0.1.


class Command(BaseCommand):
    help = "Create the demo products and an admin/admin superuser (only what is missing)."

    def handle(self, *args: Any, **options: Any) -> None:
        created = 0
        for data in PRODUCTS:
            _, new = Product.objects.get_or_create(
                slug=data["slug"], defaults={"currency": "EUR", **data}
            )
            created += new
        self.stdout.write(f"Products: {created} created, {len(PRODUCTS) - created} already there.")

        User = get_user_model()
        if User.objects.filter(username=ADMIN_USERNAME).exists():
            self.stdout.write(f"Superuser {ADMIN_USERNAME!r} already exists (password unchanged).")
        else:
            User.objects.create_superuser(ADMIN_USERNAME, "admin@example.com", ADMIN_PASSWORD)
            self.stdout.write(
                f"Superuser created: username {ADMIN_USERNAME!r}, password {ADMIN_PASSWORD!r}."
            )
        # settings.BASE_URL follows DEMO_ADDR (or is set), like every URL the gateways get.
        base = settings.BASE_URL.rstrip("/")
        self.stdout.write(
            self.style.SUCCESS(
                f"Shop:  {base}/\nAdmin: {base}/admin/ ({ADMIN_USERNAME} / {ADMIN_PASSWORD})"
            )
        )
