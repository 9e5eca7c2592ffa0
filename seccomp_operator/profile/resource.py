"""SeccompProfile manifests: the Kubernetes wrapper around a profile, and where its file lives on a node.

A manifest's `spec` holds the OCI profile fields plus two operator fields, `baseProfileName` and `nodeSelector`;
`validate_resource` checks both parts and the metadata that decides the on-node path. Its pointers are relative to
the manifest (`/spec/syscalls/3/names/0`), so the same message works for `kubectl apply` and for `lint`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from seccomp_operator.profile.compile import BpfSinkFactory
from seccomp_operator.profile.findings import (
    LINT_IGNORE_ANNOTATION,
    WARNING_CODES,
    Finding,
    Findings,
    error,
    has_errors,
    join,
    rebase,
    silence,
    warning,
)
from seccomp_operator.profile.model import Profile
from seccomp_operator.profile.shape import check_keys
from seccomp_operator.profile.validate import check_profile

API_GROUP = "seccomp-operator.io"
API_VERSION = f"{API_GROUP}/v1alpha1"
KIND = "SeccompProfile"
SPO_GROUP = "security-profiles-operator.x-k8s.io"
LOCALHOST_DIR = "seccomp-operator"
OPERATOR_FIELDS = ("baseProfileName", "nodeSelector")
_MANIFEST_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
# Linux allows 255 bytes per file name (NAME_MAX). The node file is `<name>.json`, but the agent writes it under a
# temporary name first, `.<name>.json.<12 hex digits>.tmp`, and renames it (seccomp_operator/agent/tree.py), so the
# temporary name is the one that must fit: a longer name would pass admission and then fail on every node with
# "File name too long" (tests/agent/test_name_limit.py writes the boundary on a real filesystem).
NAME_MAX = 255
TEMP_NAME_EXTRA = len(".") + len(".json") + len(".") + 12 + len(".tmp")
MAX_NAME = NAME_MAX - TEMP_NAME_EXTRA  # 232


def is_dns_label(value: str) -> bool:
    return len(value) <= 63 and _DNS_LABEL.fullmatch(value) is not None


def is_dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and _DNS_SUBDOMAIN.fullmatch(value) is not None


def localhost_profile(namespace: str, name: str) -> str:
    """The `localhostProfile` a pod names: a path relative to the kubelet's seccomp root. Refuses anything that is
    not a valid namespace and object name, so no input can make the path leave the operator's subtree."""
    if not is_dns_label(namespace):
        raise ValueError(f"invalid namespace {namespace!r}")
    if not is_dns_subdomain(name) or len(name) > MAX_NAME:
        raise ValueError(f"invalid profile name {name!r}")
    return f"{LOCALHOST_DIR}/{namespace}/{name}.json"


@dataclass(frozen=True, slots=True)
class ResourceValidation(Findings):
    findings: tuple[Finding, ...]
    # The spec's profile part. With a baseProfileName it may be partial (no defaultAction of its own): merge it with
    # the base (`merge`) and validate the result before rendering. None when there is any error.
    profile: Profile | None
    name: str | None
    namespace: str | None
    base_profile_name: str | None
    node_selector: Mapping[str, str] | None = field(default=None, compare=False)
    # Warning codes the manifest silences with the annotation seccomp-operator.io/lint-ignore (already left out of
    # `findings`; resolve_profile leaves them out of the merged result's findings too).
    silenced: frozenset[str] = frozenset()

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)

    @property
    def localhost_profile(self) -> str | None:
        if self.name is None or self.namespace is None or not self.ok:
            return None
        return localhost_profile(self.namespace, self.name)


