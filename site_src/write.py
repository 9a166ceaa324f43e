"""Stage 5, write: put the rendered files on disk without ever leaving a half-written `output/`.

Files go into a fresh sibling folder (`.output.tmp-*`); only when every file is written is it
swapped for `output/` (one atomic exchange where the OS offers it, else two renames). A lock
file keeps two builds from publishing at once. The site replaced is kept as `.output.spare`,
which the next publish moves to the temporary name and updates instead of starting afresh.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import parallel
from .spill import write_all

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class BuildLocked(Exception):
    pass


class OutputChanged(RuntimeError):
    """A file a build wrote was replaced or removed before the build was done with it."""


class UnsafePath(ValueError):
    """An output path that would land outside the output folder; the loader should have refused it."""


@contextmanager
def build_lock(root: Path, output_name: str = "output"):
    """Hold an exclusive lock for the duration of a build; fail at once if another holds it.

    Holding the lock, it is safe to clear what an interrupted build left behind, so that happens
    first. SIGTERM (a cancelled CI job) is turned into KeyboardInterrupt meanwhile, so it cleans up
    like Ctrl-C instead of dying between two renames.
    """
    lock_path = root / ".output.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    previous = None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise BuildLocked("another build is running in this folder; wait for it to finish") from None
            raise
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _interrupt)
        clean_stale(root, output_name)
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        os.close(fd)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where unsupported."""
    fn = _renameat2()
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def _renameat2():
    """libc's renameat2, or None. Looked up among the symbols the interpreter already has (libc
    is linked in) before asking `ctypes.util.find_library`, which runs `ldconfig` in a child
    process (one more process per publish, and one whose memory counts twice while it starts)."""
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        pass
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True).renameat2 if name else None
    except (OSError, AttributeError):
        return None


def clean_stale(root: Path, output_name: str = "output", keep: Path | None = None) -> None:
    """Remove temporary folders left by an interrupted build, restoring output/ if a swap was cut short
    (`keep`: this build's own tree, `Staging`)."""
    out = root / output_name
    for stale in sorted(root.glob(f".{output_name}.old-*")):
        if not out.exists():
            stale.rename(out)
        else:
            shutil.rmtree(stale, ignore_errors=True)
    for stale in root.glob(f".{output_name}.tmp-*"):
        if keep is None or stale.name != keep.name:  # by name: `keep` may be spelt another way
            shutil.rmtree(stale, ignore_errors=True)


def safe_relpath(rel: str) -> str:
    """`rel` if it names a file inside the output folder; raises UnsafePath otherwise.

    The loader already limits codes and ids to letters, digits and hyphens; this is the last guard,
    at the one place that writes, against `..`, absolute paths, backslashes and NUL bytes.
    """
    parts = rel.split("/")
    if (not rel or "\x00" in rel or "\\" in rel or rel.startswith("/")
            or any(p in ("", ".", "..") for p in parts)):
        raise UnsafePath(f"refusing to write {rel!r}: not a plain relative path inside the output folder")
    return rel


@dataclass
class SpareTree:
    """The site before the last publish, kept beside output/ (`.output.spare`) rather than deleted,
    so the next publish updates it in place instead of making every folder and link anew (on this
    kind of disk ~1 s for 6000 pages, mostly mkdir and the deletion of the old tree)."""

    files: frozenset[str]
    """Every file it holds, as the caller has verified (size, mtime and inode of each)."""
    keep: frozenset[str]
    """Those that already hold the new bytes."""


def spare_path(root: Path, output_name: str = "output") -> Path:
    return root / f".{output_name}.spare"


