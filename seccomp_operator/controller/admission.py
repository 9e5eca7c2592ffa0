"""Admission decisions (pure): refuse invalid SeccompProfiles with the lint messages; warn about Pods whose
Localhost profile under this operator's prefix does not exist or is not Ready."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from seccomp_operator.controller.resolve import format_findings
from seccomp_operator.profile import validate_resource

PREFIX = "seccomp-operator/"


def review_profile(
    new: Mapping[str, Any], old: Mapping[str, Any] | None, profiles: Mapping[str, Mapping[str, Any]]
) -> tuple[str | None, list[str]]:
    """(refusal message or None, warnings)."""
    if old is not None and old.get("spec") == new.get("spec"):
        return None, []  # metadata-only updates (finalizer removal, labels) must always pass
    checked = validate_resource(dict(new))
    warnings = [f"{f.pointer}: warning: {f.message}" for f in checked.findings if f.severity == "warning"]
    base = (new.get("spec") or {}).get("baseProfileName")
    namespace = (new.get("metadata") or {}).get("namespace", "")
    if base and f"{namespace}/{base}" not in profiles:
        warnings.append(
            f"/spec/baseProfileName: warning: base profile {base!r} does not exist yet; "
            "the profile stays unpublished until it does"
        )
    if not checked.ok:
        return "SeccompProfile refused: " + format_findings([f for f in checked.findings if f.is_error]), warnings
    return None, warnings


def _localhost_profiles(pod: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(where, localhostProfile) for the pod and each of its containers."""
    spec = pod.get("spec") or {}
    found: list[tuple[str, str]] = []
    pod_profile = ((spec.get("securityContext") or {}).get("seccompProfile")) or {}
    if pod_profile.get("type") == "Localhost":
        found.append(("spec.securityContext", str(pod_profile.get("localhostProfile") or "")))
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(group) or []:
            profile = ((container.get("securityContext") or {}).get("seccompProfile")) or {}
            if profile.get("type") == "Localhost":
                found.append((f"{group}[{container.get('name')}]", str(profile.get("localhostProfile") or "")))
    return found


def review_pod(pod: Mapping[str, Any], profiles: Mapping[str, Mapping[str, Any]]) -> list[str]:
    warnings: list[str] = []
    for where, path in _localhost_profiles(pod):
        if not path.startswith(PREFIX):
            continue
        parts = path[len(PREFIX) :].split("/")
        if len(parts) != 2 or not parts[1].endswith(".json"):
            warnings.append(f"{where}: {path!r} is under {PREFIX} but is not a path this operator writes")
            continue
        key = f"{parts[0]}/{parts[1][: -len('.json')]}"
        profile = profiles.get(key)
        if profile is None:
            warnings.append(
                f"{where}: SeccompProfile {key} does not exist; the container will fail with CreateContainerError"
            )
            continue
        status = profile.get("status") or {}
        if status.get("phase") != "Ready":
            summary = status.get("summary") or {}
            warnings.append(
                f"{where}: SeccompProfile {key} is not Ready (phase {status.get('phase', 'Pending')}, installed on "
                f"{summary.get('installed', 0)}/{summary.get('targeted', 0)} nodes); containers on other nodes "
                "will fail to start"
            )
    return warnings
