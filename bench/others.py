"""Other generators building the same synthetic notices, for side-by-side cold builds (bench/run.py).

Each is a bare project made from bench/out/<N>/content/notices/*.md, written once into
bench/out/<name>-<N>/ (a `.mirrored` stamp marks it complete):
* Hugo: the files as they are, one template showing title, summary, quick answer, body, FAQs
  and related codes, plus a list template;
* MkDocs: the files as they are under docs/notices/ (MkDocs reads the YAML front matter as page
  meta), default theme, default navigation; the search plugin is turned off (`plugins: []`), as
  ours is timed with --no-search;
* Pelican: the body byte for byte under a Pelican header (Title from the front matter, a fixed
  Date), default theme and settings; its Markdown reader needs the `markdown` package;
* Floor: bench/floor.py, a bare Python pipeline (PyYAML's C loader, markdown-it-pyrs, Jinja2, two
  forked workers) doing Hugo's share of the work on the same files: what the libraries cost
  without our checks, graph, cache and richer pages (`--floor`, this Python by default).

The tools are not project dependencies: `--mkdocs`/`--pelican`/`--hugo` with no value look the
command up on PATH, or take a path (e.g. a separate venv's bin/mkdocs; see docs/performance.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

HERE = Path(__file__).resolve().parent

HUGO_SINGLE = (
    "<!DOCTYPE html><html lang=\"en\"><head><title>{{ .Title }}</title>"
    "<meta name=\"description\" content=\"{{ .Params.summary }}\"></head><body><h1>{{ .Title }}</h1>"
    "<section>{{ .Params.quick_answer | markdownify }}</section>{{ .Content }}"
    "{{ range .Params.faqs }}<details><summary>{{ .question }}</summary>{{ .answer | markdownify }}</details>{{ end }}"
    "<ul>{{ range .Params.related }}<li>{{ . }}</li>{{ end }}</ul></body></html>\n")
HUGO_LIST = ("<!DOCTYPE html><html><body><ul>{{ range .Pages }}<li><a href=\"{{ .RelPermalink }}\">{{ .Title }}</a>"
             "</li>{{ end }}</ul></body></html>\n")
PELICAN_DATE = "2026-01-01"


def _write(site: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text, encoding="utf-8")


def _hugo(notices: Path, site: Path) -> None:
    shutil.copytree(notices, site / "content" / "notices")
    _write(site, {"config.toml": 'baseURL = "https://example.org/"\ntitle = "Notices"\n'
                                 'disableKinds = ["taxonomy", "term"]\n',
                  "layouts/_default/single.html": HUGO_SINGLE, "layouts/_default/list.html": HUGO_LIST})


def _mkdocs(notices: Path, site: Path) -> None:
    shutil.copytree(notices, site / "docs" / "notices")
    _write(site, {"mkdocs.yml": "site_name: Notices\nsite_url: https://example.org/\nplugins: []\n"})


def _floor(notices: Path, site: Path) -> None:
    shutil.copytree(notices, site / "content" / "notices")


def _pelican(notices: Path, site: Path) -> None:
    for path in sorted(notices.glob("*.md")):
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        title = yaml.load(front, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["title"]
        _write(site, {f"content/{path.name}": f"Title: {title}\nDate: {PELICAN_DATE}\n\n{body}"})
    _write(site, {"pelicanconf.py": 'SITENAME = "Notices"\nSITEURL = "https://example.org"\n'
                                    'TIMEZONE = "UTC"\nDEFAULT_LANG = "en"\n'})


@dataclass(frozen=True)
class Other:
    name: str                                   # column title, and the bench/out/<key>-<N> folder
    command: str                                # the default command looked up on PATH
    make: Callable[[Path, Path], None]          # (notices folder, empty site folder) -> bare project
    build: Callable[[str, Path], list[str]]     # (executable, site) -> the cold-build command
    outputs: tuple[str, ...]                    # removed before each cold build
    faster_is_ours: bool                        # ratio column: theirs/ours (True) or ours/theirs
    version_args: tuple[str, ...] = ("--version",)

    @property
    def key(self) -> str:
        return self.name.lower()

    def _titles(self) -> tuple[str, str]:
        return f"{self.name} s", f"{self.name}/ours" if self.faster_is_ours else f"ours/{self.name}"

    def header(self) -> str:
        """Its two column titles: cold seconds and the ratio (theirs/ours, or ours/theirs for Hugo)."""
        return self.cells(*self._titles())

    def cells(self, seconds: float | str, ratio: float | str) -> str:
        widths = [max(6, len(title)) for title in self._titles()]
        return "".join(f" | {v:>{w}.2f}" if isinstance(v, float) else f" | {v:>{w}}" for v, w in zip((seconds, ratio), widths))

    def row(self, ours: float, theirs: float | None) -> str:
        """Its cells for our cold median `ours` and its own `theirs` (None: not run)."""
        if theirs is None:
            return self.cells("n/a", "n/a")
        return self.cells(theirs, theirs / ours if self.faster_is_ours else ours / theirs)


OTHERS = (
    Other("Hugo", "hugo", _hugo, lambda exe, site: [exe, "--quiet", "-s", str(site)],
          ("public", "resources"), faster_is_ours=False, version_args=("version",)),
    Other("MkDocs", "mkdocs", _mkdocs, lambda exe, site: [exe, "build", "--quiet", "-f", str(site / "mkdocs.yml")],
          ("site",), faster_is_ours=True),
    Other("Pelican", "pelican", _pelican,
          lambda exe, site: [exe, str(site / "content"), "-s", str(site / "pelicanconf.py"), "-o",
                             str(site / "output"), "--quiet"],
          ("output", "cache"), faster_is_ours=True),
    Other("Floor", sys.executable, _floor, lambda exe, site: [exe, str(HERE / "floor.py"), str(site)],
          ("output",), faster_is_ours=False),
)


def find(requested: str | None) -> str | None:
    """The executable for an option's value (a command name or a path), or None when absent."""
    return shutil.which(requested) if requested else None


def version(other: Other, exe: str) -> str:
    out = subprocess.run([exe, *other.version_args], capture_output=True, text=True, check=False)
    lines = (out.stdout + out.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def mirror(other: Other, root: Path, n: int) -> Path:
    """bench/out/<key>-<n>/: the notices of the synthetic site `root` as a bare project for `other`."""
    site = HERE / "out" / f"{other.key}-{n}"
    stamp = site / ".mirrored"
    if not stamp.exists():
        shutil.rmtree(site, ignore_errors=True)
        site.mkdir(parents=True)
        other.make(root / "content" / "notices", site)
        stamp.write_text(str(n))
    return site


TRASH = HERE / "out" / ".trash"


def discard(path: Path) -> None:
    """Move `path` out of the way (into `TRASH`, emptied by `empty_trash`) instead of deleting it
    now: see bench/run.py on why a deletion right before a timed build skews it."""
    if not os.path.lexists(path):
        return
    TRASH.mkdir(parents=True, exist_ok=True)
    os.rename(path, TRASH / f"{len(os.listdir(TRASH))}-{path.name}")


def empty_trash() -> None:
    shutil.rmtree(TRASH, ignore_errors=True)


def clean(other: Other, site: Path) -> None:
    for name in other.outputs:
        discard(site / name)
