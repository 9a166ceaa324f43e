"""The fast paths give the same output as the plain path, byte for byte.

Cold, warm (cache), incremental (one edit), parallel (process pool) and serial builds; the
markdown-it-pyrs renderer against markdown-it-py; the fast page-facts reader against
BeautifulSoup; and the cache forgets what a template, config or neighbouring page change makes
stale. Timings are not asserted here: bench/run.py measures them (docs/performance.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import break_links, fresh_copy, make_project, tree_bytes
from site_src import check, markdown, page_facts, parallel
from site_src.load import discover, load_page, read_sources
from site_src.pipeline import BuildOptions, build


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("bundled") / "site", base="bundled")


def plain_build(root: Path, **kw):
    """The reference: no cache, no pool, markdown-it-py only."""
    old = markdown.USE_PYRS
    markdown.USE_PYRS = False
    try:
        return build(BuildOptions(root=root, search=False, cache=False, parallel=False, **kw))
    finally:
        markdown.USE_PYRS = old


def fast_build(root: Path, **kw):
    return build(BuildOptions(root=root, search=False, **kw))


def read_now(result):
    """`result` with its files read: a cold build's pages are read from output/ on demand (the
    workers wrote them there), and a later build replaces output/ (reading them then fails)."""
    result.files = dict(result.files)
    return result


def same(a, b) -> None:
    assert sorted(a.files) == sorted(b.files)
    differing = [p for p in a.files if a.files[p] != b.files[p]]
    assert not differing, differing[:5]
    assert a.sources == b.sources
    assert a.report.sorted() == b.report.sorted()


# -- markdown-it-pyrs --------------------------------------------------------------------------

EDGE_MARKDOWN = [
    "## A `code` & <b>\n\n## A `code` & <b>\n\n### Héllo wörld!\n\n#### h4\n\n# h1\n",
    "Setext\nline\n---\n\n## [link](http://a.b) *em* ![img](x.png)\n",
    "[x](ftp://a) [y](javascript:x) <mailto:a@b.c> ![i](data:image/png;base64,AA)",
    "[r]: http://x\n\n[r]\n",
    "## \n\n##\n\n## -\n\n## a&amp;b &copy; &#35;\n",
    "| a | b |\n|---|--:|\n| <x> | `|` |\n\n* [ok](/x/y?z=1#f)\n* [bad](ftp://q)",
    "<div>raw</div>\n\n<script>alert(1)</script>\n\nA  \nB\\\nC\n\n> quote\n\n    code\n\n```py\nx<\n```\n",
]


def markdown_texts(root: Path) -> list[str]:
    listing, _ = discover(root)
    texts = []
    for src in read_sources(root, listing):
        page, _ = load_page(src)
        if page is None:
            continue
        for text in [page.body, page.quick_answer, *(f.answer for f in page.faqs)]:
            texts.append(markdown.expand_crosslinks(text, lambda t: ("../x/", "Title & <b>*x*</b>")))
    return texts


def test_pyrs_renders_the_same_bytes_as_markdown_it_py(bundled, synthetic):
    texts = markdown_texts(bundled) + markdown_texts(synthetic) + EDGE_MARKDOWN
    fast = 0
    for text in texts:
        html = markdown.render_fast(text)
        if html is not None:
            fast += 1
            assert html == markdown.render(text), text
    assert fast >= len(texts) - len(EDGE_MARKDOWN)  # the fast path is really taken


def test_pyrs_leaves_what_it_cannot_match_to_markdown_it_py():
    assert markdown.render_fast("[a](ftp://x)") is None  # our link rules are stricter
    assert markdown.render_fast("![i](data:image/png;base64,AA)") is None  # for images too
    assert markdown.render_fast('[t](http://a.b "x") ![i](ftp://x/y.png "z")') is None  # after other attributes
    assert markdown.render_fast("[r]: http://x\n") is None  # reference definitions
    assert markdown.render_fast("x", allow_html=True) is None
    assert markdown.render_auto("[a](ftp://x)") == markdown.render("[a](ftp://x)")


# -- page facts --------------------------------------------------------------------------------

EDGE_HTML = [
    b'<!DOCTYPE html><html><head><title> </title></head><body><h1>a</h1><h1>b</h1><img src="x.png"></body></html>',
    b'<html lang="en"><head><title>T &amp; u</title><meta name="description" content=" "></head>'
    b'<body><a name="top"></a><a href="#top" id="x">t</a><img src="a.png" alt><img alt="" src="/b.png"/>'
    b'<a href="mailto:x@y">m</a><a href="https://e.org/">e</a><a href=" ../p/#f ">p</a></body></html>',
    b'<html lang="en"><title>t</title><body><h1 ID="Up">x</h1><!-- <a href="nope/"> -->'
    b'<script>var a = "<a href=x>";</script><a href="y/">y</a></body></html>',
    b'<html lang="en"><title>t</title><body><h1>x</h1><a href="a" href="b">dup</a></body></html>',
    b'<html lang="en"><title>t<b>b</b></title><body><h1>x</h1></body></html>',
    b'<html lang="en"><title>t</title><body><h1>x</h1><p>1 < 2</p><a href="z/">z</a></body></html>',
    '<html lang="en"><meta charset="utf-8"><title>caf\u00e9</title><h1>\u00e9</h1></html>'.encode(),
    # tags the scanner steps over unless they carry an id (any case, any quoting, after other attributes)
    b'<html lang="en"><title>t</title><body><h1>x</h1><p data-id="no" class="id">said</p><div hidden>'
    b'<span class=a ID=Up2>u</span><section aria-hidden="true" iD=\'s\'>s</section><li id>e</li>'
    b'<p class="a" class="b">dup, no id</p><p class="a" id="one" class="b">dup with id</p>'
    b'<ul><li><em>i</em></li></ul><A HREF="Up/">up</A><br/><hr /><P ID="P1"></P></div></body></html>',
    b'<html lang="en"><title>t</title><body><h1>x</h1><p class="a>b" id="gt">v</p><p title="x<y" id="lt">w</p>'
    b'</body></html>',
    b'<html lang="en"><title>t</title><body><h1>x</h1><p>unclosed <!-- comment <a href="c/">c</a></body></html>',
    b'<html lang="en"><title>t</title><body><h1>x</h1><a href="a/">a</a> text and a last <',
    b'<html lang="en"><title>t</title><body><h1>x</h1><a href="a/">a</a> 1 < 2 at the end',
    # a self-closed <title/> is an empty element to html.parser: the text after it is no title
    b'<html lang="en"><title/>plain</title><body><h1>x</h1></body></html>',
]


def test_page_facts_step_over_a_long_tail_once():
    """The text after the last tag holding a fact is stepped over once: the scan ends with a match
    at the end of the text (without it, the regular expression engine retried the tail from each
    of its characters: 160 KB of text took 3.6 s, a 2 MB page would take minutes)."""
    html = ('<html lang="en"><head><title>t</title><meta name="description" content="d"></head><body>'
            '<h1>x</h1><p>' + "word " * 40_000 + '</p></body></html>').encode()
    text = html.decode()
    last = list(page_facts._TOKEN.finditer(text))[-1]
    assert last.group(1) is None and last.end() == len(text)
    fast, ref = page_facts.read_page_fast(html), check.read_page(html)
    assert fast is not None and (fast.ids, fast.links, fast.problems) == (ref.ids, ref.links, ref.problems)


def _every_page(*roots: Path) -> list[bytes]:
    """The HTML of every page of plain builds of `roots`."""
    return [html for root in roots for path, html in plain_build(root, write=False).files.items()
            if path.endswith(".html")]


def test_fast_page_facts_match_beautifulsoup(bundled, synthetic):
    assert page_facts.enabled(), ("check.read_page changed: teach page_facts.py the new rule, then update "
                                  f"READ_PAGE_FINGERPRINT to {page_facts.fingerprint()!r}")
    pages = _every_page(bundled, synthetic)
    read_fast = 0
    for html in pages + EDGE_HTML:
        fast = page_facts.read_page_fast(html)
        ref = check.read_page(html)
        if fast is not None:
            read_fast += 1
            assert (fast.ids, fast.links, fast.problems) == (ref.ids, ref.links, ref.problems), html[:300]
        assert page_facts.read_page(html) == ref
    assert read_fast >= len(pages)  # every generated page takes the fast path


def _facts_tuple(facts):
    return None if facts is None else (facts.ids, facts.links, facts.problems, facts.redirect)


def _read_in_stretches(html: bytes, monkeypatch, every: int):
    """`read_page_fast` with every page cut into stretches (about one tag line in `every`),
    remembered stretches emptied first."""
    monkeypatch.setattr(page_facts, "CHUNKED_FROM", 0)
    monkeypatch.setattr(page_facts, "CHUNK_EVERY", every)
    page_facts.forget_parts()
    first = page_facts.read_page_fast(html, remember=True)
    again = page_facts.read_page_fast(html, remember=True)  # from the remembered stretches
    assert _facts_tuple(again) == _facts_tuple(first)
    return first


def test_page_facts_read_in_stretches_as_in_one_pass(bundled, synthetic, monkeypatch):
    """Long pages are read in stretches cut before tag lines, each remembered; the facts must be
    those of one pass over the page, for every page of both sites, cut as often as possible."""
    pages = _every_page(bundled, synthetic)
    assert not any(b"<!--" in html for html in pages)  # so each page really is read in stretches
    cuts = 0
    for html in pages + EDGE_HTML:
        with monkeypatch.context() as patch:
            patch.setattr(page_facts, "CHUNKED_FROM", 10**12)
            whole = page_facts.read_page_fast(html)
            for every in (1, 3):
                assert _facts_tuple(_read_in_stretches(html, patch, every)) == _facts_tuple(whole), html[:200]
            cuts += len(page_facts._chunks(html.decode("utf-8", "replace"))) - 1
    assert cuts > len(pages) * 20  # the pages were really cut


_PIECES = ['<p>text</p>', '<a href="x/">x</a>', '<a href="../y/#f" id="i1">y</a>', '<h1>H</h1>', '<img src="a.png">',
           '<img src="b.png" alt="">', '<title>T &amp; t</title>', '<meta name="description" content="d">',
           '<html lang="en">', '<html>', '<script>var a = 1;\n</script>', '<script>x = "<b>";</script>',
           '<!-- c <a href="c/"> -->', '<li id="n-1">', '</li>', '<span class="s" ID="u">', 'plain', '1 < 2',
           '<p title="a<b">', '<a href="a" href="b">', '<!DOCTYPE html>', '<br/>', '</script>', '<title>', '</title>',
           '<a\nhref="n/">', '<style>p { color: red }\n</style>', '<style>\n<b>\n</style>', '<a name="top">',
           '<TITLE>U</TITLE>', '<title/>', '\r\n', '<IMG SRC="c.png">', '<h1 id="x"\n class="y">',
           '<h2 id="s-1">', '<h3 id="a&amp;b">', '<h2 id="t" >', '<a href=" sp/ ">', '<a href="mailto:x@y">',
           '<a href="q/" class="c">', '<h6 id="">', '<h1 id="h1">', '<a href="">', '<a href="x/"  >']


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(["", "\n", "\n  ", "\n\t", " "])),
                max_size=40))
def test_page_facts_in_stretches_agree_on_generated_pages(pieces):
    """Pages made of pieces (tags, text, comments, scripts, stray '<', lines starting with a tag):
    cut into stretches, the reader gives one pass's facts, or is unsure where one pass is."""
    html = "".join(piece + sep for piece, sep in pieces).encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(page_facts, "CHUNKED_FROM", 10**12)
        whole = page_facts.read_page_fast(html)
        for every in (1, 2):
            stretched = _read_in_stretches(html, patch, every)
            if "<!--" in html.decode():
                assert _facts_tuple(stretched) == _facts_tuple(whole)  # not cut: one pass
            elif whole is None:
                assert stretched is None
            else:
                assert _facts_tuple(stretched) == _facts_tuple(whole)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(["", "\n", " "])), max_size=30))
def test_page_facts_agree_with_the_reference_on_generated_pages(pieces):
    """Pages made of pieces, plain links and headings (read without parsing their attributes)
    among them: the fast reader gives the reference reader's facts, or says it is unsure."""
    html = "".join(piece + sep for piece, sep in pieces).encode()
    fast = page_facts.read_page_fast(html)
    if fast is not None:
        assert _facts_tuple(fast) == _facts_tuple(check.read_page(html)), html


TRICKY_URLS = ["", "a/", "../cp504/", "./", ".", "#x", "?q=1", "cp504", "a:b", "mailto:x@y", "//evil.example/",
               "/\t/evil.example/", "\x01//evil.example/", " //evil.example/", "\t//evil.example/", "java\tscript:x",
               "a\t:b", "%2F%2Fevil", "é/x", "http://x/", "HTTPS://x", "/notices/", "\\\\evil", "1:2", "./a:b"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from(TRICKY_URLS),
                 st.text(alphabet=st.sampled_from(list("ab1./:#?%\\\t\n\x01 é")), max_size=12)))
def test_internal_link_shortcut_agrees_with_the_check(url):
    """page_facts skips urlsplit for plain relative addresses; the answer must be the check's."""
    assert page_facts._internal(url) == check._internal(url)


