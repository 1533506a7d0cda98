import pytest


@pytest.fixture(autouse=True)
def _fresh_cache(empty_cache):
    """Every admin test starts with no cached API page and no rate-limit history."""
