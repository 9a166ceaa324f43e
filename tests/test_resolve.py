"""Stage 2 units: the index, reference errors with did-you-mean, and the related-resources graph."""

import dataclasses

from site_src.config import load_config
from site_src.load import SourceFile, load_page
from site_src.model import fold
from site_src.resolve import resolve, resolve_again

from conftest import FIXTURES

CONFIG = dataclasses.replace(load_config(FIXTURES / "mini")[0], verify_guide="", back_taxes_guide="")


def notice(code: str, extra: str = "", body: str = "", name: str | None = None):
    text = (f"---\ncode: {code}\ntitle: {code} title\nsummary: s\ncategory: collection\nquick_answer: q\n"
            f"{extra}---\n{body}")
    path = f"content/notices/{name or code.lower().replace(' ', '-')}.md"
    page, problems = load_page(SourceFile(path, "notice", text.encode()))
    assert problems == [], problems
    return page


def guide(gid: str, extra: str = ""):
    text = f"---\nid: {gid}\ntitle: {gid} title\nsummary: s\n{extra}---\nbody\n"
    page, problems = load_page(SourceFile(f"content/guides/{gid}.md", "guide", text.encode()))
    assert problems == []
    return page


def run(*pages):
    site, problems = resolve(list(pages), CONFIG)
    return site, [d.text() for d in sorted(problems)]


def test_fold_makes_spellings_one():
    assert fold("CP 504") == fold("cp-504") == fold("cp504") == "cp504"


def test_dangling_reference_names_file_line_and_suggestion():
    _, problems = run(notice("CP504", "related: [CP5O4]\n", name="cp504"), notice("CP14"))
    assert problems == [
        "content/notices/cp504.md:7: error: in 'related': page 'CP5O4' does not exist (did you mean 'CP504'?)"]


def test_dangling_body_link_names_its_line():
    _, problems = run(notice("CP14", body="Intro\n\nSee [[CP501]].\n"), notice("CP504"))
    assert problems == [
        "content/notices/cp14.md:10: error: in the text: page 'CP501' does not exist (did you mean 'CP504'?)"]


def test_self_reference_and_duplicates():
    _, problems = run(notice("CP14", "related: [CP14, LT11, lt 11]\n"), notice("LT11"))
    assert problems == [
        "content/notices/cp14.md:7: error: 'lt 11' is listed twice in 'related'",
        "content/notices/cp14.md:7: error: in 'related': 'CP14' is this page itself",
    ]


def test_duplicate_code_names_both_files():
    _, problems = run(notice("CP14"), notice("cp-14", name="other"))
    assert problems == ["content/notices/other.md:2: error: duplicate code 'cp-14': content/notices/cp14.md "
                        "already uses 'CP14'"]


def test_alias_colliding_with_a_code():
    _, problems = run(notice("CP14", "aliases: [CP501]\n"), notice("CP501"))
    assert problems == ["content/notices/cp14.md:7: error: alias 'CP501' collides with 'CP501' of "
                        "content/notices/cp501.md"]


def test_follows_cycle_and_similar_to_a_guide():
    _, problems = run(notice("CP14", "follows: [CP501]\n"), notice("CP501", "follows: [CP14]\nsimilar: [g]\n"),
                      guide("g"))
    assert problems == [
        "content/notices/cp14.md:7: error: 'follows' makes a loop: CP14 → CP501 → CP14",
        "content/notices/cp501.md:8: error: 'g' in 'similar' is a guide; only notices can be listed there",
    ]


def test_links_in_quick_answers_and_faq_answers_are_checked():
    page = notice("CP504", "faqs:\n  - question: q\n    answer: See [[CP5O4]] or [[LT11]].\n", name="cp504")
    _, problems = run(page, notice("LT11"))
    assert problems == ["content/notices/cp504.md:9: error: in a FAQ answer: page 'CP5O4' does not exist "
                        "(did you mean 'CP504'?)"]


def test_ties_name_every_equally_close_page():
    _, problems = run(notice("CP11", "related: [CP14]\n"), notice("CP12"), notice("CP91"))
    assert problems == ["content/notices/cp11.md:7: error: in 'related': page 'CP14' does not exist "
                        "(did you mean 'CP11', 'CP12' or 'CP91'?)"]


def test_unknown_category_suggests():
    page = notice("CP14")
    page.category = "colection"
    _, problems = run(page)
    assert problems == ["content/notices/cp14.md:5: error: unknown category 'colection' (did you mean "
                        "'collection'?)"]


