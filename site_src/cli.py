"""The command line: `python build.py [build|check|schema] [options]`.

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
from .pipeline import BuildOptions, build
from .write import BuildLocked, build_lock


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, default=Path.cwd(),
                   help="the project folder holding site.toml, content/ and templates/ (default: here)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
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
    s = sub.add_parser("schema", help="print the front-matter JSON Schema")
    s.add_argument("--kind", choices=["notice", "guide", "home"], default=None,
                   help="one page kind only (default: all, keyed by kind)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "build")
    args = parser.parse_args(argv)
    if args.command == "schema":
        return cmd_schema(args)
    return cmd_build(args, write=args.command == "build")


def cmd_schema(args) -> int:
    kinds = [args.kind] if args.kind else ["notice", "guide", "home"]
    doc = {k: schema.json_schema(k) for k in kinds}
    print(json.dumps(doc[args.kind] if args.kind else doc, indent=2, sort_keys=True))
    return 0


def cmd_build(args, write: bool) -> int:
    fmt = args.format or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    root = args.root.resolve()
    if not (root / "site.toml").is_file() and not (root / "content").is_dir():
        print(f"error: {root} is not a help-center project (no site.toml or content/ here); "
              "run this in the project folder or pass --root", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        with build_lock(root):
            result = build(BuildOptions(root=root, write=write, strict=args.strict,
                                        search=write and not getattr(args, 'no_search', False)))
    except BuildLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
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
