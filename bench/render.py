"""The README tables, rendered from the committed results, so no figure in README.md or bench/README.md is typed by
hand. Each table sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`; this module rewrites what is between.

  python -m bench.render           rewrite the blocks from bench/results (make bench does this after a full run)
  python -m bench.render --check   exit 1 when a block differs from what the results say (tests/repo runs this)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from bench.summary import ratio
from bench.tables import OURS, PEER, created_text, mib, real_node_sentence, sec, times
from bench.util import REPO, RESULTS

DOCS = (REPO / "README.md", REPO / "bench" / "README.md")
BLOCK = re.compile(r"(<!-- bench:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S)
NOT_YET = (
    "_No results of this benchmark yet: `bench/results/scale.json` and `peer.json` are written by one full "
    "`make bench` (see bench/README.md), which also renders this table._"
)


def load(results: Path, name: str) -> dict[str, Any]:
    path = results / name
    return json.loads(path.read_text()) if path.exists() else {}


def full_run(scale: dict[str, Any], peer: dict[str, Any]) -> bool:
    """Both files from one full invocation: never a table from results of different runs."""
    a, b = scale.get("invocation") or {}, peer.get("invocation") or {}
    return bool(a.get("full") and a.get("id") and a.get("id") == b.get("id"))


def row_for(scale: dict[str, Any], nodes: int, profiles: int) -> dict[str, Any] | None:
    rows = list(scale.get("summary") or []) + list(scale.get("large_summary") or [])
    return next((r for r in rows if r["nodes"] == nodes and r["profiles"] == profiles), None)


def med_max(figures: dict[str, Any], key: str) -> str:
    return f"median {sec(figures.get(f'{key}_median_s'))} s, max {sec(figures.get(f'{key}_max_s'))} s"


def performance(results: Path) -> str:
    scale, peer = load(results, "scale.json"), load(results, "peer.json")
    core = load(results, "profile_core.json")
    lines = ["| figure | measured |", "|---|---|"]
    if full_run(scale, peer):
        fs = scale["nodes_dir"]["type"]
        for nodes, profiles in ((500, 1), (500, 50), (5000, 1)):
            row = row_for(scale, nodes, profiles)
            if row is None:
                continue
            apply = row["apply"]
            label = f"{nodes} nodes x {profiles} profile{'s' if profiles > 1 else ''}"
            lines += [
                f"| {label}: apply to the file on every node ({fs} disk) | {med_max(apply, 'files')} "
                f"(floor {sec(apply['floor_s'], 3)} s) |",
                f"| {label}: apply to `Ready` for the latest generation | {med_max(apply, 'status')} |",
                f"| {label}: API writes per node per profile change (apply, update, delete) | "
                + ", ".join(sec(row[p]["writes_per_node_per_change"], 3) for p in ("apply", "update", "delete"))
                + " |",
            ]
        large = row_for(scale, 5000, 1)
        if large:
            memory = large.get("apiserver_memory") or {}
            lines.append(
                f"| 5,000 nodes x 1 profile: controller / kube-apiserver / etcd peak RSS | "
                f"{mib(large['controller_vmhwm_mib'])} / "
                f"{mib((memory.get('kube-apiserver') or {}).get('vmhwm_mib'))} / "
                f"{mib((memory.get('etcd') or {}).get('vmhwm_mib'))} MiB; kube-apiserver CPU per apply "
                f"{sec(large['apply']['apiserver_cpu_s'], 1)} s |"
            )
        reference = row_for(scale, 500, 1) or {}
        if reference:
            lines.append(
                f"| drift repair at 500 nodes (a file edited on a node until restored) | p50 "
                f"{sec(reference['drift_p50_s'] * 1000, 0)} ms, p99 {sec(reference['drift_p99_s'] * 1000, 0)} ms |"
            )
        memory = scale.get("memory")
        if memory:
            lines += [
                f"| controller at {memory['profiles']} profiles x {memory['nodes']} nodes, webhooks on | "
                f"{mib(memory['controller_vmhwm_mib'])} MiB peak RSS |",
                f"| one agent process with {memory['profiles']} profiles installed | "
                f"{mib(memory['agent_vmhwm_mib'])} MiB peak RSS |",
            ]
        real = scale.get("real_node") or {}
        if real:
            lines.append(f"| real kubelet node | {real_node_sentence(real).removeprefix('Real node ')} |")
    else:
        lines.append(f"| scale and memory | {NOT_YET.strip('_')} |")
    if core:
        lines.append(
            f"| validate + compile + render one profile: {core['profile']} | median {core['median_ms']:.1f} ms |"
        )
        worst = core.get("worst_case")
        if worst:
            limits = worst.get("limits") or {}
            lines.append(
                f"| validate the worst spec the limits admit ({limits.get('syscall_names')} names, "
                f"{limits.get('argument_conditions')} argument conditions, {len(worst.get('architectures') or [])} "
                f"architectures, {int(limits.get('base_depth', 0)) + 1}-profile chain) | max {worst['max_ms']:.0f} ms |"
            )
    return "\n".join(lines)


def side_by_side(results: Path) -> str:
    scale, peer = load(results, "scale.json"), load(results, "peer.json")
    if not full_run(scale, peer) or not peer.get("summary"):
        return NOT_YET
    lines = [
        "| N x P | files on every node: ours / SPO (floor) | status says installed: ours / SPO | API writes per node "
        "per change: ours / SPO | deletion, objects gone: ours / SPO | steady writes/min: ours / SPO | memory per "
        "node agent MiB: ours / SPO |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in peer["summary"]:
        ours, theirs = row.get(OURS) or {}, row.get(PEER) or {}
        if not ours or not theirs:
            continue
        a, b = ours["apply"], theirs["apply"]
        lines.append(
            f"| {row['nodes']} x {row['profiles']} | {sec(a['files_median_s'])} / {sec(b['files_median_s'])} s "
            f"({times(ratio(b['files_median_s'], a['files_median_s']))}; floor {sec(a['floor_s'], 3)} s) | "
            f"{sec(a['status_median_s'])} / {sec(b['status_median_s'])} s | "
            f"{sec(a['writes_per_node_per_change'])} / {sec(b['writes_per_node_per_change'])} | "
            f"{sec(ours['delete']['status_median_s'])} / {sec(theirs['delete']['status_median_s'])} s | "
            f"{sec((ours.get('steady') or {}).get('writes_per_minute'), 0)} / "
            f"{sec((theirs.get('steady') or {}).get('writes_per_minute'), 0)} | "
            f"{mib((ours.get('memory') or {}).get('agent_vmhwm_mib_median'))} / "
            f"{mib((theirs.get('memory') or {}).get('agent_vmhwm_mib_median'))} |"
        )
    update = [r for r in peer["summary"] if r.get(PEER)]
    if update:
        note = update[0][PEER]["update"].get("status_note")
        if note:
            lines += ["", f"After an update, SPO's status cannot be timed: {note} (it stays `Installed` throughout)."]
    created = [r for r in peer["summary"] if r.get(OURS) and r.get(PEER)]
    if created:
        last = created[-1]
        lines += [
            "",
            f"Objects created by applying {last['profiles']} profiles on {last['nodes']} nodes: ours "
            f"{created_text(last[OURS]['apply']['created'])}; SPO {created_text(last[PEER]['apply']['created'])}.",
        ]
    return "\n".join(lines)


def scale_rows(results: Path) -> str:
    scale, peer = load(results, "scale.json"), load(results, "peer.json")
    if not full_run(scale, peer):
        return NOT_YET
    lines = [
        "| N x P | phase | files on every node (floor) | Ready / gone | writes/node/change | kube-apiserver CPU s |",
        "|---|---|---|---|---|---|",
    ]
    rows = list(scale.get("summary") or []) + list(scale.get("large_summary") or [])
    for row in rows:
        if row["nodes"] < 100:
            continue
        for phase in ("apply", "update", "delete"):
            ph = row[phase]
            lines.append(
                f"| {row['nodes']} x {row['profiles']} | {phase} | {sec(ph['files_median_s'])} "
                f"({sec(ph['floor_s'], 3)}) | {sec(ph['status_median_s'])} | "
                f"{sec(ph['writes_per_node_per_change'], 3)} | {sec(ph['apiserver_cpu_s'], 1)} |"
            )
    return "\n".join(lines)


def _verdict(value: float | None, limit: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value <= limit else "missed"


def targets(results: Path) -> str:
    scale, peer = load(results, "scale.json"), load(results, "peer.json")
    if not full_run(scale, peer):
        return NOT_YET
    checks: list[tuple[str, float | None, float, str]] = []
    r500 = row_for(scale, 500, 1) or {}
    r500p = row_for(scale, 500, 50) or {}
    r5000 = row_for(scale, 5000, 1) or {}
    if r500:
        checks.append(("500 x 1: Ready within 1.5 s of apply", r500["apply"]["status_median_s"], 1.5, "s"))
    if r500p:
        checks.append(("500 x 50: files on every node within 5 s", r500p["apply"]["files_median_s"], 5.0, "s"))
        checks.append(("500 x 50: Ready within 8 s", r500p["apply"]["status_median_s"], 8.0, "s"))
    if r5000:
        checks += [
            ("5,000 x 1: files on every node within 5 s", r5000["apply"]["files_median_s"], 5.0, "s"),
            ("5,000 x 1: Ready within 10 s", r5000["apply"]["status_median_s"], 10.0, "s"),
            (
                "5,000 x 1: API writes per node per change at most 1.1",
                r5000["apply"]["writes_per_node_per_change"],
                1.1,
                "",
            ),
            ("5,000 x 1: controller peak RSS at most 300 MiB", r5000["controller_vmhwm_mib"], 300.0, " MiB"),
        ]
    lines = ["| target (issue 14) | measured (median) | |", "|---|---|---|"]
    for what, value, limit, unit in checks:
        lines.append(f"| {what} | {sec(value)}{unit} | {_verdict(value, limit)} |")
    return "\n".join(lines)


FAULT_GROUPS = (
    ("apiserver-crash", "kube-apiserver crash mid-rollout", "every node converges to the latest revision"),
    ("etcd-crash", "etcd crash mid-rollout", "every node converges to the latest revision"),
    ("watch-expired-410", "watches expire (etcd compacted, 410 Gone)", "agents relist and converge"),
    (
        "process-kill",
        "controller leader or agents killed during create/update/delete",
        "standby takes over; agents resync",
    ),
    ("hostile-spec-fuzz", "fuzzed SeccompProfile specs through the API server", "nothing invalid reaches a node"),
    ("oversized-spec-", "oversized specs", "refused with a clear error; the last good revision stays"),
    ("fs-race-", "a directory swapped for a symlink while the agent writes", "nothing written outside the subtree"),
    (
        "fs-plant-",
        "symlinks, hardlinks, FIFOs, files, directories, foreign owners, loose modes planted",
        "refused or replaced; recovers",
    ),
    ("fs-disk-full", "full disk", "reported Failed with the path, old file intact, recovers"),
    ("fs-read-only-root", "read-only root", "reported Failed with the path, old file intact, recovers"),
)
LOSSES = ("lost_updates", "stale_nodes", "partial_files", "orphaned_files", "stuck_deletions")


def reliability(results: Path) -> str:
    faults = load(results, "faults.json").get("faults") or []
    if not faults:
        return "_No fault results yet: `FAULTS_LONG=1` runs of tests/faults write bench/results/faults.json._"
    modes = sorted({f.get("mode", "?") for f in faults})
    lines = [
        f"| fault | injected | what is checked | {' / '.join(k.split('_')[0] for k in LOSSES)} | details of the run |",
        "|---|---|---|---|---|",
    ]
    used: set[str] = set()
    for prefix, label, checked in FAULT_GROUPS:
        group = [f for f in faults if f["name"] == prefix or (prefix.endswith("-") and f["name"].startswith(prefix))]
        if not group:
            continue
        used.update(f["name"] for f in group)
        injected = sum(int(f["injections"]) for f in group)
        kinds = f" ({len(group)} kinds)" if len(group) > 1 else ""
        losses = " / ".join(str(sum(int(f[k]) for f in group)) for k in LOSSES)
        details = group[0].get("notes", "") if len(group) == 1 else ""
        lines.append(f"| {label}{kinds} | {injected:,} | {checked} | {losses} | {details.replace('|', '/')} |")
    for fault in faults:
        if fault["name"] not in used:
            losses = " / ".join(str(fault[k]) for k in LOSSES)
            lines.append(f"| {fault['name']} | {int(fault['injections']):,} | | {losses} | {fault.get('notes', '')} |")
    lines += ["", f"Run mode of these figures: {', '.join(modes)}."]
    return "\n".join(lines)


RENDERERS = {
    "performance": performance,
    "side-by-side": side_by_side,
    "scale-rows": scale_rows,
    "targets": targets,
    "reliability": reliability,
}


def rendered(text: str, results: Path) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in RENDERERS:
            raise KeyError(f"unknown bench block {name!r}")
        return f"{match.group(1)}{RENDERERS[name](results)}\n{match.group(4)}"

    return BLOCK.sub(replace, text)


def render_docs(results: Path = RESULTS, *, check: bool = False) -> list[str]:
    """Rewrite (or, with `check`, compare) every block; the documents that differ from the results."""
    differing = []
    for doc in DOCS:
        text = doc.read_text()
        new = rendered(text, results)
        if new != text:
            differing.append(str(doc.relative_to(REPO)))
            if not check:
                doc.write_text(new)
    return differing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a block is out of date")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    differing = render_docs(args.results, check=args.check)
    if args.check and differing:
        print(f"out of date with {args.results}: {', '.join(differing)} (run: .venv/bin/python -m bench.render)")
        return 1
    print("rewrote " + ", ".join(differing) if differing else "README tables match the results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
