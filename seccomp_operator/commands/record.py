"""`seccomp-operator record [options] -- COMMAND [ARGS...]`: run a command, record every system call of it, its
threads and its children, and print a SeccompProfile manifest that allows exactly those (plus the container
runtime's own calls before exec and the vDSO-served clock calls, see `seccomp_operator/profile/recording.py`).

Recording uses seccomp user notification, so no call can be missed or rate-limited (seccomp_operator/record/README.md).
Without `-o` the manifest goes to stdout and the command's stdout is sent to stderr, so the two never mix.

Exit codes: 0 the profile was written and allows everything the command did; 1 no profile (an error says why), or
the profile was written but the command failed or made a call no profile can name (a warning says which); 2 usage
error, command not found, or this machine cannot record.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from seccomp_operator.commands.lint import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from seccomp_operator.profile.recording import NamedCalls
    from seccomp_operator.record.local import Recording

RUNTIMES = ("runc", "runc-no-new-privileges", "none")


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "record",
        help="run a command and print a SeccompProfile allowing exactly the system calls it made",
        description="Run COMMAND, record every system call of it, its threads and its children (seccomp user "
        "notification: exact, nothing rate-limited), and print a SeccompProfile manifest: default action "
        "SCMP_ACT_ERRNO, the recorded calls allowed, for each architecture the command used.",
        usage="%(prog)s [options] -- COMMAND [ARGS...]",
    )
    parser.add_argument("--name", help="metadata.name (default: derived from the command's file name)")
    parser.add_argument("--namespace", help="metadata.namespace")
    parser.add_argument(
        "--arch",
        metavar="ARCH,...",
        help="the profile's architectures (default: those the command used; leaving one of those out is an error)",
    )
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="runc",
        help="also allow this runtime's own calls between loading the filter and exec: `runc` (both "
        "noNewPrivileges settings), `runc-no-new-privileges` (only for containers with "
        "allowPrivilegeEscalation: false), `none` (default: runc)",
    )
    parser.add_argument(
        "--errno", default="EPERM", metavar="ERRNO", help="errno for calls the profile refuses (default: EPERM)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="SECONDS",
        help="stop the command (SIGTERM, then SIGKILL after --grace) after this long; interrupting does the same",
    )
    parser.add_argument(
        "--grace", type=float, default=10.0, metavar="SECONDS", help="from SIGTERM to SIGKILL when stopping"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the manifest to FILE instead of stdout")
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="also write a JSON report: how often each syscall was called per architecture, tasks, exit status",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND", help="the command to record")
    parser.set_defaults(run=run)


def default_name(command: str) -> str:
    """A valid object name from the command's file name: `python3.11` -> `python3.11`, `My_App` -> `my-app`."""
    base = os.path.basename(command).lower()
    name = re.sub(r"[^a-z0-9.-]+", "-", base).strip("-.")
    return name[:63].strip("-.") or "recorded"


def run(args: argparse.Namespace) -> int:
    from seccomp_operator.profile.arches import lookup_alias
    from seccomp_operator.profile.errnos import errno_number
    from seccomp_operator.profile.model import MAX_ERRNO

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print("error: no command given: seccomp-operator record [options] -- COMMAND [ARGS...]", file=sys.stderr)
        return EXIT_USAGE
    architectures: list[str] | None = None
    if args.arch is not None:
        architectures = []
        for item in filter(None, (part.strip() for part in args.arch.split(","))):
            info = lookup_alias(item)
            if info is None or not info.runc:
                print(f"error: --arch: unknown architecture {item!r}", file=sys.stderr)
                return EXIT_USAGE
            architectures.append(info.spec_name)
    errno = errno_number(args.errno.upper() if not args.errno.isdigit() else args.errno)
    if errno is None or not 0 <= errno <= MAX_ERRNO:
        print(f"error: --errno: {args.errno!r} is not an errno name or a number in 0..{MAX_ERRNO}", file=sys.stderr)
        return EXIT_USAGE
    for option in ("duration", "grace"):
        value = getattr(args, option)
        if value is not None and value < 0:
            print(f"error: --{option} must not be negative", file=sys.stderr)
            return EXIT_USAGE
    return _record(args, command, architectures, errno)


def _progress(line: str) -> None:
    print(f"seccomp-operator record: {line}", file=sys.stderr, flush=True)


def _record(args: argparse.Namespace, command: list[str], architectures: list[str] | None, errno: int) -> int:
    import yaml

    from seccomp_operator.profile.recording import build_recorded_manifest, name_calls
    from seccomp_operator.record.local import RecordError, record_command

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        recording = record_command(
            command,
            stdout_fd=None if args.output else sys.stderr.fileno(),
            duration=args.duration,
            grace=args.grace,
            progress=_progress,
        )
    except RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    named = name_calls(recording.calls)
    result = build_recorded_manifest(
        named,
        name=args.name or default_name(command[0]),
        namespace=args.namespace,
        architectures=architectures,
        runtime=args.runtime,
        errno=errno,
    )
    split_names = [f for f in result.findings if f.code == "syscall-missing-on-arch"]
    for finding in result.findings:
        if finding not in split_names:
            print(f"{finding.severity}: {finding.message}", file=sys.stderr)
    if split_names:
        _progress(
            f"{len(split_names)} of the names exist on only some of {', '.join(result.architectures)}; a rule "
            "applies to every architecture and libseccomp skips a name where it does not exist"
        )
    if result.manifest is None:
        print("error: no profile written", file=sys.stderr)
        return EXIT_FINDINGS
    text = yaml.safe_dump(result.manifest, explicit_start=True, sort_keys=False, width=100)
    try:
        if args.report:
            _write(args.report, json.dumps(_report(recording, named), indent=2) + "\n")
        _write(args.output, text)
    except OSError as exc:
        print(f"error: cannot write: {exc}", file=sys.stderr)
        return EXIT_USAGE
    per_arch = ", ".join(f"{len(named.names[arch])} on {arch}" for arch in result.architectures if arch in named.names)
    _progress(
        f"recorded {len(result.recorded)} distinct syscalls ({per_arch}); {recording.notifications} calls from "
        f"{len(recording.tasks)} processes and threads in {recording.seconds:.2f}s; added {len(result.added)} for "
        f"the runtime ({args.runtime}) and the vDSO; wrote {args.output or 'the manifest to stdout'}"
    )
    if named.unnamed:
        _progress("the profile cannot allow every call the command made (see the warnings above)")
        return EXIT_FINDINGS
    if recording.stopped_by is None and recording.exit_status != 0:
        _progress(f"the command failed (exit status {recording.exit_status}); the profile covers that run only")
        return EXIT_FINDINGS
    return EXIT_OK


def _report(recording: Recording, named: NamedCalls) -> dict[str, object]:
    from seccomp_operator.profile.recording import arch_of, syscall_name

    calls: dict[str, dict[str, int]] = {}
    for (token, number), count in sorted(recording.calls.items()):
        arch, lib_number = arch_of(token, number)
        name = (syscall_name(arch, lib_number) if arch else None) or str(number)
        per_arch = calls.setdefault(arch or f"{token:#x}", {})
        per_arch[name] = per_arch.get(name, 0) + count
    return {
        "command": list(recording.command),
        "exitStatus": recording.exit_status,
        "stoppedBy": recording.stopped_by,
        "killed": recording.killed,
        "seconds": round(recording.seconds, 3),
        "tasks": len(recording.tasks),
        "notifications": recording.notifications,
        "calls": calls,
        "unnamed": [{"architecture": arch, "number": number} for arch, number in named.unnamed],
    }


def _write(path: str | None, text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temporary, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
