"""URLs of the example shop."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("payments/", include("django_multipay.urls")),
    path("", include("shop.urls")),
]

if getattr(settings, "API_ENABLED", False):
    from drf_spectacular.views import (
        SpectacularAPIView,
        SpectacularRedocView,
        SpectacularSwaggerView,
    )

    # The shop's API: the schema and its pages first, then django-multipay's endpoints.
    urlpatterns[:0] = [
        path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
        path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
        path("api/", include("django_multipay.api.urls")),
    ]

if settings.DEBUG:
    # The gateway emulators are for development only (the dummy gateway is refused without
    # DEBUG by the multipay.E005 system check).
    urlpatterns.insert(0, path("sandbox/", include("django_multipay.sandbox.urls")))
