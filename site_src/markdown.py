"""Markdown for pages: markdown-it-py (CommonMark + tables + heading anchors) and `[[CODE]]` cross-links.

Cross-links are expanded to ordinary Markdown links before parsing, so the parser sees plain
CommonMark and any CommonMark renderer gives the same HTML. They are found outside fenced code
blocks and inline code spans only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from html import unescape

from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.anchors.index import slugify

from .schema import SAFE_URL

CROSSLINK = re.compile(r"\[\[([^\[\]|\n]+?)(?:\|([^\[\]\n]+?))?\]\]")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~&])")


@dataclass(frozen=True)
class CrossLink:
    target: str
    text: str | None
    line: int
    """0-based line within the Markdown text."""


def _scan(text: str, on_match: Callable[[re.Match, int], str]) -> str:
    """Apply `on_match` to every cross-link outside code; return the rewritten text."""
    if "[[" not in text:
        return text
    if "`" not in text and "~" not in text:  # no code at all: one pass (a link never spans lines)
        counted = [0, 0]  # offset counted up to, newlines before it: each match counts on from the last

        def at_line(m: re.Match) -> str:
            counted[1] += text.count("\n", counted[0], m.start())
            counted[0] = m.start()
            return on_match(m, counted[1])

        return CROSSLINK.sub(at_line, text)
    if "```" not in text and "~~~" not in text:  # no fences: only the lines with a link need work
        out, last, line_no = [], 0, 0
        for m in _LINE_WITH_LINK.finditer(text):
            line_no += text.count("\n", last, m.start())
            out += (text[last:m.start()], _scan_line(m.group(), line_no, on_match))
            last = m.end()
        out.append(text[last:])
        return "".join(out)
    out: list[str] = []
    fence: str | None = None
    for i, line in enumerate(text.split("\n")):
        m = _FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            out.append(line)
            continue
        if m:
            fence = m.group(1)
            out.append(line)
            continue
        out.append(_scan_line(line, i, on_match) if "[[" in line else line)
    return "\n".join(out)


_LINE_WITH_LINK = re.compile(r"^[^\n]*\[\[[^\n]*", re.M)


def _scan_line(line: str, i: int, on_match: Callable[[re.Match, int], str]) -> str:
    """One line outside fenced code: cross-links between its code spans."""
    if "`" not in line:
        return CROSSLINK.sub(lambda mm: on_match(mm, i), line)
    pieces, last = [], 0
    for start, end in code_spans(line):
        pieces.append(CROSSLINK.sub(lambda mm: on_match(mm, i), line[last:start]))
        pieces.append(line[start:end])
        last = end
    pieces.append(CROSSLINK.sub(lambda mm: on_match(mm, i), line[last:]))
    return "".join(pieces)


_BACKTICKS = re.compile(r"`+")
_SINGLE_SPAN = re.compile(r"`[^`]+`")


def code_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each match of `_CODE_SPAN.finditer(line)` (a line: no newline), in linear
    time. The expression itself backtracks over every opening length and retries inside each run
    of backticks: a line with one run of 8000 took 4.4 s (cubic). Same answers (tested):
    at a run of R backticks with a longest later run of M, the expression keeps the longest
    opening k that closes: k = min(R, M) closing at the first later run at least k long, if
    that is more than (R-1)//2; else k = (R-1)//2 closing inside its own run; else nothing
    starts anywhere in this run."""
    if "``" not in line:  # single backticks only: each pairs with the next (the common case)
        return [m.span() for m in _SINGLE_SPAN.finditer(line)]
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(line)]
    longest_after = [0] * (len(runs) + 1)  # longest_after[i]: the longest run among runs[i:]
    for n in range(len(runs) - 1, -1, -1):
        longest_after[n] = max(runs[n][1] - runs[n][0], longest_after[n + 1])
    spans: list[tuple[int, int]] = []
    n, at = 0, 0
    while n < len(runs):
        start, end = runs[n]
        at = max(at, start)
        own, later = (end - at - 1) // 2, min(end - at, longest_after[n + 1])
        if own < 1 and later < 1:
            n += 1
            continue
        if own >= later:
            spans.append((at, at + 2 * own + 1))
            at += 2 * own + 1
            continue
        close = n + 1
        while runs[close][1] - runs[close][0] < later:
            close += 1
        spans.append((at, runs[close][0] + later))
        at, n = runs[close][0] + later, close
    return spans


def find_crosslinks(text: str) -> list[CrossLink]:
    found: list[CrossLink] = []

    def record(m: re.Match, i: int) -> str:
        found.append(CrossLink(m.group(1).strip(), (m.group(2) or "").strip() or None, i))
        return m.group(0)

    _scan(text, record)
    return found


