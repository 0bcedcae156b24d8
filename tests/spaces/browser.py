"""Reusable harness to drive a Gradio Space in-process: with ``gradio_client`` and in a real headless Chromium.

Usage (any Space)::

    from browser import serve_blocks, chromium_page, upload, click, wait_for_image, screenshot_is_not_blank

    with serve_blocks(build_demo(...)) as url, chromium_page() as page:
        page.goto(url, wait_until="networkidle")
        upload(page, "my_input", "a.png")
        click(page, "my_run")
        wait_for_image(page, "my_output")
        screenshot_is_not_blank(page, tmp_path / "shot.png", elem_id="my_output")

Give the components an ``elem_id``; the helpers find them by id. Chromium is Debian's ``/usr/bin/chromium`` (no
``playwright install``); when it is absent the browser tests skip with the reason, except under CI (``CI`` set), where
they fail. The page is checked to be served offline: any request to a host other than the local server is blocked and
reported by :func:`chromium_page` (``page.external_requests``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import PIL.Image
import pytest

CHROMIUM = os.environ.get("NLV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_blocks(demo, port: int | None = None):
    """Launch a ``gr.Blocks`` on 127.0.0.1 (a free port) in this process; yields its URL; closes it afterwards."""
    demo.launch(server_name="127.0.0.1", server_port=port or free_port(), prevent_thread_lock=True, quiet=True,
                share=False, ssr_mode=False, show_error=True)
    try:
        yield demo.local_url
    finally:
        demo.close()


def require_chromium() -> str:
    """Path of the Chromium binary; skip (outside CI) or fail (in CI) when it is absent."""
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError as err:
            _absent(f"the Python package playwright is not installed ({err}); install the test extras")
        return CHROMIUM
    _absent(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` (CI's .ci/run does) or set NLV_CHROMIUM")
    raise AssertionError("unreachable")


def _absent(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def chromium_page(width: int = 1280, height: int = 1600, allowed_hosts: set[str] = LOCAL_HOSTS):
    """A Playwright page in a headless Chromium. Requests to hosts outside ``allowed_hosts`` are aborted and listed
    in ``page.external_requests``; console errors are listed in ``page.console_errors``."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="nlv_chromium_")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height})
            external: list[str] = []
            console_errors: list[str] = []

            def route(request_route):
                host = urlparse(request_route.request.url).hostname or ""
                if request_route.request.url.startswith(("data:", "blob:")) or host in allowed_hosts:
                    request_route.continue_()
                else:
                    external.append(request_route.request.url)
                    request_route.abort()

            context.route("**/*", route)
            page = context.pages[0] if context.pages else context.new_page()
            page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
            page.external_requests = external
            page.console_errors = console_errors
            try:
                yield page
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _by_id(elem_id: str) -> str:
    return f"#{elem_id}"


def upload(page, elem_id: str, path: str | os.PathLike, timeout_ms: int = 15000) -> None:
    """Upload a file into the component ``elem_id`` (gr.Image, gr.File, …) and wait until it shows a preview."""
    page.locator(f"{_by_id(elem_id)} input[type=file]").set_input_files(str(path), timeout=timeout_ms)
    page.locator(f"{_by_id(elem_id)} img").first.wait_for(state="visible", timeout=timeout_ms)


def click_example(page, elem_id: str, row: int = 0, timeout_ms: int = 15000) -> None:
    """Click row ``row`` of the ``gr.Examples(elem_id=...)`` table, which loads that example into the inputs."""
    page.locator(f"{_by_id(elem_id)} table tbody tr").nth(row).click(timeout=timeout_ms)


def click(page, elem_id: str, timeout_ms: int = 15000) -> None:
    page.locator(_by_id(elem_id)).click(timeout=timeout_ms)


def wait_for_image(page, elem_id: str, timeout_ms: int = 60000) -> dict:
    """Wait until the component ``elem_id`` shows an image that has finished loading with a non-zero size;
    returns ``{"src", "width", "height"}`` (natural size)."""
    selector = f"{_by_id(elem_id)} img"
    page.wait_for_function(
        """sel => { const im = document.querySelector(sel);
                    return im !== null && im.complete && im.naturalWidth > 0 && im.naturalHeight > 0; }""",
        arg=selector, timeout=timeout_ms)
    return page.eval_on_selector(selector, "im => ({src: im.src, width: im.naturalWidth, height: im.naturalHeight})")


def wait_for_text(page, elem_id: str, timeout_ms: int = 60000) -> str:
    """Wait until the textbox ``elem_id`` holds a non-empty value; returns it."""
    selector = f"{_by_id(elem_id)} textarea, {_by_id(elem_id)} input"
    page.wait_for_function(
        "sel => { const el = document.querySelector(sel); return el !== null && el.value.length > 0; }",
        arg=selector, timeout=timeout_ms)
    return page.locator(selector).first.input_value()


def image_is_not_blank(path: str | os.PathLike, min_std: float = 2.0, min_colors: int = 16) -> tuple[bool, str]:
    """(ok, reason): an image is "not blank" when its pixels vary (std over pixels) and it has many colours."""
    array = np.asarray(PIL.Image.open(path).convert("RGB"), dtype=np.float32)
    std = float(array.reshape(-1, 3).std(axis=0).mean())
    colors = len(np.unique(array.reshape(-1, 3).astype(np.uint8), axis=0))
    ok = std >= min_std and colors >= min_colors
    return ok, f"{array.shape[1]}x{array.shape[0]} px, std {std:.2f}, {colors} colours"


def screenshot_is_not_blank(page, path: str | os.PathLike, elem_id: str | None = None, **kwargs) -> str:
    """Screenshot the page (or the component ``elem_id``) to ``path`` and assert it is not blank."""
    target = page.locator(f"{_by_id(elem_id)} img").first if elem_id else page
    target.screenshot(path=str(path))
    ok, reason = image_is_not_blank(path, **kwargs)
    assert ok, f"screenshot {path} looks blank: {reason}"
    return reason


def wait_until(predicate, timeout_s: float = 10.0, interval_s: float = 0.1):
    """Poll ``predicate`` until it returns a truthy value (returned) or time runs out (AssertionError)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")
