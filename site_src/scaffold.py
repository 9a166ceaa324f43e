"""`python build.py new CP2000` / `new --guide some-id`: start a page that builds cleanly at once.

The front matter is generated from the schema table, so every key the loader accepts is in the
file with its explanation: required keys filled with placeholders to replace, optional ones
commented out with an example. Categories come from site.toml.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

from .config import load_config
from .load import CODE_RE, ID_RE, discover, load_page, read_sources
from .model import GUIDE, NOTICE, fold, slugify
from .schema import FIELDS_BY_KIND, Field

NOTICE_SECTIONS = ("Why you received it", "What it means", "Your rights and timeline", "What to do next",
                   "If you ignore it")
GUIDE_SECTIONS = ("Who this is for", "What to do", "Where to get help")


def today() -> dt.date:
    """Today, or the day SOURCE_DATE_EPOCH names (so generated files can be reproduced)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.strip().isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).date()
    return dt.date.today()


def _yaml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _examples(kind: str, key: str, categories: list[str]) -> dict[str, list[str]]:
    """YAML lines for each key: the value to write (required keys) or an example (optional keys)."""
    name = key if kind == NOTICE else key.replace("-", " ").capitalize()
    return {
        "code": [_yaml_str(key)],
        "id": [key],
        "aliases": [f"[{key.replace(' ', '')}X]"],
        "title": [_yaml_str(f"{key}: TODO plain-language name of the notice" if kind == NOTICE
                            else f"{name}: TODO")],
        "summary": [_yaml_str("TODO one line (at most 160 characters) for cards and search results.")],
        "category": [f"{categories[0]}    # one of: {', '.join(categories)}" if categories else "TODO"],
        "quick_answer": [">-", "  TODO two or three sentences a worried reader needs first: what the letter is,",
                         "  whether it is urgent, and the one thing to do."],
        "deadline": ["", "  days: 30", "  days_abroad: 60", "  from: the date printed on the notice",
                     "  action: TODO what to do by the deadline", "  basis: TODO the law or IRS page that sets it",
                     "  if_missed: TODO what happens if it is missed",
                     "  late_option: TODO what can still be done after it"],
        "follows": ["[CP14]"],
        "similar": ["[LT11]"],
        "related": ["[back-taxes-guide]"],
        "faqs": ["", "  - question: TODO a question readers ask?", "    answer: TODO the answer; Markdown allowed.",
                 "  - question: TODO a second question?", "    answer: TODO the answer.",
                 "  - question: TODO a third question?", "    answer: TODO the answer."],
        "sources": ["", f"  - title: {_yaml_str('IRS: Understanding your IRS notice or letter')}",
                    "    url: https://www.irs.gov/individuals/understanding-your-irs-notice-or-letter"],
        "updated": [today().isoformat()],
    }


_KEEP_OPTIONAL = {"faqs", "sources", "updated"}
"""Optional keys written live (not commented out): every published page needs them."""


def _field_lines(f: Field, example: list[str], live: bool) -> list[str]:
    need = "required" if f.required else "optional"
    lines = [f"# {f.name} ({need}): {f.doc}"]
    for sub in f.fields:
        lines.append(f"#   {sub.name} ({'required' if sub.required else 'optional'}): {sub.doc}")
    first, rest = example[0], example[1:]
    body = [f"{f.name}: {first}".rstrip()] + rest
    lines += body if live else ["# " + line for line in body]
    return lines


def page_text(kind: str, key: str, categories: list[str]) -> str:
    """The full text of a new page of `kind` whose code or id is `key`."""
    examples = _examples(kind, key, categories)
    out = ["---",
           "# A new page: replace every TODO. Keys commented out with '# ' are optional: remove the '# '",
           "# to use one. In the text below, [[CP504]] links to a notice and [[some-guide|your words]] to a",
           "# guide. The writer's guide (docs/writing.md) explains every key."]
    for f in FIELDS_BY_KIND[kind]:
        live = f.required or f.name in _KEEP_OPTIONAL
        out += _field_lines(f, examples[f.name], live)
    out.append("---")
    sections = NOTICE_SECTIONS if kind == NOTICE else GUIDE_SECTIONS
    for title in sections:
        out += [f"## {title}", "", "TODO.", ""]
    return "\n".join(out[:-1]) + "\n"


def _existing_names(root: Path) -> dict[str, str]:
    """Folded code, alias or id -> file that uses it, for the pages that load."""
    names: dict[str, str] = {}
    listing, _ = discover(root)
    for src in read_sources(root, listing):
        page, _ = load_page(src)
        if page is None:
            continue
        for name in [page.key, *page.aliases]:
            names.setdefault(fold(name), src.path)
    return names


def cmd_new(root: Path, code: str | None, guide: str | None, parser) -> int:
    if bool(code) == bool(guide):
        parser.error("new needs either a notice code (new CP2000) or a guide id (new --guide some-id)")
    if guide:
        kind, key = GUIDE, guide.strip()
        if not ID_RE.match(key):
            hint = f" (try '{slugify(key)}')" if slugify(key) else ""
            print(f"error: guide id '{key}' may only contain lowercase letters, digits and hyphens{hint}",
                  file=sys.stderr)
            return 2
        rel = f"content/guides/{key}.md"
    else:
        kind, key = NOTICE, " ".join(code.split())
        if not CODE_RE.match(key):
            print(f"error: code '{key}' may only contain letters, digits, spaces and hyphens", file=sys.stderr)
            return 2
        rel = f"content/notices/{slugify(key)}.md"
    path = root / rel
    if path.exists():
        print(f"error: {rel} already exists; edit it, or pick another {'id' if guide else 'code'}",
              file=sys.stderr)
        return 1
    taken = _existing_names(root).get(fold(key))
    if taken:
        print(f"error: '{key}' is already used by {taken}; edit that page instead", file=sys.stderr)
        return 1
    config, _ = load_config(root)
    categories = [c.id for c in config.categories] if config else []
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as fh:  # "x": never overwrite, even in a race
        fh.write(page_text(kind, key, categories))
    print(f"wrote {rel}: preview it with 'python build.py serve' and replace every TODO "
          f"(the build warns at each one left; --strict, as CI runs it, fails on them)")
    return 0
