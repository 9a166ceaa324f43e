"""The front-matter schema: one declarative table that drives validation, docs and JSON Schema.

`validate()` checks a parsed front-matter mapping against the table and returns diagnostics with
the line of each offending key; `json_schema()` exports the same table for editors.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from .diagnostics import Diagnostic, ERROR, did_you_mean

SAFE_URL = re.compile(r"^(https?://[^\s]+|mailto:[^\s]+|tel:[+0-9()\-. ]+|/[^\s]*|\.{0,2}/?[A-Za-z0-9_\-./#?=&%]*)$")
"""Link targets a writer may use: https, http, mailto, tel, or a relative path. No javascript:, data: ..."""


MAX_DAYS = 3650
"""Ten years, the collection statute: no response window is longer, and date arithmetic stays in range."""


_CONTROL = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Invisible characters (a YAML escape such as "\\b" can make them) that break XML feeds."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    """One of: text, markdown, integer, date, codes, url, mapping, list."""
    doc: str
    required: bool = False
    fields: tuple["Field", ...] = ()
    """Sub-fields of a mapping, or of each item of a list."""
    min_items: int = 0
    maximum: int = 0
    """Largest value an integer may take (0: no limit)."""


SOURCE = (
    Field("title", "text", "What the source is, e.g. 'IRS: Understanding your CP504 notice'.", True),
    Field("url", "url", "Its address (https).", True),
)
FAQ = (
    Field("question", "text", "The question as a reader would ask it.", True),
    Field("answer", "markdown", "The answer; Markdown allowed.", True),
)
DEADLINE = (
    Field("days", "integer", "Calendar days to act. Omit when the window is 'the date on your notice'.",
          maximum=MAX_DAYS),
    Field("days_abroad", "integer", "Days when the notice is addressed outside the United States.",
          maximum=MAX_DAYS),
    Field("from", "text", "What the days count from, e.g. 'the date printed on the letter'."),
    Field("action", "text", "What to do by the deadline.", True),
    Field("basis", "text", "The law or IRS page that sets the window, e.g. 'IRC 6330'.", True),
    Field("if_missed", "text", "What happens if the deadline is missed."),
    Field("late_option", "text", "What can still be done after it, e.g. an Equivalent Hearing within one year."),
)
_COMMON_TAIL = (
    Field("related", "codes", "Other notices (code or alias) or guide ids to list under Related resources."),
    Field("faqs", "list", "Questions and answers shown in the FAQ block.", fields=FAQ),
    Field("sources", "list", "Where the facts come from.", fields=SOURCE),
    Field("updated", "date", "The date the facts were last checked (YYYY-MM-DD)."),
)

NOTICE_FIELDS = (
    Field("code", "text", "The notice code as printed on the letter, e.g. CP504 or Letter 1058. Unique.", True),
    Field("aliases", "codes", "Other spellings readers type or see, e.g. [LTR1058, L1058]."),
    Field("title", "text", "The page title: the code and its plain-language name.", True),
    Field("summary", "text", "One line for cards and the meta description.", True),
    Field("category", "text", "The home-page group (an id from site.toml [[categories]]).", True),
    Field("quick_answer", "markdown", "The two or three sentences a worried reader needs first.", True),
    Field("deadline", "mapping", "The response window; drives the deadline box and calculator.", fields=DEADLINE),
    Field("follows", "codes", "Notices that come right before this one in the collection sequence."),
    Field("similar", "codes", "Notices that are functionally the same letter (shown on both pages)."),
) + _COMMON_TAIL

GUIDE_FIELDS = (
    Field("id", "text", "The guide's id, lowercase with hyphens; also its URL. Unique.", True),
    Field("title", "text", "The page title.", True),
    Field("summary", "text", "One line for cards and the meta description.", True),
) + _COMMON_TAIL

HOME_FIELDS = (
    Field("title", "text", "The home page title.", True),
    Field("summary", "text", "One line for the meta description.", True),
    Field("sources", "list", "Where the facts come from.", fields=SOURCE),
    Field("updated", "date", "The date the page was last checked."),
)

FIELDS_BY_KIND = {"notice": NOTICE_FIELDS, "guide": GUIDE_FIELDS, "home": HOME_FIELDS}

_TYPE_WORDS = {
    "text": "text",
    "markdown": "text",
    "url": "a web address",
    "integer": "a positive whole number",
    "date": "a date written YYYY-MM-DD",
    "codes": "a list of codes, e.g. [CP504, LT11]",
    "mapping": "a set of keys",
    "list": "a list",
}


def printable(value: Any) -> str:
    """`value` as one line of text: line breaks and invisible characters shown as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))


