"""The one orchestrator: config -> load -> resolve -> render -> check -> (only if clean) write.

The same function serves `build`, `check` and the dev server's rebuilds. Nothing touches
`output/` until every stage has run and found no error (a cold build's workers write pages into
the new tree as they render them, `write.Staging`; it replaces `output/` only at the publish).

Speed comes from three things that never change the output (tests/test_fast_paths.py):
* the cache (`cache.py`, under `.cache/`): a page is parsed again only when its file's bytes
  changed, rendered again only when something its render read changed, and its HTML read for
  the checks again only when its bytes changed;
* the pool (`parallel.py`): the pages that do need work are loaded, rendered and read on every
  core;
* the fast paths: markdown-it-pyrs where it gives markdown-it-py's bytes (`markdown.py`) and a
  regular-expression reader of the checks' page facts (`page_facts.py`).
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import os
import pickle
import shutil
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from . import deadlines, markdown, page_facts, source_lines
from .cache import Cache, Pickled, ReadDigests, RecordingSite, RenderRows, digest, read_token, unwrap, generator_version, pickled_digest, state_digest, tree_digest
from .check import CheckMemo, check_site_incremental
from .config import SiteConfig, load_config
from .diagnostics import Diagnostic, Report
from .load import SourceFile, discover, file_stamp, load_page, read_sources, relist
from .memory import BuildMemory, RenderMemo, add_reads, changed_reads
from .model import NOTICE, Page, Site, fold
from . import parallel
from .parallel import imap_items, release_memory
from .render import DATA_FILES, REDIRECT, Renderer, TemplateProblem, fill_late_names, make_env, output_path, render_site
from .resolve import ResolveMemo, resolve, resolve_again
from .spill import Files, Spill, Stored
from .write import Prelink, SpareTree, Staging, publish, signals_held, spare_path
from . import search

CACHE_DIR = ".cache"


@dataclass
class BuildOptions:
    root: Path
    write: bool = True
    strict: bool = False
    output: str = "output"
    search: bool = True
    """Build the full-text search index (skipped by --no-search and by the dev server)."""
    cache: bool = True
    """Use and update the build cache in `.cache/` (same output either way, only faster)."""
    parallel: bool = True
    """Spread page work over the CPU cores when there is enough of it."""
    memory: BuildMemory | None = None
    """The previous build's state, kept between rebuilds by a long-running process (the dev
    server): when it holds the same generation it replaces the disk cache (no unpickling)."""
    base_url: str | None = None
    """In place of site.toml's `base_url` (`--base-url`: where this build is published)."""
    changed: frozenset[str] | None = None
    """With `memory`: every path changed since its last build (the dev server's watcher, which
    the kernel tells), so content/ is listed from the last listing (`load.relist`); None: walk it."""


@dataclass
class BuildResult:
    report: Report
    files: Files = field(default_factory=Files)
    """Every output file. Pages may be read on demand from where the build put them (its spill
    file, the cache, output/ itself): read them before the next build, which may replace them
    (a replaced page raises `CacheChanged` or `write.OutputChanged`, never gives other bytes)."""
    sources: dict[str, str] = field(default_factory=dict)
    site: Site | None = None
    config: SiteConfig | None = None
    written: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)
    """What the cache saved: pages loaded/rendered/read afresh versus taken from the cache."""

    page_count: int | None = None
    """The page count when `files` was not made (the previous build was reused whole)."""

    @property
    def pages(self) -> int:
        if self.page_count is not None and not self.files:
            return self.page_count
        return sum(1 for p in self.files if p.endswith(".html"))


GC_THRESHOLD = (50_000, 20, 1000)
"""The collector's thresholds during a build. A build allocates millions of objects that live to
its end (loaded pages, the site, every page's HTML and facts), and the default thresholds run
five or so full collections over all of them (~0.1-0.2 s of a one-edit build at 4000); young
cycles (template renders) are still collected."""


def build(opts: BuildOptions) -> BuildResult:
    """Run the pipeline (see the module docstring)."""
    old = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        return _build(opts)
    finally:
        gc.set_threshold(*old)


