"""`python build.py graph [--dot]`: the relationship graph as a report for editors.

Lists orphan notices (no other page names them), notices with no related resources at all, and
the collection sequences; `--dot` prints the same graph for Graphviz. Pure functions over the
resolved `Site`; only `cmd_graph` runs the build and prints.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import FORMATTERS
from .model import HOME, NOTICE, Site, fold
from .pipeline import BuildOptions, build

EDGE_KINDS = ("follows", "similar", "related", "body")
"""What a writer wrote that links one page to another: front-matter lists and [[links]] in the text."""


@dataclass
class GraphReport:
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    """(from key, to key, kind) for every reference a writer wrote, in site order, once each."""
    orphans: list[str] = field(default_factory=list)
    """Notices that no other page names (the home page's lists do not count)."""
    unrelated: list[str] = field(default_factory=list)
    """Notices whose page shows no related resources: no previous or next step, similar, related or mentions."""
    sequences: list[list[list[str]]] = field(default_factory=list)


def written_edges(site: Site) -> list[tuple[str, str, str]]:
    edges: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for page in site.pages.values():
        if page.kind == HOME:
            continue
        for kind, refs in (("follows", page.follows), ("similar", page.similar), ("related", page.related),
                           ("body", page.body_refs)):
            for ref in refs:
                target = site.index.get(fold(ref.target))
                edge = (page.key, target, kind)
                if target is None or target == page.key or edge in seen:
                    continue
                seen.add(edge)
                edges.append(edge)
    return edges


def analyse(site: Site) -> GraphReport:
    edges = written_edges(site)
    named = {target for _, target, _ in edges}
    orphans = [p.key for p in site.notices if p.key not in named]
    unrelated = []
    for page in site.notices:
        r = site.relations.get(page.key)
        if r is None or not (r.previous or r.next or r.similar or r.related or r.referenced_by):
            unrelated.append(page.key)
    return GraphReport(edges, orphans, unrelated, site.sequences)


def format_text(site: Site, report: GraphReport) -> str:
    notices, guides = len(site.notices), len(site.guides)
    out = [f"{notices} notices, {guides} guides, {len(report.edges)} links written between them", ""]

    def block(title: str, keys: list[str], why: str) -> None:
        out.append(f"{title} ({len(keys)})" + (f": {why}" if keys else ""))
        out.extend(f"  {k:<14} {site.pages[k].path}" for k in keys)
        out.append("")

    block("Orphan notices", report.orphans,
          "no other page lists them or links to them; add them to a related page's 'related' or 'follows'")
    block("Notices with no related resources", report.unrelated,
          "their pages show no previous or next step, similar notices or related pages")
    out.append(f"Collection sequences ({len(report.sequences)})")
    for i, seq in enumerate(report.sequences, 1):
        out.append(f"  {i}. " + " → ".join(" | ".join(stage) for stage in seq))
    return "\n".join(out).rstrip("\n") + "\n"


def _dot_id(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def format_dot(site: Site, report: GraphReport) -> str:
    """Graphviz DOT: notices are boxes, guides ellipses; one edge style per kind of reference."""
    styles = {"follows": 'color="#b50909", penwidth=2, label="follows"',
              "similar": 'dir=none, style=dashed, label="similar"',
              "related": 'color="#555555", label="related"',
              "body": 'color="#999999", style=dotted'}
    lines = ["digraph notices {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    orphans = set(report.orphans)
    for page in site.pages.values():
        if page.kind == HOME:
            continue
        shape = "box" if page.kind == NOTICE else "ellipse"
        extra = ', style=filled, fillcolor="#fdf0f0"' if page.key in orphans else ""
        lines.append(f"  {_dot_id(page.key)} [shape={shape}, tooltip={_dot_id(page.title)}{extra}];")
    for src, dst, kind in report.edges:
        # "A follows B" reads as B -> A in the order the letters arrive.
        a, b = (dst, src) if kind == "follows" else (src, dst)
        lines.append(f"  {_dot_id(a)} -> {_dot_id(b)} [{styles[kind]}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def cmd_graph(root: Path, dot: bool = False) -> int:
    result = build(BuildOptions(root=root, write=False, search=False))
    items = result.report.sorted()
    if items:
        sys.stderr.write(FORMATTERS["text"](items))
    if result.site is None:
        print("error: the site could not be loaded; fix the errors above first", file=sys.stderr)
        return 1
    report = analyse(result.site)
    sys.stdout.write(format_dot(result.site, report) if dot else format_text(result.site, report))
    return 1 if result.report.errors else 0