def quote(value: Any, limit: int = 80) -> str:
    """A writer's value inside a one-line message: quoted, invisible characters escaped, shortened."""
    text = printable(value)
    return f"'{text[:limit - 1]}…'" if len(text) > limit else f"'{text}'"


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a set of keys"
    return quote(value)


def validate(data: dict, lines: dict[tuple, int], kind: str, path: str) -> list[Diagnostic]:
    """Check `data` (front matter of a page of `kind`) against the schema.

    `lines` maps key paths such as ``("deadline", "days")`` or ``("faqs", 0, "question")`` to lines.
    """
    out: list[Diagnostic] = []
    _check_mapping(data, FIELDS_BY_KIND[kind], (), lines, path, out)
    return out


def usable(data: dict, kind: str) -> dict:
    """The known keys of `data` whose values pass validation, for a page that has errors elsewhere.

    A page with one bad key is still resolved with the rest, so a writer sees every problem of the
    file in one run instead of one per fix.
    """
    kept = {}
    for f in FIELDS_BY_KIND[kind]:
        if f.name in data and data[f.name] not in (None, ""):
            problems: list[Diagnostic] = []
            _check_value(data[f.name], f, (f.name,), {}, "", problems)
            if not problems:
                kept[f.name] = data[f.name]
    return kept


def _line(lines: dict[tuple, int], key: tuple) -> int:
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return lines.get((), 1)


def _label(key: tuple) -> str:
    parts = []
    for k in key:
        parts.append(f"[{k + 1}]" if isinstance(k, int) else ("." if parts else "") + printable(k))
    return "".join(parts)


def _check_mapping(data: dict, fields: tuple[Field, ...], key: tuple, lines, path, out) -> None:
    known = {f.name: f for f in fields}
    for name in data:
        if name not in known:
            hint = did_you_mean(str(name), known)
            where = f" in '{_label(key)}'" if key else ""
            out.append(Diagnostic(path, _line(lines, key + (name,)), ERROR,
                                  f"unknown key {quote(name)}{where}", hint, "key-unknown"))
    for f in fields:
        sub = key + (f.name,)
        if f.name not in data or data[f.name] is None or data[f.name] == "":
            if f.required:
                out.append(Diagnostic(path, _line(lines, sub if f.name in data else key), ERROR,
                                      f"missing required key '{_label(sub)}'", "", "key-missing"))
            continue
        _check_value(data[f.name], f, sub, lines, path, out)


