"""The suite's URLs plus the REST API and its schema, as a shop would mount them."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from tests.urls import urlpatterns as base_urlpatterns

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include("django_multipay.api.urls")),
    *base_urlpatterns,
]
