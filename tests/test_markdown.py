"""Markdown units: [[CODE]] cross-links, code stays code, unsafe links never become links."""

from site_src.markdown import expand_crosslinks, find_crosslinks, render

TEXT = """Intro [[CP504]] and [[ltr 1058|the final notice]].

`[[CP14]]` is code.

```
[[CP501]] in a fence
```
After [[CP14]].
"""


def fake_resolve(target):
    return {"CP504": ("../cp504/", "CP504: Intent to levy"), "ltr 1058": ("../letter-1058/", "L1058"),
            "CP14": ("../cp14/", "CP14 [bill]")}.get(target)


def test_find_crosslinks_skips_code():
    assert [(c.target, c.text, c.line) for c in find_crosslinks(TEXT)] == [
        ("CP504", None, 0), ("ltr 1058", "the final notice", 0), ("CP14", None, 7)]


def test_expand_and_render():
    html = render(expand_crosslinks(TEXT, fake_resolve))
    assert '<a href="../cp504/">CP504: Intent to levy</a>' in html
    assert '<a href="../letter-1058/">the final notice</a>' in html
    assert "<code>[[CP14]]</code>" in html
    assert "[[CP501]] in a fence" in html
    assert '<a href="../cp14/">CP14 [bill]</a>' in html


def test_unknown_target_becomes_text():
    assert render(expand_crosslinks("See [[NOPE]].", fake_resolve)) == "<p>See NOPE.</p>\n"


def test_unsafe_links_and_raw_html_are_not_rendered():
    html = render('[x](javascript:alert(1)) <script>alert(1)</script>')
    assert "href" not in html
    assert "<script>" not in html


def test_headings_get_anchors():
    assert render("## What to do next") == '<h2 id="what-to-do-next">What to do next</h2>\n'


# -- linear time on hostile text: the same answers as the plain rules -------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from mdit_py_plugins.anchors.index import unique_slug  # noqa: E402

from site_src import markdown  # noqa: E402


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="`` ab[]", max_size=40))
def test_code_spans_are_the_regular_expressions_spans(line):
    assert markdown.code_spans(line) == [(m.start(), m.end()) for m in markdown._CODE_SPAN.finditer(line)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "a-1", "a-2", "a-1-1", "b", "a-3", ""]), max_size=40))
def test_heading_slugs_are_the_anchor_plugins(names):
    taken: set[str] = set()
    slugs = markdown._Slugs()
    assert [slugs.unique(n) for n in names] == [unique_slug(n, taken) for n in names]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["[[A]]", "[[B|c]]", "\n", "x", "[[", "]]", "|", "\n\n"]), max_size=30).map("".join))
def test_cross_link_lines_count_every_newline_before_the_link(text):
    from site_src.markdown import CROSSLINK

    expected = [text.count("\n", 0, m.start()) for m in CROSSLINK.finditer(text)] if "[[" in text else []
    assert [link.line for link in find_crosslinks(text)] == expected


def test_dense_emphasis_goes_to_the_reference_renderer(monkeypatch):
    """markdown-it-pyrs is quadratic in emphasis markers within one paragraph: past the limit, the
    reference (linear) renders the page, with the same bytes."""
    monkeypatch.setattr(markdown, "EMPHASIS_LIMIT", 10)
    dense = "Lots of " + "*em* " * 6 + "in one paragraph.\n\nAnd *a little* here.\n"
    sparse = "One *em* here.\n\nAnd *one* there.\n" * 3
    assert markdown.render_fast(dense) is None
    assert markdown.render_auto(dense) == render(dense)
    assert markdown.render_fast(sparse) == render(sparse)  # 12 markers, but at most 2 a paragraph


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["## a", "## a", "### a", "## a-1", "# a", "## !!!", "## `x` y", "## x y", "## ",
                                 "a\n---", "para", "## A", "### a-2"]), max_size=25).map("\n\n".join))
def test_reference_heading_ids_are_the_anchor_plugins(text):
    from markdown_it import MarkdownIt
    from mdit_py_plugins.anchors import anchors_plugin

    plain = MarkdownIt("commonmark", {"html": False, "typographer": False})
    plain.enable("table")
    plain.use(anchors_plugin, min_level=2, max_level=3)
    plain.validateLink = markdown._validate_link
    assert render(text) == plain.render(text)
