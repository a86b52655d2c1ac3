"""URLs a shop includes under a prefix of its choice: ``path("payments/", include(...))``."""

from __future__ import annotations

from django.urls import path

from django_multipay import views

app_name = "django_multipay"

urlpatterns = [
    path("pay/<uuid:order_id>/", views.pay, name="pay"),
    path("pay/<uuid:order_id>/<slug:alias>/", views.pay, name="pay-with"),
    path("return/<uuid:invoice_id>/", views.return_view, name="return"),
    path("notify/<slug:alias>/", views.notify, name="notify"),
]
