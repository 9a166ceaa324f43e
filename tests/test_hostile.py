"""Hostile content never reaches readers: every front-matter field is escaped wherever it lands
(HTML text, attributes, JSON-LD, notices.json), unsafe links are refused or dropped, and every page
carries a Content-Security-Policy that its own markup obeys.
"""

from __future__ import annotations

import json
import re

import pytest
from bs4 import BeautifulSoup

from conftest import make_project, run_build
from site_src import headers, markdown
from site_src.load import SourceFile, load_page
from site_src.pipeline import BuildOptions, build

PAYLOADS = [
    "<script>alert(1)</script>",
    '" onmouseover="alert(2)',
    "' onfocus='alert(3)' autofocus x='",
    "</script><script>alert(4)</script>",
    "javascript:alert(5)",
    "<img src=x onerror=alert(6)>",
    "<!-- ]]> &amp; &lt;",
]
P = " ".join(PAYLOADS)
"""One string carrying every payload, put in every free-text field."""

HOSTILE_NOTICE = f"""---
code: CP666
aliases: [CP666X]
title: {json.dumps("CP666: " + P)}
summary: {json.dumps(P)}
category: collection
quick_answer: {json.dumps(P + " [click](javascript:alert(7)) <a href='javascript:alert(8)'>x</a>")}
deadline:
  days: 30
  days_abroad: 60
  from: {json.dumps(P)}
  action: {json.dumps(P)}
  basis: {json.dumps(P)}
  if_missed: {json.dumps(P)}
  late_option: {json.dumps(P)}
follows: [CP14]
related: [back-taxes-guide]
faqs:
  - question: {json.dumps(P)}
    answer: {json.dumps(P)}
  - question: Second?
    answer: Yes.
  - question: Third?
    answer: Yes.
sources:
  - title: {json.dumps(P)}
    url: {json.dumps('https://www.irs.gov/?q="><script>alert(9)</script>')}
updated: 2026-11-01
---
## Why you received it

{P}

<script>alert(10)</script>

[a link](<javascript:alert(11)>) and <javascript:alert(12)> and [ok](https://www.irs.gov/)
"""

CLEAN_NOTICE = HOSTILE_NOTICE.replace(" [click](javascript:alert(7))", "") \
    .replace("[a link](<javascript:alert(11)>) and <javascript:alert(12)> and ", "")
"""The notice without its unsafe links (those are errors): hostile, but a page that builds."""

