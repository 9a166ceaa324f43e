"""Stage 1 units: splitting pages, YAML with line numbers, decoding."""

import datetime as dt

import pytest

from site_src.front_matter import FrontMatterError, parse
from site_src.load import SourceFile, decode, load_page


def test_parse_keeps_lines_of_every_key_and_the_body():
    text = "---\ncode: CP504\ndeadline:\n  days: 30\nfaqs:\n  - question: Q\n    answer: A\n---\n\n## Body\n"
    parsed = parse(text)
    assert parsed.data["deadline"] == {"days": 30}
    assert parsed.lines[("code",)] == 2
    assert parsed.lines[("deadline", "days")] == 4
    assert parsed.lines[("faqs", 0, "answer")] == 7
    assert parsed.body == "## Body\n"
    assert parsed.body_line == 10


def test_duplicate_keys_and_impossible_dates_are_reported_with_their_lines():
    parsed = parse("---\ntitle: a\ntitle: b\nupdated: 2026-02-30\n---\n")
    assert parsed.problems == [(3, "duplicate key 'title' (first set on line 2)"),
                               (4, "'2026-02-30' is not a real date")]


@pytest.mark.parametrize("text, line, message", [
    ("", 1, "the file is empty; a page starts with front matter between '---' lines"),
    ("# Just a heading\n", 1, "no front matter: the file must start with a line '---', the page's keys, "
                              "and another line '---'"),
    ("---\ntitle: a\n", 1, "the front matter is not closed: add a line '---' after the last key"),
    ("---\ntitle: [a\n---\n", 2, "malformed YAML in front matter: a list opened with '[' is not closed with ']'"),
    ("---\n- a\n- b\n---\n", 2, "the front matter must be a set of 'key: value' lines"),
    ("---\ntitle: a\n\tcode: b\n---\n", 3, "malformed YAML in front matter: a tab character; indent YAML with "
                                          "spaces"),
])
def test_front_matter_errors(text, line, message):
    with pytest.raises(FrontMatterError) as info:
        parse(text)
    assert (info.value.line, info.value.message) == (line, message)


def test_bom_and_crlf_simply_work():
    text, problems = decode("a.md", "\ufeff---\r\ntitle: x\r\n---\r\nbody\r\n".encode())
    assert problems == []
    assert text == "---\ntitle: x\n---\nbody\n"


def test_non_utf8_bytes_name_the_line():
    _, problems = decode("content/notices/x.md", b"---\ntitle: caf\xe9\n---\n")
    assert [d.text() for d in problems] == [
        "content/notices/x.md:2: error: the file is not UTF-8 text (byte 0xe9); save it as UTF-8"]


def test_load_page_builds_a_notice():
    raw = (b"---\ncode: CP 504\ntitle: t\nsummary: s\ncategory: collection\nquick_answer: q\n"
           b"related: [LT11]\nupdated: 2026-11-01\n---\nSee [[CP14|the bill]].\n")
    page, problems = load_page(SourceFile("content/notices/cp504.md", "notice", raw))
    assert problems == []
    assert page.url == "notices/cp-504/"
    assert page.updated == dt.date(2026, 11, 1)
    assert [(r.target, r.line, r.field) for r in page.related] == [("LT11", 7, "related")]
    assert [(r.target, r.line, r.field) for r in page.body_refs] == [("CP14", 10, "body")]


def test_lines_after_a_yaml_only_line_break_are_the_editors_lines():
    """YAML 1.1 ends lines at U+2028, U+2029 and U+0085 too; an editor does not, and neither do
    our line numbers (found by tests/test_properties.py: a diagnostic pointed past the file's end)."""
    text = "---\ncode: CP9\ntitle: \"A\u2028B\u2029C\x85D\"\nsummary: S.\nsumary: x\n---\nBody.\n"
    parsed = parse(text)
    assert parsed.data["title"].startswith("A")
    assert parsed.lines[("summary",)] == 4 and parsed.lines[("sumary",)] == 5
    with pytest.raises(FrontMatterError) as exc:
        parse(text.replace("sumary: x", "sumary: [x"))
    assert exc.value.line == 5
