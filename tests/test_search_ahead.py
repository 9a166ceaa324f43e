"""The search index of a cold build, begun as soon as every page is written (`pipeline._SearchAhead`):
the same index as one made over the finished tree, made again when the pages differ from those
it read, and never left running by a build that fails."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import break_links, fresh_copy, tree_bytes
from site_src import pipeline, search
from site_src.pipeline import BuildOptions, build


def search_build(root: Path):
    return build(BuildOptions(root=root, search=True))


def spy_runs(monkeypatch) -> list[search.IndexRun]:
    """Every Pagefind run started, in order."""
    runs: list[search.IndexRun] = []
    real = search.IndexRun.__init__

    def init(self, site_dir):
        real(self, site_dir)
        runs.append(self)
    monkeypatch.setattr(search.IndexRun, "__init__", init)
    return runs


def spy_used(monkeypatch) -> list[bool]:
    """For each publish: whether the index begun ahead was still running then, to be waited for."""
    used: list[bool] = []
    real = pipeline._SearchAhead.index

    def index(self, tree, files):
        used.append(self.run is not None)
        return real(self, tree, files)
    monkeypatch.setattr(pipeline._SearchAhead, "index", index)
    return used


def index_of(root: Path) -> dict[str, bytes]:
    return tree_bytes(root / "output" / "pagefind")


@pytest.fixture(scope="module")
def made_at_the_end(synthetic, tmp_path_factory) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The site and its index as a build that runs Pagefind over the finished tree makes them."""
    root = fresh_copy(synthetic, tmp_path_factory.mktemp("late") / "site")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline._SearchAhead, "start", lambda self, files, sources, problems: None)
        result = search_build(root)
    assert result.written and not result.report.errors
    return tree_bytes(root / "output"), index_of(root)


def test_the_index_begun_ahead_is_the_index_made_over_the_finished_tree(synthetic, tmp_path, monkeypatch,
                                                                         made_at_the_end):
    root = fresh_copy(synthetic, tmp_path / "site")
    runs, used = spy_runs(monkeypatch), spy_used(monkeypatch)
    result = search_build(root)
    assert result.written and not result.report.errors
    assert len(runs) == 1 and used == [True]  # begun with the pages, waited for at the publish
    site, index = made_at_the_end
    assert index and index_of(root) == index
    assert tree_bytes(root / "output") == site
    assert not list(root.glob(".output.tmp-*"))


def test_an_index_of_other_pages_than_those_published_is_made_again(synthetic, tmp_path, monkeypatch,
                                                                    made_at_the_end):
    root = fresh_copy(synthetic, tmp_path / "site")
    real_start = pipeline._SearchAhead.start

    def start(self, files, sources, problems):
        real_start(self, files, sources, problems)
        self.pages = self.pages - {"index.html"}  # as if it had begun before the home page was written
        stray = self.staging.path / "pagefind" / "stale.js"  # what that run wrote (Pagefind leaves such files)
        stray.parent.mkdir(exist_ok=True)
        stray.write_text("stale")
    monkeypatch.setattr(pipeline._SearchAhead, "start", start)
    runs, used = spy_runs(monkeypatch), spy_used(monkeypatch)
    result = search_build(root)
    assert result.written and used == [True] and len(runs) == 2
    assert runs[0]._proc.returncode is not None  # stopped and reaped, not left running
    assert index_of(root) == made_at_the_end[1]  # nothing of the first run left (stale.js)


def test_a_build_that_fails_its_check_stops_the_index_begun_ahead(synthetic, tmp_path, monkeypatch):
    root = fresh_copy(synthetic, tmp_path / "site")
    break_links(root)
    runs = spy_runs(monkeypatch)
    result = search_build(root)
    assert {d.code for d in result.report.errors} == {"link-broken", "link-fragment"}
    assert not result.written and not (root / "output").exists()
    assert len(runs) == 1 and runs[0]._proc.returncode is not None  # begun, then stopped and reaped
    assert not list(root.glob(".output.tmp-*"))


@pytest.mark.parametrize("ahead", [True, False], ids=["begun ahead", "at the end"])
def test_a_failed_index_is_reported_and_nothing_is_published(synthetic, tmp_path, monkeypatch, ahead):
    root = fresh_copy(synthetic, tmp_path / "site")
    fail = [sys.executable, "-c", "import sys; print('Running Pagefind'); "
            "print('Error: no pages found in the site', file=sys.stderr); sys.exit(3)"]
    monkeypatch.setattr(search, "pagefind_command", lambda site_dir: fail)
    if not ahead:
        monkeypatch.setattr(pipeline._SearchAhead, "start", lambda self, files, sources, problems: None)
    runs = spy_runs(monkeypatch)
    result = search_build(root)
    assert len(runs) == 1
    [problem] = result.report.errors
    assert (problem.path, problem.code) == ("pagefind", "search-index")
    assert "Pagefind failed to build the search index: Error: no pages found in the site" in problem.message
    assert not result.written and not (root / "output").exists()
    assert not list(root.glob(".output.tmp-*"))


@pytest.mark.parametrize("where", ["check", "waiting"])
def test_an_interrupted_build_stops_the_index_begun_ahead(synthetic, tmp_path, monkeypatch, where):
    """Ctrl-C (or SIGTERM, which the build lock turns into one) during the check, or as the
    publish is about to wait for Pagefind: the process is stopped and reaped, and it writes
    nothing into the removed tree after the build."""
    root = fresh_copy(synthetic, tmp_path / "site")
    slow = [sys.executable, "-c", "import time; time.sleep(60)"]
    monkeypatch.setattr(search, "pagefind_command", lambda site_dir: slow)

    def interrupted(*args, **kw):
        raise KeyboardInterrupt
    if where == "check":
        monkeypatch.setattr(pipeline, "_check", interrupted)
    else:  # before `wait` could stop it itself
        monkeypatch.setattr(search.IndexRun, "wait", interrupted)
    runs = spy_runs(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        search_build(root)
    assert len(runs) == 1 and runs[0]._proc.returncode is not None
    assert not list(root.glob(".output.tmp-*")) and not (root / "output").exists()
