"""Emulator URLs; include under ``sandbox/`` in development: ``path("sandbox/", include(...))``."""

from __future__ import annotations

from django.urls import include, path

from django_multipay.sandbox import dummy
from django_multipay.sandbox.guard import guarded

app_name = "multipay_sandbox"

urlpatterns = [
    path("dummy/api/payments", dummy.payments, name="dummy-payments"),
    path("dummy/api/payments/<str:payment_id>", dummy.payment, name="dummy-payment"),
    path("dummy/api/payments/<str:payment_id>/capture", dummy.capture, name="dummy-capture"),
    path("dummy/api/payments/<str:payment_id>/cancel", dummy.cancel, name="dummy-cancel"),
    path("dummy/api/payments/<str:payment_id>/refunds", dummy.refunds, name="dummy-refunds"),
    path("dummy/api/payments/<str:payment_id>/notify", dummy.resend, name="dummy-resend"),
    path("dummy/pay/<str:payment_id>", dummy.hosted_page, name="dummy-pay"),
]
# Answered only where test-only parts may run (DEBUG, or ALLOW_TEST_GATEWAYS); each included
# emulator module guards its own URLs the same way.
urlpatterns = guarded(urlpatterns)

# Each gateway's emulator adds its own URLs below, under its name.
urlpatterns += [path("portone/", include("django_multipay.sandbox.portone"))]
urlpatterns += [path("portwallet/", include("django_multipay.sandbox.portwallet"))]
urlpatterns += [path("postpay/", include("django_multipay.sandbox.postpay"))]
urlpatterns += [path("portpos/", include("django_multipay.sandbox.portpos"))]
urlpatterns += [path("paylands/", include("django_multipay.sandbox.paylands"))]
