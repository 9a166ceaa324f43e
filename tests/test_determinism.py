"""Two builds of the same input give byte-identical output trees, wherever and whenever they run."""

from __future__ import annotations

import shutil

from conftest import make_project, run_build, tree_bytes


def test_two_builds_are_byte_identical(tmp_path):
    a = make_project(tmp_path / "a")
    b = make_project(tmp_path / "elsewhere" / "b")
    # Different hash seeds expose any set or dict order that leaks into the output.
    first = run_build(a, env={"PYTHONHASHSEED": "1", "SOURCE_DATE_EPOCH": "1767225600"})
    second = run_build(b, env={"PYTHONHASHSEED": "2", "SOURCE_DATE_EPOCH": "1767225600"})
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    tree_a, tree_b = tree_bytes(a / "output"), tree_bytes(b / "output")
    assert sorted(tree_a) == sorted(tree_b)
    different = [p for p in tree_a if tree_a[p] != tree_b[p]]
    assert different == []


def test_rebuilding_in_place_changes_nothing(tmp_path):
    root = make_project(tmp_path / "site")
    env = {"SOURCE_DATE_EPOCH": "1767225600"}
    assert run_build(root, env=env).returncode == 0
    before = tree_bytes(root / "output")
    shutil.rmtree(root / "output")
    assert run_build(root, env={**env, "PYTHONHASHSEED": "7"}).returncode == 0
    assert tree_bytes(root / "output") == before


def test_the_build_does_not_depend_on_the_clock(tmp_path):
    """Without content changes, the build date must not leak in unless SOURCE_DATE_EPOCH says so."""
    a = make_project(tmp_path / "a")
    b = make_project(tmp_path / "b")
    assert run_build(a, env={"SOURCE_DATE_EPOCH": "1767225600"}).returncode == 0
    assert run_build(b, env={"SOURCE_DATE_EPOCH": "1767225600", "TZ": "Pacific/Kiritimati"}).returncode == 0
    assert tree_bytes(a / "output") == tree_bytes(b / "output")
