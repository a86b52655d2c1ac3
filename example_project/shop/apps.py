"""The example shop's catalogue, cart, checkout and order pages."""

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_multipay import signals
        from shop import hooks, receivers

        signals.order_paid.connect(receivers.mark_paid, dispatch_uid="shop.mark_paid")
        signals.order_status_changed.connect(
            receivers.follow_order_status, dispatch_uid="shop.follow_order_status"
        )
        for signal, name in receivers.SIGNAL_NAMES.items():
            signal.connect(receivers.record_event, dispatch_uid=f"shop.record_event.{name}")
        hooks.connect()
