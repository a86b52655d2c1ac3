"""URLs of the example shop."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # The language switch posts here (django.views.i18n.set_language).
    path("i18n/", include("django.conf.urls.i18n")),
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
    # The gateway emulators are for development only: without DEBUG they answer 404 and the
    # dummy gateway starts no payment (MULTIPAY["ALLOW_TEST_GATEWAYS"]; check multipay.E005).
    urlpatterns.insert(0, path("sandbox/", include("django_multipay.sandbox.urls")))
