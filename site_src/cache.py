"""The persistent build cache under `.cache/`: parsed pages, rendered pages and check results.

Everything is keyed by hashes of what produced it, never by timestamps:

* a loaded page by the hash of its file's bytes (and path and kind);
* a rendered page by a hash of everything its render read: the page itself, and each entry of
  the site graph the render looked up (other pages' sources, relations, index entries,
  sequences: see `RecordingSite`), plus the renderer's shared state (config, asset URLs);
* the page facts the checks need by the hash of the page's HTML;
* the cross-page check result by the hash of every output file.

All of it sits under one `generation` key made of the generator's own code, the versions of the
libraries that shape the output, and the templates: change any of those and nothing old is
used. The cache is an optimisation only: a missing, corrupt or stale cache gives the same output
as no cache (tests/test_fast_paths.py).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import itertools
import os
import pickle
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .spill import Stored

SCHEMA = 4


def digest(*parts: bytes | str) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def pickled_digest(obj: Any) -> str:
    return digest(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def tree_digest(folder: Path) -> str:
    """Hash of every file's relative path and bytes under `folder` (templates, static)."""
    parts: list[bytes | str] = []
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            parts += [path.relative_to(folder).as_posix(), path.read_bytes()]
    return digest(*parts)


@functools.lru_cache(maxsize=1)
def generator_version() -> str:
    """The generator's own code and the libraries that shape its output. Once per process: the
    code that runs is what this process imported, whatever its files say now (a dev server read
    its ~30 files and hashed them on every save: ~3% of a title edit's rebuild)."""
    parts: list[bytes | str] = [__version__, str(SCHEMA)]
    here = Path(__file__).resolve().parent
    for path in sorted(here.glob("*.py")):
        parts += [path.name, path.read_bytes()]
    return digest(*parts, *_library_versions())


@functools.lru_cache(maxsize=1)
def _library_versions() -> tuple[str, ...]:
    """Once per process (the dev server asks on every save; reading package metadata ~10 ms):
    the libraries this process imported are the ones that shape its output."""
    import importlib.metadata as md

    parts = []
    for dist in ("jinja2", "markdown-it-py", "mdit-py-plugins", "markdown-it-pyrs", "PyYAML", "beautifulsoup4",
                 "MarkupSafe", "holidays"):
        try:
            parts.append(f"{dist}={md.version(dist)}")
        except md.PackageNotFoundError:
            parts.append(f"{dist}=none")
    return tuple(parts)


# -- recording what a render reads ---------------------------------------------------------------

class ReadLog:
    """The reads made while one page renders, as (field, key) pairs; key None = the whole field."""

    def __init__(self) -> None:
        self.reads: set[tuple[str, Any]] | None = None

    def add(self, name: str, key: Any) -> None:
        if self.reads is not None:
            self.reads.add((name, key))


