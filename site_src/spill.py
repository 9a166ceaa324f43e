"""The built site's files, with the pages' bytes kept in a temporary file instead of in memory.

A build holds every output file from the render to the publish: ~80 MiB of HTML at 4000
notices, a fifth of a cold build's peak memory, held by the build process while its workers
render and again through the check. None of it is needed at once: the check works from page
facts and hashes, and the publish writes one file at a time. A cold build's workers write each
page straight into the new tree (`write.Staging`); the command line's other builds, which update
the previous site's tree, put each freshly rendered page into a `Spill` (an unnamed temporary
file, in the OS's page cache rather than in the process) as it arrives from the workers, and
`Files` reads it back when asked.
Reading back ~6000 pages costs ~0.05 s. Pages taken from the cache are read from it the same way,
only if asked (`cache.PageStore`): a build after one edit hard-links them and never reads
them. The dev server, which serves from memory and keeps each page between rebuilds, keeps
plain bytes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, MutableMapping
from typing import Any, Callable, NamedTuple


class Spilled(NamedTuple):
    """Where one file's bytes are in a `Spill`."""

    offset: int
    length: int


class Stored(NamedTuple):
    """A file's bytes kept elsewhere: `store.get(ref)` reads them (a `Spill` and a `Spilled`, or
    the cache's `cache.PageStore` and a page's path, hash and filled names)."""

    store: Any
    ref: Any

    def read(self) -> bytes:
        return self.store.get(self.ref)


def write_all(fd: int, data: bytes, at: int | None = None) -> None:
    """All of `data` to `fd`, at offset `at` or where the file is (a write may take only part)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view) if at is None else os.pwrite(fd, view, at)
        view = view[written:]
        if at is not None:
            at += written


class Spill:
    """An append-only temporary file of byte strings; gone when closed or collected."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self._file = tempfile.TemporaryFile(prefix="spill-", dir=folder)
        self._fd = self._file.fileno()
        self._end = 0

    def put(self, data: bytes) -> Stored:
        write_all(self._fd, data, self._end)
        ref, self._end = Spilled(self._end, len(data)), self._end + len(data)
        return Stored(self, ref)

    def get(self, ref: Spilled) -> bytes:
        data = os.pread(self._fd, ref.length, ref.offset)
        while len(data) < ref.length:  # a short read (a signal, a huge page): read the rest
            more = os.pread(self._fd, ref.length - len(data), ref.offset + len(data))
            if not more:
                raise OSError(f"the build's temporary file ended early ({len(data)} of {ref.length} bytes)")
            data += more
        return data

    def close(self) -> None:
        self._file.close()


class Files(MutableMapping):
    """Output path -> bytes, like a dict, where some values are `Stored` elsewhere and read back
    (and passed through `fill` with the arguments they were put with) on each lookup."""

    def __init__(self, data: dict[str, bytes] | None = None, fill: Callable[[bytes, Any], bytes] | None = None):
        self._data: dict[str, bytes | tuple[Stored, Any]] = dict(data or {})
        self._fill = fill

    def put_stored(self, path: str, stored: Stored, fill_args: Any) -> None:
        self._data[path] = (stored, fill_args)

    def __getitem__(self, path: str) -> bytes:
        value = self._data[path]
        if isinstance(value, bytes):
            return value
        stored, args = value
        data = stored.read()
        return self._fill(data, args) if self._fill is not None else data

    def __setitem__(self, path: str, data: bytes) -> None:
        self._data[path] = data

    def __delitem__(self, path: str) -> None:
        del self._data[path]

    def __contains__(self, path: object) -> bool:
        return path in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Files({len(self._data)} files)"
