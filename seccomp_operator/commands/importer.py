"""`seccomp-operator import PATH [--name NAME] [--namespace NS] [--assume-caps CAP,...] [--arches ARCH,...]`.

Prints a SeccompProfile manifest (YAML) converted from a Docker, Podman/CRI-O, OCI or security-profiles-operator
profile; what was dropped or assumed, and anything that cannot be converted, goes to stderr as
`PATH:POINTER: error|warning: message` with POINTER in the source file. The output passes `lint`: when there is any
error, nothing is printed and the exit code is 1. Usage and I/O errors exit 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from seccomp_operator.commands.lint import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, location, read_input


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="convert a Docker/OCI/security-profiles-operator profile into a SeccompProfile manifest",
        description="Convert a Docker, Podman, OCI or security-profiles-operator seccomp profile (JSON or YAML) "
        "into a SeccompProfile manifest, printed on stdout.",
    )
    parser.add_argument("path", metavar="PATH", help="profile file, or - for stdin")
    parser.add_argument(
        "--name", help="metadata.name of the manifest (required for a bare profile; default: the resource's name)"
    )
    parser.add_argument("--namespace", help="metadata.namespace of the manifest")
    parser.add_argument(
        "--assume-caps",
        default="",
        metavar="CAP,...",
        help="capabilities the workloads have: Docker rules gated on capabilities (includes.caps) are kept only "
        "when all of theirs are listed, and rules excluded for a listed one (excludes.caps) are dropped",
    )
    parser.add_argument(
        "--arches",
        default=None,
        metavar="ARCH,...",
        help="node architectures the profile is for (default: x86_64,aarch64); selects archMap entries and "
        "decides Docker's includes.arches/excludes.arches",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    from seccomp_operator.profile import ImportOptions, ParseError, import_document, parse_documents
    from seccomp_operator.profile.arches import lookup_alias
    from seccomp_operator.profile.convert import normalize_capability

    caps: set[str] = set()
    for item in filter(None, (part.strip() for part in args.assume_caps.split(","))):
        cap = normalize_capability(item)
        if cap is None:
            print(f"error: --assume-caps: unknown capability {item!r}", file=sys.stderr)
            return EXIT_USAGE
        caps.add(cap)
    node_arches: tuple[str, ...] | None = None
    if args.arches is not None:
        chosen: list[str] = []
        for item in filter(None, (part.strip() for part in args.arches.split(","))):
            info = lookup_alias(item)
            if info is None:
                print(f"error: --arches: unknown architecture {item!r}", file=sys.stderr)
                return EXIT_USAGE
            chosen.append(info.spec_name)
        if not chosen:
            print("error: --arches needs at least one architecture", file=sys.stderr)
            return EXIT_USAGE
        node_arches = tuple(dict.fromkeys(chosen))
    options = ImportOptions(assume_caps=frozenset(caps), node_arches=node_arches)

    try:
        documents = parse_documents(read_input(args.path), filename=args.path)
    except OSError as exc:
        print(f"{args.path}: error: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except ParseError as exc:  # the file's content: a finding at its position, as lint reports it
        where = f"{args.path}:{exc.line}:{exc.column}" if exc.line is not None else args.path
        print(f"{where}: error: {exc}", file=sys.stderr)
        return EXIT_FINDINGS
    if args.name and len(documents) > 1:
        print(
            f"{args.path}: error: --name names one profile, but the file holds {len(documents)}; omit --name to "
            "keep each resource's own name",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not args.name and any(d.kind == "profile" for d in documents):
        print(f"{args.path}: error: --name is required to import a bare profile", file=sys.stderr)
        return EXIT_USAGE

    manifests: list[dict[str, object]] = []
    failed = False
    for document in documents:
        if document.findings:  # duplicate keys and the like: the source itself is ambiguous
            imported_findings = document.findings
            manifest = None
        else:
            imported = import_document(
                document.data, kind=document.kind, name=args.name, namespace=args.namespace, options=options
            )
            imported_findings, manifest = imported.findings, imported.manifest
        for finding in imported_findings:
            where = location(args.path, document.label, finding.pointer)
            print(f"{where}: {finding.severity}: {finding.message}", file=sys.stderr)
        if manifest is None or any(f.is_error for f in imported_findings):
            failed = True
        else:
            manifests.append(manifest)
    if failed:
        return EXIT_FINDINGS
    sys.stdout.write(yaml.safe_dump_all(manifests, explicit_start=True, sort_keys=False, width=100))
    return EXIT_OK
