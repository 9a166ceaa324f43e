"""Build-speed benchmark: cold, warm and one-edit builds at several sizes, with peak memory.

    python bench/run.py                       # N = 250 1000 4000 16000, 3 runs each (median)
    python bench/run.py --sizes 1000 4000 --runs 3 --hugo --search
    python bench/run.py --sizes 1000 4000 --runs 3 --hugo --mkdocs /tmp/othergen-venv/bin/mkdocs \
        --pelican /tmp/othergen-venv/bin/pelican

Each size is generated once under bench/out/<N>/ (bench/generate.py, deterministic). Every
build is `python build.py --no-search` in a fresh process, as a writer or CI would run it:
* cold: output/ and .cache/ removed first;
* warm: nothing changed since the previous build, cache present;
* one edit: one notice's body changed (a different sentence each run), cache present;
* what a cold build removes first (ours and the other generators') is moved aside into
  bench/out/.trash and deleted only when the benchmark ends: on this VM's ext4 (no journal),
  creating files within a minute or so of deleting thousands makes the kernel scan past every
  recently freed inode, which added up to ~3 s of system time to whichever build came next;
* next edit: the same notice changed again right after (a writer's next save: the publish now
  has the site it replaced, `.output.spare`, to update rather than a fresh folder);
* title edit: then that notice's title changed (it shows on the pages that link it, the home
  page and the notice list, and in the lookup data);
* new notice: then a notice added (a copy of that one under a new code, following it: it joins
  its collection sequence, the lists of all notices and the lookup data, whose new name every
  page shows); removed again after;
* search: a cold build with the Pagefind index minus a cold build without, in pairs (when the
  project wires Pagefind in and it is available);
* other generators (--hugo, --mkdocs, --pelican; bench/others.py): the same notices as a bare
  Hugo, MkDocs or Pelican project, cold (output and caches removed first), in the same runs as
  ours; each option takes the command's path or, bare, looks it up on PATH; a missing one is
  reported and its columns show n/a.
Peak memory is the highest sum of the proportional set size (PSS) of the build process and
all its workers, sampled every 10 ms from /proc.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))

import others  # noqa: E402
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


BUILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""The timed commands' environment: Python caches compiled modules as it does on a writer's
machine or in CI. This VM sets PYTHONDONTWRITEBYTECODE=1, with which every build would compile
the generator's own modules again (an editable install has no cached bytecode): ~60 ms a build.
The other generators' packages were compiled when pip installed them."""


def timed(cmd: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak MiB (sum of PSS over the process tree) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=BUILD_ENV)
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
    others.discard(root / "output")
    others.discard(root / ".output.spare")  # the previous site, kept by write.publish
    if cache:
        others.discard(root / ".cache")


