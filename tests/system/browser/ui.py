"""A logged-in Chromium tab on the deployment's UI, with what the suite needs around it.

- every JSON or text answer the UI fetched from the API server (and every request body it sent) is
  kept, so a secret the page received but does not show (a collapsed group, a virtualised list) is
  still found;
- ``scan`` looks for a string in the page's HTML, its visible text, the values of its form fields
  and that traffic, and says where it was found;
- ``shot`` saves a PNG of the page into the test's screenshot folder.

Playwright is imported by the fixtures only, so collecting this suite needs no Playwright (the
default pytest run deselects it on every Airflow version).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# Playwright's own browser download does not work here: Debian's chromium, headless. Without the
# background-networking flags, Chromium keeps trying to reach Google's services on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
# The UI is a React app over an API server shared with a scheduler, a triggerer and task processes
# on two busy cores: generous waits.
TIMEOUT_MS = 60_000
TRAFFIC_PATHS = ("/api/v2/", "/ui/", "/auth/token")


class UI:
    """One page of one browser context, the traffic it saw, and its screenshots."""

    def __init__(self, context: Any, base_url: str, shots_root: Path) -> None:
        self.context = context
        self.base_url = base_url
        self.shots_root = shots_root
        self.traffic: list[str] = []
        self.shots_dir = shots_root
        self.shots: list[Path] = []
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        self.page = context.new_page()
        self.page.on("request", self._on_request)
        self.page.on("response", self._on_response)

    # -- traffic -------------------------------------------------------------------------------
    def _wanted(self, url: str) -> bool:
        return url.startswith(self.base_url) and any(part in url for part in TRAFFIC_PATHS)

    def _on_request(self, request: Any) -> None:
        if self._wanted(request.url) and request.post_data:
            self.traffic.append(f"{request.method} {request.url}\n{request.post_data}")

    def _on_response(self, response: Any) -> None:
        if not self._wanted(response.url):
            return
        try:
            body = response.text()
        except Exception as err:  # noqa: BLE001 - a redirect or an aborted request has no body
            body = f"<no body: {err!r}>"
        self.traffic.append(f"{response.status} {response.url}\n{body}")

    # -- navigation ----------------------------------------------------------------------------
    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def login(self, username: str, password: str) -> None:
        """Sign in through the simple auth manager's login page (the page must be showing it)."""
        page = self.page
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url)

    def ensure_logged_in(self, username: str, password: str) -> None:
        """Open the home page, signing in first if the UI asks (a test run on its own)."""
        self.goto("/")
        page = self.page
        welcome = page.get_by_role("heading", name="Welcome")
        login_form = page.get_by_role("button", name="Sign in")
        welcome.or_(login_form).first.wait_for()
        if login_form.is_visible():
            self.login(username, password)
        welcome.wait_for()

    # -- evidence ------------------------------------------------------------------------------
    def use_shots_dir(self, name: str) -> Path:
        self.shots_dir = self.shots_root / name
        self.shots_dir.mkdir(parents=True, exist_ok=True)
        return self.shots_dir

    def shot(self, name: str, full_page: bool = False) -> Path:
        """Save the page as ``NN-<name>.png`` in the current test's folder."""
        self.settle()
        index = len(list(self.shots_dir.glob("*.png"))) + 1
        path = self.shots_dir / f"{index:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        self.shots.append(path)
        return path

    def settle(self, timeout_ms: float = 15_000) -> None:
        """Wait, for a screenshot, until no skeleton shows and no finite animation runs.

        Skeletons are the UI's loading placeholders; the animations are a dialog fading in, an
        accordion closing, a toast. Only a picture depends on it: after ``timeout_ms`` it goes on.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        try:
            self.page.wait_for_function(
                """() => {
                    const loading = [...document.querySelectorAll(
                        '.chakra-skeleton[data-loading], .chakra-skeleton[aria-busy="true"]')];
                    return loading.every(e => e.offsetParent === null)
                        && document.getAnimations().every(a =>
                            a.playState !== "running" || a.effect?.getTiming().iterations === Infinity);
                }""",
                timeout=timeout_ms,
            )
        except PlaywrightTimeoutError:
            pass

    def page_sources(self) -> dict[str, str]:
        """The page as HTML, as visible text, and the current values of its form fields."""
        page = self.page
        values = page.evaluate(
            "() => Array.from(document.querySelectorAll('input, textarea, select')).map(e => e.value)"
        )
        return {
            "html": page.content(),
            "text": page.locator("body").inner_text(),
            "field values": "\n".join(values),
        }

    def scan(self, needle: str, *, traffic: bool = True) -> list[str]:
        """Return where ``needle`` is: ``html``, ``text``, ``field values`` and/or ``traffic``."""
        sources = self.page_sources()
        if traffic:
            sources["traffic"] = "\n".join(self.traffic)
        return [name for name, text in sources.items() if needle in text]
