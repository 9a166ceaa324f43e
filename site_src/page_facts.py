"""A fast reader of `PageFacts` for the HTML this generator writes; `check.read_page` stays the reference.

`check.read_page` builds a whole BeautifulSoup tree (html.parser) to collect ids, internal links
and a few structural problems: about 10 ms a page, 40 s at 4000 notices, the slowest stage of
the build. The pages we generate are regular (autoescaped templates, Markdown with raw HTML
off), so one regular-expression pass over the tags gives the same facts in a tenth of a
millisecond. The scanner follows html.parser's rules for what it handles, and gives up
(returns None, so the caller uses `read_page`) on anything it is not sure to read the same
way: a stray `<`, odd attribute syntax, a repeated attribute, markup inside <title>, a
non-UTF-8 page. Tests compare both readers on the bundled site, the synthetic corpus and
crafted edge cases.

If `check.read_page` changes (a new check), the fast reader switches itself off until it is
taught the same rule (see `READ_PAGE_FINGERPRINT`), so a new check is never silently skipped.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import zlib
from functools import lru_cache
from html import unescape

from . import check
from .check import PageFacts

READ_PAGE_FINGERPRINT = "f31b3f99233ee97b"
"""Hash of the source of `check.read_page` and `PageFacts` this reader was written against."""

_LINK_TAGS = frozenset(["a", "link", "script", "img", "source", "iframe", "area"])
_CDATA = ("script", "style")
_CDATA_END = {t: re.compile(r"</\s*%s\s*>" % t, re.I) for t in _CDATA}
_WS = r"[ \t\n\r\f]"
"""html.parser's separators are `\\s`; keeping to ASCII whitespace makes a stray U+00A0 a reason to give up."""
_VALUE = rf"(?:{_WS}*={_WS}*(?:\"[^\"<]*\"|'[^'<]*'|[^\s\"'=<>`]+))?"
_ATTRS = rf"(?:{_WS}+[a-zA-Z_:][-a-zA-Z0-9_:.]*{_VALUE})*"
_NO_ID_ATTRS = rf"(?:{_WS}+(?![iI][dD](?![-a-zA-Z0-9_:.]))[a-zA-Z_:][-a-zA-Z0-9_:.]*{_VALUE})*"
"""Attributes none of which is named 'id': such a tag of an element we read nothing else from
holds no fact (html.parser's reader takes ids only from an attribute named id)."""
_START = re.compile(rf"<([a-zA-Z][a-zA-Z0-9]*)({_ATTRS}){_WS}*(/?)>")
_ATTR = re.compile(rf"{_WS}+([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:{_WS}*={_WS}*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'=<>`]+)))?")
_END = re.compile(rf"</([a-zA-Z][a-zA-Z0-9]*){_WS}*>")
_COMMENT = r"<!--.*?--\s*>"  # html.parser ends a comment at the first --\s*>
_FACT_TAGS = _LINK_TAGS | {"h1", "title", "meta", "html", "img"}
_SKIP = (r"(?:[^<]++"
         rf"|</[a-zA-Z][a-zA-Z0-9]*{_WS}*>"
         rf"|{_COMMENT}"
         r"|(?i:<!DOCTYPE[^<>]*>)"
         rf"|<(?!(?i:{'|'.join(sorted(_FACT_TAGS))})[\s/>])[a-zA-Z][a-zA-Z0-9]*{_NO_ID_ATTRS}{_WS}*/?>"
         r")*+")
_PLAIN_A = r'<a href="([^"<&]*)">'
"""A link with nothing but a plain address: most of a page's tags, read without `_attrs`."""
_PLAIN_H = r'<h[2-6] id="([^"<&]*)">'
"""A heading below h1 with nothing but a plain id (every section heading)."""
_TOKEN = re.compile(_SKIP + "(?:" + _PLAIN_A + "|" + _PLAIN_H + "|" + _START.pattern + "|<|\\Z)", re.S)
"""One match per start tag that may hold a fact, per stray '<', and one at the end. The regular
expression engine itself steps over text, end tags, comments, the doctype and the start tags of
other elements that have no id attribute (possessively, so it never backtracks); what it yields
is a plain link (group 1: its address), a plain heading (group 2: its id), another start tag
(groups 3-5), or, with no group, a '<' that is not a plain tag, comment or doctype (the match
ends with it) or the end of the text: `Match.lastindex` tells which. The end must be a match:
without it the search would step over the text after the last start tag again from each of its
characters in turn, quadratic in its length (160 KB of plain text took 3.6 s)."""
_TAG_GROUP = 3
_UTF8_DECL = re.compile(rb"<meta\s+charset=[\"']?utf-8[\"']?\s*/?>", re.I)


