"""Property-based: random front matter and Markdown into the loader and the renderer.

The only outcomes allowed are a page or diagnostics (with a line inside the file); never an
uncaught exception. Examples are kept few enough that the module runs in well under a minute.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, PROJECT
from site_src.config import parse_config
from site_src.diagnostics import ERROR, Diagnostic
from site_src.load import SourceFile, discover, load_page, read_sources
from site_src.render import render_site
from site_src.resolve import resolve
from site_src.schema import FIELDS_BY_KIND

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RENDER_SETTINGS = settings(SETTINGS, max_examples=60)
"""Rendering a whole site per example is slower; 60 keep the module under about 20 s."""

# Text that exercises Markdown, YAML and HTML edge cases more often than plain letters would.
SPECIAL = list("[]()<>*_`#-!|:\"'&;/\\{}%@=\t\n ") + ["[[", "]]", "---", "```", "</script>", "javascript:",
                                                       "\u2028", "\ufeff", "\r\n", "&#0;", "\x00", "é"]
text = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(max_size=6)), max_size=25).map("".join)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**30, max_value=10**30),
                    st.floats(allow_nan=True), text, st.dates(min_value=dt.date(1, 1, 1)))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(text, inner, max_size=4)), max_leaves=12)

VALID = {
    "notice": {"code": "CP777", "title": "CP777: A notice", "summary": "S.", "category": "collection",
               "quick_answer": "Q.", "deadline": {"days": 30, "from": "the date", "action": "A", "basis": "B"},
               "faqs": [{"question": "Q?", "answer": "A."}],
               "sources": [{"title": "IRS", "url": "https://www.irs.gov/"}], "related": ["CP14"]},
    "guide": {"id": "random-guide", "title": "A guide", "summary": "S.", "related": ["CP14"]},
    "home": {"title": "Home", "summary": "S."},
}
KIND_PATHS = {"notice": "content/notices/cp777.md", "guide": "content/guides/random-guide.md",
              "home": "content/index.md"}


@st.composite
def front_matter(draw, kind: str) -> dict:
    """A valid page with some keys replaced, removed or added: close enough to pass sometimes."""
    data = dict(VALID[kind])
    names = [f.name for f in FIELDS_BY_KIND[kind]] + ["unknown", "deadline"]
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(names))
        action = draw(st.sampled_from(["replace", "remove", "text"]))
        if action == "remove":
            data.pop(name, None)
        else:
            data[name] = draw(values if action == "replace" else text)
    return data


def page_bytes(data: dict | str, body: str) -> bytes:
    fm = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return f"---\n{fm}---\n{body}".encode("utf-8", "surrogatepass")


def check_outcome(src: SourceFile, page, problems: list[Diagnostic]) -> None:
    assert isinstance(problems, list) and all(isinstance(d, Diagnostic) for d in problems)
    if page is None:
        assert any(d.severity == ERROR for d in problems), "a page was refused without saying why"
    lines = len(re.split(rb"\r\n|\r|\n", src.raw))  # a lone CR ends a line too
    for d in problems:
        assert d.path == src.path
        assert 0 <= d.line <= lines, d.text()
        assert "\n" not in d.message


kinds = st.sampled_from(["notice", "guide", "home"])


@SETTINGS
@given(kind=kinds, data=st.data(), body=text)
def test_loader_gives_a_page_or_diagnostics(kind, data, body):
    fm = data.draw(st.one_of(front_matter(kind), text))
    src = SourceFile(KIND_PATHS[kind], kind, page_bytes(fm, body))
    page, problems = load_page(src)
    check_outcome(src, page, problems)


@SETTINGS
@given(kind=kinds, raw=st.binary(max_size=300))
def test_loader_survives_arbitrary_bytes(kind, raw):
    for blob in (raw, b"---\n" + raw, b"---\n" + raw + b"\n---\n"):
        src = SourceFile(KIND_PATHS[kind], kind, blob)
        check_outcome(src, *load_page(src))


@given(text=st.text(st.one_of(st.sampled_from("\x01\x08\x0b\x0c\x0e\x1f\x7f\x80\x85\r\n\t\ufeff\x00é"),
                               st.characters()), max_size=60))
def test_a_control_character_is_found_from_the_bytes_as_from_the_text(text):
    """`load.decode` looks for control characters in the file's bytes first (`_CONTROL_BYTES`):
    a file's text holds one exactly when its UTF-8 bytes do, and the same one is reported."""
    from site_src.load import _CONTROL, decode

    decoded, problems = decode("p.md", text.encode("utf-8", "surrogatepass"))
    if "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return  # a NUL is reported as such; a lone surrogate is not UTF-8 at all
    normal = (text[1:] if text.startswith("\ufeff") else text).replace("\r\n", "\n").replace("\r", "\n")
    bad = _CONTROL.search(normal)
    assert (decoded is None) == bool(bad)
    if bad:
        assert [d.message for d in problems] == [f"the file contains a control character (U+{ord(bad.group()):04X}); "
                                                 "delete it"]


@lru_cache(maxsize=1)
def fixture_site():
    root = FIXTURES / "mini"
    config, problems = parse_config((root / "site.toml").read_text(encoding="utf-8"))
    assert config is not None, problems
    listing, _ = discover(root)
    pages = [load_page(src)[0] for src in read_sources(root, listing)]
    return config, [p for p in pages if p is not None]


@RENDER_SETTINGS
@given(kind=kinds, data=st.data(), body=text)
def test_renderer_gives_pages_or_diagnostics(kind, data, body):
    src = SourceFile(KIND_PATHS[kind], kind, page_bytes(data.draw(front_matter(kind)), body))
    page, problems = load_page(src)
    check_outcome(src, page, problems)
    if page is None:
        return
    config, pages = fixture_site()
    others = [p for p in pages if p.path != page.path]
    site, problems = resolve([*others, page], config)
    files, _, render_problems = render_site(site, config, PROJECT / "templates", PROJECT / "static")
    assert all(isinstance(d, Diagnostic) for d in problems + render_problems)
    if not problems and not render_problems:
        assert page.output_path in files
        html = files[page.output_path].decode("utf-8")
        assert "<script>" not in body or "<script>" not in html.split("</head>", 1)[-1].replace(
            '<script type="application/ld+json">', "")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab&<>\"'\n\r\t é")), max_size=20))
def test_feed_escaping_is_the_standard_librarys(value):
    """feeds.py escapes with its own copies of xml.sax.saxutils.escape and quoteattr (that module
    imports urllib.request and http.client on the way in); they must give the same text."""
    from xml.sax.saxutils import escape, quoteattr

    from site_src import feeds

    assert feeds.escape(value) == escape(value)
    assert feeds.quoteattr(value) == quoteattr(value)
