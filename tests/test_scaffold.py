"""`python build.py new`: a page with every key explained that previews straight away, and that
CI (`--strict`) refuses until every TODO placeholder is replaced."""

from __future__ import annotations

import re

import yaml

from conftest import make_project, run_build
from site_src.schema import FIELDS_BY_KIND

SECTIONS = ["## Why you received it", "## What it means", "## Your rights and timeline", "## What to do next",
            "## If you ignore it"]


def front_matter_text(text: str) -> str:
    return text.split("---\n")[1]


def keys_mentioned(text: str) -> set[str]:
    """Top-level keys, live or commented out."""
    return set(re.findall(r"^(?:# )?([a-z_]+):", front_matter_text(text), re.M))


def fill_placeholders(page) -> None:
    """What a writer does: every TODO replaced with real text."""
    page.write_text(page.read_text(encoding="utf-8").replace("TODO", "Written"), encoding="utf-8")


def test_new_notice_has_every_key_the_sections_and_builds_once_written(mini):
    proc = run_build(mini, "new", "CP2000")
    assert proc.returncode == 0, proc.stderr
    assert "content/notices/cp2000.md" in proc.stdout
    text = (mini / "content" / "notices" / "cp2000.md").read_text(encoding="utf-8")
    assert keys_mentioned(text) == {f.name for f in FIELDS_BY_KIND["notice"]}
    for f in FIELDS_BY_KIND["notice"]:
        assert f"# {f.name} (" in text, f"{f.name} is explained"
        for sub in f.fields:
            assert f"#   {sub.name} (" in text, f"{f.name}.{sub.name} is explained"
    positions = [text.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    data = yaml.safe_load(front_matter_text(text))
    assert data["code"] == "CP2000" and data["category"] == "collection"
    built = run_build(mini)  # previews at once, with a warning at each placeholder
    assert built.returncode == 0, built.stderr
    assert (mini / "output" / "notices" / "cp2000" / "index.html").is_file()
    todo_lines = [n for n, line in enumerate(text.split("\n"), 1)
                  if "TODO" in line and not line.startswith("#")]
    warned = [int(m) for m in re.findall(r"^content/notices/cp2000\.md:(\d+): warning: a 'TODO' placeholder",
                                         built.stderr, re.M)]
    assert warned == todo_lines and len(warned) >= 10, built.stderr
    strict = run_build(mini, "--strict")  # CI never publishes a half-written page
    assert strict.returncode == 1 and "output/ was not changed" in strict.stderr
    fill_placeholders(mini / "content" / "notices" / "cp2000.md")
    assert run_build(mini, "--strict").returncode == 0


def test_new_guide_builds_once_written(mini):
    proc = run_build(mini, "new", "--guide", "payment-plans")
    assert proc.returncode == 0, proc.stderr
    text = (mini / "content" / "guides" / "payment-plans.md").read_text(encoding="utf-8")
    assert keys_mentioned(text) == {f.name for f in FIELDS_BY_KIND["guide"]}
    assert run_build(mini, "--strict").returncode == 1
    fill_placeholders(mini / "content" / "guides" / "payment-plans.md")
    assert run_build(mini, "--strict").returncode == 0
    assert (mini / "output" / "guides" / "payment-plans" / "index.html").is_file()


def test_letter_codes_get_a_slug_file_name(mini):
    assert run_build(mini, "new", "Letter 12C").returncode == 0
    assert (mini / "content" / "notices" / "letter-12c.md").is_file()
    fill_placeholders(mini / "content" / "notices" / "letter-12c.md")
    assert run_build(mini, "--strict").returncode == 0


def test_refuses_to_overwrite_or_reuse_a_code(mini):
    page = mini / "content" / "notices" / "cp14.md"
    before = page.read_bytes()
    proc = run_build(mini, "new", "CP14")
    assert proc.returncode == 1
    assert "content/notices/cp14.md already exists" in proc.stderr
    assert page.read_bytes() == before
    proc = run_build(mini, "new", "cp 14")  # same code, another spelling
    assert proc.returncode == 1 and "already used by content/notices/cp14.md" in proc.stderr
    proc = run_build(mini, "new", "--guide", "back-taxes-guide")
    assert proc.returncode == 1 and "already exists" in proc.stderr


def test_bad_names_are_refused_with_a_suggestion(mini):
    proc = run_build(mini, "new", "--guide", "Payment Plans")
    assert proc.returncode == 2 and "try 'payment-plans'" in proc.stderr
    assert run_build(mini, "new", "CP/2000").returncode == 2
    assert run_build(mini, "new").returncode == 2
    assert not list((mini / "content").rglob("*2000*"))


def test_categories_come_from_the_site_config(tmp_path):
    root = make_project(tmp_path / "site")
    config = root / "site.toml"
    text = config.read_text()
    head, _, _ = text.partition("[[categories]]")
    config.write_text(head + '[[categories]]\nid = "audits"\ntitle = "Audits"\n\n'
                             '[[categories]]\nid = "collection"\ntitle = "Collection"\n')
    assert run_build(root, "new", "CP2000").returncode == 0
    text = (root / "content" / "notices" / "cp2000.md").read_text()
    assert "category: audits    # one of: audits, collection" in text
    fill_placeholders(root / "content" / "notices" / "cp2000.md")
    assert run_build(root, "--strict").returncode == 0


def test_updated_date_honours_source_date_epoch(mini):
    run_build(mini, "new", "CP2000", env={"SOURCE_DATE_EPOCH": "1767225600"})  # 2026-01-01
    assert "updated: 2026-01-01" in (mini / "content" / "notices" / "cp2000.md").read_text()
