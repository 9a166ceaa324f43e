"""Build-speed benchmark: cold, warm and one-edit builds at several sizes, with peak memory.

    python bench/run.py                       # N = 250 1000 4000 16000, 3 runs each (median)
    python bench/run.py --sizes 1000 4000 --runs 3 --hugo --search

Each size is generated once under bench/out/<N>/ (bench/generate.py, deterministic). Every
build is `python build.py --no-search` in a fresh process, as a writer or CI would run it:
* cold: output/ and .cache/ removed first;
* warm: nothing changed since the previous build, cache present;
* one edit: one notice's body changed (a different sentence each run), cache present;
* search: a warm build with the Pagefind index minus the same build without (when the
  project wires Pagefind in and it is available);
* Hugo (--hugo, if `hugo` is on PATH): the same notices as a bare Hugo site, cold.
Peak memory is the highest sum of the proportional set size (PSS) of the build process and
all its workers, sampled every 10 ms from /proc.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak MiB (sum of PSS over the process tree) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(_pss_kib(p) for p in _tree(proc.pid)))
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-2000:]}")
    return elapsed, peak / 1024


def build_cmd(root: Path, search: bool = False) -> list[str]:
    return [sys.executable, str(PROJECT / "build.py"), "build", "--root", str(root)] + ([] if search else ["--no-search"])


def prepare(n: int) -> Path:
    root = HERE / "out" / str(n)
    stamp = root / ".generated"
    if not stamp.exists() or stamp.read_text() != str(n):
        generate(n, root)
        stamp.write_text(str(n))
    for name in ("templates", "static"):  # always today's templates and static files
        shutil.rmtree(root / name, ignore_errors=True)
        shutil.copytree(PROJECT / name, root / name)
    shutil.copy(PROJECT / "site.toml", root / "site.toml")
    return root


def clean(root: Path, cache: bool = True) -> None:
    shutil.rmtree(root / "output", ignore_errors=True)
    if cache:
        shutil.rmtree(root / ".cache", ignore_errors=True)


def edit(root: Path, run: int) -> None:
    target = sorted((root / "content" / "notices").glob("*.md"))[len(list((root / "content" / "notices").glob("*.md"))) // 2]
    text = target.read_text(encoding="utf-8").rstrip("\n").rsplit("\n<!-- bench -->", 1)[0]
    target.write_text(text + f"\n<!-- bench -->\n\nEdited paragraph number {run} for the benchmark.\n", encoding="utf-8")


def hugo_site(root: Path, n: int) -> Path:
    """The same notices as a bare Hugo site: a single template showing title, body, FAQs and related."""
    site = HERE / "out" / f"hugo-{n}"
    if not (site / "content").exists():
        (site / "layouts" / "_default").mkdir(parents=True, exist_ok=True)
        shutil.copytree(root / "content" / "notices", site / "content" / "notices")
        (site / "config.toml").write_text('baseURL = "https://example.org/"\ntitle = "Notices"\n'
                                          'disableKinds = ["taxonomy", "term"]\n')
        (site / "layouts" / "_default" / "single.html").write_text(
            "<!DOCTYPE html><html lang=\"en\"><head><title>{{ .Title }}</title>"
            "<meta name=\"description\" content=\"{{ .Params.summary }}\"></head><body><h1>{{ .Title }}</h1>"
            "<section>{{ .Params.quick_answer | markdownify }}</section>{{ .Content }}"
            "{{ range .Params.faqs }}<details><summary>{{ .question }}</summary>{{ .answer | markdownify }}</details>{{ end }}"
            "<ul>{{ range .Params.related }}<li>{{ . }}</li>{{ end }}</ul></body></html>\n")
        (site / "layouts" / "_default" / "list.html").write_text(
            "<!DOCTYPE html><html><body><ul>{{ range .Pages }}<li><a href=\"{{ .RelPermalink }}\">{{ .Title }}</a>"
            "</li>{{ end }}</ul></body></html>\n")
    return site


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description="Build-speed benchmark (see the module docstring).")
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 4000, 16000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hugo", action="store_true", help="also time Hugo on the same notices (needs `hugo`)")
    ap.add_argument("--search", action="store_true", help="also time the search index (Pagefind)")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    header = f"{'N':>6} | {'cold s':>7} | {'ms/page':>7} | {'warm s':>6} | {'1 edit s':>8} | {'peak MiB':>8}"
    extra = []
    if args.hugo:
        header += f" | {'Hugo s':>6} | {'ratio':>5}"
    if args.search:
        header += f" | {'search s':>8}"
    rows = [header, "-" * len(header)]
    for n in args.sizes:
        root = prepare(n)
        cold, warm, one, peaks = [], [], [], []
        for run in range(args.runs):
            clean(root)
            t, m = timed(build_cmd(root))
            cold.append(t)
            peaks.append(m)
            t, m = timed(build_cmd(root))
            warm.append(t)
            peaks.append(m)
            edit(root, run)
            t, m = timed(build_cmd(root))
            one.append(t)
            peaks.append(m)
        row = (f"{n:>6} | {median(cold):>7.2f} | {median(cold) / (n + 7) * 1000:>7.2f} | {median(warm):>6.2f} | "
               f"{median(one):>8.2f} | {max(peaks):>8.0f}")
        if args.hugo:
            if shutil.which("hugo"):
                site = hugo_site(root, n)
                times = []
                for _ in range(args.runs):
                    shutil.rmtree(site / "public", ignore_errors=True)
                    shutil.rmtree(site / "resources", ignore_errors=True)
                    times.append(timed(["hugo", "--quiet", "-s", str(site)])[0])
                row += f" | {median(times):>6.2f} | {median(cold) / median(times):>5.2f}"
            else:
                row += f" | {'n/a':>6} | {'n/a':>5}"
        if args.search:
            with_search = [timed(build_cmd(root, search=True))[0] for _ in range(args.runs)]
            without = [timed(build_cmd(root))[0] for _ in range(args.runs)]
            row += f" | {median(with_search) - median(without):>8.2f}"
        rows.append(row)
        print(row if len(rows) > 3 else "\n".join(rows), flush=True)
    print("\n".join(rows + extra))


if __name__ == "__main__":
    main()
