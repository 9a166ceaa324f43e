"""Split a page into front matter and body, and parse the YAML keeping each key's line.

python-frontmatter finds the block; PyYAML composes it (with the C loader where available)
into nodes, which we walk ourselves so that every value keeps its line and duplicate keys are
caught (plain `yaml.safe_load` silently keeps the last one).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

import frontmatter
import yaml

from .schema import quote

try:  # The C loader is ~8x faster; fall back cleanly where libyaml is missing.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_HANDLER = frontmatter.YAMLHandler()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"


class FrontMatterError(Exception):
    """A problem with the front matter as a whole; `line` is 1-based in the file."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Parsed:
    data: dict
    lines: dict[tuple, int]
    body: str
    body_line: int
    problems: list[tuple[int, str]] = field(default_factory=list)
    """Per-key problems found while parsing (duplicate keys, impossible dates)."""


def split(text: str) -> tuple[str, int, str, int]:
    """Return (yaml text, the 0-based file line its first character sits on, body, body's first line)."""
    if not text.strip():
        raise FrontMatterError(1, "the file is empty; a page starts with front matter between '---' lines")
    if not _HANDLER.detect(text):
        raise FrontMatterError(1, "no front matter: the file must start with a line '---', the page's keys, "
                                  "and another line '---'")
    boundaries = _HANDLER.FM_BOUNDARY.finditer(text)
    first = next(boundaries)
    second = next(boundaries, None)
    if second is None:
        raise FrontMatterError(1, "the front matter is not closed: add a line '---' after the last key")
    yaml_text = text[first.end():second.start()]
    yaml_offset = text.count("\n", 0, first.end())
    body = text[second.end():]
    body_line = text.count("\n", 0, second.end()) + 1
    if body.startswith("\n"):
        body, body_line = body[1:], body_line + 1
    return yaml_text, yaml_offset, body, body_line