class Prelink:
    """A hard-linked copy of the live site, made by a child process while the build does its
    work, to become the spare tree (`SpareTree`) when there is none: the first build after a cold
    one otherwise makes every folder and link of the new tree itself, after everything else
    (~0.4-1.3 s at 4000 notices; a child does it in ~0.4 s beside the build's own ~0.9 s). It is
    named like a temporary tree, so `clean_stale` removes what an interrupted build left."""

    def __init__(self, pid: int, path: Path):
        self.pid: int | None = pid
        self.path = path

    @classmethod
    def start(cls, root: Path, output_name: str = "output") -> Prelink | None:
        """Start copying `root/output_name`; None where processes cannot be forked. Call it
        within `signals_held()`, and keep what it returns before leaving that block: a Ctrl-C
        then always finds a Prelink to cancel."""
        if not hasattr(os, "fork"):
            return None
        src, dest = root / output_name, root / f".{output_name}.tmp-prelink-{os.getpid()}"
        shutil.rmtree(dest, ignore_errors=True)
        return cls(parallel.fork_child(lambda: _link_tree(os.fspath(src), os.fspath(dest))), dest)

    def finish(self) -> Path | None:
        """Wait for the copy: its folder if it is complete, else None (and it is removed)."""
        pid, self.pid = self.pid, None  # reaped: its number may be another process's from now on
        if pid is None:
            return None
        if parallel.reap(pid) == 0 and self.path.is_dir():
            return self.path
        shutil.rmtree(self.path, ignore_errors=True)
        return None

    def cancel(self) -> None:
        pid, self.pid = self.pid, None
        if pid is not None:
            parallel.stop(pid)
        shutil.rmtree(self.path, ignore_errors=True)


@contextmanager
def signals_held():
    """Ctrl-C and SIGTERM held back (delivered at the end of the block) where the OS allows it:
    around a fork, so neither the child (before it sets its own handlers) nor the parent (before
    it has kept the child's number) is interrupted half-way."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, parallel.HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _link_tree(src: str, dest: str) -> None:
    """`dest` as a copy of the folder tree `src` whose files are hard links to `src`'s."""
    os.mkdir(dest)
    todo = [(src, dest)]
    while todo:
        here, there = todo.pop()
        with os.scandir(here) as entries:
            for entry in entries:
                target = os.path.join(there, entry.name)
                if entry.is_dir(follow_symlinks=False):
                    os.mkdir(target)
                    todo.append((entry.path, target))
                else:
                    os.link(entry.path, target, follow_symlinks=False)


def write_tree(target: Path, files: Mapping[str, bytes], link_from: Path | None = None,
               unchanged: frozenset[str] = frozenset(), spare: SpareTree | None = None,
               prewritten: Mapping[str, tuple[int, int, int]] | None = None) -> dict[str, object]:
    """Write every file under `target`; those named in `unchanged` are hard-linked from `link_from`
    (the live output/, whose copy the caller has verified holds exactly these bytes) instead,
    since creating thousands of files is what a small edit's build would otherwise spend its time on.
    With `spare`, `target` is that tree: its files in `spare.keep` stay, the others are written
    over where nothing else holds them (`_overwrite`) and replaced where something may (a hard link
    to the live site or the page store, a process that has the file open). Returns, for each file, how it got
    there: "spare", "live", or the (size, mtime_ns, inode) of the file written. `prewritten`:
    files already in `target` (`Staging.put`), with that state."""
    made: set[str] = set()
    placed: dict[str, object] = dict(prewritten or {})
    top, live = os.fspath(target), os.fspath(link_from) if link_from is not None else None
    keep = spare.keep if spare is not None else frozenset()
    stale = frozenset()
    if spare is not None:
        stale = _clear_spare(top, spare, files)
    # `stale`: the spare tree's files to be written again, over the old bytes where `overwrite`
    # (and `_overwrite` finds it safe), else removed first
    with _lease_breaks_ignored() as overwrite:
        for rel in sorted(files):
            if rel in placed:
                continue
            if rel in keep:
                placed[rel] = "spare"
                continue
            path = os.path.join(top, safe_relpath(rel))
            parent = os.path.dirname(path)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            if rel in stale and (not overwrite or (live is not None and rel in unchanged)):
                _unlink(path)  # never written into: replaced (or linked from the live site)
            if live is not None and rel in unchanged and _link_unchanged(os.path.join(live, rel), path):
                placed[rel] = "live"
                continue
            placed[rel] = _write_file(path, files[rel], in_place=overwrite and rel in stale)
    return placed


def _write_file(path: str, data: bytes, exclusive: bool = False, in_place: bool = False) -> tuple[int, int, int]:
    """Write one file (with `exclusive`, only a new one; with `in_place`, over a spare tree's
    file, see `_overwrite`); its (size, mtime_ns, inode)."""
    if in_place:
        st = _overwrite(path, data)
        if st is not None:
            return st
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o666)
    try:
        write_all(fd, data)
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return st.st_size, st.st_mtime_ns, st.st_ino


