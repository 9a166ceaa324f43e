"""Stage 1, load: find the pages under content/, parse and validate each one into a `Page`.

`load_page` is pure (bytes in, page and diagnostics out) so it can be cached by the hash of the
file's bytes and run in parallel; only `discover` and `read_sources` touch the filesystem.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import schema
from .diagnostics import Diagnostic, ERROR, WARNING
from .front_matter import FrontMatterError, parse
from .markdown import find_crosslinks
from .model import GUIDE, HOME, NOTICE, Deadline, Faq, Page, Ref, Source, slugify

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]*$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9\-]*$")
MAX_BYTES = 2_000_000
"""Pages above this size are refused: no notice page needs it, and it guards the build's memory."""


@dataclass(frozen=True)
class SourceFile:
    path: str
    """Relative to the project root, posix slashes."""
    kind: str
    raw: bytes


def discover(root: Path, content_dir: str = "content") -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    """List (relative path, kind) of every page, in a stable order, with problems found on the way."""
    base = root / content_dir
    found: list[tuple[str, str]] = []
    problems: list[Diagnostic] = []
    if not base.is_dir():
        problems.append(Diagnostic(content_dir, 0, ERROR, "the content folder does not exist", "", "content-missing"))
        return found, problems
    real_base = base.resolve()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames.sort()
        here = Path(dirpath)
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                rel = (here / name).relative_to(root).as_posix()
                problems.append(Diagnostic(rel, 0, ERROR, "a symbolic link to a folder is not allowed in content/",
                                           "copy the files instead", "path-symlink"))
        for name in sorted(filenames):
            full = here / name
            rel = full.relative_to(root).as_posix()
            if not name.endswith(".md"):
                continue
            if full.is_symlink():
                try:
                    target = full.resolve(strict=True)
                except (OSError, RuntimeError):
                    problems.append(Diagnostic(rel, 0, ERROR, "a broken or looping symbolic link", "",
                                               "path-symlink"))
                    continue
                if not target.is_relative_to(real_base):
                    problems.append(Diagnostic(rel, 0, ERROR, "a symbolic link that points outside content/", "",
                                               "path-symlink"))
                    continue
            sub = full.relative_to(base).as_posix()
            if sub == "index.md":
                found.append((rel, HOME))
            elif sub.startswith("notices/") and sub.count("/") == 1:
                found.append((rel, NOTICE))
            elif sub.startswith("guides/") and sub.count("/") == 1:
                found.append((rel, GUIDE))
            else:
                problems.append(Diagnostic(rel, 0, WARNING,
                                           "not a page: pages go in content/notices/, content/guides/ or "
                                           "content/index.md; this file is ignored", "", "path-ignored"))
    return found, problems


def read_sources(root: Path, listing: list[tuple[str, str]]) -> list[SourceFile]:
    return [SourceFile(rel, kind, (root / rel).read_bytes()) for rel, kind in listing]


def decode(path: str, raw: bytes) -> tuple[str | None, list[Diagnostic]]:
    """Bytes to text: UTF-8 only; a BOM is dropped and CRLF line endings become LF."""
    if len(raw) > MAX_BYTES:
        return None, [Diagnostic(path, 0, ERROR, f"the file is {len(raw) // 1_000_000} MB; a page may be at most "
                                                 f"{MAX_BYTES // 1_000_000} MB", "", "file-too-large")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        return None, [Diagnostic(path, line, ERROR,
                                 f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                                 "", "file-encoding")]
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        return None, [Diagnostic(path, line, ERROR, "the file contains a NUL character", "", "file-encoding")]
    return text, []


def load_page(src: SourceFile) -> tuple[Page | None, list[Diagnostic]]:
    """Parse and validate one page. Returns no page when it cannot be used at all."""
    text, problems = decode(src.path, src.raw)
    if text is None:
        return None, problems
    try:
        parsed = parse(text)
    except FrontMatterError as exc:
        return None, [Diagnostic(src.path, exc.line, ERROR, exc.message, "", "front-matter")]
    out = [Diagnostic(src.path, line, ERROR, msg, "", "front-matter") for line, msg in parsed.problems]
    out += schema.validate(parsed.data, parsed.lines, src.kind, src.path)
    if any(d.severity == ERROR for d in out):
        return None, out
    page, more = _build_page(src, parsed.data, parsed.lines, parsed.body, parsed.body_line)
    return page, out + more


def _build_page(src: SourceFile, data: dict, lines: dict, body: str, body_line: int):
    out: list[Diagnostic] = []
    kind, path = src.kind, src.path
    if kind == NOTICE:
        key = str(data["code"]).strip()
        if not CODE_RE.match(key):
            out.append(Diagnostic(path, lines[("code",)], ERROR,
                                  f"code '{key}' may only contain letters, digits, spaces and hyphens", "",
                                  "code-invalid"))
            return None, out
        url = f"notices/{slugify(key)}/"
    elif kind == GUIDE:
        key = str(data["id"]).strip()
        if not ID_RE.match(key):
            out.append(Diagnostic(path, lines[("id",)], ERROR,
                                  f"id '{key}' may only contain lowercase letters, digits and hyphens",
                                  f"try '{slugify(key)}'" if slugify(key) else "", "id-invalid"))
            return None, out
        url = f"guides/{key}/"
    else:
        key, url = "index", ""

    def refs(name: str) -> list[Ref]:
        return [Ref(str(t).strip(), path, lines.get((name, i), lines.get((name,), 1)), name)
                for i, t in enumerate(data.get(name) or [])]

    d = data.get("deadline")
    deadline = None
    if d:
        deadline = Deadline(action=d["action"].strip(), basis=d["basis"].strip(), days=d.get("days"),
                            days_abroad=d.get("days_abroad"), start=(d.get("from") or "").strip(),
                            if_missed=(d.get("if_missed") or "").strip(),
                            late_option=(d.get("late_option") or "").strip(), line=lines[("deadline",)])
        if deadline.days and not deadline.start:
            out.append(Diagnostic(path, lines[("deadline",)], ERROR,
                                  "'deadline.from' is required with 'deadline.days': say what the days count "
                                  "from, e.g. 'the date printed on the notice'", "", "key-missing"))
        if deadline.days_abroad and not deadline.days:
            out.append(Diagnostic(path, lines[("deadline", "days_abroad")], ERROR,
                                  "'deadline.days_abroad' needs 'deadline.days' too", "", "key-missing"))
    page = Page(
        kind=kind, key=key, path=path, url=url,
        title=data["title"].strip(),
        summary=(data.get("summary") or "").strip(),
        category=(data.get("category") or "").strip(),
        quick_answer=(data.get("quick_answer") or "").strip(),
        body=body, body_line=body_line,
        aliases=[str(a).strip() for a in data.get("aliases") or []],
        deadline=deadline,
        related=refs("related"), similar=refs("similar"), follows=refs("follows"),
        body_refs=[Ref(c.target, path, body_line + c.line, "body") for c in find_crosslinks(body)],
        faqs=[Faq(f["question"].strip(), f["answer"].strip(), lines[("faqs", i)])
              for i, f in enumerate(data.get("faqs") or [])],
        sources=[Source(s["title"].strip(), s["url"].strip(), lines[("sources", i)])
                 for i, s in enumerate(data.get("sources") or [])],
        updated=data.get("updated"),
        lines={k[0]: v for k, v in lines.items() if len(k) == 1},
    )
    return (None if any(x.severity == ERROR for x in out) else page), out
