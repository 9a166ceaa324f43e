"""Two versions of the generator, timed in turns on the same synthetic site: is a change faster?

    python bench/ab.py --base HEAD~1                 # cold builds at 4000 notices, 8 pairs
    python bench/ab.py --base main --size 1000 --pairs 12 --edit

Timings on a shared 2-vCPU VM drift by 15-25% from one minute to the next, so two benchmark
runs made a few minutes apart cannot tell a 3% change from noise (round 12 of
docs/performance.md: two changes that looked faster in such runs were not). This script builds
with the two versions in turns (A B, B A, A B, ...), so both see the same drift, and reports the
medians, the median of the pairs' differences and how many pairs each side won.

A is `--base` (a git revision, checked out into a temporary worktree and removed at the end) or
`--other` (another checkout's folder); B is this checkout. Both build `bench/out/<N>/` with this
checkout's templates and static files (`run.prepare`): what is compared is the generator's code.
Each build is `python build.py --no-search` in a fresh process, as `run.py` times it
(`--search`: `python build.py`, the search index included):
* cold (default): output/, .cache/ and the spare tree moved aside first;
* `--edit`: a cold build (not timed), then one notice's body edited and the build timed;
* `--add`: as `--edit`, untimed, then notices added (`run.add_notice`) one after another, each
  built, and the build after the third timed (`ADDED`; the files removed after).
Besides wall time: the user and system CPU seconds of the build and its workers, and the peak
of the summed PSS (`run.timed`). What the builds leave is moved aside and deleted at the end
(`others.discard`); leave a minute before the next run, whose first builds would otherwise
create their files while the disk still steps over the inodes just freed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import others  # noqa: E402
import run  # noqa: E402


ADDED = 3
"""`--add` times the build after the third notice added in a row: the first two write every page
anew (the spare tree's pages are hard links to the live site's or the page store's), the third
writes over the spare tree's own pages (`write._overwrite`)."""
SETTLE = 60
"""Seconds to wait after deleting a previous run's trash: on this VM's ext4 the kernel steps over
every inode freed in the last minute or so when it creates files (see bench/run.py)."""


@contextmanager
def checkout(base: str | None, other: str | None) -> Iterator[Path]:
    """The folder of version A: `other` as it is, or `base` checked out for the length of the run."""
    if other:
        yield Path(other).resolve()
        return
    folder = Path(tempfile.mkdtemp(prefix="ab-base-"))
    subprocess.run(["git", "-C", str(run.PROJECT), "worktree", "add", "--detach", "--quiet", str(folder), base],
                   check=True)
    try:
        yield folder
    finally:
        subprocess.run(["git", "-C", str(run.PROJECT), "worktree", "remove", "--force", str(folder)], check=False)


def build(project: Path, root: Path, search: bool = False) -> tuple[float, float, float, float]:
    """(wall s, user s, system s, peak MiB) of one `build.py --no-search` (`search`: `build.py`)
    of `root` by `project`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, str(project / "build.py"), "build", "--root", str(root), *([] if search else ["--no-search"])]
    wall, peak = run.timed(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime, peak


def one(project: Path, root: Path, edit: bool, turn: int, search: bool = False,
        add: bool = False) -> tuple[float, float, float, float]:
    run.clean(root)
    if not (edit or add):
        return build(project, root, search)
    build(project, root, search)
    run.edit(root, turn)
    if not add:
        return build(project, root, search)
    build(project, root, search)
    added: list[Path] = []
    try:
        for n in range(ADDED):
            added.append(run.add_notice(root, ADDED * turn + n))
            timing = build(project, root, search)
        return timing
    finally:
        for path in added:
            path.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description="Time two versions of the generator in turns (see the module docstring).")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--base", help="version A: a git revision of this repository")
    which.add_argument("--other", help="version A: the folder of another checkout")
    ap.add_argument("--size", type=int, default=4000, help="notices in the synthetic site (default 4000)")
    ap.add_argument("--pairs", type=int, default=8, help="builds per version, in turns (default 8)")
    ap.add_argument("--edit", action="store_true", help="time a build after one edit instead of a cold build")
    ap.add_argument("--search", action="store_true", help="build with the search index (no --no-search)")
    ap.add_argument("--add", action="store_true",
                    help="time the build after the third notice added in a row (after a cold build and one edit)")
    args = ap.parse_args()
    root = run.prepare(args.size)
    results: dict[str, list[tuple[float, float, float, float]]] = {"A": [], "B": []}
    if others.TRASH.exists():  # left by an interrupted run: deleted, then a minute for the disk to settle
        others.empty_trash()
        time.sleep(SETTLE)
    try:
        with checkout(args.base, args.other) as a:
            sides = {"A": a, "B": run.PROJECT}
            for project in sides.values():  # each version's bytecode cached before the first timed build
                subprocess.run([sys.executable, "-c", "import site_src.cli, site_src.serve"], cwd=project,
                               env=run.BUILD_ENV, check=True)
            for turn in range(args.pairs):
                for side in ("A", "B") if turn % 2 == 0 else ("B", "A"):
                    results[side].append(one(sides[side], root, args.edit, turn, args.search, args.add))
                    print(f"pair {turn + 1}, {side}: {results[side][-1][0]:.2f} s", file=sys.stderr)
    finally:
        others.empty_trash()
    kind = "added-notice" if args.add else "one-edit" if args.edit else "cold"
    print(f"{kind} builds{' with search' if args.search else ''} of {args.size} notices, {args.pairs} in turns; "
          f"A = {args.base or args.other}, B = this checkout ({os.cpu_count()} CPUs)")
    print(f"{'':3} {'wall s':>7} {'user s':>7} {'sys s':>6} {'peak MiB':>8}   (medians)")
    for side in ("A", "B"):
        cols = list(zip(*results[side]))
        print(f"{side:3} " + " ".join(f"{statistics.median(c):{w}.2f}" for c, w in zip(cols, (7, 7, 6, 8))))
    diffs = [b[0] - a[0] for a, b in zip(results["A"], results["B"])]
    wins = sum(d < 0 for d in diffs)
    print(f"B - A, pair by pair: median {statistics.median(diffs):+.2f} s "
          f"({statistics.median(diffs) / statistics.median(r[0] for r in results['A']):+.1%}); "
          f"B faster in {wins} of {len(diffs)} pairs")


if __name__ == "__main__":
    main()
