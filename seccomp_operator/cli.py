"""The `seccomp-operator` command: a thin dispatcher over one module per subcommand.

Each module in `seccomp_operator.commands` exposes `add_parser(subparsers)` and `run(args) -> int`, and imports its
heavy dependencies inside `run`, so `seccomp-operator lint` starts fast and never loads kopf.

Exit codes: 0 success, 1 the command's check failed (for example a lint error), 2 usage or I/O error, or a setting
that cannot work (`commands/settings.py`: the message names the setting).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

COMMAND_MODULES = ("lint", "importer", "record", "agent", "controller", "demo")

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class _PrintVersion(argparse.Action):
    """`--version`: computed only when asked (it loads libseccomp to report its version)."""

    def __init__(self, option_strings: list[str], dest: str, **_: Any) -> None:
        super().__init__(
            option_strings, dest, nargs=0, help="print the version and the Python and libseccomp in use, and exit"
        )

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from seccomp_operator.observability import version_line

        print(version_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seccomp-operator",
        description="Validate SeccompProfile resources and install them on every node.",
    )
    parser.add_argument("--version", action=_PrintVersion)
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
    from seccomp_operator.commands.settings import SettingError

    try:
        result: int = args.run(args)
    except SettingError as exc:
        print(f"seccomp-operator {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return result


if __name__ == "__main__":
    sys.exit(main())
