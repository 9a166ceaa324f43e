"""Front-matter validation: unknown keys, missing keys, wrong types, each with its line."""

from site_src.front_matter import parse
from site_src.schema import json_schema, validate

NOTICE = """---
code: CP504
title: t
summary: s
category: collection
quick_answer: q
{extra}
---
"""


def messages(extra: str) -> list[str]:
    parsed = parse(NOTICE.format(extra=extra))
    return [d.text() for d in sorted(validate(parsed.data, parsed.lines, "notice", "n.md"))]


def test_a_valid_notice_has_no_problems():
    assert messages("deadline:\n  days: 30\n  from: the date\n  action: a\n  basis: b") == []


def test_unknown_key_suggests_the_right_one():
    assert messages("relatd: [CP14]") == ["n.md:7: error: unknown key 'relatd' (did you mean 'related'?)"]


def test_unknown_nested_key():
    assert messages("deadline:\n  day: 30\n  action: a\n  basis: b") == [
        "n.md:8: error: unknown key 'day' in 'deadline' (did you mean 'days'?)"]


def test_missing_required_key():
    parsed = parse("---\ncode: CP1\ntitle: t\n---\n")
    assert [d.text() for d in validate(parsed.data, parsed.lines, "notice", "n.md")] == [
        "n.md:2: error: missing required key 'summary'",
        "n.md:2: error: missing required key 'category'",
        "n.md:2: error: missing required key 'quick_answer'",
    ]


def test_wrong_types_everywhere():
    assert messages("deadline:\n  days: thirty\n  action: [a]\n  basis: b\nrelated: CP14\n"
                    "updated: yesterday\nfaqs:\n  - just a string") == [
        "n.md:8: error: 'deadline.days' must be a positive whole number, not 'thirty'",
        "n.md:9: error: 'deadline.action' must be text, not a list",
        "n.md:11: error: 'related' must be a list of codes, e.g. [CP504, LT11], not 'CP14' (write [CP14])",
        "n.md:12: error: 'updated' must be a date written YYYY-MM-DD, not 'yesterday'",
        "n.md:14: error: 'faqs[1]' must be a set of keys (question, answer), not 'just a string'",
    ]


def test_negative_days_and_unsafe_urls():
    assert messages("deadline:\n  days: -5\n  from: f\n  action: a\n  basis: b\n"
                    "sources:\n  - title: x\n    url: javascript:alert(1)") == [
        "n.md:8: error: 'deadline.days' must be a positive whole number, not -5",
        "n.md:14: error: 'sources[1].url' must be an https, http, mailto or tel address or a relative path, "
        "not 'javascript:alert(1)'",
    ]


def test_json_schema_matches_the_table():
    doc = json_schema("notice")
    assert doc["additionalProperties"] is False
    assert set(doc["required"]) == {"code", "title", "summary", "category", "quick_answer"}
    assert doc["properties"]["deadline"]["properties"]["days"]["minimum"] == 1
