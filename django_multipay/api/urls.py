"""API URLs a shop includes under a prefix of its choice: ``path("api/", include(...))``."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from django_multipay.api import views

app_name = "multipay_api"

router = SimpleRouter()
router.register("gateways", views.GatewayViewSet, basename="gateway")
router.register("orders", views.OrderViewSet, basename="order")
router.register("invoices", views.InvoiceViewSet, basename="invoice")
router.register("refunds", views.RefundViewSet, basename="refund")
router.register("notifications", views.NotificationViewSet, basename="notification")

urlpatterns = router.urls
