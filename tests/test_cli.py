"""The command line as CI and writers run it: exit codes, --strict, and the three output formats."""

from __future__ import annotations

import json
import os
import re
import sys
import time

from conftest import PROJECT, make_project, run_build

BROKEN = {"content/notices/cp14.md": """\
    ---
    code: CP14
    title: "CP14: Balance due"
    summary: You owe tax.
    category: colection
    quick_answer: Pay by the date on the notice.
    ---
    See [[CP5O1]].
    """}
STRAY = {"content/notes.md": "---\ntitle: Notes\n---\n"}


def test_help_lists_every_command(tmp_path):
    proc = run_build(tmp_path, "--help")
    for command in ("build", "check", "serve", "new", "graph", "schema"):
        assert command in proc.stdout
    assert proc.returncode == 0


def test_a_clean_build_exits_0_and_writes_output(mini):
    proc = run_build(mini)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"built \d+ pages into output/ in [\d.]+ s \(no problems\)", proc.stdout)
    assert (mini / "output" / "index.html").is_file()


def test_errors_are_listed_all_at_once_with_file_line_and_hint(tmp_path):
    root = make_project(tmp_path / "site", BROKEN)
    proc = run_build(root)
    assert proc.returncode == 1
    assert "content/notices/cp14.md:5: error: unknown category 'colection' (did you mean 'collection'?)" in proc.stderr
    assert "content/notices/cp14.md:8: error: in the text: notice 'CP5O1' does not exist" in proc.stderr \
        or "content/notices/cp14.md:8: error: in the text: page 'CP5O1' does not exist (did you mean 'CP501'?)" \
        in proc.stderr
    assert "build failed: 2 errors; output/ was not changed" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_strict_turns_warnings_into_failures(tmp_path):
    root = make_project(tmp_path / "site", STRAY)
    relaxed = run_build(root, "check")
    assert relaxed.returncode == 0
    assert "content/notes.md: warning: not a page" in relaxed.stderr
    strict = run_build(root, "check", "--strict")
    assert strict.returncode == 1
    assert "warnings count as errors with --strict" in strict.stderr


def test_json_format_prints_one_object_per_problem(tmp_path):
    root = make_project(tmp_path / "site", BROKEN)
    proc = run_build(root, "check", "--format", "json")
    assert proc.returncode == 1
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objects) == 2
    assert {o["path"] for o in objects} == {"content/notices/cp14.md"}
    assert {"path", "line", "severity", "message", "hint", "code"} <= set(objects[0])
    assert {o["code"] for o in objects} == {"category-unknown", "ref-unknown"}


def test_github_format_is_automatic_in_github_actions(tmp_path):
    root = make_project(tmp_path / "site", BROKEN)
    proc = run_build(root, "check", env={"GITHUB_ACTIONS": "true"})
    assert proc.returncode == 1
    assert "content/notices/cp14.md:5: error: unknown category" in proc.stderr  # the plain list stays
    assert ("::error file=content/notices/cp14.md,line=5::unknown category 'colection' "
            "(did you mean 'collection'?)") in proc.stderr
    plain = run_build(root, "check")
    assert "::error" not in plain.stderr
    forced = run_build(root, "check", "--format", "text", env={"GITHUB_ACTIONS": "true"})
    assert "::error" not in forced.stderr


def test_github_annotations_for_site_checks_point_at_the_content_line(tmp_path):
    """A pull request's diff holds content files, not output/: the annotation lands on the link's line."""
    root = make_project(tmp_path / "site")
    page = root / "content" / "notices" / "cp14.md"
    text = page.read_text() + "\n[gone](../nope/)\n"
    page.write_text(text)
    proc = run_build(root, "check", "--format", "github")
    assert proc.returncode == 1
    assert f"::error file=content/notices/cp14.md,line={text.count(chr(10))}::link '../nope/'" in proc.stderr


def test_not_a_project_is_misuse(tmp_path):
    proc = run_build(tmp_path)
    assert proc.returncode == 2
    assert "is not a help-center project" in proc.stderr
    for command in ("graph", "serve", "new"):
        proc = run_build(tmp_path, command)
        assert proc.returncode == 2, command
        assert "Traceback" not in proc.stderr


END_CHILD = r"""
import os, signal, sys, time
sys.path.insert(0, os.environ["T_PROJECT"])
from site_src import cli, parallel

def slow(x):
    time.sleep(0.05)
    return x

results = parallel.imap_items(slow, list(range(64)), min_items=1)
try:
    next(results)
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the workers render (they ignore it)
    for _ in results:
        pass
except KeyboardInterrupt:
    import multiprocessing
    print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
    results.close()
cli.end(130)
"""


def test_a_build_interrupted_while_its_workers_run_leaves_none_behind(tmp_path):
    """`cli.end` skips the interpreter's teardown, except when a pool was left winding down by an
    interruption: its exit handlers join the workers, which would otherwise wait forever."""
    import signal
    import subprocess

    env = {**os.environ, "T_PROJECT": str(PROJECT), "NHC_WORKERS": "2"}
    out = tmp_path / "workers.txt"  # a file, not a pipe: workers left behind would hold a pipe open
    with open(out, "w") as fh:
        proc = subprocess.run([sys.executable, "-c", END_CHILD], env=env, stdout=fh, stderr=subprocess.DEVNULL,
                              timeout=120)
    assert proc.returncode == 130
    workers = [int(pid) for pid in out.read_text().split()]
    assert workers  # the pool was running when the build was interrupted
    deadline = time.monotonic() + 10
    alive = workers
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in workers if _alive(pid)]
        time.sleep(0.05)
    for pid in alive:  # do not leave them to the next test
        os.kill(pid, signal.SIGKILL)
    assert not alive, "workers outlived the build"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False
