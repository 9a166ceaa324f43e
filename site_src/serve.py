"""`python build.py serve`: a livereload preview that rebuilds on every save and never dies on bad content.

The site is built in memory with the same `pipeline.build()` as `build` (so it gets every speed-up
of the build for free) and served from memory; `output/` is left alone. While the build is broken,
every page the server sends is an error page listing each problem as `file:line: message`, in plain
HTML so it shows without JavaScript; the next good save brings the site back and the browser
reloads by itself.
"""

from __future__ import annotations

import gc
import html
import logging
import mimetypes
import os
import posixpath
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from livereload import Server
from livereload.watcher import Watcher

from .config import CONFIG_FILE
from .diagnostics import Diagnostic, summary
from .memory import BuildMemory
from .pipeline import BuildOptions, build

WATCHED = ("content", "templates", "static", CONFIG_FILE)
"""What a writer or designer edits; a change to any of them rebuilds the site."""


@dataclass
class Preview:
    """The state the server serves: the last good site, and the problems of the latest build."""

    root: Path
    files: dict[str, bytes] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)
    failed: bool = False
    crash: str = ""
    """An unexpected exception in the build itself, shown instead of crashing the server."""
    base_path: str = "/"
    reload_tag: bytes = b""
    """The live-reload client as an external script, so the pages' own Content-Security-Policy
    (script-src 'self') lets it run; livereload's inline snippet is blocked by that policy."""
    memory: BuildMemory = field(default_factory=BuildMemory)
    """The previous build kept in memory, so a save reloads, re-renders and re-checks only what it
    changed (same bytes as a cold build: tests/test_fast_paths.py)."""
    rebuilds: int = 0

    collected_at: int = 0
    """`rebuilds` when the last full collection ran."""
    last_rebuild: float = 0.0
    """`time.monotonic()` when the last rebuild ended."""

    FULL_GC_EVERY = 25
    """With the previous build held in memory (millions of objects), each of Python's full garbage
    collections costs ~0.2 s, and a rebuild triggered one or two. So what survives a rebuild is
    frozen out of the collector's view (`gc.freeze`), and after every FULL_GC_EVERY rebuilds the
    cycles that earlier builds left (Jinja environments) are collected (`collect_if_idle`): once
    the server has been idle for IDLE_GC_AFTER seconds (a pause, not the gap between two quick
    saves), not at the start of a rebuild, where it made every 25th save ~0.2 s slower to show
    (0.23 s at 4000 notices)."""
    IDLE_GC_AFTER = 3.0
    GC_OVERDUE = 4
    """Collect at the start of a rebuild after all if saves came too fast, for FULL_GC_EVERY *
    GC_OVERDUE rebuilds, to ever find the server idle (the garbage would only grow)."""

    def rebuild(self, changed: frozenset[str] | None = None) -> None:
        """Build again; `changed`: every path changed since the last rebuild, if known."""
        start = time.perf_counter()
        self.rebuilds += 1
        if self.rebuilds - self.collected_at >= self.FULL_GC_EVERY * self.GC_OVERDUE:
            self._collect()
        try:
            result = build(BuildOptions(root=self.root, write=False, search=False, memory=self.memory,
                                        changed=changed))
        except Exception:  # noqa: BLE001 - the preview must survive any bug a bad file can trigger
            self.failed, self.problems = True, []
            self.crash = traceback.format_exc(limit=4)
            print("rebuild crashed (the preview shows the details):\n" + self.crash, file=sys.stderr, flush=True)
            return
        self.crash = ""
        self.problems = result.report.sorted()
        self.failed = result.report.failed()
        if result.config is not None:
            self.base_path = result.config.base_path
        elapsed = time.perf_counter() - start
        for d in self.problems:
            print(d.text(), file=sys.stderr)
        if self.failed:
            print(f"build failed: {summary(self.problems)}; the preview shows the errors until the next good save",
                  file=sys.stderr, flush=True)
        else:
            self.files = result.files
            print(f"rebuilt {result.pages} pages in {elapsed:.2f} s ({summary(self.problems)})", flush=True)
        gc.freeze()
        self.last_rebuild = time.monotonic()

    def collect_if_idle(self, now: float | None = None) -> bool:
        """The full collection due after FULL_GC_EVERY rebuilds, if no rebuild ended in the last
        IDLE_GC_AFTER seconds (the server calls this every second); whether it ran."""
        now = time.monotonic() if now is None else now
        if self.rebuilds - self.collected_at < self.FULL_GC_EVERY or now - self.last_rebuild < self.IDLE_GC_AFTER:
            return False
        self._collect()
        gc.freeze()
        return True

    def _collect(self) -> None:
        gc.unfreeze()
        gc.collect()
        self.collected_at = self.rebuilds

    # -- serving -------------------------------------------------------------------------------
    def lookup(self, url_path: str) -> tuple[str, str | None]:
        """The output file for a request path: (file, None), or ('', redirect location)."""
        path = unquote(url_path.split("?", 1)[0].split("#", 1)[0])
        if self.base_path != "/" and path.startswith(self.base_path):
            path = "/" + path[len(self.base_path):]
        rel = posixpath.normpath(path).lstrip("/")
        if rel in (".", ""):
            rel = ""
        if rel in self.files:
            return rel, None
        index = posixpath.join(rel, "index.html") if rel else "index.html"
        if index in self.files:
            if rel and not path.endswith("/"):
                return "", url_path.split("?", 1)[0] + "/"
            return index, None
        return "", None

    def respond(self, url_path: str) -> tuple[str, list[tuple[str, str]], bytes]:
        """Status, headers and body for a GET of `url_path`."""
        target, redirect = self.lookup(url_path)
        if redirect:
            return "301 Moved Permanently", [("Location", redirect)], b""
        wants_page = not target or target.endswith(".html")
        if (self.failed or self.crash) and wants_page:
            return "500 Build Failed", _html_headers(), error_page(self.problems, self.crash)
        if not target:
            body = self.files.get("404.html", b"<!doctype html><html lang=en><head><title>Not found</title>"
                                              b"</head><body><h1>Not found</h1></body></html>")
            return "404 Not Found", _html_headers(), body
        ctype = mimetypes.guess_type(target)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        body = self.files[target]
        if target.endswith(".html") and self.reload_tag:
            body = body.replace(b"</head>", self.reload_tag + b"</head>", 1)
        return "200 OK", [("Content-Type", ctype), ("Cache-Control", "no-store")], body

    def wsgi(self, environ, start_response):
        status, headers, body = self.respond(environ.get("PATH_INFO") or "/")
        if environ.get("REQUEST_METHOD") == "HEAD":
            body = b""
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]


