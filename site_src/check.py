"""Stage 4, check: read every generated page (beautifulsoup4) before anything is published.

Every internal href/src must resolve to a generated file and every #fragment to an id on its
target; each page needs one <h1>, a <title>, a meta description and `lang`; images need alt;
every page must be reachable from the home page. Problems name the output file and line and
the source file that produced it.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections import deque
from collections.abc import Mapping
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
    redirect: bool = False
    """A meta-refresh redirect (an alias's page): exempt from the reachability check."""


def _internal(url: str) -> bool:
    if not url or url.startswith(("mailto:", "tel:", "data:")):
        return False
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc


def read_page(html: bytes | str) -> PageFacts:
    from bs4 import BeautifulSoup  # imported here: most builds read pages with page_facts.py and never need it

    soup = BeautifulSoup(html, "html.parser")
    facts = PageFacts(redirect=is_redirect(html))
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


def check_site(files: Mapping[str, bytes], sources: dict[str, str], *, base_path: str = "/",
               facts: dict[str, PageFacts] | None = None,
               links_memo: dict[str, tuple[PageFacts, str, list]] | None = None) -> list[Diagnostic]:
    """Check every HTML file in `files`. `sources` maps output paths to the content file behind them.

    `links_memo` (the dev server's memory) keeps each page's resolved links between calls, keyed by
    its facts object: a page rendered again gets new facts, so only its links are resolved again."""
    return check_site_incremental(files, sources, base_path=base_path, facts=facts, links_memo=links_memo)[0]


@dataclass
class PageCheck:
    """One page's part of a site check, kept so the next check redoes only the pages that changed."""

    digest: str
    """Hash of the page's bytes."""
    source: str
    """The content file it is made from, as its problems name it."""
    ids: str
    """Hash of its ids (what links to it with a #fragment depend on)."""
    targets: str
    """The generated HTML files it links to (for the reachability walk), one per line."""
    fragment_targets: str
    """The files it links to with a #fragment (their ids matter to it), one per line."""
    others: str
    """The other files its links point to (assets, data, missing pages), one per line: whether
    they exist matters to it."""
    redirect: bool
    diagnostics: list[Diagnostic]


@dataclass
class CheckMemo:
    """What a site check leaves for the next one (`check_site_incremental`)."""

    base_path: str
    """Another base path changes where every link points: the next check starts over."""
    pages: dict[str, PageCheck]
    warnings: list[Diagnostic]
    others: frozenset[str] = frozenset()
    """The output files that are not pages: one added or gone is checked again only by the pages
    linking to it (a title edit renames the lookup data, which no page links to)."""


def check_site_incremental(files: Mapping[str, bytes], sources: dict[str, str], *, base_path: str = "/",
                           facts: dict[str, PageFacts] | None = None,
                           links_memo: dict[str, tuple[PageFacts, str, list]] | None = None,
                           digests: dict[str, str] | None = None,
                           memo: CheckMemo | None = None) -> tuple[list[Diagnostic], CheckMemo | None]:
    """`check_site`, redoing only the pages that changed since `memo` was made (`digests`:
    output path -> a hash of the page, the same whenever its check would be), those made from
    another source file, those linking to a page or file added or gone and those linking to an id
    of a changed page; the reachability walk runs again only when a page is added or gone, or a
    changed page links elsewhere, stops or starts being a redirect or names another source.
    Same diagnostics, same order as a full check (tested).
    Pages missing from `facts` are read and added to it; it is only looked up by key, so it may
    be a mapping that makes each value when first asked (`pipeline.LazyFacts`).
    Returns the diagnostics and the memo for the next call (None without `digests`)."""
    html_paths = sorted(p for p in files if p.endswith(".html"))
    facts = {} if facts is None else facts  # not copied: it may unpickle its values on lookup
    for path in html_paths:
        if path not in facts:
            facts[path] = read_page(files[path])
    others = frozenset(p for p in files if not p.endswith(".html"))
    reuse = memo is not None and digests is not None and memo.base_path == base_path
    old = memo.pages if reuse else {}
    changed = [p for p in html_paths if p not in old or old[p].digest != digests[p]
               or old[p].source != sources.get(p, "")] if reuse else html_paths
    moved_files = (others ^ memo.others) | (old.keys() ^ set(html_paths)) if reuse else set()
    if moved_files:  # a page or file added or gone: checked again by the pages linking to it
        again = set(changed)
        changed = [p for p in html_paths if p in again or not moved_files.isdisjoint(old[p].others.split("\n"))
                   or not moved_files.isdisjoint(old[p].targets.split("\n"))]
    if reuse:
        moved_ids = {p for p in changed if p in old and old[p].ids != _ids_digest(facts[p])}
        if moved_ids:
            again = set(changed)
            changed = [p for p in html_paths if p in moved_ids or p in again
                       or not moved_ids.isdisjoint(old[p].fragment_targets.split("\n"))]
    if links_memo is None:  # each page's links resolved as it is checked, then let go (~300k at 4000 notices)
        upward: dict[tuple[str, str], tuple[str, str]] = {}

        def links_of(path: str) -> list:
            return resolve_links(path, facts[path].links, base_path, upward)
    else:
        resolved = _resolved_links(changed, facts, base_path, links_memo, full=not reuse)
        links_of = resolved.__getitem__
    pages = {p: old[p] for p in html_paths if p in old}
    for path in changed:
        pages[path] = _page_check(path, files, sources, facts, links_of(path),
                                  digests.get(path, "") if digests is not None else "")
    walk = not reuse or bool(old.keys() ^ pages.keys()) or any(
        pages[p].targets != old[p].targets or pages[p].redirect != old[p].redirect or pages[p].source != old[p].source
        for p in changed)
    warnings = _unreachable(html_paths, pages, sources) if walk else memo.warnings
    out = [d for path in html_paths for d in pages[path].diagnostics] + warnings
    return out, (CheckMemo(base_path, pages, warnings, others) if digests is not None else None)


def _resolved_links(paths: list[str], facts: dict[str, PageFacts], base_path: str,
                    links_memo: dict[str, tuple[PageFacts, str, list]], full: bool) -> dict[str, list]:
    """(url, line, target file, fragment) of every internal link of each page in `paths`;
    `links_memo` is read, and brought up to date: replaced when `full` (every page), else the
    pages resolved again are put in it and those no longer in `facts` taken out. A page's links
    resolve the same whenever they are the same list (its facts object, or equal links: the
    notice list rendered again for one title holds ~4000 of them)."""
    resolved: dict[str, list[tuple[str, int, str, str]]] = {}
    upward: dict[tuple[str, str], tuple[str, str]] = {}
    for path in paths:
        seen = links_memo.get(path)
        if seen is not None and seen[1] == base_path and (seen[0] is facts[path] or seen[0].links == facts[path].links):
            resolved[path] = seen[2]  # the same links (a page rendered again for a title): resolved the same
            continue
        resolved[path] = resolve_links(path, facts[path].links, base_path, upward)
    if full:
        links_memo.clear()
    else:
        for path in [p for p in links_memo if p not in facts]:
            del links_memo[path]
    links_memo.update((path, (facts[path], base_path, resolved[path])) for path in paths)
    return resolved


def resolve_links(path: str, links: list[tuple[str, int]], base_path: str,
                  upward: dict[tuple[str, str], tuple[str, str]]) -> list[tuple[str, int, str, str]]:
    """(url, line, target file, fragment) of each of a page's internal `links`. A link that starts
    with '../' from a page in a folder leads to the same file from every page beside it (a notice's
    links to the stylesheet, the home page, its neighbours): resolved once per parent folder and
    kept in `upward`, which a whole check shares (5916 pages, ~300k links: 0.30 s -> 0.18 s)."""
    page_dir = posixpath.dirname(path)
    parent = posixpath.dirname(page_dir)
    out = []
    for url, line in links:
        if base_path != "/":
            url = _site_relative(url, base_path)
        if page_dir and url.startswith("../"):
            found = upward.get((parent, url))
            if found is None:
                found = upward[(parent, url)] = fast_target_of(page_dir, path, url)
        else:
            found = fast_target_of(page_dir, path, url)
        out.append((url, line, *found))
    return out


def _page_check(path: str, files: Mapping[str, bytes], sources: dict[str, str], facts: dict[str, PageFacts],
                resolved: list, digest: str) -> PageCheck:
    """The problems of one page: its own structure, and each link to a missing file or id."""
    out: list[Diagnostic] = []
    for line, message in facts[path].problems:
        out.append(_diagnostic(sources, path, line, message, ERROR, "html-structure"))
    targets: dict[str, None] = {}
    fragment_targets: dict[str, None] = {}
    others: dict[str, None] = {}
    for url, line, target, frag in resolved:
        if target not in facts:
            others[target] = None
        if target not in files:
            out.append(_diagnostic(sources, path, line, f"link '{url}' points to a file that is not generated",
                                   ERROR, "link-broken"))
            continue
        if target in facts:
            targets[target] = None
        if frag and target.endswith(".html"):
            fragment_targets[target] = None
            if frag not in facts[target].ids:
                out.append(_diagnostic(sources, path, line, f"link '{url}' points to '#{frag}', which is not an id "
                                                            f"on {target}", ERROR, "link-fragment"))
    return PageCheck(digest, sources.get(path, ""), _ids_digest(facts[path]), "\n".join(targets),
                     "\n".join(fragment_targets), "\n".join(others), facts[path].redirect, out)


def _ids_digest(facts: PageFacts) -> str:
    return hashlib.blake2b("\n".join(sorted(facts.ids)).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _unreachable(html_paths: list[str], pages: dict[str, PageCheck], sources: dict[str, str]) -> list[Diagnostic]:
    """A warning for every page no chain of links leads to from the home page (but 404 and redirects)."""
    if "index.html" not in pages:
        return []
    seen = {"index.html"}
    queue = deque(["index.html"])
    while queue:
        for target in pages[queue.popleft()].targets.split("\n"):
            if target and target not in seen:
                seen.add(target)
                queue.append(target)
    return [_diagnostic(sources, path, 0, "no link leads here from the home page", WARNING, "page-unreachable")
            for path in html_paths if path not in seen and path != "404.html" and not pages[path].redirect]


def _diagnostic(sources: dict[str, str], path: str, line: int, message: str, severity: str, code: str) -> Diagnostic:
    src = sources.get(path)
    return Diagnostic(f"output/{path}", line, severity, message, f"page made from {src}" if src else "", code)


def _site_relative(url: str, base_path: str) -> str:
    """'/repo/notices/' -> '/notices/' when the site is published under /repo/ (GitHub project pages)."""
    if base_path != "/" and url.startswith(base_path):
        return url[len(base_path) - 1:]
    return url


def is_redirect(html: bytes | str) -> bool:
    return (b'http-equiv="refresh"' if isinstance(html, bytes) else 'http-equiv="refresh"') in html[:2000]
