"""Fixtures for the web UI tests: a real `parley serve` subprocess and real headless Chromium."""

import os
import signal

import pytest

from browser_support import PARLEY_BIN, TEST_TIMEOUT_S, ChatPage, make_driver, started_servers


@pytest.fixture(autouse=True)
def per_test_alarm():
    """A hard upper bound per test, without extra plugins."""
    def expired(signum, frame):
        raise TimeoutError(f"test exceeded {TEST_TIMEOUT_S} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def server_factory(tmp_path):
    if not os.access(PARLEY_BIN, os.X_OK):
        pytest.skip(f"parley binary not found at {PARLEY_BIN} (set PARLEY_BIN)")
    with started_servers(tmp_path) as start:
        yield lambda port=0, database=None, extra_args=(): start(*extra_args, port=port, database=database)


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture
def browser():
    """A factory of independent browsers (separate profiles, so separate localStorage)."""
    drivers = []

    def make(width=1280, height=800):
        driver = make_driver(width, height)
        drivers.append(driver)
        return ChatPage(driver)

    yield make
    for driver in drivers:
        try:
            driver.quit()
        except Exception:
            pass
