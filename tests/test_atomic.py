"""The site is never lost: a build killed or interrupted at any point leaves the last good output/,
the next build clears what it left behind, and two builds at once cannot mix their files.

To stop a build at an exact point, the build runs in a child process with `write._write_file` (or
`Path.rename`) wrapped to pause at the Nth call and touch a marker file; the test then signals it.
No test depends on timing: waits are for files to appear, with a generous limit against hangs.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT, make_project, run_build, tree_bytes

CHILD = r"""
import os, pathlib, sys, time
sys.path.insert(0, os.environ["T_PROJECT"])
from site_src import cli, write

marker, release, point = os.environ["T_MARKER"], os.environ["T_RELEASE"], os.environ["T_POINT"]
stall_at = int(os.environ.get("T_STALL_AT", "0"))

def pause():
    pathlib.Path(marker).touch()
    while not os.path.exists(release):
        time.sleep(0.01)

written = 0
real_write_file = write._write_file
def write_file(path, data, exclusive=False, **kw):
    global written
    if not exclusive and ".output.tmp-" in path:  # the publish's writes (not the workers' own)
        written += 1
        if point == "write" and written == stall_at:
            pause()
    return real_write_file(path, data, exclusive, **kw)
write._write_file = write_file

if point == "swap":  # no renameat2: output/ is renamed aside, then the new tree moved in
    write._exchange = lambda a, b: False
    real_rename = pathlib.Path.rename
    def rename(self, target):
        result = real_rename(self, target)
        if ".output.old-" in str(target):
            pause()
        return result
    pathlib.Path.rename = rename

sys.exit(cli.main(sys.argv[1:]))
"""
LIMIT = 120.0
"""Seconds to wait for a child to reach its pause point; only a hang gets near it."""


def strays(root: Path) -> list[str]:
    """Leftovers of a build: not the lock, nor the previous site kept for the next publish."""
    return sorted(p.name for p in root.iterdir()
                  if p.name.startswith(".output") and p.name not in (".output.lock", ".output.spare"))


class Paused:
    """A build in a child process, paused at `point` ('write' after `stall_at` files, or 'swap')."""

    def __init__(self, root: Path, point: str, stall_at: int = 0):
        self.marker, self.release = root.parent / f"{root.name}.paused", root.parent / f"{root.name}.release"
        env = {**os.environ, "T_PROJECT": str(PROJECT), "T_MARKER": str(self.marker),
               "T_RELEASE": str(self.release), "T_POINT": point, "T_STALL_AT": str(stall_at)}
        env.pop("GITHUB_ACTIONS", None)
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, "build", "--no-search", "--root", str(root)],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + LIMIT
        while not self.marker.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                out, err = self.proc.communicate()
                pytest.fail(f"the build never reached its pause point: rc={self.proc.returncode}\n{err}")
            time.sleep(0.01)

    def signal(self, sig: int) -> tuple[int, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=LIMIT)
        return self.proc.returncode, err

    def resume(self) -> tuple[int, str, str]:
        self.release.touch()
        out, err = self.proc.communicate(timeout=LIMIT)
        return self.proc.returncode, out, err


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A built site whose content then changes, so the next build would write different files."""
    root = make_project(tmp_path / "site")
    proc = run_build(root, "--no-search")
    assert proc.returncode == 0, proc.stderr
    cp14 = root / "content/notices/cp14.md"
    cp14.write_text(cp14.read_text().replace("summary: You owe tax.", "summary: You owe tax (changed)."))
    return root, tree_bytes(root / "output")


