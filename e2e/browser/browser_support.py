"""Helpers for the web UI tests: a real `parley serve` subprocess and a driver for the page.

Kept out of conftest.py under a unique name so that `import` works however many conftest files
the other suites under e2e/ add."""

import os
import sys
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

try:
    from axe_selenium_python import Axe
except ImportError:  # scripts/install-test-deps installs it; without it only the accessibility test skips
    Axe = None

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from parley_server import PARLEY_BIN, free_port, started_servers  # noqa: E402  (shared by the suites)
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TEST_TIMEOUT_S = 60
WAIT_S = 15


class ChatPage:
    """Drives one browser window through the data-testid hooks of PROTOCOL.md section 10."""

    def __init__(self, driver):
        self.d = driver

    def tid(self, name):
        return self.d.find_element(By.CSS_SELECTOR, f'[data-testid="{name}"]')

    def wait(self, condition, timeout=WAIT_S, message=""):
        return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(lambda d: condition(), message)

    def open(self, url):
        self.d.get(url)
        self.wait(lambda: self.d.execute_script("return document.readyState") == "complete")

    def set_nick(self, nick):
        field = self.tid("nick-input")
        field.clear()
        field.send_keys(nick)

    def create_room(self, base_url, nick, name=None):
        self.open(base_url + "/")
        self.set_nick(nick)
        if name:
            self.d.find_element(By.ID, "room-name-input").send_keys(name)
        self.tid("create-room-button").click()
        self.wait_connected()
        return self.tid("invite-link").get_attribute("href")

    def join_invite(self, invite_url, nick):
        self.open(invite_url)
        self.set_nick(nick)
        self.tid("join-button").click()
        self.wait_connected()

    def status(self):
        return self.tid("connection-status").text

    def wait_connected(self, timeout=WAIT_S):
        self.wait(lambda: self.status() == "connected", timeout, "never connected")

    def type(self, text):
        self.tid("message-input").send_keys(text)

    def send(self, text, via_button=False):
        box = self.tid("message-input")
        box.send_keys(text)
        if via_button:
            self.tid("send-button").click()
        else:
            box.send_keys(Keys.ENTER)

    def messages(self):
        """[(id or None, nick, text, pending)] for every message element, in page order."""
        return self.d.execute_script("""
            return Array.from(document.querySelectorAll('[data-testid="message-list"] [data-testid="message"]'))
              .map(m => [m.dataset.id ? Number(m.dataset.id) : null,
                         m.querySelector('.msg-nick').textContent,
                         m.querySelector('.msg-text').textContent,
                         m.classList.contains('pending')]);
        """)

    def count_text(self, text):
        return sum(1 for _, _, t, _ in self.messages() if t == text)

    def wait_message(self, text, nick=None, timeout=WAIT_S):
        def seen():
            return any(t == text and not p and (nick is None or n == nick) for _, n, t, p in self.messages())
        self.wait(seen, timeout, f"message {text!r} never arrived")

    def members(self):
        return [m.text.split("\n")[0] for m in
                self.tid("member-list").find_elements(By.CSS_SELECTOR, '[data-testid="member"]')]

    def member_nicks(self):
        return self.d.execute_script("""
            return Array.from(document.querySelectorAll('[data-testid="member"] .member-nick'))
              .map(n => n.textContent);
        """)


def make_driver(width=1280, height=800):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--force-color-profile=srgb",
                "--hide-scrollbars", f"--window-size={width},{height}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    return driver


def set_viewport(page, width, height, dark=False, reduced_motion=False):
    """Width, height and colour scheme by the Chrome DevTools Protocol; with reduced motion the page drops its
    transitions, so colours are final at once (a check could otherwise see them mid-fade)."""
    page.d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    page.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": "dark" if dark else "light"},
        {"name": "prefers-reduced-motion", "value": "reduce" if reduced_motion else "no-preference"}]})


def accessibility_violations(page, impacts=("serious", "critical")):
    """axe-core's violations of the page as it is now, those of the given impacts, one line per element:
    "rule (impact): selector: what failed"."""
    axe = Axe(page.d)
    if not page.d.execute_script("return typeof window.axe === 'object'"):
        axe.inject()
    results = axe.run(options='{"resultTypes": ["violations"]}')
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in impacts:
            continue
        for node in violation["nodes"]:
            detail = node.get("failureSummary", "").replace("\n", " ")
            found.append(f'{violation["id"]} ({violation["impact"]}): {" ".join(node["target"])}: {detail}')
    return found
