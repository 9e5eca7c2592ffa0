"""SeccompProfile.status from the validation outcome, the published revision and the node reports (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seccomp_operator.controller.state import NodeEntry

MAX_LISTED_NODES = 100
# Installed nodes are the uninteresting majority: a short sample is listed, the count is in `summary`. At 500 profiles
# this keeps the controller's cached objects (and every watcher's copy) about ten times smaller (bench/).
MAX_LISTED_INSTALLED = 10
MAX_MESSAGE = 512

PHASE_PENDING = "Pending"
PHASE_INSTALLING = "Installing"
PHASE_READY = "Ready"
PHASE_DEGRADED = "Degraded"
PHASE_INVALID = "Invalid"
PHASE_TERMINATING = "Terminating"

NODE_INSTALLED = "Installed"
NODE_PENDING = "Pending"
NODE_FAILED = "Failed"
NODE_OUTDATED = "Outdated"  # holds an older revision: still a working profile, not the current one


@dataclass(frozen=True)
class Validity:
    valid: bool
    reason: str  # CamelCase condition reason
    message: str


def node_state(entry: NodeEntry | None, current_hash: str) -> tuple[str, str, str]:
    """(state, hash, message) of one targeted node."""
    if entry is None:
        return NODE_PENDING, "", "not reported yet"
    if entry.state == "Failed":
        return NODE_FAILED, entry.hash, entry.message
    if entry.hash != current_hash:
        return NODE_OUTDATED, entry.hash, "installing the current revision"
    return NODE_INSTALLED, entry.hash, ""


def _condition(
    ctype: str, ok: bool, reason: str, message: str, generation: int, previous: Mapping[str, Any] | None, now: str
) -> dict[str, Any]:
    status = "True" if ok else "False"
    since = now
    if previous and previous.get("status") == status:
        since = str(previous.get("lastTransitionTime") or now)
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message[: MAX_MESSAGE * 4],
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def compute_status(
    *,
    generation: int,
    validity: Validity,
    published_hash: str,
    localhost_profile: str,
    targeted: list[str],
    reports: Mapping[str, Mapping[str, NodeEntry]],
    key: str,
    previous: Mapping[str, Any],
    now: str,
    terminating: bool = False,
    terminating_message: str = "",
    referenced_by: list[str] | None = None,
) -> dict[str, Any]:
    """The whole status. `previous` keeps lastTransitionTimes stable so an unchanged status compares equal."""
    prev_nodes = {n.get("node"): n for n in previous.get("nodes") or []}
    rows: list[dict[str, Any]] = []
    counts = {NODE_INSTALLED: 0, NODE_PENDING: 0, NODE_FAILED: 0, NODE_OUTDATED: 0}
    for node in targeted:
        entry = reports.get(node, {}).get(key)
        state, hash_, message = node_state(entry, published_hash)
        counts[state] += 1
        prev = prev_nodes.get(node)
        since = entry.since if entry and entry.since else now
        if prev and prev.get("state") == state and prev.get("hash", "") == hash_:
            since = str(prev.get("lastTransitionTime") or since)
        rows.append(
            {"node": node, "state": state, "hash": hash_, "message": message[:MAX_MESSAGE], "lastTransitionTime": since}
        )
    # Failing nodes first, then pending and outdated, then a capped tail of installed ones.
    order = {NODE_FAILED: 0, NODE_PENDING: 1, NODE_OUTDATED: 2, NODE_INSTALLED: 3}
    rows.sort(key=lambda r: (order[r["state"]], r["node"]))
    problems = [r for r in rows if r["state"] != NODE_INSTALLED]
    healthy = [r for r in rows if r["state"] == NODE_INSTALLED]
    listed = problems[:MAX_LISTED_NODES]
    listed += healthy[: max(0, min(MAX_LISTED_INSTALLED, MAX_LISTED_NODES - len(listed)))]

    total = len(targeted)
    installed = counts[NODE_INSTALLED]
    all_installed = bool(published_hash) and installed == total
    if terminating:
        phase = PHASE_TERMINATING
    elif not published_hash:
        phase = PHASE_INVALID if not validity.valid else PHASE_PENDING
    elif counts[NODE_FAILED]:
        phase = PHASE_DEGRADED
    elif all_installed:
        phase = PHASE_READY if validity.valid else PHASE_DEGRADED
    else:
        phase = PHASE_INSTALLING

    prev_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
    if all_installed:
        ready_reason, ready_message = (
            "AllNodesInstalled",
            f"installed with hash {published_hash[:12]} on {total}/{total} nodes",
        )
    elif not published_hash:
        ready_reason, ready_message = "NotPublished", "no valid revision has been published yet"
    elif counts[NODE_FAILED]:
        ready_reason = "NodesFailed"
        ready_message = f"{counts[NODE_FAILED]} of {total} nodes failed to install; see status.nodes"
    else:
        ready_reason = "Installing"
        ready_message = f"installed on {installed}/{total} nodes"
    conditions = [
        _condition(
            "Valid", validity.valid, validity.reason, validity.message, generation, prev_conditions.get("Valid"), now
        ),
        _condition(
            "Ready",
            all_installed and not terminating,
            ready_reason,
            ready_message,
            generation,
            prev_conditions.get("Ready"),
            now,
        ),
    ]
    if terminating:
        conditions.append(
            _condition(
                "Terminating",
                True,
                "Deleting",
                terminating_message,
                generation,
                prev_conditions.get("Terminating"),
                now,
            )
        )
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase,
        "localhostProfile": localhost_profile if published_hash else "",
        "hash": published_hash,
        "conditions": conditions,
        "summary": {
            "targeted": total,
            "installed": installed,
            "pending": counts[NODE_PENDING] + counts[NODE_OUTDATED],
            "failed": counts[NODE_FAILED],
        },
        "nodes": listed,
        "nodesTruncated": len(rows) - len(listed),
    }
    if referenced_by:
        # Children that inherit from this profile: who is affected by editing or deleting it.
        status["referencedBy"] = sorted(referenced_by)[:MAX_LISTED_NODES]
    return status
