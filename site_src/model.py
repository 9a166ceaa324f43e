"""The data passed between stages: plain dataclasses, no behaviour beyond small helpers."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
import re
from dataclasses import dataclass, field

NOTICE = "notice"
GUIDE = "guide"
HOME = "home"

_FOLD = re.compile(r"[\s\-_.]+")


@functools.lru_cache(maxsize=1 << 16)
def fold(code: str) -> str:
    """The lookup key of a code or alias: case, spaces, hyphens, dots and underscores folded.

    `CP 504`, `cp-504` and `CP504` all fold to `cp504`. Memoised: resolving a site folds the same
    few thousand codes ~70k times.
    """
    return _FOLD.sub("", code).lower()


def _tuple_state(cls):
    """Pickle a slotted dataclass as the tuple of its field values. The state methods dataclasses
    adds for slots look up `fields()` for every object unpickled: 85k objects, 0.3 s of an edit
    build's 0.5 s of reading the cached pages back."""
    names = tuple(f.name for f in dataclasses.fields(cls))
    getter = operator.attrgetter(*names)
    setters = tuple(getattr(cls, name).__set__ for name in names)  # the slots' own descriptors

    def __getstate__(self):
        return getter(self) if len(names) > 1 else (getter(self),)

    def __setstate__(self, state):
        for put, value in zip(setters, state, strict=True):
            put(self, value)

    cls.__getstate__, cls.__setstate__ = __getstate__, __setstate__
    return cls


@functools.lru_cache(maxsize=1 << 16)
def slugify(code: str) -> str:
    """The URL slug of a code or id: lowercase, runs of anything else than a-z0-9 become one hyphen.
    Memoised: the redirect pages of every alias are made again on each of the dev server's saves."""
    return _NOT_SLUG.sub("-", code.lower()).strip("-")


_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@_tuple_state
@dataclass(frozen=True, slots=True)
class Ref:
    """One reference a writer typed: in front matter (`related`, ...) or in the body (`[[CP504]]`)."""

    target: str
    path: str
    line: int
    field: str


@_tuple_state
@dataclass(frozen=True, slots=True)
class Faq:
    question: str
    answer: str
    line: int


@_tuple_state
@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str
    line: int


@_tuple_state
@dataclass(frozen=True, slots=True)
class Deadline:
    action: str
    basis: str
    days: int | None = None
    """Calendar days to act; None when the window is "the date printed on your notice"."""
    days_abroad: int | None = None
    """Days when the notice is addressed outside the United States (e.g. 150 for a CP3219A)."""
    start: str = ""
    """What the days count from (the writer's `from`)."""
    if_missed: str = ""
    late_option: str = ""
    line: int = 0


@_tuple_state
@dataclass(slots=True)
class Page:
    kind: str
    key: str
    """The page's identity: a notice's code, a guide's id, or "index" for the home page."""
    path: str
    """Source file, relative to the project root, posix slashes."""
    url: str
    """Site-relative URL without a leading slash: ``notices/cp504/`` or ``""`` for home."""
    title: str
    summary: str = ""
    category: str = ""
    quick_answer: str = ""
    body: str = ""
    body_line: int = 1
    """Line of the file on which the Markdown body starts."""
    aliases: list[str] = field(default_factory=list)
    deadline: Deadline | None = None
    related: list[Ref] = field(default_factory=list)
    similar: list[Ref] = field(default_factory=list)
    follows: list[Ref] = field(default_factory=list)
    body_refs: list[Ref] = field(default_factory=list)
    faqs: list[Faq] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    updated: dt.date | None = None
    lines: dict[str, int] = field(default_factory=dict)
    """Line of each front-matter key, for diagnostics."""

    @property
    def output_path(self) -> str:
        return f"{self.url}index.html"

    def line_of(self, key: str) -> int:
        return self.lines.get(key, 1)


@_tuple_state
@dataclass(frozen=True, slots=True)
class Link:
    """A resolved link to another page, as templates and the catalogue show it."""

    key: str
    kind: str
    title: str
    summary: str
    url: str


@_tuple_state
@dataclass(slots=True)
class Relations:
    """The related-resources graph of one page, grouped as the page shows it."""

    previous: list[str] = field(default_factory=list)
    next: list[str] = field(default_factory=list)
    similar: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    referenced_by: list[str] = field(default_factory=list)


@_tuple_state
@dataclass(slots=True)
class Site:
    """Everything the render stage needs: pages by key, the lookup index and the graph."""

    pages: dict[str, Page]
    index: dict[str, str]
    """Folded code, alias or id -> page key."""
    relations: dict[str, Relations]
    sequences: list[list[list[str]]]
    """Collection sequences: each is a list of stages, each stage a list of notice keys."""
    stage_of: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Notice key -> (sequence number, stage number)."""

    @property
    def notices(self) -> list[Page]:
        return [p for p in self.pages.values() if p.kind == NOTICE]

    @property
    def guides(self) -> list[Page]:
        return [p for p in self.pages.values() if p.kind == GUIDE]

    @property
    def home(self) -> Page | None:
        return next((p for p in self.pages.values() if p.kind == HOME), None)
