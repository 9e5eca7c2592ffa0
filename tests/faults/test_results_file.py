"""Only an explicit long run (FAULTS_LONG=1) writes the fault figures; CI's short run must leave the committed
long-run bench/results/faults.json as it is."""

from __future__ import annotations

import json
from pathlib import Path

from faults.common import FaultBook
from faults.conftest import save_fault_results


def _book() -> FaultBook:
    book = FaultBook()
    book.record("etcd-crash", injections=2, notes="short run")
    return book


def test_a_short_run_leaves_the_committed_results_alone(tmp_path: Path) -> None:
    results = tmp_path / "faults.json"
    committed = json.dumps({"faults": [{"name": "etcd-crash", "injections": 20, "mode": "long"}]})
    results.write_text(committed)
    assert not save_fault_results(_book(), results, long=False)
    assert results.read_text() == committed


def test_a_long_run_writes_its_figures_merged_by_fault(tmp_path: Path) -> None:
    results = tmp_path / "faults.json"
    results.write_text(json.dumps({"faults": [{"name": "apiserver-crash", "injections": 20, "mode": "long"}]}))
    assert save_fault_results(_book(), results, long=True)
    faults = {f["name"]: f for f in json.loads(results.read_text())["faults"]}
    assert faults["etcd-crash"]["injections"] == 2 and faults["etcd-crash"]["mode"] == "long"
    assert faults["apiserver-crash"]["injections"] == 20
