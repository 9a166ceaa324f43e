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