def _build(opts: BuildOptions) -> BuildResult:
    report = Report()
    result = BuildResult(report)
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        result.timings[name] = now - t0
        t0 = now

    root = opts.root
    config, problems = load_config(root, opts.base_url)
    report.extend(problems)
    stamps: dict[str, tuple[int, ...]] = {}
    memory = opts.memory if opts.cache else None
    listing, problems = _discover(root, stamps, memory, opts.changed)
    report.extend(problems)
    generation = digest(generator_version(), tree_digest(root / "templates"), str(markdown.USE_PYRS))
    warm = memory is not None and memory.warm(generation)
    cache = Cache(root / CACHE_DIR, generation) if opts.cache and not warm else None
    min_items = None if opts.parallel else 10**12
    prelink: Prelink | None = None
    staging: Staging | None = None
    ahead: _CheckAhead | None = None
    indexing: _SearchAhead | None = None
    holidays_ahead: _HolidaysAhead | None = None
    try:
        sources_read, keys = _read_sources(root, listing, memory, cache, stamps)
        found_so_far = report.sorted()
        unread = None in keys  # read and hashed by the load's workers: a cold build, nothing to reuse

        def inputs_key() -> str | None:
            return _inputs_key(root, opts, config, found_so_far, listing, keys) \
                if opts.write and cache is not None else None
        inputs = None if unread else inputs_key()
        if _reuse_last_build(root, opts, inputs, cache, result):
            lap("reuse")
            return result
        if opts.write and memory is None:
            with signals_held():
                prelink = _start_prelink(root, opts.output, cache)
        pages, unavailable, page_digests = _load(root, sources_read, keys, cache, report, result.stats, min_items,
                                                 memory)
        if unread:
            _remember_sources(cache, listing, stamps, keys, sources_read)
            inputs = inputs_key()
        del sources_read
        lap("load")
        if config is None:
            return result
        if memory is None and opts.parallel:
            holidays_ahead = _HolidaysAhead(pages, cache)
            holidays_ahead.start()
        site, problems, graph = _resolve(pages, page_digests, config, frozenset(unavailable), cache, memory)
        report.extend(problems)
        result.site, result.config = site, config
        lap("resolve")
        content_ok = not report.errors
        spill = _spill(cache) if memory is None else None  # the dev server keeps its pages in memory
        staging = _staging(root, opts, memory, prelink, cache) if content_ok else None  # else it fails anyway
        stage = _RenderStage(site, page_digests, generation, cache, result.stats, min_items, memory, graph, spill,
                             staging)
        items = _CatalogueRows(cache if memory is None else None, site, page_digests, graph)
        ahead = _CheckAhead(config, stage, cache) if memory is None and content_ok and opts.parallel else None
        indexing = _SearchAhead(staging) if opts.search else None
        files, sources, problems = render_site(stage.recorder.view, config, root / "templates", root / "static",
                                               render_pages=stage.render_pages,
                                               pages_done=_each(indexing.start if indexing is not None else None,
                                                                ahead.start if ahead is not None else None),
                                               holidays=_cached_holidays(cache, memory, holidays_ahead),
                                               catalogue_memo=memory.catalogue if memory is not None else None,
                                               catalogue_known=items.known,
                                               kept=memory.values if memory is not None else None,
                                               env=_env(memory, root, opts.cache, generation))
        report.extend(problems)
        result.files, result.sources = files, sources
        items.remember()
        stage.renderer, stage.pages, items = None, [], None  # the Jinja2 environment, its caches
        release_memory()
        lap("render")
        file_digests, check_digests = _file_digests(files, stage.html_digests, stage.swaps,
                                                    memory.values.setdefault("file_digests", {})
                                                    if memory is not None else None)
        files_key = digest(generation, config.base_path,
                           *(f"{p}\0{sources.get(p, '')}\0{check_digests[p]}" for p in sorted(files)))
        if content_ok and not problems:
            report.extend(source_lines.locate(_check(files, sources, config, stage.facts, files_key, cache, memory,
                                                     check_digests, ahead),
                                              sources, files, lambda src: _read_text(root / src)))
            lap("check")
        if opts.write and not report.failed(opts.strict):
            out_dir = root / opts.output
            publish_key = digest(files_key, str(opts.search))
            last = _last_publish(out_dir, cache)
            if last is not None and last[0] == publish_key:
                result.stats["publish_skipped"] = 1
            else:
                unchanged = _unchanged_files(last, file_digests)
                _adopt_prelink(prelink, root, opts.output, last, cache)
                prelink = None  # waited for: nothing left to cancel
                spare, spare_state = _spare(root, opts.output, cache, file_digests)
                result.stats["linked"] = len(unchanged)
                result.stats["spare_kept"] = len(spare.keep) if spare is not None else 0
                placed: dict[str, object] = {}
                try:
                    publish(root, files, opts.output,
                            before_swap=(lambda tree: indexing.index(tree, files)) if indexing is not None else None,
                            unchanged=unchanged, placed=placed, spare=spare, staging=staging)
                    staging = None  # published: it is output/ now
                except search.SearchIndexError as exc:
                    report.error("pagefind", 0, str(exc), "", "search-index")
                    return result
                state = _published_state(placed, last, spare_state) if not opts.search else None
                _remember_publish(out_dir, publish_key, file_digests, cache, state, last)
            result.written = True
            _remember_build(inputs, publish_key, result, cache)
            lap("write")
    finally:
        if ahead is not None:  # not waited for: a failed build, an interruption
            ahead.cancel()
        if prelink is not None:  # not used: a failed build, an unchanged output/, an interruption
            prelink.cancel()
        if indexing is not None:  # not waited for: as the check ahead (before its folder goes)
            indexing.cancel()
        if holidays_ahead is not None:  # not used: a build that failed before its assets
            holidays_ahead.cancel()
        if staging is not None:  # not published: a failed build, an interruption
            staging.remove()
        if cache is not None:
            cache.close()
    return result


# -- load ------------------------------------------------------------------------------------------

SETTLED_NS = 2_000_000_000
"""A file last modified this long before it was read is not read again while its `file_stamp`
stays the same: any later write gets a later mtime, however coarse the clock."""


def _discover(root: Path, stamps: dict[str, tuple[int, ...]], memory: BuildMemory | None,
              changed: frozenset[str] | None) -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    """`load.discover`, or, when `changed` says what changed since the listing kept in `memory`,
    `load.relist` (falling back to the walk where it cannot tell)."""
    last = memory.listing if memory is not None else None
    if changed is not None and last is not None:
        relisted = relist(root, last, changed)
        if relisted is not None:
            memory.listing = relisted  # type: ignore[union-attr]
            stamps.update(relisted[1])
            return relisted[0], []
    listing, problems = discover(root, stamps=stamps)
    if memory is not None:
        memory.listing = (listing, dict(stamps)) if not problems else None
    return listing, problems


def _read_sources(root: Path, listing: list[tuple[str, str]], memory: BuildMemory | None,
                  cache: Cache | None = None, stamps: dict[str, tuple[int, ...]] | None = None,
                  ) -> tuple[list[SourceFile], list[str]]:
    """Every listed file and the hash of its path, kind and bytes. A file whose `file_stamp` is
    what it was when last read, and that was settled then, is not read or hashed again
    (reading and hashing 4000 files costs ~0.15 s): its `SourceFile` is then `Unread` (no bytes;
    `_load` reads it if it needs them after all). The last reads are kept in memory (the dev
    server) or in the cache; with neither, every file is read. `stamps`: what `discover` stat'ed."""
    if memory is None and (cache is None or not cache.has("sources") and not cache.has_loads()):
        # nothing to compare with (a cold build): the load's workers read and hash every file, on
        # both cores (`_load_blob`), instead of this process alone first (~0.3 s at 4000 notices)
        return [Unread(rel, kind, b"") for rel, kind in listing], [None] * len(listing)
    if memory is not None:
        old = memory.sources
    else:
        stored = cache.get("sources")
        old = {rel: (stamp, Unread(rel, kind, b""), key, True)
               for rel, (stamp, kind, key) in stored.items()} if isinstance(stored, dict) else {}
    seen, out, top, stamps = {}, [], os.fspath(root), stamps or {}
    for rel, kind in listing:
        stamp = stamps.get(rel)
        if stamp is None:
            try:
                stamp = file_stamp(os.stat(os.path.join(top, rel)))
            except OSError:
                stamp = None
        entry = old.get(rel)
        if stamp is None or entry is None or entry[0] != stamp or entry[1].kind != kind:
            now = time.time_ns()
            src = read_sources(root, [(rel, kind)])[0]
            entry = (stamp, src, digest(src.path, src.kind, src.raw), now - stamp[1] > SETTLED_NS if stamp else False)
        if entry[3] and not entry[1].error:
            seen[rel] = entry
        out.append(entry)
    if memory is not None:
        memory.sources = seen
    elif seen.keys() != old.keys() or any(old[rel][0] != entry[0] for rel, entry in seen.items()):
        cache.put("sources", {rel: (e[0], e[1].kind, e[2]) for rel, e in seen.items()})
    return [e[1] for e in out], [e[2] for e in out]


class _Placed(NamedTuple):
    """A fresh page a worker wrote into the new tree (`write.Staging`): the file's state, and the
    cache's `PageStore` (filled, stamp) of the copy it keeps (a hard link), Nones if none."""

    state: tuple[int, int, int]
    kept: tuple[str | None, str | None]


