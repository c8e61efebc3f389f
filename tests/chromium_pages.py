"""Open pages in headless Chromium through the DevTools protocol over a pipe.

Chromium's ``--remote-debugging-pipe`` speaks the DevTools protocol as
NUL-terminated JSON on file descriptors 3 (to the browser) and 4 (from it), so
one browser serves every page of the site with no client library: one
``--screenshot`` run per page would start a browser per page, and the flag
alone reports console messages only as log lines.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

# What a page may take to load its own files from disk, on a busy machine.
LOAD_TIMEOUT = 60.0
# The script that lists a page's links, as the browser resolved them.
LINKS = "Array.from(document.querySelectorAll('a[href]'), a => a.href)"
# Ids and names a link's fragment may point at.
ANCHORS = ("Array.from(document.querySelectorAll('[id], a[name]'),"
           " e => e.id || e.getAttribute('name'))")


def find_chromium() -> str | None:
    """The Chromium executable on PATH (Debian names it ``chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageVisit:
    """What one page showed: its screenshot, its errors, its links and anchors."""

    url: str
    png: bytes = b""
    errors: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)


class Browser:
    """One headless Chromium, driven by DevTools commands over its pipe."""

    def __init__(self, executable: str, width: int = 1280, height: int = 900):
        self._profile = tempfile.mkdtemp(prefix="nnbp-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The child's fds 3 and 4 must be these two ends, whatever numbers they have here.
        self._process = subprocess.Popen(
            [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=lambda: _map_fds(to_browser_read, from_browser_write))
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        target = self.command("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.command("Target.attachToTarget", targetId=target,
                                     flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.command(f"{domain}.enable", session=True)

    def close(self) -> None:
        """End the browser and remove its profile."""
        try:
            self.command("Browser.close")
        except (OSError, RuntimeError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def command(self, method: str, session: bool = False, **params) -> dict:
        """Send one command and return its result; events that come first are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive(LOAD_TIMEOUT)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self._events.append(reply)

    def visit(self, url: str) -> PageVisit:
        """Load url, then take its errors, a screenshot, its links and its anchors."""
        self._events.clear()
        self.command("Page.navigate", session=True, url=url)
        self._wait_for("Page.loadEventFired")
        visit = PageVisit(url)
        visit.png = base64.b64decode(
            self.command("Page.captureScreenshot", session=True, format="png")["data"])
        visit.links = self._evaluate(LINKS)
        visit.anchors = set(self._evaluate(ANCHORS))
        visit.errors = [error for event in self._events if (error := _error_of(event))]
        return visit

    def _evaluate(self, expression: str):
        result = self.command("Runtime.evaluate", session=True, expression=expression,
                              returnByValue=True)
        return result["result"]["value"]

    def _wait_for(self, method: str) -> None:
        deadline = time.monotonic() + LOAD_TIMEOUT
        while not any(event.get("method") == method for event in self._events):
            self._events.append(self._receive(deadline - time.monotonic()))

    def _receive(self, timeout: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], max(timeout, 0))
            if not ready:
                raise RuntimeError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)


def _map_fds(to_browser: int, from_browser: int) -> None:
    """In the child: the browser reads commands on fd 3 and writes on fd 4."""
    # Duplicate both out of the way first, so that neither dup2 closes the other.
    to_browser, from_browser = os.dup(to_browser), os.dup(from_browser)
    os.dup2(to_browser, 3)
    os.dup2(from_browser, 4)


def _error_of(event: dict) -> str | None:
    """The text of an event that reports a JavaScript error, or None."""
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return details.get("exception", {}).get("description") or details.get("text")
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        return " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
    if method == "Log.entryAdded" and params["entry"]["level"] == "error":
        # Every file a page loads must load offline, MathJax's included (the site
        # serves its own copy): a file from another site is a fault here.
        url = params["entry"].get("url", "")
        return f"{params['entry']['text']} ({url})"
    return None
