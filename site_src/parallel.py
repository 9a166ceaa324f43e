"""Page work on every core: a process pool for loading, rendering and reading pages.

Workers are forked from the build process once the shared state is ready (the sources for the
load stage; the renderer and the resolved site for the render stage), so nothing big is sent to
them: they receive index ranges and send back results. Forking is only done where it is safe
(a POSIX system, a single-threaded parent); otherwise, and for small jobs where starting workers
costs more than it saves, the work runs here, serially, through the same function, so the
output is the same either way (tests/test_fast_paths.py).

A worker that dies (killed, out of memory) fails the build with `WorkerDied` instead of leaving
it waiting forever for a result that will never come (as `multiprocessing.Pool` would); workers
leave Ctrl-C and SIGTERM to the build process, which stops them.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import threading
from contextlib import closing
from typing import Any, Callable, Iterator, Sequence

# multiprocessing and concurrent.futures are imported where a pool is started (~15 ms of every
# build's start-up otherwise: a build after one edit renders its few pages here, with none)

MIN_ITEMS = 300
"""Below this many items a pool costs more than it saves (fork, pipes, pickling)."""

_JOB: tuple[Callable[[Any], Any], Sequence[Any]] | None = None
_LEFT: list = []
"""Pools shut down without waiting for their workers (a build stopped early)."""


def all_joined() -> bool:
    """Whether every pool this process started has had its workers joined. One left winding down
    (a build interrupted while its workers loaded or rendered) is joined by the interpreter's
    exit handlers, which a process must then not skip (`cli.end`)."""
    return not _LEFT


def workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    env = os.environ.get("NHC_WORKERS")
    if env and env.isdigit():
        n = int(env)
    return max(1, n)


def can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


class WorkerDied(RuntimeError):
    """A worker process ended before returning its part of the work."""


HELD = {signal.SIGINT, signal.SIGTERM}
"""The signals `write.signals_held` holds back around a fork."""


def _worker_start() -> None:
    # Forked workers inherit the build's handlers (SIGTERM raises KeyboardInterrupt there, see
    # write.build_lock); a signal to the whole process group is the parent's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_chunk(bounds: tuple[int, int]) -> list:
    func, items = _JOB  # type: ignore[misc]
    try:
        return [func(items[i]) for i in range(*bounds)]
    finally:
        release_memory()


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Hand the C heap's free memory back to the system. The build frees many large buffers
    (pickled chunks, pre-fill page bytes) that glibc otherwise keeps: ~90 MiB of a cold build's
    main process at 4000 notices. A few ms; a no-op off glibc."""
    if _TRIM is not None:
        _TRIM(0)


def map_items(func: Callable[[Any], Any], items: Sequence[Any], *, min_items: int | None = None) -> list:
    """`[func(x) for x in items]`, in forked workers when it pays. `func` and `items` reach the
    workers by inheritance, so they need not be picklable; the results must be."""
    with closing(imap_items(func, items, min_items=min_items)) as results:
        return list(results)