# -- builds ------------------------------------------------------------------------------------

def test_cold_warm_parallel_and_serial_builds_are_identical(synthetic, tmp_path, monkeypatch):
    root = fresh_copy(synthetic, tmp_path / "site")
    ref = plain_build(root, write=False)
    assert not ref.report.errors
    cold = read_now(fast_build(root))
    assert cold.stats["rendered"] == len([p for p in cold.files if p.endswith(".html")])
    warm = fast_build(root, write=False)  # in memory (as the dev server builds): every page from the cache
    assert warm.stats["loaded"] == 0 and warm.stats["rendered"] == 0
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    pooled = read_now(fast_build(root, cache=False))
    serial = fast_build(root, cache=False, parallel=False)
    for other in (cold, warm, pooled, serial):
        same(ref, other)
    assert tree_bytes(root / "output") == ref.files


def test_one_edit_rerenders_only_what_shows_it_and_matches_a_full_build(synthetic, tmp_path):
    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    target = root / "content" / "notices" / "cp1010.md"
    target.write_text(target.read_text(encoding="utf-8") + "\nOne more paragraph.\n", encoding="utf-8")
    incremental = fast_build(root)
    assert incremental.stats["loaded"] == 1
    # the page and those that show it (its related, similar and sequence neighbours), not the site
    assert incremental.stats["rendered"] < incremental.stats["render_cached"] / 3, incremental.stats
    same(plain_build(root, write=False), incremental)
    assert tree_bytes(root / "output") == incremental.files


def test_a_related_pages_new_title_reaches_the_pages_that_show_it(synthetic, tmp_path):
    root = fresh_copy(synthetic, tmp_path / "site")
    before = read_now(fast_build(root)).files
    target = root / "content" / "notices" / "cp1005.md"
    text = target.read_text(encoding="utf-8")
    old_title = next(line for line in text.splitlines() if line.startswith("title:"))
    target.write_text(text.replace(old_title, 'title: "CP1005: A Brand New Title"'), encoding="utf-8")
    after = fast_build(root)
    showing = [p for p, html in after.files.items()
               if p.endswith(".html") and b"A Brand New Title" in html and "cp1005" not in p]
    assert showing  # cp1001 lists CP1005 as similar; the home page and others link it
    for path in showing:
        assert before[path] != after.files[path]
    # the lookup data holds the new title under the same name (named by codes, aliases and URLs
    # only), so the pages that do not show the title keep their bytes and are neither rendered
    # nor written again
    assert after.stats["rendered"] < after.stats["render_cached"] / 3, after.stats
    data = [p for p in after.files if p.startswith("data/notices-data.")]
    assert len(data) == 1 and data[0] in before
    assert b"A Brand New Title" in after.files[data[0]] and b"A Brand New Title" not in before[data[0]]
    unchanged = [p for p in before if p.endswith(".html") and p not in showing and "cp1005" not in p]
    assert len(unchanged) > len(before) / 2
    assert all(after.files[p] == before[p] for p in unchanged)
    same(plain_build(root, write=False), after)


def _rendered_by(build):
    """`build()`'s result and the URLs of the pages it rendered (not taken from the cache)."""
    from site_src import pipeline

    rendered: list[str] = []
    real_render_one = pipeline._RenderStage._render_one

    def render_one(self, i):
        rendered.append(self.pages[i].url)
        return real_render_one(self, i)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline._RenderStage, "_render_one", render_one)
        patch.setattr(parallel, "MIN_ITEMS", 10**9)  # in this process, so every render is seen
        return build(), rendered


def _mentions(html: bytes) -> tuple[list[str], int]:
    """The pages a page's "Pages that mention this one" group lists, and how many more it counts."""
    text = html.decode()
    group = text.split("<h3>Pages that mention this one</h3>", 1)[1].split("</section>", 1)[0]
    listed = re.findall(r'<li><a href="([^"]+)">', group.split("</ul>", 1)[0])
    more = re.search(r'<p class="more">([\d,]+) more page', group)
    return listed, int(more.group(1).replace(",", "")) if more else 0


def test_a_long_mentions_group_lists_the_first_and_counts_the_rest(synthetic, tmp_path, monkeypatch):
    """A guide every notice links to lists the first MENTIONS_SHOWN of them and counts the rest,
    with a link to the notice list; a title edit of a notice it does not list leaves it alone."""
    from site_src import render

    root = fresh_copy(synthetic, tmp_path / "site")
    guide = "guides/is-this-letter-real/index.html"
    with monkeypatch.context() as patch:
        patch.setattr(render, "MENTIONS_SHOWN", 10**6)
        everyone, none_more = _mentions(plain_build(root, write=False).files[guide])
    assert none_more == 0 and len(everyone) > render.MENTIONS_SHOWN
    listed, more = _mentions(read_now(fast_build(root)).files[guide])
    assert listed == everyone[:render.MENTIONS_SHOWN] and more == len(everyone) - render.MENTIONS_SHOWN
    assert b'this one, not listed here. Every notice is in <a href="../../notices/">the list of notices</a>' in \
        plain_build(root, write=False).files[guide]
    for shown, href in ((False, everyone[-1]), (True, everyone[0])):
        target = root / "content" / "notices" / f"{href.rstrip('/').rsplit('/', 1)[-1]}.md"
        text = target.read_text(encoding="utf-8")
        title = next(line for line in text.splitlines() if line.startswith("title:"))
        target.write_text(text.replace(title, f'title: "Retitled {shown}"'), encoding="utf-8")
        _, rendered = _rendered_by(lambda: fast_build(root))
        assert (guide.removesuffix("index.html") in rendered) == shown, rendered
        reference = plain_build(root, write=False)
        assert (f"Retitled {shown}".encode() in reference.files[guide]) == shown
        same(reference, fast_build(root, write=False))


def test_the_home_and_404_pages_list_a_few_notices_per_category_and_link_the_rest(synthetic, tmp_path, monkeypatch):
    """At scale the home page (and the 404 page) lists HOME_PER_CATEGORY notices of each
    category, with a link to that category on the notice list (which lists them all), and
    HOME_SEQUENCES sequences with a count of the rest; the links resolve (the build's own check)
    and the notice list is whole."""
    from site_src import render

    monkeypatch.setattr(render, "HOME_PER_CATEGORY", 3)
    monkeypatch.setattr(render, "HOME_SEQUENCES", 2)
    root = fresh_copy(synthetic, tmp_path / "site")
    result = plain_build(root, write=False)
    assert not result.report.errors
    assert not [d for d in result.report.sorted() if d.code == "page-unreachable"]  # through the notice list
    home, listing = result.files["index.html"].decode(), result.files["notices/index.html"].decode()
    sections = home.split('<h3 id="cat-')[1:]
    assert sections
    for section in sections:
        cat = section.split('"', 1)[0]
        listed = re.findall(r'<li><a href="notices/[^"]+/"><strong>', section.split("</ul>", 1)[0])
        in_listing = listing.split(f'<h2 id="cat-{cat}">', 1)[1].split("</section>", 1)[0].count("<li id=")
        assert len(listed) == min(3, in_listing)
        if in_listing > 3:
            assert f'<a href="notices/#cat-{cat}">All {in_listing} notices in' in section
    not_found = result.files["404.html"].decode()  # the 404 page lists as few, by code
    links = re.findall(r'<a href="/[^"]*notices/#cat-([^"]+)">All (\d+) notices in', not_found)
    assert links  # from the site's base path: the 404 page is shown at any depth
    for cat, count in links:
        in_listing = listing.split(f'<h2 id="cat-{cat}">', 1)[1].split("</section>", 1)[0].count("<li id=")
        assert int(count) == in_listing > 3
    sections = not_found.split("<h3>")[1:]
    assert len(sections) == len(home.split('<h3 id="cat-')[1:])
    assert all(section.split("</ul>", 1)[0].count("<li>") == 3 for section in sections[:len(links)])
    stages = home.split('<section id="stages"', 1)[1].split("</section>", 1)[0]
    assert stages.count('<ol class="stages">') == 2
    assert re.search(r"\d+ more sequences?, not listed here", stages)
    same(result, fast_build(root, write=False))


def test_the_long_lists_render_again_only_for_what_they_show(synthetic, tmp_path):
    """The home page shows each notice's code and summary, the 404 page its code, the notice list
    its code, aliases and title: a title edit renders the notice list again, not the home page or
    404; a summary edit the home page, not 404. Same bytes as a plain build each time."""
    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    target = root / "content" / "notices" / "cp1005.md"
    text = target.read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.startswith("title:"))
    target.write_text(text.replace(title, 'title: "CP1005: Retitled"'), encoding="utf-8")
    _, rendered = _rendered_by(lambda: fast_build(root))
    assert "notices/" in rendered and "notices/cp1005/" in rendered
    assert "" not in rendered and "404.html" not in rendered, rendered
    same(plain_build(root, write=False), fast_build(root, write=False))
    text = target.read_text(encoding="utf-8")
    summary = next(line for line in text.splitlines() if line.startswith("summary:"))
    target.write_text(text.replace(summary, "summary: A new summary for the home page."), encoding="utf-8")
    _, rendered = _rendered_by(lambda: fast_build(root))
    assert "" in rendered and "404.html" not in rendered, rendered
    reference = plain_build(root, write=False)
    assert b"A new summary for the home page." in reference.files["index.html"]
    same(reference, fast_build(root, write=False))
    assert tree_bytes(root / "output") == reference.files


def test_a_new_alias_renames_the_lookup_data_in_every_page(synthetic, tmp_path):
    """The lookup data's name follows its codes, aliases and URLs: a reader's browser never pairs a
    page with an index that lacks the codes the page's site has (it may cache that file by name)."""
    root = fresh_copy(synthetic, tmp_path / "site")
    before = read_now(fast_build(root)).files
    target = root / "content" / "notices" / "cp1005.md"
    text = target.read_text(encoding="utf-8")
    target.write_text(re.sub(r"^aliases: \[", "aliases: [CP1005Z, ", text, count=1, flags=re.M)
                      .replace("[CP1005Z, ]", "[CP1005Z]"), encoding="utf-8")
    after = fast_build(root)
    assert not after.report.errors, after.report.errors
    old = next(p for p in before if p.startswith("data/notices-data."))
    new = next(p for p in after.files if p.startswith("data/notices-data."))
    assert old != new and b"cp1005z" in after.files[new]
    name = new.rsplit("/", 1)[1].encode()
    pages = [html for p, html in after.files.items() if p.endswith(".html") and b"data-index" in html]
    assert len(pages) > 50 and all(name in html for html in pages)
    same(plain_build(root, write=False), after)


def test_template_and_config_changes_invalidate_the_cache(synthetic, tmp_path):
    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    footer = root / "templates" / "base.html"
    footer.write_text(footer.read_text(encoding="utf-8").replace("</footer>", "<p>Template edit.</p></footer>"),
                      encoding="utf-8")
    after_template = fast_build(root)
    assert all(b"Template edit." in html for p, html in after_template.files.items()
               if p.endswith(".html") and b"</footer>" in html)
    same(plain_build(root, write=False), after_template)
    config = root / "site.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('name = "Polaris Tax & Accounting"', 'name = "Polaris Tax Partners"'),
                      encoding="utf-8")
    after_config = fast_build(root)
    assert any(b"Polaris Tax Partners" in html for html in after_config.files.values())
    same(plain_build(root, write=False), after_config)


def test_a_corrupt_cache_is_no_cache(synthetic, tmp_path):
    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    for path in (root / ".cache").iterdir():
        if path.is_file():
            path.write_bytes(b"not a database")
    same(plain_build(root, write=False), fast_build(root))


def test_damaged_compiled_templates_are_compiled_again(synthetic, tmp_path):
    """Compiled templates are kept under .cache/jinja (Jinja2's bytecode cache); a truncated or
    garbled file there is no cache, not a build error."""
    from jinja2.bccache import bc_magic

    root = fresh_copy(synthetic, tmp_path / "site")
    first = fast_build(root)
    kept = sorted((root / ".cache" / "jinja").rglob("*.cache"))
    assert kept
    for i, path in enumerate(kept):
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2] if i % 2 else bc_magic + b"\x80garbage")
    (root / "content" / "notices" / "cp1010.md").write_text(
        (root / "content" / "notices" / "cp1010.md").read_text(encoding="utf-8") + "\nMore.\n", encoding="utf-8")
    after = fast_build(root)
    assert not first.report.failed() and not after.report.failed(), after.report.sorted()
    same(plain_build(root, write=False), after)


def test_compiled_templates_are_kept_per_generation(synthetic, tmp_path, monkeypatch):
    """Jinja2 keys a compiled template by its source only; the generator's own code (its
    environment's options) shapes the compiled code too, so a new generation compiles afresh."""
    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    monkeypatch.setattr(pipeline, "generator_version", lambda: "another generator")
    fast_build(root)
    assert len(list((root / ".cache" / "jinja").iterdir())) == 2


