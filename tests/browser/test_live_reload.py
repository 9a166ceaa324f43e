"""The dev server's live reload in a real browser: a save reloads the open page by itself.

The pages carry a Content-Security-Policy (script-src 'self'), so this proves the reload client
really runs under it, not only that its tag is in the HTML.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import PROJECT, make_project
from test_reader_browser import ARGS, CHROMIUM, _need_browser
from test_serve import free_port, wait_for


@pytest.fixture
def served(tmp_path):
    _need_browser()
    root = make_project(tmp_path / "site")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    proc = subprocess.Popen([sys.executable, str(PROJECT / "build.py"), "serve", "--port", str(port),
                             "--root", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/", lambda s, b: s == 200, "the home page")
        yield root, base
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_saving_a_page_reloads_the_open_browser_tab(served):
    from playwright.sync_api import sync_playwright

    root, base = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            with page.expect_websocket(timeout=15_000) as socket_info:
                page.goto(base + "/notices/cp14/")
            socket = socket_info.value
            assert socket.url.endswith("/livereload")
            socket.wait_for_event("framereceived", timeout=15_000)  # the server's hello: connected
            source = root / "content/notices/cp14.md"
            original = source.read_text()
            # The client registers a moment after its handshake; a save made before that reloads no one,
            # so save again (a writer saving twice) until the tab shows the edit, within a bound.
            for attempt in range(6):
                source.write_text(original.replace('title: "CP14: Balance due"',
                                                   f'title: "CP14: Balance due, edited {attempt}"'))
                try:
                    page.wait_for_function(
                        "() => document.querySelector('h1').textContent.includes('edited')", timeout=5_000)
                    break
                except Exception:
                    continue
            else:
                pytest.fail("the open page was not reloaded with the edit; it shows: "
                            + page.evaluate("document.querySelector('h1').textContent"))
        finally:
            browser.close()
