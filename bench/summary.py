"""From raw runs to the rows the tables show: medians over runs, ratios to the floor and between systems."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from bench.stats import percentile

PHASES = ("apply", "update", "delete")


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _max(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def phase_rows(runs: list[dict[str, Any]], floor: dict[str, Any] | None, nodes: int, profiles: int) -> dict[str, Any]:
    """Per phase: files and status (median, max), writes per node per change, created objects, conflicts, API
    server CPU, the floor for the same N and P and the files figure as a multiple of it."""
    out: dict[str, Any] = {"nodes": nodes, "profiles": profiles, "runs": len(runs)}
    floor_p = ((floor or {}).get("by_profiles") or {}).get(str(profiles)) or {}
    for name in PHASES:
        ph = [next(x for x in r["phases"] if x["phase"] == name) for r in runs]
        files = [x.get("files_s") for x in ph]
        status = [x.get("status_s") for x in ph]
        row: dict[str, Any] = {
            "files_median_s": _median(files),
            "files_max_s": _max(files),
            "status_median_s": _median(status),
            "status_max_s": _max(status),
            "status_note": next(
                (x.get("status_note") or x.get("status_error") for x in ph if x.get("status_s") is None), None
            ),
            "writes_per_node_per_change": _median([x["writes_per_node_per_change"] for x in ph]),
            "writes_by_resource": ph[-1]["api"]["writes_by_resource"],
            "created": ph[-1]["api"]["created"],
            "conflicts_409": _median([x["api"]["conflicts_409"] for x in ph]),
            "apiserver_cpu_s": _median([x["api"]["apiserver_cpu_s"] for x in ph]),
            "load": [x["load"] for x in ph],
            "floor_s": floor_p.get(f"{name}_s"),
        }
        row["files_over_floor"] = ratio(row["files_median_s"], row["floor_s"])
        events = [(x.get("counters") or {}).get("published_events") for x in ph]
        if all(e is not None for e in events):
            row["agent_events_per_agent_per_change"] = _median([e / (nodes * profiles) for e in events])  # type: ignore[operator]
        out[name] = row
    steady = [r["steady"] for r in runs if r.get("steady")]
    if steady:
        out["steady"] = steady[0]
    return out


def scale_summary(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for entry in entries:
        groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for run in entry["runs"]:
            groups[run["profiles"]].append(run)
        for profiles, runs in sorted(groups.items()):
            row = phase_rows(runs, entry["floor"], entry["nodes"], profiles)
            row["controller_vmhwm_mib"] = max(r["controller_vmhwm_mib"] for r in runs)
            rows.append(row)
        drift = entry.get("drift_s") or []
        for row in rows:
            if row["nodes"] == entry["nodes"]:
                row["drift_p50_s"] = percentile(drift, 0.5)
                row["drift_p99_s"] = percentile(drift, 0.99)
                row["drift_samples"] = len(drift)
                row["apiserver_memory"] = entry.get("apiserver_memory")
                row["agent_processes"] = (entry.get("startup") or {}).get("agent_processes")
    return rows


def peer_summary(peer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (N, P): each system's phase figures, memory, steady state, and SPO / seccomp-operator ratios."""
    floors = {f["clients"]: f for f in peer["floor"]}
    groups: dict[tuple[int, int, str], list[dict[str, Any]]] = defaultdict(list)
    for run in peer["runs"]:
        groups[(run["nodes"], run["profiles"], run["system"])].append(run)
    memory = {(m["system"], m["nodes"], m["profiles_up_to"]): m for m in peer["memory"]}
    rows: list[dict[str, Any]] = []
    for n, p in sorted({(k[0], k[1]) for k in groups}):
        row: dict[str, Any] = {
            "nodes": n,
            "profiles": p,
            "floor": (floors.get(n) or {}).get("by_profiles", {}).get(str(p)),
        }
        for system in sorted({k[2] for k in groups if k[:2] == (n, p)}):
            figures = phase_rows(groups[(n, p, system)], floors.get(n), n, p)
            figures["memory"] = memory.get((system, n, p))
            row[system] = figures
        ours, theirs = row.get("seccomp-operator"), row.get("security-profiles-operator")
        if ours and theirs:
            row["ratio"] = {
                name: {
                    "files": ratio(theirs[name]["files_median_s"], ours[name]["files_median_s"]),
                    "status": ratio(theirs[name]["status_median_s"], ours[name]["status_median_s"]),
                    "writes": ratio(
                        theirs[name]["writes_per_node_per_change"], ours[name]["writes_per_node_per_change"]
                    ),
                }
                for name in PHASES
            }
        rows.append(row)
    return rows