class Unread(SourceFile):
    """A content file not read again (`_read_sources`): its hash is known, its bytes are not; or,
    with its hash None, not read yet (`_load_blob` reads it)."""


def _remember_sources(cache: Cache | None, listing: list[tuple[str, str]],
                      stamps: dict[str, tuple[int, ...]], keys: list, read: list[SourceFile]) -> None:
    """What `_read_sources` keeps of the files the load's workers read (`_Read`): the settled ones."""
    if cache is None:
        return
    seen = {}
    for (rel, kind), key, src in zip(listing, keys, read, strict=True):
        stamp = stamps.get(rel)  # as discover saw it, before the read (None: a link, read every time)
        if stamp is not None and isinstance(src, _Read) and src.at - stamp[1] > SETTLED_NS:
            seen[rel] = (stamp, kind, key)
    if seen:
        cache.put("sources", seen)


@dataclass(frozen=True)
class _Read(Unread):
    """A file a load worker read (`_load_blob`), and when it began to (ns)."""

    at: int = 0


def _spill(cache: Cache | None) -> Spill | None:
    """The build's spill file (`spill.Spill`), in `.cache/`: a folder the build already writes, on
    the project's disk (a /tmp in RAM would hold the pages in memory after all). None, so pages
    stay in memory, without a usable cache folder."""
    if cache is None or cache.db is None:
        return None
    try:
        return Spill(cache.folder)
    except OSError:
        return None


def _staging(root: Path, opts: BuildOptions, memory: BuildMemory | None, prelink: Prelink | None,
             cache: Cache | None) -> Staging | None:
    """The new tree, made now for the render to write fresh pages into (`write.Staging`), when a
    command-line build will publish into a new folder anyway: no spare tree it may update (one
    the cache has a record of: `_spare` uses no other) and none being made. Not for the dev server
    (it keeps pages in memory) or `check` (writes nothing). A spare tree left by earlier builds
    when output/ and .cache/ were deleted made a cold build send every page through the build
    process (+16 MiB of peak at 4000 notices: 252 MiB) to be written by the publish after all."""
    if not opts.write or memory is not None or prelink is not None or (
            cache is not None and cache.has("spare") and os.path.lexists(spare_path(root, opts.output))):
        return None
    try:
        return Staging.make(root, opts.output)
    except OSError:  # the publish will say what is wrong with the folder
        return None


def _load_blob(root: Path, src: SourceFile) -> tuple[str | None, int | None, bytes]:
    """The pickled (page, problems) of `src`, read here if it is `Unread`: then with its hash and
    when its reading began (None if it could not be read)."""
    if not isinstance(src, Unread):
        return None, None, pickle.dumps(load_page(src), pickle.HIGHEST_PROTOCOL)
    at = time.time_ns()
    src = read_sources(root, [(src.path, src.kind)])[0]
    return (digest(src.path, src.kind, src.raw), None if src.error else at,
            pickle.dumps(load_page(src), pickle.HIGHEST_PROTOCOL))


LOAD_ROWS = 500
"""Fresh parses stored in the cache this many at a time as they arrive (~3 MiB of pickles)."""
RENDER_ROWS = 250
"""Fresh renders stored in the cache this many at a time as they arrive (their pages' bytes read
back one at a time), while the workers render the rest."""


def _load(root: Path, sources: list[SourceFile], keys: list[str], cache: Cache | None, report: Report,
          stats: dict, min_items, memory: BuildMemory | None = None):
    """Every page, parsed afresh only where its bytes changed since the cached parse (in memory:
    the very objects loaded last time, as nothing downstream changes a loaded page)."""
    in_memory = memory is not None and bool(memory.loads)
    cached = memory.loads if in_memory else cache.loads() if cache is not None else {}
    todo = [i for i, src in enumerate(sources) if keys[i] is None or cached.get(src.path, ("",))[0] != keys[i]]
    kwargs = {} if min_items is None else {"min_items": min_items}
    fresh: dict[int, tuple] = {}
    rows: list[tuple[str, str, bytes]] = []
    # an Unread file whose parse is not cached after all is read by the worker that parses it
    load_one = functools.partial(_load_blob, root)
    with closing(imap_items(load_one, [sources[i] for i in todo], **kwargs)) as results:
        for i, (key, read_at, blob) in zip(todo, results, strict=True):  # strict: runs it to its end
            if key is not None:
                keys[i] = key
                if read_at is not None:
                    sources[i] = _Read(sources[i].path, sources[i].kind, b"", at=read_at)
            fresh[i] = pickle.loads(blob)
            if cache is not None:  # a row is right on its own: stored as they come, not all held
                rows.append((sources[i].path, keys[i], blob))
                if len(rows) == LOAD_ROWS:
                    cache.put_loads(rows)
                    rows = []
    if cache is not None:
        cache.put_loads(rows)
        cache.forget("loads", {src.path for src in sources})
    stats["loaded"], stats["load_cached"] = len(fresh), len(sources) - len(fresh)
    pages: list[Page] = []
    unavailable: set[str] = set()
    page_digests: dict[int, str] = {}
    remembered: dict[str, tuple[str, object]] = {}
    for i, src in enumerate(sources):
        if i in fresh:
            loaded = fresh.pop(i)
        else:
            loaded = cached[src.path][1] if in_memory else pickle.loads(cached[src.path][1])
        remembered[src.path] = (keys[i], loaded)
        page, problems = loaded
        report.extend(problems)
        if page is None:
            unavailable.add(fold(Path(src.path).stem))
        else:
            pages.append(page)
            page_digests[id(page)] = keys[i]
    if memory is not None:
        memory.loads = remembered
    return pages, unavailable, page_digests


# -- resolve ---------------------------------------------------------------------------------------

def _resolve(pages: list[Page], page_digests: dict[int, str], config: SiteConfig, unavailable: frozenset[str],
             cache: Cache | None, memory: BuildMemory | None) -> tuple[Site, list[Diagnostic], str]:
    """The resolved site, its problems and its graph's token ('' without memory or cache): the
    last resolve is reused when no page's links changed (`resolve.resolve_again`), kept in memory
    or in the cache (its graph stored apart, and again only when it changed)."""
    if memory is None and cache is None:
        return (*resolve(pages, config, unavailable), "")
    memo = memory.resolved if memory is not None else _cached_resolve(cache)
    site, problems, new = resolve_again(pages, [page_digests[id(p)] for p in pages], config, unavailable, memo)
    if memory is not None:
        memory.resolved = new
    else:
        if memo is None or memo.graph.token != new.graph.token:
            cache.put("resolve_graph", new.graph)
        cache.put("resolve", dataclasses.replace(new, graph=new.graph.token))
    return site, problems, new.graph.token