def escape_text(text: str) -> str:
    """Backslash-escape Markdown punctuation so a title shows as written."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def expand_crosslinks(text: str, resolve: Callable[[str], tuple[str, str] | None]) -> str:
    """Rewrite `[[CODE]]` / `[[CODE|text]]` as Markdown links using `resolve(target) -> (url, title)`.

    Unresolvable targets become plain text (the resolve stage has already reported them).
    """

    def replace(m: re.Match, _i: int) -> str:
        target, label = m.group(1).strip(), (m.group(2) or "").strip()
        hit = resolve(target)
        if hit is None:
            return escape_text(label or target)
        url, title = hit
        return f"[{escape_text(label or title)}](<{url}>)"

    return _scan(text, replace)


def _validate_link(url: str) -> bool:
    return bool(SAFE_URL.match(url.strip()))


_LINK_DEST = re.compile(r"\]\(\s*<?([^\s)>]*)|^ {0,3}\[[^\]\n]+\]:[ \t]*<?(\S*?)>?(?:\s|$)"
                        r"|<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*)>", re.M)


def _looks_unsafe(dest: str) -> bool:
    dest = unescape(dest).replace("\\", "")
    return bool(dest) and not _validate_link(dest)


def unsafe_links(text: str) -> list[tuple[int, str]]:
    """(0-based line, URL) of each link or image whose address is not allowed (javascript:, data:, ...).

    Rendering already drops such links (they show as plain text); this finds them so the writer is
    told. A cheap scan of link-like text comes first; the parser confirms, so code is not reported.
    """
    if "](" not in text and "]:" not in text and "<" not in text:
        return []  # no inline link, reference definition or autolink: nothing to look at
    if not any(_looks_unsafe(next(g for g in m.groups() if g is not None)) for m in _LINK_DEST.finditer(text)):
        return []
    found: list[tuple[int, str]] = []
    tokens = _permissive_parser().parse(text)
    line = 0
    for tok in tokens:
        if tok.map:
            line = tok.map[0]
        for child in tok.children or []:
            url = child.attrs.get("href") if child.type == "link_open" else \
                child.attrs.get("src") if child.type == "image" else None
            if isinstance(url, str) and not _validate_link(url):
                found.append((line, url))
    return found


@lru_cache(maxsize=1)
def _permissive_parser() -> MarkdownIt:
    """The page parser, but keeping every link, so `unsafe_links` can see what would be dropped."""
    md = MarkdownIt("commonmark", {"html": False})
    md.enable("table")
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    return md


@lru_cache(maxsize=2)
def make_parser(allow_html: bool = False) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": allow_html, "typographer": False})
    md.enable("table")
    md.use(anchors_plugin, min_level=2, max_level=3)
    md.core.ruler.before("anchor", "heading_ids", _heading_ids)
    md.validateLink = _validate_link  # type: ignore[method-assign]
    return md


def _heading_ids(state) -> None:
    """The ids the anchors plugin would give <h2>/<h3>, given first through `_Slugs` (the plugin
    keeps ids already set): its own search for a free `slug-N` starts from 1 every time, which
    is quadratic in a heading's repeats (tested: the same HTML as the plugin alone)."""
    slugs = _Slugs()
    for idx, token in enumerate(state.tokens):
        if token.type == "heading_open" and token.tag in ("h2", "h3") and not token.attrGet("id"):
            title = "".join(child.content for child in state.tokens[idx + 1].children or ()
                            if child.type in ("text", "code_inline"))
            token.attrSet("id", slugs.unique(slugify(title)))


def render(text: str, allow_html: bool = False) -> str:
    return make_parser(allow_html).render(text)



# -- Fast path: markdown-it-pyrs ---------------------------------------------------------------
# markdown-it-pyrs is the Rust port of the same parser; it renders ~15x faster. markdown-it-py
# above stays the reference: the fast path is used only for text where it is known to give the
# same bytes, and tests/test_fast_paths.py compares both over the bundled and synthetic content.
# What differs, and how it is bridged:
# * raw HTML: pyrs's "commonmark" turns it on, so its parser is built rule by rule without it;
# * heading ids: added here to <h2>/<h3> with the anchors plugin's own slugify and unique_slug rule (`_Slugs`), from
#   the heading's text (tags dropped, entities decoded: the plugin's text + code_inline content);
#   a heading spanning lines (softbreak) goes to the reference instead;
# * link validation: ours (SAFE_URL) only accepts a subset of what pyrs's default accepts, so if
#   every href/src pyrs wrote passes ours, both made the same links; otherwise, or when the text
#   has a reference definition (validated but not visible in the HTML), the reference renders it.

