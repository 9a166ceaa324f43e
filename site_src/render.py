"""Stage 3, render: the resolved site to HTML and data files, in memory (`{output path: bytes}`).

Jinja2 runs with autoescape on and StrictUndefined, so a template typo is an error, and every
front-matter string is escaped wherever it lands (HTML, attributes, JSON-LD, JSON).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from . import markdown
from .config import SiteConfig
from .diagnostics import Diagnostic, ERROR
from .model import GUIDE, HOME, NOTICE, Link, Page, Site, fold

TEMPLATES = {NOTICE: "notice.html", GUIDE: "guide.html", HOME: "home.html"}
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


class TemplateProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.text())
        self.diagnostic = diagnostic


@dataclass
class Assets:
    """Static files under content-hashed names, so a publish never serves stale CSS or JS."""

    files: dict[str, bytes] = field(default_factory=dict)
    """Output path -> bytes."""
    urls: dict[str, str] = field(default_factory=dict)
    """Source name ('css/site.css') -> site-relative output path ('assets/site.1a2b3c4d.css')."""


def collect_assets(static_dir: Path) -> Assets:
    assets = Assets()
    if not static_dir.is_dir():
        return assets
    for path in sorted(p for p in static_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        rel = path.relative_to(static_dir).as_posix()
        digest = hashlib.sha256(data).hexdigest()[:10]
        stem, dot, ext = rel.rpartition(".")
        out = f"assets/{stem}.{digest}.{ext}" if dot else f"assets/{rel}.{digest}"
        assets.files[out] = data
        assets.urls[rel] = out
    return assets


def make_env(template_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["jsonld"] = jsonld
    env.filters["longdate"] = lambda d: f"{d:%B} {d.day}, {d.year}" if d else ""
    return env


def jsonld(data) -> str:
    """JSON for a <script type="application/ld+json"> block: no '<', '>' or '&' can break out."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return jinja2.utils.markupsafe.Markup(text)


def plain(text: str, limit: int = 160) -> str:
    """Markdown or HTML to one plain line for meta descriptions."""
    flat = _SPACE.sub(" ", _TAGS.sub("", markdown.render(text))).strip()
    flat = flat.replace("&amp;", "&").replace("&quot;", '"').replace("&#x27;", "'").replace("&lt;", "<") \
        .replace("&gt;", ">")
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def relative(from_url: str, to_url: str) -> str:
    """A link from page `from_url` ('notices/cp504/') to `to_url` (a site path), working from file:// too."""
    if to_url.startswith(("http://", "https://", "mailto:", "tel:", "#")):
        return to_url
    base = from_url if from_url.endswith("/") or not from_url else posixpath.dirname(from_url) + "/"
    frag = ""
    if "#" in to_url:
        to_url, frag = to_url.split("#", 1)
        frag = "#" + frag
    rel = posixpath.relpath("/" + (to_url or ""), "/" + base) if to_url or base else "."
    if (to_url.endswith("/") or to_url == "") and not rel.endswith("/"):
        rel += "/"
    if rel == "./":
        rel = "./"
    return rel + frag