def split_spec(spec: Mapping[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    """(profile fields, operator fields) of a spec."""
    profile = {key: value for key, value in spec.items() if key not in OPERATOR_FIELDS}
    operator = {key: value for key, value in spec.items() if key in OPERATOR_FIELDS}
    return profile, operator


def build_manifest(
    *,
    name: str,
    namespace: str | None,
    spec: Mapping[str, object],
    labels: Mapping[str, object] | None = None,
    annotations: Mapping[str, object] | None = None,
) -> dict[str, object]:
    metadata: dict[str, object] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": dict(spec)}


def validate_resource(
    manifest: object, *, compile_check: bool = True, bpf_sink: BpfSinkFactory | None = None
) -> ResourceValidation:
    out: list[Finding] = []
    if not isinstance(manifest, dict):
        out.append(error("", "not-an-object", "a SeccompProfile manifest must be an object"))
        return ResourceValidation(tuple(out), None, None, None, None)
    check_keys(manifest, "", _MANIFEST_KEYS, out)
    _type_fields(manifest, out)
    name, namespace = _metadata(manifest.get("metadata"), out)

    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        what = "missing" if spec is None else "not an object"
        out.append(error("/spec", "missing-field" if spec is None else "wrong-type", f"spec is {what}"))
        return ResourceValidation(tuple(out), None, name, namespace, None)
    base = _base_profile_name(spec.get("baseProfileName"), name, out)
    selector = _node_selector(spec.get("nodeSelector"), out)
    validation = check_profile(
        spec,
        partial=base is not None,
        extra_keys=OPERATOR_FIELDS,
        manifest=True,
        compile_check=compile_check,
        bpf_sink=bpf_sink,
        describe=lambda pointer: "/spec" + pointer,
    )
    out.extend(rebase(validation.findings, "/spec"))
    silenced = _silenced(manifest.get("metadata"), out)
    profile = validation.profile if not has_errors(out) else None
    return ResourceValidation(silence(out, silenced), profile, name, namespace, base, selector, silenced)


def silenced_codes(manifest: object) -> frozenset[str]:
    """The warning codes a manifest silences with the annotation seccomp-operator.io/lint-ignore."""
    return _silenced(manifest.get("metadata") if isinstance(manifest, dict) else None, [])


def _silenced(metadata: object, out: list[Finding]) -> frozenset[str]:
    """The warning codes named by the annotation, e.g. `seccomp-operator.io/lint-ignore: "no-architectures"`
    (comma- or space-separated). Unknown codes and error codes are reported, never silently accepted."""
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    value = annotations.get(LINT_IGNORE_ANNOTATION) if isinstance(annotations, dict) else None
    if value is None:
        return frozenset()
    where = join("/metadata/annotations", LINT_IGNORE_ANNOTATION)
    if not isinstance(value, str):
        out.append(error(where, "wrong-type", "annotation values must be strings"))
        return frozenset()
    codes = frozenset(code for code in value.replace(",", " ").split() if code)
    unknown = sorted(codes - WARNING_CODES)
    if unknown:
        out.append(
            warning(
                where,
                "invalid-lint-ignore",
                f"{', '.join(f'`{c}`' for c in unknown)} {'is' if len(unknown) == 1 else 'are'} not the code of a "
                "warning, so nothing is silenced by it (errors cannot be silenced); warning codes: "
                + ", ".join(sorted(WARNING_CODES)),
            )
        )
    return codes & WARNING_CODES


def _type_fields(manifest: dict[str, object], out: list[Finding]) -> None:
    api_version = manifest.get("apiVersion")
    if not isinstance(api_version, str):
        out.append(error("/apiVersion", "missing-field", f"apiVersion must be `{API_VERSION}`"))
    elif api_version.split("/")[0] == SPO_GROUP:
        out.append(
            error(
                "/apiVersion",
                "spo-resource",
                f"this is a security-profiles-operator resource ({api_version}); convert it with "
                "`seccomp-operator import`, which also explains what does not carry over",
            )
        )
    elif api_version != API_VERSION:
        out.append(
            error("/apiVersion", "wrong-api-version", f"apiVersion is `{api_version}`, expected `{API_VERSION}`")
        )
    kind = manifest.get("kind")
    if kind != KIND:
        out.append(error("/kind", "wrong-kind", f"kind is `{kind}`, expected `{KIND}`"))


def _metadata(metadata: object, out: list[Finding]) -> tuple[str | None, str | None]:
    if not isinstance(metadata, dict):
        out.append(error("/metadata", "missing-field", "metadata with a name is required"))
        return None, None
    name = metadata.get("name")
    if not isinstance(name, str):
        out.append(error("/metadata/name", "missing-field", "metadata.name is required (a string)"))
        name = None
    elif not is_dns_subdomain(name):
        out.append(
            error(
                "/metadata/name",
                "invalid-name",
                f"`{name}` is not a valid name: lowercase letters, digits, `-` and `.`, starting and ending "
                "with a letter or digit (DNS-1123 subdomain)",
            )
        )
        name = None
    elif len(name) > MAX_NAME:
        out.append(
            error(
                "/metadata/name",
                "name-too-long",
                f"the name has {len(name)} characters; the limit is {MAX_NAME}: on each node the agent writes "
                f"`.<name>.json.<random>.tmp` and renames it to `<name>.json`, and Linux allows {NAME_MAX} bytes per "
                "file name",
            )
        )
        name = None
    namespace = metadata.get("namespace")
    if namespace is None:
        return name, None
    if not isinstance(namespace, str) or not is_dns_label(namespace):
        out.append(error("/metadata/namespace", "invalid-namespace", f"`{namespace}` is not a valid namespace name"))
        return name, None
    return name, namespace


def _base_profile_name(value: object, own_name: str | None, out: list[Finding]) -> str | None:
    if value is None:
        return None
    where = "/spec/baseProfileName"
    if not isinstance(value, str) or not is_dns_subdomain(value):
        out.append(
            error(
                where,
                "invalid-base-profile-name",
                f"baseProfileName must name another SeccompProfile in the same namespace (a DNS-1123 "
                f"subdomain), not {value!r}",
            )
        )
        return None
    if value == own_name:
        out.append(error(where, "base-profile-is-self", "a profile cannot be its own base profile (baseProfileName)"))
        return None
    return value


def _node_selector(value: object, out: list[Finding]) -> dict[str, str] | None:
    if value is None:
        return None
    where = "/spec/nodeSelector"
    if not isinstance(value, dict):
        out.append(error(where, "invalid-node-selector", "nodeSelector must be a map of label to value"))
        return None
    selector: dict[str, str] = {}
    for key, item in value.items():
        pointer = join(where, key)
        if not _label_key_ok(key):
            out.append(error(pointer, "invalid-node-selector", f"`{key}` is not a valid label key"))
        elif not isinstance(item, str):
            out.append(
                error(pointer, "invalid-node-selector", "label values must be strings (quote numbers and booleans)")
            )
        elif item and (len(item) > 63 or not _LABEL_NAME.fullmatch(item)):
            out.append(error(pointer, "invalid-node-selector", f"`{item}` is not a valid label value"))
        else:
            selector[key] = item
    return selector if len(selector) == len(value) else None


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and not is_dns_subdomain(prefix):
        return False
    return 0 < len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None
