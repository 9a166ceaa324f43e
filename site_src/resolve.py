"""Stage 2, resolve: one index of codes, aliases and ids; every reference checked; the graph built.

Input: the loaded pages. Output: a `Site` with each page's related-resources groups (previous and
next steps, similar notices, related, referenced-by) and the collection sequences. Everything is
linear in pages + references, so it stays fast at thousands of notices.
"""

from __future__ import annotations

import hashlib
import pickle
from collections import defaultdict
from dataclasses import dataclass

from .config import SiteConfig
from .diagnostics import Diagnostic, ERROR, did_you_mean
from .model import GUIDE, HOME, NOTICE, Page, Ref, Relations, Site, fold

_KIND_ORDER = {NOTICE: 0, GUIDE: 1, HOME: 2}
_LIST_FIELDS = ("related", "similar", "follows")
_TEXT_FIELDS = {"body": "in the text", "quick_answer": "in the quick answer", "faqs": "in a FAQ answer"}


def _where(ref: Ref) -> str:
    """Where a reference was written, in a writer's words."""
    return _TEXT_FIELDS.get(ref.field, f"in '{ref.field}'")


def build_index(pages: list[Page]) -> tuple[dict[str, str], dict[str, str], list[Diagnostic]]:
    """Map every folded code, alias and id to its page key; report collisions naming both files.

    Returns (index, labels), labels mapping each folded name to the spelling a writer typed.
    """
    index: dict[str, str] = {}
    labels: dict[str, str] = {}
    owner_path: dict[str, str] = {}
    out: list[Diagnostic] = []
    by_key = {}
    # Codes and ids first, so an alias that collides with a code is the one reported.
    for page in pages:
        if page.kind == HOME:
            continue
        name = fold(page.key)
        if name in index:
            other = by_key[index[name]]
            what = "code" if page.kind == NOTICE else "id"
            out.append(Diagnostic(page.path, page.line_of("code" if page.kind == NOTICE else "id"), ERROR,
                                  f"duplicate {what} '{page.key}': {other.path} already uses "
                                  f"'{other.key}'", "", "duplicate-code"))
            continue
        index[name], labels[name], owner_path[name] = page.key, page.key, page.path
        by_key[page.key] = page
    for page in pages:
        if page.key not in by_key or by_key[page.key] is not page:
            continue
        for alias in page.aliases:
            name = fold(alias)
            if not name:
                continue
            if name in index and index[name] != page.key:
                other = by_key[index[name]]
                out.append(Diagnostic(page.path, page.line_of("aliases"), ERROR,
                                      f"alias '{alias}' collides with '{labels[name]}' of {other.path}", "",
                                      "duplicate-alias"))
                continue
            if name not in index:
                index[name], labels[name] = page.key, alias
    return index, labels, out


