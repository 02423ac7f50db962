"""`cmr serve` in a real browser: headless Chromium, driven through the DevTools protocol, opens
the CMR, and the page follows edits of the filing by itself. Skipped without Chromium."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import edit
from .test_serve import CMR_PAGE, Served, line_of, served  # noqa: F401 (a fixture)

websocket = pytest.importorskip("websocket", reason="websocket-client is a test dependency")

BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed")

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
)


class Page:
    """One Chromium tab, spoken to over the DevTools protocol's websocket."""

    def __init__(self, endpoint: str) -> None:
        self.socket = websocket.create_connection(endpoint, timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == number:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except AssertionError:  # the page is between documents while it reloads
                value = None
            if value:
                return value
            time.sleep(0.05)
        text = self.evaluate("document.body ? document.body.innerText.slice(0, 500) : ''")
        pytest.fail(f"timed out waiting for {expression}; the page shows: {text!r}")

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    profile = tmp_path / "chromium-profile"
    assert BROWSER is not None
    process = subprocess.Popen(
        [BROWSER, *FLAGS, f"--user-data-dir={profile}", "--window-size=1100,900", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its helper processes share its group, ended with it
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None, "Chromium exited at start"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        endpoint = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        tab = Page(endpoint)
        tab.call("Page.enable")
        tab.call("Runtime.enable")
        yield tab
        tab.socket.close()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_open_page_follows_edits_and_errors_without_a_manual_reload(
    served: Served,  # noqa: F811
    page: Page,
    tmp_path: Path,
) -> None:
    page.call("Page.navigate", url=served.url + CMR_PAGE)
    page.wait_for(
        "document.readyState === 'complete' && document.body.innerText.includes('Acme Devices, Inc.')"
    )
    # The documents' own fonts are loaded from the theme, as in the PDF, despite the page's
    # content security policy.
    assert page.evaluate("document.fonts.ready.then(() => document.fonts.check('12pt \"CMR Serif\"'))")
    page.screenshot(tmp_path / "cmr.png")
    # A mark on this document: gone once the page has reloaded itself.
    page.evaluate("window.cmrMark = 'before'")

    edit(served.filing, 'name: "Acme Devices, Inc."', 'name: "Acme Gizmos, Inc."')
    page.wait_for("document.body.innerText.includes('Acme Gizmos, Inc.')")
    assert page.evaluate("window.cmrMark === undefined")

    line = line_of(served.filing, "irs_employer_identification_number:")
    edit(served.filing, 'irs_employer_identification_number: "', 'irs_employer_identification_number: "x')
    shown = page.wait_for(
        "document.body.innerText.includes('The filing cannot be rendered') && document.body.innerText"
    )
    assert f"filing.yaml:{line}:" in shown and "registrant.irs_employer_identification_number" in shown
    page.screenshot(tmp_path / "error.png")

    edit(served.filing, 'irs_employer_identification_number: "x', 'irs_employer_identification_number: "')
    page.wait_for("document.body.innerText.includes('Acme Gizmos, Inc.')")
    assert "cannot be rendered" not in page.evaluate("document.body.innerText")
    for name in ("cmr.png", "error.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
