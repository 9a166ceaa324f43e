"""Stage 3, render: the resolved site to HTML and data files, in memory (`{output path: bytes}`).

Jinja2 runs with autoescape on and StrictUndefined, so a template typo is an error, and every
front-matter string is escaped wherever it lands (HTML, attributes, JSON-LD, JSON).
"""

from __future__ import annotations

import hashlib
import html
import json
import operator
import posixpath
import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress, count
from pathlib import Path
from typing import Any, Callable

import jinja2

from . import deadlines, feeds, headers, markdown
from .cache import KIND_ATTR, ReadLog, kind_log, pages_of_kind, read_link, read_ref, unwrap
from .config import SiteConfig
from .diagnostics import Diagnostic, ERROR
from .model import GUIDE, HOME, NOTICE, Link, Page, Site, fold, slugify
from .parallel import release_memory
from .spill import Files, Stored

# Pages the site generates itself (no content file): the notice list, search, 404, alias redirects.
LISTING, SEARCH, NOT_FOUND, REDIRECT = "listing", "search", "not-found", "redirect"
TEMPLATES = {NOTICE: "notice.html", GUIDE: "guide.html", HOME: "home.html", LISTING: "notices.html",
             SEARCH: "search.html", NOT_FOUND: "404.html", REDIRECT: "redirect.html"}
NOT_FOUND_URL = "404.html"
LOOKUP_DATA = "js/notices-data.js"
"""The lookup form's index of codes, aliases, URLs and titles (`generated_assets`)."""
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
    paths: dict[str, str] = field(default_factory=dict)
    """Source name -> output path before its hash is put in ('assets/site.css')."""

    def add(self, rel: str, data: bytes) -> None:
        self._put(rel, f"assets/{rel}", data, data)

    def add_keyed(self, rel: str, data: bytes, key: bytes) -> None:
        """A file named by a hash of `key`, a part of what it holds, so its bytes may change under
        the same name: it goes in `headers.KEYED_FOLDER`, which hosts revalidate, not in `assets/`."""
        self._put(rel, f"{headers.KEYED_FOLDER}/{posixpath.basename(rel)}", data, key)

    def versioned(self, rel: str, version: str) -> str:
        """`rel`'s output path with `version` where its hash goes."""
        path = self.paths[rel]
        stem, dot, ext = path.rpartition(".")
        return f"{stem}.{version}.{ext}" if dot and "/" not in ext else f"{path}.{version}"

    def _put(self, rel: str, path: str, data: bytes, key: bytes) -> None:
        self.paths[rel] = path
        self.urls[rel] = out = self.versioned(rel, hashlib.sha256(key).hexdigest()[:10])
        self.files[out] = data


def collect_assets(static_dir: Path) -> Assets:
    assets = Assets()
    if not static_dir.is_dir():
        return assets
    for path in sorted(p for p in static_dir.rglob("*") if p.is_file()):
        assets.add(path.relative_to(static_dir).as_posix(), path.read_bytes())
    return assets


def generated_assets(site: Site, assets: Assets,
                     holidays: Callable[[range], dict] = deadlines.legal_holidays,
                     memo: dict[str, tuple] | None = None) -> None:
    """Data the browser scripts need, made at build time: the lookup index (every code, folded
    alias, URL and title; named by all but the titles) and the legal-holiday table for the calculator.
    `holidays` lets the pipeline hand in a cached table (computing it costs a slow import); `memo`
    (the dev server's) keeps each notice's row by the page object it was made from, and the
    files made from the last rows (the same rows: the same files). With the memo each row's JSON
    is kept too, and a title edit, which changes the lookup data but not its name, encodes one
    row and keeps the file without titles (~7 ms a title edit at 4000 notices)."""
    last_rows: dict[str, tuple] = memo.get("rows", {}) if memo is not None else {}
    rows, seen = [], {}
    for p in site.notices:
        p = unwrap(p)
        last = last_rows.get(p.key)
        if last is not None and last[0] is p:
            seen[p.key] = last
            rows.append(last[1])
            continue
        row = [p.key, p.title, p.url, sorted({fold(p.key), *(fold(a) for a in p.aliases)})]
        rows.append(row)
        seen[p.key] = (p, row, _lookup_json(row) if memo is not None else "")

    made = memo.get("files") if memo is not None else None
    if made is None or made[0] != rows:
        # named by the file without its titles (`headers.KEYED_FOLDER`): a new format renames it too
        untitled = [[key, "", url, folds] for key, _title, url, folds in rows]
        titled = _lookup_json(rows) if memo is None else "[" + ",".join(seen[row[0]][2] for row in rows) + "]"
        same_name = made is not None and made[3] == untitled  # only titles changed: the same key
        made = (rows, _lookup_script(titled), made[2] if same_name else _lookup_script(_lookup_json(untitled)),
                untitled)
    if memo is not None:
        memo["rows"], memo["files"] = seen, made
    assets.add_keyed(LOOKUP_DATA, made[1], made[2])
    years = deadlines.build_years(p.updated for p in site.pages.values())
    assets.add("js/holidays.js", deadlines.holidays_script(holidays(years), years))


