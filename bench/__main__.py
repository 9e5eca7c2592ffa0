"""`python -m bench`: the scale benchmark (see bench/README.md). The profile-core benchmark is `bench.profile_core`."""

from __future__ import annotations

import sys

from bench.scale import main

if __name__ == "__main__":
    sys.exit(main())
