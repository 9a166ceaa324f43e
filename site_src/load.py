"""Stage 1, load: find the pages under content/, parse and validate each one into a `Page`.

`load_page` is pure (bytes in, page and diagnostics out) so it can be cached by the hash of the
file's bytes and run in parallel; only `discover` and `read_sources` touch the filesystem.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from . import schema
from .diagnostics import Diagnostic, ERROR, WARNING
from .front_matter import FrontMatterError, parse
from .markdown import find_crosslinks
from .markdown import unsafe_links as find_unsafe_links
from .model import GUIDE, HOME, NOTICE, Deadline, Faq, Page, Ref, Source, slugify

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-]*$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9\-]*$")
ALIAS_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 \-._]*$")
"""Aliases also become redirect URLs, so they are held to nearly the rules of codes."""
_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Invisible characters that break XML feeds and confuse editors; tab and newline are fine."""
_CONTROL_BYTES = bytes([*range(0x01, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
"""The same characters as bytes: in UTF-8 each is its own byte and no other character holds one,
so the file has one iff its bytes do; deleting them to compare lengths (C, ~3 µs for 6 KB) is
faster than the expression's search of the text (~15 µs, ~0.05 s at 4000 notices)."""
_PLACEHOLDER = re.compile(r"\bTODO\b")
MAX_BYTES = 2_000_000
"""Pages above this size are refused: no notice page needs it, and it guards the build's memory."""


@dataclass(frozen=True)
class SourceFile:
    path: str
    """Relative to the project root, posix slashes."""
    kind: str
    raw: bytes
    error: str = ""
    """Why the file could not be read ('' when `raw` holds its bytes)."""


def file_stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    """What tells a file changed without reading it: size, mtime, inode (a save by rename) and
    ctime (a chmod that makes it unreadable changes only that)."""
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


def discover(root: Path, content_dir: str = "content", stamps: dict[str, tuple[int, ...]] | None = None,
             ) -> tuple[list[tuple[str, str]], list[Diagnostic]]:
    """List (relative path, kind) of every page, in a stable order, with problems found on the way.
    `stamps` gets the `file_stamp` of each plain file listed, as the walk stat'ed it."""
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
        here_rel = here.relative_to(root).as_posix()
        here_sub = here.relative_to(base).as_posix()
        for name in sorted(filenames):
            if not name.endswith(".md"):
                continue
            full_str = os.path.join(dirpath, name)
            rel = f"{here_rel}/{name}"
            try:
                info = os.lstat(full_str)
            except OSError:
                info = None
            if info is not None and not stat.S_ISLNK(info.st_mode):
                # the common case, with one system call and no pathlib (4000 files: ~0.1 s saved)
                problem = _info_problem(rel, info)
                sub = name if here_sub == "." else f"{here_sub}/{name}"
                if problem is None:
                    _classify(rel, sub, found, problems)
                    if stamps is not None:
                        stamps[rel] = file_stamp(info)
                else:
                    problems.append(problem)
                continue
            full = here / name
            if full.is_symlink():
                try:
                    target = full.resolve(strict=True)
                except FileNotFoundError:
                    problems.append(Diagnostic(rel, 0, ERROR, "a symbolic link to a file that does not exist", "",
                                               "path-symlink"))
                    continue
                except (OSError, RuntimeError):
                    problems.append(Diagnostic(rel, 0, ERROR, "a symbolic link that loops back on itself", "",
                                               "path-symlink"))
                    continue
                if not target.is_relative_to(real_base):
                    problems.append(Diagnostic(rel, 0, ERROR, "a symbolic link that points outside content/", "",
                                               "path-symlink"))
                    continue
            problem = _file_problem(rel, full)
            if problem is not None:
                problems.append(problem)
                continue
            _classify(rel, full.relative_to(base).as_posix(), found, problems)
    return found, problems


def relist(root: Path, last: tuple[list[tuple[str, str]], dict[str, tuple[int, ...]]], changed: Iterable[str],
           content_dir: str = "content") -> tuple[list[tuple[str, str]], dict[str, tuple[int, ...]]] | None:
    """`discover`'s listing and stamps, made from the last ones (of a walk that found no problem)
    and the paths changed since, as the dev server's watcher reports them (absolute; any path
    outside content/ or not ending in .md is no page and left out), with one `lstat` per changed
    path instead of one per file (~20 ms a save at 4000 notices). None where only a walk can
    tell: a changed path that is a folder, a link, anything but a plain page file where
    `discover` would take it, or anything it would report."""
    listing, last_stamps = last
    base = os.path.join(os.fspath(root), content_dir)
    kinds, stamps = dict(listing), dict(last_stamps)
    same_files = True  # only pages listed before, each still there as the same kind: the same order
    for path in changed:
        sub = os.path.relpath(path, base)
        if sub.startswith(os.pardir) or os.path.isabs(sub) or not sub.endswith(".md"):
            continue
        sub = sub.replace(os.sep, "/")
        rel = f"{content_dir}/{sub}"
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            same_files = same_files and rel not in kinds
            kinds.pop(rel, None)
            stamps.pop(rel, None)
            continue
        except OSError:
            return None
        found: list[tuple[str, str]] = []
        problems: list[Diagnostic] = []
        if _info_problem(rel, info) is None:
            _classify(rel, sub, found, problems)
        if not found or problems:
            return None
        same_files = same_files and kinds.get(rel) == found[0][1]
        kinds[rel], stamps[rel] = found[0][1], file_stamp(info)
    if same_files:  # a save of pages already there (sorting ~4000 paths again: ~5 ms)
        return list(listing), stamps
    return sorted(kinds.items(), key=lambda item: _walk_order(item[0])), stamps


def _walk_order(rel: str) -> tuple[str, ...]:
    """Where `discover`'s walk lists file `rel`: a folder's files (sorted) before its folders'
    (sorted, each in turn)."""
    *folders, name = rel.split("/")
    return (*folders, "\0", name)


def _classify(rel: str, sub: str, found: list[tuple[str, str]], problems: list[Diagnostic]) -> None:
    """File `rel` (`sub` below content/) as a page of its kind, or a warning that it is none."""
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


def _file_problem(rel: str, full: Path) -> Diagnostic | None:
    """Why a listed file cannot be read as a page: not a regular file (a FIFO would hang the
    build), or too large (checked before reading, so a huge file costs no memory)."""
    try:
        info = full.stat()
    except OSError as exc:
        return Diagnostic(rel, 0, ERROR, f"cannot read the file: {exc.strerror or exc}", "", "file-unreadable")
    return _info_problem(rel, info)


def _info_problem(rel: str, info: os.stat_result) -> Diagnostic | None:
    if not stat.S_ISREG(info.st_mode):
        return Diagnostic(rel, 0, ERROR, "not a regular file", "", "file-unreadable")
    if info.st_size > MAX_BYTES:
        return _too_large(rel, info.st_size)
    return None


def _too_large(path: str, size: int) -> Diagnostic:
    return Diagnostic(path, 0, ERROR, f"the file is {size / 1_000_000:.1f} MB; a page may be at most "
                                      f"{MAX_BYTES / 1_000_000:g} MB", "", "file-too-large")


def read_sources(root: Path, listing: list[tuple[str, str]]) -> list[SourceFile]:
    """Read each listed file. One that vanished or became unreadable since `discover` (an editor
    saving by rename, say) becomes a SourceFile with `error` set, reported by `load_page`."""
    out = []
    for rel, kind in listing:
        try:
            out.append(SourceFile(rel, kind, (root / rel).read_bytes()))
        except OSError as exc:
            out.append(SourceFile(rel, kind, b"", f"cannot read the file: {exc.strerror or exc}"))
    return out


def decode(path: str, raw: bytes) -> tuple[str | None, list[Diagnostic]]:
    """Bytes to text: UTF-8 only; a BOM is dropped and CRLF line endings become LF."""
    if len(raw) > MAX_BYTES:
        return None, [_too_large(path, len(raw))]
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
    bad = _CONTROL.search(text) if len(raw.translate(None, _CONTROL_BYTES)) != len(raw) else None
    if bad:
        line = text[:bad.start()].count("\n") + 1
        return None, [Diagnostic(path, line, ERROR, f"the file contains a control character "
                                                    f"(U+{ord(bad.group()):04X}); delete it", "", "file-encoding")]
    return text, []


def load_page(src: SourceFile) -> tuple[Page | None, list[Diagnostic]]:
    """Parse and validate one page. Returns no page when it cannot be used at all."""
    if src.error:
        return None, [Diagnostic(src.path, 0, ERROR, src.error, "", "file-unreadable")]
    text, problems = decode(src.path, src.raw)
    if text is None:
        return None, problems
    try:
        parsed = parse(text)
    except FrontMatterError as exc:
        return None, [Diagnostic(src.path, exc.line, ERROR, exc.message, "", "front-matter")]
    out = [Diagnostic(src.path, line, ERROR, msg, "", "front-matter") for line, msg in parsed.problems]
    out += schema.validate(parsed.data, parsed.lines, src.kind, src.path)
    out += _unsafe_links(src.path, parsed.data, parsed.lines, parsed.body, parsed.body_line)
    out += _bad_aliases(src.path, parsed.data, parsed.lines)
    out += _placeholders(src.path, text, parsed.body_line)
    if any(d.severity == ERROR for d in out):
        # Keep what is sound so its references are still checked in this run; the build fails anyway.
        data = schema.usable(parsed.data, src.kind)
        if (src.kind == HOME or data.get("code" if src.kind == NOTICE else "id")) and data.get("title"):
            page, more = _build_page(src, data, parsed.lines, parsed.body, parsed.body_line)
            return page, out + [d for d in more if d not in out]
        return None, out
    page, more = _build_page(src, _present(parsed.data), parsed.lines, parsed.body, parsed.body_line)
    return page, out + more


def _present(value):
    """`value` without the keys left empty (`updated:` or `updated: ''`), which the schema takes
    as absent when optional, so that no later stage meets an empty string where a date goes."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v is not None and v != ""}
    if isinstance(value, list):
        return [_present(v) for v in value]
    return value


def _placeholders(path: str, text: str, body_line: int) -> list[Diagnostic]:
    """Each line still holding a `TODO` that `python build.py new` left. A warning, so the page
    previews while it is being written; `--strict` (CI) fails on it, so a half-written page is
    never published. The front matter's `#` comment lines explain the keys and are skipped."""
    if "TODO" not in text:
        return []
    out = []
    for number, line in enumerate(text.split("\n"), 1):
        if "TODO" in line and _PLACEHOLDER.search(line) and not (number < body_line and line.lstrip().startswith("#")):
            out.append(Diagnostic(path, number, WARNING, "a 'TODO' placeholder is still here; write the text "
                                                         "readers need in its place", "", "placeholder"))
    return out


def _build_page(src: SourceFile, data: dict, lines: dict, body: str, body_line: int):
    out: list[Diagnostic] = []
    kind, path = src.kind, src.path
    if kind == NOTICE:
        key = str(data["code"]).strip()
        if not CODE_RE.match(key):
            out.append(Diagnostic(path, lines[("code",)], ERROR,
                                  f"code {schema.quote(key)} may only contain letters, digits, spaces and hyphens", "",
                                  "code-invalid"))
            return None, out
        url = f"notices/{slugify(key)}/"
    elif kind == GUIDE:
        key = str(data["id"]).strip()
        if not ID_RE.match(key):
            out.append(Diagnostic(path, lines[("id",)], ERROR,
                                  f"id {schema.quote(key)} may only contain lowercase letters, digits and hyphens",
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
        title=(data.get("title") or "").strip(),
        summary=(data.get("summary") or "").strip(),
        category=(data.get("category") or "").strip(),
        quick_answer=(data.get("quick_answer") or "").strip(),
        body=body, body_line=body_line,
        aliases=[str(a).strip() for a in data.get("aliases") or []],
        deadline=deadline,
        related=refs("related"), similar=refs("similar"), follows=refs("follows"),
        body_refs=_text_refs(path, data, lines, body, body_line),
        faqs=[Faq(f["question"].strip(), f["answer"].strip(), lines[("faqs", i)])
              for i, f in enumerate(data.get("faqs") or [])],
        sources=[Source(s["title"].strip(), s["url"].strip(), lines[("sources", i)])
                 for i, s in enumerate(data.get("sources") or [])],
        updated=data.get("updated"),
        lines={k[0]: v for k, v in lines.items() if len(k) == 1},
    )
    return (None if any(x.severity == ERROR for x in out) else page), out


def _text_refs(path: str, data: dict, lines: dict, body: str, body_line: int) -> list[Ref]:
    """`[[CODE]]` cross-links in every Markdown field: the body, the quick answer, FAQ answers."""
    refs = [Ref(c.target, path, body_line + c.line, "body") for c in find_crosslinks(body)]
    if isinstance(data.get("quick_answer"), str):
        line = lines.get(("quick_answer",), 1)
        refs += [Ref(c.target, path, line, "quick_answer") for c in find_crosslinks(data["quick_answer"])]
    for i, faq in enumerate(data.get("faqs") or []):
        if isinstance(faq, dict) and isinstance(faq.get("answer"), str):
            line = lines.get(("faqs", i, "answer"), 1)
            refs += [Ref(c.target, path, line, "faqs") for c in find_crosslinks(faq["answer"])]
    return refs


def _bad_aliases(path: str, data: dict, lines: dict) -> list[Diagnostic]:
    aliases = data.get("aliases")
    out = []
    for i, alias in enumerate(aliases if isinstance(aliases, list) else []):
        if isinstance(alias, (str, int)) and not isinstance(alias, bool) and "\x00" not in str(alias) \
                and str(alias).strip() and not ALIAS_RE.match(str(alias).strip()):
            out.append(Diagnostic(path, lines.get(("aliases", i), lines.get(("aliases",), 1)), ERROR,
                                  f"alias {schema.quote(alias)} may only contain letters, digits, spaces, hyphens, dots "
                                  f"and underscores", "", "alias-invalid"))
    return out


def _unsafe_links(path: str, data: dict, lines: dict, body: str, body_line: int) -> list[Diagnostic]:
    """Links with a scheme other than https, http, mailto or tel: rendering drops them, so say so."""
    texts = [(body, body_line, True), (data.get("quick_answer"), lines.get(("quick_answer",), 1), False)]
    faqs = data.get("faqs")
    if isinstance(faqs, list):
        texts += [(f.get("answer"), lines.get(("faqs", i, "answer"), 1), False)
                  for i, f in enumerate(faqs) if isinstance(f, dict)]
    out = []
    for text, line, per_line in texts:
        if not isinstance(text, str):
            continue
        for offset, url in find_unsafe_links(text):
            out.append(Diagnostic(path, line + offset if per_line else line, ERROR,
                                  f"link to {schema.quote(url)} is not allowed: use an https, http, mailto or tel address "
                                  f"or a relative path", "", "url-unsafe"))
    return out
