"""Fixtures shared by the whole suite."""

from django_multipay.testing.contract import signal_log  # noqa: F401 - a fixture
