"""render.relative / render._relpath: the links between pages, against posixpath.relpath."""

from __future__ import annotations

import itertools
import posixpath

from hypothesis import example, given, settings
from hypothesis import strategies as st

from site_src import render

URLS = ["", "notices/", "notices/cp504/", "notices/cp504", "notices/cp504/index.html", "guides/back-taxes/",
        "assets/css/site.1234.css", "data/notices-data.@version@.js", "index.html", "404.html",
        "notices/cp504/../cp14/", "notices//cp14/", "./notices/", "notices/./cp14/", "a/b/c/d/", "a/b/x/",
        "notices.json", "search/", "notices/cp-504/", "/notices/cp14/", "notices/cp14//", ".."]


def test_relpath_is_posixpaths():
    for to_url, base in itertools.product(URLS, URLS):
        if not base or base.endswith("/"):
            expected = posixpath.relpath("/" + to_url, "/" + base) if (to_url or base) else "."
            assert render._relpath(to_url, base) == expected, (to_url, base)


def test_relative_links_resolve_back_to_their_target():
    for from_url, to_url in itertools.product(URLS[:10], URLS[:10]):
        link = render.relative(from_url, to_url)
        here = from_url if from_url.endswith("/") or not from_url else posixpath.dirname(from_url) + "/"
        landed = posixpath.normpath(posixpath.join("/" + here, link)).lstrip("/")
        assert landed == posixpath.normpath("/" + to_url).lstrip("/") or (landed == "." and to_url == ""), \
            (from_url, to_url, link)


_PATHS = st.text(alphabet=st.sampled_from(list("ab/.")), max_size=9)


@settings(max_examples=500, deadline=None)
@given(_PATHS, _PATHS)
@example("a/b/", "a/")  # below the page: the shortcut
@example("a/", "a/")
@example("a/./b", "a/")
@example("a//b/", "a/")
def test_relpath_is_posixpaths_for_any_paths(to_url, base):
    base = base if not base or base.endswith("/") else base + "/"
    expected = posixpath.relpath("/" + to_url, "/" + base) if (to_url or base) else "."
    assert render._relpath(to_url, base) == expected


_LINKS = st.text(alphabet=st.sampled_from(list("ab/.#")), max_size=10)


@settings(max_examples=1000, deadline=None)
@given(_LINKS, _LINKS)
@example("a/b/", "a/c/")  # a neighbour: the shortcut through the folder above
@example("a/b/", "a/")  # the folder above itself
@example("a/b/", "a/b")  # the page's own folder, without its slash
@example("a/b/", "a/b#x")
@example("a/b/", "a/./b/")
@example("a//b/", "a/b/")
@example("a/b/", "a/bb/")
@example("/a/b/", "a/b/c")  # one of them from the root: its segments are the same, its text is not
@example("a/b/", "/a/b/c")
def test_relative_is_the_same_through_the_folder_above(from_url, to_url):
    """`relative` links to a page outside the linking page's folder as from the folder above (the
    answer memoised per folder); the link is the one worked out from the page itself."""
    expected = to_url if to_url.startswith(render._EXTERNAL) else render._relative(from_url, to_url)
    assert render.relative(from_url, to_url) == expected
