#!/usr/bin/env python3
"""Command-line entry: `python build.py --help`."""
import os
import sys

from site_src.cli import main

if __name__ == "__main__":
    code = main()
    # Ended without tearing the interpreter down: freeing a build's millions of objects one by
    # one (every loaded page, the site, the caches) takes ~0.1 s at 4000 notices, for nothing.
    # Everything the build opened is closed by now (its cache, its worker pools, its files).
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a closed pipe (`| head`): nothing more can be said
        pass
    os._exit(code)