def _overwrite(path: str, data: bytes) -> tuple[int, int, int] | None:
    """Write `data` into the spare tree's file at `path` if no other name shares it (one link: not
    the live site's, nor the page store's), keeping its inode; else remove that name (the shared
    file stays whole for its other names) and return None, for the caller to create a new file.

    After a notice is added every page changes (the lookup data's name), and removing ~5900
    stale pages to create them again freed as many inodes and took as many new ones: on ext4
    without a journal (this VM's) each new inode steps over those freed in the last minute or so,
    reading their blocks (`recently_deleted`). Written over, the same pages took 0.09 s, against
    0.75-0.9 s removed and created again (or truncated first: see below).

    A link count does not count open files: a reader of the site two publishes back (a download,
    a server's cache of open files) may still hold the page, and would see it change, even before
    this build's swap. So the build first takes a write lease on it, which Linux grants only when
    no other process has the file open (and, while it is held, makes a process opening it wait
    for its release: `_lease_breaks_ignored`); without one the page is replaced."""
    flags = os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO put there is refused, not waited on
    except FileNotFoundError:
        return None
    except OSError:  # a link, a folder, a FIFO, no permission: not ours to write into
        _unlink(path)
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or not _sole_opener(fd):
            _unlink(path)
            return None
        write_all(fd, data)  # over the old bytes, then cut what is left of them: truncating
        if st.st_size > len(data):  # first waits for the disk to finish writing the old pages out
            os.ftruncate(fd, len(data))
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return st.st_size, st.st_mtime_ns, st.st_ino


