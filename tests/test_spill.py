"""The spill (site_src/spill.py): pages' bytes kept in a temporary file while a build holds them."""

from __future__ import annotations

import pytest

from site_src.spill import Files, Spill, Spilled


def test_a_spill_gives_back_exactly_what_it_was_given():
    spill = Spill()
    items = [b"", b"<p>one</p>", bytes(range(256)) * 4000, "é\u2028".encode("utf-8"), b"\x00" * 3]
    stored = [spill.put(data) for data in items]
    assert [s.read() for s in reversed(stored)] == list(reversed(items))  # any order, any number of times
    assert [spill.get(s.ref) for s in stored] == items
    assert stored[2].ref == Spilled(len(items[1]), len(items[2]))
    spill.close()


def test_files_read_spilled_pages_back_filled_in_and_behave_as_a_dict():
    spill = Spill()

    def fill(data: bytes, swaps) -> bytes:
        for old, new in swaps:
            data = data.replace(old, new)
        return data

    files = Files({"a.css": b"body{}"}, fill)
    files.put_stored("index.html", spill.put(b"<script src=PLACEHOLDER>"), [(b"PLACEHOLDER", b"data.1234.js")])
    files["sitemap.xml"] = b"<urlset/>"
    assert files["index.html"] == b"<script src=data.1234.js>"
    assert files.get("index.html") == b"<script src=data.1234.js>" and files.get("gone.html") is None
    assert "index.html" in files and "gone.html" not in files
    assert list(files) == ["a.css", "index.html", "sitemap.xml"] and len(files) == 3
    assert dict(files.items()) == {"a.css": b"body{}", "index.html": b"<script src=data.1234.js>",
                                   "sitemap.xml": b"<urlset/>"}
    assert files == {"a.css": b"body{}", "index.html": b"<script src=data.1234.js>", "sitemap.xml": b"<urlset/>"}
    files["index.html"] = b"new"  # replaced by plain bytes
    assert files["index.html"] == b"new"
    del files["a.css"]
    with pytest.raises(KeyError):
        files["a.css"]
    assert Files() == {}
