"""The dev server's memory of its previous build, so that a save redoes only what it changed.

The SQLite cache (`cache.py`) makes a fresh process fast, but a server rebuilding on every save
would still unpickle every loaded page, every render's recorded reads and every page's HTML from
it on each save (about 1 s at 4000 notices). `BuildMemory` keeps the same entries as live objects
between the rebuilds of one process, under the same keys: a loaded page by the hash of its file's
bytes; a rendered page by the renderer state and page hash it was made from (`base`) plus what each
of its recorded site-graph reads hashed to. A page is taken from memory only when all of those are
unchanged, which is exactly when the disk cache's render key would match, so the output is the
same bytes as a cold build (tests/test_fast_paths.py).

Everything here belongs to one `generation` (generator code, library versions, templates): a
change to any of them empties it. The pipeline replaces whole tables at the end of a stage, so a
build that stops half-way leaves entries that are still each correct for their own keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cache import ABSENT, KIND_ATTR, field_read, page_read


@dataclass
class RenderMemo:
    base: str
    """The hash of the renderer's shared state and of the page itself."""
    reads: list | set
    """The (field, key) site-graph lookups the render made (a set once it has been looked up)."""
    html: bytes
    facts: Any
    digest: str
    """The hash of `html` (the page as rendered, before the late assets' names are filled in)."""


@dataclass
class BuildMemory:
    generation: str = ""
    sources: dict[str, tuple] = field(default_factory=dict)
    """Content path -> ((size, mtime_ns, inode), the SourceFile read, its hash, settled): files
    not read again while unchanged (`pipeline._read_sources`)."""
    loads: dict[str, tuple[str, Any]] = field(default_factory=dict)
    """Content path -> (hash of path, kind and bytes; the loaded (page, problems))."""
    renders: dict[str, RenderMemo] = field(default_factory=dict)
    """Output path -> how it was rendered last time."""
    site: Any = None
    """The resolved site every entry of `renders` is right for (the last build's)."""
    reads: dict[str, set] = field(default_factory=dict)
    """Every read some entry of `renders` made, by field (for "page": page key -> attributes);
    it may hold more than that (reads of pages since re-rendered), never less."""
    links: dict[str, tuple[Any, str, list]] = field(default_factory=dict)
    """Output path -> (page facts object, base path, its links resolved by the cross-page check)."""
    check: tuple[str, list] | None = None
    """(hash of every output file, the cross-page check's diagnostics)."""
    check_memo: Any = None
    """The last cross-page check, page by page (`check.CheckMemo`), for an incremental check."""
    catalogue: dict[str, str] = field(default_factory=dict)
    """repr of a notices.json item -> its JSON text (render.catalogue)."""
    resolved: Any = None
    """The last resolve (`resolve.ResolveMemo`), reused when a save changed no page's links."""
    env: Any = None
    """The Jinja2 environment with its compiled templates (templates are part of `generation`)."""
    values: dict[str, Any] = field(default_factory=dict)
    """Named values (the holiday table), as the disk cache's kv table."""
    listing: tuple[list, dict] | None = None
    """The last listing of content/ and its files' stamps (`load.discover`, when it found no
    problem), for `load.relist`."""

    def warm(self, generation: str) -> bool:
        """True when this memory holds a previous build (loaded and rendered) of the same
        generation, so the disk cache is not needed; a new generation empties it."""
        if self.generation == generation and self.loads and self.renders:
            return True
        if self.generation != generation:
            listing = self.listing  # what content/ holds: the same in any generation
            self.__init__(generation)  # type: ignore[misc]
            self.listing = listing
        return False


def add_reads(universe: dict[str, set], reads) -> None:
    """Add one render's recorded reads to `universe` (see `BuildMemory.reads`)."""
    by_page = universe.setdefault("page", {})
    for name, key in reads:
        if name == "page":
            attrs = by_page.get(key[0])
            if attrs is None:
                attrs = by_page[key[0]] = set()
            attrs.add(key[1])
        else:
            universe.setdefault(name, set()).add(key)


def changed_reads(old, new, universe: dict[str, set]) -> set[tuple]:
    """The reads in `universe` that give a different value in site `new` than in site `old`.

    Values are compared with ==, which for what a resolved site holds (str, int, lists, tuples,
    dates and dataclasses of those) is the same as comparing their bytes; a page object loaded
    from the same bytes is reused as is (`BuildMemory.loads`), so unchanged pages cost nothing."""
    out: set[tuple] = set()
    old_pages, new_pages = old.pages, new.pages
    moved = {k for k in universe.get("page", {}) if old_pages.get(k) is not new_pages.get(k)}
    for key in moved:
        for attr in universe["page"][key]:
            if page_read(old_pages, key, attr) != page_read(new_pages, key, attr):
                out.add(("page", (key, attr)))
    for key in universe.get("pages", ()):
        a, b = old_pages.get(key, ABSENT), new_pages.get(key, ABSENT)
        if a is not b and a != b:
            out.add(("pages", key))
    same_keys = list(old_pages) == list(new_pages)
    if "pages_keys" in universe and not same_keys:
        out.add(("pages_keys", None))
    out |= _changed_kind_reads(old_pages, new_pages, universe.get(KIND_ATTR, ()), same_keys)
    for name, keys in universe.items():
        if name in ("page", "pages", "pages_keys", KIND_ATTR):
            continue
        a, b = getattr(old, name, ABSENT), getattr(new, name, ABSENT)
        if a is b:  # the same object (the graph of a save that changed no links: resolve_again)
            continue
        for key in keys:
            if field_read(a, key) != field_read(b, key):
                out.add((name, key))
    return out


def _changed_kind_reads(old_pages: dict, new_pages: dict, reads, same_keys: bool) -> set[tuple]:
    """The whole-kind reads (`cache.KIND_ATTR`) that give something else in `new_pages`: all of
    them if the keys or their order changed, else those whose kind a changed page had or has and
    whose attribute it changed (or its kind); unchanged pages are the same objects."""
    if not reads:
        return set()
    if not same_keys:
        return {(KIND_ATTR, key) for key in reads}
    moved = [(old_pages[k], page) for k, page in new_pages.items() if old_pages[k] is not page]
    out = set()
    for kind, attr in reads:
        for a, b in moved:
            if (a.kind == kind or b.kind == kind) and \
                    (a.kind != b.kind or getattr(a, attr, None) != getattr(b, attr, None)):
                out.add((KIND_ATTR, (kind, attr)))
                break
    return out
