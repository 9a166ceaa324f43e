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

from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin

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
        if "[[" not in line:
            out.append(line)
            continue
        pieces, last = [], 0
        for span in _CODE_SPAN.finditer(line):
            pieces.append(CROSSLINK.sub(lambda mm: on_match(mm, i), line[last:span.start()]))
            pieces.append(span.group(0))
            last = span.end()
        pieces.append(CROSSLINK.sub(lambda mm: on_match(mm, i), line[last:]))
        out.append("".join(pieces))
    return "\n".join(out)


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


@lru_cache(maxsize=2)
def make_parser(allow_html: bool = False) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": allow_html, "typographer": False})
    md.enable("table")
    md.use(anchors_plugin, min_level=2, max_level=3)
    md.validateLink = _validate_link  # type: ignore[method-assign]
    return md


def render(text: str, allow_html: bool = False) -> str:
    return make_parser(allow_html).render(text)