def test_a_file_made_unreadable_is_read_again(synthetic, tmp_path, monkeypatch):
    """A chmod changes only the file's ctime: a build must not take the unreadable file's
    cached parse. Root reads any file, so as root the read of a file with mode 0 is refused here
    as the kernel would refuse anyone else's."""
    import os

    root, _past, read = _settled_copy(synthetic, tmp_path, monkeypatch)  # else every file is read anyway
    fast_build(root)
    read.clear()
    assert fast_build(root).stats.get("reused") == 1 and not read  # settled: nothing read again
    path = root / "content" / "notices" / "cp1010.md"
    if os.geteuid() == 0:
        real_read = Path.read_bytes

        def read_bytes(self):
            if self == path and not os.stat(self).st_mode & 0o444:
                raise PermissionError(13, "Permission denied", str(self))
            return real_read(self)
        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    os.chmod(path, 0)
    try:
        after = fast_build(root)
    finally:
        os.chmod(path, 0o644)
    assert after.report.failed() and any("cannot read" in d.message for d in after.report.sorted())


def test_a_hand_edited_output_is_republished(synthetic, tmp_path):
    root = fresh_copy(synthetic, tmp_path / "site")
    first = read_now(fast_build(root))
    assert fast_build(root).stats.get("reused") == 1
    page = root / "output" / "index.html"
    page.write_bytes(b"tampered")  # in place: the cache's copy of the page is this very file
    again = fast_build(root)
    assert "publish_skipped" not in again.stats
    assert again.stats["rendered"] == 1, again.stats  # that copy, changed, is not used
    assert tree_bytes(root / "output") == first.files
    shutil.rmtree(root / "output")
    shutil.rmtree(root / ".output.spare", ignore_errors=True)
    assert fast_build(root).stats["rendered"] == 0  # every page read back from the cache
    assert tree_bytes(root / "output") == first.files


def _without_output(root: Path):
    """A build with output/ gone (as in CI, which keeps .cache/ only): every page from the cache."""
    shutil.rmtree(root / "output")
    shutil.rmtree(root / ".output.spare", ignore_errors=True)
    return fast_build(root)


def test_an_output_page_edited_in_place_then_removed_leaves_a_usable_cache(synthetic, tmp_path):
    """The cache's copy of a page is the output file itself (a hard link). Edited in place, it
    is not used (the page is rendered again), and its new copy replaces it under the same name:
    a later build without output/ still takes every page from the cache, right."""
    root = fresh_copy(synthetic, tmp_path / "site")
    first = read_now(fast_build(root))
    with open(root / "output" / "notices" / "cp1009" / "index.html", "ab") as fh:
        fh.write(b"<!-- edited by hand -->")
    assert _without_output(root).stats["rendered"] == 1
    again = _without_output(root)
    assert again.stats["rendered"] == 0 and tree_bytes(root / "output") == first.files


def test_a_cache_restored_from_an_archive_serves_every_page(synthetic, tmp_path, monkeypatch):
    """CI restores .cache/ from an archive (actions/cache): the stored pages come back as new files
    (other inodes, maybe other times), not links to any output/. Each is checked and used, and
    stamped anew: the next build uses it unread."""
    import os
    import tarfile

    root = fresh_copy(synthetic, tmp_path / "site")
    first = read_now(fast_build(root))
    with tarfile.open(tmp_path / "cache.tar", "w") as tar:
        tar.add(root / ".cache", arcname=".cache")
    for name in (".cache", "output", ".output.spare"):
        shutil.rmtree(root / name, ignore_errors=True)
    with tarfile.open(tmp_path / "cache.tar") as tar:
        tar.extractall(root, filter="data")
    for page in (root / ".cache" / "pages").iterdir():
        os.utime(page, (1, 1))
    from site_src import cache as cache_mod

    checked: list[str] = []
    real_checked = cache_mod.PageStore.checked
    monkeypatch.setattr(cache_mod.PageStore, "checked", lambda self, *a: checked.append(a[0]) or real_checked(self, *a))
    built = fast_build(root)
    assert built.stats["rendered"] == 0 and tree_bytes(root / "output") == first.files
    assert len(checked) == built.stats["render_cached"]
    checked.clear()
    _edit(root / "content" / "notices" / "cp1010.md", None, "\nOne more paragraph.\n")
    again = _without_output(root)  # checked once: stamped anew
    assert checked == [] and again.stats["rendered"] == 1


