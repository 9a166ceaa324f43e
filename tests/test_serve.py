"""The dev server, as a writer uses it: start it, break a page, see the errors, fix it, see the site."""

from __future__ import annotations

import os
import socket
import subprocess
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from conftest import PROJECT, make_project

WAIT = 30.0
"""Upper bound for the server to start or to pick up a change (it usually takes well under a second)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def shown(html: str) -> str:
    """The text a reader sees, without markup or scripts."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return soup.get_text()


def wait_for(url: str, predicate, what: str) -> tuple[int, str]:
    deadline = time.monotonic() + WAIT
    last: tuple[int, str] | Exception = (0, "")
    while time.monotonic() < deadline:
        try:
            last = fetch(url)
            if predicate(*last):
                return last
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; last response: {last!r}")


@pytest.fixture
def server(tmp_path: Path):
    root = make_project(tmp_path / "site")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}
    proc = subprocess.Popen([sys.executable, str(PROJECT / "build.py"), "serve", "--port", str(port),
                             "--root", str(root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    try:
        yield root, f"http://127.0.0.1:{port}", proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_serves_the_site_and_prints_the_url(server):
    root, base, proc = server
    status, body = wait_for(base + "/", lambda s, b: s == 200, "the home page")
    assert "Test Help Center" in body
    assert "livereload.js" in body  # the browser reloads by itself
    status, body = fetch(base + "/notices/cp14/")
    assert status == 200 and "CP14" in body
    assert fetch(base + "/no/such/page/")[0] == 404
    proc.kill()
    out = proc.communicate(timeout=10)[0]
    assert f"{base}/" in out
    assert not (root / "output").exists(), "the preview serves from memory and leaves output/ alone"


def test_broken_edits_show_errors_on_every_page_and_the_site_recovers(server):
    root, base, proc = server
    wait_for(base + "/", lambda s, b: s == 200, "the home page")
    page = root / "content" / "notices" / "cp14.md"
    good = page.read_text(encoding="utf-8")

    # A dangling cross-link: the error names the file and line, on every page served.
    page.write_text(good + "\nSee [[CP5O4]] next.\n", encoding="utf-8")
    line = (good + "\nSee [[CP5O4]] next.\n").splitlines().index("See [[CP5O4]] next.") + 1
    expected = f"content/notices/cp14.md:{line}: error: in the text: page 'CP5O4' does not exist"
    status, body = wait_for(base + "/notices/cp14/", lambda s, b: expected in shown(b), "the dangling-link error")
    assert status == 500
    assert "<script" not in body.split("</head>")[1], "errors show without JavaScript"
    for path in ("/", "/guides/back-taxes-guide/", "/notices/lt11/"):
        assert expected in shown(fetch(base + path)[1])

    # Bad YAML on top: both files' problems are listed.
    other = root / "content" / "notices" / "lt11.md"
    other_good = other.read_text(encoding="utf-8")
    other.write_text(other_good.replace("title:", "title: [unclosed", 1), encoding="utf-8")
    wait_for(base + "/", lambda s, b: "content/notices/lt11.md:" in shown(b) and "malformed YAML" in shown(b)
             and expected in shown(b),
             "the YAML error")

    # Fix both: the site comes back.
    page.write_text(good, encoding="utf-8")
    other.write_text(other_good, encoding="utf-8")
    status, body = wait_for(base + "/notices/cp14/", lambda s, b: s == 200, "recovery")
    assert "error:" not in body and "CP14" in body
    assert proc.poll() is None, "the server never dies on bad content"


def test_template_and_config_changes_rebuild(server):
    root, base, proc = server
    wait_for(base + "/", lambda s, b: s == 200, "the home page")
    config = root / "site.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('name = "IRS Notice Help Center"',
                                                                 'name = "Renamed Help Center"'), encoding="utf-8")
    wait_for(base + "/", lambda s, b: s == 200 and "Renamed Help Center" in b, "the renamed site")


def test_port_in_use_is_a_clear_error(tmp_path: Path):
    root = make_project(tmp_path / "site")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = subprocess.run([sys.executable, str(PROJECT / "build.py"), "serve", "--port", str(port),
                               "--root", str(root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- the watcher, without a server -----------------------------------------------------------------

class _Loop:
    """Stands in for tornado's IOLoop: records what the watcher schedules."""

    def __init__(self) -> None:
        self.scheduled: list = []

    def call_later(self, delay, callback) -> None:
        self.scheduled.append(callback)


def _watched(tmp_path: Path):
    from site_src import serve

    root = tmp_path / "site"
    (root / "content" / "notices").mkdir(parents=True)
    (root / "content" / "notices" / "cp14.md").write_text("one\n", encoding="utf-8")
    (root / "site.toml").write_text("name = 'x'\n", encoding="utf-8")
    rebuilds: list[int] = []
    watcher = serve._RebuildingWatcher(lambda: rebuilds.append(1))
    for name in ("content", "templates", "site.toml"):
        watcher.watch(str(root / name), watcher.mark)
    watcher.baseline()
    return root, watcher, rebuilds


def _round(watcher, loop: _Loop) -> tuple:
    """What livereload's poll does after the watcher scheduled it (or finds without being asked)."""
    time.sleep(0.05)
    watcher._read(loop, lambda: None)
    scheduled = bool(loop.scheduled)
    loop.scheduled.clear()
    return scheduled, watcher.examine()


@pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux's")
def test_the_watcher_names_the_files_a_rebuild_lists_again(tmp_path: Path):
    """`take_changes`: the paths the kernel named since the last rebuild, or None where a walk
    must tell (a folder made or gone), for `load.relist`."""
    root, watcher, _rebuilds = _watched(tmp_path)
    loop = _Loop()
    notices = root / "content" / "notices"
    watcher.take_changes()
    (notices / "cp14.md").write_text("two\n", encoding="utf-8")
    (notices / "cp15.md").write_text("new\n", encoding="utf-8")
    _round(watcher, loop)
    assert watcher.take_changes() == {str(notices / "cp14.md"), str(notices / "cp15.md")}
    (notices / "cp15.md").unlink()
    _round(watcher, loop)
    assert watcher.take_changes() == {str(notices / "cp15.md")}
    (notices / "state").mkdir()
    (notices / "cp14.md").write_text("three\n", encoding="utf-8")
    _round(watcher, loop)
    assert watcher.take_changes() is None
    assert watcher.take_changes() == frozenset()  # nothing since


@pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux's")
def test_the_kernel_tells_the_watcher_of_saves_renames_new_folders_and_nothing_else(tmp_path: Path):
    root, watcher, rebuilds = _watched(tmp_path)
    assert watcher._inotify is not None
    loop = _Loop()
    notices = root / "content" / "notices"

    (notices / "cp14.md").write_text("two\n", encoding="utf-8")                  # a save
    assert _round(watcher, loop) == (True, ("__livereload__", None)) and rebuilds == [1]
    assert _round(watcher, loop) == (False, (None, None)), "nothing more: no second rebuild"

    (notices / ".cp14.md.swx").write_text("x", encoding="utf-8")                 # an editor's swap file
    (notices / "cp14.md.swp").write_text("x", encoding="utf-8")
    (root / ".cache").mkdir()                                                    # the build's own files
    (root / ".cache" / "build.sqlite3").write_text("x", encoding="utf-8")
    (root / "output").mkdir()
    assert _round(watcher, loop)[0] is True  # '.cp14.md.swx' is a new file under content/: rebuild
    (root / ".cache" / "build.sqlite3").write_text("y", encoding="utf-8")
    (notices / "cp14.md.swp").write_text("y", encoding="utf-8")
    (root / "output" / "index.html").write_text("y", encoding="utf-8")
    assert _round(watcher, loop) == (False, (None, None)), "only what a writer edits rebuilds"

    tmp = notices / "cp14.md~new"
    tmp.write_text("three\n", encoding="utf-8")
    os.replace(tmp, notices / "cp14.md")                                         # a save by rename
    assert _round(watcher, loop)[1] == ("__livereload__", None)

    (notices / "state").mkdir()                                                  # a new folder...
    _round(watcher, loop)
    (notices / "state" / "ca-1234.md").write_text("new\n", encoding="utf-8")     # ...is watched too
    assert _round(watcher, loop) == (True, ("__livereload__", None))

    (root / "templates").mkdir()                                                 # made after the start
    assert _round(watcher, loop)[0] is True
    (root / "site.toml").write_text("name = 'y'\n", encoding="utf-8")
    assert _round(watcher, loop)[0] is True
    assert len(rebuilds) == 7


@pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux's")
def test_the_watcher_hears_edits_to_the_targets_of_symlinks(tmp_path: Path):
    shared = tmp_path / "shared"                        # outside the project: the build reads it
    (shared / "partials").mkdir(parents=True)           # through the links, so it must rebuild
    (shared / "base.html").write_text("a", encoding="utf-8")
    (shared / "notes.txt").write_text("a", encoding="utf-8")
    (shared / "partials" / "faq.html").write_text("a", encoding="utf-8")
    root = tmp_path / "site"
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "base.html").symlink_to(shared / "base.html")
    (root / "templates" / "partials").symlink_to(shared / "partials")
    (root / "templates" / "loop").symlink_to(root / "templates")  # a link back in: no endless walk
    from site_src import serve

    rebuilds: list[int] = []
    watcher = serve._RebuildingWatcher(lambda: rebuilds.append(1))
    watcher.watch(str(root / "templates"), watcher.mark)
    watcher.baseline()
    loop = _Loop()

    (shared / "base.html").write_text("b", encoding="utf-8")                    # a linked file's target
    assert _round(watcher, loop) == (True, ("__livereload__", None))
    (shared / "partials" / "faq.html").write_text("b", encoding="utf-8")        # in a linked folder
    assert _round(watcher, loop) == (True, ("__livereload__", None))
    (shared / "notes.txt").write_text("b", encoding="utf-8")                    # beside a target, not read
    assert _round(watcher, loop) == (False, (None, None))

    (shared / "other.html").write_text("a", encoding="utf-8")
    (root / "templates" / "new.html").symlink_to(shared / "other.html")         # a link made later
    assert _round(watcher, loop)[0] is True
    (shared / "other.html").write_text("b", encoding="utf-8")
    assert _round(watcher, loop) == (True, ("__livereload__", None))
    assert len(rebuilds) == 4


@pytest.mark.skipif(sys.platform != "linux", reason="inotify is Linux's")
def test_symlink_targets_that_appear_come_back_or_cannot_be_watched(tmp_path: Path, monkeypatch):
    """A dangling link whose target appears, a linked folder deleted and made again, a target
    the kernel refuses to watch: each is looked at again (`_recheck_links`, every second), and
    one refusal does not send the whole server back to polling."""
    import inotify_simple

    shared = tmp_path / "shared"
    (shared / "partials").mkdir(parents=True)
    (shared / "locked").mkdir()
    (shared / "locked" / "head.html").write_text("a", encoding="utf-8")
    root = tmp_path / "site"
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "base.html").symlink_to(shared / "later.html")      # dangling at the start
    (root / "templates" / "partials").symlink_to(shared / "partials")
    (root / "templates" / "head.html").symlink_to(shared / "locked" / "head.html")
    real_add_watch = inotify_simple.INotify.add_watch

    def add_watch(self, path, mask):
        if "locked" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_add_watch(self, path, mask)

    monkeypatch.setattr(inotify_simple.INotify, "add_watch", add_watch)
    from site_src import serve

    rebuilds: list[int] = []
    watcher = serve._RebuildingWatcher(lambda: rebuilds.append(1))
    watcher.watch(str(root / "templates"), watcher.mark)
    watcher.baseline()
    assert watcher._inotify is not None, "one target it may not watch: the rest still by inotify"
    loop = _Loop()

    def recheck() -> tuple:
        watcher._recheck_links(loop, lambda: None)
        return _round(watcher, loop)

    assert recheck() == (False, (None, None))
    (shared / "later.html").write_text("a", encoding="utf-8")                    # the target appears
    assert recheck() == (True, ("__livereload__", None))
    (shared / "later.html").write_text("b", encoding="utf-8")                    # and is watched now
    assert _round(watcher, loop) == (True, ("__livereload__", None))

    shutil.rmtree(shared / "partials")                                           # a checkout, say
    _round(watcher, loop)
    (shared / "partials").mkdir()
    (shared / "partials" / "faq.html").write_text("a", encoding="utf-8")
    recheck()
    (shared / "partials" / "faq.html").write_text("b", encoding="utf-8")
    assert _round(watcher, loop) == (True, ("__livereload__", None))
    assert recheck() == (False, (None, None)), "nothing new: no rebuild"


def test_without_inotify_the_watcher_polls(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "inotify_simple", None)  # import fails: not Linux, say
    root, watcher, rebuilds = _watched(tmp_path)
    assert watcher._inotify is None
    assert watcher.examine() == (None, None)
    (root / "content" / "notices" / "cp14.md").write_text("a longer text\n", encoding="utf-8")
    assert watcher.examine() == ("__livereload__", None) and rebuilds == [1]
    assert watcher.examine() == (None, None)


def test_every_save_reloads_the_browser_even_seconds_apart(server):
    """The browser's live-reload connection gets a reload for each save, including a second save
    within livereload's 3 s 'too many refreshes' window, and after the page was rebuilt."""
    import asyncio
    import json

    from tornado.websocket import websocket_connect

    root, base, _proc = server
    wait_for(base + "/", lambda s, b: s == 200, "the home page")
    page = root / "content" / "notices" / "cp14.md"
    good = page.read_text(encoding="utf-8")

    async def browser() -> list[float]:
        ws = await websocket_connect(base.replace("http://", "ws://") + "/livereload")
        await ws.write_message(json.dumps({"command": "hello", "protocols": [
            "http://livereload.com/protocols/official-7"]}))
        assert json.loads(await ws.read_message())["command"] == "hello"
        await ws.write_message(json.dumps({"command": "info", "url": base + "/notices/cp14/", "plugins": {}}))
        await asyncio.sleep(0.5)
        gaps = []
        for n in range(2):
            saved = time.monotonic()
            page.write_text(good + f"\nSave number {n}.\n", encoding="utf-8")
            message = json.loads(await asyncio.wait_for(ws.read_message(), WAIT))
            assert message["command"] == "reload" and message["path"] == "*"
            gaps.append(time.monotonic() - saved)
            assert f"Save number {n}." in fetch(base + "/notices/cp14/")[1], "reloaded before the rebuild"
        ws.close()
        return gaps

    gaps = asyncio.run(browser())
    assert len(gaps) == 2 and gaps[1] < 3


def test_the_periodic_full_collection_waits_for_an_idle_server(tmp_path: Path, monkeypatch):
    """The full garbage collection due every FULL_GC_EVERY rebuilds (~0.2 s at 4000 notices) runs
    once no rebuild has ended for IDLE_GC_AFTER seconds, not at the start of the next save's
    rebuild; only saves that never leave the server idle make a rebuild collect first."""
    import gc

    from site_src import serve

    root = make_project(tmp_path / "site")
    preview = serve.Preview(root)
    collections: list[int] = []
    real_collect = gc.collect
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(preview.rebuilds) or real_collect(*a))
    monkeypatch.setattr(serve.Preview, "FULL_GC_EVERY", 3)
    monkeypatch.setattr(serve.Preview, "GC_OVERDUE", 2)
    for _ in range(3):
        preview.rebuild()
        assert not preview.collect_if_idle()  # just rebuilt: not idle
    assert collections == [] and not preview.failed
    assert not preview.collect_if_idle(now=preview.last_rebuild + serve.Preview.IDLE_GC_AFTER / 2)
    assert preview.collect_if_idle(now=preview.last_rebuild + serve.Preview.IDLE_GC_AFTER)
    assert collections == [3] and gc.get_freeze_count() > 0  # collected, and frozen again
    assert not preview.collect_if_idle(now=preview.last_rebuild + 60)  # not due again yet
    for _ in range(6):  # saves too fast to ever be idle: the rebuild collects first
        preview.rebuild()
    assert collections == [3, 9]
    gc.unfreeze()


def test_the_watcher_calls_the_idle_check_on_the_servers_loop(tmp_path: Path, monkeypatch):
    from tornado import ioloop

    from site_src import serve

    started: list = []
    monkeypatch.setattr(ioloop.PeriodicCallback, "start", lambda self: started.append(self.callback))
    idle = lambda: None  # noqa: E731
    watcher = serve._RebuildingWatcher(lambda: None, idle)
    watcher.start(lambda: None)
    assert idle in started