def _lookup_json(value: list) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("</", "<\\/")


def _lookup_script(rows_json: str) -> bytes:
    """The lookup data file around the JSON of its rows (each row's JSON joined by ',' is the
    JSON of the list: no spaces, and a '</' cannot span two rows, each of which starts with '[')."""
    return f"window.NHC_NOTICES={rows_json};\n".encode("ascii")


def make_env(template_dir: Path, bytecode_dir: Path | None = None) -> jinja2.Environment:
    """The templates' environment. `bytecode_dir` keeps compiled templates between processes
    (Jinja2's own cache, keyed by each template's name, path and source): compiling them is
    ~0.1 s of a build that renders only a page or two."""
    bytecode = None
    if bytecode_dir is not None:
        try:
            bytecode_dir.mkdir(parents=True, exist_ok=True)
            bytecode = _BytecodeCache(str(bytecode_dir))
        except OSError:
            bytecode = None  # an unwritable cache folder only costs speed
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        bytecode_cache=bytecode,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # one environment per build: no need to stat every template on every page
    )
    env.filters["jsonld"] = jsonld
    env.globals["csp"] = jinja2.utils.markupsafe.Markup(headers.csp(meta=True))  # our constant, no quotes
    env.filters["longdate"] = lambda d: f"{d:%B} {d.day}, {d.year}" if d else ""
    return env


MENTIONS_SHOWN = 30
"""How many of the pages that mention a page its "Pages that mention this one" group lists; the
rest are counted, with a link to the notice list. A guide that every notice links to would
otherwise list them all (4000 notices: a 0.8 MB page, and rendered again for any of their
titles); the written groups (previous, next, similar, related) are always shown whole."""


HOME_PER_CATEGORY = 12
HOME_SEQUENCES = 10
"""How many notices of each category, and how many collection sequences, the home page lists
(and the 404 page, notices only); the rest are counted, with a link to the notice list (which
lists every notice) or, for a sequence, left to the notices in it, whose pages show it. At 4000
notices the home page listing them all was 1 MB, the 404 page 0.27 MB: too heavy for a reader's
phone."""