def resolve(pages: list[Page], config: SiteConfig, unavailable: frozenset[str] = frozenset()
            ) -> tuple[Site, list[Diagnostic]]:
    """Resolve every reference. `unavailable` holds folded names of pages whose files failed to
    load: references to them are not reported a second time."""
    index, labels, out = build_index(pages)
    by_key: dict[str, Page] = {}
    for page in pages:
        if page.kind == HOME or index.get(fold(page.key)) == page.key:
            by_key.setdefault(page.key, page)
    categories = {c.id for c in config.categories}
    hints: dict[str, str] = {}
    """Folded unknown target -> its hint: each costs a comparison with every page (~5 ms at 4000)."""

    def lookup(ref: Ref, page: Page, *, notices_only: bool = False) -> str | None:
        folded = fold(ref.target)
        key = index.get(folded)
        if key is None:
            if folded in unavailable:
                return None
            what = "notice" if notices_only else "page"
            if folded not in hints:
                hints[folded] = did_you_mean(folded, [*labels, *unavailable], labels=labels)
            hint = hints[folded]
            out.append(Diagnostic(ref.path, ref.line, ERROR,
                                  f"{_where(ref)}: {what} '{ref.target}' does not exist", hint, "ref-unknown"))
            return None
        if key == page.key:
            out.append(Diagnostic(ref.path, ref.line, ERROR,
                                  f"{_where(ref)}: '{ref.target}' is this page itself", "", "ref-self"))
            return None
        if notices_only and by_key[key].kind != NOTICE:
            out.append(Diagnostic(ref.path, ref.line, ERROR,
                                  f"'{ref.target}' in '{ref.field}' is a guide; only notices can be listed there",
                                  "", "ref-kind"))
            return None
        return key

    def resolve_list(page: Page, refs: list[Ref], notices_only: bool = False) -> list[str]:
        keys: dict[str, None] = {}  # ordered, and a lookup is not a scan of the list
        for ref in refs:
            key = lookup(ref, page, notices_only=notices_only)
            if key is None:
                continue
            if key in keys and ref.field in _LIST_FIELDS:
                out.append(Diagnostic(ref.path, ref.line, ERROR,
                                      f"'{ref.target}' is listed twice in '{ref.field}'", "", "ref-duplicate"))
                continue
            keys[key] = None
        return list(keys)

    rel: dict[str, Relations] = {k: Relations() for k in by_key}
    written_related: dict[str, list[str]] = {}
    written_similar: dict[str, list[str]] = {}
    follows: dict[str, list[str]] = {}
    mentions: dict[str, set[str]] = defaultdict(set)  # target -> pages that link to it
    for page in by_key.values():
        if page.kind == NOTICE and page.category not in categories:
            out.append(Diagnostic(page.path, page.line_of("category"), ERROR,
                                  f"unknown category '{page.category}'", did_you_mean(page.category, categories),
                                  "category-unknown"))
        written_related[page.key] = resolve_list(page, page.related)
        written_similar[page.key] = resolve_list(page, page.similar, notices_only=True)
        follows[page.key] = resolve_list(page, page.follows, notices_only=True)
        body = resolve_list(page, page.body_refs)
        if page.kind != HOME:
            for target in written_related[page.key] + body:
                mentions[target].add(page.key)

    for name, line_key in (("verify_guide", config.verify_guide), ("back_taxes_guide", config.back_taxes_guide)):
        if line_key and (line_key not in by_key or by_key[line_key].kind != GUIDE):
            out.append(Diagnostic("site.toml", 0, ERROR, f"{name} '{line_key}' is not a guide id",
                                  did_you_mean(line_key, [p.key for p in by_key.values() if p.kind == GUIDE]),
                                  "config"))

    order = {k: i for i, k in enumerate(sorted(by_key, key=lambda k: (_KIND_ORDER[by_key[k].kind], by_key[k].path)))}
    reverse_similar: dict[str, list[str]] = defaultdict(list)
    nexts: dict[str, list[str]] = defaultdict(list)
    for key in sorted(by_key, key=order.__getitem__):
        for other in written_similar[key]:
            reverse_similar[other].append(key)
        for prev in follows[key]:
            nexts[prev].append(key)

    for key, r in rel.items():
        r.previous = list(follows[key])
        r.next = list(nexts[key])
        seen = set(r.previous) | set(r.next) | {key}
        r.similar = [k for k in dict.fromkeys(written_similar[key] + reverse_similar[key]) if k not in seen]
        seen |= set(r.similar)
        r.related = [k for k in written_related[key] if k not in seen]
        seen |= set(r.related)
        r.referenced_by = sorted((k for k in mentions[key] if k not in seen), key=order.__getitem__)

    cycles = find_cycles(follows, order)
    for cycle in cycles:
        page = by_key[cycle[0]]
        out.append(Diagnostic(page.path, page.line_of("follows"), ERROR,
                              "'follows' makes a loop: " + " → ".join(cycle + [cycle[0]]), "", "follows-cycle"))
    sequences, stage_of = ([], {}) if cycles else build_sequences(follows, nexts, order)
    pages_sorted = {k: by_key[k] for k in sorted(by_key, key=order.__getitem__)}
    return Site(pages_sorted, index, rel, sequences, stage_of), out


@dataclass
class Graph:
    """What `resolve` makes besides the pages and problems. `token` names its content: graphs with
    the same token are equal (it hashes everything they are made from)."""

    token: str
    order: list[int]
    """`site.pages` in site order, as positions in the page list."""
    index: dict[str, str]
    relations: dict[str, Relations]
    sequences: list[list[list[str]]]
    stage_of: dict[str, tuple[int, int]]


@dataclass
class ResolveMemo:
    """One resolve's result and what it was made from, for `resolve_again`: kept in memory by the
    dev server and in the cache by the CLI, so it holds no pages, only hashes of them."""

    config: SiteConfig
    unavailable: frozenset[str]
    keys: list[str]
    """Each page's identity, in page-list order: the hash of its file (same hash, same page)."""
    inputs: list[str]
    """The hash of each page's `graph_inputs`."""
    problems: list[Diagnostic]
    graph: Graph


def graph_inputs(page: Page) -> tuple:
    """What of a page the graph, the index and resolve's problems are made from, line numbers
    aside: a page whose graph inputs are unchanged resolves to the same graph."""
    refs = tuple((r.field, r.target, r.path) for refs in (page.related, page.similar, page.follows, page.body_refs)
                 for r in refs)
    return page.kind, page.key, page.path, tuple(page.aliases), page.category, refs


