"""Fixtures for tests against a real kube-apiserver and etcd (one control plane per session: CI has 2 cores)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from seccomp_operator.testing.controlplane import BinariesNotFoundError, ControlPlane, find_binaries
from seccomp_operator.testing.simulation import wait_until

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "crds"
EXAMPLES_DIR = REPO / "examples"
GROUP = "seccomp-operator.io"
VERSION = "v1alpha1"
CRD_NAMES = (
    f"seccompprofiles.{GROUP}",
    f"publishedseccompprofiles.{GROUP}",
    f"nodeprofilereports.{GROUP}",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def binaries_dir() -> Path:
    # build=False: a first build takes minutes, far beyond the per-test timeout; `make test` builds beforehand.
    try:
        return find_binaries(build=False)
    except BinariesNotFoundError as exc:
        if _in_ci():
            pytest.fail(f"CI is set but the control-plane binaries are missing: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def control_plane(binaries_dir: Path) -> Iterator[ControlPlane]:
    with ControlPlane(binaries_dir=binaries_dir) as cp:
        yield cp


def _established(api: Any, name: str) -> bool:
    crd = api.read_custom_resource_definition(name)
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(c.type == "Established" and c.status == "True" for c in conditions)


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> tuple[str, ...]:
    """Installs crds/ (server-side apply, strict) and waits until every CRD is Established and served."""
    control_plane.kubectl("apply", "--server-side", "--validate=strict", f"--filename={CRD_DIR}")
    ext = client.ApiextensionsV1Api(control_plane.api_client())
    for name in CRD_NAMES:
        wait_until(lambda name=name: _established(ext, name), timeout=60, what=f"CRD {name} Established")
    # Established means the API server serves the kind; discovery (kubectl's short names) follows right after.
    wait_until(
        lambda: control_plane.get(f"/apis/{GROUP}/{VERSION}")[0] == 200,
        timeout=60,
        what="discovery of seccomp-operator.io",
    )
    return CRD_NAMES


@pytest.fixture(scope="session")
def api_client(control_plane: ControlPlane) -> Any:
    return control_plane.api_client()


@pytest.fixture(scope="session")
def custom_api(api_client: Any, crds: tuple[str, ...]) -> Any:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def namespace(api_client: Any) -> str:
    """A fresh namespace per test. Never deleted: without kube-controller-manager a namespace never finishes
    terminating, and the session's etcd is thrown away anyway."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name
