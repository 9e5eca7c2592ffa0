"""The `seccomp-operator` command: a thin dispatcher over one module per subcommand.

Each module in `seccomp_operator.commands` exposes `add_parser(subparsers)` and `run(args) -> int`, and imports its
heavy dependencies inside `run`, so `seccomp-operator lint` starts fast and never loads kopf.

Exit codes: 0 success, 1 the command's check failed (for example a lint error), 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = ("lint", "importer", "record", "agent", "controller", "demo")

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seccomp-operator",
        description="Validate SeccompProfile resources and install them on every node.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"seccomp_operator.commands.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
