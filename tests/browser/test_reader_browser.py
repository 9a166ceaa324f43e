"""The site in a real browser (Debian's Chromium driven by Playwright): axe-core accessibility in light
and dark at 375 and 1280 px, the lookup, search, the deadline calculator, the stepper, the no-JavaScript
fallbacks, and screenshots of a notice page for people to look at (test-artifacts/screenshots/).

Skipped with a reason where Chromium is missing; in CI (CI=true) that is a failure instead.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

from conftest import PROJECT, make_project, run_build
from site_src import deadlines

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PREFIX = "/notice-help-center/"  # the path part of the bundled site.toml base_url
SHOTS = PROJECT / "test-artifacts" / "screenshots"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _need_browser():
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
        import axe_playwright_python  # noqa: F401
    except ImportError as exc:
        missing.append(f"{exc.name} is not installed (pip install -e '.[test]')")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves output/ under the site's sub-path, with 404.html for anything missing (as a host would)."""

    def translate_path(self, path):
        path = path.split("?", 1)[0].split("#", 1)[0]
        if path.startswith(PREFIX):
            path = "/" + path[len(PREFIX):]
        else:
            path = "/__outside__"
        return super().translate_path(path)

    def send_head(self):
        target = Path(self.translate_path(self.path))
        if target.is_dir() and self.path.split("?")[0].endswith("/"):
            target = target / "index.html"
        if not target.exists():
            body = (Path(self.directory) / "404.html").read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        return super().send_head()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _need_browser()
    root = make_project(tmp_path_factory.mktemp("browser") / "site", base="bundled")
    proc = run_build(root)
    assert proc.returncode == 0, proc.stderr
    handler = functools.partial(_Handler, directory=str(root / "output"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}{PREFIX}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    yield pg
    context.close()


# -- accessibility -----------------------------------------------------------------------------

PAGES = {
    "home": "",
    "notice": "notices/letter-1058/",  # quick answer, deadline + calculator, stepper, comparison, FAQs, sources
    "guide": "guides/back-taxes-guide/",
    "404": "no-such-page/",
    "search": "search/?q=levy+bank+account",
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [375, 1280])
def test_no_axe_violations(browser, server, scheme, width):
    from axe_playwright_python.sync_playwright import Axe
    axe = Axe()
    context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
    pg = context.new_page()
    problems = []
    try:
        for name, path in PAGES.items():
            pg.goto(server + path)
            if name == "notice":
                pg.fill("#calc-date", "2026-01-02")
                pg.locator(".calc-last").wait_for()
                pg.fill("#lookup-q", "cp5")
                pg.locator("#lookup-results a").first.wait_for()
            if name == "search":
                pg.locator("#search-results li").first.wait_for()
            results = axe.run(pg, options={"runOnly": {"type": "tag", "values": WCAG}})
            if results.violations_count:
                problems.append(f"{name} ({scheme}, {width}px):\n{results.generate_report()}")
            overflow = pg.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            if overflow:
                problems.append(f"{name} ({scheme}, {width}px): the page scrolls sideways")
    finally:
        context.close()
    assert not problems, "\n".join(problems)


# -- behaviour ---------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, lands_on", [
    ("1058", "notices/letter-1058/"),
    ("LTR 1058", "notices/letter-1058/"),
    ("lt11", "notices/lt11/"),
    ("cp-504", "notices/cp504/"),
    ("CP504B", "notices/cp504/"),
])
def test_lookup_goes_straight_to_the_notice(page, server, typed, lands_on):
    page.goto(server + "guides/back-taxes-guide/")
    page.fill("#lookup-q", typed)
    page.press("#lookup-q", "Enter")
    page.wait_for_url(server + lands_on)


def test_lookup_offers_matches_and_explains_unknown_codes_from_the_keyboard(page, server):
    page.goto(server)
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # brand
    for _ in range(2):
        page.keyboard.press("Tab")  # site links
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "lookup-q"
    page.keyboard.type("cp50")
    links = page.locator("#lookup-results a")
    links.first.wait_for()
    assert {"CP501", "CP503", "CP504"} <= {t.split(":")[0] for t in links.all_inner_texts()}
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.closest('#lookup-results') !== null")
    page.keyboard.press("Enter")
    page.wait_for_url(server + "notices/cp50*/")
    page.fill("#lookup-q", "CP9999")
    page.press("#lookup-q", "Enter")
    status = page.locator("#lookup-status")
    status.filter(has_text="No notice matches").wait_for()
    assert page.locator("#lookup-results a").get_attribute("href").endswith("notices/")


def test_search_finds_known_pages(page, server):
    page.goto(server + "search/")
    assert page.locator("#search-nojs").is_hidden()
    page.fill("#search-q", "levy bank account")
    page.press("#search-q", "Enter")
    results = page.locator("#search-results a")
    results.first.wait_for()
    hrefs = results.evaluate_all("els => els.map(a => a.pathname)")
    assert f"{PREFIX}notices/lt11/" in hrefs or f"{PREFIX}notices/letter-1058/" in hrefs
    assert "levy+bank+account" in page.url or "levy%20bank%20account" in page.url
    page.goto(server + "search/?q=payment+plan")
    page.locator("#search-results a").first.wait_for()
    assert "found for" in page.locator("#search-status").inner_text()


CASES = [dt.date(2026, 1, 2), dt.date(2025, 12, 2), dt.date(2027, 12, 1), dt.date(2026, 3, 17),
         dt.date(2026, 6, 3), dt.date(2026, 3, 2), dt.date(2026, 10, 26), dt.date(2025, 12, 20)]


