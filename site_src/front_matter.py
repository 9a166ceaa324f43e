"""Split a page into front matter and body, and parse the YAML keeping each key's line.

python-frontmatter finds the block; PyYAML composes it (with the C loader where available)
into nodes, which we walk ourselves so that every value keeps its line and duplicate keys are
caught (plain `yaml.safe_load` silently keeps the last one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import frontmatter
import yaml

try:  # The C loader is ~8x faster; fall back cleanly where libyaml is missing.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_HANDLER = frontmatter.YAMLHandler()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


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
        node = yaml.compose(yaml_text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = offset + (mark.line + 1 if mark else 1)
        problem = exc.problem or "malformed YAML"
        if "\t" in yaml_text and "tab" in str(exc).lower() or "found character '\\t'" in str(exc):
            problem = "a tab character; indent YAML with spaces"
        raise FrontMatterError(line, f"malformed YAML in front matter: {problem}") from None
    except yaml.YAMLError as exc:
        raise FrontMatterError(yaml_line, f"malformed YAML in front matter: {exc}") from None
    if node is None:
        raise FrontMatterError(yaml_line, "the front matter is empty")
    if not isinstance(node, yaml.MappingNode):
        raise FrontMatterError(offset + node.start_mark.line + 1,
                               "the front matter must be a set of 'key: value' lines")
    lines: dict[tuple, int] = {(): yaml_line}
    problems: list[tuple[int, str]] = []
    data = _walk(node, (), lines, problems, offset)
    return Parsed(data, lines, body, body_line, problems)


def _walk(node: yaml.Node, key: tuple, lines: dict, problems: list, offset: int) -> Any:
    lines.setdefault(key, offset + node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for k_node, v_node in node.value:
            if not isinstance(k_node, yaml.ScalarNode):
                problems.append((offset + k_node.start_mark.line + 1, "a key must be a plain word"))
                continue
            name = k_node.value
            line = offset + k_node.start_mark.line + 1
            if name in out:
                first = lines.get(key + (name,), line)
                problems.append((line, f"duplicate key '{name}' (first set on line {first})"))
                continue
            lines[key + (name,)] = line
            out[name] = _walk(v_node, key + (name,), lines, problems, offset)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, key + (i,), lines, problems, offset) for i, item in enumerate(node.value)]
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except (ValueError, yaml.YAMLError, OverflowError):
        if node.tag.endswith(":timestamp"):
            problems.append((offset + node.start_mark.line + 1, f"'{node.value}' is not a real date"))
        else:
            problems.append((offset + node.start_mark.line + 1, f"cannot read the value '{node.value}'"))
        return None
