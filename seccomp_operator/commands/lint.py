"""`seccomp-operator lint [--json] [--strict] [--ignore CODE,...] PATH...`: check profiles and SeccompProfile manifests.

Reads bare OCI profiles (JSON) and YAML/JSON files holding SeccompProfile resources; `-` is stdin. One line per
finding, `PATH:POINTER: error|warning: message`. POINTER is the RFC 6901 pointer of the field; in a YAML stream it
is prefixed with the document's position, `doc2/spec/syscalls/0/names/0` (1-based, counting `---` documents); for the
whole document it is just `doc2` (or nothing, for a JSON file). A file that cannot be read as JSON or YAML the way
the runtimes read it is one finding at its line and column: `PATH:LINE:COLUMN: error: message`. Profiles are
checked merged with their base profiles when those are among the files given. `--json` prints one JSON object
(`SCHEMA_VERSION`, documented in seccomp_operator/profile/README.md) instead.

Exit codes: 0 no error; 1 an error in a file (including a file the runtimes cannot parse), or with --strict a
warning; 2 nothing to do with the files' content: bad arguments, a file that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seccomp_operator.profile import Document, Finding

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
SCHEMA_VERSION = 1


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "lint",
        help="check seccomp profiles and SeccompProfile manifests",
        description="Check bare OCI seccomp profiles (JSON) and SeccompProfile manifests (YAML or JSON). Exit "
        "status: 0 no error, 1 an error in a file (or a warning with --strict), 2 bad arguments or an unreadable "
        "file.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="file to check, or - for stdin")
    parser.add_argument("--json", action="store_true", help="print one JSON object (schemaVersion 1) instead")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1) on warnings too")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="CODE[,CODE...]",
        help="silence warnings with these codes (repeatable); errors cannot be silenced. In a manifest, the "
        "annotation seccomp-operator.io/lint-ignore does the same for that profile",
    )
    parser.set_defaults(run=run)


def read_bytes(path: str) -> bytes:
    """The content of PATH (or stdin for `-`); OSError when it cannot be read."""
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def read_input(path: str) -> str:
    """The text of PATH (or stdin for `-`): OSError when it cannot be read, ParseError when it is not UTF-8."""
    from seccomp_operator.profile.parse import decode

    return decode(read_bytes(path))


def location(path: str, label: str, pointer: str) -> str:
    """`PATH:doc2/spec/x`, `PATH:/x`; just `PATH` for the whole of a JSON file."""
    return f"{path}:{label}{pointer}" if label or pointer else path


def _other_kind(data: object) -> bool:
    """A Kubernetes object of another kind and group: neither a SeccompProfile nor a likely typo of one."""
    if not isinstance(data, dict):
        return False
    kind, api_version = data.get("kind"), data.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return False
    return "seccomp" not in kind.lower() and "seccomp" not in api_version.lower()


@dataclass
class Record:
    """One line of output: a finding in a document, or a problem with a whole file."""

    path: str
    document: int | None
    pointer: str | None
    line: int | None
    column: int | None
    severity: str
    code: str
    message: str
    where: str  # how the text output names the place
    also: list[dict[str, object]] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        keys = ("path", "document", "pointer", "line", "column", "severity", "code", "message", "also")
        return {key: getattr(self, key) for key in keys}


def _ignored(values: Sequence[str]) -> frozenset[str] | str:
    """The codes of --ignore, or the usage error to print."""
    from seccomp_operator.profile.findings import WARNING_CODES

    codes = frozenset(code for value in values for code in value.replace(",", " ").split())
    unknown = sorted(codes - WARNING_CODES)
    if unknown:
        return (
            f"--ignore: {', '.join(unknown)}: not the code of a warning (errors cannot be silenced); warning codes: "
            + ", ".join(sorted(WARNING_CODES))
        )
    return codes


def run(args: argparse.Namespace) -> int:
    from seccomp_operator.profile import ParseError, parse_documents
    from seccomp_operator.profile.parse import decode

    ignored = _ignored(args.ignore)
    if isinstance(ignored, str):
        print(f"seccomp-operator lint: error: {ignored}", file=sys.stderr)
        return EXIT_USAGE
    by_file: list[list[Record]] = [[] for _ in args.paths]  # output in the order the files were given
    unreadable = False
    parsed: list[tuple[int, str, Document]] = []
    for number, path in enumerate(args.paths):
        try:
            data = read_bytes(path)
        except OSError as exc:
            unreadable = True
            message = f"cannot read: {exc.strerror or exc}"
            by_file[number].append(Record(path, None, None, None, None, "error", "cannot-read", message, path))
            continue
        try:
            documents = parse_documents(decode(data), filename=path)
        except ParseError as exc:
            where = f"{path}:{exc.line}:{exc.column}" if exc.line is not None else path
            by_file[number].append(Record(path, None, None, exc.line, exc.column, "error", exc.code, str(exc), where))
            continue
        for document in documents:
            if _other_kind(document.data):
                # A Pod or Deployment next to the profiles (as in examples/): not ours to judge, say so and go on.
                kind = document.data.get("kind") if isinstance(document.data, dict) else None
                print(f"{location(path, document.label, '')}: skipped: {kind} is not a SeccompProfile", file=sys.stderr)
                continue
            parsed.append((number, path, document))
    resources = _Resources([(path, document) for _, path, document in parsed])
    for number, path, document in parsed:
        if document.kind == "resource":
            findings = document.findings + resources.check(path, document)
        else:
            from seccomp_operator.profile import validate_profile

            findings = document.findings + validate_profile(document.data).findings
        by_file[number].extend(_record(path, document, f) for f in findings if f.is_error or f.code not in ignored)
    records = [record for batch in by_file for record in batch]

    if args.json:
        errors = sum(r.severity == "error" for r in records)
        summary = {"files": len(args.paths), "errors": errors, "warnings": len(records) - errors}
        output = {"schemaVersion": SCHEMA_VERSION, "findings": [r.as_json() for r in records], "summary": summary}
        print(json.dumps(output, indent=2))
    else:
        for record in records:
            print(f"{record.where}: {record.severity}: {record.message}")
    if unreadable:
        return EXIT_USAGE
    failing = {"error", "warning"} if args.strict else {"error"}
    return EXIT_FINDINGS if any(r.severity in failing for r in records) else EXIT_OK


def _record(path: str, document: Document, finding: Finding) -> Record:
    line, column = document.locate(finding.pointer) or (None, None)
    also: list[dict[str, object]] = []
    for pointer in finding.also:
        at = document.locate(pointer) or (None, None)
        also.append({"pointer": pointer, "line": at[0], "column": at[1]})
    return Record(
        path,
        document.index if document.format == "yaml" else None,
        finding.pointer,
        line,
        column,
        finding.severity,
        finding.code,
        finding.message,
        location(path, document.label, finding.pointer),
        also,
    )


class _Resources:
    """The SeccompProfile manifests of every file given, by namespace and name, so a profile is checked merged with
    its base profiles when their files are given too (as `kubectl apply -f` of the same files would create them)."""

    def __init__(self, parsed: list[tuple[str, Document]]) -> None:
        self.by_namespace: dict[object, dict[str, object]] = {}
        self.first: dict[tuple[object, str], str] = {}  # where each (namespace, name) was first defined
        for path, document in parsed:
            key = _identity(document.data) if document.kind == "resource" else None
            if key is not None and key not in self.first:
                self.first[key] = location(path, document.label, "")
                self.by_namespace.setdefault(key[0], {})[key[1]] = document.data

    def check(self, path: str, document: Document) -> tuple[Finding, ...]:
        from seccomp_operator.profile import resolve_profile
        from seccomp_operator.profile.findings import silence, warning
        from seccomp_operator.profile.resource import silenced_codes

        key = _identity(document.data)
        if key is None:
            return resolve_profile(document.data, {}).findings
        resolved = resolve_profile(document.data, self.by_namespace.get(key[0], {}))
        findings = resolved.findings
        if resolved.reason == "BaseProfileMissing":
            # The base may well exist in the cluster: lint can only say it did not check the merged result.
            findings = tuple(_not_given(f) if f.code == "base-profile-missing" else f for f in findings)
        here = location(path, document.label, "")
        if self.first[key] != here:
            namespace, name = key
            shown = f"{namespace}/{name}" if namespace else name
            findings += (
                warning(
                    "/metadata/name",
                    "duplicate-resource",
                    f"SeccompProfile {shown} is also defined at {self.first[key]}; applied together, the last one "
                    "applied replaces the other",
                ),
            )
        return silence(findings, silenced_codes(document.data))  # lint's own warnings obey the annotation too


def _identity(data: object) -> tuple[object, str] | None:
    """(namespace or None, name) of a manifest, when it has a usable name."""
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        return None
    name, namespace = data["metadata"].get("name"), data["metadata"].get("namespace")
    return (namespace, name) if isinstance(name, str) and (namespace is None or isinstance(namespace, str)) else None


def _not_given(finding: Finding) -> Finding:
    from seccomp_operator.profile.findings import warning

    return warning(
        finding.pointer,
        "base-profile-not-given",
        f"{finding.message} among the files given, so the profile was checked without it; give its file too to "
        "check the merged result",
    )
