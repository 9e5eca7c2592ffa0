"""`python -m bench` (`make bench`): every benchmark in one invocation; see bench/README.md and bench/main.py."""

from __future__ import annotations

import sys

from bench.main import main

if __name__ == "__main__":
    sys.exit(main())