def edited_notice(root: Path) -> Path:
    notices = sorted((root / "content" / "notices").glob("*.md"))
    return notices[len(notices) // 2]


def edit(root: Path, run: int) -> None:
    target = edited_notice(root)
    text = target.read_text(encoding="utf-8").rstrip("\n").rsplit("\n<!-- bench -->", 1)[0]
    # time_ns: a different sentence even in the same run of a later invocation (else nothing changed)
    target.write_text(text + f"\n<!-- bench -->\n\nEdited paragraph number {run}-{time.time_ns()} for the benchmark.\n",
                      encoding="utf-8")


def retitle(root: Path) -> None:
    target = edited_notice(root)
    text = target.read_text(encoding="utf-8")
    new = re.sub(r'^(title: "[^"\n]*?)(?: \(rev \d+\))?"$', lambda m: f'{m.group(1)} (rev {time.time_ns()})"',
                 text, count=1, flags=re.M)
    assert new != text, f"no title line in {target}"
    target.write_text(new, encoding="utf-8")


def add_notice(root: Path, run: int) -> Path:
    """A new notice (a copy of the edited one under a new code, following it): its file."""
    source = edited_notice(root)
    text = source.read_text(encoding="utf-8")
    code = re.search(r"^code: (.+)$", text, re.M).group(1).strip()
    new_code = f"CP{90000 + run}"
    lines = [line for line in text.split("\n") if not line.startswith(("aliases:", "similar:", "follows:"))]
    text = "\n".join(lines).replace(f"code: {code}", f"code: {new_code}", 1)
    text = re.sub(r'^title: "[^"\n]*"$', f'title: "{new_code}: A notice added for the benchmark"', text, count=1, flags=re.M)
    text = text.replace("\ncategory:", f"\nfollows: [{code}]\ncategory:", 1)
    target = source.with_name(f"{new_code.lower()}.md")
    target.write_text(text, encoding="utf-8")
    return target


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description="Build-speed benchmark (see the module docstring).")
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 4000, 16000])
    ap.add_argument("--runs", type=int, default=3)
    for other in others.OTHERS:
        ap.add_argument(f"--{other.key}", nargs="?", const=other.command, metavar="EXE",
                        help=f"also time {other.name} cold on the same notices (EXE: its path; "
                             f"default `{other.command}` on PATH)")
    ap.add_argument("--search", action="store_true", help="also time the search index (Pagefind)")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    chosen = [(other, others.find(getattr(args, other.key))) for other in others.OTHERS
              if getattr(args, other.key)]
    for other, exe in chosen:
        print(f"{other.name}: {others.version(other, exe) if exe else 'not found, skipped (n/a)'}"
              f" ({exe or getattr(args, other.key)})")
    header = (f"{'N':>6} | {'cold s':>7} | {'ms/page':>7} | {'warm s':>6} | {'1 edit s':>8} | {'next edit':>9} | "
              f"{'title edit':>10} | {'new notice':>10} | {'peak MiB':>8}")
    for other, _ in chosen:
        header += other.header()
    if args.search:
        header += f" | {'search s':>8}"
    rows = [header, "-" * len(header)]
    others.empty_trash()
    try:
        measure(args, chosen, rows)
    finally:
        others.empty_trash()
    print("\n".join(rows))


def measure(args, chosen, rows: list[str]) -> None:
    for n in args.sizes:
        root = prepare(n)
        sites = {other.key: others.mirror(other, root, n) for other, exe in chosen if exe}
        cold, warm, one, again, titled, added, peaks = [], [], [], [], [], [], []
        theirs: dict[str, list[float]] = {key: [] for key in sites}
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
            edit(root, run)  # a writer's next save: the site before the last publish is kept to update
            t, m = timed(build_cmd(root))
            again.append(t)
            peaks.append(m)
            retitle(root)
            t, m = timed(build_cmd(root))
            titled.append(t)
            peaks.append(m)
            added_file = add_notice(root, run)
            t, m = timed(build_cmd(root))
            page = root / "output" / "notices" / added_file.stem / "index.html"
            assert page.exists(), f"the build with {added_file.name} added failed"
            added.append(t)
            peaks.append(m)
            added_file.unlink()  # the site as generated again
            for other, exe in chosen:
                if exe:  # in the same run as ours, so both see the same load on a shared machine
                    others.clean(other, sites[other.key])
                    theirs[other.key].append(timed(other.build(exe, sites[other.key]), cwd=sites[other.key])[0])
        row = (f"{n:>6} | {median(cold):>7.2f} | {median(cold) / (n + 7) * 1000:>7.2f} | {median(warm):>6.2f} | "
               f"{median(one):>8.2f} | {median(again):>9.2f} | {median(titled):>10.2f} | {median(added):>10.2f} | "
               f"{max(peaks):>8.0f}")
        for other, exe in chosen:
            row += other.row(median(cold), median(theirs[other.key]) if exe else None)
        if args.search:  # cold both (a warm build reuses the last one whole, index and all)
            with_search, without = [], []
            for _ in range(args.runs):
                clean(root)
                with_search.append(timed(build_cmd(root, search=True))[0])
                clean(root)
                without.append(timed(build_cmd(root))[0])
            row += f" | {median(with_search) - median(without):>8.2f}"
        rows.append(row)
        print(row if len(rows) > 3 else "\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
