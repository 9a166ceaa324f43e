"""Shared test helpers: build a site from inline files, the way MkDocs' tempdir helper does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SYNTHETIC_N = 60
"""Notices in the `synthetic` site (bench/generate.py): enough for every kind of relation."""


def make_project(dest: Path, files: dict[str, str] | None = None, *, base: str | None = "mini") -> Path:
    """A project folder: the real templates, static files and a fixture site, plus `files` on top.

    `files` maps relative paths to text (dedented); a value of None deletes that file.
    """
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT / "templates", dest / "templates", dirs_exist_ok=True)
    shutil.copytree(PROJECT / "static", dest / "static", dirs_exist_ok=True)
    if base == "bundled":
        shutil.copytree(PROJECT / "content", dest / "content", dirs_exist_ok=True)
        shutil.copy(PROJECT / "site.toml", dest / "site.toml")
    elif base:
        shutil.copytree(FIXTURES / base, dest, dirs_exist_ok=True)
    for rel, text in (files or {}).items():
        path = dest / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return dest


def run_build(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python build.py` as a user would, in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("GITHUB_ACTIONS", None) if env is None or "GITHUB_ACTIONS" not in env else None
    return subprocess.run([sys.executable, str(PROJECT / "build.py"), *args, "--root", str(root)],
                          capture_output=True, text=True, env=full_env, timeout=600)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes, for byte-for-byte comparisons."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    return make_project(tmp_path / "site")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A synthetic site (bench/generate.py) of SYNTHETIC_N notices, made once per test module."""
    sys.path.insert(0, str(PROJECT / "bench"))
    from generate import generate

    return generate(SYNTHETIC_N, tmp_path_factory.mktemp("synthetic") / "site")


def fresh_copy(src: Path, dest: Path) -> Path:
    """A copy of the site `src` without what its builds left (output, cache, spare tree)."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".cache", "output", ".output*"))
    return dest


def break_links(root: Path) -> None:
    """A link to a page that is not made and one to an id that is not there, in the synthetic
    site's cp1003, for the check to find."""
    target = root / "content" / "notices" / "cp1003.md"
    target.write_text(target.read_text(encoding="utf-8")
                      + "\nSee [a page gone](../cp9999/) and [no such part](../cp1004/#nowhere).\n",
                      encoding="utf-8")
