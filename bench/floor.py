"""The floor: a bare Python pipeline doing what the bare Hugo project of bench/others.py does.

    python bench/floor.py SITE     # reads SITE/content/notices/*.md, writes SITE/output/

Not a generator: a yardstick for docs/performance.md, run by `bench/run.py --floor` beside ours
and Hugo's. Per notice it reads the file, parses the front matter with PyYAML's C loader (no
line numbers, no duplicate-key check, no schema), renders the quick answer, body and FAQ answers
with markdown-it-pyrs (no `[[CODE]]` links, heading ids or link checks), fills one Jinja2
template with the fields Hugo's bench template shows, and writes `notices/<code>/index.html`;
then one redirect page per alias (as Hugo writes for `aliases:`) and a list of every notice.
Two forked workers, as the two cores allow. No cache, no check, no graph, no catalogue, sitemap
or feed: what it costs is what the libraries themselves cost for Hugo's share of the work, so
the distance from it to our build is our own per-page work (the checks, the richer pages, the
related graph, the cache), not Python's.
"""

from __future__ import annotations

import os
import sys
import time
from multiprocessing import get_context

START = time.perf_counter()

import jinja2  # noqa: E402
import markdown_it_pyrs  # noqa: E402
import yaml  # noqa: E402
from markupsafe import Markup  # noqa: E402 (Jinja2's own dependency)

_ENV = jinja2.Environment(autoescape=True)
_NOTICE = _ENV.from_string(
    '<!DOCTYPE html><html lang="en"><head><title>{{ title }}</title>'
    '<meta name="description" content="{{ summary }}"></head><body><h1>{{ title }}</h1>'
    "<section>{{ quick_answer }}</section>{{ body }}"
    "{% for f in faqs %}<details><summary>{{ f.question }}</summary>{{ f.answer }}</details>{% endfor %}"
    "<ul>{% for r in related %}<li>{{ r }}</li>{% endfor %}</ul></body></html>\n")
_ALIAS = _ENV.from_string(
    '<!DOCTYPE html><html lang="en"><head><title>{{ url }}</title><link rel="canonical" href="{{ url }}">'
    '<meta name="robots" content="noindex"><meta charset="utf-8">'
    '<meta http-equiv="refresh" content="0; url={{ url }}"></head></html>\n')
_LIST = _ENV.from_string(
    '<!DOCTYPE html><html><body><ul>{% for code, title in items %}<li><a href="{{ code }}/">{{ title }}</a></li>'
    "{% endfor %}</ul></body></html>\n")
_MD = markdown_it_pyrs.MarkdownIt("commonmark").enable("table")


def _write(out: str, rel: str, html: str) -> None:
    path = os.path.join(out, rel, "index.html")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(html)


def _notices(job: tuple[str, str, list[str]]) -> list[tuple[str, str]]:
    """Render and write the notices `names`; their (code, title)."""
    src, out, names = job
    listed = []
    for name in names:
        with open(os.path.join(src, name), encoding="utf-8") as fh:
            _, front, body = fh.read().split("---\n", 2)
        data = yaml.load(front, Loader=yaml.CSafeLoader)
        slug = name[:-3]
        html = _NOTICE.render(  # Markup: the renderer's HTML, not text to escape
            title=data["title"], summary=data.get("summary", ""),
            quick_answer=Markup(_MD.render(data.get("quick_answer", ""))), body=Markup(_MD.render(body)),
            faqs=[{"question": f["question"], "answer": Markup(_MD.render(f["answer"]))} for f in data.get("faqs") or []],
            related=data.get("related") or [])
        _write(out, f"notices/{slug}", html)
        for alias in data.get("aliases") or []:
            _write(out, f"notices/{alias}", _ALIAS.render(url=f"https://example.org/notices/{slug}/"))
        listed.append((slug, data["title"]))
    return listed


def main(site: str) -> int:
    src, out = os.path.join(site, "content", "notices"), os.path.join(site, "output")
    names = sorted(n for n in os.listdir(src) if n.endswith(".md"))
    jobs = [(src, out, names[i::16]) for i in range(16)]
    with get_context("fork").Pool(2) as pool:
        listed = sorted(item for part in pool.map(_notices, jobs) for item in part)
    _write(out, "notices", _LIST.render(items=listed))
    print(f"{len(listed)} notices in {time.perf_counter() - START:.2f} s (in process)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
