"""URLs of the example shop."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("payments/", include("django_multipay.urls")),
    path("", include("shop.urls")),
]

if settings.DEBUG:
    # The gateway emulators are for development only (the dummy gateway is refused without
    # DEBUG by the multipay.E005 system check).
    urlpatterns.insert(0, path("sandbox/", include("django_multipay.sandbox.urls")))