def fingerprint() -> str:
    text = inspect.getsource(check.read_page) + inspect.getsource(check.PageFacts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def enabled() -> bool:
    """True while `check.read_page` is the version this reader reproduces."""
    return fingerprint() == READ_PAGE_FINGERPRINT


class _Unsure(Exception):
    pass


def read_page_fast(html: bytes, remember: bool = False) -> PageFacts | None:
    """The same PageFacts as `check.read_page(html)`, or None where this reader cannot be sure.
    `remember`: the page may be read again with small changes (the dev server): a long one is
    read in remembered stretches (`CHUNKED_FROM`)."""
    if not enabled():
        return None
    try:
        return _scan(html, remember)
    except (_Unsure, UnicodeDecodeError):
        return None


def read_page(html: bytes, remember: bool = False) -> PageFacts:
    """Fast where possible, else the reference reader."""
    facts = read_page_fast(html, remember)
    return facts if facts is not None else check.read_page(html)


_internal_memo = lru_cache(maxsize=1 << 16)(check._internal)
"""Pages repeat the same few thousand link targets (assets, neighbours); urlsplit is slow."""


def _internal(url: str) -> bool:
    """`check._internal(url)`. A relative address that starts with a letter, digit, '.', '#' or '?'
    and has no ':' has no scheme and no host whatever urlsplit strips, so it needs no parse: the
    pages listing every notice hold thousands of them, each seen once."""
    if url and ":" not in url and (url[0].isalnum() or url[0] in ".#?"):
        return True
    return _internal_memo(url)


@lru_cache(maxsize=256)
def _attrs(text: str) -> dict[str, str]:
    """A start tag's attributes (callers only read the dict). Remembered: most such tags are the
    same in every page (the head's meta and link tags, the header's), so a few hundred kept are
    enough: ~0.05 ms of a notice page's ~1.3 ms of render and facts. (4096 kept held ~3 MiB in
    each render worker.)"""
    out: dict[str, str] = {}
    for name, double, single, bare in _ATTR.findall(text):
        name = name.lower()
        if name in out:
            raise _Unsure  # bs4 keeps the last one; rare enough to leave to the reference reader
        value = double or single or bare  # an attribute without a value reads as ""
        out[name] = unescape(value) if "&" in value else value
    return out


class _Part:
    """What one stretch of a page holds, its lines counted from 1 at its start."""

    __slots__ = ("ids", "links", "h1_lines", "title", "desc", "html", "img_problems", "newlines")

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.links: list[tuple[str, int]] = []
        self.h1_lines: list[int] = []
        self.title: str | None = None
        self.desc: str | None = None
        self.html: tuple[int, str] | None = None
        """(line, lang) of the first <html> tag."""
        self.img_problems: list[tuple[int, str]] = []
        self.newlines = 0


_UNREADABLE = "\0unreadable <title>"
"""A part's first <title> whose text this reader cannot be sure of (markup in it, or no end)."""

CHUNKED_FROM = 64 * 1024
"""Pages at least this long, read with `remember`, are read in stretches, each remembered
(`_PARTS`): a page listing every notice, rendered again in the dev server for one changed title,
is read again only where it changed (20 ms -> 3 ms at 4000 notices). Not for a command-line build,
which reads each page once: cutting, and remembering, would only cost (cutting every page made
a cold build's render 12% slower)."""
_CHUNK_START = re.compile(r"\n(?=[ \t]*<[a-zA-Z])[^\n]*")
"""A line that starts with a start tag (after spaces): where a stretch may begin."""
CHUNK_EVERY = 32
"""About one such line in CHUNK_EVERY begins a stretch, chosen by a checksum of its text (not
its position, and the same in every process), so a changed line moves no other stretch's ends."""
_PARTS: dict[str, _Part] = {}
"""Stretch text -> what it holds, for this process (a function of the text alone, so it holds
across builds and generations); emptied past `PARTS_CHARS`."""
PARTS_CHARS = 16 * 1024 * 1024
_parts_chars = 0


def forget_parts() -> None:
    """Empty the remembered stretches."""
    global _parts_chars
    _PARTS.clear()
    _parts_chars = 0


def _chunks(text: str) -> list[str]:
    """`text` cut before lines that start with a start tag. Where the page has no comment (the
    caller's condition), every '<' in a page this reader accepts opens a tag or a doctype: no cut
    falls inside a tag, inside <script> or <title> text (no '<' there), or before an end tag, so
    each stretch reads the same on its own as within the page (tested on whole sites and
    generated pages). This rests on `_VALUE` refusing '<' inside an attribute value (html.parser
    accepts `title="a<b"`; this reader gives up on it): allow that and a cut could fall inside a
    tag."""
    cuts = [m.start() + 1 for m in _CHUNK_START.finditer(text)
            if zlib.crc32(m.group().encode()) % CHUNK_EVERY == 0]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def _part(chunk: str) -> _Part:
    global _parts_chars
    found = _PARTS.get(chunk)
    if found is None:
        found = _scan_part(chunk)
        if _parts_chars + len(chunk) > PARTS_CHARS:
            forget_parts()
        _PARTS[chunk] = found
        _parts_chars += len(chunk)
    return found


def _scan(raw: bytes, remember: bool = False) -> PageFacts:
    if raw.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        raise _Unsure
    if not raw.isascii() and not _UTF8_DECL.search(raw[:2048]):
        raise _Unsure  # bs4 would guess the encoding; leave that to it
    text = raw.decode("utf-8")
    if remember and len(text) >= CHUNKED_FROM and "<!--" not in text:
        parts = [_part(chunk) for chunk in _chunks(text)]
    else:
        parts = [_scan_part(text)]
    facts = PageFacts(redirect=check.is_redirect(raw))
    ids, links = facts.ids, facts.links
    h1_lines: list[int] = []
    title_text: str | None = None
    desc: str | None = None
    html_at: tuple[int, str] | None = None
    img_problems: list[tuple[int, str]] = []
    offset = 0
    for part in parts:
        ids |= part.ids
        if offset:
            links += [(value, line + offset) for value, line in part.links]
            h1_lines += [line + offset for line in part.h1_lines]
            img_problems += [(line + offset, msg) for line, msg in part.img_problems]
        else:
            links += part.links
            h1_lines += part.h1_lines
            img_problems += part.img_problems
        if title_text is None:
            if part.title is _UNREADABLE:
                raise _Unsure
            title_text = part.title
        if desc is None:
            desc = part.desc
        if html_at is None and part.html is not None:
            html_at = (part.html[0] + offset, part.html[1])
        offset += part.newlines
    if title_text is not None and "&" in title_text:
        title_text = unescape(title_text)
    if len(h1_lines) != 1:
        facts.problems.append((h1_lines[1] if len(h1_lines) > 1 else 0,
                               f"the page has {len(h1_lines)} <h1> headings; it needs exactly one"))
    if title_text is None or not title_text.strip():
        facts.problems.append((0, "the page has no <title>"))
    if desc is None or not desc.strip():
        facts.problems.append((0, "the page has no meta description"))
    if html_at is None or not html_at[1]:
        facts.problems.append((html_at[0] if html_at is not None else 0, "<html> has no lang attribute"))
    facts.problems.extend(img_problems)
    return facts


def _scan_part(text: str) -> _Part:
    """The facts in `text` (a page, or a stretch of one cut by `_chunks`), lines from 1."""
    part = _Part()
    ids, links, h1_lines, img_problems = part.ids, part.links, part.h1_lines, part.img_problems
    line, counted = 1, 0
    internal = _internal
    skip_to = 0
    for m in _TOKEN.finditer(text):
        which = m.lastindex
        if which is None:
            if m.end() == len(text) and not m.group().endswith("<"):
                break  # the end of the text
            raise _Unsure  # a '<' that is not a plain tag, comment or doctype
        if which < _TAG_GROUP:  # a plain link or heading: what the general path below would do
            i = m.start(which) - (9 if which == 1 else 8)  # the '<': len('<a href="'), len('<h2 id="')
            if i < skip_to:
                continue
            value = m.group(which)
            if which == 2:
                ids.add(value)
                continue
            value = value.strip()
            if internal(value):
                line += text.count("\n", counted, i)
                counted = i
                links.append((value, line))
            continue
        i = m.start(_TAG_GROUP) - 1
        if i < skip_to:
            continue  # inside <script> raw text (checked below to hold no '<')
        tag = m.group(_TAG_GROUP).lower()
        attr_text = m.group(_TAG_GROUP + 1)
        wanted = tag in _FACT_TAGS
        if not attr_text:
            if not wanted:
                continue
            attrs = {}
        elif wanted or "id" in attr_text or "ID" in attr_text or "Id" in attr_text or "iD" in attr_text:
            attrs = _attrs(attr_text)
        else:
            continue
        line += text.count("\n", counted, i)
        counted = i
        if "id" in attrs:
            ids.add(attrs["id"])
        if not wanted:
            continue
        if tag == "a" and "name" in attrs:
            ids.add(attrs["name"])
        if tag in _LINK_TAGS:
            for attr in ("href", "src"):
                value = attrs.get(attr)
                if value is not None and internal(value.strip()):
                    links.append((value.strip(), line))
        if tag == "h1":
            h1_lines.append(line)
        elif tag == "title" and part.title is None:
            end = text.find("</", m.end())
            close = _END.match(text, end) if end >= 0 else None
            if (close is None or close.group(1).lower() != "title" or "<" in text[m.end():end]
                    or m.group(_TAG_GROUP + 2)):  # `<title/>`: an empty element to html.parser
                part.title = _UNREADABLE  # unsure, if it is the page's first <title>
            else:
                part.title = text[m.end():end]
        elif tag == "meta" and part.desc is None and attrs.get("name") == "description":
            part.desc = attrs.get("content") or ""
        elif tag == "html" and part.html is None:
            part.html = (line, attrs.get("lang", ""))
        elif tag == "img" and "alt" not in attrs:
            img_problems.append((line, f"image '{attrs.get('src', '')}' has no alt text"))
        if tag in _CDATA and not m.group(_TAG_GROUP + 2):
            close = _CDATA_END[tag].search(text, m.end())
            if close is None or "<" in text[m.end():close.start()]:
                raise _Unsure
            skip_to = close.start()
    part.newlines = text.count("\n")
    return part
