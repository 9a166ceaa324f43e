"""Site checks over the generated HTML: links, fragments, headings, metadata, alt text, reachability."""

from __future__ import annotations

from conftest import make_project, run_build
from site_src.check import check_site

HEAD = '<head><title>T</title><meta name="description" content="d"></head>'


def page(body: str, head: str = HEAD, lang: str = ' lang="en"') -> bytes:
    return f"<!doctype html>\n<html{lang}>\n{head}\n<body>\n{body}\n</body>\n</html>\n".encode()


def texts(files, sources=None, **kw) -> list[str]:
    return [d.text() for d in check_site(files, sources or {}, **kw)]


def test_a_clean_site_has_no_problems():
    files = {
        "index.html": page('<h1>Home</h1>\n<a href="notices/cp14/">CP14</a>\n<a href="notices/cp14/#deadline">d</a>'),
        "notices/cp14/index.html": page('<h1>CP14</h1>\n<h2 id="deadline">Deadline</h2>\n<a href="../../">home</a>'
                                        '\n<img src="../../a.png" alt="">'),
        "a.png": b"png",
    }
    assert texts(files) == []


def test_each_problem_names_the_output_file_line_and_source():
    files = {
        "index.html": page('<h1>Home</h1>\n<a href="notices/cp14/">ok</a>'),
        "notices/cp14/index.html": page('<h1>CP14</h1>\n<p>x</p>\n<a href="../cp999/">gone</a>\n'
                                        '<a href="../../#nowhere">frag</a>\n<img src="../../a.png">\n<h1>Two</h1>'),
        "a.png": b"png",
    }
    got = texts(files, {"notices/cp14/index.html": "content/notices/cp14.md"})
    made = "(page made from content/notices/cp14.md)"
    assert f"output/notices/cp14/index.html:7: error: link '../cp999/' points to a file that is not generated {made}" in got
    assert f"output/notices/cp14/index.html:8: error: link '../../#nowhere' points to '#nowhere', which is not an id on index.html {made}" in got
    assert f"output/notices/cp14/index.html:9: error: image '../../a.png' has no alt text {made}" in got
    assert f"output/notices/cp14/index.html:10: error: the page has 2 <h1> headings; it needs exactly one {made}" in got
    assert len(got) == 4


def test_title_description_lang_and_h1_are_required():
    files = {"index.html": page("<p>no heading</p>", head="<head></head>", lang="")}
    got = texts(files)
    assert any("no <title>" in t for t in got)
    assert any("no meta description" in t for t in got)
    assert any("<html> has no lang attribute" in t for t in got)
    assert any("0 <h1> headings" in t for t in got)


def test_unreachable_pages_are_warnings():
    files = {"index.html": page("<h1>Home</h1>"), "lost/index.html": page("<h1>Lost</h1>"),
             "404.html": page("<h1>Not found</h1>")}
    got = check_site(files, {"lost/index.html": "content/guides/lost.md"})
    assert [(d.path, d.severity) for d in got] == [("output/lost/index.html", "warning")]
    assert "no link leads here from the home page" in got[0].text()


def test_links_under_the_base_path_resolve():
    files = {"index.html": page('<h1>Home</h1>\n<a href="/help/guide/">g</a>\n<link rel="icon" href="/help/i.png">'),
             "guide/index.html": page("<h1>G</h1>"), "i.png": b""}
    assert texts(files, base_path="/help/") == []


def test_a_broken_link_in_content_fails_the_build_naming_source_line_and_page(tmp_path):
    root = make_project(tmp_path / "site")
    page_md = root / "content" / "notices" / "cp14.md"
    text = page_md.read_text() + "\nSee [the form](../cp500/).\n"
    page_md.write_text(text)
    proc = run_build(root)
    assert proc.returncode == 1
    line = text.count("\n")  # the last line
    assert (f"content/notices/cp14.md:{line}: error: link '../cp500/' points to a file that is not generated "
            "(did you mean '../cp501/'? seen in output/notices/cp14/index.html:") in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (root / "output").exists()


def test_links_resolved_once_per_parent_folder_agree_with_target_of():
    """`check.resolve_links` shares one answer for a '../' link among the pages beside each other;
    each answer must be the one `target_of` gives from that very page, at every depth."""
    from site_src.check import resolve_links, target_of

    pages = ["index.html", "404.html", "a.html", "notices/index.html", "notices/cp2000/index.html",
             "notices/cp2001/index.html", "guides/index.html", "a/b/c/index.html", "a/b/d/index.html",
             "a/x/c/index.html", "b/index.html"]
    tails = ["", "x/", "cp2000/", "../x/", "../../assets/s.css", "..", "./y", "index.html#f", "#top", "c/"]
    urls = ["../" * k + t for k in range(4) for t in tails] + ["/help/x/", "/help/../y/"]
    links = [(u, i) for i, u in enumerate(urls)]
    for base_path in ("/", "/help/"):
        upward: dict = {}
        for order in (pages, pages[::-1]):
            for page in order:
                got = resolve_links(page, links, base_path, upward)
                want = [(u, i, *target_of(page, u)) for u, i in
                        ((u[len(base_path) - 1:] if base_path != "/" and u.startswith(base_path) else u, i)
                         for u, i in links)]
                assert got == want, page
        assert upward  # shared