def parse(text: str) -> Parsed:
    """Parse a whole page. Raises FrontMatterError for problems that stop the page from loading."""
    yaml_text, offset, body, body_line = split(text)
    yaml_line = offset + 2 if yaml_text.startswith("\n") else offset + 1
    try:
        _check_depth(yaml_text, offset)
        node = yaml.compose(yaml_text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join((exc.problem or "malformed YAML").split())
        if "quoted scalar" in (exc.context or "") and exc.context_mark is not None:
            mark, problem = exc.context_mark, "a quote is not closed"  # the end is never where it went wrong
        elif "flow sequence" in (exc.context or "") and exc.context_mark is not None:
            mark, problem = exc.context_mark, "a list opened with '[' is not closed with ']'"
        elif "flow mapping" in (exc.context or "") and exc.context_mark is not None:
            mark, problem = exc.context_mark, "a '{' is not closed with '}'"
        at = _Lines(yaml_text, offset)
        line = at(mark) if mark else offset + 1
        if "nesting depth" in problem:  # PyYAML >= 6.0.4 has a limit of its own, met before ours
            raise FrontMatterError(line, "the front matter is nested too deeply") from None
        if mark is not None and _tab_near(yaml_text, at(mark) - offset - 1, mark.column):
            problem = "a tab character; indent YAML with spaces"
        raise FrontMatterError(line, f"malformed YAML in front matter: {problem}") from None
    except yaml.reader.ReaderError as exc:
        line = offset + yaml_text.count("\n", 0, max(exc.position, 0)) + 1
        raise FrontMatterError(line, f"the front matter contains a character YAML does not allow "
                                     f"(U+{exc.character if isinstance(exc.character, int) else 0:04X})") from None
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise FrontMatterError(yaml_line, f"malformed YAML in front matter: {problem}") from None
    except RecursionError:
        raise FrontMatterError(yaml_line, "the front matter is nested too deeply") from None
    if node is None:
        raise FrontMatterError(yaml_line, "the front matter is empty")
    if not isinstance(node, yaml.MappingNode):
        raise FrontMatterError(_Lines(yaml_text, offset)(node.start_mark),
                               "the front matter must be a set of 'key: value' lines")
    lines: dict[tuple, int] = {(): yaml_line}
    problems: list[tuple[int, str]] = []
    seen: set[int] = set()
    at = _Lines(yaml_text, offset)
    data = _walk(node, (), lines, problems, at, seen)
    if _ALIASED in seen:
        raise FrontMatterError(_first_alias_line(yaml_text, at), "YAML aliases ('*name') are not allowed in front matter; "
                                               "write the value out")
    return Parsed(data, lines, body, body_line, problems)


class _Lines:
    """The file line of a YAML mark. YAML 1.1 also ends a line at U+0085, U+2028 and U+2029,
    which editors show as ordinary characters; when the text holds any of them, the line is
    counted from the mark's character index instead of taken from the mark."""

    def __init__(self, yaml_text: str, offset: int):
        self.offset = offset
        self.starts = ([i for i, c in enumerate(yaml_text) if c == "\n"]
                       if _YAML_ONLY_BREAKS.search(yaml_text) else None)

    def __call__(self, mark) -> int:
        if self.starts is None:
            return self.offset + mark.line + 1
        return self.offset + bisect.bisect_left(self.starts, mark.index) + 1


_YAML_ONLY_BREAKS = re.compile("[\x85\u2028\u2029]")
_ALIASED = -1
"""Marker put in `seen` when a node is reached twice, i.e. through an alias."""
MAX_DEPTH = 12
"""Deeper nesting than any key of the schema needs; guards against `[[[[...]]]]` bombs."""
_SHALLOW = 1000


def _check_depth(yaml_text: str, offset: int) -> None:
    """Refuse nesting deeper than MAX_DEPTH before composing: libyaml's composer recurses in C and
    crashes the whole process (no Python exception) at some ten thousand levels.

    Each level needs one of `[ { : - ?`, so text with few of them cannot be deep and skips the scan.
    """
    if sum(yaml_text.count(c) for c in "[{:-?") <= _SHALLOW:
        return
    depth = 0
    for event in yaml.parse(yaml_text, Loader=_Loader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH + 1:
                raise FrontMatterError(_Lines(yaml_text, offset)(event.start_mark),
                                       "the front matter is nested too deeply")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def _tab_near(text: str, line: int, column: int) -> bool:
    """Whether YAML stopped at a tab: on it, or in the indentation of the line it stopped on."""
    rows = text.split("\n")
    if not 0 <= line < len(rows):
        return False
    row = rows[line]
    return row[column:column + 1] == "\t" or "\t" in row[:len(row) - len(row.lstrip(" \t"))]


def _first_alias_line(yaml_text: str, at: "_Lines") -> int:
    for event in yaml.parse(yaml_text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            return at(event.start_mark)
    return at.offset + 1


def _walk(node: yaml.Node, key: tuple, lines: dict, problems: list, at: "_Lines", seen: set) -> Any:
    """Plain data from a node tree, each key path's line recorded. Repeated nodes (aliases) are
    walked once: their expansion is what makes alias bombs expensive."""
    if id(node) in seen:
        seen.add(_ALIASED)
        return None
    seen.add(id(node))
    lines.setdefault(key, at(node.start_mark))
    if len(key) > MAX_DEPTH:
        problems.append((at(node.start_mark), "the front matter is nested too deeply"))
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for k_node, v_node in node.value:
            if not isinstance(k_node, yaml.ScalarNode):
                problems.append((at(k_node.start_mark), "a key must be a plain word"))
                continue
            name = k_node.value
            line = at(k_node.start_mark)
            if name in out:
                first = lines.get(key + (name,), line)
                problems.append((line, f"duplicate key {quote(name)} (first set on line {first})"))
                continue
            lines[key + (name,)] = line
            out[name] = _walk(v_node, key + (name,), lines, problems, at, seen)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, key + (i,), lines, problems, at, seen) for i, item in enumerate(node.value)]
    if node.tag == _STR:
        return node.value  # what SafeConstructor gives for a string, without its per-node bookkeeping
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except (ValueError, yaml.YAMLError, OverflowError):
        if node.tag.endswith(":timestamp"):
            problems.append((at(node.start_mark), f"{quote(node.value)} is not a real date"))
        else:
            problems.append((at(node.start_mark), f"cannot read the value {quote(node.value)}"))
        return None
    finally:
        _CONSTRUCTOR.constructed_objects.clear()  # it would keep every node it ever built alive
