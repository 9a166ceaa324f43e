"""`python build.py` run as a user runs it: on the bundled content, and on a broken copy of it."""

from __future__ import annotations

from conftest import make_project, run_build, tree_bytes


def test_bundled_site_builds_and_writes_output(tmp_path):
    root = make_project(tmp_path / "site", base="bundled")
    proc = run_build(root, "--no-search")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("built ")
    out = root / "output"
    for path in ["index.html", "notices/cp504/index.html", "notices/letter-1058/index.html",
                 "notices/lt11/index.html", "guides/back-taxes-guide/index.html", "notices.json"]:
        assert (out / path).is_file(), path
    assert not list(root.glob(".output.tmp-*"))


def test_broken_copy_reports_every_error_and_leaves_output_untouched(tmp_path):
    root = make_project(tmp_path / "site", base="bundled")
    assert run_build(root, "--no-search").returncode == 0
    before = tree_bytes(root / "output")

    cp504 = root / "content/notices/cp504.md"
    text = cp504.read_text()
    cp504.write_text(text.replace("category:", "relatd: [CP14]\ncategory:", 1))
    cp14 = root / "content/notices/cp14.md"
    cp14.write_text(cp14.read_text() + "\nSee also [[CP5O4]].\n")
    lines = cp14.read_text().count("\n")
    (root / "content/notices/broken.md").write_text("---\ncode: [CP1\n---\n")

    proc = run_build(root, "--no-search")
    assert proc.returncode == 1
    err = proc.stderr.splitlines()
    relatd_line = text.split("category:")[0].count("\n") + 1
    assert f"content/notices/cp504.md:{relatd_line}: error: unknown key 'relatd' (did you mean 'related'?)" in err
    # CP504 has an error of its own, yet it still counts for references: the typo gets its suggestion.
    assert (f"content/notices/cp14.md:{lines}: error: in the text: page 'CP5O4' does not exist "
            f"(did you mean 'CP504'?)") in err
    assert "content/notices/broken.md:2: error: malformed YAML in front matter: a list opened with '[' is not closed with ']'" \
        in err
    assert err[-1].startswith("build failed: 3 errors")
    assert "Traceback" not in proc.stderr
    assert tree_bytes(root / "output") == before
    assert not list(root.glob(".output.*-*"))


def test_every_problem_of_one_file_is_reported_in_one_run(tmp_path):
    root = make_project(tmp_path / "site", base="bundled")
    cp504 = root / "content/notices/cp504.md"
    text = cp504.read_text().replace("category:", "relatd: [CP14]\ncategory:", 1)
    text = text.replace("updated: 2026-11-28", "updated: 2026-02-30")
    cp504.write_text(text + "\nSee [[CP5O4]] and [[LT 12]].\n")
    lines = text.split("\n")
    proc = run_build(root, "check")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"content/notices/cp504.md:{lines.index('relatd: [CP14]') + 1}: error: unknown key 'relatd' "
        "(did you mean 'related'?)",
        f"content/notices/cp504.md:{lines.index('updated: 2026-02-30') + 1}: error: '2026-02-30' is not a real date",
        f"content/notices/cp504.md:{len(lines) + 1}: error: in the text: page 'CP5O4' does not exist "
        "(did you mean 'CP504'?)",
        f"content/notices/cp504.md:{len(lines) + 1}: error: in the text: page 'LT 12' does not exist "
        "(did you mean 'LT11'?)",
        "build failed: 4 errors; output/ was not changed",
    ]


def test_dangling_link_to_an_existing_file_gets_did_you_mean(tmp_path):
    root = make_project(tmp_path / "site", base="bundled")
    cp14 = root / "content/notices/cp14.md"
    cp14.write_text(cp14.read_text() + "\nSee also [[CP5O4]].\n")
    lines = cp14.read_text().count("\n")
    proc = run_build(root, "check")
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[0] == (f"content/notices/cp14.md:{lines}: error: in the text: page 'CP5O4' "
                                           f"does not exist (did you mean 'CP504'?)")
    assert not (root / "output").exists()