def _html_headers() -> list[tuple[str, str]]:
    return [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]


def error_page(problems: list[Diagnostic], crash: str = "") -> bytes:
    """The page shown for every URL while the build is broken: each problem as `file:line: message`."""
    items = "".join(f"<li><code>{html.escape(d.text())}</code></li>\n" for d in problems)
    detail = f"<p>The build stopped unexpectedly:</p>\n<pre>{html.escape(crash)}</pre>\n" if crash else ""
    count = html.escape(summary(problems)) if problems else "an unexpected problem"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Build failed: {count}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1b1b1b; }}
h1 {{ color: #b50909; font-size: 1.5rem; }}
li {{ margin: .4rem 0; }}
code, pre {{ background: #fdf0f0; padding: .15rem .35rem; white-space: pre-wrap; word-break: break-word; }}
</style>
</head>
<body>
<h1>The site did not build ({count})</h1>
<p>Fix the problems below and save the file; this page reloads by itself when the build succeeds.</p>
<ul class="build-errors">
{items}</ul>
{detail}</body>
</html>
""".encode("utf-8")


class _RebuildingWatcher(Watcher):
    """Rebuilds once per round of changes, before the browser reloads; told of changes by the
    kernel (Linux inotify, through inotify_simple) where it can, else by polling.

    Told by the kernel, a save starts its rebuild SETTLE_MS after the last event of the round
    (an editor's write, close or rename), and an idle server uses no CPU. Polling (elsewhere, or
    when the kernel refuses more watches): one `os.scandir` pass every POLL_MS (size, mtime and
    inode of every file: ~20 ms at 4000 files, so ~20% of a core while idle; livereload's own
    polling walked the trees in Python every 800 ms, ~0.45 s on average between a save and its
    rebuild at 4000 notices)."""

    POLL_MS = 100
    SETTLE_MS = 10
    LINK_RECHECK_MS = 1000
    EVENTS = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800
    """MODIFY, ATTRIB, CLOSE_WRITE, MOVED_FROM, MOVED_TO, CREATE, DELETE, DELETE_SELF, MOVE_SELF."""
    _OVERFLOW, _IGNORED, _ISDIR, _NEW = 0x4000, 0x8000, 0x40000000, 0x100 | 0x80

    IDLE_MS = 1000

    def __init__(self, on_change, on_idle=None):
        super().__init__()
        self._on_change = on_change
        self._on_idle = on_idle
        """Called every IDLE_MS on the server's loop (`Preview.collect_if_idle`)."""
        self._last: dict[str, tuple[int, int, int]] | None = None
        self._inotify = None
        self._folders: dict[int, str] = {}
        """inotify watch descriptor -> the folder it watches."""
        self._links: dict[int, dict[str, str]] = {}
        """For a folder outside the watched trees that holds a symlink's target: inotify watch
        descriptor -> {target's name: the symlink's path} (the build reads through the link)."""
        self._outside: dict[str, int] = {}
        """The real path of each link target outside the watched trees that is watched -> the
        watch descriptor that hears it (dropped when the kernel drops that watch)."""
        self._symlinks: set[str] = set()
        """Every symlink seen in the watched trees: one whose target is not watched (missing,
        unreadable, its folder deleted) is looked at again every LINK_RECHECK_MS."""
        self._pending = False
        self._changed: set[str] | None = set()
        """Every path the kernel named since `take_changes` (None: something it cannot name,
        such as a folder or a link target, or polling)."""

    def take_changes(self) -> frozenset[str] | None:
        """The paths changed since the last call (see `BuildOptions.changed`), or None."""
        changed, self._changed = self._changed, set()
        return frozenset(changed) if changed is not None and self._inotify is not None else None

    def _unknown(self) -> None:
        self._changed = None

    def mark(self) -> None:
        """The per-path callback livereload wants; the watcher's own bookkeeping does the work."""

    def baseline(self) -> None:
        """Start watching now, before the first build: a change during it rebuilds afterwards."""
        self._last = self.snapshot()
        try:
            from inotify_simple import INotify

            self._inotify = INotify(nonblocking=True)
            for path in self._tasks:
                self._watch(os.path.dirname(path), tree=False)  # the path itself made, removed, renamed
                if os.path.isdir(path):
                    self._watch(path, tree=True)
        except (ImportError, OSError):  # not Linux, or no more watches allowed: poll
            if self._inotify is not None:
                self._inotify.close()
            self._inotify, self._folders, self._links, self._outside, self._symlinks = None, {}, {}, {}, set()

    def _watch(self, folder: str, tree: bool) -> int:
        """Watch `folder` (and, with `tree`, every folder below it), under the name the build
        reads it by: a symlinked folder's events are reported under the link's path."""
        wd = self._inotify.add_watch(folder, self.EVENTS)
        self._folders[wd] = folder
        if tree:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name in self.ignored_dirs:
                        continue
                    if entry.is_symlink():
                        self._watch_link(entry.path)
                    elif entry.is_dir(follow_symlinks=False):
                        self._watch(entry.path, tree=True)
        return wd

    def _watch_link(self, link: str) -> bool:
        """A symlink in a watched tree: the build reads its target, so an edit there is a change
        here (the link's own folder only hears of the link being made, removed or renamed).
        True if its target is now watched and was not before."""
        self._symlinks.add(link)
        target = os.path.realpath(link)
        if self._covered(target) or target in self._outside or self._holds_a_task(target):
            return False  # its events come anyway, or a link loop, or a link back to the project
        try:
            if os.path.isdir(target):
                wd = self._watch(link, tree=True)  # inotify follows the link; events named by `link`
            elif os.path.exists(target):
                wd = self._inotify.add_watch(os.path.dirname(target), self.EVENTS)
                self._links.setdefault(wd, {})[os.path.basename(target)] = link
            else:
                return False  # dangling: looked at again later (`_recheck_links`)
        except OSError:
            return False  # unreadable, or no watches left: this link only is looked at again later
        self._outside[target] = wd
        return True

    def _holds_a_task(self, folder: str) -> bool:
        return any(task.startswith(folder.rstrip(os.sep) + os.sep) for task in self._tasks)

    def _recheck_links(self, loop, callback) -> None:
        """Symlinks whose target was not watched: a target that appeared (or came back) is watched
        now, and rebuilds, as the build reads it."""
        appeared = False
        for link in list(self._symlinks):
            if not os.path.islink(link):
                self._symlinks.discard(link)
            elif os.path.realpath(link) not in self._outside:
                appeared |= self._watch_link(link)
        if appeared:
            self.filepath = None
            self._unknown()
            self._schedule(loop, callback)

    def _schedule(self, loop, callback) -> None:
        if not self._pending:
            self._pending = True
            loop.call_later(self.SETTLE_MS / 1000, callback)

    def start(self, callback) -> bool:
        from tornado import ioloop

        loop = ioloop.IOLoop.current()
        if self._on_idle is not None:
            ioloop.PeriodicCallback(self._on_idle, self.IDLE_MS).start()
        if self._inotify is not None:
            loop.add_handler(self._inotify.fileno(), lambda _fd, _events: self._read(loop, callback), loop.READ)
            ioloop.PeriodicCallback(lambda: self._recheck_links(loop, callback), self.LINK_RECHECK_MS).start()
        else:
            ioloop.PeriodicCallback(callback, self.POLL_MS).start()
        return True

    def _covered(self, path: str) -> bool:
        return any(path == task or path.startswith(task + os.sep) for task in self._tasks)

    def _read(self, loop, callback) -> None:
        """Take the kernel's events; the first one that matters schedules a rebuild SETTLE_MS later
        (the rest of the round arrive meanwhile; any after it schedule the next rebuild)."""
        changed = False
        for event in self._inotify.read(timeout=0):
            if event.mask & self._OVERFLOW:  # events were lost: rebuild (it looks at every file)
                changed = True
                self._unknown()
                continue
            folder = self._folders.get(event.wd)
            linked = self._links.get(event.wd)
            if event.mask & self._IGNORED:  # the kernel dropped the watch (its folder is gone)
                self._folders.pop(event.wd, None)
                self._links.pop(event.wd, None)
                for target in [t for t, wd in self._outside.items() if wd == event.wd]:
                    del self._outside[target]  # looked at again by `_recheck_links`
            if linked is not None and event.name in linked:  # a symlinked file's target
                changed, self.filepath = True, linked[event.name]
                self._unknown()
            if folder is None:
                continue
            path = os.path.join(folder, event.name) if event.name else folder
            if not self._covered(path) or (event.name and self.ignore(event.name)):
                continue
            if event.mask & self._NEW and event.name not in self.ignored_dirs:
                try:
                    if os.path.islink(path):
                        self._watch_link(path)  # a new or changed link: watch its target
                    elif event.mask & self._ISDIR:
                        self._watch(path, tree=True)
                except OSError:
                    pass  # gone again already
            changed, self.filepath = True, path
            if event.mask & self._ISDIR or not event.name:  # a folder made, gone or moved
                self._unknown()
            elif self._changed is not None:
                self._changed.add(path)
        if changed:
            self._schedule(loop, callback)

    def snapshot(self) -> dict[str, tuple[int, int, int]]:
        state: dict[str, tuple[int, int, int]] = {}
        todo = list(self._tasks)
        while todo:
            path = todo.pop()
            try:
                if not os.path.isdir(path):
                    st = os.stat(path)
                    state[path] = (st.st_size, st.st_mtime_ns, st.st_ino)
                    continue
                with os.scandir(path) as entries:
                    for entry in entries:
                        if entry.is_dir():
                            if entry.name not in self.ignored_dirs:
                                todo.append(entry.path)
                        elif not self.ignore(entry.name):
                            st = entry.stat()
                            state[entry.path] = (st.st_size, st.st_mtime_ns, st.st_ino)
            except OSError:
                continue
        return state

    def examine(self):
        """Rebuild if something changed, and tell livereload to reload the browsers. The answer is
        livereload's own '__livereload__', which reloads every time: for a changed file, livereload
        would skip any reload within 3 s of the last (a writer's second save would not show)."""
        if self._inotify is not None:
            if not self._pending:
                return None, None
            self._pending = False
        else:
            now = self.snapshot()
            if self._last is None or now == self._last:
                self._last = now
                return None, None
            self._last = now
        self._on_change()
        self.filepath = None  # the browsers reload the whole page ('*'), not just a stylesheet
        return "__livereload__", None


class _QuietServer(Server):
    def _setup_logging(self):  # livereload logs every poll at INFO; keep the terminal for build results
        logging.getLogger("livereload").setLevel(logging.WARNING)


def _port_problem(host: str, port: int) -> str:
    """Why the port cannot be used ('' when it can), checked before the URL is announced."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return ""


def serve(root: Path, port: int = 8000, host: str = "127.0.0.1") -> int:
    preview = Preview(root, reload_tag=f'<script src="/livereload.js?port={port}"></script>\n'.encode())
    watcher = _RebuildingWatcher(lambda: preview.rebuild(watcher.take_changes()), preview.collect_if_idle)
    server = _QuietServer(app=preview.wsgi, watcher=watcher)
    for name in WATCHED:
        server.watch(str(root / name), watcher.mark)
    watcher.baseline()
    preview.rebuild()
    problem = _port_problem(host, port)
    if problem:
        print(f"error: cannot listen on {host}:{port}: {problem}; try another --port", file=sys.stderr)
        return 2
    url = f"http://{host}:{port}/"
    print(f"Previewing at {url} (rebuilds when content/, templates/, static/ or {CONFIG_FILE} change; "
          "Ctrl+C to stop)", flush=True)
    try:
        server.serve(port=port, host=host, debug=False, restart_delay=0)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}; try another --port", file=sys.stderr)
        return 2
    return 0