def test_the_cache_keeps_pages_where_hard_links_fail(synthetic, tmp_path, monkeypatch):
    """`.cache/` on another file system (a CI cache mount): the pages are written into it."""
    import errno
    import os

    def no_links(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    monkeypatch.setattr(os, "link", no_links)
    root = fresh_copy(synthetic, tmp_path / "site")
    first = read_now(fast_build(root))
    assert first.stats["rendered"] > 50
    again = _without_output(root)
    assert again.stats["rendered"] == 0 and tree_bytes(root / "output") == first.files


def test_a_cached_page_that_cannot_be_read_fails_one_build_only(synthetic, tmp_path, monkeypatch):
    """A stored page whose file cannot be read (its output twin's mode changed) fails the build
    that read it with a clear error; the next build renders that page again."""
    import builtins

    from site_src import cache as cache_mod

    root = fresh_copy(synthetic, tmp_path / "site")
    first = read_now(fast_build(root))
    real_open = builtins.open

    def unreadable(path, *args, **kwargs):
        if str(path).startswith(str(root / ".cache" / "pages")) and args[:1] == ("rb",):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(cache_mod, "open", unreadable, raising=False)
    with pytest.raises(cache_mod.CacheChanged):
        _without_output(root)
    monkeypatch.undo()
    again = fast_build(root)
    assert 0 < again.stats["rendered"] < again.stats["render_cached"], again.stats
    assert tree_bytes(root / "output") == first.files


def test_stored_pages_no_row_names_are_swept_once_old_enough(synthetic, tmp_path):
    """A re-rendered page leaves its old file in .cache/pages/; a sweep removes such files once
    `SWEEP_AFTER` old (another build may be about to commit a row naming one), keeps every file a
    row names, and runs at most once in that time."""
    import os
    import sqlite3
    import time

    from site_src.cache import Cache, PageStore

    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    store = root / ".cache" / "pages"
    before = set(os.listdir(store))
    _edit(root / "content" / "notices" / "cp1010.md", None, "\nOne more paragraph.\n")
    fast_build(root)
    orphans = set(os.listdir(store)) - before
    assert orphans  # the edited page's new file; its old one is now named by no row
    with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
        generation = db.execute("SELECT v FROM meta WHERE k = 'generation'").fetchone()[0]
    cache = Cache(root / ".cache", generation)
    later = time.time() + PageStore.SWEEP_AFTER + 60
    for name in os.listdir(store):
        os.utime(store / name, (later - PageStore.SWEEP_AFTER - 1, later - PageStore.SWEEP_AFTER - 1))
    cache.put("pages_swept", later - 10)  # swept 10 s before: not again
    cache.sweep_pages(later)
    assert len(os.listdir(store)) == len(before) + len(orphans)
    cache.put("pages_swept", later - PageStore.SWEEP_AFTER - 10)
    cache.sweep_pages(later)
    left = set(os.listdir(store))
    assert len(left) == len(before) and left != before  # the old file of the edited page is gone
    cache.close()
    shutil.rmtree(root / "output")
    shutil.rmtree(root / ".output.spare", ignore_errors=True)
    assert fast_build(root).stats["rendered"] == 0  # every page still in the store


def test_a_broken_cache_database_keeps_no_pages_it_could_not_sweep(synthetic, tmp_path):
    root = fresh_copy(synthetic, tmp_path / "site")
    (root / ".cache").mkdir()
    (root / ".cache" / "build.sqlite3").write_bytes(b"not a database" * 100)
    built = read_now(fast_build(root))
    assert not built.report.errors and not (root / ".cache" / "pages").exists()
    same(plain_build(root, write=False), built)


def test_a_cache_written_afresh_is_the_cache_file_only_once_closed(tmp_path):
    """With no cache file, a build writes a new one under a name of its own (no write-ahead log:
    each page written once) and renames it into place when it closes it; one left by a killed
    build is removed by the next, one of a build still running is not."""
    import sqlite3

    from site_src.cache import DB_NAME, Cache

    folder = tmp_path / ".cache"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (folder / f"{DB_NAME}.new-{dead.pid}.0").write_bytes(b"left by a killed build")
    (folder / f"{DB_NAME}.new-1.0").write_bytes(b"a build still running")  # pid 1 is alive
    (folder / f"{DB_NAME}-wal").write_bytes(b"x" * 100)  # of a cache file deleted by hand
    cache = Cache(folder, "g1")
    cache.put("answer", 42)
    assert not (folder / DB_NAME).exists()  # not before it is whole
    ours = {n for n in os.listdir(folder) if n.startswith(f"{DB_NAME}.new-{os.getpid()}.")}
    assert len(ours) == 1 and set(os.listdir(folder)) == {f"{DB_NAME}.new-1.0", f"{DB_NAME}-wal", *ours}
    cache.close()
    assert set(os.listdir(folder)) == {DB_NAME, f"{DB_NAME}.new-1.0"}
    again = Cache(folder, "g1")
    assert again.get("answer") == 42
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # an existing file: as before
    again.put("answer", 43)
    again.close()
    assert set(os.listdir(folder)) == {DB_NAME, f"{DB_NAME}.new-1.0"}
    with sqlite3.connect(folder / DB_NAME) as db:
        assert db.execute("SELECT v FROM meta WHERE k = 'generation'").fetchone() == ("g1",)
    # two builds with no cache file at once: the one that closes first makes it; the other keeps
    # it (it may be open: a dev server's), and its own file goes
    (folder / DB_NAME).unlink()
    first, second = Cache(folder, "g2"), Cache(folder, "g2")
    first.put("who", "first")
    second.put("who", "second")
    first.close()
    reader = Cache(folder, "g2")  # open in WAL mode, as the dev server's would be
    reader.put("also", 1)
    second.close()
    assert reader.get("who") == "first"
    reader.close()
    after = Cache(folder, "g2")
    assert (after.get("who"), after.get("also")) == ("first", 1)
    after.close()
    assert set(os.listdir(folder)) == {DB_NAME, f"{DB_NAME}.new-1.0"}


def test_the_holiday_table_made_ahead_is_used_only_for_its_own_years():
    """`pipeline._HolidaysAhead`: a cold build's holiday table, made in a forked process beside
    the resolve, is the table `legal_holidays` makes for the same years, and is not used for others."""
    import datetime as dt

    from site_src import deadlines, pipeline
    from site_src.model import Page

    pages = [Page(kind="notice", key="CP1", path="content/notices/cp1.md", url="notices/cp1/", title="t",
                  updated=dt.date(2025, 3, 1))]
    def started() -> pipeline._HolidaysAhead:
        ahead = pipeline._HolidaysAhead(pages, None)
        ahead.start()
        if ahead.child is None:
            pytest.skip("no process can be forked here (one core, or threads running)")
        return ahead

    years = deadlines.build_years([dt.date(2025, 3, 1)])
    ahead = started()
    assert ahead.years == years
    assert ahead.result(years) == deadlines.legal_holidays(years)
    other = started()
    assert other.result(range(years.start, years.stop + 1)) is None and other.child is None  # stopped
    cached = pipeline._cached_holidays(None, None, started())
    assert cached(range(2001, 2003)) == deadlines.legal_holidays(range(2001, 2003))


def test_a_warm_build_reuses_the_last_build_whole_until_an_input_changes(synthetic, tmp_path, monkeypatch):
    root = fresh_copy(synthetic, tmp_path / "site")
    cold = fast_build(root)
    published = tree_bytes(root / "output")
    warm = fast_build(root)
    assert warm.stats == {"reused": 1} and warm.written
    assert warm.report.sorted() == cold.report.sorted() and warm.pages == cold.pages
    assert tree_bytes(root / "output") == published
    # each input the output depends on, changed in turn, brings a real build, equal to a plain one
    for change in ("static", "epoch", "strict"):
        if change == "static":
            css = root / "static" / "css" / "site.css"
            css.write_text(css.read_text(encoding="utf-8") + "\n/* edited */\n", encoding="utf-8")
        elif change == "epoch":
            monkeypatch.setenv("SOURCE_DATE_EPOCH", "2000000000")
        after = fast_build(root, strict=(change == "strict"))
        assert "reused" not in after.stats, change
        same(plain_build(root, write=False, strict=(change == "strict")), after)
        assert tree_bytes(root / "output") == after.files


def test_one_edit_links_the_unchanged_files_into_the_new_output(synthetic, tmp_path):
    root = fresh_copy(synthetic, tmp_path / "site")
    first = read_now(fast_build(root))
    inode = {p: (root / "output" / p).stat().st_ino for p in first.files}
    target = root / "content" / "notices" / "cp1010.md"
    target.write_text(target.read_text(encoding="utf-8") + "\nOne more paragraph.\n", encoding="utf-8")
    after = fast_build(root)
    changed = {p for p in after.files if first.files.get(p) != after.files[p]}
    assert changed and after.stats["linked"] == len(after.files) - len(changed)
    assert tree_bytes(root / "output") == after.files
    for p in after.files:  # unchanged files are the very same inodes; changed ones are new files
        assert ((root / "output" / p).stat().st_ino == inode.get(p)) == (p not in changed), p


def test_a_touched_output_file_is_rewritten_not_linked(synthetic, tmp_path):
    root = fresh_copy(synthetic, tmp_path / "site")
    first = fast_build(root)
    (root / "output" / "notices.json").write_bytes(b"{}")  # same file, changed in place behind our back
    target = root / "content" / "notices" / "cp1010.md"
    target.write_text(target.read_text(encoding="utf-8") + "\nOne more paragraph.\n", encoding="utf-8")
    after = fast_build(root)
    assert after.stats["linked"] == 0
    assert tree_bytes(root / "output") == after.files
    assert after.files["notices.json"] == first.files["notices.json"]


def test_the_holiday_table_comes_from_the_cache_once_computed(synthetic, tmp_path, monkeypatch):
    from site_src import deadlines

    root = fresh_copy(synthetic, tmp_path / "site")
    first = fast_build(root, write=False)

    def refuse(years):
        raise AssertionError("the holiday table should have come from the cache")

    monkeypatch.setattr(deadlines, "legal_holidays", refuse)
    same(first, fast_build(root, write=False))


# -- the dev server's in-memory rebuilds -----------------------------------------------------------

def _edit(path: Path, old: str | None, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old is None or old in text, f"{old!r} is not in {path.name}: the edit would do nothing"
    path.write_text(text + new if old is None else text.replace(old, new, 1), encoding="utf-8")


def _recategorise(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("category:"))
    other = "changes" if line != "category: changes" else "collection"
    path.write_text(text.replace(line, f"category: {other}", 1), encoding="utf-8")


def _WHOLE_KIND_EDITS(root: Path) -> list:
    """Edits to what the lists of every notice or every guide show (`cache.KIND_ATTR`): a
    category, a summary, a guide's title, a notice added and gone again."""
    notices, guides = root / "content" / "notices", root / "content" / "guides"
    new = notices / "cp1999.md"
    return [
        lambda: _recategorise(notices / "cp1012.md"),
        lambda: _edit(notices / "cp1013.md", "\nsummary: ", "\nsummary: Said otherwise. "),
        lambda: _edit(guides / "payment-plans.md", "title: Payment plans", "title: Payment plans explained"),
        lambda: new.write_text((notices / "cp1015.md").read_text(encoding="utf-8").replace("CP1015", "CP1999"),
                               encoding="utf-8"),
        lambda: new.unlink(),
    ]


def test_preview_rebuilds_in_memory_give_a_cold_builds_bytes(synthetic, tmp_path, monkeypatch):
    """Each save goes through the Preview's memory of the previous build (serve.py, memory.py);
    after every kind of edit its files are a fresh plain build's files, byte for byte."""
    from site_src import serve

    root = fresh_copy(synthetic, tmp_path / "site")
    preview = serve.Preview(root)
    monkeypatch.setattr(page_facts, "CHUNKED_FROM", 4096)  # the long pages' remembered stretches too
    monkeypatch.setattr(page_facts, "CHUNK_EVERY", 4)
    page_facts.forget_parts()
    preview.rebuild()
    assert page_facts._PARTS
    notices = root / "content" / "notices"
    title = next(line for line in (notices / "cp1005.md").read_text(encoding="utf-8").splitlines()
                 if line.startswith("title:"))
    kept = (notices / "cp1020.md").read_text(encoding="utf-8")
    edits = [
        lambda: _edit(notices / "cp1010.md", None, "\nOne more paragraph.\n"),          # a body
        lambda: _edit(notices / "cp1005.md", title, 'title: "CP1005: A Brand New Title"'),  # a title others show
        lambda: shutil.copy(notices / "cp1010.md", notices / "cp1010b.md"),              # a duplicate: errors
        lambda: (notices / "cp1010b.md").unlink(),                                      # fixed again
        lambda: (notices / "cp1020.md").unlink(),                                       # a page gone: errors
        lambda: (notices / "cp1020.md").write_text(kept, encoding="utf-8"),            # back again
        lambda: _edit(root / "templates" / "base.html", "</footer>", "<p>Template edit.</p></footer>"),
        lambda: _edit(root / "site.toml", 'name = "Polaris Tax & Accounting"', 'name = "Polaris Tax Partners"'),
        lambda: _edit(notices / "cp1010.md", None, "\nAnd another.\n"),
        lambda: _edit(notices / "cp1010.md", "aliases: []", "aliases: [CP 1010X]"),     # new redirect page
        lambda: _edit(notices / "cp1010.md", None, "\nSee [[CP1003]].\n"),             # a new reverse link
        lambda: _edit(notices / "cp1010.md", None, "\nSee [[CP9999]].\n"),             # a dangling one: error
        lambda: _edit(notices / "cp1010.md", "## Why you received it", "Moved.\n\n## Why you received it"),
        lambda: _edit(notices / "cp1010.md", "See [[CP9999]].", "Fixed."),              # fixed again
        lambda: _edit(notices / "cp1010.md", "quick_answer: >-", "quick_answer: >-\n  New first words."),
        lambda: _edit(notices / "cp1011.md", "\nupdated: 2026-", "\nupdated: 2025-"),  # the sitemap and the feed
        lambda: _edit(notices / "cp1010.md", "aliases: [CP 1010X]", "aliases: [CP 1010Y]"),  # a redirect renamed
        *_WHOLE_KIND_EDITS(root),
    ]
    failed = []
    for step, edit in enumerate(edits):
        edit()
        preview.rebuild()
        assert preview.crash == "", preview.crash
        ref = plain_build(root, write=False)
        assert preview.failed == ref.report.failed(), step
        assert preview.problems == ref.report.sorted(), step
        if preview.failed:
            failed.append(step)
        else:
            assert preview.files == ref.files, step
    assert failed == [2, 4, 11, 12], failed  # the edits meant to break the site, and only those


def test_a_preview_started_from_the_disk_cache_checks_its_first_save_like_a_full_build(synthetic, tmp_path):
    """The server's first build takes the check result from the disk cache; the check memo
    comes with it, so the first save is checked incrementally and still finds a new problem."""
    from site_src import serve

    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    preview = serve.Preview(root)
    preview.rebuild()
    assert preview.memory.check_memo is not None and not preview.failed
    notices = root / "content" / "notices"
    failed = []
    for edit in (lambda: _edit(notices / "cp1010.md", None, "\nSee [the other one](../cp1003/#no-such-part).\n"),
                 lambda: _edit(notices / "cp1010.md", "#no-such-part", "")):
        edit()
        preview.rebuild()
        ref = plain_build(root, write=False)
        assert preview.problems == ref.report.sorted() and preview.failed == ref.report.failed()
        assert preview.failed or preview.files == ref.files  # a failed build keeps the last good site
        failed.append(preview.failed)
    assert failed == [True, False]


def test_a_body_edit_in_memory_rerenders_only_that_page(synthetic, tmp_path):
    """Other pages read a notice's title, summary and URL, not its body (cache._RecordingPage):
    in memory nothing is loaded, rendered or hashed again but what the edit touched."""
    from site_src.memory import BuildMemory

    root = fresh_copy(synthetic, tmp_path / "site")
    memory = BuildMemory()
    first = fast_build(root, write=False, memory=memory)
    assert first.stats["rendered"] > 0
    _edit(root / "content" / "notices" / "cp1010.md", None, "\nOne more paragraph.\n")
    second = fast_build(root, write=False, memory=memory)
    assert second.stats["loaded"] == 1
    assert second.stats["rendered"] == 1, second.stats
    same(plain_build(root, write=False), second)


def test_a_body_edit_through_the_disk_cache_spares_the_pages_that_only_link_it(synthetic, tmp_path):
    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    _edit(root / "content" / "notices" / "cp1010.md", None, "\nOne more paragraph.\n")
    after = fast_build(root)
    assert after.stats["rendered"] == 1, after.stats  # not the home page, the list or the 404 page
    same(plain_build(root, write=False), after)


def _add_notice(root: Path, code: str, follows: str) -> None:
    """A new notice, copied from cp1010.md under another code, that follows `follows`."""
    text = (root / "content" / "notices" / "cp1010.md").read_text(encoding="utf-8")
    lines = [line for line in text.split("\n") if not line.startswith(("similar:", "follows:"))]
    text = "\n".join(lines).replace("CP1010", code).replace("cp1010", code.lower())
    text = text.replace("\ncategory:", f"\nfollows: [{follows}]\ncategory:", 1)
    (root / "content" / "notices" / f"{code.lower()}.md").write_text(text, encoding="utf-8")


@pytest.mark.parametrize("in_memory", [False, True], ids=["disk cache", "dev server memory"])
def test_a_new_notice_rerenders_only_the_pages_that_show_it(synthetic, tmp_path, in_memory):
    """A notice page reads its own collection sequence, not the list of them all, so a notice
    added at the end of one sequence re-renders that sequence's pages, its related pages and
    the lists of all notices, not every page; and gives a full build's bytes."""
    from site_src.memory import BuildMemory

    root = fresh_copy(synthetic, tmp_path / "site")
    memory = BuildMemory() if in_memory else None
    fast_build(root, write=not in_memory, memory=memory)
    _add_notice(root, "CP1999", follows="CP1011")
    after = fast_build(root, write=not in_memory, memory=memory)
    assert not after.report.errors, after.report.errors
    assert b"CP1999" in after.files["notices/cp1011/index.html"]  # its sequence shows it
    assert 0 < after.stats["rendered"] < after.stats["render_cached"] / 3, after.stats
    same(plain_build(root, write=False), after)
    if not in_memory:
        assert tree_bytes(root / "output") == after.files


def test_notices_added_one_after_another_give_a_full_builds_bytes_written_over_the_spare(synthetic, tmp_path,
                                                                                        monkeypatch):
    """Each notice added renames the lookup data every page names, so every page is written
    again; from the third on, the spare tree's pages are its own (not hard links to the live
    site or the page store) and are written over in place (`write._overwrite`): output/ is a
    plain build's, every time."""
    from site_src import write

    written_over = []
    real_overwrite = write._overwrite

    def overwrite(path, data):
        done = real_overwrite(path, data)
        if done is not None:
            written_over.append(path)
        return done

    monkeypatch.setattr(write, "_overwrite", overwrite)
    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    counts = []
    for step, code in enumerate(("CP1996", "CP1997", "CP1998")):
        written_over.clear()
        own = {p for p in (root / ".output.spare").rglob("*.html") if p.stat().st_nlink == 1}
        _add_notice(root, code, follows="CP1011")
        after = fast_build(root)
        assert not after.report.errors, after.report.errors
        reference = fresh_copy(root, tmp_path / f"ref{step}")
        plain_build(reference)
        assert tree_bytes(root / "output") == tree_bytes(reference / "output") == after.files, step
        counts.append((len(own), len(written_over)))  # (the spare's own pages, pages written over)
    pages = len([f for f in after.files if f.endswith(".html")])
    assert counts[0] == (0, 0) and counts[2][0] > pages / 2 and counts[2][1] >= counts[2][0], counts


def test_the_catalogue_encoded_item_by_item_is_json_dumps_of_the_whole(synthetic, bundled):
    import dataclasses
    import json

    from site_src import render

    for root in (synthetic, bundled):
        site = plain_build(root, write=False).site
        data = json.loads(render.catalogue(site))
        whole = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1).replace("</", "<\\/") + "\n"
        memo: dict = {}
        assert render.catalogue(site) == whole.encode("utf-8")
        assert render.catalogue(site, memo) == render.catalogue(site, memo) == whole.encode("utf-8")
        assert memo
    key = site.notices[0].key  # one notice: the document's head and tail on the same item
    one = dataclasses.replace(site, pages={key: site.pages[key]})
    data = json.loads(render.catalogue(one))
    assert render.catalogue(one) == (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1)
                                     .replace("</", "<\\/") + "\n").encode("utf-8")
    assert data["notices"] == [item for item in json.loads(render.catalogue(site))["notices"] if item["code"] == key]


def test_notices_json_items_come_from_the_cache_rows_made_from_the_same_file_and_graph(synthetic, tmp_path,
                                                                                      monkeypatch):
    """A command-line build keeps each notices.json item in the cache's rows with the hash of its
    notice's file and the graph's token: a body or title edit makes that one item again, a link
    edit (another notice's relations change, not its file) makes every item again, a notice
    removed loses its row; notices.json is a plain build's every time."""
    import sqlite3

    from site_src import render

    root = fresh_copy(synthetic, tmp_path / "site")
    notices = root / "content" / "notices"
    made: list[str] = []
    real_item = render._catalogue_item
    monkeypatch.setattr(render, "_catalogue_item", lambda page, rel: made.append(page.key) or real_item(page, rel))

    def build_and_compare() -> list[str]:
        made.clear()
        fast_build(root)
        this_build = sorted(made)
        assert (root / "output" / "notices.json").read_bytes() == plain_build(root, write=False).files["notices.json"]
        with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
            rows = {path for (path,) in db.execute("SELECT path FROM items")}
        assert rows == {p.key for p in plain_build(root, write=False).site.notices}
        return this_build

    everything = build_and_compare()
    assert len(everything) > 50
    _edit(notices / "cp1010.md", None, "\nOne more paragraph.\n")
    assert build_and_compare() == ["CP1010"]
    _edit(notices / "cp1011.md", "\nsummary: ", "\nsummary: Said otherwise. ")
    assert build_and_compare() == ["CP1011"]
    _edit(notices / "cp1010.md", "\nrelated: [", "\nrelated: [CP1030, ")  # CP1030 is mentioned by one more
    assert build_and_compare() == everything
    (notices / "cp1999.md").write_text((notices / "cp1015.md").read_text(encoding="utf-8")
                                       .replace("CP1015", "CP1999"), encoding="utf-8")
    build_and_compare()
    (notices / "cp1999.md").unlink()
    build_and_compare()


