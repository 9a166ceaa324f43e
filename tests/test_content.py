"""The bundled help center is tested like code: complete, sourced, cross-linked, correct deadlines."""

from __future__ import annotations

import re

import pytest

from site_src.model import fold
from site_src.pipeline import BuildOptions, build

from conftest import PROJECT

REQUIRED = ["CP14", "CP501", "CP503", "CP504", "LT11", "Letter 1058", "CP297", "CP90", "CP523", "CP21A",
            "CP22A", "CP3219A", "CP2000", "CP11", "CP12", "CP71C", "CP91", "CP298", "CP05", "CP2501",
            "Letter 525", "Letter 4883C", "Letter 5071C", "CP59"]


@pytest.fixture(scope="module")
def built():
    result = build(BuildOptions(root=PROJECT, write=False, search=False, cache=False))  # leave the tree as it is
    return result


def html_of(built, code: str) -> str:
    page = built.site.pages[code]
    return built.files[page.output_path].decode()


def text_of(built, code: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_of(built, code)))


def test_the_bundled_site_builds_without_errors_or_warnings(built):
    assert [d.text() for d in built.report.sorted()] == []


def test_every_required_notice_has_a_page(built):
    assert set(REQUIRED) <= {p.key for p in built.site.notices}
    assert len(built.site.notices) >= 24


def test_every_notice_is_complete(built):
    home = built.files["index.html"].decode()
    for page in built.site.notices:
        assert page.quick_answer, page.key
        assert len(page.faqs) >= 3, page.key
        assert page.sources, page.key
        assert page.updated is not None, page.key
        assert page.category, page.key
        assert f'href="{page.url}"' in home, f"{page.key} is missing from the home page"
        assert "is-this-letter-real" in html_of(built, page.key), f"{page.key} does not link the verify guide"


def test_hub_guides_exist_and_link_into_notices(built):
    guide = built.site.pages["back-taxes-guide"]
    linked = {fold(r.target) for r in guide.body_refs}
    for code in ["CP14", "CP501", "CP503", "CP504", "LT11", "Letter 1058"]:
        assert fold(code) in linked, code
    assert "is-this-letter-real" in built.site.pages


def test_collection_sequence_gives_previous_and_next_steps(built):
    rel = built.site.relations
    assert rel["CP14"].previous == [] and "CP501" in rel["CP14"].next
    assert rel["CP501"].previous == ["CP14"] and "CP503" in rel["CP501"].next
    assert rel["CP503"].previous == ["CP501"] and "CP504" in rel["CP503"].next
    assert rel["CP504"].previous == ["CP503"]
    assert {"LT11", "Letter 1058"} <= set(rel["CP504"].next)
    for code in ["LT11", "Letter 1058"]:
        assert rel[code].previous == ["CP504"], code
    html = html_of(built, "CP504")
    assert 'aria-current="step"' in html


def test_similar_letters_are_linked_both_ways(built):
    rel = built.site.relations
    assert "Letter 1058" in rel["LT11"].similar and "LT11" in rel["Letter 1058"].similar
    assert "CP298" in rel["CP91"].similar and "CP91" in rel["CP298"].similar
    assert "CP297" in rel["CP90"].similar


@pytest.mark.parametrize("alias, code", [("LTR1058", "Letter 1058"), ("L1058", "Letter 1058"),
                                         ("CP504B", "CP504"), ("Letter 11", "LT11"), ("cp-504", "CP504")])
def test_aliases_reach_their_notice(built, alias, code):
    assert built.site.index[fold(alias)] == code


@pytest.mark.parametrize("code, days, abroad", [
    ("LT11", 30, None), ("Letter 1058", 30, None), ("CP90", 30, None), ("CP297", 30, None),
    ("CP3219A", 90, 150), ("CP11", 60, None), ("CP12", 60, None), ("CP2000", 30, None), ("CP523", 30, None),
    ("CP91", 30, None), ("CP298", 30, None), ("Letter 5071C", 30, None), ("Letter 525", 30, None),
])
def test_deadlines_are_right_and_shown(built, code, days, abroad):
    page = built.site.pages[code]
    assert page.deadline is not None and page.deadline.days == days
    assert page.deadline.days_abroad == abroad
    text = text_of(built, code)
    assert f"{days} days" in text
    if abroad:
        assert f"{abroad} days" in text


def test_cdp_notices_offer_the_equivalent_hearing(built):
    for code in ["LT11", "Letter 1058", "CP90", "CP297"]:
        d = built.site.pages[code].deadline
        assert "6330" in d.basis, code
        assert "Equivalent Hearing" in d.late_option, code
        assert "12153" in d.action + text_of(built, code), code


def test_cp504_does_not_promise_cdp_rights(built):
    d = built.site.pages["CP504"].deadline
    assert d is None or d.days is None