def test_killed_mid_write_leaves_the_last_good_site(site):
    root, before = site
    build = Paused(root, "write", stall_at=5)
    assert strays(root) and strays(root)[0].startswith(".output.tmp-"), "the pause is inside the write stage"
    rc, _ = build.signal(signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert tree_bytes(root / "output") == before
    # The next build clears the half-written folder and publishes.
    proc = run_build(root, "--no-search")
    assert proc.returncode == 0, proc.stderr
    assert strays(root) == []
    assert b"You owe tax (changed)." in (root / "output/notices/cp14/index.html").read_bytes()


def test_a_failed_build_after_a_killed_one_also_clears_its_leftovers(site):
    root, before = site
    Paused(root, "write", stall_at=3).signal(signal.SIGKILL)
    (root / "content/notices/bad.md").write_text("no front matter\n")
    proc = run_build(root, "--no-search")
    assert proc.returncode == 1
    assert strays(root) == []
    assert tree_bytes(root / "output") == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_mid_write_cleans_up_at_once(site, sig):
    root, before = site
    build = Paused(root, "write", stall_at=5)
    rc, err = build.signal(sig)
    assert rc == 130
    assert "interrupted: output/ was left as it was" in err
    assert "Traceback" not in err
    assert tree_bytes(root / "output") == before
    assert strays(root) == []


def test_killed_between_the_two_renames_is_repaired_by_the_next_run(site):
    """Where the OS cannot swap two folders atomically, output/ is briefly renamed aside; a build
    killed in that instant leaves it aside, and the next run (even `check`) puts it back first."""
    root, before = site
    build = Paused(root, "swap")
    assert not (root / "output").exists()
    build.signal(signal.SIGKILL)
    proc = run_build(root, "check")
    assert proc.returncode == 0, proc.stderr
    assert tree_bytes(root / "output") == before
    assert strays(root) == []


def test_interrupted_between_the_two_renames_puts_output_back(site):
    root, before = site
    build = Paused(root, "swap")
    rc, _ = build.signal(signal.SIGINT)
    assert rc == 130
    assert tree_bytes(root / "output") == before
    assert strays(root) == []


def test_a_second_build_while_one_runs_is_refused_and_the_first_completes(site):
    root, before = site
    first = Paused(root, "write", stall_at=5)
    second = run_build(root, "--no-search")
    assert second.returncode == 1
    assert second.stderr == "error: another build is running in this folder; wait for it to finish\n"
    assert tree_bytes(root / "output") == before, "the refused build touched output/"
    rc, out, err = first.resume()
    assert rc == 0, err
    assert strays(root) == []
    assert b"You owe tax (changed)." in (root / "output/notices/cp14/index.html").read_bytes()


# -- the same, without pausing: a large site, killed as soon as its temporary folder appears ---------

def big_site(root: Path, notices: int) -> Path:
    make_project(root)
    template = (root / "content/notices/cp501.md").read_text()
    body = "\n\n".join(f"Paragraph {i} with **bold** text and a [link](https://www.irs.gov/)." for i in range(40))
    for i in range(notices):
        text = template.replace("code: CP501", f"code: CP9{i:04d}").replace("Body.", body)
        (root / f"content/notices/cp9{i:04d}.md").write_text(text)
    return root


def test_a_large_build_killed_when_its_temp_folder_appears(tmp_path):
    root = big_site(tmp_path / "site", 150)
    assert run_build(root, "--no-search").returncode == 0
    before = tree_bytes(root / "output")
    cp14 = root / "content/notices/cp14.md"
    cp14.write_text(cp14.read_text().replace("summary: You owe tax.", "summary: Changed."))
    # Without the cache there is no copy of output/ made ahead (a temp folder of links, there before
    # any page is rendered): the first temp folder is the new tree the pages are written into.
    shutil.rmtree(root / ".cache")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    proc = subprocess.Popen([sys.executable, str(PROJECT / "build.py"), "--no-search", "--root", str(root)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    written = 0
    while proc.poll() is None and not written:  # the kill should land while pages are being written
        try:
            written = sum(1 for name in strays(root) for f in (root / name).rglob("*") if f.is_file())
        except OSError:  # a folder gone while looked at
            pass
        time.sleep(0.0005)
    proc.kill()
    proc.wait()
    assert written or proc.returncode == 0  # killed once pages were being written, or it had finished
    after = tree_bytes(root / "output")
    # Killed mid-write (the usual case) or, on a fast machine, after it finished: never in between.
    assert after == before or b"Changed." in after["notices/cp14/index.html"]
    if after != before:
        assert set(after) == set(before)
    assert run_build(root, "--no-search").returncode == 0
    assert strays(root) == []
    # the cache file the killed build was writing afresh (it had none) is gone too
    assert sorted(n for n in os.listdir(root / ".cache") if n.startswith("build.sqlite3")) == ["build.sqlite3"]


def test_two_builds_started_together_leave_one_intact_site(tmp_path):
    root = big_site(tmp_path / "site", 100)
    expected_root = big_site(tmp_path / "expected", 100)
    assert run_build(expected_root, "--no-search").returncode == 0
    expected = tree_bytes(expected_root / "output")
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    procs = [subprocess.Popen([sys.executable, str(PROJECT / "build.py"), "--no-search", "--root", str(root)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    for rc, err in results:
        assert rc == 0 or (rc == 1 and err == "error: another build is running in this folder; wait for it to "
                                              "finish\n"), err
    assert any(rc == 0 for rc, _ in results)
    assert tree_bytes(root / "output") == expected
    assert strays(root) == []


def test_the_swap_is_atomic_without_starting_a_process(tmp_path, monkeypatch):
    """renameat2 is found among the interpreter's own symbols: `ctypes.util.find_library` would
    run ldconfig in a child process on every publish."""
    import ctypes.util
    import os

    from site_src import write

    def no_lookup(name):
        raise AssertionError("find_library was called")
    monkeypatch.setattr(ctypes.util, "find_library", no_lookup)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a", encoding="utf-8")
    inode_a, inode_b = os.stat(a).st_ino, os.stat(b).st_ino
    assert write._exchange(a, b)
    assert (os.stat(a).st_ino, os.stat(b).st_ino) == (inode_b, inode_a) and (b / "x").is_file()