def test_check_writes_nothing(tmp_path):
    root = make_project(tmp_path / "site", base="bundled")
    proc = run_build(root, "check")
    assert proc.returncode == 0, proc.stderr
    assert "nothing written" in proc.stdout
    assert not (root / "output").exists()


def test_help_explains_the_commands(tmp_path):
    proc = run_build(tmp_path, "--help")
    assert proc.returncode == 0
    for word in ["build", "check", "schema"]:
        assert word in proc.stdout


def test_base_url_option_publishes_at_that_address_through_the_cache(tmp_path):
    """`--base-url` (CI passes GitHub Pages' address) replaces site.toml's in every absolute address and
    in the 404 page's root-relative links; a build with another address, cache present, gives what a
    cold build with that address gives, and site.toml's own address comes back without the option."""
    root = make_project(tmp_path / "site", base="bundled")
    pages = "https://octo.github.io/tax-help"
    proc = run_build(root, "--no-search", "--base-url", pages)
    assert proc.returncode == 0, proc.stderr
    out = root / "output"
    assert f'<link rel="canonical" href="{pages}/notices/cp504/">' in (out / "notices/cp504/index.html").read_text()
    assert f"<loc>{pages}/notices/cp504/</loc>" in (out / "sitemap.xml").read_text()
    assert f"Sitemap: {pages}/sitemap.xml" in (out / "robots.txt").read_text()
    assert f"<id>{pages}/</id>" in (out / "feed.xml").read_text()
    assert 'href="/tax-help/feed.xml"' in (out / "404.html").read_text()
    placeholder = "https://example.org/notice-help-center/"
    assert not [p for p, data in tree_bytes(out).items() if placeholder.encode() in data]

    other = "https://help.example.net/"
    assert run_build(root, "--no-search", "--base-url", other).returncode == 0  # warm: every page again
    cold = make_project(tmp_path / "cold", base="bundled")
    assert run_build(cold, "--no-search", "--base-url", other).returncode == 0
    assert tree_bytes(out) == tree_bytes(cold / "output")

    assert run_build(root, "--no-search").returncode == 0
    assert f'<link rel="canonical" href="{placeholder}notices/cp504/">' in (out / "notices/cp504/index.html").read_text()


def test_a_base_url_that_is_not_an_address_is_refused_before_anything_is_built(tmp_path):
    root = make_project(tmp_path / "site", base="bundled")
    for bad, said in [("ftp://example.org/", "must start with https:// or http://"),
                      ("https://", "must be a plain address"), ("https://a b.org/", "must be a plain address"),
                      ("https://x.example//", "must be a plain address"), ("https://x.example/a/../", "must be a plain address"),
                      ("https://x.example:port/", "must be a plain address"), ("https://x.example/?a=1", "must be a plain address")]:
        proc = run_build(root, "--base-url", bad)
        assert proc.returncode == 2, bad
        assert f"error: argument --base-url: {said}" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (root / "output").exists()


def test_a_base_url_in_site_toml_that_would_break_links_is_an_error_on_its_line(tmp_path):
    root = make_project(tmp_path / "site", base="bundled")
    config = root / "site.toml"
    text = config.read_text().replace('base_url = "https://example.org/notice-help-center/"',
                                      'base_url = "https://example.org//"')
    config.write_text(text)
    line = text.split("\n").index('base_url = "https://example.org//"') + 1
    proc = run_build(root, "--no-search")
    assert proc.returncode == 1
    assert f"site.toml:{line}: error: base_url must be a plain address such as https://example.org/help/" in proc.stderr
    assert not (root / "output").exists()
    assert run_build(root, "--no-search", "--base-url", "https://example.org/help").returncode == 0  # the option wins
