#!/usr/bin/env python3
"""Command-line entry: `python build.py --help`."""
from site_src.cli import end, main

if __name__ == "__main__":
    end(main())
