"""Full-text search: run Pagefind over the finished site, before it is published.

Pagefind (`pagefind[bin]` from PyPI ships the binary and works offline) reads the HTML and writes
its index and script into `pagefind/`; only the `data-pagefind-body` parts of notices, guides and the
home page are indexed, so redirects, the notice list and 404 never show up as results, and within
them the blocks marked `data-pagefind-ignore` are not: the firm's call to action (the same on every
page) and the related, similar and collection-step lists (other pages' titles and summaries), so a
page is found by its own words (and Pagefind has ~20% less text to index). It runs as `publish`'s
before-swap step, so a failed index leaves the live site untouched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


class SearchIndexError(Exception):
    """Pagefind could not build the index; the message says why, for the person running the build."""


def pagefind_command(site_dir: Path) -> list[str]:
    return [sys.executable, "-m", "pagefind", "--site", str(site_dir), "--output-subdir", "pagefind", "--silent"]


def build_index(site_dir: Path) -> None:
    try:
        proc = subprocess.run(pagefind_command(site_dir), capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SearchIndexError(f"could not run Pagefind: {exc}") from None
    if proc.returncode != 0 or not (site_dir / "pagefind" / "pagefind.js").is_file():
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        hint = detail[-1] if detail else f"exit code {proc.returncode}"
        raise SearchIndexError(f"Pagefind failed to build the search index: {hint} "
                               f"(install it with `pip install 'pagefind[bin]'`, or build with --no-search)")
