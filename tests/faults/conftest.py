"""Fixtures for the fault suite: its own control plane (so restarts never disturb other suites), one Simulation per
test with uniquely named nodes, and the figures recorder.

Short by default (CI); FAULTS_LONG=1 repeats every fault many more times, and only such an explicit long run writes
its figures to bench/results/faults.json (the committed results the README's reliability table is rendered from).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import CRD_DIR, CRD_NAMES, GROUP, VERSION, _established, binaries_dir
from kubernetes import client

from faults.common import FaultBook
from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.simulation import wait_until

__all__ = ["binaries_dir"]

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" / "faults.json"
LONG = os.environ.get("FAULTS_LONG", "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def fault_plane(binaries_dir: Path) -> Iterator[ControlPlane]:
    """A control plane of the fault suite's own. Without the watch cache every watch is served by etcd, so a
    resume from a compacted revision really answers 410 Gone."""
    with ControlPlane(binaries_dir=binaries_dir, extra_apiserver_args=["--watch-cache=false"]) as cp:
        cp.kubectl("apply", "--server-side", "--validate=strict", f"--filename={CRD_DIR}")
        ext = client.ApiextensionsV1Api(cp.api_client())
        for name in CRD_NAMES:
            wait_until(lambda name=name: _established(ext, name), timeout=60, what=f"CRD {name} Established")
        wait_until(lambda: cp.get(f"/apis/{GROUP}/{VERSION}")[0] == 200, timeout=60, what="discovery")
        yield cp


@pytest.fixture
def fault_ns(fault_plane: ControlPlane) -> str:
    name = f"f-{uuid.uuid4().hex[:10]}"
    fault_plane.kubectl("create", "namespace", name)
    return name


@pytest.fixture(scope="session")
def fault_book() -> Iterator[FaultBook]:
    """Figures per fault; a long run merges them by fault name into bench/results/faults.json when it ends."""
    book = FaultBook()
    yield book
    save_fault_results(book, RESULTS, long=LONG)


def save_fault_results(book: FaultBook, path: Path, *, long: bool) -> bool:
    """Write the figures of a long run into `path` (merged by fault name); a short run (CI) writes nothing, so it
    never replaces the committed long-run figures. True when written."""
    if not long or not book.faults:
        return False
    existing: dict[str, Any] = {}
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except ValueError:
            existing = {}
    by_name = {f["name"]: f for f in existing.get("faults", [])}
    for fault in book.faults.values():
        by_name[fault["name"]] = {**fault, "mode": "long"}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "description": "Fault-injection suite (tests/faults): per fault, how often it was injected and "
                "what was lost. Targets: zero lost updates, stale nodes, partial files, orphaned files and stuck "
                "deletions.",
                "faults": [by_name[k] for k in sorted(by_name)],
            },
            indent=2,
        )
        + "\n"
    )
    return True


# `kill -USR1 <pytest pid>` dumps every thread's stack: the way to see what a hung fault run waits on.
faulthandler.register(signal.SIGUSR1, all_threads=True)
