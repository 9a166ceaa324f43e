"""The site's settings from `site.toml`: name, base URL, the firm's call to action, categories.

Unknown keys are errors with a suggestion, like front matter; nothing about the firm is
hard-coded in templates.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .diagnostics import Diagnostic, ERROR, did_you_mean

CONFIG_FILE = "site.toml"


@dataclass(frozen=True)
class Category:
    id: str
    title: str
    description: str = ""


@dataclass(frozen=True)
class Firm:
    name: str
    blurb: str
    consultation_url: str
    consultation_label: str = "Schedule a consultation"
    phone: str = ""
    hours: str = ""


@dataclass(frozen=True)
class SiteConfig:
    name: str
    base_url: str
    """Absolute URL of the published site, ending in '/'; used for canonical links, sitemap, feed."""
    description: str
    firm: Firm
    categories: tuple[Category, ...]
    language: str = "en"
    verify_guide: str = ""
    """Id of the "is this letter real?" guide linked from every notice page ('' for none)."""
    back_taxes_guide: str = ""
    allow_html: bool = False
    """Raw HTML in Markdown; off by default so content cannot inject markup."""
    extra: dict = field(default_factory=dict)

    @property
    def base_path(self) -> str:
        """The path part of base_url ('/' or '/repo/'), for pages served at any depth such as 404.html."""
        rest = self.base_url.split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"


_SITE_KEYS = {"name", "base_url", "description", "language", "verify_guide", "back_taxes_guide"}
_FIRM_KEYS = {"name", "blurb", "consultation_url", "consultation_label", "phone", "hours"}
_TOP_KEYS = {"site", "firm", "categories", "markdown"}


def _line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(needle):
            return i
    return 0


def base_url_problem(url: str) -> str:
    """Why `url` cannot be the site's base URL ('' when it can). Its path prefixes the 404 page's
    links as it is, so an empty, '.' or '..' step would break them ('//feed.xml' names a host)."""
    scheme, sep, _rest = url.partition("://")
    if not sep or scheme not in ("https", "http"):
        return "must start with https:// or http://"
    plain = "must be a plain address such as https://example.org/help/ (a host, then an optional path of names)"
    if any(c.isspace() for c in url) or "?" in url or "#" in url:
        return plain
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return plain
    steps = parts.path.split("/")[1:]
    if steps and steps[-1] == "":
        steps.pop()  # the trailing '/'
    if not parts.hostname or any(step in ("", ".", "..") for step in steps):
        return plain
    return ""


def load_config(root: Path, base_url: str | None = None) -> tuple[SiteConfig | None, list[Diagnostic]]:
    """The settings from `root`/site.toml; `base_url` (the build's --base-url, already checked with
    `base_url_problem`) replaces its `base_url`, e.g. with the address GitHub Pages publishes at."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return None, [Diagnostic(CONFIG_FILE, 0, ERROR, "the site config file is missing", "", "config")]
    text = path.read_text(encoding="utf-8")
    return parse_config(text, base_url)


def parse_config(text: str, base_url_override: str | None = None) -> tuple[SiteConfig | None, list[Diagnostic]]:
    out: list[Diagnostic] = []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = int(str(exc).rsplit("line ", 1)[-1].split(",")[0]) if "line " in str(exc) else 0
        return None, [Diagnostic(CONFIG_FILE, line, ERROR, f"malformed TOML: {exc}", "", "config")]

    def unknown(section: dict, known: set, where: str) -> None:
        for key in section:
            if key not in known:
                out.append(Diagnostic(CONFIG_FILE, _line_of(text, key), ERROR, f"unknown key '{key}' in {where}",
                                      did_you_mean(key, known), "config"))

    def need(section: dict, key: str, where: str) -> str:
        value = section.get(key)
        if not isinstance(value, str) or not value.strip():
            out.append(Diagnostic(CONFIG_FILE, _line_of(text, f"[{where}"), ERROR,
                                  f"missing required text '{key}' in [{where}]", "", "config"))
            return ""
        return value.strip()

    unknown(data, _TOP_KEYS, "site.toml")
    site, firm = data.get("site", {}), data.get("firm", {})
    unknown(site, _SITE_KEYS, "[site]")
    unknown(firm, _FIRM_KEYS, "[firm]")
    unknown(data.get("markdown", {}), {"allow_html"}, "[markdown]")
    base_url = base_url_override.strip() if base_url_override is not None else need(site, "base_url", "site")
    if base_url and not base_url.endswith("/"):
        base_url += "/"
    problem = base_url_problem(base_url) if base_url else ""
    if problem:
        where = ("--base-url", 0) if base_url_override is not None else (CONFIG_FILE, _line_of(text, "base_url"))
        out.append(Diagnostic(*where, ERROR, f"base_url {problem}", "", "config"))
    categories = []
    for i, cat in enumerate(data.get("categories", [])):
        unknown(cat, {"id", "title", "description"}, "[[categories]]")
        if not isinstance(cat.get("id"), str) or not isinstance(cat.get("title"), str):
            out.append(Diagnostic(CONFIG_FILE, _line_of(text, "[[categories]]"), ERROR,
                                  f"category {i + 1} needs an 'id' and a 'title'", "", "config"))
            continue
        categories.append(Category(cat["id"], cat["title"], cat.get("description", "")))
    if not categories:
        out.append(Diagnostic(CONFIG_FILE, 0, ERROR, "define at least one [[categories]] entry", "", "config"))
    cfg = SiteConfig(
        name=need(site, "name", "site"),
        base_url=base_url,
        description=site.get("description", ""),
        language=site.get("language", "en"),
        verify_guide=site.get("verify_guide", ""),
        back_taxes_guide=site.get("back_taxes_guide", ""),
        firm=Firm(name=need(firm, "name", "firm"), blurb=need(firm, "blurb", "firm"),
                  consultation_url=need(firm, "consultation_url", "firm"),
                  consultation_label=firm.get("consultation_label", "Schedule a consultation"),
                  phone=firm.get("phone", ""), hours=firm.get("hours", "")),
        categories=tuple(categories),
        allow_html=bool(data.get("markdown", {}).get("allow_html", False)),
    )
    return (None if out else cfg), out
