"""Status aggregation from node reports (pure)."""

from __future__ import annotations

from seccomp_operator.controller.state import NodeEntry
from seccomp_operator.controller.status import MAX_LISTED_INSTALLED, MAX_LISTED_NODES, Validity, compute_status

VALID = Validity(True, "Validated", "ok")
NOW = "2026-01-01T00:00:00Z"


def status_for(reports: dict[str, dict[str, NodeEntry]], targeted: list[str], **kw: object) -> dict[str, object]:
    args: dict[str, object] = {
        "generation": 3,
        "validity": VALID,
        "published_hash": "h1",
        "localhost_profile": "seccomp-operator/ns/p.json",
        "targeted": targeted,
        "reports": reports,
        "key": "ns/p",
        "previous": {},
        "now": NOW,
    }
    args.update(kw)
    return compute_status(**args)  # type: ignore[arg-type]


def installed(hash_: str = "h1") -> NodeEntry:
    return NodeEntry(hash_, "Installed", "", NOW)


def test_ready_when_every_targeted_node_holds_the_current_hash() -> None:
    status = status_for({"a": {"ns/p": installed()}, "b": {"ns/p": installed()}}, ["a", "b"])
    assert status["phase"] == "Ready"
    assert status["summary"] == {"targeted": 2, "installed": 2, "pending": 0, "failed": 0}
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")  # type: ignore[attr-defined]
    assert ready["status"] == "True"


def test_an_old_hash_or_a_missing_report_is_not_ready() -> None:
    status = status_for({"a": {"ns/p": installed("old")}}, ["a", "b"])
    assert status["phase"] == "Installing"
    assert status["summary"] == {"targeted": 2, "installed": 0, "pending": 2, "failed": 0}
    states = {n["node"]: n["state"] for n in status["nodes"]}  # type: ignore[attr-defined]
    assert states == {"a": "Outdated", "b": "Pending"}


def test_failures_are_degraded_and_listed_first_with_their_message() -> None:
    reports = {f"n{i:03}": {"ns/p": installed()} for i in range(300)}
    reports["n150"] = {"ns/p": NodeEntry("h1", "Failed", "disk full", NOW)}
    status = status_for(reports, sorted(reports))
    assert status["phase"] == "Degraded"
    nodes = status["nodes"]
    assert nodes[0]["node"] == "n150" and nodes[0]["message"] == "disk full"  # type: ignore[index]
    # Bounded: the object stays small at thousands of nodes; installed nodes are only sampled.
    assert len(nodes) == 1 + MAX_LISTED_INSTALLED  # type: ignore[arg-type]
    assert status["nodesTruncated"] == 300 - 1 - MAX_LISTED_INSTALLED


def test_many_failing_nodes_are_capped() -> None:
    reports = {f"n{i:03}": {"ns/p": NodeEntry("h1", "Failed", "boom", NOW)} for i in range(150)}
    status = status_for(reports, sorted(reports))
    assert len(status["nodes"]) == MAX_LISTED_NODES  # type: ignore[arg-type]
    assert status["nodesTruncated"] == 150 - MAX_LISTED_NODES


def test_invalid_update_keeps_the_published_revision_visible() -> None:
    status = status_for({"a": {"ns/p": installed()}}, ["a"], validity=Validity(False, "InvalidSpec", "bad errno"))
    assert status["hash"] == "h1"
    assert status["phase"] == "Degraded"
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")  # type: ignore[attr-defined]
    assert (valid["status"], valid["message"]) == ("False", "bad errno")


def test_never_valid_is_invalid_without_a_path() -> None:
    status = status_for({}, ["a"], validity=Validity(False, "InvalidSpec", "x"), published_hash="")
    assert status["phase"] == "Invalid"
    assert status["localhostProfile"] == ""


def test_unchanged_inputs_give_an_identical_status_so_nothing_is_written() -> None:
    reports = {"a": {"ns/p": installed()}}
    first = status_for(reports, ["a"])
    again = status_for(reports, ["a"], previous=first, now="2026-01-01T00:10:00Z")
    assert again == first


def test_children_are_listed_as_referenced_by() -> None:
    status = status_for({"a": {"ns/p": installed()}}, ["a"], referenced_by=["zeta", "alpha"])
    assert status["referencedBy"] == ["alpha", "zeta"]
    assert "referencedBy" not in status_for({"a": {"ns/p": installed()}}, ["a"])
