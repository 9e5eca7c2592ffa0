"""`seccomp-operator lint [--json] [--strict] PATH...`: check profiles and SeccompProfile manifests.

Reads bare OCI profiles (JSON) and YAML/JSON files holding SeccompProfile resources; `-` is stdin. One line per
finding, `PATH:POINTER: error|warning: message`. POINTER is the RFC 6901 pointer of the field; in a YAML stream it
is prefixed with the document's position, `doc2/spec/syscalls/0/names/0` (1-based, counting `---` documents); for the
whole document it is just `doc2` (or nothing, for a JSON file). `--json` prints the findings as a JSON array instead.

Exit codes: 0 no error, 1 an error (or, with --strict, a warning), 2 usage or I/O error (unreadable, not JSON/YAML).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seccomp_operator.profile import Document, Finding

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "lint",
        help="check seccomp profiles and SeccompProfile manifests",
        description="Check bare OCI seccomp profiles (JSON) and SeccompProfile manifests (YAML or JSON).",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="file to check, or - for stdin")
    parser.add_argument("--json", action="store_true", help="print findings as a JSON array")
    parser.add_argument("--strict", action="store_true", help="fail (exit 1) on warnings too")
    parser.set_defaults(run=run)


def read_input(path: str) -> str:
    """The text of PATH (or stdin for `-`); OSError or UnicodeDecodeError when it cannot be read."""
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        with open(path, "rb") as handle:
            data = handle.read()
    return data.decode("utf-8")


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


def run(args: argparse.Namespace) -> int:
    from seccomp_operator.profile import ParseError, parse_documents, validate_profile

    records: list[dict[str, object]] = []
    status = EXIT_OK
    parsed: list[tuple[str, Document]] = []
    for path in args.paths:
        try:
            text = read_input(path)
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}: error: cannot read: {exc}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        try:
            documents = parse_documents(text, filename=path)
        except ParseError as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        for document in documents:
            if _other_kind(document.data):
                # A Pod or Deployment next to the profiles (as in examples/): not ours to judge, say so and go on.
                kind = document.data.get("kind") if isinstance(document.data, dict) else None
                print(f"{location(path, document.label, '')}: skipped: {kind} is not a SeccompProfile", file=sys.stderr)
                continue
            parsed.append((path, document))
    resources = _Resources(parsed)
    for path, document in parsed:
        if document.kind == "resource":
            findings = document.findings + resources.check(path, document)
        else:
            findings = document.findings + validate_profile(document.data).findings
        for finding in findings:
            records.append(
                {
                    "path": path,
                    "document": document.index if document.format == "yaml" else None,
                    "pointer": finding.pointer,
                    "severity": finding.severity,
                    "code": finding.code,
                    "message": finding.message,
                    "_where": location(path, document.label, finding.pointer),
                }
            )
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "_where"} for r in records], indent=2))
    else:
        for record in records:
            print(f"{record['_where']}: {record['severity']}: {record['message']}")
    if status == EXIT_USAGE:
        return EXIT_USAGE
    failing = {"error", "warning"} if args.strict else {"error"}
    return EXIT_FINDINGS if any(r["severity"] in failing for r in records) else EXIT_OK


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
        from seccomp_operator.profile.findings import warning

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
        return findings


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
