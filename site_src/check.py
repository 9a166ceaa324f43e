"""Stage 4, check: read every generated page (beautifulsoup4) before anything is published.

Every internal href/src must resolve to a generated file and every #fragment to an id on its
target; each page needs one <h1>, a <title>, a meta description and `lang`; images need alt;
every page must be reachable from the home page. Problems name the output file and line and
the source file that produced it.
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from .diagnostics import Diagnostic, ERROR, WARNING


@dataclass
class PageFacts:
    """What the checks need from one HTML file; small, so it can be cached per page."""

    ids: set[str] = field(default_factory=set)
    links: list[tuple[str, int]] = field(default_factory=list)
    """(href or src, line) of every internal reference."""
    problems: list[tuple[int, str]] = field(default_factory=list)
    """(line, message) of problems found within the page itself."""


def _internal(url: str) -> bool:
    if not url or url.startswith(("mailto:", "tel:", "data:")):
        return False
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc


def read_page(html: bytes | str) -> PageFacts:
    from bs4 import BeautifulSoup  # imported here: most builds read pages with page_facts.py and never need it

    soup = BeautifulSoup(html, "html.parser")
    facts = PageFacts()
    for tag in soup.find_all(id=True):
        facts.ids.add(tag["id"])
    for tag in soup.find_all(attrs={"name": True}):
        if tag.name == "a":
            facts.ids.add(tag["name"])
    for tag in soup.find_all(["a", "link", "script", "img", "source", "iframe", "area"]):
        for attr in ("href", "src"):
            value = tag.get(attr)
            if value is not None and _internal(value.strip()):
                facts.links.append((value.strip(), tag.sourceline or 0))
    h1s = soup.find_all("h1")
    if len(h1s) != 1:
        facts.problems.append((h1s[1].sourceline if len(h1s) > 1 else 0,
                               f"the page has {len(h1s)} <h1> headings; it needs exactly one"))
    title = soup.find("title")
    if title is None or not title.get_text(strip=True):
        facts.problems.append((0, "the page has no <title>"))
    desc = soup.find("meta", attrs={"name": "description"})
    if desc is None or not (desc.get("content") or "").strip():
        facts.problems.append((0, "the page has no meta description"))
    html_tag = soup.find("html")
    if html_tag is None or not html_tag.get("lang"):
        facts.problems.append((html_tag.sourceline if html_tag else 0, "<html> has no lang attribute"))
    for img in soup.find_all("img"):
        if img.get("alt") is None:
            facts.problems.append((img.sourceline or 0, f"image '{img.get('src', '')}' has no alt text"))
    return facts


def target_of(page_path: str, url: str) -> tuple[str, str]:
    """The output file a link from `page_path` points at, and its fragment."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if not path:
        target = page_path
    else:
        base = posixpath.dirname(page_path)
        target = posixpath.normpath(posixpath.join(base, path)) if not path.startswith("/") else path.lstrip("/")
        if path.endswith("/") or target in (".", ""):
            target = posixpath.join(target, "index.html") if target not in (".", "") else "index.html"
    return target, unquote(parts.fragment)


_SIMPLE_URL = re.compile(r"[A-Za-z0-9._~#-][A-Za-z0-9._~/#-]*")
"""URLs `fast_target_of` resolves itself: no scheme, query, escapes, spaces or leading slash."""


def fast_target_of(page_dir: str, page_path: str, url: str) -> tuple[str, str]:
    """`target_of(page_path, url)` without urlsplit/normpath for the plain relative links that make
    up nearly all of a site's links (checking 6000 pages resolves ~400k of them); anything else
    goes to `target_of`. Same answer either way (tests/test_check.py)."""
    if not _SIMPLE_URL.fullmatch(url):
        return target_of(page_path, url)
    path, _, frag = url.partition("#")
    if not path:
        return page_path, frag
    parts = page_dir.split("/") if page_dir else []
    for seg in path.split("/"):
        if seg == "" or seg == ".":
            continue
        if seg == ".." and parts and parts[-1] != "..":
            parts.pop()
        else:
            parts.append(seg)
    target = "/".join(parts)
    if path.endswith("/") or not target:
        target = target + "/index.html" if target else "index.html"
    return target, frag


def check_site(files: dict[str, bytes], sources: dict[str, str], *, base_path: str = "/",
               facts: dict[str, PageFacts] | None = None,
               links_memo: dict[str, tuple[PageFacts, str, list]] | None = None) -> list[Diagnostic]:
    """Check every HTML file in `files`. `sources` maps output paths to the content file behind them.

    `links_memo` (the dev server's memory) keeps each page's resolved links between calls, keyed by
    its facts object: a page rendered again gets new facts, so only its links are resolved again."""
    html_paths = sorted(p for p in files if p.endswith(".html"))
    facts = dict(facts or {})
    for path in html_paths:
        if path not in facts:
            facts[path] = read_page(files[path])
    out: list[Diagnostic] = []

    def report(path: str, line: int, message: str, severity: str = ERROR, code: str = "") -> None:
        src = sources.get(path)
        hint = f"page made from {src}" if src else ""
        out.append(Diagnostic(f"output/{path}", line, severity, message, hint, code))

    resolved: dict[str, list[tuple[str, int, str, str]]] = {}
    old_memo = dict(links_memo or {})
    for path in html_paths:
        seen = old_memo.get(path)
        if seen is not None and seen[0] is facts[path] and seen[1] == base_path:
            resolved[path] = seen[2]
            continue
        page_dir = posixpath.dirname(path)
        resolved[path] = [(url, line, *fast_target_of(page_dir, path, url))
                          for url, line in ((_site_relative(u, base_path), ln) for u, ln in facts[path].links)]
    if links_memo is not None:
        links_memo.clear()
        links_memo.update((path, (facts[path], base_path, resolved[path])) for path in html_paths)

    for path in html_paths:
        page = facts[path]
        for line, message in page.problems:
            report(path, line, message, code="html-structure")
        for url, line, target, frag in resolved[path]:
            if target not in files:
                report(path, line, f"link '{url}' points to a file that is not generated", code="link-broken")
                continue
            if frag and target.endswith(".html") and frag not in facts[target].ids:
                report(path, line, f"link '{url}' points to '#{frag}', which is not an id on "
                                   f"{target}", code="link-fragment")

    if "index.html" in facts:
        seen = {"index.html"}
        queue = deque(["index.html"])
        while queue:
            path = queue.popleft()
            for _url, _line, target, _frag in resolved[path]:
                if target in facts and target not in seen:
                    seen.add(target)
                    queue.append(target)
        for path in html_paths:
            if path not in seen and path != "404.html" and not _is_redirect(files[path]):
                report(path, 0, "no link leads here from the home page", WARNING, "page-unreachable")
    return out


def _site_relative(url: str, base_path: str) -> str:
    """'/repo/notices/' -> '/notices/' when the site is published under /repo/ (GitHub project pages)."""
    if base_path != "/" and url.startswith(base_path):
        return url[len(base_path) - 1:]
    return url


def _is_redirect(html: bytes) -> bool:
    return b'http-equiv="refresh"' in html[:2000]