def test_the_lookup_data_made_from_the_dev_servers_memo_is_the_data_made_afresh(synthetic):
    """`render.generated_assets` with the dev server's memo (each row's JSON kept, and the file
    without titles, which names the data, kept while only titles change) gives the bytes and the
    name made without it, through title, alias and code changes and changes back."""
    import dataclasses

    from site_src import render

    site = plain_build(synthetic, write=False).site
    notices = [p for p in site.pages.values() if p.kind == "notice"]
    first, second = notices[0], notices[1]

    def changed(page, **fields):
        return dataclasses.replace(page, **fields)

    steps = [
        {},
        {first.key: changed(first, title="A new title </script>")},
        {first.key: changed(first, title="A new title </script>"), second.key: changed(second, aliases=["ZZ 99"])},
        {second.key: changed(second, aliases=["ZZ 99"])},
        {second.key: changed(second, url="notices/elsewhere/")},
        {},
    ]
    memo: dict = {}
    names = []
    for step, swaps in enumerate(steps):
        pages = {key: swaps.get(key, page) for key, page in site.pages.items()}
        now = dataclasses.replace(site, pages=pages)
        fresh, kept = render.Assets(), render.Assets()
        render.generated_assets(now, fresh, holidays=lambda years: {})
        render.generated_assets(now, kept, holidays=lambda years: {}, memo=memo)
        assert kept.files == fresh.files and kept.urls == fresh.urls, step
        names.append(fresh.urls[render.LOOKUP_DATA])
    a, b, c = names[0], names[2], names[4]  # a title leaves the name; an alias and a URL change it
    assert names == [a, a, b, b, c, a] and len({a, b, c}) == 3, names


def test_a_title_changed_and_changed_back_reaches_every_page_each_time(synthetic, tmp_path):
    """The disk cache tests a cached render against the digests of each read in the last build's
    site (cache.ReadDigests): A -> B -> A must re-render the pages showing it both times, and a
    lost digest table re-renders rather than trusting a render it cannot vouch for."""
    import sqlite3

    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    target = root / "content" / "notices" / "cp1005.md"
    text = target.read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.startswith("title:"))
    for step in (text.replace(title, 'title: "CP1005: Changed"'), text, text.replace(title, 'title: "CP1005: Again"')):
        target.write_text(step, encoding="utf-8")
        after = fast_build(root)
        same(plain_build(root, write=False), after)
        assert tree_bytes(root / "output") == after.files
    with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
        db.execute("DELETE FROM kv WHERE k = 'read_digests'")
    target.write_text(text, encoding="utf-8")
    after = fast_build(root)
    assert after.stats["render_cached"] * 10 < after.stats["rendered"], after.stats  # but pages that read nothing
    same(plain_build(root, write=False), after)


def test_link_edits_through_the_disk_cache_give_a_full_builds_bytes(synthetic, tmp_path):
    """The cached resolve (`resolve.resolve_again` through `pipeline._resolve`) is reused while no
    link changes and its graph's token lets the read digests skip the graph's reads; a link
    added, removed (back to an earlier graph), an alias, a `follows`, and a lost graph entry in
    the cache each give a full build's bytes and problems."""
    import sqlite3

    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    notices = root / "content" / "notices"
    text = (notices / "cp1010.md").read_text(encoding="utf-8")

    def lose_graph() -> None:
        with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
            db.execute("DELETE FROM kv WHERE k = 'resolve_graph'")

    steps = [
        lambda: _edit(notices / "cp1010.md", None, "\nA new paragraph.\n"),               # text only
        lambda: _edit(notices / "cp1010.md", None, "\nSee [[CP1003]] too.\n"),            # a new link
        lambda: _edit(notices / "cp1010.md", "\nSee [[CP1003]] too.\n", "\n"),             # gone again
        lambda: _edit(notices / "cp1010.md", "aliases: []", "aliases: [CP 1010 Z]"),       # an alias
        lambda: _edit(notices / "cp1010.md", "follows: [CP1009]", "follows: [CP1008]"),     # the sequence
        lambda: lose_graph() or (notices / "cp1010.md").write_text(text, encoding="utf-8"),
        lambda: _edit(notices / "cp1011.md", None, "\nMore text.\n"),
        *_WHOLE_KIND_EDITS(root),
    ]
    for step, edit in enumerate(steps):
        edit()
        after = fast_build(root)
        same(plain_build(root, write=False), after)
        assert tree_bytes(root / "output") == after.files, step


def test_the_publish_record_is_what_a_walk_of_output_reads(synthetic, tmp_path):
    """The state of output/ recorded after a publish is made from what was written and linked,
    not by walking the tree again; it must be exactly what the walk would read."""
    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    for step in range(3):
        if step:
            _edit(root / "content" / "notices" / f"cp10{step}0.md", None, f"\nEdit {step}.\n")
        fast_build(root)
        _key, state, _digests = _publish_record(root)
        assert state == pipeline._output_state(root / "output"), step


def _publish_record(root: Path):
    import pickle
    import sqlite3

    with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
        return pickle.loads(db.execute("SELECT blob FROM kv WHERE k = 'publish'").fetchone()[0])


def _folders(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}