def imap_items(func: Callable[[Any], Any], items: Sequence[Any], *, min_items: int | None = None,
               wait_on_stop: bool = False) -> Iterator:
    """`map_items`, yielding each result in order as soon as its chunk is back, so the caller can
    put results away (the build spills pages to disk) while the workers go on. Close it (or run
    it to the end) to stop the workers; with `wait_on_stop`, closing it waits for them to finish
    their chunk and exit (they write files the caller will then remove)."""
    n = workers()
    if n < 2 or len(items) < (MIN_ITEMS if min_items is None else min_items) or not can_fork():
        for x in items:
            yield func(x)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    global _JOB
    _JOB = (func, items)
    gc.freeze()  # inherited objects out of the workers' collector: it would touch (copy) their pages
    try:
        # small chunks: a worker holds one chunk's results twice (list, pickle) and the build process
        # receives them whole; 32 per worker cut a cold build's peak at 4000 notices by ~20 MiB at no
        # measurable cost in time (8 per worker before)
        chunk = max(16, len(items) // (n * 32))
        bounds = [(i, min(i + chunk, len(items))) for i in range(0, len(items), chunk)]
        pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork"), initializer=_worker_start)
        try:
            for part in pool.map(_run_chunk, bounds):
                yield from part
                del part
                release_memory()  # the chunk's pickle, freed
        except BrokenProcessPool as exc:
            pool.shutdown()  # the others were stopped; joined, so a later stage may fork again
            raise WorkerDied(f"a worker process died while rendering or loading pages ({exc})") from None
        except BaseException:  # also GeneratorExit: the caller stopped early
            pool.shutdown(wait=wait_on_stop, cancel_futures=True)  # workers finish their chunk, then exit
            if not wait_on_stop:
                _LEFT.append(pool)  # still winding down: see `all_joined`
            raise
        pool.shutdown()  # joined: the next stage forks only from a single-threaded process
        release_memory()
    finally:
        _JOB = None
        gc.unfreeze()


def fork_child(func: Callable[[], Any]) -> int:
    """A forked process that runs `func()` and ends (exit status 0 if it returned, 1 if it
    raised), without the parent's exit handlers or buffers; its pid, for `reap` or `stop`.
    Ctrl-C is left to the parent. Call it within `write.signals_held()` and keep the pid before
    leaving that block, so that a Ctrl-C cannot lose the process (the child unblocks them)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            _worker_start()
            if hasattr(signal, "pthread_sigmask"):
                signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)
            func()
            code = 0
        finally:
            os._exit(code)
    return pid


def reap(pid: int) -> int:
    """The exit status of the child `pid`, once it has ended (-1 if it cannot be told)."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:  # reaped already, or SIGCHLD ignored
        return -1


def stop(pid: int) -> None:
    """Kill the child `pid` and reap it."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    reap(pid)


class Forked:
    """A call running in a forked process (`fork_call`)."""

    def __init__(self, pid: int, fd: int):
        self.pid, self.fd = pid, fd

    def result(self) -> Any | None:
        """Its return value, once it has ended; None if it failed (raised, was killed). Stopped
        while waiting (Ctrl-C), it stops the process too."""
        import pickle

        chunks = []
        try:
            with os.fdopen(self.fd, "rb") as pipe:  # read to the end first: a result larger than
                while chunk := pipe.read(1 << 20):  # the pipe's buffer keeps the process waiting on it
                    chunks.append(chunk)
            status = reap(self.pid)
        except BaseException:
            stop(self.pid)
            raise
        if status != 0:
            return None
        try:
            return pickle.loads(b"".join(chunks))
        except Exception:  # noqa: BLE001 - cut short: treated as failed
            return None

    def cancel(self) -> None:
        """Stop it and let it go (its result is not wanted)."""
        try:
            os.close(self.fd)
        except OSError:  # closed already (by `result`)
            pass
        stop(self.pid)


def fork_call(func: Callable[[], Any]) -> Forked | None:
    """`func()` in a forked process (`fork_child`) while this one goes on; its result (pickled
    back through a pipe) from `Forked.result`. None where it would not pay or is not safe (one
    core, `can_fork`): the caller then calls `func` itself. The process shares this one's memory
    as it was (copy-on-write), so nothing is sent to it; it must not use what cannot be shared
    across a fork (the cache's SQLite connection). Call it within `write.signals_held()`."""
    if workers() < 2 or not can_fork():
        return None
    import pickle

    read_end, write_end = os.pipe()

    def call() -> None:
        os.close(read_end)
        data = pickle.dumps(func(), pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)

    gc.freeze()  # as for the pool: the child's collector would touch (copy) every inherited page
    try:
        pid = fork_child(call)
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    finally:
        gc.unfreeze()
    os.close(write_end)
    return Forked(pid, read_end)
