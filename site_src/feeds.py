"""The files crawlers and feed readers fetch: sitemap.xml, robots.txt and an Atom feed.

All dates come from the content's `updated` keys (or SOURCE_DATE_EPOCH), so two builds of the same
content give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import html
import os

from .config import SiteConfig
from .model import Page, Site


def escape(text: str) -> str:
    """`xml.sax.saxutils.escape(text)`. That module imports urllib.request, http.client and
    email on its way in: ~17 ms of every build's start-up, for two small functions."""
    return html.escape(text, quote=False)


def quoteattr(value: str) -> str:
    """`xml.sax.saxutils.quoteattr(value)`: the value escaped and quoted (tests/test_properties.py
    compares the two)."""
    value = escape(value).replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    return '"%s"' % value.replace('"', "&quot;")


FEED_SIZE = 20
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def _epoch_date() -> dt.date | None:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).date() if epoch.strip().isdigit() else None


def sitemap(site: Site, config: SiteConfig) -> bytes:
    """Every content page plus the notice list; not the search page, 404 or alias redirects."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<urlset xmlns="{SITEMAP_NS}">']
    home = [(p.url, p.updated) for p in site.pages.values() if p.url == ""]
    listing = [("notices/", max((p.updated for p in site.notices if p.updated), default=None))]
    entries = home + listing + [(p.url, p.updated) for p in site.pages.values() if p.url != ""]
    for url, updated in entries:
        lastmod = f"<lastmod>{updated.isoformat()}</lastmod>" if updated else ""
        lines.append(f"  <url><loc>{escape(config.base_url + url)}</loc>{lastmod}</url>")
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def robots(config: SiteConfig) -> bytes:
    return f"User-agent: *\nAllow: /\n\nSitemap: {config.base_url}sitemap.xml\n".encode("utf-8")


def _stamp(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def recent_notices(site: Site, limit: int = FEED_SIZE) -> list[Page]:
    dated = [p for p in site.notices if p.updated]
    return sorted(dated, key=lambda p: (-p.updated.toordinal(), p.key))[:limit]


def atom(site: Site, config: SiteConfig, items: list[Page] | None = None) -> bytes:
    """An Atom feed (RFC 4287) of the most recently reviewed notices (`items`: `recent_notices(site)`,
    if the caller has it)."""
    items = recent_notices(site) if items is None else items
    newest = items[0].updated if items else (_epoch_date() or dt.date(1970, 1, 1))
    out = ['<?xml version="1.0" encoding="utf-8"?>',
           '<feed xmlns="http://www.w3.org/2005/Atom">',
           f"  <title>{escape(config.name)}: recently reviewed notices</title>",
           f"  <subtitle>{escape(config.description)}</subtitle>" if config.description else "",
           f"  <id>{escape(config.base_url)}</id>",
           f"  <link rel=\"alternate\" type=\"text/html\" href={quoteattr(config.base_url)}/>",
           f"  <link rel=\"self\" type=\"application/atom+xml\" href={quoteattr(config.base_url + 'feed.xml')}/>",
           f"  <updated>{_stamp(newest)}</updated>",
           f"  <author><name>{escape(config.firm.name)}</name></author>"]
    for page in items:
        link = config.base_url + page.url
        out += ["  <entry>",
                f"    <title>{escape(page.title)}</title>",
                f"    <id>{escape(link)}</id>",
                f"    <link rel=\"alternate\" type=\"text/html\" href={quoteattr(link)}/>",
                f"    <updated>{_stamp(page.updated)}</updated>",
                f"    <summary>{escape(page.summary)}</summary>",
                "  </entry>"]
    out.append("</feed>")
    return ("\n".join(line for line in out if line) + "\n").encode("utf-8")


SITE_FILES = ("sitemap.xml", "robots.txt", "feed.xml")


def site_files(site: Site, config: SiteConfig, recent: list[Page] | None = None,
               site_map: bytes | None = None) -> dict[str, bytes]:
    """The files named in `SITE_FILES`; `recent` and `site_map`: `recent_notices(site)` and
    `sitemap(site, config)`, if the caller has them (the dev server keeps them while no page they
    read changes)."""
    return dict(zip(SITE_FILES, (sitemap(site, config) if site_map is None else site_map, robots(config),
                                 atom(site, config, recent)), strict=True))
