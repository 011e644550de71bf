import shutil

import pytest

from harness.local_stage import RunningStage

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that reaches for the network: this machine's network is closed, and
# Chromium's background connections would only fail (many at a time).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def stage():
    """The local stage as `make run` starts it; billing every 10 s so that charges show up
    on the pages while they run."""
    running = RunningStage(billing_interval_s=10).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    # Debian's chromium: Playwright's own browser download cannot work here. `make test`
    # installs it; a missing browser is a failure, not a skip.
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
