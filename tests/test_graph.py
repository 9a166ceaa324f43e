"""`python build.py graph`: orphans, pages without related resources, sequences, DOT."""

from __future__ import annotations

from conftest import make_project, run_build

LONER = {"content/notices/cp2000.md": """\
    ---
    code: CP2000
    title: "CP2000: Proposed changes"
    summary: The IRS proposes more tax.
    category: proposed
    quick_answer: Answer by the date on the letter.
    ---
    ## Why you received it

    Income did not match.
    """}


def test_report_lists_orphans_unrelated_notices_and_sequences(tmp_path):
    root = make_project(tmp_path / "site", LONER)
    proc = run_build(root, "graph")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    orphans = out.split("Orphan notices")[1].split("\n\n")[0]
    assert "CP2000" in orphans and "content/notices/cp2000.md" in orphans
    assert "CP14 " not in orphans  # Letter 1058 and the guide link to CP14
    unrelated = out.split("Notices with no related resources")[1].split("\n\n")[0]
    assert "CP2000" in unrelated and "CP501" not in unrelated
    assert "Collection sequences (1)\n  1. CP14 → CP501 → Letter 1058 | LT11" in out


def test_dot_export(tmp_path):
    root = make_project(tmp_path / "site", LONER)
    proc = run_build(root, "graph", "--dot")
    assert proc.returncode == 0
    dot = proc.stdout
    assert dot.startswith("digraph notices {") and dot.rstrip().endswith("}")
    assert '"CP14" -> "CP501" [color="#b50909", penwidth=2, label="follows"];' in dot
    assert '"back-taxes-guide" [shape=ellipse' in dot
    assert '"CP2000" [shape=box' in dot and "fillcolor" in dot.split('"CP2000" [')[1].split("\n")[0]
    assert run_build(root, "graph", "--dot").stdout == dot  # stable order


def test_graph_of_broken_content_reports_errors(tmp_path):
    root = make_project(tmp_path / "site", {"content/notices/cp2000.md": "---\ncode: [\n---\n"})
    proc = run_build(root, "graph")
    assert proc.returncode == 1
    assert "content/notices/cp2000.md:" in proc.stderr and "error: malformed YAML" in proc.stderr
    assert "Traceback" not in proc.stderr