def test_calculator_matches_the_python_rule(browser, server):
    table = deadlines.legal_holidays(range(2025, 2030))
    context = browser.new_context(accept_downloads=True)
    pg = context.new_page()
    pg.clock.set_fixed_time(dt.datetime(2026, 1, 20, 12, 0))
    try:
        pg.goto(server + "notices/letter-1058/")
        calc = pg.locator("#calc")
        assert calc.is_visible()
        for notice in CASES:
            pg.fill("#calc-date", notice.isoformat())
            out = pg.locator("#calc-out")
            expected = deadlines.last_day(notice, 30, table)
            assert out.get_attribute("data-last-day") == expected.last_day.isoformat(), notice
            moved = pg.locator(".calc-moved")
            if expected.reason:
                assert expected.reason in moved.inner_text() and "IRC 7503" in moved.inner_text()
            else:
                assert moved.count() == 0
            left = deadlines.days_left(expected.last_day, dt.date(2026, 1, 20))
            assert int(pg.locator("[data-days-left]").get_attribute("data-days-left")) == left
        pg.fill("#calc-date", "2026-01-02")  # day 30 is Sunday Feb 1; last day Monday Feb 2
        assert pg.locator(".calc-last").inner_text() == "Your last day: Monday, February 2, 2026."
        assert pg.locator(".calc-left").inner_text() == "You have 13 days left."
        pg.fill("#calc-date", "2025-11-03")
        assert pg.locator(".calc-late").inner_text().startswith("The deadline passed 48 days ago.")
        pg.fill("#calc-date", "2026-01-02")
        link = pg.locator("#calc-ics")
        assert link.get_attribute("download") == "letter-1058-deadline.ics"
        with pg.expect_download() as info:
            link.click()
        download = info.value
        assert download.suggested_filename == "letter-1058-deadline.ics"
        ics = Path(download.path()).read_bytes().decode("utf-8")
        assert ics == deadlines.ics_event("Letter 1058", calc.get_attribute("data-action"), dt.date(2026, 2, 2),
                                          calc.get_attribute("data-url"))
        # The abroad window (CP3219A: 90 days, 150 if addressed abroad)
        pg.goto(server + "notices/cp3219a/")
        pg.fill("#calc-date", "2026-01-02")
        assert pg.locator("#calc-out").get_attribute("data-last-day") == \
            deadlines.last_day(dt.date(2026, 1, 2), 90, table).last_day.isoformat()
        pg.check("#calc-abroad")
        assert pg.locator("#calc-out").get_attribute("data-last-day") == \
            deadlines.last_day(dt.date(2026, 1, 2), 150, table).last_day.isoformat()
    finally:
        context.close()


def test_stepper_marks_the_current_step_and_links_the_neighbours(page, server):
    page.goto(server + "notices/cp504/")
    current = page.locator('.stepper [aria-current="step"]')
    assert current.count() == 1 and current.inner_text().startswith("CP504")
    page.locator('.prevnext a[rel="prev"]').click()
    page.wait_for_url(server + "notices/cp503/")
    page.locator('.prevnext a[rel="next"]').first.click()
    page.wait_for_url(server + "notices/cp504/")


def test_without_javascript(browser, server):
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    try:
        pg.goto(server + "notices/letter-1058/")
        assert pg.locator("#calc").is_hidden()
        assert "next business day (IRC 7503)" in pg.locator(".deadline .rule").inner_text()
        assert pg.locator(".faqs details").first.is_visible()
        pg.fill("#lookup-q", "1058")
        pg.press("#lookup-q", "Enter")
        pg.wait_for_url(server + "notices/?code=1058")
        assert pg.locator("a", has_text="Letter 1058").first.is_visible()
        assert "LTR1058" in pg.locator("main").inner_text()
        pg.goto(server + "notices/ltr1058/")
        pg.wait_for_url(server + "notices/letter-1058/")
        pg.goto(server + "search/")
        assert pg.locator("#search-nojs").is_visible()
        resp = pg.goto(server + "missing/page/")
        assert resp.status == 404 and pg.locator("h1").inner_text() == "We can't find that page"
        pg.locator("main a", has_text="CP2000").click()
        pg.wait_for_url(server + "notices/cp2000/")
    finally:
        context.close()


def test_notices_list_resolves_a_code_sent_by_the_plain_form(page, server):
    page.goto(server + "notices/?code=cp-2000")
    page.wait_for_url(server + "notices/cp2000/")
    page.goto(server + "notices/?code=ZZ99")
    note = page.locator("#code-query")
    note.wait_for()
    assert "No notice matches" in note.inner_text()


def test_screenshots_of_a_notice_page(browser, server):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in [(375, 812), (1280, 900)]:
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
        pg = context.new_page()
        pg.goto(server + "notices/letter-1058/")
        fold = pg.evaluate("document.querySelector('.deadline').getBoundingClientRect().top")
        pg.screenshot(path=str(SHOTS / f"notice-letter-1058-{width}.png"), full_page=False)
        pg.screenshot(path=str(SHOTS / f"notice-letter-1058-{width}-full.png"), full_page=True)
        context.close()
        # The deadline box starts on the first screen of a phone.
        assert fold < height, f"deadline box starts at {fold}px on a {width}px screen"
        assert (SHOTS / f"notice-letter-1058-{width}.png").stat().st_size > 10_000
