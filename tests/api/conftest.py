import pytest


@pytest.fixture(autouse=True)
def _fresh_cache(empty_cache):
    """Every API test starts with no cached page and no rate-limit history."""