class Renderer:
    """Holds what every page render shares: config, graph, templates, assets."""

    def __init__(self, site: Site, config: SiteConfig, template_dir: Path, assets: Assets):
        self.site = site
        self.config = config
        self.env = make_env(template_dir)
        self.assets = assets
        self.template_dir = template_dir

    # -- helpers -----------------------------------------------------------------------------
    def link(self, key: str, from_url: str) -> Link:
        page = self.site.pages[key]
        return Link(page.key, page.kind, page.title, page.summary, relative(from_url, page.url))

    def resolve_target(self, target: str, from_url: str) -> tuple[str, str] | None:
        key = self.site.index.get(fold(target))
        if key is None:
            return None
        page = self.site.pages[key]
        return relative(from_url, page.url), page.title

    def md(self, text: str, page: Page) -> str:
        text = markdown.expand_crosslinks(text, lambda t: self.resolve_target(t, page.url))
        return markdown.render(text, self.config.allow_html)

    def asset(self, name: str, from_url: str) -> str:
        return relative(from_url, self.assets.urls[name])

    def canonical(self, page_url: str) -> str:
        return self.config.base_url + page_url

    def breadcrumbs(self, page: Page) -> list[tuple[str, str]]:
        crumbs = [("Notice Help Center", "")]
        if page.kind == NOTICE:
            cat = next((c for c in self.config.categories if c.id == page.category), None)
            crumbs.append(("Notices", "#notices") if cat is None else (cat.title, "#cat-" + cat.id))
        elif page.kind == GUIDE:
            crumbs.append(("Guides", "#guides"))
        if page.kind != HOME:
            crumbs.append((page.key if page.kind == NOTICE else page.title, page.url))
        return crumbs

    # -- pages -------------------------------------------------------------------------------
    def context(self, page: Page) -> dict:
        url = page.url
        rel = self.site.relations.get(page.key)

        def links(keys: list[str]) -> list[Link]:
            return [self.link(k, url) for k in keys]

        groups = []
        if rel is not None:
            groups = [(title, links(keys)) for title, keys in (
                ("Previous step", rel.previous), ("Next step", rel.next), ("Similar notices", rel.similar),
                ("Related", rel.related), ("Pages that mention this one", rel.referenced_by)) if keys]
        sequence = None
        if page.key in self.site.stage_of:
            seq_no, stage_no = self.site.stage_of[page.key]
            sequence = {
                "stages": [[self.link(k, url) for k in stage] for stage in self.site.sequences[seq_no]],
                "current": stage_no,
            }
        crumbs = self.breadcrumbs(page)
        crumb_ld = {
            "@context": "https://schema.org", "@type": "BreadcrumbList",
            "itemListElement": [
                {"@type": "ListItem", "position": i + 1, "name": name,
                 "item": self.canonical(target if not target.startswith("#") else "" + target)}
                for i, (name, target) in enumerate(crumbs)],
        }
        faqs = [{"question": f.question, "answer_html": self.md(f.answer, page)} for f in page.faqs]
        ld = [crumb_ld]
        if faqs:
            ld.append({
                "@context": "https://schema.org", "@type": "FAQPage",
                "mainEntity": [{"@type": "Question", "name": f.question,
                                "acceptedAnswer": {"@type": "Answer", "text": plain(f.answer, 10_000)}}
                               for f in page.faqs]})
        return {
            "site": self.config,
            "firm": self.config.firm,
            "page": page,
            "url": url,
            "root": relative(url, ""),
            "canonical": self.canonical(url),
            "description": page.summary or plain(page.quick_answer or page.body),
            "quick_answer_html": self.md(page.quick_answer, page) if page.quick_answer else "",
            "body_html": self.md(page.body, page),
            "faqs": faqs,
            "groups": groups,
            "sequence": sequence,
            "breadcrumbs": [(name, relative(url, t) if not t.startswith("#") else relative(url, "") + t)
                            for name, t in crumbs],
            "jsonld": ld,
            "asset": lambda name: self.asset(name, url),
            "link_to": lambda key: self.link(key, url),
            "has_page": lambda key: key in self.site.pages,
            "site_graph": self.site,
            "categories": self.config.categories,
            "notices_by_category": self.notices_by_category(url) if page.kind == HOME else [],
            "guides": [self.link(g.key, url) for g in self.site.guides] if page.kind == HOME else [],
            "sequences": [[[self.link(k, url) for k in stage] for stage in seq] for seq in self.site.sequences]
            if page.kind == HOME else [],
        }

    def notices_by_category(self, from_url: str) -> list[tuple]:
        grouped = []
        for cat in self.config.categories:
            notices = [self.link(p.key, from_url) for p in self.site.notices if p.category == cat.id]
            if notices:
                grouped.append((cat, notices))
        return grouped

    def render_template(self, name: str, context: dict, source_path: str) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(Diagnostic(f"templates/{exc.name or name}", exc.lineno or 0, ERROR,
                                             f"template syntax error: {exc.message}", "", "template")) from None
        except jinja2.TemplateNotFound as exc:
            raise TemplateProblem(Diagnostic(f"templates/{exc.name}", 0, ERROR, "template not found",
                                             f"needed to render {source_path}", "template")) from None
        except jinja2.UndefinedError as exc:
            tname, line = _template_frame(exc, self.template_dir)
            raise TemplateProblem(Diagnostic(tname or f"templates/{name}", line, ERROR,
                                             f"template error: {exc.message} (rendering {source_path})", "",
                                             "template")) from None

    def render_page(self, page: Page) -> bytes:
        return self.render_template(TEMPLATES[page.kind], self.context(page), page.path).encode("utf-8")


def _template_frame(exc: BaseException, template_dir: Path) -> tuple[str, int]:
    """The template file and line an exception was raised from, read from the traceback."""
    tb = exc.__traceback__
    found = ("", 0)
    root = str(template_dir.resolve())
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(root):
            found = ("templates/" + Path(filename).resolve().relative_to(root).as_posix(), tb.tb_lineno)
        tb = tb.tb_next
    return found


def catalogue(site: Site) -> bytes:
    """notices.json: every notice with its aliases, deadline and resolved relationships."""
    items = []
    for page in site.notices:
        rel = site.relations[page.key]
        d = page.deadline
        items.append({
            "code": page.key,
            "aliases": page.aliases,
            "keys": sorted({fold(page.key), *(fold(a) for a in page.aliases)}),
            "title": page.title,
            "summary": page.summary,
            "url": page.url,
            "category": page.category,
            "deadline": None if d is None else {
                "days": d.days, "days_abroad": d.days_abroad, "from": d.start, "action": d.action,
                "basis": d.basis, "if_missed": d.if_missed, "late_option": d.late_option},
            "previous": rel.previous, "next": rel.next, "similar": rel.similar,
            "related": rel.related, "referenced_by": rel.referenced_by,
            "updated": page.updated.isoformat() if page.updated else None,
        })
    text = json.dumps({"notices": items}, ensure_ascii=False, sort_keys=True, indent=1)
    return (text.replace("</", "<\\/") + "\n").encode("utf-8")


def render_site(site: Site, config: SiteConfig, template_dir: Path, static_dir: Path
                ) -> tuple[dict[str, bytes], dict[str, str], list[Diagnostic]]:
    """Render every page and data file. Returns (files, output path -> source path, diagnostics)."""
    assets = collect_assets(static_dir)
    renderer = Renderer(site, config, template_dir, assets)
    files: dict[str, bytes] = dict(assets.files)
    sources: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for page in site.pages.values():
        try:
            files[page.output_path] = renderer.render_page(page)
            sources[page.output_path] = page.path
        except TemplateProblem as exc:
            if exc.diagnostic not in problems:
                problems.append(exc.diagnostic)
    files["notices.json"] = catalogue(site)
    return files, sources, problems
