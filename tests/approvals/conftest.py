
import pytest


@pytest.fixture(autouse=True)
def _fresh_realtime(fresh_realtime):
    """Every test here starts from a fresh event log and channel layer (tests/conftest.py)."""