def test_a_spare_trees_own_files_are_written_over_and_shared_or_open_ones_never(tmp_path, monkeypatch):
    """`write.write_tree` into a spare tree: a stale file nothing else holds gets the new bytes in
    place (its name never removed), shorter or longer; one shared with the live site or the page
    store (a hard link), or open in another process (a reader of an old site), is replaced by a
    new file, and the other holder keeps the old bytes; a file the new site lacks goes, a kept one
    stays. Off the main thread (no SIGIO to ignore) nothing is written over."""
    from site_src import write

    def setup(top: Path) -> tuple[Path, Path, Path, dict]:
        live, spare, store = top / "live", top / "spare", top / "store"
        for folder in (live, spare, store):
            folder.mkdir(parents=True)
        (live / "shared.html").write_bytes(b"live bytes")
        os.link(live / "shared.html", spare / "shared.html")
        (spare / "own-short.html").write_bytes(b"an old page, longer than the new one")
        (spare / "own-long.html").write_bytes(b"old")
        (spare / "kept.html").write_bytes(b"the same bytes")
        (spare / "gone.html").write_bytes(b"not in the new site")
        (spare / "stored.html").write_bytes(b"the page store's bytes")
        (spare / "open.html").write_bytes(b"a reader has this open")
        os.link(spare / "stored.html", store / "page")
        files = {"shared.html": b"new shared", "own-short.html": b"new", "own-long.html": b"a new page, longer than before",
                 "kept.html": b"the same bytes", "stored.html": b"new stored", "open.html": b"new open",
                 "sub/new.html": b"a new file"}
        return live, spare, store, files

    tree = write.SpareTree(frozenset(["shared.html", "own-short.html", "own-long.html", "kept.html", "gone.html",
                                      "stored.html", "open.html"]), frozenset(["kept.html"]))
    removed: list[str] = []
    real_unlink = write._unlink
    monkeypatch.setattr(write, "_unlink", lambda path: (removed.append(os.path.basename(path)), real_unlink(path)))
    live, spare, store, files = setup(tmp_path / "main")
    reader = subprocess.Popen([sys.executable, "-c", "import sys, time; f = open(sys.argv[1], 'rb'); "
                               "print(flush=True); sys.stdin.read(); print(f.read().decode())",
                               str(spare / "open.html")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        reader.stdout.readline()  # the file is open
        placed = write.write_tree(spare, files, spare=tree)
    finally:
        out, _ = reader.communicate("")

    assert tree_bytes(spare) == files
    assert (live / "shared.html").read_bytes() == b"live bytes" and (store / "page").read_bytes() == b"the page store's bytes"
    assert out.strip() == "a reader has this open"
    assert sorted(removed) == ["gone.html", "open.html", "shared.html", "stored.html"]  # own-*: written over
    assert placed["kept.html"] == "spare"
    for name in set(files) - {"kept.html"}:
        st = (spare / name).stat()
        assert placed[name] == (st.st_size, st.st_mtime_ns, st.st_ino), name

    removed.clear()  # off the main thread: every stale file replaced
    live, spare, store, files = setup(tmp_path / "thread")
    done = []
    worker = threading.Thread(target=lambda: done.append(write.write_tree(spare, files, spare=tree)))
    worker.start()
    worker.join()
    assert done and tree_bytes(spare) == files
    assert sorted(removed) == ["gone.html", "open.html", "own-long.html", "own-short.html", "shared.html", "stored.html"]


def test_publishing_into_the_spare_tree_gives_a_fresh_trees_files_and_folders(synthetic, tmp_path):
    """The site a publish replaces is kept as `.output.spare` and updated in place by the next
    one (write.SpareTree): after edits, a page that goes and one that comes, output/ holds exactly a
    cold build's files and folders; a spare touched by hand is not trusted."""
    root = fresh_copy(synthetic, tmp_path / "site")
    notices = root / "content" / "notices"
    edits = [
        lambda: _edit(notices / "cp1010.md", None, "\nOne more paragraph.\n"),
        lambda: _edit(notices / "cp1020.md", None, "\nAnother paragraph.\n"),
        lambda: _edit(notices / "cp1030.md", "aliases: [CP1030X]", "aliases: []"),  # a redirect folder goes
        lambda: _edit(notices / "cp1030.md", "aliases: []", "aliases: [CP1030Y]"),  # and another comes
        lambda: ((root / ".output.spare" / "index.html").write_bytes(b"tampered"),
                 _edit(notices / "cp1010.md", None, "\nAnd another.\n")),
        lambda: _edit(notices / "cp1020.md", None, "\nAnd one more.\n"),
    ]
    fast_build(root)
    kept = []
    for step, edit in enumerate(edits):
        edit()
        after = fast_build(root)
        assert not after.report.errors, after.report.sorted()
        kept.append(after.stats.get("spare_kept", 0))
        reference = fresh_copy(root, tmp_path / f"ref{step}")
        plain_build(reference)
        assert tree_bytes(root / "output") == tree_bytes(reference / "output") == after.files, step
        assert _folders(root / "output") == _folders(reference / "output"), step
    # the first edit's spare is the copy of the cold build's site made meanwhile (write.Prelink)
    assert kept[0] > 0 and kept[1] > 0 and kept[4] == 0 and kept[5] > 0, kept  # the tampered spare set aside


def test_the_first_edit_after_a_cold_build_updates_a_copy_made_meanwhile(synthetic, tmp_path, monkeypatch):
    """Without a spare tree, a build that will publish has a child process hard-link the live
    site while it works (write.Prelink); the publish updates that copy. A build that fails
    removes it; no process or folder is left behind either way."""
    import os

    from site_src import write

    started: list[int] = []
    real_start = write.Prelink.start.__func__

    def start(cls, root, output_name="output"):
        made = real_start(cls, root, output_name)
        started.append(made.pid)
        return made

    monkeypatch.setattr(write.Prelink, "start", classmethod(start))

    def reaped() -> bool:
        for pid in started:
            try:
                os.waitpid(pid, os.WNOHANG)
                return False  # still ours to wait for
            except ChildProcessError:
                pass
        return True

    root = fresh_copy(synthetic, tmp_path / "site")
    notices = root / "content" / "notices"
    fast_build(root)
    assert not (root / ".output.spare").exists() and started == []
    _edit(notices / "cp1010.md", None, "\nOne more paragraph.\n")
    edited = fast_build(root)
    assert len(started) == 1 and edited.stats["spare_kept"] == len(edited.files) - 1  # all but the edited page
    reference = fresh_copy(root, tmp_path / "ref")
    plain_build(reference)
    assert tree_bytes(root / "output") == tree_bytes(reference / "output")
    assert _folders(root / "output") == _folders(reference / "output")
    assert reaped() and not list(root.glob(".output.tmp-*"))

    shutil.rmtree(root / ".output.spare")
    live = tree_bytes(root / "output")
    _edit(notices / "cp1020.md", "title: ", "title: [broken")                    # a build that fails
    failed = fast_build(root)
    assert failed.report.errors and not failed.written and len(started) == 2
    assert tree_bytes(root / "output") == live
    assert reaped() and not list(root.glob(".output.tmp-*")) and not (root / ".output.spare").exists()


def test_a_dangling_spare_link_is_left_alone_and_the_build_publishes(synthetic, tmp_path):
    """`.output.spare` as a symlink to nothing (output/ was a symlink once, its target since
    deleted): no copy is made in its place, and the build publishes as without a spare."""
    import os

    from site_src import write

    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    os.symlink(tmp_path / "gone", root / ".output.spare")
    _edit(root / "content" / "notices" / "cp1010.md", None, "\nOne more paragraph.\n")
    edited = fast_build(root)
    assert edited.written and not edited.report.errors
    reference = fresh_copy(root, tmp_path / "ref")
    plain_build(reference)
    assert tree_bytes(root / "output") == tree_bytes(reference / "output")
    assert not list(root.glob(".output.tmp-*"))
    # a copy already waited for is not killed again (its number may be another process's by then)
    copy = write.Prelink.start(root)
    assert copy.finish() is not None and copy.pid is None
    copy.cancel()
    assert not copy.path.exists()


def test_a_cold_build_publishes_the_tree_its_workers_wrote_the_pages_into(synthetic, tmp_path, monkeypatch):
    """With no site to update, the render writes each fresh page into the new tree where it is
    rendered (write.Staging, in the workers); the publish writes only the rest and swaps that very
    tree in. The output is a plain build's, and the cache still gets each page as rendered."""
    import os

    from site_src import pipeline, write

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    written_by_publish: list[str] = []
    real_write_tree = write.write_tree

    def write_tree(target, files, *args, **kwargs):
        made = real_write_tree(target, files, *args, **kwargs)
        prewritten = (args[3] if len(args) > 3 else kwargs.get("prewritten")) or {}
        written_by_publish.extend(p for p in made if p not in prewritten)
        return made
    monkeypatch.setattr(write, "write_tree", write_tree)
    cold = fast_build(root)
    pages = sorted(p for p in cold.files if p.endswith(".html"))
    assert pages and not any(p.endswith(".html") for p in written_by_publish)
    assert "notices.json" in written_by_publish
    assert all(isinstance(cold.files._data[p][0].store, write.Staging) for p in pages)
    state = pipeline._output_state(root / "output")
    assert all(cold.files._data[p][0].store.placed[p] == state[p] for p in pages)  # the very files
    reference = plain_build(root, write=False)
    same(reference, cold)
    assert tree_bytes(root / "output") == reference.files
    assert not list(root.glob(".output.tmp-*"))
    cached = _cached_pages(root)
    swaps = [(a, b) for a, b in _late_swaps(reference) if a != b]
    assert swaps and all(_filled(cached[p], swaps) == reference.files[p] for p in pages)
    assert all(b"@version@" in cached[p] for p in pages if b"data-index" in cached[p])
    # kept as the very files the workers wrote (hard links): no bytes copied; a page with the same
    # bytes as another (two alias spellings' redirects) shares the other's
    store = root / ".cache" / "pages"
    inodes = {f.stat().st_ino for f in store.iterdir()}
    alike = Counter(reference.files[p] for p in pages)
    assert all((root / "output" / p).stat().st_ino in inodes for p in pages if alike[reference.files[p]] == 1)
    assert len(inodes) == len(alike)
    import sqlite3

    from site_src.cache import PageStore
    with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
        rows = db.execute("SELECT digest, filled, stamp FROM renders").fetchall()
    kept = PageStore(root / ".cache")
    assert rows and all(kept.usable(*row) for row in rows)  # stamped as they are: used unread next time
    # a later build replaces output/: the cold build's pages can no longer be read (not misread)
    _edit(root / "content" / "notices" / "cp1010.md", None, "\nOne more paragraph.\n")
    fast_build(root)
    with pytest.raises(write.OutputChanged):
        cold.files["notices/cp1010/index.html"]
    assert os.path.exists(root / "output" / "notices" / "cp1010" / "index.html")


def test_a_spare_tree_the_cache_has_no_record_of_leaves_the_pages_to_the_workers(synthetic, tmp_path, monkeypatch):
    """output/ and .cache/ deleted, a spare tree left by earlier builds: the spare cannot be used
    (`pipeline._spare` trusts only a recorded one), so the cold build writes its pages where they
    are rendered, as with no spare at all, and publishes a plain build's bytes; the next edits
    replace the stale spare and then update it."""
    from site_src import write

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    fast_build(root)
    _edit(root / "content" / "notices" / "cp1010.md", None, "\nOne more paragraph.\n")
    fast_build(root)
    assert (root / ".output.spare").is_dir()
    shutil.rmtree(root / "output")
    shutil.rmtree(root / ".cache")
    cold = fast_build(root)
    pages = [p for p in cold.files if p.endswith(".html")]
    assert all(isinstance(cold.files._data[p][0].store, write.Staging) for p in pages)
    assert tree_bytes(root / "output") == plain_build(root, write=False).files
    for step in range(2):
        _edit(root / "content" / "notices" / "cp1010.md", None, f"\nEdit {step}.\n")
        edited = fast_build(root)
        assert tree_bytes(root / "output") == plain_build(root, write=False).files
    assert edited.stats["spare_kept"] > len(pages) / 2  # the stale spare replaced, then updated


def test_a_cold_build_that_fails_or_is_interrupted_leaves_no_new_tree(synthetic, tmp_path, monkeypatch):
    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    _edit(root / "content" / "notices" / "cp1020.md", "title: ", "title: [broken")
    failed = fast_build(root)
    assert failed.report.errors and not failed.written
    assert not (root / "output").exists() and not list(root.glob(".output.tmp-*"))
    _edit(root / "content" / "notices" / "cp1020.md", "title: [broken", "title: ")

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "_check", interrupted)  # after every page was written into the tree
    with pytest.raises(KeyboardInterrupt):
        fast_build(root)
    assert not (root / "output").exists() and not list(root.glob(".output.tmp-*"))
    monkeypatch.undo()
    # stopped while the workers are still writing pages: they finish their chunk before it goes
    shutil.rmtree(root / ".cache")  # (every page was rendered and cached above)
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    _interrupt_at_result(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        fast_build(root)
    assert not (root / "output").exists() and not list(root.glob(".output.tmp-*"))


def _interrupt_at_result(monkeypatch, n: int):
    """Ctrl-C in the build process as it takes the `n`th fresh render from the workers; returns
    the real `_take_fresh`."""
    from site_src import pipeline

    real_take, taken = pipeline._RenderStage._take_fresh, []

    def take(self, *args):
        taken.append(1)
        if len(taken) == n:
            raise KeyboardInterrupt
        return real_take(self, *args)
    monkeypatch.setattr(pipeline._RenderStage, "_take_fresh", take)
    return real_take


def test_render_rows_stored_during_a_build_cut_short_are_not_kept(synthetic, tmp_path, monkeypatch):
    """Fresh renders go into the cache as they come, in one transaction that only the read
    digests of the finished render end: a build stopped half-way leaves no render row behind."""
    import sqlite3

    from site_src import cache as cache_mod, pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(pipeline, "RENDER_ROWS", 5)
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)  # the transaction is begun before the workers fork
    real_take = _interrupt_at_result(monkeypatch, 23)
    real_add, added = cache_mod.RenderRows.add, []

    def add(self, rows):
        rows = list(rows)
        added.append(len(rows))
        return real_add(self, rows)
    monkeypatch.setattr(cache_mod.RenderRows, "add", add)
    with pytest.raises(KeyboardInterrupt):
        fast_build(root)
    assert added == [5, 5, 5, 5]  # rows went into the cache before the stop...
    with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:  # ...and none of them stayed
        assert db.execute("SELECT COUNT(*) FROM renders").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM kv WHERE k = 'read_digests'").fetchone()[0] == 0
    assert not list(root.glob(".output.tmp-*"))
    monkeypatch.setattr(pipeline._RenderStage, "_take_fresh", real_take)
    built = fast_build(root)
    assert built.stats["render_cached"] == 0
    same(plain_build(root, write=False), built)
    with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM renders").fetchone()[0] == built.stats["rendered"]


def test_an_interruption_just_after_the_swap_keeps_the_new_output(synthetic, tmp_path, monkeypatch):
    """Once the tree the workers wrote is swapped in, it is output/ itself: a Ctrl-C after the
    publish returns, before the build has let go of the tree, must not remove it as a failed
    build's leftover."""
    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    real_publish = pipeline.publish

    def publish_then_interrupted(*args, **kwargs):
        real_publish(*args, **kwargs)
        raise KeyboardInterrupt
    monkeypatch.setattr(pipeline, "publish", publish_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        fast_build(root)
    reference = plain_build(root, write=False)
    assert tree_bytes(root / "output") == reference.files


@pytest.mark.parametrize("spelling", ["relative", "dotdot"])
def test_a_root_spelt_otherwise_keeps_the_pages_the_workers_wrote(synthetic, tmp_path, monkeypatch, spelling):
    """The publish clears other builds' leftover folders but not its own, however the project
    folder is spelt (Python 3.12's mkdtemp returns an absolute, normalised path)."""
    import os
    import tempfile

    root = fresh_copy(synthetic, tmp_path / "site")
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: os.path.abspath(real_mkdtemp(*a, **k)))
    monkeypatch.chdir(tmp_path)
    spelt = Path("site") if spelling == "relative" else tmp_path / "x" / ".." / "site"
    (tmp_path / "x").mkdir()
    built = read_now(fast_build(spelt))
    reference = plain_build(root, write=False)
    same(reference, built)
    assert tree_bytes(root / "output") == reference.files


def test_a_page_that_shows_the_lookup_data_name_is_rendered_again_not_misread(synthetic, tmp_path):
    """A fresh page a worker wrote is cached as rendered by turning the lookup data's real name
    back into the placeholder; a page whose own text shows that name would come back wrong, so it
    is not cached, and the next build renders it again."""
    import sqlite3

    root = fresh_copy(synthetic, tmp_path / "site")
    name = next(p for p in read_now(fast_build(root, write=False)).files
                if p.startswith("data/notices-data.")).rpartition("/")[2]
    target = root / "content" / "notices" / "cp1010.md"
    _edit(target, None, f"\nThe lookup data is in {name}.\n")
    cold = read_now(fast_build(root))
    assert not cold.report.errors and name.encode() in cold.files["notices/cp1010/index.html"]
    with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
        rows = dict(db.execute("SELECT path, filled IS NULL FROM renders").fetchall())
    assert rows["notices/cp1010/index.html"] == 1 and sum(rows.values()) == 1
    _edit(root / "content" / "notices" / "cp1040.md", None, "\nOne more paragraph.\n")
    edited, rendered = _rendered_by(lambda: fast_build(root))
    assert "notices/cp1010/" in rendered and "notices/cp1040/" in rendered
    reference = plain_build(root, write=False)
    same(reference, edited)
    assert tree_bytes(root / "output") == reference.files
    assert edited.stats["rendered"] < 10


def test_a_page_a_worker_cannot_write_is_written_by_the_publish(synthetic, tmp_path, monkeypatch):
    import errno

    from site_src import write

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)  # in the workers
    real_put = write.Staging.put

    def put(self, rel, data):
        if rel.startswith("notices/cp101"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_put(self, rel, data)
    monkeypatch.setattr(write.Staging, "put", put)
    built = fast_build(root)
    assert built.written and not built.report.errors
    handed_back = [p for p in built.files if p.startswith("notices/cp101") and p.endswith(".html")]
    assert handed_back and not any(isinstance(built.files._data[p], tuple)
                                   and isinstance(built.files._data[p][0].store, write.Staging) for p in handed_back)
    assert all(isinstance(built.files._data[p][0].store, write.Staging)
               for p in built.files if p.startswith("notices/cp102") and p.endswith(".html"))
    reference = plain_build(root, write=False)
    same(reference, built)
    assert tree_bytes(root / "output") == reference.files


def _settled_copy(synthetic: Path, tmp_path: Path, monkeypatch) -> tuple[Path, float, list[str]]:
    """A copy of the synthetic site whose files were all last modified a minute ago, and the list
    that collects each content file the pipeline reads from now on."""
    import os
    import time

    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    past = time.time() - 60
    for path in (root / "content").rglob("*.md"):
        os.utime(path, (past, past))
    read: list[str] = []
    real = pipeline.read_sources
    monkeypatch.setattr(pipeline, "read_sources", lambda r, listing: read.extend(p for p, _ in listing) or real(r, listing))
    return root, past, read


def test_a_linked_content_file_changed_after_its_read_is_read_again(tmp_path, monkeypatch):
    """What a cold build's workers read is remembered with the stamp the walk took before the
    read; a page that is a symbolic link has none (the walk stats the link), so it is not
    remembered, and a change to its file made after the read (here, before the build ends) is
    seen by the next build instead of hidden behind a stamp taken after it."""
    import os
    import time

    from site_src import pipeline

    root = make_project(tmp_path / "site")
    notices = root / "content" / "notices"
    (notices / "cp14.md").rename(notices / "cp14.txt")
    os.symlink("cp14.txt", notices / "cp14.md")
    past = time.time() - 60
    for path in (root / "content").rglob("*.*"):
        os.utime(path, (past, past), follow_symlinks=False)
    real = pipeline._remember_sources

    def changed_meanwhile(*args):
        text = (notices / "cp14.txt").read_text(encoding="utf-8")
        (notices / "cp14.txt").write_text(text.replace("You owe tax.", "You owe fees"), encoding="utf-8")
        os.utime(notices / "cp14.txt", (past, past))
        time.sleep(0.01)
        return real(*args)
    monkeypatch.setattr(pipeline, "_remember_sources", changed_meanwhile)
    monkeypatch.setattr(pipeline, "SETTLED_NS", 0)  # the change is settled at once
    assert not fast_build(root).report.errors
    monkeypatch.setattr(pipeline, "_remember_sources", real)
    fast_build(root)
    assert b"You owe fees" in (root / "output" / "notices" / "cp14" / "index.html").read_bytes()


def test_the_preview_reads_again_only_the_files_that_changed(synthetic, tmp_path, monkeypatch):
    """In memory, a settled file (modified well before it was read) whose size, mtime and inode
    are unchanged is not read again (pipeline._read_sources); edits and saves by rename are."""
    import os

    from site_src import serve

    root, _past, read = _settled_copy(synthetic, tmp_path, monkeypatch)
    preview = serve.Preview(root)
    preview.rebuild()
    notices = root / "content" / "notices"
    steps = [
        lambda: _edit(notices / "cp1010.md", None, "\nOne more paragraph.\n"),
        lambda: (notices / "cp1020.md").write_text((notices / "cp1020.md").read_text(encoding="utf-8") + "\nNew.\n",
                                                   encoding="utf-8") and os.replace(notices / "cp1020.md", notices / "x.tmp")
        or os.replace(notices / "x.tmp", notices / "cp1020.md"),
    ]
    for step, expected in zip(steps, (["cp1010.md"], ["cp1010.md", "cp1020.md"])):  # cp1010: not yet settled
        read.clear()
        step()
        preview.rebuild()
        assert sorted(Path(p).name for p in read) == expected
        assert preview.files == plain_build(root, write=False).files


_RELIST_OPS = st.lists(st.tuples(
    st.sampled_from(["write", "delete", "mkdir", "symlink", "write-other"]),
    st.sampled_from(["notices/cp1.md", "notices/cp2.md", "guides/g.md", "index.md", "notices/sub/x.md",
                     "stray.md", "notices/cp3.md.swp", "notices/d.md"])), max_size=8)


@settings(max_examples=150, deadline=None)
@given(_RELIST_OPS)
def test_relist_from_the_changed_paths_is_a_walk(ops):
    """`load.relist` from the last listing and the paths changed since gives `discover`'s listing
    and stamps, or says it cannot (None: a folder, a link, a file discover would warn of)."""
    import os
    import tempfile

    from site_src.load import relist

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel in ("notices/cp1.md", "guides/g.md", "index.md"):
            (root / "content" / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / "content" / rel).write_text("x\n", encoding="utf-8")
        stamps: dict = {}
        listing, problems = discover(root, stamps=stamps)
        assert not problems
        changed = set()
        for op, rel in ops:
            path = root / "content" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if op == "write" or op == "write-other":
                if path.is_dir() or path.is_symlink():
                    continue
                path.write_text(f"{op} {len(changed)}\n", encoding="utf-8")
            elif op == "delete":
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()
            elif op == "mkdir" and not path.exists() and not path.is_symlink():  # (a dangling link)
                path.mkdir()
            elif op == "symlink" and not path.exists() and not path.is_symlink():
                os.symlink(root / "content" / "index.md", path)
            changed.add(str(path))
        again = relist(root, (listing, stamps), changed)
        now_stamps: dict = {}
        now, now_problems = discover(root, stamps=now_stamps)
        if again is not None:
            assert not now_problems and again == (now, now_stamps), (ops, again, now)
        else:
            assert now_problems or any((root / "content" / rel).is_dir() or (root / "content" / rel).is_symlink()
                                       for _op, rel in ops), ops


def test_the_preview_lists_content_from_the_paths_the_watcher_names(synthetic, tmp_path, monkeypatch):
    """Told which paths changed, a rebuild lists content/ without walking it (`load.relist`) and
    gives a plain build's files: an edit, a new notice, one gone, a file that is not a page."""
    from site_src import pipeline, serve

    root = fresh_copy(synthetic, tmp_path / "site")
    preview = serve.Preview(root)
    preview.rebuild()
    walks: list[int] = []
    real_discover, real_rebuild = pipeline.discover, preview.rebuild

    def rebuild(changed):  # counts the walks of the preview's builds only (not the plain ones')
        with monkeypatch.context() as patch:
            patch.setattr(pipeline, "discover", lambda *a, **k: walks.append(1) or real_discover(*a, **k))
            real_rebuild(changed)
    preview.rebuild = rebuild
    notices = root / "content" / "notices"
    new = notices / "cp1999.md"
    kept = (notices / "cp1020.md").read_text(encoding="utf-8")
    steps = [
        (lambda: _edit(notices / "cp1010.md", None, "\nOne more paragraph.\n"), [notices / "cp1010.md"]),
        (lambda: new.write_text((notices / "cp1015.md").read_text(encoding="utf-8").replace("CP1015", "CP1999"),
                                encoding="utf-8"), [new]),
        (lambda: (notices / "cp1020.md").unlink(), [notices / "cp1020.md"]),  # others link to it: errors
        (lambda: (notices / "cp1020.md").write_text(kept, encoding="utf-8"), [notices / "cp1020.md"]),
        (lambda: (notices / "notes.txt").write_text("not a page", encoding="utf-8"), [notices / "notes.txt"]),
        (lambda: new.unlink(), [new, root / "templates" / "base.html"]),  # nothing links to it
    ]
    failed = []
    for step, (edit, paths) in enumerate(steps):
        edit()
        preview.rebuild(frozenset(str(p) for p in paths))
        ref = plain_build(root, write=False)
        assert not preview.crash and preview.failed == ref.report.failed(), step
        assert preview.problems == ref.report.sorted(), step
        if preview.failed:
            failed.append(step)
        else:
            assert preview.files == ref.files, step
    assert failed == [2], failed  # the removal meant to break the site, and only that
    assert walks == []
    (notices / "sub").mkdir()
    (notices / "sub" / "x.md").write_text("x", encoding="utf-8")
    preview.rebuild(frozenset({str(notices / "sub" / "x.md")}))  # discover would warn of it: walked
    assert walks == [1] and preview.problems == plain_build(root, write=False).report.sorted()


def test_a_build_reads_again_only_the_files_that_changed(synthetic, tmp_path, monkeypatch):
    """Through the cache too (the CLI): settled files with the same size, mtime and inode as at
    the last read are not read again; an edit, a save by rename, a new file are, and a file whose
    parse went missing from the cache is read after all. Output: a plain build's, every time."""
    import os
    import sqlite3

    root, past, read = _settled_copy(synthetic, tmp_path, monkeypatch)
    fast_build(root)
    notices = root / "content" / "notices"

    def forget_parse() -> None:
        with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
            db.execute("DELETE FROM loads WHERE path = 'content/notices/cp1030.md'")

    def edit_settled(name: str, stamp: float) -> None:
        _edit(notices / name, None, "\nOne more paragraph.\n")
        os.utime(notices / name, (stamp, stamp))

    steps = [
        (lambda: None, []),
        (lambda: edit_settled("cp1010.md", past + 1), ["cp1010.md"]),
        (lambda: shutil.copy(notices / "cp1010.md", notices / "cp1010b.md") and os.utime(notices / "cp1010b.md", (past, past)),
         ["cp1010b.md"]),
        (lambda: (notices / "cp1010b.md").unlink() or forget_parse(), ["cp1030.md"]),
        (lambda: _edit(notices / "cp1020.md", None, "\nJust saved.\n"), ["cp1020.md"]),
        (lambda: None, ["cp1020.md"]),  # it was not settled when read: read again
    ]
    for step, expected in steps:
        read.clear()
        step()
        after = fast_build(root, write=False)
        assert sorted(Path(p).name for p in read) == expected
        same(plain_build(root, write=False), after)


def _die_on_seven(i: int) -> int:
    if i == 7:
        import os
        os._exit(3)  # as the kernel's out-of-memory killer would end it: no exception, no result
    return i * 2


def test_a_worker_that_dies_fails_the_map_instead_of_hanging(monkeypatch):
    monkeypatch.setattr(parallel, "workers", lambda: 2)
    assert parallel.map_items(lambda i: i * 2, list(range(40)), min_items=1) == [i * 2 for i in range(40)]
    with pytest.raises(parallel.WorkerDied):
        parallel.map_items(_die_on_seven, list(range(40)), min_items=1)
    # the pool was shut down and joined: the next stage may fork again
    assert parallel.can_fork()
    assert parallel.map_items(lambda i: i + 1, list(range(40)), min_items=1) == list(range(1, 41))


def test_a_map_stopped_early_stops_its_workers(monkeypatch):
    """The render stage takes results as they come (parallel.imap_items); if it stops (an error,
    Ctrl-C), the workers must go and a later stage must be able to fork again."""
    import multiprocessing
    import time

    monkeypatch.setattr(parallel, "workers", lambda: 2)
    results = parallel.imap_items(_with_pid, list(range(2000)), min_items=1)
    assert next(results)[0] == 0
    results.close()
    deadline = time.monotonic() + 20
    while (multiprocessing.active_children() or not parallel.can_fork()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children() and parallel.can_fork()
    assert parallel.map_items(lambda i: i + 1, list(range(40)), min_items=1) == list(range(1, 41))


def test_a_command_line_build_keeps_fresh_pages_on_disk_not_in_memory(synthetic, tmp_path, monkeypatch):
    """Each freshly rendered page goes to the build's spill file as it arrives (spill.py); what
    the build returns, the cache and output/ all hold the same bytes as a plain build."""

    from concurrent.futures import ProcessPoolExecutor

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    shutdowns = []
    real_shutdown = ProcessPoolExecutor.shutdown

    def shutdown(self, wait=True, *, cancel_futures=False):
        shutdowns.append(wait)
        return real_shutdown(self, wait, cancel_futures=cancel_futures)

    monkeypatch.setattr(ProcessPoolExecutor, "shutdown", shutdown)
    cold = fast_build(root)
    # both pools (load, render) ran to their end and were joined: the next stage may fork again
    assert shutdowns == [True, True] and parallel.can_fork()
    pages = [p for p in cold.files if p.endswith(".html")]
    in_memory = [p for p in pages if isinstance(cold.files._data[p], bytes)]
    assert pages and not in_memory
    reference = plain_build(root, write=False)
    same(reference, cold)
    assert all((root / "output" / p).read_bytes() == reference.files[p] for p in pages)
    cached = _cached_pages(root)
    # the cache keeps pages as rendered, before the lookup data's name is filled in
    assert sorted(cached) == sorted(pages)
    swaps = [(a, b) for a, b in _late_swaps(reference) if a != b]
    assert swaps and all(_filled(cached[p], swaps) == reference.files[p] for p in pages)


@pytest.mark.parametrize("fails", ["making it", "the 5th page"])
def test_a_build_whose_spill_cannot_be_written_keeps_its_pages_in_memory(synthetic, tmp_path, monkeypatch, fails):
    import errno

    from site_src import pipeline, spill as spill_mod

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(pipeline, "_staging", lambda *_args: None)  # pages spilled, not written into a new tree
    full = OSError(errno.ENOSPC, "No space left on device")
    if fails == "making it":
        def no_spill(self, folder=None):
            raise full
        monkeypatch.setattr(spill_mod.Spill, "__init__", no_spill)
    else:
        real_put, calls = spill_mod.Spill.put, []

        def put(self, data):
            calls.append(1)
            if len(calls) >= 5:
                raise full
            return real_put(self, data)
        monkeypatch.setattr(spill_mod.Spill, "put", put)
    built = fast_build(root)
    assert not built.report.errors and built.written
    reference = plain_build(root, write=False)
    same(reference, built)
    out = root / "output"
    assert all((out / p).read_bytes() == reference.files[p] for p in reference.files)


def test_the_spill_file_is_made_in_the_cache_folder_and_leaves_nothing_there(synthetic, tmp_path, monkeypatch):
    from site_src import spill as spill_mod

    root = fresh_copy(synthetic, tmp_path / "site")
    folders = []
    real_init = spill_mod.Spill.__init__

    def init(self, folder=None):
        folders.append(folder)
        real_init(self, folder)
    monkeypatch.setattr(spill_mod.Spill, "__init__", init)
    fast_build(root)
    assert folders == [root / ".cache"]
    assert sorted(p.name for p in (root / ".cache").iterdir() if p.is_file()) == sorted(
        p.name for p in (root / ".cache").iterdir() if p.is_file() and p.name.startswith("build.sqlite3"))


def test_cached_pages_are_read_from_the_cache_only_when_written(synthetic, tmp_path, monkeypatch):
    """After one edit, the pages taken from the cache are hard-linked from output/ and their HTML
    is never read; with output/ gone (CI keeps .cache/, not output/), each is read back from the
    cache, and output/ is a plain build's either way."""
    from site_src import cache as cache_mod

    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    reads: list[str] = []
    real_get = cache_mod.PageStore.get
    monkeypatch.setattr(cache_mod.PageStore, "get", lambda self, ref: reads.append(ref[0]) or real_get(self, ref))
    notice = next((root / "content" / "notices").glob("*.md"))
    notice.write_text(notice.read_text(encoding="utf-8") + "\nOne more sentence.\n", encoding="utf-8")
    edited = fast_build(root)
    assert edited.stats["render_cached"] > 50 and edited.stats["linked"] > 50
    assert reads == []
    reference = plain_build(root, write=False)
    same(reference, edited)
    assert reads, "comparing the results reads the cached pages back"
    shutil.rmtree(root / "output")
    shutil.rmtree(root / ".output.spare")  # (the site before the edit, which would be updated instead)
    reads.clear()
    again = fast_build(root)
    assert again.stats["rendered"] == 0 and len(reads) == again.stats["render_cached"]
    out = root / "output"
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(reference.files)
    assert all((out / p).read_bytes() == reference.files[p] for p in reference.files)


def test_a_cached_page_changed_under_the_build_fails_it_and_publishes_nothing(synthetic, tmp_path, monkeypatch):
    import sqlite3

    from site_src import cache as cache_mod, pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    fast_build(root)
    shutil.rmtree(root / "output")  # so every cached page has to be read back
    shutil.rmtree(root / ".output.spare", ignore_errors=True)
    (root / "output").mkdir()
    (root / "output" / "keep.html").write_text("mine", encoding="utf-8")
    real_publish = pipeline.publish

    def publish_after_another_process_wrote(*args, **kwargs):
        with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
            d, filled = db.execute("SELECT digest, filled FROM renders WHERE path = 'index.html'").fetchone()
        stored = root / ".cache" / "pages" / cache_mod.PageStore(root / ".cache").name_of(d, filled)
        stored.unlink()
        stored.write_bytes(b"other")
        return real_publish(*args, **kwargs)

    monkeypatch.setattr(pipeline, "publish", publish_after_another_process_wrote)
    with pytest.raises(cache_mod.CacheChanged, match="index.html"):
        fast_build(root)
    assert [p.name for p in (root / "output").iterdir()] == ["keep.html"]
    assert not list(root.glob(".output.tmp-*"))


def _cached_pages(root: Path) -> dict[str, bytes | None]:
    """Each cached render's HTML as rendered (None: not kept), read from the cache's page store."""
    import sqlite3

    from site_src.cache import PageStore

    store = PageStore(root / ".cache")
    with sqlite3.connect(root / ".cache" / "build.sqlite3") as db:
        rows = db.execute("SELECT path, digest, filled FROM renders").fetchall()
    return {path: None if filled is None else store.get((path, d, filled)) for path, d, filled in rows}


def _late_swaps(result) -> list[tuple[bytes, bytes]]:
    from site_src import render

    name = next(p for p in result.files if p.startswith("data/notices-data."))
    return [(f"notices-data.{render._LATE_NAME}.js".encode(), name.rpartition("/")[2].encode())]


def _filled(html: bytes, swaps) -> bytes:
    for old, new in swaps:
        html = html.replace(old, new)
    return html


def _own_signal_handlers(_i: int) -> tuple:
    import os
    import signal
    return os.getpid(), signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


def test_workers_leave_ctrl_c_and_sigterm_to_the_build_process(monkeypatch):
    import signal
    monkeypatch.setattr(parallel, "workers", lambda: 2)
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # as write.build_lock sets it
    try:
        found = parallel.map_items(_own_signal_handlers, list(range(40)), min_items=1)
    finally:
        signal.signal(signal.SIGTERM, previous)
    import os
    # the build process may take a share itself (parallel._shared): only the workers' answers count
    in_workers = {(sigint, sigterm) for pid, sigint, sigterm in found if pid != os.getpid()}
    assert in_workers == {(signal.SIG_IGN, signal.SIG_DFL)}


def test_compact_render_results_are_cached_as_the_reads_and_facts_they_stand_for(synthetic, tmp_path, monkeypatch):
    """Workers send each page's reads and facts pickled (pipeline._RenderStage._render_one): the
    cache rows hold the same token lines and facts the objects give, and a pooled cold build
    equals a serial one and feeds a correct warm build."""
    import pickle
    import sqlite3

    from site_src.cache import read_token

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    cold = fast_build(root)
    db = sqlite3.connect(root / ".cache" / "build.sqlite3")
    rows = db.execute("SELECT path, tokens, reads, facts FROM renders").fetchall()
    db.close()
    assert len(rows) == len([p for p in cold.files if p.endswith(".html")])
    cached = _cached_pages(root)
    for path, tokens, reads, facts in rows:
        assert tokens == "\n".join(read_token(n, k) for n, k in pickle.loads(reads))
        assert pickle.loads(facts) == page_facts.read_page(cached[path])
    warm = fast_build(root, write=False)
    assert warm.stats["rendered"] == 0
    same(plain_build(root, write=False), warm)


def test_release_memory_is_safe_to_call_anywhere():
    parallel.release_memory()


def _with_pid(i: int) -> tuple[int, int]:
    import os
    return i, os.getpid()


@pytest.mark.parametrize("n", [2, 3])
def test_pooled_results_keep_their_order(monkeypatch, n):
    import os

    monkeypatch.setattr(parallel, "workers", lambda: n)
    out = parallel.map_items(_with_pid, list(range(1000)), min_items=1)
    assert [i for i, _pid in out] == list(range(1000))
    assert os.getpid() not in {pid for _i, pid in out}


def test_a_staged_page_gone_or_replaced_is_never_read_as_other_bytes(tmp_path):
    import os

    from site_src import write

    staging = write.Staging.make(tmp_path)
    staging.placed["a/index.html"] = staging.put("a/index.html", b"first")
    staging.placed["b/index.html"] = staging.put("b/index.html", b"second")
    assert staging.get("a/index.html") == b"first"
    (staging.path / "a" / "new").write_bytes(b"other")
    os.replace(staging.path / "a" / "new", staging.path / "a" / "index.html")
    with pytest.raises(write.OutputChanged, match="replaced"):
        staging.get("a/index.html")
    staging.remove()
    with pytest.raises(write.OutputChanged, match="gone"):
        staging.get("b/index.html")
    assert not staging.path.exists()


def test_a_publish_whose_new_folder_was_deleted_says_so_and_keeps_output(tmp_path):
    from site_src import write

    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "index.html").write_bytes(b"live")
    staging = write.Staging.make(tmp_path)
    shutil.rmtree(staging.path)
    with pytest.raises(write.OutputChanged, match="run the build again"):
        write.publish(tmp_path, {"index.html": b"new"}, staging=staging)
    assert (tmp_path / "output" / "index.html").read_bytes() == b"live"


def _spy_ahead(monkeypatch) -> list:
    """What each `_CheckAhead.result` gave: the check's outcome from the forked process, or None."""
    from site_src import pipeline

    real, seen = pipeline._CheckAhead.result, []

    def result(self, files):
        seen.append(real(self, files))
        return seen[-1]
    monkeypatch.setattr(pipeline._CheckAhead, "result", result)
    return seen


def test_a_full_check_begun_in_another_process_finds_what_the_build_would(synthetic, tmp_path, monkeypatch):
    """A cold command-line build begins its full check in a forked process as soon as the pages
    are rendered (`pipeline._CheckAhead`): the same problems, placed on the same lines, as the
    check made in the build itself, and a memo the next build's incremental check goes on from."""
    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    break_links(root)
    ref = plain_build(root, write=False)
    assert {d.code for d in ref.report.errors} == {"link-broken", "link-fragment"}
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    seen = _spy_ahead(monkeypatch)
    cold = fast_build(root, write=False)
    assert len(seen) == 1 and seen[0] is not None  # checked in the other process
    same(ref, cold)
    real_check, memos = pipeline.check_site_incremental, []

    def spy(*args, **kw):
        memos.append(kw.get("memo"))
        return real_check(*args, **kw)
    monkeypatch.setattr(pipeline, "check_site_incremental", spy)
    _edit(root / "content" / "notices" / "cp1010.md", None, "\nOne more paragraph.\n")
    again = fast_build(root, write=False)
    assert seen[1:] == [None] and len(memos) == 1 and memos[0] is not None  # here, going on from its memo
    same(plain_build(root, write=False), again)


@pytest.mark.parametrize("how", ["fails", "other files"])
def test_a_check_begun_ahead_that_fails_or_checked_other_files_is_made_again(synthetic, tmp_path, monkeypatch,
                                                                              how):
    """The forked check's outcome is used only if it ran to its end over the very files the build
    made; otherwise the build checks them itself, with the same result."""
    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    break_links(root)
    ref = plain_build(root, write=False)
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    if how == "fails":
        def broken(self, files, sources):
            raise RuntimeError("the check's process fails")
        monkeypatch.setattr(pipeline._CheckAhead, "_full_check", broken)
    else:  # it stands in for one data file fewer than the build makes
        monkeypatch.setattr(pipeline, "DATA_FILES", pipeline.DATA_FILES[1:])
    seen = _spy_ahead(monkeypatch)
    built = fast_build(root, write=False)
    assert seen == [None]
    same(ref, built)


def _record_forks(monkeypatch) -> list:
    """The `parallel.Forked` of every `fork_call` from now on (None where it ran in-process)."""
    real_fork, forked = parallel.fork_call, []

    def fork_call(func):
        forked.append(real_fork(func))
        return forked[-1]
    monkeypatch.setattr(parallel, "fork_call", fork_call)
    return forked


def _interrupted(*args):
    raise KeyboardInterrupt


def test_a_build_stopped_while_its_check_runs_ahead_stops_that_process(synthetic, tmp_path, monkeypatch):
    """Ctrl-C after the check has begun in its own process: that process is stopped and reaped,
    not left running (or a zombie) after the build."""
    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    forked = _record_forks(monkeypatch)
    monkeypatch.setattr(pipeline._CatalogueRows, "remember", _interrupted)  # after the pages: the check has begun
    with pytest.raises(KeyboardInterrupt):
        fast_build(root)
    assert len(forked) == 2 and None not in forked  # the holiday table's process, then the check's
    for child in forked:
        with pytest.raises(ProcessLookupError):
            os.kill(child.pid, 0)  # gone, and reaped


def test_a_build_stopped_before_its_holiday_table_is_used_stops_that_process(synthetic, tmp_path, monkeypatch):
    """Ctrl-C during the resolve, beside which the holiday table is being made (a cold build):
    that process is stopped and reaped too."""
    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    forked = _record_forks(monkeypatch)
    monkeypatch.setattr(pipeline, "_resolve", _interrupted)
    with pytest.raises(KeyboardInterrupt):
        fast_build(root)
    assert len(forked) == 1 and forked[0] is not None
    with pytest.raises(ProcessLookupError):
        os.kill(forked[0].pid, 0)


def test_a_build_stopped_while_it_waits_for_the_check_ahead_stops_that_process(synthetic, tmp_path, monkeypatch):
    """Ctrl-C while the build waits for the check's outcome (its process still checking): that
    process is stopped and reaped too."""
    import signal
    import threading
    import time

    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    real_full = pipeline._CheckAhead._full_check

    def slow(self, files, sources):
        time.sleep(30)  # still checking when the Ctrl-C comes, however loaded the machine
        return real_full(self, files, sources)
    monkeypatch.setattr(pipeline._CheckAhead, "_full_check", slow)
    real_result, children = pipeline._CheckAhead.result, []

    def result(self, files):
        children.append((self.child.pid, time.monotonic()))
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        return real_result(self, files)
    monkeypatch.setattr(pipeline._CheckAhead, "result", result)
    with pytest.raises(KeyboardInterrupt):
        fast_build(root)
    assert time.monotonic() - children[0][1] < 15  # not waited for
    with pytest.raises(ProcessLookupError):
        os.kill(children[0][0], 0)  # gone, and reaped


def test_cache_rows_stored_in_batches_serve_the_next_edit(synthetic, tmp_path, monkeypatch):
    """The render rows and their reads' digests are stored batch by batch while the workers
    render (`_RenderStage._store_rows`): every batch's pages are cache hits after one edit."""
    from site_src import pipeline

    root = fresh_copy(synthetic, tmp_path / "site")
    monkeypatch.setattr(pipeline, "RENDER_ROWS", 7)
    monkeypatch.setattr(parallel, "MIN_ITEMS", 1)
    cold = fast_build(root)
    assert cold.stats["rendered"] > 5 * 7
    _edit(root / "content" / "notices" / "cp1010.md", None, "\nOne more paragraph.\n")
    again = fast_build(root)
    assert again.stats["rendered"] < again.stats["render_cached"] / 3, again.stats
    same(plain_build(root, write=False), again)


def test_file_hashes_kept_by_the_bytes_object_are_the_hashes_made_afresh():
    """`pipeline._file_digests` with the dev server's memo: a file whose bytes are the very object
    hashed last time keeps its hash; new bytes at the same path, or a file gone, are hashed or
    dropped as without the memo."""
    from site_src.pipeline import _file_digests

    swaps = [(b"data/x.@version@.js", b"data/x.abc.js")]
    memo: dict = {}
    kept, changed = b"notices " * 1000, b"sitemap"
    for files in ({"notices.json": kept, "sitemap.xml": changed, "a/index.html": b"<p>"},
                  {"notices.json": kept, "sitemap.xml": b"sitemap 2", "a/index.html": b"<p>"},
                  {"notices.json": kept},
                  {"notices.json": b"notices " * 1000, "sitemap.xml": changed}):
        html_digests = {"a/index.html": "h"} if "a/index.html" in files else {}
        assert _file_digests(files, html_digests, swaps, memo) == _file_digests(files, html_digests, swaps)
        assert memo.keys() == files.keys() - html_digests.keys()
        assert all(memo[path][0] is files[path] for path in memo)
