from django.contrib import admin

from shop.models import Product, ShopOrder


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "price", "currency", "active")
    list_filter = ("active", "currency")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name", "slug")


@admin.register(ShopOrder)
class ShopOrderAdmin(admin.ModelAdmin):
    list_display = ("reference", "fulfilment_status", "payment_status", "paid_at", "created_at")
    list_filter = ("fulfilment_status",)
    search_fields = ("order__reference", "order__customer_email")
    raw_id_fields = ("order",)
    readonly_fields = ("paid_at", "created_at")
    list_select_related = ("order",)

    @admin.display(description="payment", ordering="order__status")
    def payment_status(self, obj: ShopOrder) -> str:
        return obj.order.get_status_display()