class ListedPage:
    """A page in a list: its code, kind and URL, and its title, summary and aliases read only when
    the template shows them. In a list of a whole kind (`kind_wide`: every notice, every guide)
    such a read is logged as one for the kind (`cache.KIND_ATTR`), else through the recording
    view of the page (one read per page)."""

    __slots__ = ("key", "kind", "url", "_page", "_log")

    def __init__(self, key: str, kind: str, url: str, page: Page, kind_wide: ReadLog | None = None):
        self.key, self.kind, self.url, self._page, self._log = key, kind, url, page, kind_wide

    def _read(self, name: str):
        if self._log is not None:
            self._log.add(KIND_ATTR, (self.kind, name))
        return getattr(self._page, name)

    @property
    def title(self) -> str:
        return self._read("title")

    @property
    def summary(self) -> str:
        return self._read("summary")

    @property
    def aliases(self) -> list[str]:
        return self._read("aliases")


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja2's cache of compiled templates, where a damaged or unwritable file is no cache (as
    for `.cache/build.sqlite3`): Jinja2 itself lets a truncated file's error through."""

    def load_bytecode(self, bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 - anything wrong with the file: compile afresh
            bucket.reset()

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def jsonld(data) -> str:
    """JSON for a <script type="application/ld+json"> block: no '<', '>' or '&' can break out."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return jinja2.utils.markupsafe.Markup(text)


def plain(text: str, limit: int = 160) -> str:
    """Markdown or HTML to one plain line for meta descriptions."""
    flat = _SPACE.sub(" ", _TAGS.sub("", markdown.render_auto(text))).strip()
    flat = flat.replace("&amp;", "&").replace("&quot;", '"').replace("&#x27;", "'").replace("&lt;", "<") \
        .replace("&gt;", ">")
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rsplit(" ", 1)[0] + "…"


def text_of(html_text: str) -> str:
    """Rendered HTML to plain text (FAQ answers in JSON-LD say what the page shows, links as words)."""
    return html.unescape(_SPACE.sub(" ", _TAGS.sub("", html_text))).strip()


def relative(from_url: str, to_url: str) -> str:
    """A link from page `from_url` ('notices/cp504/') to `to_url` (a site path), working from file:// too."""
    if to_url.startswith(_EXTERNAL):
        return to_url
    cut = from_url.rfind("/", 0, -1) + 1 if from_url.endswith("/") and from_url[0] != "/" else 0
    if cut and "#" not in to_url and to_url[:1] != "/" and not (to_url + "/").startswith(from_url) \
            and not _needs_normalising(from_url):
        # not within the page's own folder: one level up, then as from the folder above, which
        # every page beside it shares (a notice's ~40 links to other notices and the assets)
        rel = _from_folder(from_url[:cut], to_url)
        if rel is not None:
            return rel
    return _relative(from_url, to_url)


@lru_cache(maxsize=1 << 16)
def _from_folder(folder: str, to_url: str) -> str | None:
    """`relative(page, to_url)` for any page in a subfolder of `folder` that `to_url` is not
    within; None where a path has anything to normalise or leads to `folder` itself."""
    if _needs_normalising(to_url):
        return None
    rel = _relative(folder, to_url)
    return "../" + rel if rel[0] != "." or rel.startswith("..") else None


def _relative(from_url: str, to_url: str) -> str:
    base = from_url if from_url.endswith("/") or not from_url else posixpath.dirname(from_url) + "/"
    frag = ""
    if "#" in to_url:
        to_url, frag = to_url.split("#", 1)
        frag = "#" + frag
    rel = _relpath(to_url, base) if to_url or base else "."
    if (to_url.endswith("/") or to_url == "") and not rel.endswith("/"):
        rel += "/"
    return rel + frag


_EXTERNAL = ("http://", "https://", "mailto:", "tel:", "#")


def _relpath(to_url: str, base: str) -> str:
    """`posixpath.relpath("/" + to_url, "/" + base)`, without its normalising: ~250k calls at 4000
    notices, over a few thousand distinct URLs (whose segments are memoised). Paths with anything
    to normalise ('//', '.', '..') go to posixpath itself."""
    if base and to_url.startswith(base) and base[-1] == "/" and not _needs_normalising(to_url):
        return to_url[len(base):].strip("/") or "."  # below the page: the listing pages' thousands of links
    start, path = _segments(base), _segments(to_url)
    if start is None or path is None:
        return posixpath.relpath("/" + to_url, "/" + base)
    i, n = 0, min(len(start), len(path))
    while i < n and start[i] == path[i]:
        i += 1
    parts = [".."] * (len(start) - i) + list(path[i:])
    return "/".join(parts) if parts else "."


@lru_cache(maxsize=1 << 15)
def _segments(url: str) -> tuple[str, ...] | None:
    """The segments of a site path, or None where posixpath has to normalise it."""
    if _needs_normalising(url):
        return None
    stripped = url.strip("/")
    return tuple(stripped.split("/")) if stripped else ()


def _needs_normalising(url: str) -> bool:
    return "//" in url or ("." in url and any(seg in (".", "..") for seg in url.split("/")))


class Renderer:
    """Holds what every page render shares: config, graph, templates, assets.

    Everything here is plain data plus a Jinja2 environment, so a worker process can build its own
    Renderer and `render_page` stays a pure function of the page.
    """

    def __init__(self, site: Site, config: SiteConfig, template_dir: Path, assets: Assets,
                 env: jinja2.Environment | None = None):
        self.site = site
        self.config = config
        self.env = env if env is not None else make_env(template_dir)
        self.assets = assets
        self.template_dir = template_dir
        self.late_swaps: list[tuple[bytes, bytes]] = []
        """(placeholder, real) file names filled into the rendered pages (`LATE_ASSETS`); not
        something a render reads, so not part of what it starts from."""

    # -- helpers -----------------------------------------------------------------------------
    def href(self, from_url: str, to_url: str) -> str:
        """A link between site paths: relative everywhere, except from 404.html, which the server
        shows at any depth and so links from the site's base path."""
        if from_url == NOT_FOUND_URL and not to_url.startswith(_EXTERNAL):
            return self.config.base_path + to_url
        return relative(from_url, to_url)

    def link(self, key: str, from_url: str) -> Link:
        """A link to page `key` showing its code, title and summary (logged as one read)."""
        page = read_link(self.site.pages, key)
        return Link(page.key, page.kind, page.title, page.summary, self.href(from_url, page.url))

    def list_item(self, page: Page, from_url: str) -> ListedPage:
        """`link` for a list of some pages (a sequence on the home page): what the template shows
        of each is what the render is logged to have read of it."""
        real = read_ref(page)
        return ListedPage(real.key, real.kind, self.href(from_url, real.url), page)

    def list_kind(self, kind: str, from_url: str, *attrs: str) -> list[ListedPage]:
        """Every page of `kind`, for a list of them all (every notice, every guide): its reads are
        logged for the kind as a whole (`cache.KIND_ATTR`), `attrs` the ones read here."""
        pages = self.site.pages
        log = kind_log(pages)
        return [ListedPage(p.key, p.kind, self.href(from_url, p.url), p, log)
                for p in pages_of_kind(pages, kind, "url", *attrs)]

    def resolve_target(self, target: str, from_url: str) -> tuple[str, str] | None:
        key = self.site.index.get(fold(target))
        if key is None:
            return None
        page = read_link(self.site.pages, key)  # shows its title: one read, as for `link`
        return self.href(from_url, page.url), page.title

    def md(self, text: str, page: Page) -> str:
        text = markdown.expand_crosslinks(text, lambda t: self.resolve_target(t, page.url))
        return markdown.render_auto(text, self.config.allow_html)

    def asset(self, name: str, from_url: str) -> str:
        return self.href(from_url, self.assets.urls[name])

    def canonical(self, page_url: str) -> str:
        return self.config.base_url + page_url

    def category(self, cat_id: str):
        return next((c for c in self.config.categories if c.id == cat_id), None)

    def breadcrumbs(self, page: Page) -> list[tuple[str, str]]:
        """(name, site path) from the home page down to this page."""
        crumbs = [("Home", "")]
        if page.kind == NOTICE:
            crumbs.append(("Notices", "notices/"))
        elif page.kind == GUIDE:
            crumbs.append(("Guides", "#guides"))
        if page.kind in (NOTICE, GUIDE, SEARCH):
            crumbs.append((page.key if page.kind == NOTICE else page.title, page.url))
        elif page.kind == LISTING:
            crumbs.append(("Notices", page.url))
        return crumbs

    def deadline_summary(self, page: Page) -> str:
        d = page.deadline
        if d is None:
            return "No fixed window"
        if d.days:
            return f"{d.days} days from {d.start}" + (f" ({d.days_abroad} if addressed abroad)" if d.days_abroad else "")
        return "By the date printed on the notice"

    def comparison(self, page: Page, keys: list[str]) -> list[dict]:
        """Rows of the similar-notices table: this notice first, then each similar one."""
        rows = []
        for key in [page.key, *keys]:
            link, other = self.link(key, page.url), self.site.pages[key]
            cat = self.category(other.category)
            rows.append({"link": link, "current": key == page.key,
                         "summary": link.summary, "category": cat.title if cat else other.category,
                         "deadline": self.deadline_summary(other)})
        return rows

    # -- pages -------------------------------------------------------------------------------
    def context(self, page: Page) -> dict:
        url = page.url
        rel = self.site.relations.get(page.key) if page.kind in (NOTICE, GUIDE, HOME) else None

        def links(keys: list[str]) -> list[Link]:
            return [self.link(k, url) for k in keys]

        groups = []
        if rel is not None:
            groups = [(title, links(keys[:shown]), len(keys) - len(keys[:shown])) for title, keys, shown in (
                ("Previous step", rel.previous, None), ("Next step", rel.next, None),
                ("Similar notices", rel.similar, None), ("Related", rel.related, None),
                ("Pages that mention this one", rel.referenced_by, MENTIONS_SHOWN)) if keys]
        sequence = None
        if page.kind == NOTICE and page.key in self.site.stage_of:
            seq_no, stage_no = self.site.stage_of[page.key]
            sequence = {
                "stages": [[self.link(k, url) for k in stage] for stage in self.site.sequences[seq_no]],
                "current": stage_no,
                "previous": links(rel.previous) if rel else [],
                "next": links(rel.next) if rel else [],
            }
        crumbs = self.breadcrumbs(page)
        crumb_ld = {
            "@context": "https://schema.org", "@type": "BreadcrumbList",
            "itemListElement": [
                {"@type": "ListItem", "position": i + 1, "name": name, "item": self.canonical(target)}
                for i, (name, target) in enumerate(crumbs)],
        }
        faqs = [{"question": f.question, "answer_html": self.md(f.answer, page)} for f in page.faqs]
        ld = [crumb_ld]
        faqs_ld = faqs
        if faqs:
            ld.append({
                "@context": "https://schema.org", "@type": "FAQPage",
                "mainEntity": [{"@type": "Question", "name": f["question"],
                                "acceptedAnswer": {"@type": "Answer", "text": text_of(f["answer_html"])}}
                               for f in faqs_ld]})
        deadline_days = bool(page.deadline and page.deadline.days)
        return {
            "site": self.config,
            "firm": self.config.firm,
            "page": page,
            "url": url,
            "root": self.href(url, ""),
            "canonical": self.canonical(url),
            "description": page.summary or plain(page.quick_answer or page.body),
            "quick_answer_html": self.md(page.quick_answer, page) if page.quick_answer else "",
            "body_html": self.md(page.body, page),
            "faqs": faqs,
            "groups": groups,
            "sequence": sequence,
            "comparison": self.comparison(page, rel.similar) if page.kind == NOTICE and rel and rel.similar else [],
            "category": self.category(page.category),
            "calculator": deadline_days,
            "deadline_line": self.deadline_summary(page) if page.kind == NOTICE else "",
            "breadcrumbs": [(name, self.href(url, "") + t if t.startswith("#") else self.href(url, t))
                            for name, t in crumbs],
            "jsonld": ld,
            "asset": lambda name: self.asset(name, url),
            "href": lambda target: self.href(url, target),
            "link_to": lambda key: self.link(key, url),
            "has_page": lambda key: key in self.site.pages,
            "site_graph": self.site,
            "categories": self.config.categories,
            "notices_by_category": self.notices_by_category(url) if page.kind in (HOME, LISTING, NOT_FOUND) else [],
            "guides": self.list_kind(GUIDE, url) if page.kind in (HOME, NOT_FOUND) else [],
            "sequences": [[[self.list_item(self.site.pages[k], url) for k in stage] for stage in seq]
                          for seq in self.site.sequences[:HOME_SEQUENCES]] if page.kind == HOME else [],
            "more_sequences": max(0, len(self.site.sequences) - HOME_SEQUENCES) if page.kind == HOME else 0,
            "per_category": HOME_PER_CATEGORY,
        }

    def notices_by_category(self, from_url: str) -> list[tuple]:
        """(category, links) in the configured order, from one pass over every notice."""
        by_id: dict[str, list[ListedPage]] = {cat.id: [] for cat in self.config.categories}
        for item in self.list_kind(NOTICE, from_url, "category"):
            category = item._page.category  # logged by `list_kind`
            if category in by_id:
                by_id[category].append(item)
        return [(cat, by_id[cat.id]) for cat in self.config.categories if by_id[cat.id]]

    def render_template(self, name: str, context: dict, source_path: str) -> str:
        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(Diagnostic(f"templates/{exc.name or name}", exc.lineno or 0, ERROR,
                                             f"template syntax error: {exc.message}", "", "template")) from None
        except jinja2.TemplateNotFound as exc:
            tname, line = _template_frame(exc, self.template_dir)
            if tname:  # included or extended by another template: point at that line
                raise TemplateProblem(Diagnostic(tname, line, ERROR, f"template '{exc.name}' not found",
                                                 "", "template")) from None
            raise TemplateProblem(Diagnostic(f"templates/{exc.name}", 0, ERROR, "template not found",
                                             f"needed to render {source_path}", "template")) from None
        except jinja2.UndefinedError as exc:
            tname, line = _template_frame(exc, self.template_dir)
            raise TemplateProblem(Diagnostic(tname or f"templates/{name}", line, ERROR,
                                             f"template error: {exc.message} (rendering {source_path})", "",
                                             "template")) from None
        except Exception as exc:  # noqa: BLE001 - a bad template expression must not crash the build
            tname, line = _template_frame(exc, self.template_dir)
            raise TemplateProblem(Diagnostic(tname or f"templates/{name}", line, ERROR,
                                             f"template error: {type(exc).__name__}: {exc} (rendering {source_path})",
                                             "", "template")) from None

    def render_page(self, page: Page) -> bytes:
        if page.kind == REDIRECT:
            return self.render_redirect(page)
        return self.render_template(TEMPLATES[page.kind], self.context(page), page.path).encode("utf-8")

    def render_redirect(self, page: Page) -> bytes:
        """An alias URL (/notices/ltr1058/): a tiny page that sends the reader on to the notice."""
        target = self.site.pages[page.key]
        context = {"site": self.config, "page": target, "target": self.href(page.url, target.url),
                   "canonical": self.canonical(target.url), "description": target.summary}
        return self.render_template(TEMPLATES[REDIRECT], context, page.path).encode("utf-8")


def generated_pages(site: Site, config: SiteConfig, previous: dict[str, Page] | None = None,
                    names: dict[str, tuple] | None = None) -> list[Page]:
    """Pages with no content file: the notice list (the lookup's no-JavaScript fallback), search,
    404 and a redirect from every alias spelling of a notice's URL to the notice.

    `previous` (the dev server's memory) holds the last build's generated pages by URL; a page
    made the same way is that very object again, so whatever was remembered of it still applies.
    `names` (the dev server's too) keeps each notice's alias URLs by the page object they were
    made from: folding and slugifying every alias cost ~6 ms of a title edit."""
    last = previous if previous is not None else {}
    pages = [
        _generated(last, LISTING, "notices", "templates/notices.html", "notices/", "All notices, by code",
                   f"Every notice and letter explained on {config.name}, with the codes and spellings "
                   f"printed on letters."),
        _generated(last, SEARCH, "search", "templates/search.html", "search/", "Search",
                   f"Search every page of {config.name}."),
        _generated(last, NOT_FOUND, "404", "templates/404.html", NOT_FOUND_URL, "Page not found",
                   "This page does not exist. Look up your notice by its code instead."),
    ]
    taken = {p.url for p in site.pages.values()} | {p.url for p in pages}
    last_names = names if names is not None else {}
    names_of = {}
    for notice in site.notices:
        seen = last_names.get(notice.key)
        if seen is None or seen[0] is not notice:
            seen = (notice, [f"notices/{name}/" for name in dict.fromkeys(
                [fold(notice.key), *(f(a) for a in notice.aliases for f in (slugify, fold))]) if name])
        names_of[notice.key] = seen
        for url in seen[1]:
            if url not in taken:
                taken.add(url)
                pages.append(_generated(last, REDIRECT, notice.key, "templates/redirect.html", url, notice.title))
    if previous is not None:
        previous.clear()
        previous.update((page.url, page) for page in pages)
    if names is not None:
        names.clear()
        names.update(names_of)
    return pages


def _generated(last: dict[str, Page], kind: str, key: str, path: str, url: str, title: str,
               summary: str = "") -> Page:
    """The page `last` holds at `url` if it was made from the same values (only these fields are
    set), else a new one: not made again on each of the dev server's saves (~2000 redirects)."""
    old = last.get(url)
    if old is not None and old.kind == kind and old.key == key and old.path == path and old.title == title \
            and old.summary == summary:
        return old
    return Page(kind, key, path, url, title, summary=summary)


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


def catalogue(site: Site, memo: dict[str, str] | None = None, objects: dict[str, tuple] | None = None,
              whole: dict[str, Any] | None = None, known: dict[str, bytes] | None = None) -> bytes:
    """notices.json: every notice with its aliases, deadline and resolved relationships.

    Each item is encoded on its own (the same bytes as encoding the whole document with indent=1,
    since no JSON string holds a raw newline); `memo` (the dev server's memory) keeps
    each item's text by the item's repr, so a rebuild only encodes the notices that changed: with
    `indent`, json.dumps uses the pure-Python encoder. `objects` (the dev server's memory) keeps
    notice key -> (page, relations, repr key, text): an item whose page and relations are the very objects
    it was made from (nothing changes a resolved site) is not even made again, and `whole` (the
    dev server's too) the document made from the last items: the same items, the same bytes.
    `known` (a command-line build's, from the cache) holds the bytes of items known to be right
    (`pipeline._CatalogueRows`: the page's file and the site's graph are those they were made
    from), by notice key; the items made here are added to it."""
    parts, kept, seen_objects = [], {}, {}
    old = dict(memo or {})
    relation = dict.__getitem__  # the site may log its reads (`cache.RecordingSite`): nothing renders now
    for page in site.notices:
        if known is not None:
            blob = known.get(page.key)
            if blob is None:
                blob = known[page.key] = _item_bytes(_indented_json(
                    _catalogue_item(page, relation(site.relations, page.key)), "  "))
            parts.append(blob)
            continue
        rel = relation(site.relations, page.key)
        seen = objects.get(page.key) if objects is not None else None
        if seen is not None and seen[0] is page and seen[1] is rel:
            key, part, blob = seen[2], seen[3], seen[4]
        else:
            item = _catalogue_item(page, rel)
            key = repr(item) if memo is not None else ""
            part = old.get(key)
            if part is None:
                part = _indented_json(item, "  ")
            if seen is not None and seen[3] == part:  # a new page object, the same item (a body edit)
                blob = seen[4]  # the very bytes: the document below is kept
            else:
                blob = _item_bytes(part)
        kept[key] = part
        parts.append(blob)
        seen_objects[page.key] = (page, rel, key, part, blob)
    if memo is not None:
        memo.clear()
        memo.update(kept)
    if objects is not None:
        objects.clear()
        objects.update(seen_objects)
    last = whole.get("document") if whole is not None else None
    if last is not None and len(last[0]) == len(parts) and all(map(operator.is_, last[0], parts)):
        return last[1]
    if not parts:
        document = json.dumps({"notices": []}, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8") + b"\n"
    else:
        ends = parts.copy()  # the document's head and tail joined onto its ends: 3 MB copied once, not thrice
        ends[0] = b'{\n "notices": [\n  ' + ends[0]
        ends[-1] += b"\n ]\n}\n"  # after: with one notice, both ends are one item
        document = b",\n  ".join(ends)
    if whole is not None:
        whole["document"] = (parts, document)
    return document


def _item_bytes(part: str) -> bytes:
    return part.replace("</", "<\\/").encode("utf-8")  # a '</' cannot span two items


def _catalogue_item(page: Page, rel) -> dict:
    d = page.deadline
    return {
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
    }


def _indented_json(value, indent: str) -> str:
    """`json.dumps(value, ensure_ascii=False, sort_keys=True, indent=1)`, each line after the first
    prefixed with `indent`, for the plain data of the catalogue (dicts with string keys, lists,
    strings, ints, bools, None): with `indent`, json.dumps falls back to its pure-Python encoder,
    ~10x slower than these C-encoded strings."""
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = indent + " "
        return "{\n" + ",\n".join(f"{inner}{_json_str(k)}: {_indented_json(v, inner)}"
                                   for k, v in sorted(value.items())) + f"\n{indent}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        inner = indent + " "
        return "[\n" + ",\n".join(inner + _indented_json(v, inner) for v in value) + f"\n{indent}]"
    if value is None or isinstance(value, (bool, int)):
        return json.dumps(value)
    raise TypeError(f"not catalogue data: {value!r}")


_json_str = json.encoder.encode_basestring  # the C encoder's string escaping (ensure_ascii=False)


def output_path(page: Page) -> str:
    return page.url if page.url.endswith(".html") else page.output_path


def render_serially(renderer: Renderer, pages: list[Page]) -> list[bytes | Diagnostic]:
    """Each page's HTML, or the template problem that stopped it, in order.

    The pipeline passes a cached, parallel equivalent (pipeline.py, cache.py, parallel.py)."""
    out: list[bytes | Diagnostic] = []
    for page in pages:
        try:
            out.append(renderer.render_page(page))
        except TemplateProblem as exc:
            out.append(exc.diagnostic)
    return out


TRIM_EVERY = 500
"""Filled pages between hand-backs of the freed pre-fill bytes: a filled page is a few bytes
longer than the one it replaces, so without them the C heap grows by the site's size."""

LATE_ASSETS = (LOOKUP_DATA,)
"""Assets whose name is filled into the pages after rendering. The lookup data's name changes
with any notice's code, URL or aliases, and every page names it (the lookup form); were that name
rendered in, adding a notice would render all pages again. Pages are rendered (and cached) with a
placeholder name instead, which `_fill_late` swaps for the real one in the final bytes."""
_LATE_NAME = "@version@"


def _render_assets(assets: Assets) -> tuple[Assets, list[tuple[bytes, bytes]]]:
    """The assets as the renderer sees them (URLs only: each hashed name already stands for the
    bytes; late assets under a placeholder name) and the (placeholder, real) file-name swaps."""
    urls, swaps = dict(assets.urls), []
    for name in LATE_ASSETS:
        if name in urls:
            real = urls[name]
            urls[name] = assets.versioned(name, _LATE_NAME)  # data/notices-data.@version@.js
            swaps.append((posixpath.basename(urls[name]).encode(), posixpath.basename(real).encode()))
    return Assets(urls=urls), swaps


def fill_late_names(html: bytes, swaps: list[tuple[bytes, bytes]]) -> bytes:
    """A page as rendered with the late assets' real names in place of the placeholders."""
    for placeholder, real in swaps:
        html = html.replace(placeholder, real)
    return html


def _fill_late(html: bytes, swaps: list[tuple[bytes, bytes]], memo: dict[int, tuple] | None,
               kept: dict[int, tuple]) -> bytes:
    """`html` with the late assets' real names; `memo` (the dev server's memory) keeps the result
    for the very bytes object of an unchanged page, so it stays the same object between rebuilds."""
    seen = memo.get(id(html)) if memo is not None else None
    if seen is not None and seen[0] is html and (seen[1] is swaps or seen[1] == swaps):
        kept[id(html)] = seen
        return seen[2]
    out = fill_late_names(html, swaps)
    if memo is not None:
        kept[id(html)] = (html, swaps, out)
    return out


def render_site(site: Site, config: SiteConfig, template_dir: Path, static_dir: Path,
                render_pages: Callable[[Renderer, list[Page]], list[bytes | Stored | Diagnostic]] | None = None,
                holidays: Callable[[range], dict] = deadlines.legal_holidays,
                catalogue_memo: dict[str, str] | None = None,
                catalogue_known: dict[str, bytes] | None = None,
                kept: dict[str, dict] | None = None,
                env: jinja2.Environment | None = None,
                pages_done: Callable[[Files, dict[str, str], list[Diagnostic]], None] | None = None,
                ) -> tuple[Files, dict[str, str], list[Diagnostic]]:
    """Render every page and data file. Returns (files, output path -> source path, diagnostics).

    `kept` is the dev server's memory of the last build (`BuildMemory.values`): each step below
    keeps its own tables there ("lookup", "generated", "alias_urls", "late", "catalogue",
    "catalogue_document"), so a rebuild does not make again what comes from the very same page
    objects, and the generated pages, notices.json, the sitemap and the feed's notices are kept
    whole while no page changed what they read (`_unless_changed`).
    `env` is a `make_env(template_dir)` to reuse with its compiled templates (the dev server's,
    kept while the templates are unchanged: compiling them costs ~0.1 s a rebuild). `render_pages`
    may hand back a page as where its bytes are (`spill.Stored`: in the build's spill file or the
    cache); `files` then reads them from there, filling in the late assets, when asked.
    `pages_done(files, sources, problems)` is called once every page is in `files`, before the
    data files (`DATA_FILES`) are made."""
    def table(name: str) -> dict | None:
        return kept.setdefault(name, {}) if kept is not None else None

    assets = collect_assets(static_dir)
    generated_assets(site, assets, holidays, table("lookup"))
    seen_by_pages, swaps = _render_assets(assets)
    renderer = Renderer(site, config, template_dir, seen_by_pages, env)
    renderer.late_swaps = swaps
    files = Files(assets.files, fill_late_names)
    sources: dict[str, str] = {}
    problems: list[Diagnostic] = []
    content_pages = list(site.pages.values())
    all_pages = [*content_pages, *_unless_changed(
        table("generated_list"), content_pages, _GENERATED_FROM, config.name,
        lambda: generated_pages(site, config, table("generated"), table("alias_urls")))]
    rendered = (render_pages or render_serially)(renderer, all_pages)
    late_memo, late_kept = table("late"), {}
    for i, page in enumerate(all_pages):
        result, rendered[i] = rendered[i], None  # the filled bytes replace it: one copy of the site at a time
        if isinstance(result, Diagnostic):
            if result not in problems:
                problems.append(result)
        elif isinstance(result, Stored):
            path = output_path(page)
            files.put_stored(path, result, swaps)
            sources[path] = page.path
        else:
            path = output_path(page)
            files[path] = _fill_late(result, swaps, late_memo, late_kept)
            sources[path] = page.path
        if i % TRIM_EVERY == TRIM_EVERY - 1:
            release_memory()
    if late_memo is not None:
        late_memo.clear()
        late_memo.update(late_kept)
    if pages_done is not None:
        pages_done(files, sources, problems)
    relations = tuple(dict.items(site.relations)) if kept is not None else None  # compared item by item
    files["notices.json"] = _unless_changed(
        table("catalogue_kept"), content_pages, _CATALOGUE_FROM, relations,
        lambda: catalogue(site, catalogue_memo, table("catalogue"), table("catalogue_document"), catalogue_known))
    files["_headers"] = headers.headers_file()
    recent = _unless_changed(table("recent"), content_pages, _RECENT_FROM, None,
                             lambda: [p.key for p in feeds.recent_notices(site)])
    site_map = _unless_changed(table("sitemap"), content_pages, _SITEMAP_FROM, config.base_url,
                               lambda: feeds.sitemap(site, config))
    files.update(feeds.site_files(site, config, [dict.__getitem__(site.pages, key) for key in recent], site_map))
    return files, sources, problems


_GENERATED_FROM = operator.attrgetter("kind", "key", "url", "title", "aliases")
"""What `generated_pages` reads of each page (besides the site's name)."""
_CATALOGUE_FROM = operator.attrgetter("kind", "key", "aliases", "title", "summary", "url", "category", "deadline",
                                      "updated")
"""What `catalogue` reads of each page (besides the site's relations)."""
_RECENT_FROM = operator.attrgetter("kind", "updated", "key")
"""What `feeds.recent_notices` reads of each page."""
_SITEMAP_FROM = operator.attrgetter("kind", "url", "updated")
"""What `feeds.sitemap` reads of each page (besides the base URL)."""


def _unless_changed(table: dict | None, pages: list[Page], project: Callable[[Page], Any], extra: Any,
                    make: Callable[[], Any]) -> Any:
    """`make()`, or with the dev server's `table` the value it made last time, when `extra` is equal
    and `pages` project to the same values as last time's. Only the pages that are not the very
    same objects as last time's are projected (a save replaces a few of ~6000; nothing changes a
    loaded page), so an unchanged answer costs a pass over pointers, not over the pages: each such
    pass over every page cost 5-13 ms of a rebuild (generated pages, sitemap and feed)."""
    if table is None:
        return make()
    last = table.get("last")
    if last is None or last[1] != extra or len(last[0]) != len(pages) or any(
            project(last[0][i]) != project(pages[i]) for i in compress(count(), map(operator.is_not, last[0], pages))):
        last = (pages, extra, make())
    table["last"] = (pages, extra, last[2])
    return last[2]


DATA_FILES = ("notices.json", "_headers", *feeds.SITE_FILES)
"""The files `render_site` makes after the pages (`pages_done` is called before them)."""
