"""What readers and crawlers get from `python build.py`: head tags, lookup fallback, redirects,
sitemap, robots, feed, 404, the notice-page blocks and the page-weight budget."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from bs4 import BeautifulSoup
from lxml import etree

from conftest import FIXTURES, make_project, run_build, tree_bytes

BASE = "https://example.org/notice-help-center/"
EPOCH = {"SOURCE_DATE_EPOCH": "1764288000"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, bytes]:
    root = make_project(tmp_path_factory.mktemp("reader") / "site")
    proc = run_build(root, "--no-search", env=EPOCH)
    assert proc.returncode == 0, proc.stderr
    return tree_bytes(root / "output")


def soup(files, path) -> BeautifulSoup:
    return BeautifulSoup(files[path], "html.parser")


def pages(files) -> list[str]:
    return [p for p in files if p.endswith(".html") and b'http-equiv="refresh"' not in files[p][:2000]]


def test_every_page_has_unique_title_description_canonical_and_open_graph(site):
    titles = {}
    for path in pages(site):
        s = soup(site, path)
        title = s.title.get_text()
        assert title not in titles, f"{path} and {titles[title]} share the title {title!r}"
        titles[title] = path
        assert s.find("meta", attrs={"name": "description"})["content"].strip()
        url = "404.html" if path == "404.html" else path.removesuffix("index.html")
        assert s.find("link", rel="canonical")["href"] == BASE + url
        for prop in ("og:title", "og:description", "og:url", "og:type", "og:site_name"):
            assert s.find("meta", property=prop)["content"].strip(), (path, prop)


def test_json_ld_breadcrumbs_everywhere_and_faqs_only_as_shown(site):
    for path in pages(site):
        s = soup(site, path)
        blocks = [json.loads(t.string) for t in s.find_all("script", type="application/ld+json")]
        kinds = [b["@type"] for b in blocks]
        assert "BreadcrumbList" in kinds, path
        crumbs = next(b for b in blocks if b["@type"] == "BreadcrumbList")["itemListElement"]
        assert crumbs[0]["item"] == BASE and all(c["item"].startswith(BASE) for c in crumbs)
        shown = [d.summary.get_text() for d in s.select(".faqs details")]
        faq = [b for b in blocks if b["@type"] == "FAQPage"]
        if shown:
            assert [q["name"] for q in faq[0]["mainEntity"]] == shown, path
        else:
            assert not faq, path
    cp14 = soup(site, "notices/cp14/index.html")
    faq = next(json.loads(t.string) for t in cp14.find_all("script", type="application/ld+json")
               if '"FAQPage"' in t.string)
    # Cross-links in answers become the linked page's title, not [[...]] source text.
    assert faq["mainEntity"][0]["acceptedAnswer"]["text"] == "Check Is this letter really from the IRS?."


def test_notice_page_blocks(site):
    s = soup(site, "notices/letter-1058/index.html")
    main = s.find("main")
    order = [el.get("class", [""])[0] for el in main.select("article > section, article > nav, article > header")]
    assert order[:4] == ["notice-head", "quick-answer", "deadline", "sequence"]
    assert s.select_one(".badge").get_text() == "Letter 1058"
    calc = s.select_one("#calc")
    assert calc.has_attr("hidden") and calc["data-days"] == "30"
    assert s.select_one('label[for="calc-date"]') and s.select_one("#calc-date")["type"] == "date"
    current = s.select('.stepper [aria-current="step"]')
    assert [a["href"] for a in current] == ["./"]
    assert [a["href"] for a in s.select('.prevnext a[rel="prev"]')] == ["../cp501/"]
    rows = s.select(".compare tbody tr")
    assert [r.th.get_text(" ", strip=True) for r in rows] == ["Letter 1058 (this notice)", "LT11"]
    assert s.select(".compare thead th")[2].get_text() == "Deadline"
    assert "30 days from the date printed on the letter" in rows[0].get_text()
    crumbs = [a.get_text() for a in s.select(".crumbs a")]
    assert crumbs == ["Home", "Notices", "Letter 1058"]
    cp14 = soup(site, "notices/cp14/index.html")
    assert cp14.select_one(".faqs details summary").get_text() == "Is this real?"
    assert cp14.select_one(".reviewed time")["datetime"] == "2026-11-01"
    assert cp14.select_one("#calc") is None  # no day count: nothing to calculate
    assert "By the date printed on your notice" in cp14.select_one(".deadline").get_text()


def test_lookup_form_on_every_page_falls_back_to_the_full_list(site):
    for path in pages(site):
        form = soup(site, path).select_one("form.lookup")
        assert form["method"] == "get" and form.select_one('input[name="code"]'), path
        assert form.select_one("label").get("for") == "lookup-q"
    listing = soup(site, "notices/index.html")
    text = listing.get_text(" ", strip=True)
    for code, also in [("Letter 1058", "LTR1058, L1058"), ("LT11", "Letter 11"), ("CP14", None), ("CP501", None)]:
        assert code in text
        if also:
            assert f"(also {also})" in text
    assert soup(site, "notices/lt11/index.html").select_one("form.lookup")["action"] == "../"


def test_alias_urls_redirect_to_the_notice(site):
    for alias in ["ltr1058", "l1058", "letter1058", "letter-11", "letter11"]:
        s = soup(site, f"notices/{alias}/index.html")
        refresh = s.find("meta", attrs={"http-equiv": "refresh"})["content"]
        target = "../letter-1058/" if "1058" in alias else "../lt11/"
        assert refresh == f"0; url={target}"
        assert s.find("a")["href"] == target
        assert s.find("meta", attrs={"name": "robots"})["content"] == "noindex"
    # A notice's own page is never overwritten by a redirect.
    assert b"refresh" not in site["notices/letter-1058/index.html"][:2000]


def test_404_uses_absolute_links_from_the_base_path(site):
    s = soup(site, "404.html")
    refs = [t.get("href") or t.get("src") for t in s.find_all(["a", "link", "script", "form"])
            if (t.get("href") or t.get("src") or "") and t.name != "form"]
    internal = [r for r in refs if not r.startswith(("https://", "#"))]
    assert internal and all(r.startswith("/notice-help-center/") for r in internal), internal
    assert s.select_one("form.lookup")["action"] == "/notice-help-center/notices/"
    assert s.select_one('a[href="/notice-help-center/notices/letter-1058/"]')


def test_sitemap_is_valid_and_lists_content_pages_only(site):
    schema = etree.XMLSchema(etree.parse(str(FIXTURES / "schemas" / "sitemap.xsd")))
    doc = etree.fromstring(site["sitemap.xml"])
    schema.assertValid(doc)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = doc.xpath("//s:loc/text()", namespaces=ns)
    assert locs[0] == BASE and BASE + "notices/letter-1058/" in locs and BASE + "notices/" in locs
    assert not any("ltr1058" in u or "404" in u or "search" in u for u in locs)
    assert doc.xpath("//s:url[s:loc='%snotices/cp14/']/s:lastmod/text()" % BASE, namespaces=ns) == ["2026-11-01"]
    assert site["robots.txt"].decode().splitlines()[-1] == f"Sitemap: {BASE}sitemap.xml"


def test_atom_feed_lists_recently_reviewed_notices(site):
    ns = {"a": "http://www.w3.org/2005/Atom"}
    doc = etree.fromstring(site["feed.xml"])
    assert doc.tag == "{http://www.w3.org/2005/Atom}feed"
    assert doc.findtext("a:updated", namespaces=ns) == "2026-11-01T00:00:00Z"
    entries = doc.findall("a:entry", ns)
    assert [e.findtext("a:id", namespaces=ns) for e in entries] == [BASE + "notices/cp14/"]
    assert soup(site, "index.html").find("link", type="application/atom+xml")["href"] == "feed.xml"


def test_assets_have_content_hash_names(site):
    s = soup(site, "notices/letter-1058/index.html")
    refs = [t["href"] for t in s.find_all("link", rel="stylesheet")] + [t["src"] for t in s.find_all("script", src=True)]
    assert len(refs) == 4
    for ref in refs:
        assert re.fullmatch(r"\.\./\.\./assets/(css|js)/[\w-]+\.[0-9a-f]{10}\.(css|js)", ref), ref
        assert ref.removeprefix("../../") in site


def test_no_inline_scripts_or_handlers(site):
    for path in pages(site):
        s = soup(site, path)
        for tag in s.find_all("script"):
            assert tag.get("src") or tag.get("type") == "application/ld+json", path
        assert not [t for t in s.find_all(True) if any(a.startswith("on") for a in t.attrs)], path
        assert not s.find_all(style=True) and not s.find_all("style"), path


def test_generated_data_is_deterministic(tmp_path, site):
    root = make_project(tmp_path / "again")
    assert run_build(root, "--no-search", env=EPOCH).returncode == 0
    again = tree_bytes(root / "output")
    for name in ["sitemap.xml", "feed.xml", "robots.txt", "404.html", "notices/index.html"]:
        assert again[name] == site[name]
    hol = [p for p in again if p.startswith("assets/js/holidays.")]
    assert hol and hol[0] in site
    assert b'"first":2024,"last":2029' in again[hol[0]]  # content dates 2026, SOURCE_DATE_EPOCH 2025


def test_bundled_notice_pages_fit_the_weight_budget(tmp_path):
    """Each notice page under 60 KB of HTML + CSS + JS before compression (search index excluded)."""
    root = make_project(tmp_path / "site", base="bundled")
    assert run_build(root, "--no-search").returncode == 0
    out = root / "output"
    notices = sorted(out.glob("notices/*/index.html"))
    weights = {}
    for page in notices:
        html = page.read_bytes()
        if b'http-equiv="refresh"' in html[:2000]:
            continue
        s = BeautifulSoup(html, "html.parser")
        refs = [t["href"] for t in s.find_all("link", rel="stylesheet")] + [t["src"] for t in s.find_all("script", src=True)]
        refs.append(s.select_one("form.lookup")["data-index"])  # loaded on first use of the lookup
        weights[page.parent.name] = len(html) + sum((page.parent / r).resolve().stat().st_size for r in refs)
    assert len(weights) >= 20
    heaviest = max(weights, key=weights.get)
    assert weights[heaviest] < 60_000, f"{heaviest} weighs {weights[heaviest]} bytes"


def test_search_index_is_built_by_the_build(tmp_path):
    root = make_project(tmp_path / "site")
    proc = run_build(root)
    assert proc.returncode == 0, proc.stderr
    bundle = root / "output" / "pagefind"
    assert (bundle / "pagefind.js").is_file()
    entry = json.loads((bundle / "pagefind-entry.json").read_text())
    # Notices, guides and home are indexed; redirects, the list, search and 404 are not.
    assert sum(lang["page_count"] for lang in entry["languages"].values()) == 7
    assert not list(tmp_path.glob("site/.output.tmp-*"))
    # A page is found by its own words: not by the firm's pitch every page carries, nor by the
    # titles and summaries of the notices it lists (related, similar, the collection steps).
    fragments = {}
    for path in (bundle / "fragment").glob("*.pf_fragment"):
        raw = gzip.decompress(path.read_bytes())
        assert raw.startswith(b"pagefind_dcd")
        fragment = json.loads(raw[len(b"pagefind_dcd"):])
        fragments[fragment["url"]] = fragment["content"]
    indexed = [text for url, text in fragments.items() if url.startswith("/notices/")]
    assert indexed and all("Quick answer" in text for text in indexed)
    for shared in ("Get help from", "Related resources", "Where this notice falls in the process",
                   "Similar notices compared"):
        assert not any(shared in text for text in indexed), shared
    assert any("Similar notices compared" in (root / "output" / url.strip("/") / "index.html").read_text()
               for url in fragments if url.startswith("/notices/"))  # the blocks are on the pages
