"""The test suite's URLs: the app, the emulators, the health and metrics views."""

from django.contrib import admin
from django.urls import include, path

from django_multipay import metrics
from django_multipay.health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("payments/", include("django_multipay.urls")),
    path("sandbox/", include("django_multipay.sandbox.urls")),
    path("health/", health, name="multipay-health"),
    path("metrics/", metrics.view, name="multipay-metrics"),
]

try:  # django-health-check: in the test group, not in every tox environment
    from health_check.views import HealthCheckView
except ImportError:  # pragma: no cover
    pass
else:
    urlpatterns.append(
        path(
            "ht/",
            HealthCheckView.as_view(
                checks=[
                    "django_multipay.contrib.health_check.Payments",
                    ("django_multipay.contrib.health_check.Payments", {"check": "notifications"}),
                ]
            ),
        )
    )