def _sole_opener(fd: int) -> bool:
    """Whether no other open file refers to `fd`'s file: a write lease is granted only then (it
    goes when `fd` is closed)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
        return True
    except (OSError, AttributeError):  # held open elsewhere, or no leases here
        return False


@contextmanager
def _lease_breaks_ignored():
    """Yields whether files may be written over (`_overwrite`): where leases exist and SIGIO,
    which a lease break sends to its holder (a process opening the file while the build writes
    it), can be ignored for the while (its default action ends the process). Signal handlers are
    set from the main thread only; elsewhere nothing is written over."""
    if not (hasattr(fcntl, "F_SETLEASE") and hasattr(signal, "SIGIO")) \
            or threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.signal(signal.SIGIO, signal.SIG_IGN)
    try:
        yield True
    finally:
        signal.signal(signal.SIGIO, previous)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _clear_spare(top: str, spare: SpareTree, files: Mapping[str, bytes]) -> frozenset[str]:
    """Remove from the spare tree every file the new site does not have, then the folders that
    left empty; the stale files it does have are left to be written over (`_overwrite`), and
    returned."""
    emptied: set[str] = set()
    stale = spare.files - spare.keep
    for rel in stale:
        if rel in files:
            continue
        path = os.path.join(top, safe_relpath(rel))
        _unlink(path)
        emptied.add(os.path.dirname(path))
    for folder in sorted(emptied, key=len, reverse=True):
        while folder != top:
            try:
                os.rmdir(folder)
            except OSError:  # not empty: a kept or a new file's folder
                break
            folder = os.path.dirname(folder)
    return frozenset(rel for rel in stale if rel in files)


def _link_unchanged(live: str, path: str) -> bool:
    """Hard-link one unchanged file from the live site; False (so it gets written) if that fails."""
    try:
        os.link(live, path, follow_symlinks=False)
        return True
    except OSError:
        return False


def publish(root: Path, files: Mapping[str, bytes], output_name: str = "output",
            before_swap: Callable[[Path], None] | None = None,
            unchanged: frozenset[str] = frozenset(), placed: dict | None = None,
            spare: SpareTree | None = None, staging: Staging | None = None) -> Path:
    """Write `files` into a fresh folder and swap it in for `root/output_name`.

    `before_swap(folder)` runs on the complete new tree before it goes live (e.g. the search
    indexer); if it raises, nothing is published. Files named in `unchanged` are hard-linked from
    the current `output/` (see `write_tree`); `placed`, if given, receives what `write_tree`
    returns (moving the folder into place changes none of it). With `spare` (which the caller has
    verified), the spare tree is moved to the temporary name and updated there, so that a build
    cut short leaves a temporary folder that `clean_stale` removes. The previous site becomes the
    new spare tree. With `staging` (not with `spare`), the new tree is that folder, some of whose
    files the render already wrote; once published, `staging` names output/.
    """
    out = root / output_name
    if staging is not None:
        spare = None
    clean_stale(root, output_name, keep=staging.path if staging is not None else None)
    if staging is not None and not staging.path.is_dir():
        raise OutputChanged(f"the new site this build was writing ({staging.path.name}) was deleted before it "
                            "could be published, perhaps by another program; run the build again")
    tmp = staging.path if staging is not None else Path(tempfile.mkdtemp(prefix=f".{output_name}.tmp-", dir=root))
    old = root / f".{output_name}.old-{os.getpid()}"
    kept = spare_path(root, output_name)
    try:
        if spare is not None and not _move(kept, tmp):  # replaces the empty folder mkdtemp made
            spare = None
        made = write_tree(tmp, files, out if unchanged and out.is_dir() else None, unchanged, spare,
                          staging.placed if staging is not None else None)
        if placed is not None:
            placed.update(made)
        if before_swap is not None:
            before_swap(tmp)
        os.chmod(tmp, 0o755)
        if out.exists() and _exchange(tmp, out):
            _keep_as_spare(tmp, kept)  # tmp now holds the previous site
        else:
            # Two renames: output/ is briefly missing; clean_stale() puts `old` back if we die here.
            had_output = out.exists()
            if had_output:
                out.rename(old)
            tmp.rename(out)
            if had_output:
                _keep_as_spare(old, kept)
        if staging is not None:
            staging.swapped_in(out)
    except BaseException:
        if not out.exists() and old.exists():
            old.rename(out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


class Staging:
    """The new tree of a build with no site to update (a cold build: no spare tree), made before
    the render so each worker writes the pages it renders straight into it, as they are made:
    the build process never holds, spills or writes their bytes, and the disk's work is spread
    over the workers. `publish` then writes the rest and swaps it in; a failed build removes it."""

    def __init__(self, path: Path):
        self.path = path
        self.placed: dict[str, tuple[int, int, int]] = {}
        """Output path -> (size, mtime_ns, inode) of each file written into it."""
        self.published = False
        """Swapped in: `path` is (or is about to be) output/ itself, which `remove` must not touch."""

    @classmethod
    def make(cls, root: Path, output_name: str = "output") -> Staging:
        made = tempfile.mkdtemp(prefix=f".{output_name}.tmp-", dir=root)
        return cls(root / os.path.basename(made))  # spelt like `root` (mkdtemp may make it absolute)

    def put(self, rel: str, data: bytes) -> tuple[int, int, int]:
        """Write one new file (never one already there); its (size, mtime_ns, inode)."""
        path = self.file(rel)
        try:
            return _write_file(path, data, exclusive=True)
        except FileNotFoundError:  # its folder is not there yet
            os.makedirs(os.path.dirname(path), exist_ok=True)
            return _write_file(path, data, exclusive=True)

    def file(self, rel: str) -> str:
        """Where the file `rel` is in the tree."""
        return os.path.join(self.path, safe_relpath(rel))

    def get(self, rel: str) -> bytes:
        """A file's bytes, from wherever the tree is now (output/ once published); `OutputChanged`
        if it is no longer the file written (a later build replaced it)."""
        try:
            with open(os.path.join(self.path, safe_relpath(rel)), "rb") as fh:
                st = os.fstat(fh.fileno())
                if self.placed.get(rel, (st.st_size, st.st_mtime_ns, st.st_ino)) != (st.st_size, st.st_mtime_ns, st.st_ino):
                    raise OutputChanged(f"{self.path.name}/{rel} was replaced after this build wrote it")
                return fh.read()
        except (FileNotFoundError, NotADirectoryError):
            raise OutputChanged(f"{self.path.name}/{rel} is gone (a later build replaced it, or this one did not "
                                "publish)") from None

    def remove(self) -> None:
        """Delete the tree of a build that did not publish it (a no-op once published)."""
        if not self.published:
            shutil.rmtree(self.path, ignore_errors=True)

    def swapped_in(self, out: Path) -> None:
        self.published = True  # first: an interruption between the two leaves output/ alone
        self.path = out


def _move(src: Path, dest: Path) -> bool:
    try:
        os.rename(src, dest)
        return True
    except OSError:
        return False


def _keep_as_spare(previous: Path, kept: Path) -> None:
    """Keep the site just replaced as the next publish's spare tree (any older one goes)."""
    if kept.exists() or kept.is_symlink():
        shutil.rmtree(kept, ignore_errors=True)
    if not _move(previous, kept):
        shutil.rmtree(previous, ignore_errors=True)
