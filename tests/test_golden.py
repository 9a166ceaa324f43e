"""Golden output: the small fixture site's generated files, byte for byte.

After an intended change to templates or rendering, regenerate with
`UPDATE_GOLDEN=1 pytest tests/test_golden.py` and review the diff of tests/golden/ like code.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import make_project, run_build, tree_bytes

GOLDEN = Path(__file__).resolve().parent / "golden" / "mini"
SKIP = ("assets/", "pagefind/")


def generated(tmp_path: Path) -> dict[str, bytes]:
    root = make_project(tmp_path / "site")
    proc = run_build(root, "--no-search", env={"SOURCE_DATE_EPOCH": "1764288000"})
    assert proc.returncode == 0, proc.stderr
    return {k: v for k, v in tree_bytes(root / "output").items() if not k.startswith(SKIP)}


def test_fixture_site_matches_golden_files(tmp_path):
    files = generated(tmp_path)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, data in files.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(data)
    expected = tree_bytes(GOLDEN)
    assert sorted(files) == sorted(expected), "the set of generated files changed"
    for rel in sorted(files):
        assert files[rel].decode() == expected[rel].decode(), f"{rel} differs from tests/golden/mini/{rel}"