def _check_value(value: Any, f: Field, key: tuple, lines, path, out) -> None:
    line = _line(lines, key)

    def bad(extra: str = "") -> None:
        out.append(Diagnostic(path, line, ERROR,
                              f"'{_label(key)}' must be {_TYPE_WORDS[f.type]}, not {_type_name(value)}{extra}",
                              "", "key-type"))

    if f.type in ("text", "markdown"):
        if not isinstance(value, str):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                bad(" (put it in quotes)")
            else:
                bad()
        elif not value.strip():
            out.append(Diagnostic(path, line, ERROR, f"'{_label(key)}' is empty", "", "key-empty"))
        elif "\x00" in value:
            out.append(Diagnostic(path, line, ERROR, f"'{_label(key)}' contains a NUL character", "", "key-nul"))
        elif _CONTROL.search(value):
            char = ord(_CONTROL.search(value).group())
            out.append(Diagnostic(path, line, ERROR, f"'{_label(key)}' contains a control character (U+{char:04X})",
                                  "", "key-nul"))
    elif f.type == "url":
        if not isinstance(value, str):
            bad()
        elif not SAFE_URL.match(value.strip()):
            out.append(Diagnostic(path, line, ERROR,
                                  f"'{_label(key)}' must be an https, http, mailto or tel address or a relative "
                                  f"path, not {quote(value)}", "", "url-unsafe"))
    elif f.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            bad()
        elif value <= 0:
            out.append(Diagnostic(path, line, ERROR,
                                  f"'{_label(key)}' must be a positive whole number, not {value}", "", "key-type"))
        elif f.maximum and value > f.maximum:
            out.append(Diagnostic(path, line, ERROR,
                                  f"'{_label(key)}' must be at most {f.maximum}, not {value}", "", "key-type"))
    elif f.type == "date":
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            bad()
    elif f.type == "codes":
        if not isinstance(value, list):
            bad(f" (write [{printable(value)}])" if isinstance(value, str) else "")
            return
        for i, item in enumerate(value):
            if not isinstance(item, (str, int)) or isinstance(item, bool) or not str(item).strip():
                out.append(Diagnostic(path, _line(lines, key + (i,)), ERROR,
                                      f"'{_label(key + (i,))}' must be a code or id, not {_type_name(item)}",
                                      "", "key-type"))
            elif "\x00" in str(item):
                out.append(Diagnostic(path, _line(lines, key + (i,)), ERROR,
                                      f"'{_label(key + (i,))}' contains a NUL character", "", "key-nul"))
            elif not str(item).isprintable():
                out.append(Diagnostic(path, _line(lines, key + (i,)), ERROR,
                                      f"'{_label(key + (i,))}' contains a line break or an invisible character: "
                                      f"{quote(item)}", "", "key-nul"))
    elif f.type == "mapping":
        if not isinstance(value, dict):
            bad()
            return
        _check_mapping(value, f.fields, key, lines, path, out)
    elif f.type == "list":
        if not isinstance(value, list):
            bad()
            return
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                out.append(Diagnostic(path, _line(lines, key + (i,)), ERROR,
                                      f"'{_label(key + (i,))}' must be a set of keys "
                                      f"({', '.join(s.name for s in f.fields)}), not {_type_name(item)}",
                                      "", "key-type"))
                continue
            _check_mapping(item, f.fields, key + (i,), lines, path, out)


def json_schema(kind: str) -> dict:
    """The front matter of one page kind as JSON Schema (draft 2020-12), for editors."""
    return {
        "type": "object",
        "additionalProperties": False,
        **_object(FIELDS_BY_KIND[kind]),
    }


def _object(fields: tuple[Field, ...]) -> dict:
    return {
        "properties": {f.name: _field_schema(f) for f in fields},
        "required": [f.name for f in fields if f.required],
    }


def _field_schema(f: Field) -> dict:
    base: dict[str, Any] = {"description": f.doc}
    if f.type in ("text", "markdown"):
        base.update(type="string", minLength=1)
    elif f.type == "url":
        base.update(type="string", pattern=SAFE_URL.pattern)
    elif f.type == "integer":
        base.update(type="integer", minimum=1)
        if f.maximum:
            base.update(maximum=f.maximum)
    elif f.type == "date":
        base.update(type="string", format="date")
    elif f.type == "codes":
        base.update(type="array", items={"type": ["string", "integer"], "minLength": 1})
    elif f.type == "mapping":
        base.update(type="object", additionalProperties=False, **_object(f.fields))
    elif f.type == "list":
        base.update(type="array", items={"type": "object", "additionalProperties": False, **_object(f.fields)})
    return base
