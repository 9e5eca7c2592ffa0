"""The profile core: parse, validate, compile-check, render, hash and merge seccomp profiles. Pure: no Kubernetes,
no filesystem, no network (enforced by import-linter and tests/unit/test_profile_layering.py). See README.md.
"""

from __future__ import annotations

from seccomp_operator.profile.compile import BpfSink, BpfSinkFactory, Compiled, compile_profile
from seccomp_operator.profile.convert import Imported, ImportOptions, import_document, normalize_capability
from seccomp_operator.profile.findings import Finding, Severity
from seccomp_operator.profile.merge import merge, rule_origin
from seccomp_operator.profile.model import Arg, Profile, Rule
from seccomp_operator.profile.parse import Document, ParseError, parse_documents
from seccomp_operator.profile.render import Rendered, render, to_oci
from seccomp_operator.profile.resolve import MAX_BASE_DEPTH, Resolved, resolve_profile
from seccomp_operator.profile.resource import (
    API_VERSION,
    KIND,
    ResourceValidation,
    build_manifest,
    localhost_profile,
    split_spec,
    validate_resource,
)
from seccomp_operator.profile.validate import Validation, validate_profile

__all__ = [
    "API_VERSION",
    "KIND",
    "MAX_BASE_DEPTH",
    "Arg",
    "BpfSink",
    "BpfSinkFactory",
    "Compiled",
    "Document",
    "Finding",
    "ImportOptions",
    "Imported",
    "ParseError",
    "Profile",
    "Rendered",
    "Resolved",
    "ResourceValidation",
    "Rule",
    "Severity",
    "Validation",
    "build_manifest",
    "compile_profile",
    "import_document",
    "localhost_profile",
    "merge",
    "normalize_capability",
    "parse_documents",
    "render",
    "resolve_profile",
    "rule_origin",
    "split_spec",
    "to_oci",
    "validate_profile",
    "validate_resource",
]