def _cached_resolve(cache: Cache) -> ResolveMemo | None:
    memo, graph = cache.get("resolve"), None
    if isinstance(memo, ResolveMemo) and isinstance(memo.graph, str):
        graph = cache.get("resolve_graph")
    if graph is None or getattr(graph, "token", None) != memo.graph:
        return None
    return dataclasses.replace(memo, graph=graph)


# -- render ----------------------------------------------------------------------------------------

class _RenderStage:
    """Renders pages for `render.render_site`: from the cache where nothing a page read has
    changed, else afresh (in the pool), recording what each render reads for next time."""

    def __init__(self, site: Site, digests_by_id: dict[int, str], generation: str, cache: Cache | None,
                 stats: dict, min_items, memory: BuildMemory | None = None, graph: str = "",
                 spill: Spill | None = None, staging: Staging | None = None):
        self.by_id = digests_by_id
        self.recorder = RecordingSite(site, {k: digests_by_id[id(p)] for k, p in site.pages.items()
                                             if id(p) in digests_by_id})
        self.generation = generation
        self.cache = cache
        self.stats = stats
        self.min_items = min_items
        self.memory = memory
        self.facts: dict[str, page_facts.PageFacts | bytes] = {}
        """Each page's facts: fresh ones pickled (`_render_one`), unpickled for the check."""
        self.renderer: Renderer | None = None
        self.pages: list[Page] = []
        self.last_reads = ReadDigests()
        self.used_reads: set[str] = set()
        """The tokens of the reads some kept or fresh render made: the digests kept for next time."""
        self.own_seen: dict[int, tuple] = {}
        self.graph = graph
        """The resolved graph's token (`resolve.Graph`): same token, same graph."""
        self.html_digests: dict[str, str] = {}
        """Output path -> hash of the page as rendered (before `render.LATE_ASSETS` are filled in)."""
        self.swaps: list[tuple[bytes, bytes]] = []
        self.spill = spill
        """Where fresh pages' bytes go as they arrive (`spill.Spill`); None: kept in memory."""
        self.staging = staging
        """The new tree, into which fresh pages are written where they are rendered (`write.Staging`)."""
        self.store = cache.pages if cache is not None and cache.db is not None else None
        """Where the cache keeps fresh pages' bytes (`cache.PageStore`)."""
        self.pid = os.getpid()
        """The build process (`_render_one` also runs in the pool's workers)."""

    def own_digest(self, page: Page) -> str:
        """The hash of a page: of its file's bytes for a loaded page, else of the page itself (in
        memory, a generated page that is the same object as last time keeps its hash)."""
        found = self.by_id.get(id(page))
        if found:
            return found
        if self.memory is None:
            return pickled_digest(page)
        kept = self.memory.values.setdefault("own", {})
        seen = kept.get(id(page))
        if seen is None or seen[0] is not page:
            seen = kept[id(page)] = (page, pickled_digest(page))
        self.own_seen[id(page)] = seen
        return seen[1]

    def _render_one(self, i: int) -> tuple:
        """One page's HTML (or template problem) and, compact (a tenth of their objects' size, as
        the cache stores them), its reads as `read_token` lines and pickles of reads and facts:
        the build holds every page's result at once. The dev server's rebuilds keep the reads and
        facts as objects (its memory holds them so), and get them so."""
        page = self.pages[i]
        self.recorder.start()
        try:
            html: bytes | Diagnostic = self.renderer.render_page(page)  # type: ignore[union-attr]
        except TemplateProblem as exc:
            html = exc.diagnostic
        finally:
            reads = self.recorder.stop()
        if not isinstance(html, bytes):
            return html, "", b"", None, ""
        # the dev server's pages are read again after each save: long ones in remembered stretches
        in_server = self.memory is not None and os.getpid() == self.pid
        facts, html_digest = page_facts.read_page(html, in_server), digest(html)
        if self.staging is not None:
            rel = output_path(page)
            try:
                state = self.staging.put(rel, fill_late_names(html, self.swaps))
            except OSError:  # the build process writes it instead (and says what is wrong, if it can't)
                pass
            else:
                kept: tuple[str | None, str | None] = (None, None)
                # kept as the very file written, unless its own text shows a late asset's real
                # name (turning those back into placeholders would change it): rendered again
                if self.store is not None and not any(real in html for _, real in self.swaps):
                    kept = self.store.link(self.staging.file(rel), state, html, html_digest, self.swaps)
                html = _Placed(state, kept)
        if in_server and self.cache is None:
            # the dev server's rebuilds (in memory, in this process): the objects, as it keeps
            # them; no lines to store, no order to fix, nothing to make compact
            return html, "", reads, facts, html_digest
        reads = sorted(reads, key=repr)
        return html, "\n".join(read_token(n, k) for n, k in reads), _pickled(reads), _pickled(facts), html_digest

    def render_pages(self, renderer: Renderer, pages: list[Page]) -> list[bytes | Diagnostic]:
        """`render.render_serially`, from the cache where it can, the rest in the pool."""
        pages = [unwrap(p) for p in pages]  # the site view hands out recording proxies
        self.renderer, self.pages = renderer, pages
        state = state_digest(renderer, skip=("site", "env", "template_dir", "late_swaps"))
        self.swaps = renderer.late_swaps
        paths = [output_path(p) for p in pages]
        # what a render starts from: the renderer's state and the page (the cache and the memory
        # hold one generation each, so it need not be part of this; joined, not hashed: ~0.1 s)
        base = [f"{state}\0{self.own_digest(p)}" for p in pages] if state else None
        memory = self.memory
        warm = memory is not None and bool(memory.renders) and memory.site is not None
        if warm:
            cached = self._memory_hits(paths, base)
        else:
            old = self.cache.render_keys(with_reads=memory is not None) if self.cache is not None and base else {}
            # a command-line build reads a cached page's HTML only if it has to write it (a page
            # unchanged in output/ is hard-linked): ~80 MiB and ~0.15 s at 4000 after one edit
            found = self.cache.render_outputs(self._disk_hits(paths, base, old), html=memory is not None) \
                if self.cache is not None else {}
            found = {p: entry for p, entry in found.items() if entry[1] is not None}  # see `_keep`
            # the server keeps facts as objects (its links memo goes by identity)
            cached = {p: (html, pickle.loads(facts) if memory is not None else facts, d, old[p][2])
                      for p, (_base, html, facts, d) in found.items()}
        # the pages that show many others (home, guides, listings) first: the longest jobs start
        # early, and a worker's memory grown by one is reused by the many small pages after it
        todo = sorted((i for i, path in enumerate(paths) if path not in cached),
                      key=lambda i: (pages[i].kind in (NOTICE, REDIRECT), i))
        kwargs = {} if self.min_items is None else {"min_items": self.min_items}
        kwargs["wait_on_stop"] = self.staging is not None  # stopped: no worker writes after it is removed
        self.stats["rendered"], self.stats["render_cached"] = len(todo), len(pages) - len(todo)
        out: list[bytes | Stored | Diagnostic] = []
        rows = []
        remembered: dict[str, RenderMemo] = {}
        fresh: dict[int, tuple] = {}
        writer = self.cache.render_rows() if self.cache is not None else None
        try:
            with closing(imap_items(self._render_one, todo, **kwargs)) as results:  # put away as they come
                for i, result in zip(todo, results, strict=True):  # strict: runs it to its end (pool joined)
                    fresh[i] = self._take_fresh(result, paths[i], base[i] if base is not None else None, rows,
                                                remembered)
                    if len(rows) == RENDER_ROWS:  # while the workers go on
                        self._store_rows(writer, rows)
            self._store_rows(writer, rows)
            if writer is not None:
                self.last_reads.reads = {t: v for t, v in self.last_reads.reads.items() if t in self.used_reads}
                writer.commit(self.last_reads)
        finally:
            if writer is not None:
                writer.abandon()  # committed already, unless the build stopped on the way
        for i, path in enumerate(paths):
            if i in fresh:
                html, facts, html_digest = fresh.pop(i)
            else:
                hit = cached[path]
                if type(hit) is RenderMemo:  # the dev server's memo of it, with the same base
                    html, facts, html_digest = hit.html, hit.facts, hit.digest
                    remembered[path] = hit
                else:
                    html, facts, html_digest, reads = hit
                    if memory is not None and base is not None:
                        remembered[path] = RenderMemo(base[i], reads, html, facts, html_digest)
            out.append(html)
            if facts is not None:
                self.facts[path] = facts
            if html_digest:
                self.html_digests[path] = html_digest
        if self.cache is not None:
            self.cache.forget("renders", set(paths))
            self.cache.sweep_pages()
        if memory is not None:
            universe = memory.reads if warm else {}
            for path, m in remembered.items():
                if not warm or path not in cached:
                    add_reads(universe, m.reads)
            memory.reads, memory.site, memory.renders = universe, self.recorder.real, remembered
            memory.values["own"] = self.own_seen
        return out

    def _store_rows(self, writer: RenderRows | None, rows: list) -> None:
        """Fresh renders' cache rows, and the digests of their reads (`remember_tokens`), made
        as they arrive, while the workers render the rest: the build process has time to spare
        then (round 14 of docs/performance.md). Then let go (`rows` is emptied): their reads'
        lines and pickles are ~16 MiB at 4000 notices."""
        for row in rows:
            self.recorder.remember_tokens(self.last_reads, row[2], row[3], self.used_reads)
        if writer is not None:
            writer.add(self._cache_rows(rows))
        rows.clear()

    def _take_fresh(self, result: tuple, path: str, base: str | None, rows: list,
                    remembered: dict[str, RenderMemo]) -> tuple:
        """Put one fresh render's result away (its bytes into the spill, if the build has one;
        its cache row; the server's memo); returns (html or where it was spilled, facts, hash)."""
        html, tokens, reads, facts, html_digest = result
        if isinstance(html, _Placed):  # in the new tree already: read back from there when asked
            self.staging.placed[path] = html.state  # type: ignore[union-attr]
            kept = Stored(self.staging, path)
            if base is not None and self.cache is not None:
                rows.append((path, base, tokens, reads, html.kept, facts, html_digest))
            return kept, facts, html_digest
        if not isinstance(html, bytes):
            return html, facts, html_digest
        kept = html
        if self.spill is not None:
            try:
                kept = self.spill.put(html)
            except OSError:  # the disk is full: the rest stay in memory, as without a spill
                self.spill = None
        if base is not None:
            if self.cache is not None:
                rows.append((path, base, tokens, reads, kept, facts, html_digest))
            if self.memory is not None:
                facts = pickle.loads(facts) if type(facts) is bytes else facts
                reads = pickle.loads(reads) if type(reads) is bytes else reads
                remembered[path] = RenderMemo(base, reads, html, facts, html_digest)
        return kept, facts, html_digest

    def _cache_rows(self, rows: list[tuple]) -> Iterator[tuple]:
        """Cache rows of fresh renders, each page's bytes put in the cache's `PageStore` (`_keep`)
        as its row is written."""
        return ((*row[:4], *self._keep(row[4], row[6]), *row[5:]) for row in rows)

    def _keep(self, html: bytes | Stored | tuple, html_digest: str) -> tuple[str | None, str | None]:
        """Put a fresh page's HTML as rendered in the cache's `PageStore`: its row's (filled,
        stamp), or Nones (not kept: the next build that needs it renders it again). A page a worker
        wrote into the new tree was kept there already (`_render_one`: `html` is that outcome)."""
        if type(html) is tuple:
            return html
        return self.store.put(html if isinstance(html, bytes) else html.read(), html_digest)  # type: ignore[union-attr]

    def _disk_hits(self, paths: list[str], base: list[str] | None, old: dict[str, tuple]) -> set[str]:
        """The pages whose cached render is still right: same page and renderer state (`base`),
        every recorded read known to the last build's `ReadDigests`, and none of them changed."""
        found = self.cache.get("read_digests") if self.cache is not None else None
        self.last_reads = found if isinstance(found, ReadDigests) else ReadDigests()
        if base is None:
            self.last_reads.graph = ""  # these digests are not all of one site any more
            return set()
        changed = self.recorder.changed_reads(self.last_reads, self.graph)
        known = self.last_reads.reads.keys()
        hits = set()
        for i, path in enumerate(paths):
            entry = old.get(path)
            if entry is not None and entry[0] == base[i]:
                reads = set(entry[1].split("\n")) if entry[1] else set()
                if reads.isdisjoint(changed) and reads <= known:
                    hits.add(path)
                    self.used_reads |= reads
        return hits

    def _memory_hits(self, paths: list[str], base: list[str] | None) -> dict[str, tuple]:
        """The pages whose last render (in memory) is still right: same page and renderer state
        (`base`), and not one of its recorded reads hashes differently in the new site."""
        memory = self.memory
        if base is None or memory is None:
            return {}
        changed = changed_reads(memory.site, self.recorder.real, memory.reads)
        hits = {}
        for i, path in enumerate(paths):
            m = memory.renders.get(path)
            if m is None or m.base != base[i]:
                continue
            if type(m.reads) is not set:  # as read from the cache or a worker: once
                m.reads = set(m.reads)
            if changed.isdisjoint(m.reads):  # a set: tests the few changed reads, not its ~25
                hits[path] = m  # still right as it is: kept, not copied
        return hits


