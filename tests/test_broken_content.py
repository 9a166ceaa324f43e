"""Broken content: every case gives its exact diagnostics, exit code 1, and leaves output/ as it was.

Each folder in tests/broken/ is one case: files laid over the small fixture site (plus
`delete.txt`, paths to remove), and `expected.txt`, the exact stderr of `python build.py`.
Cases that cannot live in git (a 5 MB file, symbolic links, a FIFO) are built inline below.
After an intended change of wording, regenerate with `UPDATE_BROKEN=1 pytest tests/test_broken_content.py`
and review the diff of tests/broken/*/expected.txt like code.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import make_project, run_build, tree_bytes

BROKEN = Path(__file__).resolve().parent / "broken"
CASES = sorted(p.name for p in BROKEN.iterdir() if p.is_dir())
NOTICE = """---
code: CP9
title: "CP9: A test notice"
summary: A notice for tests.
category: collection
quick_answer: Read it.
---
Body.
"""


@pytest.fixture(scope="module")
def good_site(tmp_path_factory) -> Path:
    """The fixture site, built once: every case starts from this output/."""
    root = make_project(tmp_path_factory.mktemp("good") / "site")
    proc = run_build(root, "--no-search")
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.fixture
def site(good_site: Path, tmp_path: Path) -> Path:
    root = tmp_path / "site"
    shutil.copytree(good_site, root, symlinks=True)
    return root


def apply_case(root: Path, case: str) -> None:
    """Lay the case's files over the site."""
    folder = BROKEN / case
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_dir() or rel in ("expected.txt", "delete.txt"):
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(path.read_bytes())
    deletes = folder / "delete.txt"
    if deletes.is_file():
        for rel in deletes.read_text().split():
            (root / rel).unlink()


def assert_refused(root: Path, before: dict[str, bytes], expected: list[str]) -> None:
    proc = run_build(root, "--no-search")
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == expected
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert tree_bytes(root / "output") == before, "a failed build changed output/"
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".output")) == [".output.lock"]


@pytest.mark.parametrize("case", CASES)
def test_broken_case(site: Path, case: str):
    before = tree_bytes(site / "output")
    apply_case(site, case)
    expected_file = BROKEN / case / "expected.txt"
    if os.environ.get("UPDATE_BROKEN") == "1":
        expected_file.write_text(run_build(site, "--no-search").stderr)
    expected = expected_file.read_text().splitlines()
    assert expected[-1].startswith("build failed: ") and expected[-1].endswith("; output/ was not changed")
    assert_refused(site, before, expected)


def failed_line(errors: int) -> str:
    return f"build failed: {errors} error{'s' if errors > 1 else ''}; output/ was not changed"


def test_five_megabyte_page_is_refused_before_it_is_read(site: Path):
    before = tree_bytes(site / "output")
    (site / "content/notices/cp9.md").write_bytes(NOTICE.encode() + b"x" * 5_000_000)
    assert_refused(site, before, [
        "content/notices/cp9.md: error: the file is 5.0 MB; a page may be at most 2 MB",
        failed_line(1)])


def test_symlinks_out_of_content_looping_or_dangling_are_refused(site: Path):
    before = tree_bytes(site / "output")
    notices = site / "content/notices"
    (site / "secret.md").write_text(NOTICE)
    os.symlink(site / "secret.md", notices / "outside.md")
    os.symlink("/etc/passwd", notices / "passwd.md")
    os.symlink("loop-b.md", notices / "loop-a.md")
    os.symlink("loop-a.md", notices / "loop-b.md")
    os.symlink("no-such-file.md", notices / "dangling.md")
    os.symlink("..", notices / "folder-loop")
    assert_refused(site, before, [
        "content/notices/dangling.md: error: a symbolic link to a file that does not exist",
        "content/notices/folder-loop: error: a symbolic link to a folder is not allowed in content/ "
        "(copy the files instead)",
        "content/notices/loop-a.md: error: a symbolic link that loops back on itself",
        "content/notices/loop-b.md: error: a symbolic link that loops back on itself",
        "content/notices/outside.md: error: a symbolic link that points outside content/",
        "content/notices/passwd.md: error: a symbolic link that points outside content/",
        failed_line(6)])


def test_a_fifo_named_like_a_page_does_not_hang_the_build(site: Path):
    before = tree_bytes(site / "output")
    os.mkfifo(site / "content/notices/pipe.md")
    assert_refused(site, before, ["content/notices/pipe.md: error: not a regular file", failed_line(1)])


