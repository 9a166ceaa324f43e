"""Stage 5, write: put the rendered files on disk without ever leaving a half-written `output/`.

Files go into a fresh sibling folder (`.output.tmp-*`); only when every file is written is it
swapped for `output/` (one atomic exchange where the OS offers it, else two renames). A lock
file keeps two builds from publishing at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class BuildLocked(Exception):
    pass


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
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def clean_stale(root: Path, output_name: str = "output") -> None:
    """Remove temporary folders left by an interrupted build, restoring output/ if a swap was cut short."""
    out = root / output_name
    for stale in sorted(root.glob(f".{output_name}.old-*")):
        if not out.exists():
            stale.rename(out)
        else:
            shutil.rmtree(stale, ignore_errors=True)
    for stale in root.glob(f".{output_name}.tmp-*"):
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


def write_tree(target: Path, files: dict[str, bytes], link_from: Path | None = None,
               unchanged: frozenset[str] = frozenset()) -> None:
    """Write every file under `target`; those named in `unchanged` are hard-linked from `link_from`
    (the live output/, whose copy the caller has verified holds exactly these bytes) instead,
    since creating thousands of files is what a small edit's build would otherwise spend its time on."""
    made: set[Path] = set()
    for rel in sorted(files):
        path = target / safe_relpath(rel)
        parent = path.parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        if link_from is not None and rel in unchanged and _link_unchanged(link_from / rel, path):
            continue
        path.write_bytes(files[rel])


def _link_unchanged(live: Path, path: Path) -> bool:
    """Hard-link one unchanged file from the live site; False (so it gets written) if that fails."""
    try:
        os.link(live, path, follow_symlinks=False)
        return True
    except OSError:
        return False


def publish(root: Path, files: dict[str, bytes], output_name: str = "output",
            before_swap: Callable[[Path], None] | None = None,
            unchanged: frozenset[str] = frozenset()) -> Path:
    """Write `files` into a fresh folder and swap it in for `root/output_name`.

    `before_swap(folder)` runs on the complete new tree before it goes live (e.g. the search
    indexer); if it raises, nothing is published. Files named in `unchanged` are hard-linked from
    the current `output/` (see `write_tree`).
    """
    out = root / output_name
    clean_stale(root, output_name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output_name}.tmp-", dir=root))
    old = root / f".{output_name}.old-{os.getpid()}"
    try:
        write_tree(tmp, files, out if unchanged and out.is_dir() else None, unchanged)
        if before_swap is not None:
            before_swap(tmp)
        os.chmod(tmp, 0o755)
        if out.exists() and _exchange(tmp, out):
            shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous site
        else:
            # Two renames: output/ is briefly missing; clean_stale() puts `old` back if we die here.
            had_output = out.exists()
            if had_output:
                out.rename(old)
            tmp.rename(out)
            if had_output:
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        if not out.exists() and old.exists():
            old.rename(out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
