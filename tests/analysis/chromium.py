"""Open an HTML page in headless Chromium and report what a reader would meet: console
errors, failed loads, broken images, and a full-page screenshot.

Uses the DevTools protocol (Chromium's --remote-debugging-port) over a websocket; the browser
is Debian's `chromium` package (scripts/bootstrap.sh installs it when run as root).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Images that did not load or decode: a broken <img> has naturalWidth 0 once loading is done.
BROKEN_IMAGES = ("[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                 ".map(i => i.getAttribute('src').slice(0, 60))")


def find_browser() -> str | None:
    """The path of a Chromium on this machine, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@dataclass
class PageCheck:
    """What loading the page showed."""

    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    broken_images: list[str] = field(default_factory=list)
    images: int = 0
    width: int = 0  # the page's full size in CSS pixels
    height: int = 0
    screenshot: bytes = b""  # PNG of the whole page


class _DevTools:
    """A minimal DevTools-protocol session: numbered commands, events kept as they arrive."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=60)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))


def check_page(page: Path, width: int = 1366, height: int = 768,
               browser: str | None = None) -> PageCheck:
    """Load a local page at a laptop's window size and collect errors, images and a
    full-page screenshot."""
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-port=0", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            devtools = _DevTools(_page_socket(Path(profile)))
            try:
                return _inspect(devtools, page.resolve().as_uri(), width, height)
            finally:
                devtools.ws.close()
        finally:
            process.terminate()
            process.wait(timeout=30)


def _page_socket(profile: Path, timeout: float = 60.0) -> str:
    """The websocket of the browser's first page, once Chromium says which port it chose."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while not port_file.is_file() or not port_file.read_text().strip():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Chromium wrote no {port_file.name} within {timeout} s")
        time.sleep(0.05)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
        pages = [t for t in json.load(answer) if t["type"] == "page"]
    return pages[0]["webSocketDebuggerUrl"]


def _inspect(devtools: _DevTools, url: str, width: int, height: int) -> PageCheck:
    for domain in ("Page", "Runtime", "Log", "Network"):
        devtools.call(f"{domain}.enable")
    devtools.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
    devtools.call("Page.navigate", url=url)
    devtools.wait_for("Page.loadEventFired")
    broken = devtools.call("Runtime.evaluate", expression=BROKEN_IMAGES, returnByValue=True)
    count = devtools.call("Runtime.evaluate", expression="document.images.length",
                          returnByValue=True)
    size = devtools.call("Page.getLayoutMetrics")["cssContentSize"]
    w, h = int(size["width"]), int(size["height"])
    shot = devtools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": w, "height": h, "scale": 1})
    return PageCheck(_errors(devtools.events), broken["result"]["value"],
                     count["result"]["value"], w, h, base64.b64decode(shot["data"]))


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions, error log entries and failed loads, as text."""
    out = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                              for a in p["args"]))
        elif method == "Runtime.exceptionThrown":
            details = p["exceptionDetails"]
            out.append(f"exception: {details.get('text', '')} "
                       f"{details.get('exception', {}).get('description', '')}")
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.append(f"log: {p['entry']['text']} {p['entry'].get('url', '')[:80]}")
        elif method == "Network.loadingFailed":
            out.append(f"load failed: {p.get('errorText')}")
    return out
