"""The REST API (Django REST framework): include ``django_multipay.api.urls`` under a prefix."""
