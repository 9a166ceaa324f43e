"""Dev-server latency: from saving one notice to the rebuilt page being served.

    python bench/serve_latency.py --n 4000 --runs 5
    python bench/serve_latency.py --n 4000 --runs 5 --title   # edit the title instead

Starts `python build.py serve` on the synthetic site bench/out/<N>/ (bench/run.py's generator),
waits for the first build, then, each run, appends a unique sentence to one notice's body (or,
with --title, to its title, which ~20 pages show) and polls that notice's URL until the response
contains it. Prints each latency and the median.
The timings are measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))

from run import prepare  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.read()
    except OSError:
        return b""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--title", action="store_true", help="edit the notice's title, not its body")
    args = ap.parse_args()
    root = prepare(args.n)
    notices = sorted((root / "content" / "notices").glob("*.md"))
    target = notices[len(notices) // 3]
    url_path = f"notices/{target.stem}/"
    original = target.read_text(encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(PROJECT / "build.py"), "serve", "--root", str(root),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/{url_path}"
    try:
        start = time.perf_counter()
        while not fetch(url):
            if proc.poll() is not None or time.perf_counter() - start > 300:
                raise SystemExit("the server did not come up")
            time.sleep(0.1)
        print(f"first build served after {time.perf_counter() - start:.1f} s")
        latencies = []
        for run in range(args.runs):
            marker = f"Latency probe {run} {time.time_ns()}"
            time.sleep(1.0)  # let the previous rebuild settle
            saved = time.perf_counter()
            if args.title:
                edited = re.sub(r'^(title: "[^"\n]*)"$', lambda m: f'{m.group(1)} {marker}"', original,
                                count=1, flags=re.M)
                assert edited != original, f"no title line in {target}"
            else:
                edited = original + f"\n{marker}\n"
            target.write_text(edited, encoding="utf-8")
            while marker.encode() not in fetch(url):
                if time.perf_counter() - saved > 120:
                    raise SystemExit("the edit never showed up")
                time.sleep(0.01)
            latencies.append(time.perf_counter() - saved)
            print(f"run {run}: {latencies[-1] * 1000:.0f} ms", flush=True)
        print(f"N={args.n}: save -> served, median {statistics.median(latencies) * 1000:.0f} ms")
    finally:
        target.write_text(original, encoding="utf-8")
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
