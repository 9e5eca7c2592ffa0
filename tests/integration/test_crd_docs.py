"""`kubectl explain` explains: every field of the three CRDs has a description, as the real API server publishes it.

The API server serves the CRDs' schemas as OpenAPI v3; `kubectl explain` reads exactly that. The test walks every
field there (through lists and maps), and checks that `kubectl explain --recursive` shows no field the walk missed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.simulation import wait_until

from .conftest import GROUP, VERSION

KINDS = ["SeccompProfile", "PublishedSeccompProfile", "NodeProfileReport"]
# Texts that describe nothing where kubectl explain shows one field at a time.
MEANINGLESS = re.compile(r"see above|see below|^\W*$", re.IGNORECASE)


def published_schemas(control_plane: ControlPlane) -> dict[str, Any]:
    """The group's OpenAPI v3 document; the API server publishes it shortly after the CRDs are Established."""

    def fetch() -> bytes | None:
        status, body = control_plane.get(f"/openapi/v3/apis/{GROUP}/{VERSION}")
        return body if status == 200 else None

    body = wait_until(fetch, timeout=60, what=f"OpenAPI v3 of {GROUP}/{VERSION}")
    schemas: dict[str, Any] = json.loads(body)["components"]["schemas"]
    return schemas


def explain(control_plane: ControlPlane, *args: str) -> str:
    """`kubectl explain` output; it can miss a kind just after the CRDs are served (kubectl's discovery cache), so
    it is retried until it finds it."""

    def run() -> str | None:
        result = control_plane.kubectl("explain", *args, check=False)
        return result.stdout if result.returncode == 0 else None

    return wait_until(run, timeout=60, interval=0.5, what=f"kubectl explain {' '.join(args)}")


def fields(schema: dict[str, Any], path: str = "") -> dict[str, str]:
    """Every field below `schema` (dotted path as kubectl explain writes it) -> its description."""
    found: dict[str, str] = {}
    for name, prop in (schema.get("properties") or {}).items():
        where = f"{path}.{name}" if path else name
        found[where] = str(prop.get("description") or "")
        if "$ref" in prop or "allOf" in prop:
            continue  # a Kubernetes type (ObjectMeta): documented by Kubernetes
        for nested in (prop, prop.get("items") or {}, prop.get("additionalProperties") or {}):
            if isinstance(nested, dict):
                found.update(fields(nested, where))
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_has_a_description(control_plane: ControlPlane, crds: tuple[str, ...], kind: str) -> None:
    schema = published_schemas(control_plane)[f"io.seccomp-operator.{VERSION}.{kind}"]
    documented = fields(schema)
    assert len(documented) > 5
    undescribed = sorted(name for name, text in documented.items() if MEANINGLESS.search(text))
    assert undescribed == [], f"{kind} fields without a description: {undescribed}"


def test_kubectl_explain_shows_only_described_fields(control_plane: ControlPlane, crds: tuple[str, ...]) -> None:
    schema = published_schemas(control_plane)[f"io.seccomp-operator.{VERSION}.SeccompProfile"]
    documented = fields(schema)
    out = explain(control_plane, "seccompprofile.spec", "--recursive")
    # The FIELDS section lists one field per line, nested by indentation: "    args\t<[]Object>".
    listed: list[str] = []
    stack: list[tuple[int, str]] = []
    for line in out.split("FIELDS:", 1)[1].splitlines():
        match = re.match(r"^( *)([A-Za-z]\w*)\s+<", line)
        if not match:
            continue
        indent, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, name))
        listed.append(".".join(["spec", *(n for _, n in stack)]))
    assert sorted(listed) == sorted(name for name in documented if name.startswith("spec.")), out
    op = explain(control_plane, "seccompprofile.spec.syscalls.args.op")
    assert "(argument & value) == valueTwo" in " ".join(op.split()), op