USE_PYRS = True
"""The switch: False renders everything with markdown-it-py (the reference)."""

_PYRS_RULES = ["blockquote", "code", "fence", "heading", "hr", "lheading", "list", "paragraph", "reference",
               "autolink", "backticks", "emphasis", "entity", "escape", "image", "link", "newline", "table"]
_HEADING = re.compile(r"<h([23])>(.*?)</h\1>", re.S)
_TAG = re.compile(r"<[^>]*>")
_ATTR_VALUE = re.compile(r'="([^"]*)"')
"""Every attribute value in HTML that markdown-it writes (a '"' in text or in a value is written
as '&quot;', so '="' only ever starts a value). It starts with a literal, which the regular
expression engine finds fast: `\\s(?:href|src)="..."` tried a match at each character (~26 µs
of a notice body's ~100 µs)."""


@lru_cache(maxsize=1)
def _pyrs_parser():
    try:
        import markdown_it_pyrs
    except ImportError:
        return None
    md = markdown_it_pyrs.MarkdownIt("zero")
    md.enable_many(_PYRS_RULES)
    return md


EMPHASIS_LIMIT = 5000
"""Emphasis markers ('*', '_') in one block (text between blank lines) above which the reference
renders: markdown-it-pyrs 0.4 takes time quadratic in them (160 KB of `a *b* ` in one paragraph:
2.4 s; markdown-it-py: linear). Real pages hold a few dozen."""
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _dense_emphasis(text: str) -> bool:
    if text.count("*") + text.count("_") <= EMPHASIS_LIMIT:
        return False
    return any(block.count("*") + block.count("_") > EMPHASIS_LIMIT for block in _BLANK_LINE.split(text))


def render_fast(text: str, allow_html: bool = False) -> str | None:
    """The same HTML as `render(text)`, via markdown-it-pyrs; None where that is not certain (or,
    for `_dense_emphasis`, not fast)."""
    if allow_html or "]:" in text or _dense_emphasis(text):
        return None
    md = _pyrs_parser()
    if md is None:
        return None
    try:
        html = md.render(text)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - a Rust panic surfaces as a BaseException; the reference renders
        return None
    for m in _ATTR_VALUE.finditer(html):
        at = m.start()
        if (html.startswith("href", at - 4) and html[at - 5].isspace()
                or html.startswith("src", at - 3) and html[at - 4].isspace()) and not _written_url_ok(m.group(1)):
            return None
    if "<h2>" not in html and "<h3>" not in html:
        return html
    slugs = _Slugs()
    unsure = False

    def add_id(m: re.Match) -> str:
        nonlocal unsure
        inner = m.group(2)
        if "\n" in inner:
            unsure = True
            return m.group(0)
        slug = slugs.unique(_heading_slug(inner))
        return f'<h{m.group(1)} id="{escape_attr(slug)}">{inner}</h{m.group(1)}>'

    html = _HEADING.sub(add_id, html)
    return None if unsure else html


@lru_cache(maxsize=1 << 14)
def _written_url_ok(written: str) -> bool:
    """Whether an address as pyrs wrote it into an attribute passes `_validate_link`. Pages repeat
    the same addresses (their neighbours' cross-links), so each is tested once per process."""
    return _validate_link(unescape(written))


@lru_cache(maxsize=1 << 14)
def _heading_slug(inner: str) -> str:
    """The anchors plugin's slug of a heading from its HTML (tags dropped, entities decoded);
    notices repeat the same section headings."""
    return slugify(unescape(_TAG.sub("", inner)))


class _Slugs:
    """The anchors plugin's `unique_slug(slug, taken)`, remembering for each slug where its search
    for a free `slug-N` stopped: the plugin starts again from 1, so a page repeating one heading k
    times took k²/2 steps (160 KB of `## a` took 46 s). Slugs are only ever added, so every N
    below the remembered one is still taken, and the answers are the plugin's (tested)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.next: dict[str, int] = {}

    def unique(self, slug: str) -> str:
        uniq, i = slug, self.next.get(slug, 1)
        if uniq in self.taken:
            uniq, i = f"{slug}-{i}", i + 1
            while uniq in self.taken:
                uniq, i = f"{slug}-{i}", i + 1
            self.next[slug] = i
        self.taken.add(uniq)
        return uniq


def escape_attr(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_auto(text: str, allow_html: bool = False) -> str:
    """What pages use: the fast path where it applies (and USE_PYRS is on), else the reference."""
    if USE_PYRS:
        html = render_fast(text, allow_html)
        if html is not None:
            return html
    return render(text, allow_html)
