"""Dev-server latency: from saving one notice to the rebuilt page being served.

    python bench/serve_latency.py --n 4000 --runs 5
    python bench/serve_latency.py --n 4000 --runs 5 --title   # edit the title instead
    python bench/serve_latency.py --n 4000 --runs 5 --browser # wait as a browser does

Starts `python build.py serve` on the synthetic site bench/out/<N>/ (bench/run.py's generator),
waits for the first build, then, each run, appends a unique sentence to one notice's body (or,
with --title, to its title, which ~20 pages show) and polls that notice's URL until the response
contains it. With --browser it waits instead as the page open in a browser does: on the server's
live-reload connection for the reload message, then fetches the page once (and checks it shows
the sentence); no requests reach the server while it rebuilds. Prints each latency, the median and
the slowest (a median hides a step that only every 25th save pays, as the server's periodic full
garbage collection did until round 17).
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


class _LiveReload:
    """The live-reload connection of a page open in a browser (livereload's protocol 7)."""

    def __init__(self, port: int, page_url: str):
        import asyncio
        import json

        from tornado.websocket import websocket_connect

        self.loop, self.json = asyncio.new_event_loop(), json

        async def connect():
            ws = await websocket_connect(f"ws://127.0.0.1:{port}/livereload")
            await ws.write_message(json.dumps({"command": "hello",
                                               "protocols": ["http://livereload.com/protocols/official-7"]}))
            assert json.loads(await ws.read_message())["command"] == "hello"
            await ws.write_message(json.dumps({"command": "info", "url": page_url, "plugins": {}}))
            return ws
        self.ws = self.loop.run_until_complete(connect())

    def drain(self) -> None:
        """Read what the server sent since the last reload (nothing, normally)."""
        import asyncio

        async def pending():
            try:
                return await asyncio.wait_for(self.ws.read_message(), 0.05)
            except asyncio.TimeoutError:
                return None
        while self.loop.run_until_complete(pending()) is not None:
            pass

    def close(self) -> None:
        self.ws.close()
        self.loop.close()

    def wait(self) -> None:
        """Until the server tells the browser to reload."""
        import asyncio

        async def message():
            return await asyncio.wait_for(self.ws.read_message(), 120)
        while True:
            text = self.loop.run_until_complete(message())
            if text is None:
                raise SystemExit("the server closed the live-reload connection")
            if self.json.loads(text).get("command") == "reload":
                return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--title", action="store_true", help="edit the notice's title, not its body")
    ap.add_argument("--browser", action="store_true", help="wait for live-reload's message, not by polling")
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
        reloads = _LiveReload(port, url) if args.browser else None
        for run in range(args.runs):
            marker = f"Latency probe {run} {time.time_ns()}"
            time.sleep(1.0)  # let the previous rebuild settle
            if reloads is not None:
                reloads.drain()
            saved = time.perf_counter()
            if args.title:
                edited = re.sub(r'^(title: "[^"\n]*)"$', lambda m: f'{m.group(1)} {marker}"', original,
                                count=1, flags=re.M)
                assert edited != original, f"no title line in {target}"
            else:
                edited = original + f"\n{marker}\n"
            target.write_text(edited, encoding="utf-8")
            if reloads is not None:
                reloads.wait()
                if marker.encode() not in fetch(url):
                    raise SystemExit("the browser was told to reload before the page was rebuilt")
            else:
                while marker.encode() not in fetch(url):
                    if time.perf_counter() - saved > 120:
                        raise SystemExit("the edit never showed up")
                    time.sleep(0.01)
            latencies.append(time.perf_counter() - saved)
            print(f"run {run}: {latencies[-1] * 1000:.0f} ms", flush=True)
        print(f"N={args.n}: save -> served, median {statistics.median(latencies) * 1000:.0f} ms, "
              f"slowest {max(latencies) * 1000:.0f} ms (save {latencies.index(max(latencies))})")
        if reloads is not None:
            reloads.close()
    finally:
        target.write_text(original, encoding="utf-8")
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
