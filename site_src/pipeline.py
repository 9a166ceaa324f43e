"""The one orchestrator: config -> load -> resolve -> render -> check -> (only if clean) write.

The same function serves `build`, `check` and the dev server's rebuilds. Nothing touches
`output/` until every stage has run and found no error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .check import check_site
from .config import SiteConfig, load_config
from .diagnostics import Report
from .load import discover, load_page, read_sources
from .model import Site, fold
from .render import render_site
from .resolve import resolve
from .write import publish


@dataclass
class BuildOptions:
    root: Path
    write: bool = True
    strict: bool = False
    output: str = "output"
    search: bool = True
    """Build the full-text search index (skipped by --no-search and by the dev server)."""


@dataclass
class BuildResult:
    report: Report
    files: dict[str, bytes] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    site: Site | None = None
    config: SiteConfig | None = None
    written: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return sum(1 for p in self.files if p.endswith(".html"))


def build(opts: BuildOptions) -> BuildResult:
    report = Report()
    result = BuildResult(report)
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        result.timings[name] = now - t0
        t0 = now

    root = opts.root
    config, problems = load_config(root)
    report.extend(problems)
    listing, problems = discover(root)
    report.extend(problems)
    pages, unavailable = [], set()
    for src in read_sources(root, listing):
        page, problems = load_page(src)
        report.extend(problems)
        if page is None:
            unavailable.add(fold(Path(src.path).stem))
        else:
            pages.append(page)
    lap("load")
    if config is None:
        return result
    site, problems = resolve(pages, config, frozenset(unavailable))
    report.extend(problems)
    result.site, result.config = site, config
    lap("resolve")
    content_ok = not report.errors
    files, sources, problems = render_site(site, config, root / "templates", root / "static")
    report.extend(problems)
    result.files, result.sources = files, sources
    lap("render")
    if content_ok and not problems:
        report.extend(check_site(files, sources, base_path=config.base_path))
        lap("check")
    if opts.write and not report.failed(opts.strict):
        publish(root, files, opts.output)
        result.written = True
        lap("write")
    return result