HOSTILE_GUIDE = f"""---
id: hostile-guide
title: {json.dumps(P)}
summary: {json.dumps(P)}
related: [CP666]
faqs:
  - question: {json.dumps(P)}
    answer: {json.dumps(P)}
sources:
  - title: {json.dumps(P)}
    url: https://www.irs.gov/
---
{P}
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, bytes]:
    """The fixture site plus a hostile notice and guide, built in memory."""
    root = make_project(tmp_path_factory.mktemp("hostile") / "site", {
        "content/notices/cp666.md": CLEAN_NOTICE,
        "content/guides/hostile-guide.md": HOSTILE_GUIDE,
        "content/index.md": "---\ntitle: Home\nsummary: Home.\n---\n[[CP666]] [[hostile-guide]] [[back-taxes-guide]] "
                            "[[is-this-letter-real]] [[CP14]] [[CP501]] [[LT11]] [[Letter 1058]]\n",
    })
    result = build(BuildOptions(root=root, write=False, search=False))
    assert not result.report.errors, [d.text() for d in result.report.errors]
    return result.files


def html_files(files: dict[str, bytes]) -> dict[str, BeautifulSoup]:
    return {p: BeautifulSoup(b, "html.parser") for p, b in files.items() if p.endswith(".html")}


def test_pages_show_the_payload_as_text(hostile):
    page = BeautifulSoup(hostile["notices/cp666/index.html"], "html.parser")
    assert P in page.find("h1").get_text()
    text = page.get_text()
    assert text.count(PAYLOADS[0]) >= 5, "escaped, not dropped: the reader sees what the writer wrote"
    guide = BeautifulSoup(hostile["guides/hostile-guide/index.html"], "html.parser")
    assert P in guide.get_text()


def test_no_markup_from_content_survives_in_any_page(hostile):
    for path, soup in html_files(hostile).items():
        raw = hostile[path].decode("utf-8")
        assert "<script>alert" not in raw, path
        assert "<img src=x" not in raw, path
        for tag in soup.find_all(True):
            for attr, value in tag.attrs.items():
                assert not attr.lower().startswith("on"), (path, tag.name, attr)
                values = value if isinstance(value, list) else [value]
                for v in values:
                    if attr in ("href", "src", "action", "formaction", "content"):
                        assert not re.match(r"\s*javascript:", v, re.I) or attr == "content", (path, attr, v)
                        assert "javascript:alert" not in v or attr == "content", (path, attr, v)


def test_attributes_keep_the_payload_inside_them(hostile):
    soup = BeautifulSoup(hostile["notices/cp666/index.html"], "html.parser")
    assert soup.find("meta", attrs={"name": "description"})["content"].startswith(P[:40])
    assert soup.find("meta", attrs={"property": "og:title"})["content"] == "CP666: " + P
    source = soup.find("a", href=re.compile(r"^https://www\.irs\.gov/\?q="))
    assert source is not None and source["href"] == 'https://www.irs.gov/?q="><script>alert(9)</script>'


def test_json_ld_cannot_break_out_of_its_script_block(hostile):
    for path, soup in html_files(hostile).items():
        raw = hostile[path].decode("utf-8")
        blocks = soup.find_all("script", type="application/ld+json")
        if path in ("notices/cp666/index.html", "guides/hostile-guide/index.html"):
            assert blocks, path
        for block in blocks:
            text = block.string or ""
            assert "<" not in text and ">" not in text, path
            json.loads(text)
        # A browser ends a script block at the first '</script' whatever the JSON says.
        for m in re.finditer(r'<script type="application/ld\+json">(.*?)</script>', raw, re.S):
            assert "</" not in m.group(1) and "<!--" not in m.group(1)
    faq = [json.loads(b.string) for b in BeautifulSoup(hostile["notices/cp666/index.html"], "html.parser")
           .find_all("script", type="application/ld+json")]
    names = [q["name"] for block in faq if block.get("@type") == "FAQPage" for q in block["mainEntity"]]
    assert P in names


def test_catalogue_json_escapes_and_keeps_every_field(hostile):
    raw = hostile["notices.json"].decode("utf-8")
    assert "</script" not in raw.lower()
    data = json.loads(raw)
    item = next(n for n in data["notices"] if n["code"] == "CP666")
    assert item["title"] == "CP666: " + P and item["summary"] == P
    for key in ("action", "basis", "if_missed", "late_option"):
        assert P in json.dumps(item["deadline"], ensure_ascii=False) or item["deadline"].get(key) == P


def test_other_data_files_parse(hostile):
    for path, data in hostile.items():
        if path.endswith(".json"):
            assert "</script" not in data.decode("utf-8").lower(), path
            json.loads(data)
        elif path.endswith(".xml"):
            from lxml import etree
            etree.fromstring(data)  # raises on markup broken by a payload


def test_unsafe_links_are_errors_with_their_lines(tmp_path):
    src = SourceFile("content/notices/cp666.md", "notice", HOSTILE_NOTICE.encode())
    _, problems = load_page(src)  # the page may be kept to check its references; its errors stop the build
    lines = HOSTILE_NOTICE.splitlines()
    qa = next(i for i, l in enumerate(lines, 1) if l.startswith("quick_answer:"))
    body = next(i for i, l in enumerate(lines, 1) if l.startswith("[a link]"))
    msg = "is not allowed: use an https, http, mailto or tel address or a relative path"
    assert [d.text() for d in problems] == [
        f"content/notices/cp666.md:{body}: error: link to 'javascript:alert(11)' {msg}",
        f"content/notices/cp666.md:{body}: error: link to 'javascript:alert(12)' {msg}",
        f"content/notices/cp666.md:{qa}: error: link to 'javascript:alert(7)' {msg}",
    ]


@pytest.mark.parametrize("field, value, message", [
    ("code", "<script>alert(1)</script>", "code '<script>alert(1)</script>' may only contain letters, digits, "
                                          "spaces and hyphens"),
    ("aliases", ['" onmouseover="x'], "alias '\" onmouseover=\"x' may only contain letters, digits, spaces, "
                                      "hyphens, dots and underscores"),
])
def test_codes_and_aliases_with_markup_are_refused(field, value, message):
    text = CLEAN_NOTICE.replace("code: CP666\n", f"code: {json.dumps(value)}\n" if field == "code" else
                                  "code: CP666\n").replace("aliases: [CP666X]", f"aliases: {json.dumps(value)}"
                                                           if field == "aliases" else "aliases: [CP666X]")
    _, problems = load_page(SourceFile("content/notices/cp666.md", "notice", text.encode()))
    line = 2 if field == "code" else 3
    assert f"content/notices/cp666.md:{line}: error: {message}" in [d.text() for d in problems]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
                                 "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)",
                                 "java\tscript:alert(1)", "file:///etc/passwd"])
def test_source_urls_must_use_a_safe_scheme(url):
    text = CLEAN_NOTICE.replace(json.dumps('https://www.irs.gov/?q="><script>alert(9)</script>'), json.dumps(url))
    _, problems = load_page(SourceFile("content/notices/cp666.md", "notice", text.encode()))
    assert any(d.code == "url-unsafe" and "sources[1].url" in d.message for d in problems), url


@pytest.mark.parametrize("text", [
    "[a](javascript:alert(1))", "[a](JAVASCRIPT:alert(1))", "[a](java&#09;script:alert(1))",
    "[a](&#106;avascript:alert(1))", "<javascript:alert(1)>", "![a](javascript:alert(1))",
    "[a](data:text/html;base64,PHNjcmlwdD4=)", "[a]: javascript:alert(1)\n\n[a]", "[a](vbscript:x)",
])
def test_markdown_never_emits_an_unsafe_link(text):
    for render in (markdown.render, getattr(markdown, "render_auto", markdown.render)):
        html = render(text)
        soup = BeautifulSoup(html, "html.parser")
        assert not soup.find_all(href=True) and not soup.find_all(src=True), (text, html)


def test_raw_html_is_off_by_default_and_a_switch_turns_it_on():
    text = "<b onclick='x'>bold</b>\n\n<script>alert(1)</script>\n"
    for render in (markdown.render, getattr(markdown, "render_auto", markdown.render)):
        off = render(text)
        assert "<b" not in off and "<script" not in off and "&lt;script&gt;" in off
    assert "<b onclick='x'>bold</b>" in markdown.render(text, allow_html=True)


# -- Content-Security-Policy ------------------------------------------------------------------------------

def test_every_page_carries_the_policy_and_obeys_it(hostile):
    policy = headers.csp(meta=True)
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy and "frame-ancestors" not in policy
    for path, soup in html_files(hostile).items():
        metas = soup.find_all("meta", attrs={"http-equiv": "Content-Security-Policy"})
        assert [m["content"] for m in metas] == [policy], path
        assert metas[0] in soup.head.find_all("meta")[:3], f"{path}: the policy must come before any script"
        for script in soup.find_all("script"):
            if script.get("type") == "application/ld+json":
                continue
            assert script.get("src") and not (script.string or "").strip(), f"{path}: inline script"
            assert not re.match(r"^(https?:)?//", script["src"]), f"{path}: third-party script {script['src']}"
        assert not soup.find_all("style"), f"{path}: inline <style> (style-src 'self' blocks it)"
        assert not soup.find_all(style=True), f"{path}: style= attribute (style-src 'self' blocks it)"
        for link in soup.find_all("link", rel="stylesheet"):
            assert not re.match(r"^(https?:)?//", link["href"]), path
        for tag in soup.find_all(["img", "iframe", "object", "embed", "source", "audio", "video"]):
            assert not re.match(r"^(https?:)?//", tag.get("src", "")), f"{path}: third-party {tag.name}"


def test_headers_file_is_written_with_the_same_policy(tmp_path):
    root = make_project(tmp_path / "site")
    proc = run_build(root, "--no-search")
    assert proc.returncode == 0, proc.stderr
    text = (root / "output/_headers").read_text()
    lines = text.splitlines()
    assert lines[0] == "/*"
    assert f"  Content-Security-Policy: {headers.csp()}" in lines
    for name in ("X-Content-Type-Options: nosniff", "X-Frame-Options: DENY", "Referrer-Policy:",
                 "Permissions-Policy:"):
        assert any(line.startswith("  " + name) for line in lines), name
    assert "frame-ancestors 'none'" in headers.csp()
    # assets are named by their whole bytes and kept for good; the lookup data is named by its
    # codes, aliases and URLs only (a title edit keeps its name), so hosts must check it each time
    assert lines[lines.index("/assets/*") + 1] == "  Cache-Control: public, max-age=31536000, immutable"
    assert lines[lines.index("/data/*") + 1] == "  Cache-Control: no-cache"
    home = (root / "output/index.html").read_text()
    index = re.search(r'data-index="([^"]+)"', home).group(1)
    assert index.startswith("data/notices-data.") and (root / "output" / index).is_file()
    # The header policy is the page policy plus what only a header can carry.
    assert headers.csp().startswith(headers.csp(meta=True))