class _RecordingDict(dict):
    def __init__(self, data: dict, name: str, log: ReadLog):
        super().__init__(data)
        self._name, self._log = name, log

    def __getitem__(self, key):
        self._log.add(self._name, key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._log.add(self._name, key)
        return super().get(key, default)

    def __contains__(self, key):
        self._log.add(self._name, key)
        return super().__contains__(key)

    def _all(self):
        self._log.add(self._name, None)

    def __iter__(self):
        self._all()
        return super().__iter__()

    def __len__(self):
        self._all()
        return super().__len__()

    def keys(self):
        self._all()
        return super().keys()

    def values(self):
        self._all()
        return super().values()

    def items(self):
        self._all()
        return super().items()

    def __reduce__(self):
        return dict, (dict(super().items()),)


LINK = "@link"
LINK_FIELDS = ("key", "kind", "title", "summary", "url")
"""What a link to a page shows (`model.Link`). A link made by `read_link` logs them as one read
("page", (key, LINK)): a page linking 20 others logs 20 reads, not 100, which keeps the render
keys as cheap to check as when a whole page was one read."""
REF = "@ref"
REF_FIELDS = ("key", "kind", "url")
"""Whether a page exists and where it is: looking a page up, or reading one of these, is logged
as ("page", (key, REF)); any other attribute read, title and summary included, is logged by its
name. So a list that shows only codes (404) or codes and summaries (the home page) is not
rendered again when a title changes."""


KIND_ATTR = "kind_attr"
"""A list showing every page of one kind (every notice, every guide) logs ("kind_attr", (kind,
attribute)) once for each attribute it shows, not one read per page: what that read gives is the
attribute of every page of that kind, in site order (`kind_read`), so a page added, gone or
changed in that attribute changes it. The notice list of a 4000-notice site made ~16000 reads,
each logged, stored and checked on every build; it now makes five."""


def kind_read(pages: dict, kind: str, attr: str) -> tuple:
    """What the read (KIND_ATTR, (kind, attr)) gives in `pages`."""
    return tuple((key, getattr(page, attr, None)) for key, page in pages.items() if page.kind == kind)


def pages_of_kind(pages: dict, kind: str, *attrs: str) -> list:
    """The real pages of `kind` in site order, for a list that shows `attrs` of each (and what
    its template reads of them through `ListedPage`); logged as one whole-kind read per attribute
    (keys included) when `pages` records reads."""
    if isinstance(pages, _RecordingPages):
        log = pages._log
        for attr in ("key", *attrs):
            log.add(KIND_ATTR, (kind, attr))
        return [page for page in dict.values(pages) if page.kind == kind]
    return [page for page in pages.values() if page.kind == kind]


def kind_log(pages: dict) -> "ReadLog | None":
    """The log that whole-kind reads of `pages` go to (None when it records nothing)."""
    return pages._log if isinstance(pages, _RecordingPages) else None


def page_read(pages: dict, key: Any, attr: str) -> Any:
    """What the read ("page", (key, attr)) gives in `pages` (compared or hashed by the caller)."""
    page = pages.get(key)
    if page is None:
        return ("absent",)
    if attr == LINK:
        return tuple(getattr(page, f) for f in LINK_FIELDS)
    if attr == REF:
        return tuple(getattr(page, f) for f in REF_FIELDS)
    return getattr(page, attr, _MISSING)


def read_link(pages: dict, key: Any):
    """`pages[key]` for a link showing `LINK_FIELDS` and nothing else of the page: the real page,
    its read logged as one (key, LINK) when `pages` records reads."""
    if isinstance(pages, _RecordingPages):
        pages._log.add("page", (key, LINK))
        return dict.__getitem__(pages, key)
    return pages[key]


class _RecordingPage:
    """A page of the site graph as another page's render sees it: each attribute read is logged
    as ("page", (key, attribute)) (its key, kind and URL as one, see REF), so the home page, which
    shows every notice's code and summary, is not rendered again when only a notice's body or
    title changed. It pickles as the real page."""

    __slots__ = ("_rp_page", "_rp_key", "_rp_log")

    def __init__(self, page, key, log: ReadLog):
        object.__setattr__(self, "_rp_page", page)
        object.__setattr__(self, "_rp_key", key)
        object.__setattr__(self, "_rp_log", log)

    def __getattr__(self, name):
        reads = self._rp_log.reads  # `ReadLog.add`, inlined: the listing pages make ~16000 reads each
        if reads is not None:
            reads.add(("page", (self._rp_key, REF if name in REF_FIELDS else name)))
        return getattr(self._rp_page, name)

    def __setattr__(self, name, value):
        raise AttributeError("the site graph is read-only while rendering")

    def __eq__(self, other):
        self._rp_log.add("pages", self._rp_key)
        return self._rp_page == unwrap(other)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return _same, (self._rp_page,)


_MISSING = object()


def _same(obj):
    return obj


def read_ref(page):
    """The real page behind `page`, its REF read (its key, kind and URL) logged once if it is a
    recording view: what a long list takes of each page before the template shows more."""
    if type(page) is _RecordingPage:
        page._rp_log.add("page", (page._rp_key, REF))
        return page._rp_page
    return page


ABSENT = object()


def field_read(value: Any, key: Any) -> Any:
    """What a render logged as reading (field, `key`) of a site field's `value` read: the whole
    field for None, else the dict's entry or the list's item, ABSENT where there is none."""
    if key is None:
        return value
    if isinstance(value, dict):
        return value.get(key, ABSENT)
    if isinstance(value, list) and type(key) is int:
        return value[key] if -len(value) <= key < len(value) else ABSENT
    return value


def unwrap(page):
    """The real page behind a `_RecordingPage` (or the page itself)."""
    return page._rp_page if type(page) is _RecordingPage else page


class _RecordingPages(_RecordingDict):
    """`Site.pages` for a render: whether a key exists, the list of keys, and each attribute of
    each page read are logged separately (see `_RecordingPage`)."""

    def _page(self, key):
        page = dict.__getitem__(self, key)
        return page if self._log.reads is None else _RecordingPage(page, key, self._log)

    def __getitem__(self, key):
        self._log.add("page", (key, REF))  # whether it exists
        return self._page(key)

    def get(self, key, default=None):
        self._log.add("page", (key, REF))
        return self._page(key) if dict.__contains__(self, key) else default

    def __contains__(self, key):
        self._log.add("page", (key, REF))
        return dict.__contains__(self, key)

    def _all(self):
        self._log.add("pages_keys", None)

    def values(self):
        self._all()
        if self._log.reads is None:  # not rendering (catalogue, feeds): nothing to log
            return dict.values(self)
        return [self._page(k) for k in dict.keys(self)]

    def items(self):
        self._all()
        if self._log.reads is None:
            return dict.items(self)
        return [(k, self._page(k)) for k in dict.keys(self)]


class _RecordingList(list):
    def __init__(self, data: list, name: str, log: ReadLog):
        super().__init__(data)
        self._name, self._log = name, log

    def __getitem__(self, i):
        # One item is one read (a notice's page shows its own collection sequence, not all of
        # them: adding a notice that starts a sequence must not render every page again).
        self._log.add(self._name, i if type(i) is int else None)
        return super().__getitem__(i)

    def __iter__(self):
        self._log.add(self._name, None)
        return super().__iter__()

    def __len__(self):
        self._log.add(self._name, None)
        return super().__len__()

    def __reduce__(self):
        return list, (list(super().__iter__()),)


class RecordingSite:
    """Wraps a `Site` so that every lookup a render makes in it is logged.

    Dict and list fields become recording containers; the renderer and the templates see a
    `Site` (same class, same fields) and cannot tell the difference.
    """

    def __init__(self, site, page_digests: dict[str, str]):
        self.real = site
        self.log = ReadLog()
        self.page_digests = page_digests
        self.attr_memo: dict[tuple[str, str], str] = {}
        """(page's source hash, attribute) -> hash of its value: many pages read the same ones."""
        view = copy.copy(site)
        for f in dataclasses.fields(site):
            value = getattr(site, f.name)
            if f.name == "pages" and isinstance(value, dict):
                setattr(view, f.name, _RecordingPages(value, f.name, self.log))
            elif isinstance(value, dict):
                setattr(view, f.name, _RecordingDict(value, f.name, self.log))
            elif isinstance(value, list):
                setattr(view, f.name, _RecordingList(value, f.name, self.log))
        self.view = view
        self._memo: dict[tuple[str, Any], str] = {}

    def start(self) -> None:
        self.log.reads = set()

    def stop(self) -> set[tuple[str, Any]]:
        """The reads logged since `start`, in no order (the caller sorts what it stores)."""
        reads, self.log.reads = self.log.reads or set(), None
        return reads

    def read_digest(self, name: str, key: Any, keep: bool = True) -> str:
        """The hash of what reading (field, key) returns in the current site; remembered for
        this build unless `keep` is False (a caller that asks once per read, see `remember_tokens`)."""
        memo_key = (name, key)
        if memo_key in self._memo:
            return self._memo[memo_key]
        value = getattr(self.real, name, None)
        if name == "page":
            out = self._attr_digest(*key, keep=keep)
        elif name == KIND_ATTR:
            out = pickled_digest(kind_read(self.real.pages, *key))
        elif name == "pages_keys":
            out = digest(*self.real.pages)
        elif name == "pages":
            if key is None:
                out = digest(*(f"{k}\0{self.page_digests.get(k) or pickled_digest(p)}" for k, p in value.items()))
            elif key in value:
                out = self.page_digests.get(key) or pickled_digest(value[key])
            else:
                out = "absent"
        else:
            found = field_read(value, key)
            out = "absent" if found is ABSENT else pickled_digest(found)
        if keep:
            self._memo[memo_key] = out
        return out

    def _attr_digest(self, key: Any, attr: str, keep: bool = True) -> str:
        source = self.page_digests.get(key)
        if source is not None and (source, attr) in self.attr_memo:
            return self.attr_memo[(source, attr)]
        value = page_read(self.real.pages, key, attr)
        if value is _MISSING:
            out = "no such attribute"
        else:
            out = digest("s", value) if type(value) is str else pickled_digest(value)
        if source is not None and keep:
            self.attr_memo[(source, attr)] = out
        return out

    def changed_reads(self, last: "ReadDigests", graph: str = "") -> set[str]:
        """The tokens (`read_token`) of the reads in `last` that hash differently in this site,
        and `last` brought up to date. A page's attributes are a function of its file's bytes, so
        the reads of a page whose file hash is unchanged are not hashed again; nor are reads of
        the graph when it has the same token (`graph`, see `resolve.Graph`) as `last`'s site."""
        changed: set[str] = set()
        now = self.page_digests
        same_graph = bool(graph) and last.graph == graph
        for token, (name, key, old) in last.reads.items():
            if name == "page":
                source = last.page_sources.get(key[0])
                if source is not None and source == now.get(key[0]):
                    continue
            elif same_graph and name in GRAPH_FIELDS:
                continue
            new = self.read_digest(name, key)
            if new != old:
                changed.add(token)
                last.reads[token] = (name, key, new)
        last.page_sources = dict(now)
        last.graph = graph
        return changed

    def remember_tokens(self, last: "ReadDigests", tokens: str, reads: bytes, used: set[str]) -> None:
        """Add a fresh render's reads (as `read_token` lines and their pickle, unpickled only when
        one of them is new to `last`), hashed in this site, to `last`, and their tokens to `used`.
        Each read is hashed once (`last` holds it after), so the memos are not filled (in a cold
        build at 4000 notices they would hold a copy of all ~24000, ~6 MiB), and `last` and `used`
        share each token's string."""
        lines = tokens.split("\n") if tokens else []
        used.update(lines)
        if any(t not in last.reads for t in lines):
            for token, (name, key) in zip(lines, pickle.loads(reads), strict=True):  # the same order
                if token not in last.reads:
                    last.reads[token] = (sys.intern(name), key, self.read_digest(name, key, keep=False))


def read_token(name: str, key: Any) -> str:
    """One recorded read as a line of text: a cached render's reads are stored as these lines,
    and tested against the changed ones as a set, without unpickling them."""
    return f"{name}\0{key!r}"


@dataclasses.dataclass
class ReadDigests:
    """What every read some cached render made hashed to in the last build's site, so that the
    next build hashes only the reads that could have changed (`RecordingSite.changed_reads`)."""

    reads: dict[str, tuple[str, Any, str]] = dataclasses.field(default_factory=dict)
    """read_token -> (field, key, hash of what it read)."""
    page_sources: dict[str, str] = dataclasses.field(default_factory=dict)
    """Page key -> hash of its file, as in that site."""
    graph: str = ""
    """The token of that site's graph (`resolve.Graph`; '' when not known)."""


GRAPH_FIELDS = frozenset({"index", "relations", "sequences", "stage_of", "pages_keys"})
"""The reads `resolve.Graph` stands for: the site's fields but its pages, and the order of its
page keys (which the graph's `order` holds)."""


def state_digest(obj: Any, skip: tuple[str, ...]) -> str | None:
    """Hash of an object's attributes but `skip` (the renderer's config, assets, anything it
    precomputed); None if some attribute cannot be pickled, so the caller can play safe."""
    try:
        return pickled_digest(sorted((k, v) for k, v in vars(obj).items() if k not in skip))
    except Exception:
        return None


# -- storage -------------------------------------------------------------------------------------

@dataclasses.dataclass
class RenderEntry:
    key: str
    reads: list
    html: bytes
    facts: Any


_TABLES = """
    CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
    CREATE TABLE IF NOT EXISTS loads (path TEXT PRIMARY KEY, key TEXT, blob BLOB);
    CREATE TABLE IF NOT EXISTS renders (path TEXT PRIMARY KEY, base TEXT, tokens TEXT, reads BLOB, filled TEXT,
                                        stamp TEXT, facts BLOB, digest TEXT);
    CREATE TABLE IF NOT EXISTS checks (key TEXT PRIMARY KEY, blob BLOB);
    CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, blob BLOB);
    CREATE TABLE IF NOT EXISTS items (path TEXT PRIMARY KEY, key TEXT, blob BLOB);
"""


DB_NAME = "build.sqlite3"
_FRESH = DB_NAME + ".new-"
"""A build that finds no cache file writes a new one under this name (then its process id and a
count), with its rollback journal in memory, and links it into place when it closes it. In WAL
mode (as an existing cache file is opened, for readers beside a writer and safe commits) every
page is written twice, to the log and then to the file, and read back between: a cold build at
4000 notices stores ~47 MB, 53,000 pwrite and 27,000 pread calls. A build killed before then
leaves only a file no one opens (removed by the next build), never a half-written cache; a
cache file made meanwhile by another build (a dev server's, which takes no build lock) is kept,
not replaced."""


_FRESH_COUNT = itertools.count()
"""Two caches opened afresh by one process (tests, a long-lived caller) get names of their own."""


def _forget_unfinished(folder: Path) -> None:
    """Remove the `_FRESH` files of builds that ended without renaming theirs (killed)."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(_FRESH)]
    except OSError:
        return
    for name in names:
        pid = name[len(_FRESH):].partition(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            _forget_file(str(folder / name))


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (signal 0 tests without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return True


class CacheChanged(RuntimeError):
    """A cached page's HTML was replaced or removed while the build that took it was running."""


class PageStore:
    """Rendered pages' bytes, one file each under `.cache/pages/`, named by what they hold.

    A cold build's workers write each page into the new output tree; the store takes that very
    file as a hard link (no bytes read, copied or written again: keeping ~80 MiB of HTML in
    SQLite cost a cold build at 4000 notices ~0.35 s). Such a file holds the page with the late
    assets' real names filled in (`render.LATE_ASSETS`); its row's `filled` names them, and `get`
    turns them back into the placeholders. Other pages are written here as rendered.
    A file's name is a hash of the page's hash and `filled`, so a name always stands for the same
    bytes; a new one replaces it (by rename: a reader never sees half a page). A build writes into
    a file of an output tree only where nothing else holds it (`write._overwrite`: one link, so
    never one of these), but a person might: a
    file whose row's `stamp` (size, mtime, inode) still matches is used unread (`usable`); one
    that differs (edited in place, or restored from an archive: CI's cache) is read and checked
    first (`checked`), and `get` checks the bytes it reads anyway (a file that fails, or cannot be
    read, is removed: the next build renders that page again). Files no row names are removed by
    `sweep` once their mtime is `SWEEP_AFTER` old: a build's files are written before its rows
    are committed. (A file another build still reads lazily may be swept meanwhile: that build
    then fails with `CacheChanged`, and the next one renders the page again.)"""

    FOLDER = "pages"
    SWEEP_AFTER = 15 * 60
    """Seconds a file no row names is kept (another build may be about to commit its row)."""

    def __init__(self, cache_folder: Path):
        self.folder = os.path.join(cache_folder, self.FOLDER)

    def _path(self, html_digest: str, filled: str) -> str:
        return os.path.join(self.folder, self.name_of(html_digest, filled))

    @staticmethod
    def name_of(html_digest: str, filled: str) -> str:
        """The page's hash, and one of the names filled in (the same few for every page)."""
        return f"{html_digest}-{_filled_key(filled)}" if filled else html_digest

    def _stamp(self, path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return _stamp_text((st.st_size, st.st_mtime_ns, st.st_ino))

    def put(self, data: bytes, html_digest: str) -> tuple[str | None, str | None]:
        """Keep `data` (the page as rendered, hashing to `html_digest`): its (filled, stamp), or
        (None, None) if it could not be written."""
        return self._place(self._path(html_digest, ""), "", html_digest, lambda tmp: _write_new(tmp, data))

    def link(self, written: str, state: tuple[int, int, int], data: bytes, html_digest: str,
             swaps: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
        """Keep the file `written` (the page `data` as rendered, hashing to `html_digest`, with
        `swaps` made in it; `state`: its size, mtime and inode) as a hard link; where hard links
        fail (`.cache/` on another file system), `data` is written instead. Its row's (filled,
        stamp), or (None, None). A link appears whole, so it is made under the file's own name:
        one system call for each page of a cold build (a name taken goes through `_place`)."""
        filled = "\n".join(f"{a.decode()}\t{b.decode()}" for a, b in swaps if a != b)
        path = self._path(html_digest, filled)
        try:
            if self._in_folder(lambda: os.link(written, path)):
                return filled, _stamp_text(state)  # a link keeps the file's size, mtime and inode
        except FileExistsError:
            pass
        kept = self._place(path, filled, html_digest, lambda tmp: os.link(written, tmp))
        return kept if kept[0] is not None else self.put(data, html_digest)

    def _place(self, path: str, filled: str, html_digest: str, make) -> tuple[str | None, str | None]:
        """The file `path`: one already there if it holds the page (another page with the same
        bytes, an earlier build's), else made by `make` under a temporary name and renamed into
        place (a reader never sees half a page; an output file edited in place since it was
        linked here is replaced, not reused)."""
        stamp = self._stamp(path)
        if stamp is not None and self.checked(html_digest, filled) is not None:
            return filled, stamp
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            if self._in_folder(lambda: make(tmp)):
                os.replace(tmp, path)
                stamp = self._stamp(path)
                if stamp is not None:
                    return filled, stamp
        except OSError:
            pass
        _forget_file(tmp)
        return None, None

    def _in_folder(self, make) -> bool:
        """Run `make` (which creates a file in the store), making the store's folder first if it
        is not there; False if it fails (FileExistsError is raised: the name is taken)."""
        for attempt in (1, 2):
            try:
                make()
                return True
            except FileExistsError:
                raise
            except FileNotFoundError:  # the folder is not there yet
                if attempt == 2:
                    return False
                try:
                    os.makedirs(self.folder, exist_ok=True)
                except OSError:
                    return False
            except OSError:
                return False
        return False

    def checked(self, html_digest: str, filled: str) -> bytes | None:
        """The page as rendered if its file holds it (read and checked), else None (a file that
        does not hold it is removed)."""
        try:
            return self.get(("", html_digest, filled))
        except CacheChanged:
            return None

    def stamp_of(self, html_digest: str, filled: str) -> str | None:
        return self._stamp(self._path(html_digest, filled))

    def usable(self, html_digest: str, filled: str, stamp: str) -> bool:
        """Whether the page's file is there, as it was when its row was written."""
        return self._stamp(self._path(html_digest, filled)) == stamp

    def get(self, ref: tuple[str, str, str]) -> bytes:
        """The page `ref` = (output path, hash of its HTML as rendered, `filled`), as rendered;
        `CacheChanged` if the store does not hold it (removed, or changed: then removed, so the
        next build renders that page again)."""
        page, html_digest, filled = ref
        path = self._path(html_digest, filled)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            _forget_file(path)  # unreadable (its output twin's mode changed): the next build renders it
            raise CacheChanged(f"another build or the dev server changed the build cache (.cache/) while this "
                               f"build was using it (page {page}); run the build again") from None
        for line in filled.split("\n") if filled else ():
            placeholder, real = line.split("\t")
            data = data.replace(real.encode(), placeholder.encode())
        if digest(data) != html_digest:
            _forget_file(path)
            raise CacheChanged(f"the build cache's copy of page {page} was changed (.cache/{self.FOLDER}/); "
                               "run the build again")
        return data

    def sweep(self, keep: set[str], now: float) -> None:
        """Remove the files no row names (`keep`: their names), if old enough (`SWEEP_AFTER`)."""
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            if entry.name in keep:
                continue
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime > self.SWEEP_AFTER:
                    os.unlink(entry.path)
            except OSError:
                pass


def _stamp_text(state: tuple[int, int, int]) -> str:
    """A file's (size, mtime_ns, inode) as a row keeps it."""
    return "%d %d %d" % state


@functools.lru_cache(maxsize=64)
def _filled_key(filled: str) -> str:
    return digest(filled)[:12]


def _write_new(path: str, data: bytes) -> None:
    with open(path, "xb") as fh:
        fh.write(data)


def _forget_file(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@dataclasses.dataclass(frozen=True)
class Pickled:
    """A value already pickled (made in another process), for `Cache.put` to store as it is."""

    data: bytes


class Transaction:
    """Statements in one SQLite transaction, begun when made: kept if `commit` is reached, and at
    any SQLite error nothing of it is (the cache is then only slower next time, never wrong)."""

    def __init__(self, db: sqlite3.Connection | None):
        self.db = db
        if db is not None:
            try:
                db.execute("BEGIN")
            except sqlite3.Error:
                self.db = None

    def run(self, sql: str, rows: Iterable[tuple]) -> None:
        if self.db is None:
            return
        try:
            self.db.executemany(sql, rows)
        except sqlite3.Error:
            self.abandon()

    def commit(self) -> None:
        if self.db is None:
            return
        try:
            self.db.execute("COMMIT")
            self.db = None
        except sqlite3.Error:
            self.abandon()

    def abandon(self) -> None:
        db, self.db = self.db, None
        if db is not None:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass


class RenderRows(Transaction):
    """Writes (path, base, reads as read_token lines, pickled reads, `PageStore` filled names and
    stamp or NULLs (its HTML not kept), pickled facts, hash of the html) of freshly rendered pages as they come (while the workers render the rest), in one
    transaction that `commit` ends with the digests of every read in this build's site: a render
    is only ever tested against the digests of the site it was made in or of a later build that
    found it still right, and nothing of a build cut short is kept. Any SQLite error: nothing.
    From its first rows to its commit it holds the cache's write lock: another process writing
    the cache meanwhile (a dev server's first build beside a command-line build) waits, or, after
    SQLite's busy timeout, keeps nothing of what it made (slower next time, never wrong)."""

    def add(self, rows: Iterable[tuple]) -> None:
        self.run("INSERT OR REPLACE INTO renders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def commit(self, read_digests: ReadDigests) -> None:  # type: ignore[override]
        self.run("INSERT OR REPLACE INTO kv VALUES (?, ?)",
                 [("read_digests", pickle.dumps(read_digests, pickle.HIGHEST_PROTOCOL))])
        super().commit()


class Cache:
    """One SQLite file under `.cache/`; a build reads what it needs and writes what it made."""

    def __init__(self, folder: Path, generation: str):
        self.generation = generation
        self.folder = folder
        self.pages = PageStore(folder)
        self.db: sqlite3.Connection | None = None
        self._new: Path | None = None
        """The file a build with no cache file writes (`_FRESH`), made the cache file by `close`."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _forget_unfinished(folder)
            if not (folder / DB_NAME).exists():
                self._new = folder / f"{_FRESH}{os.getpid()}.{next(_FRESH_COUNT)}"
                _forget_file(str(self._new))
            self.db = sqlite3.connect(self._new or folder / DB_NAME, isolation_level=None)
            self.db.execute("PRAGMA synchronous=OFF")  # first: a file written afresh then turns WAL unsynced (-25 ms)
            self.db.execute("PRAGMA journal_mode=%s" % ("MEMORY" if self._new else "WAL"))
            self.db.executescript(_TABLES)
            row = self.db.execute("SELECT v FROM meta WHERE k='generation'").fetchone()
            if row is None or row[0] != generation:  # a new generation may lay its tables out anew
                self.db.executescript("DROP TABLE loads; DROP TABLE renders; DROP TABLE checks; DROP TABLE kv;"
                                      "DELETE FROM meta;" + _TABLES)
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (generation,))
        except (sqlite3.Error, OSError):
            self.db = None  # a broken cache is no cache

    def _query(self, sql: str, args: tuple = ()) -> list:
        if self.db is None:
            return []
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error:
            return []

    def _write(self, sql: str, rows: Iterable, also: tuple[str, tuple] | None = None) -> None:
        """Write `rows` (and the one statement `also`) in one transaction, or nothing."""
        if self.db is None or not (rows or also):
            return
        writer = Transaction(self.db)
        writer.run(sql, rows)
        if also is not None:
            writer.run(also[0], [also[1]])
        writer.commit()

    # loaded pages
    def loads(self) -> dict[str, tuple[str, bytes]]:
        return {path: (key, blob) for path, key, blob in self._query("SELECT path, key, blob FROM loads")}

    def has_loads(self) -> bool:
        return bool(self._query("SELECT 1 FROM loads LIMIT 1"))

    def put_loads(self, rows: list[tuple[str, str, bytes]]) -> None:
        self._write("INSERT OR REPLACE INTO loads VALUES (?, ?, ?)", rows)

    # notices.json items
    def items(self) -> dict[str, tuple[str, bytes]]:
        """Notice key -> (what its notices.json item was made from, the item's bytes)."""
        return {path: (key, blob) for path, key, blob in self._query("SELECT path, key, blob FROM items")}

    def put_items(self, rows: list[tuple[str, str, bytes]]) -> None:
        self._write("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", rows)

    # rendered pages
    def render_keys(self, with_reads: bool = False) -> dict[str, tuple[str, str, list | None]]:
        """Output path -> (base, its reads as read_token lines, the reads themselves if asked)."""
        if not with_reads:
            return {path: (base, tokens, None)
                    for path, base, tokens in self._query("SELECT path, base, tokens FROM renders")}
        return {path: (base, tokens, pickle.loads(reads))
                for path, base, tokens, reads in self._query("SELECT path, base, tokens, reads FROM renders")}

    def render_outputs(self, paths: set[str], html: bool = True) -> dict[str, tuple[str, Any, bytes, str]]:
        """Output path -> (base, html, pickled page facts, hash of the html) of the cached renders
        in `paths`; the facts stay pickled until something needs them (`pipeline.LazyFacts`).
        Without `html`, each page's html is a `spill.Stored` that reads it from the `PageStore`
        if asked. html is None for a render whose HTML is not kept (`pipeline._RenderStage._keep`)
        or no longer in the store."""
        if not paths:
            return {}
        store = self.pages
        rows = self._query("SELECT path, base, facts, digest, filled, stamp FROM renders")
        out: dict[str, tuple[str, Any, bytes, str]] = {}
        restamped: list[tuple[str, str]] = []
        for path, base, facts, d, filled, stamp in rows:
            if path not in paths:
                continue
            kept: Any = None
            if filled is not None and store.usable(d, filled, stamp):
                kept = Stored(store, (path, d, filled))
                if html:
                    try:
                        kept = kept.read()
                    except CacheChanged:
                        kept = None
            elif filled is not None:
                # a stamp that differs: the file was changed in place (not used, and removed) or
                # the cache was restored from an archive (CI: new inodes): checked, stamped anew
                data = store.checked(d, filled)
                now = store.stamp_of(d, filled) if data is not None else None
                if now is not None:
                    restamped.append((now, path))
                    kept = data if html else Stored(store, (path, d, filled))
            out[path] = (base, kept, facts, d)
        self._write("UPDATE renders SET stamp = ? WHERE path = ?", restamped)
        return out

    def sweep_pages(self, now: float | None = None) -> None:
        """Remove the stored pages that no row names (`PageStore.sweep`), at most once in
        `PageStore.SWEEP_AFTER` (a sweep reads every row and lists every file: ~20 ms at 4000
        notices, a build after one edit leaves one file behind); nothing if the rows cannot be read."""
        now = time.time() if now is None else now
        last = self.get("pages_swept")
        if self.db is None or isinstance(last, float) and 0 <= now - last < PageStore.SWEEP_AFTER:
            return
        try:
            rows = self.db.execute("SELECT digest, filled FROM renders WHERE filled IS NOT NULL").fetchall()
        except sqlite3.Error:
            return
        self.pages.sweep({PageStore.name_of(d, filled) for d, filled in rows}, now)
        self.put("pages_swept", now)

    def render_rows(self) -> RenderRows:
        """A writer of fresh renders' rows (`RenderRows`), its transaction begun."""
        return RenderRows(self.db)

    def forget(self, table: str, keep: set[str]) -> None:
        """Drop entries for pages that no longer exist."""
        if self.db is None:
            return
        gone = [(p,) for (p,) in self._query(f"SELECT path FROM {table}") if p not in keep]
        self._write(f"DELETE FROM {table} WHERE path = ?", gone)

    # cross-page checks
    def check(self, key: str) -> Any | None:
        rows = self._query("SELECT blob FROM checks WHERE key = ?", (key,))
        return pickle.loads(rows[0][0]) if rows else None

    def put_check(self, key: str, value: Any) -> None:
        """Keep one check result (the latest)."""
        self._put_one(key, value, "key NOT LIKE 'publish:%'")

    def put_publish(self, key: str, value: Any) -> None:
        """Keep one publish record: what output/ held after the latest publish."""
        self._put_one(key, value, "key LIKE 'publish:%'")

    def _put_one(self, key: str, value: Any, where: str) -> None:
        if self.db is None:
            return
        try:
            self.db.execute(f"DELETE FROM checks WHERE {where}")
        except sqlite3.Error:
            return
        self._write("INSERT OR REPLACE INTO checks VALUES (?, ?)",
                    [(key, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))])

    # single named values (the last build's summary, the holiday table)
    def get(self, name: str) -> Any | None:
        rows = self._query("SELECT blob FROM kv WHERE k = ?", (name,))
        try:
            return pickle.loads(rows[0][0]) if rows else None
        except Exception:  # noqa: BLE001 - a corrupt entry is a missing entry
            return None

    def has(self, name: str) -> bool:
        """Whether a value is stored under `name`, without unpickling it."""
        return bool(self._query("SELECT 1 FROM kv WHERE k = ?", (name,)))

    def put(self, name: str, value: Any) -> None:
        """Keep `value` under `name` (a `Pickled` value as it is)."""
        blob = value.data if isinstance(value, Pickled) else pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        self._write("INSERT OR REPLACE INTO kv VALUES (?, ?)", [(name, blob)])

    def close(self) -> None:
        """Close the file; a cache written afresh (`_FRESH`) becomes the cache file only now."""
        db, self.db = self.db, None
        new, self._new = self._new, None
        if db is not None:
            db.close()
        if new is None:
            return
        target = self.folder / DB_NAME
        if db is not None and not target.exists():  # else another build (a dev server's) made one: kept
            for stale in ("-wal", "-shm"):  # of a cache file deleted by hand: not of this one
                _forget_file(str(self.folder / (DB_NAME + stale)))
            try:
                os.link(new, target)  # never over a file that appeared since: it may be open
            except FileExistsError:
                pass
            except OSError:  # no hard links here
                try:
                    os.replace(new, target)
                except OSError:
                    pass
        _forget_file(str(new))
