"""Diagnostics: every problem a run finds, collected instead of raised.

Stages append `Diagnostic`s to a `Report`; the command prints them all at the end,
sorted, in one of three formats (plain text, GitHub Actions annotations, JSON lines).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import Iterable

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    path: str
    """Path of the file at fault, relative to the project root (posix slashes)."""
    line: int
    """1-based line of the offending key or body line; 0 when the whole file is at fault."""
    severity: str
    message: str
    hint: str = ""
    """What was probably meant ("did you mean 'CP504'?"), appended to the message."""
    code: str = ""
    """Stable identifier of the check, e.g. ``ref-unknown``."""

    def text(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}: {self.severity}: {self.message}{hint}"


@dataclass
class Report:
    items: list[Diagnostic] = field(default_factory=list)

    def error(self, path: str, line: int, message: str, hint: str = "", code: str = "") -> None:
        self.items.append(Diagnostic(path, line, ERROR, message, hint, code))

    def warning(self, path: str, line: int, message: str, hint: str = "", code: str = "") -> None:
        self.items.append(Diagnostic(path, line, WARNING, message, hint, code))

    def extend(self, items: Iterable[Diagnostic]) -> None:
        self.items.extend(items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == WARNING]

    def failed(self, strict: bool = False) -> bool:
        return bool(self.errors or (strict and self.warnings))

    def sorted(self) -> list[Diagnostic]:
        return sorted(set(self.items), key=lambda d: (d.path, d.line, d.severity, d.message, d.hint, d.code))


def did_you_mean(word: str, candidates: Iterable[str], *, labels: dict[str, str] | None = None) -> str:
    """Return "did you mean 'X'?" for the closest candidates, or "" when nothing is close.

    Equally close candidates are all named (up to three), so a tie is never settled arbitrarily:
    a missing 'CP14' suggests 'CP11', 'CP12' or 'CP91', not whichever sorts last. `labels` maps a
    folded candidate to the spelling to show the writer.
    """
    pool = sorted(set(candidates))
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(word)
    scored = []
    for cand in pool:
        matcher.set_seq1(cand)
        if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
            ratio = matcher.ratio()
            if ratio >= 0.6:
                scored.append((ratio, cand))
    if not scored:
        return ""
    best = max(r for r, _ in scored)
    top = [c for r, c in scored if r == best][:3]
    shown = [f"'{labels.get(c, c) if labels else c}'" for c in top]
    if len(shown) == 1:
        return f"did you mean {shown[0]}?"
    return f"did you mean {', '.join(shown[:-1])} or {shown[-1]}?"


def format_text(items: list[Diagnostic]) -> str:
    return "".join(d.text() + "\n" for d in items)


def _gh_escape(value: str, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def format_github(items: list[Diagnostic]) -> str:
    """The plain list, then one GitHub Actions annotation per problem."""
    lines = [format_text(items)]
    for d in items:
        props = f"file={_gh_escape(d.path, True)}"
        if d.line:
            props += f",line={d.line}"
        msg = d.message + (f" ({d.hint})" if d.hint else "")
        lines.append(f"::{d.severity} {props}::{_gh_escape(msg)}\n")
    return "".join(lines)


def format_json(items: list[Diagnostic]) -> str:
    return "".join(json.dumps(asdict(d), sort_keys=True) + "\n" for d in items)


FORMATTERS = {"text": format_text, "github": format_github, "json": format_json}


def summary(items: list[Diagnostic]) -> str:
    errors = sum(1 for d in items if d.severity == ERROR)
    warnings = sum(1 for d in items if d.severity == WARNING)
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts) if parts else "no problems"