def test_the_fast_link_resolver_agrees_with_target_of():
    import itertools
    import posixpath

    from site_src.check import fast_target_of, target_of

    segments = ["a", "..", ".", "", "b-1", "x.html", "index.html", "#f", "#", "~", "%41", "?q=1", "c d", "/x"]
    pages = ["index.html", "404.html", "notices/index.html", "notices/cp2000/index.html", "a/b/c/index.html"]
    for page in pages:
        for k in range(1, 4):
            for combo in itertools.product(segments, repeat=k):
                url = "/".join(combo)
                for u in filter(None, (url, url + "/", url + "#frag", "../" + url)):
                    assert fast_target_of(posixpath.dirname(page), page, u) == target_of(page, u), (page, u)


def test_an_incremental_check_gives_the_full_checks_diagnostics():
    """Each step changes some pages (a broken link fixed, an id renamed that another page links
    to, a page cut off from the home page, a redirect); the check that starts from the previous
    step's memo says exactly what a full check says, in the same order."""
    from site_src.cache import digest
    from site_src.check import check_site_incremental

    redirect = b'<!doctype html><html lang="en"><head><meta http-equiv="refresh" content="0; url=../a/">' \
               b'<title>R</title><meta name="description" content="d"></head><body><h1>R</h1></body></html>'
    site = {
        "index.html": page('<h1>Home</h1>\n<a href="a/">a</a>\n<a href="b/#x">b</a>'),
        "a/index.html": page('<h1>A</h1>\n<a href="../c/">c</a>'),
        "b/index.html": page('<h1>B</h1>\n<h2 id="x">X</h2>'),
        "c/index.html": page('<h1>C</h1>'),
        "r/index.html": redirect,
    }
    steps = [
        {"a/index.html": page('<h1>A</h1>\n<a href="../c/">c</a>\n<a href="../gone/">gone</a>')},
        {"b/index.html": page('<h1>B</h1>\n<h2 id="y">Y</h2>')},  # index.html's #x breaks
        {"a/index.html": page('<h1>A</h1>')},  # c/ is no longer reachable
        {"b/index.html": page('<h1>B</h1>\n<h2 id="x">X</h2>\n<a href="../c/">c</a>')},
        {"r/index.html": page('<h1>R</h1>')},  # no longer a redirect: unreachable
        {"c/index.html": page('<h1>C</h1><img src="../nothing.png" alt="">'), "nothing.png": b"png"},
        {"nothing.png": None},  # a file the unchanged page c/ links to is gone
        {"nothing.png": b"png again"},  # and back
        {"data.1234.js": b"x"},  # a file no page links to: no page is checked again
        {"data.1234.js": None, "data.5678.js": b"y"},
        {"b/index.html": None},  # a page gone: index.html's link to it breaks
        {"gone/index.html": page('<h1>Gone</h1>\n<h2 id="g">G</h2>')},  # a's broken link now works
        {"d/index.html": page('<h1>D</h1>'), "keeps": ["index.html", "a/index.html", "c/index.html"]},  # unreachable
        {"c/index.html": page('<h1>C</h1>\n<a href="../gone/#g">g</a>\n<a href="../d/#h">d</a>')},
        {"gone/index.html": None, "keeps": ["index.html"]},  # c/'s link to it breaks; d/ has no #h
        {"sources": {"a/index.html": "content/guides/a2.md", "d/index.html": "content/d.md"}},  # renamed
        {"b/index.html": page('<h1>B</h1>'), "d/index.html": None},  # one page added, one gone at once
    ]
    sources = {"a/index.html": "content/guides/a.md"}
    memo = None
    for step in [{}, *steps]:
        step = dict(step)
        sources, keeps = step.pop("sources", sources), step.pop("keeps", [])
        site.update(step)
        site = {p: b for p, b in site.items() if b is not None}
        digests = {p: digest(b) for p, b in site.items()}
        before = dict(memo.pages) if memo is not None else {}
        got, memo = check_site_incremental(site, sources, digests=digests, memo=memo)
        assert got == check_site(site, sources), step
        for path in keeps:  # a page added or gone is checked again only by the pages linking to it
            assert memo.pages[path] is before[path], (step, path)
    assert got and memo is not None
