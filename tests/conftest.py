"""Fixtures shared by the whole suite."""

import pytest

from django_multipay.testing.fixtures import emulator_router, signal_log  # noqa: F401 - fixtures
from tests.shop_server import browser, shop  # noqa: F401 - fixtures


@pytest.fixture
def router(emulator_router):  # noqa: F811 - the suite's short name for it
    return emulator_router
