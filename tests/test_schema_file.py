"""The JSON Schema kept for editors matches `python build.py schema` and agrees with the loader."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import yaml

from conftest import PROJECT
from site_src.front_matter import parse
from site_src.schema import validate

SCHEMA_FILE = PROJECT / "schema" / "front-matter.schema.json"

NOTICE = """\
code: CP14
title: "CP14: Balance due"
summary: You owe tax.
category: collection
quick_answer: Pay by the date on the notice.
"""
SAMPLES = [
    ("notice", NOTICE, True),
    ("notice", NOTICE + "deadline:\n  days: 30\n  from: the notice date\n  action: Pay\n  basis: IRC 6331\n", True),
    ("notice", NOTICE + "faqs:\n  - question: Real?\n    answer: Yes.\n", True),
    ("notice", NOTICE + "related: [CP501, back-taxes-guide]\nupdated: 2026-11-01\n", True),
    ("notice", NOTICE.replace("code: CP14\n", ""), False),                      # missing required key
    ("notice", NOTICE + "colour: red\n", False),                                # unknown key
    ("notice", NOTICE + "deadline:\n  days: -3\n  action: Pay\n  basis: IRC\n", False),  # not positive
    ("notice", NOTICE + "deadline:\n  action: Pay\n", False),                   # missing deadline.basis
    ("notice", NOTICE + "faqs:\n  - question: Real?\n", False),                 # missing answer
    ("notice", NOTICE + "sources:\n  - title: x\n    url: javascript:alert(1)\n", False),
    ("notice", NOTICE.replace("summary: You owe tax.", "summary: ''"), False),
    ("guide", "id: back-taxes-guide\ntitle: Back taxes\nsummary: How to handle them.\n", True),
    ("guide", "id: back-taxes-guide\ntitle: Back taxes\n", False),
    ("guide", "id: g\ntitle: T\nsummary: S\ncategory: collection\n", False),    # notice-only key
    ("home", "title: Home\nsummary: Start here.\n", True),
    ("home", "title: Home\nsummary: Start here.\nfaqs: []\n", False),
]


def test_the_kept_file_is_the_command_output():
    out = subprocess.run([sys.executable, str(PROJECT / "build.py"), "schema"], capture_output=True, text=True,
                         check=True).stdout
    assert SCHEMA_FILE.is_file(), "run: python build.py schema > schema/front-matter.schema.json"
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json.loads(out), \
        "schema/front-matter.schema.json is out of date: python build.py schema > schema/front-matter.schema.json"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == out


def test_the_file_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def _as_json(value):
    """YAML values as an editor's YAML language server hands them to JSON Schema (dates are strings)."""
    return json.loads(json.dumps(value, default=str))


@pytest.mark.parametrize("kind,text,ok", SAMPLES)
def test_loader_and_schema_agree(kind, text, ok):
    document = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(document["$defs"][kind],
                                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    data = _as_json(yaml.safe_load(text))
    parsed = parse(f"---\n{text}---\nBody.\n")
    loader_ok = not parsed.problems and not validate(parsed.data, parsed.lines, kind, "x.md")
    schema_ok = validator.is_valid(data)
    assert loader_ok == ok
    assert schema_ok == ok
    if kind == "notice" and ok:  # the combined document routes each page to its kind
        assert jsonschema.Draft202012Validator(document).is_valid(data)


def test_the_writers_guide_explains_every_key():
    from site_src.schema import FIELDS_BY_KIND

    guide = (PROJECT / "docs" / "writing.md").read_text(encoding="utf-8")
    for fields in FIELDS_BY_KIND.values():
        for f in fields:
            assert f"`{f.name}`" in guide, f"docs/writing.md does not explain '{f.name}'"
            for sub in f.fields:
                assert f"`{sub.name}`" in guide, f"docs/writing.md does not explain '{f.name}.{sub.name}'"