def _env(memory: BuildMemory | None, root: Path, use_cache: bool, generation: str = ""):
    """The Jinja2 environment: the one kept in memory (emptied when the templates change, so its
    compiled templates are always current), else a fresh one that keeps compiled templates
    under .cache/jinja when the cache is on."""
    if memory is not None and memory.env is not None:
        return memory.env
    # one folder per generation: Jinja2 keys a compiled template by its source only, and the
    # environment's options (this code) shape the compiled code too
    env = make_env(root / "templates", root / CACHE_DIR / "jinja" / generation[:16] if use_cache else None)
    if memory is not None:
        memory.env = env
    return env


def _pickled(value) -> bytes:
    return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


class _CatalogueRows:
    """notices.json's items for a command-line build: each notice's item bytes, kept in the
    cache's `items` rows with what they were made from, the hash of the notice's file and the
    token of the site's graph (a page's fields are a function of its file, its relations of the
    graph: same two, same item). A build after one edit makes one item instead of keying all
    ~4000 by their `repr` (~60-100 ms of such a build), and writes one row, not a 6 MB memo.
    Without a cache, or a graph token, nothing is known and nothing kept."""

    def __init__(self, cache: Cache | None, site: Site, page_digests: dict[int, str], graph: str):
        self.cache = cache
        self.made_from: dict[str, str] = {}
        """Notice key -> what its item is made from in this build."""
        self.stored: dict[str, str] = {}
        """Notice key -> what its stored row was made from."""
        self.known: dict[str, bytes] | None = None
        if cache is None or not graph:
            return
        for page in site.notices:
            own = page_digests.get(id(page))
            if own:
                self.made_from[page.key] = f"{graph}\0{own}"
        stored = cache.items()
        self.known = {key: blob for key, (made_from, blob) in stored.items() if self.made_from.get(key) == made_from}
        self.stored = {key: made_from for key, (made_from, _blob) in stored.items()}

    def remember(self) -> None:
        """Store the items made by this build (`render.catalogue` added them to `known`)."""
        if self.cache is None or self.known is None:
            return
        self.cache.put_items([(key, made_from, self.known[key]) for key, made_from in self.made_from.items()
                              if self.stored.get(key) != made_from and key in self.known])
        self.cache.forget("items", set(self.made_from))


