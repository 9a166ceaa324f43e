"""Site-check problems moved to where the writer can fix them: the content file and its line.

The cross-page checks (`check.py`) read the generated HTML, so they find a broken link at a line
of `output/notices/cp14/index.html`. The writer wrote it in `content/notices/cp14.md`: this stage
finds the line of the content file that holds the link's address, reports the problem there (the
output file and line go into the hint), and, for a link to a page that does not exist, names the
closest page that does ("did you mean '../cp2000/'?"). A problem it cannot place stays as it was.
"""

from __future__ import annotations

import bisect
import re
from typing import Callable, Iterable

from .diagnostics import Diagnostic, did_you_mean
from .render import relative

_LINK_MESSAGE = re.compile(r"^link '(.*)' points to ")
PLACED = ("link-broken", "link-fragment")


def locate(items: Iterable[Diagnostic], sources: dict[str, str], outputs: Iterable[str],
           read: Callable[[str], str | None]) -> list[Diagnostic]:
    """`items` with each link problem of a page made from a content file moved to that file.

    `sources` maps output paths to content paths, `outputs` lists every generated file, `read`
    gives a content file's text (None if it cannot be read)."""
    items = list(items)
    found = [_LINK_MESSAGE.match(d.message) if d.code in PLACED and d.path.startswith("output/") else None
             for d in items]
    wanted: dict[str, set[str]] = {}
    for d, match in zip(items, found):
        src = sources.get(d.path[len("output/"):])
        if match is not None and src:
            wanted.setdefault(src, set()).add(match.group(1))
    pages = None
    finders: dict[str, _Lines] = {}
    closest: dict[tuple[str, str], str] = {}
    out = []
    for d, match in zip(items, found):
        out_path = d.path[len("output/"):]
        src = sources.get(out_path)
        if match is None or not src:
            out.append(d)
            continue
        if src not in finders:
            finders[src] = _Lines(read(src) or "", wanted[src])
        url = match.group(1)
        line = finders[src].line(url)
        if not line:
            out.append(d)
            continue
        hint = ""
        if d.code == "link-broken":
            if pages is None:
                pages = sorted(p for p in outputs if p.endswith(".html"))
            if (out_path, url) not in closest:
                closest[(out_path, url)] = _closest(out_path, url, pages)
            hint = closest[(out_path, url)]
        where = f"seen in {d.path}:{d.line}" if d.line else f"seen in {d.path}"
        out.append(Diagnostic(src, line, d.severity, d.message, f"{hint} {where}" if hint else where, d.code))
    return out


_FORMS = (("](", ""), ("](<", ">"), ("]: ", ""), ('"', '"'))
"""Where a link address is written, in the order they are looked for: `](url`, `](<url>`,
`]: url`, `"url"`; failing all, the address anywhere in the text."""


class _Lines:
    """`_line_of(text, url)` for all of a file's problem addresses at once: one pass over the text
    per form, not one search of the whole text per address and form (a file with K broken links
    took K times the file's length: 16.9 s for 800 KB). Same answers (tested)."""

    BARE_SEARCHES = 200
    """Searches of the whole text for an address written in no link form (rare: most such
    addresses are links the templates made, which the text does not hold at all); past them,
    such an address stays where the check found it, in the output file."""

    def __init__(self, text: str, urls: set[str]):
        self.text = text
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.first: list[dict[str, int]] = []
        self.bare = self.BARE_SEARCHES
        urls = {u for u in urls if u}
        for head, tail in _FORMS:
            needles = {u + tail for u in urls}
            lengths = sorted({len(n) for n in needles})
            seen: dict[str, int] = {}
            at = text.find(head) if needles else -1
            while at >= 0 and len(seen) < len(needles):
                start = at + len(head)
                for length in lengths:
                    candidate = text[start:start + length]
                    if candidate in needles and candidate not in seen:
                        seen[candidate] = at
                at = text.find(head, at + 1)
            self.first.append({n[:len(n) - len(tail)]: pos for n, pos in seen.items()})

    def line(self, url: str) -> int:
        if not self.text or not url:
            return 0
        for first in self.first:
            if url in first:
                return bisect.bisect_right(self.newlines, first[url]) + 1
        if self.bare <= 0:
            return 0
        self.bare -= 1
        at = self.text.find(url)
        return bisect.bisect_right(self.newlines, at) + 1 if at >= 0 else 0


def _line_of(text: str | None, url: str) -> int:
    """The 1-based line that holds `url` as a link address (else as any text), 0 if none does:
    the plain rule `_Lines` follows."""
    if not text or not url:
        return 0
    for pattern in (f"]({url}", f"](<{url}>", f"]: {url}", f'"{url}"', url):
        at = text.find(pattern)
        if at >= 0:
            return text.count("\n", 0, at) + 1
    return 0


def url_of(path: str) -> str:
    """The site path a reader sees for an output file: 'notices/cp14/index.html' -> 'notices/cp14/'."""
    if path == "index.html":
        return ""
    return path[: -len("index.html")] if path.endswith("/index.html") else path


def _closest(page: str, url: str, pages: list[str]) -> str:
    """"did you mean '../cp2000/'?" for a link whose last segment is close to an existing page's
    beside the one it points to (same folder), in the form the writer would write from `page`."""
    target = _resolve(url_of(page), url)
    if target is None:
        return ""
    parent, _, name = target.rstrip("/").rpartition("/")
    prefix = parent + "/" if parent else ""
    siblings = {}
    for p in pages:
        site_path = url_of(p)
        if site_path.startswith(prefix):
            rest = site_path[len(prefix):].rstrip("/")
            if rest and "/" not in rest:
                siblings[rest] = relative(url_of(page), site_path)
    return did_you_mean(name, siblings, labels=siblings) if name else ""


def _resolve(page_url: str, url: str) -> str | None:
    """The site path `url` leads to from `page_url`, or None for anything but a plain relative path."""
    url = url.split("#", 1)[0].split("?", 1)[0]
    if not url or url.startswith("/") or ":" in url:
        return None
    parts = [p for p in page_url.split("/")[:-1] if p]
    for seg in url.split("/"):
        if seg == "..":
            if not parts:
                return None
            parts.pop()
        elif seg and seg != ".":
            parts.append(seg)
    return "/".join(parts) + ("/" if url.endswith("/") else "")
