from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("payments/", include("django_multipay.urls")),
    path("sandbox/", include("django_multipay.sandbox.urls")),
]
