from django.contrib import admin
from django.urls import include, path
from health_check.views import HealthCheckView

from django_multipay import metrics
from django_multipay.health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("payments/", include("django_multipay.urls")),
    path("sandbox/", include("django_multipay.sandbox.urls")),
    path("health/", health, name="multipay-health"),
    path("metrics/", metrics.view, name="multipay-metrics"),
    path(
        "ht/",
        HealthCheckView.as_view(
            checks=[
                "django_multipay.contrib.health_check.Payments",
                ("django_multipay.contrib.health_check.Payments", {"check": "notifications"}),
            ]
        ),
    ),
]