def _inputs_digest(page: Page) -> str:
    return hashlib.blake2b(repr(graph_inputs(page)).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _graph_token(config: SiteConfig, unavailable: frozenset[str], inputs: list[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(pickle.dumps((config, sorted(unavailable)), pickle.HIGHEST_PROTOCOL))
    h.update("\n".join(inputs).encode("ascii"))
    return h.hexdigest()


def resolve_again(pages: list[Page], keys: list[str], config: SiteConfig, unavailable: frozenset[str] = frozenset(),
                  memo: ResolveMemo | None = None) -> tuple[Site, list[Diagnostic], ResolveMemo]:
    """`resolve`, reusing the last result when only what pages show changed, not how they link.

    A save usually edits the text of one page: building the index and graph of thousands of
    pages again for it costs ~0.15 s. When the page list matches the last one position by
    position, every page whose file changed (`keys`) has the same `graph_inputs`, the config and
    the unavailable pages are the same, and no problem of the last resolve was in a changed file
    (its line may have moved), the result is the last one with the new page objects: exactly
    what `resolve` would return (tests/test_resolve.py)."""
    if (memo is not None and memo.config == config and memo.unavailable == unavailable
            and len(memo.keys) == len(pages)):
        changed = [i for i, key in enumerate(keys) if key != memo.keys[i]]
        inputs = list(memo.inputs)
        for i in changed:
            inputs[i] = _inputs_digest(pages[i])
        paths = {pages[i].path for i in changed}
        if inputs == memo.inputs and not any(d.path in paths for d in memo.problems):
            g = memo.graph
            site = Site({pages[i].key: pages[i] for i in g.order}, g.index, g.relations, g.sequences, g.stage_of)
            return site, list(memo.problems), ResolveMemo(config, unavailable, list(keys), inputs,
                                                           memo.problems, g)
    site, problems = resolve(pages, config, unavailable)
    inputs = [_inputs_digest(page) for page in pages]
    position = {id(page): i for i, page in enumerate(pages)}
    graph = Graph(_graph_token(config, unavailable, inputs), [position[id(p)] for p in site.pages.values()],
                  site.index, site.relations, site.sequences, site.stage_of)
    return site, problems, ResolveMemo(config, unavailable, list(keys), inputs, list(problems), graph)


def find_cycles(follows: dict[str, list[str]], order: dict[str, int]) -> list[list[str]]:
    """Each loop in the `follows` graph once, starting at its first page in site order."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []
    for start in sorted(follows, key=order.__getitem__):
        if state.get(start):
            continue
        stack = [(start, iter(follows[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(child) == 1:
                loop = path[path.index(child):]
                first = min(range(len(loop)), key=lambda i: order[loop[i]])
                cycles.append(loop[first:] + loop[:first])
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(follows.get(child, []))))
                path.append(child)
    return cycles


def build_sequences(follows: dict[str, list[str]], nexts: dict[str, list[str]], order: dict[str, int]):
    """Group the `follows` graph into sequences of stages (stage = longest path from a first notice)."""
    members = sorted({k for k, v in follows.items() if v} | {k for v in follows.values() for k in v},
                     key=order.__getitem__)
    component: dict[str, int] = {}
    comps: list[list[str]] = []
    for start in members:
        if start in component:
            continue
        comp, todo = [], [start]
        component[start] = len(comps)
        while todo:
            node = todo.pop()
            comp.append(node)
            for other in follows.get(node, []) + nexts.get(node, []):
                if other not in component:
                    component[other] = len(comps)
                    todo.append(other)
        comps.append(comp)
    stage: dict[str, int] = {}

    def depth(node: str) -> int:
        # Iterative longest-path; the graph is acyclic here (cycles were reported first).
        todo = [node]
        while todo:
            n = todo[-1]
            pending = [p for p in follows.get(n, []) if p not in stage]
            if pending:
                todo.extend(pending)
                continue
            stage[n] = 1 + max((stage[p] for p in follows.get(n, [])), default=-1)
            todo.pop()
        return stage[node]

    sequences: list[list[list[str]]] = []
    stage_of: dict[str, tuple[int, int]] = {}
    for i, comp in enumerate(comps):
        levels: dict[int, list[str]] = defaultdict(list)
        for node in sorted(comp, key=order.__getitem__):
            levels[depth(node)].append(node)
        seq = [levels[d] for d in sorted(levels)]
        sequences.append(seq)
        for s, level in enumerate(seq):
            for node in level:
                stage_of[node] = (i, s)
    return sequences, stage_of