def test_a_symlink_inside_content_is_an_ordinary_page(site: Path):
    os.symlink("../guides/back-taxes-guide.md", site / "content/notices/linked.md")
    proc = run_build(site, "--no-search")
    # It is read as a notice, so the guide's keys are wrong there: a content error, not a path error.
    assert proc.returncode == 1
    assert "content/notices/linked.md:2: error: unknown key 'id'" in proc.stderr


def test_bom_and_crlf_simply_work(site: Path):
    page = NOTICE.replace("Body.", "## Why you received it\n\nBody.")
    (site / "content/notices/cp9.md").write_bytes(b"\xef\xbb\xbf" + page.replace("\n", "\r\n").encode())
    (site / "content/notices/cp8.md").write_bytes(page.replace("CP9", "CP8").replace("\n", "\r\n").encode())
    (site / "content/notices/cp7.md").write_bytes(b"\xef\xbb\xbf" + page.replace("CP9", "CP7").encode())
    proc = run_build(site, "--no-search")
    assert proc.returncode == 0, proc.stderr
    for code in ("cp9", "cp8", "cp7"):
        html = (site / f"output/notices/{code}/index.html").read_text(encoding="utf-8")
        assert f"{code.upper()}: A test notice" in html
        assert "\r" not in html and "\ufeff" not in html
        assert 'id="why-you-received-it"' in html


def test_optional_keys_left_empty_count_as_absent(site: Path):
    """`updated: ''` or a bare `updated:` is no date: the page builds as if the key were not
    there (found by tests/test_properties.py: it used to crash the holiday table)."""
    (site / "content/notices/cp9.md").write_text(NOTICE.replace("Read it.\n", "Read it.\nupdated: ''\n"))
    (site / "content/notices/cp8.md").write_text(NOTICE.replace("CP9", "CP8").replace("Read it.\n",
                                                                                   "Read it.\nupdated:\n"))
    (site / "content/guides/g.md").write_text("---\nid: g\ntitle: A guide\nsummary: S.\nupdated: ''\n---\nBody.\n")
    proc = run_build(site, "--no-search")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for page in ("notices/cp9", "notices/cp8", "guides/g"):
        assert (site / "output" / page / "index.html").is_file()


def test_every_error_of_a_run_is_reported_at_once(site: Path):
    """Cases from different stages together: all their lines, in file order, in one run."""
    before = tree_bytes(site / "output")
    expected = []
    for case in ("fm-tabs", "ref-dangling-in-text", "path-guide-id-escapes", "type-wrong-everywhere"):
        apply_case(site, case)
        expected += (BROKEN / case / "expected.txt").read_text().splitlines()[:-1]
    proc = run_build(site, "--no-search")
    assert proc.returncode == 1
    got = proc.stderr.splitlines()
    assert got[-1].startswith("build failed: ")
    # fm-tabs and type-wrong-everywhere write the same file: the last one wins.
    assert set(got[:-1]) <= set(expected)
    assert any(line.startswith("content/guides/extra-guide.md:2:") for line in got)
    assert any(line.startswith("content/notices/cp9.md:3:") for line in got)
    assert tree_bytes(site / "output") == before


# -- the dev server survives every bad edit --------------------------------------------------------------

def test_dev_server_survives_every_broken_case_and_recovers(good_site: Path, tmp_path: Path):
    """The preview (site_src/serve.py) rebuilds after each bad edit: it shows the errors, never
    crashes, keeps no stale page, and serves the site again after the next good save."""
    serve = pytest.importorskip("site_src.serve")
    root = tmp_path / "site"
    shutil.copytree(good_site, root, symlinks=True)
    pristine = tmp_path / "pristine"
    shutil.copytree(good_site, pristine, symlinks=True)
    preview = serve.Preview(root)
    preview.rebuild()
    assert not preview.failed and not preview.crash
    good_home = preview.respond("/")[2]
    for case in CASES:
        apply_case(root, case)
        preview.rebuild()
        assert preview.crash == "", f"{case}: the rebuild crashed:\n{preview.crash}"
        assert preview.failed, case
        status, _, body = preview.respond("/")
        assert status.startswith("500"), case
        shown = [d.text() for d in preview.problems]
        expected = (BROKEN / case / "expected.txt").read_text().splitlines()[:-1]
        assert shown == expected, case
        for line in expected:
            assert _html_text(line) in body.decode("utf-8"), (case, line)
        # The next good save: put every file back as it was.
        for sub in ("content", "templates"):
            shutil.rmtree(root / sub)
            shutil.copytree(pristine / sub, root / sub, symlinks=True)
        preview.rebuild()
        assert not preview.failed and not preview.crash, case
        status, _, body = preview.respond("/")
        assert status.startswith("200") and body == good_home, case


def _html_text(line: str) -> str:
    import html
    return html.escape(line)
