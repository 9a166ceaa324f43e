"""The command line: `python build.py [build|check|serve|new|graph|schema] [options]`.

Every command returns an exit code: 0 when clean, 1 when content has errors (or warnings with
--strict), 2 for misuse. Content problems are printed, never raised as tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import __version__, schema
from .diagnostics import FORMATTERS, summary
from .cache import CacheChanged
from .config import base_url_problem
from .parallel import WorkerDied
from .pipeline import BuildOptions, build
from .write import BuildLocked, OutputChanged, build_lock


def _root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, default=Path.cwd(),
                   help="the project folder holding site.toml, content/ and templates/ (default: here)")


def _base_url(value: str) -> str:
    problem = base_url_problem(value.strip())
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value.strip()


def _common(p: argparse.ArgumentParser) -> None:
    _root(p)
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--base-url", type=_base_url, metavar="URL",
                   help="the address the site is published at, in place of site.toml's base_url (for "
                        "canonical links, the sitemap and the feed; CI passes GitHub Pages' address)")
    p.add_argument("--format", choices=sorted(FORMATTERS), default=None,
                   help="how to print problems: text, github (Actions annotations; the default when "
                        "GITHUB_ACTIONS=true) or json (one object per line)")


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python build.py",
        description="Build the tax-notice help center: content/ + templates/ -> output/.",
        epilog="Run 'python build.py COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    b = sub.add_parser("build", help="check everything, then write the site to output/ (the default)")
    _common(b)
    b.add_argument("--no-search", action="store_true", help="skip the full-text search index (faster)")
    c = sub.add_parser("check", help="run every check and write nothing")
    _common(c)
    v = sub.add_parser("serve", help="preview the site at http://127.0.0.1:PORT/, rebuilding on every save")
    _root(v)
    v.add_argument("--port", type=int, default=8000, help="the port to listen on (default: 8000)")
    n = sub.add_parser("new", help="start a new page from the template: 'new CP2000' or 'new --guide some-id'")
    _root(n)
    n.add_argument("code", nargs="?", help="the notice code as printed on the letter, e.g. CP2000 or 'Letter 1058'")
    n.add_argument("--guide", metavar="ID", help="write a guide with this id (lowercase words and hyphens) instead")
    g = sub.add_parser("graph", help="report the relationship graph: orphans, pages without related "
                                     "resources, the collection sequences")
    _root(g)
    g.add_argument("--dot", action="store_true", help="print the graph in Graphviz DOT format instead")
    s = sub.add_parser("schema", help="print the front-matter JSON Schema (kept in schema/front-matter.schema.json)")
    s.add_argument("--kind", choices=["notice", "guide", "home"], default=None,
                   help="one page kind only (default: one document covering every kind)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "build")
    args = parser.parse_args(argv)
    if args.command == "schema":
        return cmd_schema(args)
    if args.command in ("serve", "new", "graph"):
        root = _project_root(args.root)
        if root is None:
            return 2
        if args.command == "serve":
            from .serve import serve
            return serve(root, args.port)
        if args.command == "new":
            from .scaffold import cmd_new
            return cmd_new(root, args.code, args.guide, parser)
        from .graph_report import cmd_graph
        return cmd_graph(root, dot=args.dot)
    return cmd_build(args, write=args.command == "build")


def _project_root(path: Path) -> Path | None:
    root = path.resolve()
    if not (root / "site.toml").is_file() and not (root / "content").is_dir():
        print(f"error: {root} is not a help-center project (no site.toml or content/ here); "
              "run this in the project folder or pass --root", file=sys.stderr)
        return None
    return root


def schema_document(kind: str | None = None) -> dict:
    """The JSON Schema `schema` prints: one kind, or every kind under $defs (the file editors use)."""
    if kind:
        return {"$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": f"Front matter of a {kind} page", **schema.json_schema(kind)}
    kinds = ("notice", "guide", "home")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Front matter of a help-center page",
        "description": "Notices (content/notices/*.md) use #/$defs/notice, guides (content/guides/*.md) "
                       "#/$defs/guide, the home page (content/index.md) #/$defs/home. "
                       "Generated by 'python build.py schema'; do not edit by hand.",
        "$defs": {k: schema.json_schema(k) for k in kinds},
        "oneOf": [{"$ref": f"#/$defs/{k}"} for k in kinds],
    }


def cmd_schema(args) -> int:
    print(json.dumps(schema_document(args.kind), indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def cmd_build(args, write: bool) -> int:
    fmt = args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    root = _project_root(args.root)
    if root is None:
        return 2
    start = time.perf_counter()
    try:
        with build_lock(root):
            result = build(BuildOptions(root=root, write=write, strict=args.strict, base_url=args.base_url,
                                        search=write and not getattr(args, 'no_search', False)))
    except BuildLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (WorkerDied, CacheChanged, OutputChanged) as exc:
        print(f"error: {exc}; output/ was left as it was", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: output/ was left as it was", file=sys.stderr)
        return 130
    items = result.report.sorted()
    stream = sys.stdout if fmt == "json" else sys.stderr
    stream.write(FORMATTERS[fmt](items))
    failed = result.report.failed(args.strict)
    elapsed = time.perf_counter() - start
    if fmt != "json":
        if failed:
            note = " (warnings count as errors with --strict)" if args.strict and not result.report.errors else ""
            print(f"build failed: {summary(items)}{note}; output/ was not changed", file=sys.stderr)
        elif write:
            print(f"built {result.pages} pages into output/ in {elapsed:.2f} s ({summary(items)})")
        else:
            print(f"checked {result.pages} pages in {elapsed:.2f} s ({summary(items)}); nothing written")
    return 1 if failed else 0


def end(code: int) -> None:
    """End the process with `code` (what `build.py` does with `main`'s answer). Normally without
    tearing the interpreter down: freeing a build's millions of objects one at a time (every
    loaded page, the site, the caches) takes ~0.1 s at 4000 notices, for nothing, since the build
    has closed its cache and files, joined its workers and stopped any child process by then;
    only the output streams are left to flush. A build interrupted while its workers ran has left
    them winding down, and the interpreter's exit handlers join them: that exit is not skipped."""
    from .parallel import all_joined

    if not all_joined():
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe (`| head`): nothing more can be said
            pass
    os._exit(code)
