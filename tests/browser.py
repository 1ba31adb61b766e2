"""Open a page in a real headless browser: Debian's chromium driven by Playwright.

Playwright's own browser download is never used (``executable_path``). A missing chromium
fails the test with what to do, rather than skipping it: CI installs it (``.ci/run``).
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def find_chromium() -> str | None:
    """Debian's chromium: RECSTATE_CHROMIUM, the usual paths, or ``chromium`` on PATH."""
    return os.environ.get("RECSTATE_CHROMIUM") or next(
        (p for p in CHROMIUM_CANDIDATES if Path(p).exists()), None) or shutil.which("chromium")


#: For the bridge's browser tests, which skip (rather than fail) without chromium.
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (dev.py installs it)")


def chromium_path() -> str:
    found = find_chromium()
    if not found:
        pytest.fail("these tests open the page in a real headless browser and need Debian's "
                    "chromium: `apt-get install -y chromium` (or set RECSTATE_CHROMIUM to its "
                    "path); .ci/run installs it")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(),
                              args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


class Opened:
    """A page opened from a file, with the console errors and page errors it raised."""

    def __init__(self, browser: Any, path: Path, *, width: int = 1300, height: int = 900
                 ) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.resolve().as_uri())

    def screenshot_stats(self) -> tuple[int, float]:
        """(distinct colours, share of pixels that are not the white background)."""
        from PIL import Image

        png = self.page.screenshot(full_page=True)
        image = Image.open(io.BytesIO(png)).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20) or []
        total = image.width * image.height
        white = sum(n for n, c in colours if c == (255, 255, 255))
        return len(colours), (total - white) / total

    def close(self) -> None:
        self.page.close()
