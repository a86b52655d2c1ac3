"""URLs of the benchmark project: the app, its API and admin, the emulators and the floor."""

from django.contrib import admin
from django.urls import include, path

from bench import floor

urlpatterns = [
    path("admin/", admin.site.urls),
    path("payments/", include("django_multipay.urls")),
    path("api/", include("django_multipay.api.urls")),
    path("sandbox/", include("django_multipay.sandbox.urls")),
    path("floor/notify/", floor.notify, name="floor-notify"),
]
