"""Site-check link problems are reported at the content file and line the writer wrote them on."""

from site_src.diagnostics import Diagnostic, ERROR
from site_src.source_lines import locate, url_of

SOURCES = {"notices/cp14/index.html": "content/notices/cp14.md", "index.html": "content/index.md"}
OUTPUTS = ["index.html", "notices/cp14/index.html", "notices/cp2000/index.html", "notices/cp504/index.html",
           "guides/back-taxes-guide/index.html", "assets/site.css"]
TEXTS = {
    "content/notices/cp14.md": "---\ncode: CP14\nfaqs:\n  - answer: See [it](../cp504/#nope).\n---\n\n"
                               "Intro.\n\nRead [the old page](../cp2001/) first.\n",
    "content/index.md": "---\ntitle: Home\n---\n\nNothing here.\n",
}


def broken(path, line, url, code="link-broken", what="points to a file that is not generated"):
    return Diagnostic(path, line, ERROR, f"link '{url}' {what}", "page made from x", code)


def run(items):
    return locate(items, SOURCES, OUTPUTS, TEXTS.get)


def test_a_broken_body_link_is_reported_at_its_markdown_line_with_the_closest_page():
    [d] = run([broken("output/notices/cp14/index.html", 99, "../cp2001/")])
    assert d.text() == ("content/notices/cp14.md:9: error: link '../cp2001/' points to a file that is not "
                        "generated (did you mean '../cp2000/'? seen in output/notices/cp14/index.html:99)")


def test_a_missing_fragment_in_a_front_matter_answer_points_at_that_line():
    [d] = run([broken("output/notices/cp14/index.html", 120, "../cp504/#nope", "link-fragment",
                      "points to '#nope', which is not an id on notices/cp504/index.html")])
    assert (d.path, d.line, d.hint) == ("content/notices/cp14.md", 4, "seen in output/notices/cp14/index.html:120")


def test_what_cannot_be_placed_is_left_as_it_was():
    template_link = broken("output/index.html", 12, "../guides/nowhere/")  # in no content text: a template's
    no_source = broken("output/404.html", 3, "nope/")
    other = Diagnostic("output/notices/cp14/index.html", 0, ERROR, "the page has no <title>", "", "html-structure")
    assert run([template_link, no_source, other]) == [template_link, no_source, other]


def test_no_suggestion_when_nothing_is_close():
    [d] = run([broken("output/notices/cp14/index.html", 5, "first")])  # a bare word, found in the text
    assert (d.path, d.line, d.hint) == ("content/notices/cp14.md", 9, "seen in output/notices/cp14/index.html:5")


def test_url_of():
    assert [url_of(p) for p in ("index.html", "notices/cp14/index.html", "404.html")] == ["", "notices/cp14/", "404.html"]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from site_src.source_lines import _line_of, _Lines  # noqa: E402

_PIECES = st.sampled_from(["](", "](<", "]: ", '"', "a", "ab", ">", "\n", " ", "b/", "](a", "](b/", "](<a>",
                           '"a"', "]: ab", "\n"])
_URLS = st.lists(st.one_of(st.sampled_from(["a", "b/", "ab", "a>"]),
                           st.lists(st.sampled_from(["a", "b", "/", ">", '"']), max_size=3).map("".join)),
                 max_size=6)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join), _URLS)
def test_lines_of_many_addresses_are_found_as_one_by_one(text, urls):
    """`_Lines` reads a file once for all its problem addresses; each line is `_line_of`'s."""
    lines = _Lines(text, set(urls))
    assert [lines.line(u) for u in urls] == [_line_of(text, u) for u in urls]
