"""Full-text search: run Pagefind over the finished site, before it is published.

Pagefind (`pagefind[bin]` from PyPI ships the binary and works offline) reads the HTML and writes
its index and script into `pagefind/`; only the `data-pagefind-body` parts of notices, guides and the
home page are indexed, so redirects, the notice list and 404 never show up as results, and within
them the blocks marked `data-pagefind-ignore` are not: the firm's call to action (the same on every
page) and the related, similar and collection-step lists (other pages' titles and summaries), so a
page is found by its own words (and Pagefind has ~20% less text to index). It runs as `publish`'s
before-swap step, so a failed index leaves the live site untouched. Where the new tree's pages are
all written before the rest of the build is done (a cold build's `write.Staging`), it is started
then (`IndexRun`) and runs beside the site check, the data files and the cache's commit.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

TIMEOUT_S = 600


class SearchIndexError(Exception):
    """Pagefind could not build the index; the message says why, for the person running the build."""


def pagefind_command(site_dir: Path) -> list[str]:
    return [sys.executable, "-m", "pagefind", "--site", str(site_dir), "--output-subdir", "pagefind", "--silent"]


class IndexRun:
    """Pagefind indexing `site_dir` in its own process, from now until `wait` (or `cancel`). It
    reads only the `.html` files, so the caller may go on writing other files into the folder,
    but no page may change or be added once it has begun."""

    def __init__(self, site_dir: Path):
        self.site_dir = site_dir
        self._failed: str | None = None
        self._proc: subprocess.Popen | None = None
        self._out: list = []
        try:
            # files, not pipes: a long message cannot stall it while nobody reads
            self._out = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
            # (a Ctrl-C within Popen may leave the process unknown to this object: it gets the
            # Ctrl-C too, being in the same process group, and stops)
            self._proc = subprocess.Popen(pagefind_command(site_dir), stdin=subprocess.DEVNULL,
                                          stdout=self._out[0], stderr=self._out[1])
        except OSError as exc:
            self._failed = f"could not run Pagefind: {exc}"

    def wait(self, timeout: float = TIMEOUT_S) -> None:
        """Until the index is written; `SearchIndexError` if it could not be."""
        try:
            if self._failed is not None:
                raise SearchIndexError(self._failed)
            try:
                code = self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise SearchIndexError(f"could not run Pagefind: it took more than {timeout:.0f} s") from None
            if code != 0 or not (self.site_dir / "pagefind" / "pagefind.js").is_file():
                detail = (self._output(1) or self._output(0)).splitlines()
                hint = detail[-1] if detail else f"exit code {code}"
                raise SearchIndexError(f"Pagefind failed to build the search index: {hint} "
                                       f"(install it with `pip install 'pagefind[bin]'`, or build with --no-search)")
        finally:
            self.cancel()  # stopped by Ctrl-C, a timeout or a failure: none of it is left running

    def _output(self, which: int) -> str:
        """What it wrote to stdout (0) or stderr (1)."""
        out = self._out[which]
        out.seek(0)
        return out.read().decode("utf-8", "replace").strip()

    def cancel(self) -> None:
        """Stop it (if still running) and reap it; harmless once done."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
        for out in self._out:
            out.close()


def build_index(site_dir: Path) -> None:
    IndexRun(site_dir).wait()