def test_graph_groups_are_complete_symmetric_and_without_duplicates():
    site, problems = run(
        notice("CP14", body="[[Letter 1058]]\n"),
        notice("CP501", "follows: [CP14]\n"),
        notice("Letter 1058", "aliases: [LTR1058]\nfollows: [CP501]\nsimilar: [LT11]\nrelated: [g, CP14]\n"),
        notice("LT11", "follows: [CP501]\nrelated: [ltr 1058]\n"),
        guide("g", "related: [LTR1058]\n"),
    )
    assert problems == []
    r = site.relations
    assert r["Letter 1058"].previous == ["CP501"]
    assert r["Letter 1058"].similar == ["LT11"]
    assert r["LT11"].similar == ["Letter 1058"]  # symmetric though only one side lists it
    assert r["Letter 1058"].related == ["g", "CP14"]
    assert r["Letter 1058"].referenced_by == []  # CP14 and g are already shown as related
    assert r["CP14"].referenced_by == ["Letter 1058"]
    assert r["CP501"].next == ["Letter 1058", "LT11"]
    assert site.sequences == [[["CP14"], ["CP501"], ["Letter 1058", "LT11"]]]
    assert site.stage_of["LT11"] == (0, 2)


def _again(pages, memo=None, config=CONFIG):
    """`resolve_again` as the pipeline calls it: each page known by the hash of its file."""
    from site_src.cache import pickled_digest

    return resolve_again(pages, [pickled_digest(p) for p in pages], config, memo=memo)


def _same_result(fast, pages, config=CONFIG):
    site, problems, _memo = fast
    ref_site, ref_problems = resolve(list(pages), config)
    assert site == ref_site
    assert list(site.pages) == list(ref_site.pages)
    assert all(a is b for a, b in zip(site.pages.values(), ref_site.pages.values()))
    assert sorted(problems) == sorted(ref_problems)


def test_resolve_again_reuses_the_graph_when_only_text_changed():
    """The fast path: a changed page with the same links gets the last graph (the very Relations
    objects, the same token), and the result is what a full resolve gives."""
    pages = [notice("CP14"), notice("CP501", "follows: [CP14]\n", "See [[CP14]].\n"), guide("levy-guide")]
    site, problems, memo = _again(pages)
    edited = [pages[0], notice("CP501", "follows: [CP14]\n", "New words.\n\nSee [[CP14]].\n"), pages[2]]
    again = _again(edited, memo)
    assert again[0].relations is site.relations and again[2].graph.token == memo.graph.token
    assert again[0].pages["CP501"] is edited[1]
    _same_result(again, edited)


def test_resolve_again_resolves_afresh_when_links_aliases_or_problems_move():
    pages = [notice("CP14"), notice("CP501", "", "See [[CP14]].\n"), notice("CP503")]
    _site, _problems, memo = _again(pages)
    variants = [
        [pages[0], notice("CP501", "", "See [[CP503]].\n"), pages[2]],              # a body link
        [pages[0], notice("CP501", "aliases: [CP 14]\n"), pages[2]],                 # a colliding alias
        [pages[0], notice("CP501", "similar: [CP503]\n"), pages[2]],                 # a relation
        [pages[0], pages[1]],                                                        # a page gone
    ]
    for edited in variants:
        again = _again(edited, memo)
        assert again[0].relations is not memo.graph.relations and again[2].graph.token != memo.graph.token
        _same_result(again, edited)
    # a problem in the edited file: its line may have moved, so it is found again
    broken = [pages[0], notice("CP501", "", "See [[CP9999]].\n"), pages[2]]
    _s, first, memo = _again(broken)
    moved = [pages[0], notice("CP501", "", "Two\n\nlines. See [[CP9999]].\n"), pages[2]]
    again = _again(moved, memo)
    assert [d.line for d in again[1]] == [d.line + 2 for d in first]
    _same_result(again, moved)
    # other settings: a config change resolves afresh (here every notice's category is now unknown)
    other = dataclasses.replace(CONFIG, categories=CONFIG.categories[1:])
    _s, _p, memo = _again(pages)
    again = _again(pages, memo, other)
    assert len(again[1]) == 3
    _same_result(again, pages, other)


def test_an_unknown_target_is_compared_with_every_page_once(monkeypatch):
    """Each hint compares the target with every page (~5 ms at 4000 notices); a page naming one
    missing code many times (a renamed notice) gets the same hint each time, worked out once."""
    from site_src import resolve as resolve_mod

    calls = []
    real = resolve_mod.did_you_mean
    monkeypatch.setattr(resolve_mod, "did_you_mean", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    body = "".join(f"Line {i}: see [[CP5O4]] and [[cp-5o4]].\n\n" for i in range(20))
    _, problems = run(notice("CP14", body=body), notice("CP504"))
    assert len(problems) == 40 and all("(did you mean 'CP504'?)" in p for p in problems)
    assert calls == ["cp5o4"]