def _file_digests(files: Files, html_digests: dict[str, str], swaps: list[tuple[bytes, bytes]],
                  memo: dict[str, tuple[bytes, str]] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """A hash of every output file, for the publish (same hash, same bytes), and one for the
    check (same hash, same check result). A rendered page's are made from the hash of its HTML
    as rendered, kept with the render (hashing ~6000 pages' bytes again costs ~0.12 s): its
    bytes are that HTML with the late assets' names filled in (`render._fill_late`), so the
    publish hash adds the names; the check reads the page as rendered (its facts are read
    before the fill, which only touches a data attribute), so a new lookup-data name, which
    every page carries, does not make every page look changed to it. `memo` (the dev server's)
    keeps the other files' hashes by the very bytes object hashed: notices.json, the lookup data
    and the sitemap are kept whole while unchanged, and hashing them again cost ~5 ms a save."""
    fill = "+" + digest(*(part for pair in swaps for part in pair))  # joined, not hashed again: ~6000 pages
    publish, check = {}, {}
    kept = {}
    for path in files:
        rendered = html_digests.get(path)
        if rendered is None:
            data = files[path]
            seen = memo.get(path) if memo is not None else None
            if seen is None or seen[0] is not data:
                seen = (data, digest(data))
            kept[path] = seen
            publish[path] = check[path] = seen[1]
        else:
            publish[path], check[path] = rendered + fill, rendered
    if memo is not None:
        memo.clear()
        memo.update(kept)
    return publish, check


# -- check -----------------------------------------------------------------------------------------

def _check(files: Files, sources: dict[str, str], config: SiteConfig,
           facts: dict[str, page_facts.PageFacts], files_key: str, cache: Cache | None,
           memory: BuildMemory | None = None, digests: dict[str, str] | None = None,
           ahead: _CheckAhead | None = None) -> list[Diagnostic]:
    """The cross-page checks, over page facts read once per distinct page; the whole result is
    reused when no output file changed (`files_key` hashes them all), else only the pages that
    changed are checked again (`check.check_site_incremental`, its memo kept in memory or cache).
    `ahead`: the same check, begun in another process (a full check only, see `_CheckAhead`)."""
    if memory is not None and memory.check is not None and memory.check[0] == files_key:
        return list(memory.check[1])
    if cache is not None:
        found = cache.check(files_key)
        if found is not None:
            if ahead is not None:
                ahead.cancel()
            if memory is not None:  # the server's first build: its first save checks incrementally
                kept = cache.get("check_memo")
                memory.check = (files_key, list(found))
                memory.check_memo = kept if isinstance(kept, CheckMemo) else None
            return found
    done = ahead.result(files) if ahead is not None else None
    if done is not None:  # (diagnostics, the memo pickled: stored as it came)
        if cache is not None:
            cache.put_check(files_key, done[0])
            cache.put("check_memo", Pickled(done[1]))
        return done[0]
    memo = memory.check_memo if memory is not None else cache.get("check_memo") if cache is not None else None
    out, memo = check_site_incremental(files, sources, base_path=config.base_path, facts=_all_facts(files, facts),
                                       links_memo=memory.links if memory is not None else None,
                                       digests=digests, memo=memo if isinstance(memo, CheckMemo) else None)
    if cache is not None:
        cache.put_check(files_key, out)
        cache.put("check_memo", memo)
    if memory is not None:
        memory.check, memory.check_memo = (files_key, list(out)), memo
    return out


def _all_facts(files: Files, facts: dict[str, page_facts.PageFacts]) -> LazyFacts:
    """The facts of every HTML file in `files`: the rendered pages' (as they came, pickled), and
    any other page's (a static one) read now."""
    out = LazyFacts((p, f) for p, f in facts.items() if p in files)
    for path in files:
        if path.endswith(".html") and path not in out:
            out[path] = page_facts.read_page(files[path])
    return out


class _CheckAhead:
    """A command-line build's full site check (the cache holds no memo of a last one to go on
    from), begun in a forked process (`parallel.fork_call`) as soon as every page is rendered,
    while this one makes the data files (notices.json, the feed, the sitemap) and hashes the
    output: at 4000 notices a full check is ~0.45 s that ran alone on one core, the other idle
    (`bench/ab.py`: cold builds 0.18-0.20 s faster, 6 of 8 pairs; peak memory +7 MiB). The
    cache's rows are committed before it begins (committed after, the peak rose by 25 MiB, to
    262). Only the data files' names matter to it (`render.DATA_FILES`, stood in for by empty
    files); `result` makes sure the files checked are the files made, else the caller checks
    them itself."""

    def __init__(self, config: SiteConfig, stage: _RenderStage, cache: Cache | None):
        self.config, self.stage, self.cache = config, stage, cache
        self.names: frozenset[str] = frozenset()
        self.child: parallel.Forked | None = None

    def start(self, files: Files, sources: dict[str, str], problems: list[Diagnostic]) -> None:
        """`render.render_site`'s `pages_done`: begin the check if it is a full one worth a process."""
        if problems or (self.cache is not None and self.cache.has("check_memo")):
            return  # a template problem fails the build unchecked; an incremental check is quick
        if len(_pages(files)) < parallel.MIN_ITEMS:
            return
        self.names = frozenset([*files, *DATA_FILES])
        with signals_held():  # a Ctrl-C now would lose the process: it waits for the block's end
            self.child = parallel.fork_call(lambda: self._full_check(files, sources))

    def _full_check(self, files: Files, sources: dict[str, str]) -> tuple[list[Diagnostic], bytes]:
        """In the forked process: `check_site_incremental` as `_check` would call it with no memo;
        the memo comes back pickled, as the cache stores it."""
        for name in DATA_FILES:
            files[name] = b""
        digests = _file_digests(files, self.stage.html_digests, self.stage.swaps)[1]  # the pages' as `_check`'s
        out, memo = check_site_incremental(files, sources, base_path=self.config.base_path,
                                           facts=_all_facts(files, self.stage.facts), digests=digests)
        return out, pickle.dumps(memo, pickle.HIGHEST_PROTOCOL)

    def result(self, files: Files) -> tuple[list[Diagnostic], bytes] | None:
        """The check's (diagnostics, pickled memo), if it ran and checked the very files in `files`."""
        child, self.child = self.child, None
        if child is None:
            return None
        if set(files) != self.names:
            child.cancel()
            return None
        return child.result()  # stopped while waiting, it stops the process itself

    def cancel(self) -> None:
        if self.child is not None:
            self.child.cancel()
            self.child = None


class _HolidaysAhead:
    """The calculator's holiday table (`deadlines.legal_holidays`) for the loaded pages' years,
    made in a forked process (`parallel.fork_call`) beside the resolve when the cache has none:
    importing the `holidays` package and computing the table took ~0.18 s of a cold build, on
    one core with the other idle. Used only for the very years the assets are made for (the
    resolved site's pages are the loaded ones, but the answer must not rest on that)."""

    def __init__(self, pages: list[Page], cache: Cache | None):
        self.years = deadlines.build_years(p.updated for p in pages)
        self.cached = cache is not None and cache.has(f"holidays:{self.years.start}-{self.years.stop}")
        self.child: parallel.Forked | None = None

    def start(self) -> None:
        """Begin, unless the cache has the table (or no process can be forked here)."""
        if not self.cached:
            years = self.years
            with signals_held():  # a Ctrl-C now would lose the process: it waits for the block's end
                self.child = parallel.fork_call(lambda: deadlines.legal_holidays(years))

    def result(self, years: range) -> dict | None:
        """The table, if made for `years` (else None: the caller makes its own)."""
        child, self.child = self.child, None
        if child is None or years != self.years:
            if child is not None:
                child.cancel()
            return None
        return child.result()

    def cancel(self) -> None:
        if self.child is not None:
            self.child.cancel()
            self.child = None


class _SearchAhead:
    """The search index (`search.IndexRun`) of a build with search. In a cold build it is begun as
    soon as every page is in the new tree (`write.Staging`) rather than once the build is done:
    Pagefind (~6.5 s at 4000 notices) then runs beside the site check, the data files and the
    cache's commit. It reads only the pages, which are final once written; `index` (publish's
    before-swap step) makes sure the pages published are those it read, else indexes the tree
    then, as it does in every other build."""

    def __init__(self, staging: Staging | None):
        self.staging = staging
        self.pages: frozenset[str] = frozenset()
        self.run: search.IndexRun | None = None

    def start(self, files: Files, sources: dict[str, str], problems: list[Diagnostic]) -> None:
        """`render.render_site`'s `pages_done`: begin indexing if every page is already written."""
        if self.staging is None or problems:
            return  # no new tree written by the render; a template problem fails the build
        pages = _pages(files)
        if not pages <= self.staging.placed.keys() or any(p.startswith("pagefind/") for p in files):
            return  # pages still to write; a file where the index goes
        self.pages = pages
        self.run = search.IndexRun(self.staging.path)

    def index(self, tree: Path, files: Files) -> None:
        """`publish`'s before-swap step: the index begun ahead, if it read these very pages. The
        run stays in `self.run` until it is over, for `cancel` to stop if this is interrupted."""
        if self.run is not None and self.pages == _pages(files):  # (`tree` is the staging tree)
            self.run.wait()
            return
        if self.run is not None:
            self.cancel()
            shutil.rmtree(tree / "pagefind", ignore_errors=True)
        search.build_index(tree)

    def cancel(self) -> None:
        """Stop the run begun ahead (a failed or interrupted build) and forget it."""
        if self.run is not None:
            self.run.cancel()
            self.run = None


def _pages(files: Files) -> frozenset[str]:
    return frozenset(p for p in files if p.endswith(".html"))


def _each(*hooks):
    """One hook that calls each of `hooks` that is not None, in turn (None if there are none)."""
    given = [hook for hook in hooks if hook is not None]
    if not given:
        return None

    def each(*args) -> None:
        for hook in given:
            hook(*args)
    return each


class LazyFacts(dict):
    """Page facts by output path, each unpickled when first looked up (fresh and cached facts
    arrive pickled): an incremental check reads only the changed pages' facts and the ids of the
    pages they link to with a #fragment, not all ~6000 (~0.15 s at 4000 notices). Only `[]`,
    `in` and assignment are meant to be used (`check.check_site_incremental` uses no more)."""

    def __getitem__(self, key: str) -> page_facts.PageFacts:
        value = dict.__getitem__(self, key)
        if isinstance(value, bytes):
            value = pickle.loads(value)
            dict.__setitem__(self, key, value)
        return value


def _read_text(path: Path) -> str | None:
    """A content file's text for placing a site-check problem on its line (None: leave it unplaced)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# -- write ---------------------------------------------------------------------------------------

def _output_state(out_dir: Path) -> dict[str, tuple[int, int, int]] | None:
    """(size, mtime_ns, inode) of every file under `out_dir`; None if it is not a plain folder.
    One `os.scandir` pass (folders told apart by the entry's own type, one lstat per file)."""
    if not out_dir.is_dir() or out_dir.is_symlink():
        return None
    state: dict[str, tuple[int, int, int]] = {}
    todo = [(os.fspath(out_dir), "")]
    while todo:
        folder, prefix = todo.pop()
        empty = True
        with os.scandir(folder) as entries:
            for entry in entries:
                empty = False
                if entry.is_dir(follow_symlinks=False):
                    todo.append((entry.path, prefix + entry.name + "/"))
                else:
                    st = entry.stat(follow_symlinks=False)
                    state[prefix + entry.name] = (st.st_size, st.st_mtime_ns, st.st_ino)
        if empty and prefix:
            return None  # a build never leaves an empty folder
    return state


def _last_publish(out_dir: Path, cache: Cache | None) -> tuple[str, dict[str, str], dict] | None:
    """(publish key, {path: hash of its bytes}, {path: (size, mtime, inode)}) of the last publish,
    when output/ still holds exactly what it left there: same files, and not one touched since
    (size, mtime and inode unchanged). None when output/ was touched, moved or never published
    with this cache."""
    if cache is None:
        return None
    found = cache.get("publish")
    if not (isinstance(found, tuple) and len(found) == 3):
        return None
    key, state, digests = found
    return (key, digests, state) if state == _output_state(out_dir) else None


def _unchanged_files(last: tuple[str, dict[str, str], dict] | None, file_digests: dict[str, str]) -> frozenset[str]:
    """The files whose bytes are the same as in the live output/ (which `_last_publish` vouched
    for), so they can be hard-linked into the new tree instead of written."""
    if last is None:
        return frozenset()
    old = last[1]
    return frozenset(p for p, d in file_digests.items() if old.get(p) == d)


def _spare(root: Path, output_name: str, cache: Cache | None,
           file_digests: dict[str, str]) -> tuple[SpareTree | None, dict]:
    """The spare tree (`write.SpareTree`: the site before the last publish) with the files that
    already have the new bytes, and its recorded state; (None, {}) unless it still holds exactly
    what its record says."""
    found = cache.get("spare") if cache is not None else None
    if not (isinstance(found, tuple) and len(found) == 2):
        return None, {}
    state, digests = found
    if state != _output_state(spare_path(root, output_name)):
        return None, {}
    keep = frozenset(p for p, d in file_digests.items() if p in state and digests.get(p) == d)
    return SpareTree(frozenset(state), keep), state


def _start_prelink(root: Path, output_name: str, cache: Cache | None) -> Prelink | None:
    """Start the live site's hard-linked copy (`write.Prelink`) when this build will want a spare
    tree and has none: output/ was published with this cache and no spare tree is there."""
    if cache is None or os.path.lexists(spare_path(root, output_name)) or not (root / output_name).is_dir():
        return None
    if not cache.has("publish"):
        return None
    try:
        return Prelink.start(root, output_name)
    except OSError:
        return None


def _adopt_prelink(prelink: Prelink | None, root: Path, output_name: str,
                   last: tuple[str, dict[str, str], dict] | None, cache: Cache | None) -> None:
    """Make the finished copy the spare tree, recorded as holding what output/ held (`last`, as
    the publish just verified it); `_spare` walks it and uses it only if it does."""
    made = prelink.finish() if prelink is not None else None
    if made is None:
        return
    kept = spare_path(root, output_name)
    try:
        if last is None or cache is None or os.path.lexists(kept):  # a dangling link there: not ours
            raise FileExistsError(kept)
        os.rename(made, kept)
    except OSError:  # best effort: without a spare tree the publish links from output/ itself
        shutil.rmtree(made, ignore_errors=True)
        return
    cache.put("spare", (last[2], last[1]))


def _published_state(placed: dict[str, object], last: tuple[str, dict[str, str], dict] | None,
                     spare_state: dict) -> dict | None:
    """What `_output_state` would read from the new output/, without walking it: a kept or linked
    file is the spare's or the live site's inode (same size and mtime), a written one was stat'ed
    as it was written. None (walk it) if some file's state is unknown."""
    known = {"spare": spare_state, "live": last[2] if last is not None else {}}
    state = {}
    for path, how in placed.items():
        found = known[how].get(path) if isinstance(how, str) else how
        if found is None:
            return None
        state[path] = found
    return state


def _remember_publish(out_dir: Path, publish_key: str, file_digests: dict[str, str], cache: Cache | None,
                      state: dict | None = None, last: tuple[str, dict[str, str], dict] | None = None) -> None:
    """Record what output/ now holds, and that the site it replaced (now the spare tree) holds what
    `last` recorded of it (no record: the spare tree is not used)."""
    if cache is not None:
        cache.put("spare", (last[2], last[1]) if last is not None else None)
        cache.put("publish", (publish_key, state if state is not None else _output_state(out_dir), file_digests))


# -- reusing the whole previous build ------------------------------------------------------------

def _inputs_key(root: Path, opts: BuildOptions, config, found: list, listing, keys: list[str]) -> str | None:
    """A hash of everything a build reads: the config, the content files, the static files, the
    options and environment that shape the output (templates and generator code are in the cache's
    generation key). Same hash, same build: the previous result can be reused whole."""
    try:
        return digest(pickled_digest((config, found, listing)), tree_digest(root / "static"),
                      repr((opts.output, opts.search, opts.strict, os.environ.get("SOURCE_DATE_EPOCH"))), *keys)
    except Exception:  # noqa: BLE001 - something unpicklable: just build
        return None


def _reuse_last_build(root: Path, opts: BuildOptions, inputs: str | None, cache: Cache | None,
                      result: BuildResult) -> bool:
    """True (and `result` filled in) when nothing changed since the last published build and
    output/ is still exactly what it published: a warm build then only hashes its inputs."""
    if cache is None or inputs is None or not opts.write:
        return False
    found = cache.get("last_build")
    if not (isinstance(found, tuple) and len(found) == 4) or found[0] != inputs:
        return False
    _inputs, publish_key, diagnostics, page_count = found
    last = _last_publish(root / opts.output, cache)
    if last is None or last[0] != publish_key:
        return False
    result.report = Report()
    result.report.extend(diagnostics)
    result.page_count = page_count
    result.written = True
    result.stats["reused"] = 1
    return True


def _remember_build(inputs: str | None, publish_key: str, result: BuildResult, cache: Cache | None) -> None:
    if cache is not None and inputs is not None:
        cache.put("last_build", (inputs, publish_key, list(result.report.items), result.pages))


def _cached_holidays(cache: Cache | None, memory: BuildMemory | None = None, ahead: _HolidaysAhead | None = None):
    """`deadlines.legal_holidays`, remembered in the cache per range of years (the `holidays`
    package is slow to import and to compute, and its version is part of the generation key), or
    made ahead (`_HolidaysAhead`)."""
    def holidays(years: range) -> dict:
        name = f"holidays:{years.start}-{years.stop}"
        found = memory.values.get(name) if memory is not None else None
        if not isinstance(found, dict):
            found = cache.get(name) if cache is not None else None
            if not isinstance(found, dict):
                found = (ahead.result(years) if ahead is not None else None) or deadlines.legal_holidays(years)
                if cache is not None:
                    cache.put(name, found)
        if memory is not None:
            memory.values[name] = found
        return found
    return holidays
