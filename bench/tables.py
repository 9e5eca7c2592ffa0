"""Markdown tables from the results (results/scale.md, results/peer.md and the README blocks of `bench.render`)."""

from __future__ import annotations

from typing import Any

OURS = "seccomp-operator"
PEER = "security-profiles-operator"


def sec(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}x"


def mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def created_text(created: dict[str, float]) -> str:
    return ", ".join(f"{int(v)} {k}" for k, v in sorted(created.items())) or "none"


def invocation_line(document: dict[str, Any]) -> str:
    inv = document.get("invocation") or {}
    return (
        f"Invocation `{inv.get('id', '?')}` (`{inv.get('command', '?')}`, commit {str(inv.get('commit', '?'))[:12]}), "
        f"{inv.get('started', '?')} to {inv.get('finished', '?')}."
    )


def nodes_dir_line(scale: dict[str, Any]) -> str:
    d = scale.get("nodes_dir") or {}
    return (
        f"Node directories: {d.get('type', '?')} on {d.get('device', '?')} (`{d.get('path', '?')}`); writing 2 KB, "
        f"fsync, rename and directory fsync there takes {sec(d.get('fsync_write_rename_ms'))} ms (median). "
        "Files are timed on that disk by one observer process (inotify; the file's ctime), for every node."
    )


def scale_markdown(scale: dict[str, Any]) -> str:
    machine = scale.get("machine") or {}
    lines = [
        "# Scale benchmark results",
        "",
        invocation_line(scale),
        f"Machine: {machine.get('cpu')}, {machine.get('nproc')} CPUs, {machine.get('mem_gib')} GiB, kernel "
        f"{machine.get('kernel')}. Times in seconds from the user's first request of the phase; files = the last "
        "node's file of the new revision on disk; status = Ready for the latest generation with that file's hash "
        "(delete: the objects gone); floor = the same requests to ConfigMaps reaching N plain watch clients.",
        "",
        nodes_dir_line(scale),
        "",
        "| N | P | phase | files med | files max | status med | status max | floor | files / floor "
        "| writes/node/change | agent events/agent/change | kube-apiserver CPU s | load (1 min) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = list(scale.get("summary") or []) + list(scale.get("large_summary") or [])
    for row in rows:
        for phase in ("apply", "update", "delete"):
            ph = row[phase]
            lines.append(
                f"| {row['nodes']} | {row['profiles']} | {phase} | {sec(ph['files_median_s'])} | "
                f"{sec(ph['files_max_s'])} | {sec(ph['status_median_s'])} | {sec(ph['status_max_s'])} | "
                f"{sec(ph['floor_s'], 3)} | {times(ph['files_over_floor'])} | "
                f"{sec(ph['writes_per_node_per_change'], 3)} | {sec(ph.get('agent_events_per_agent_per_change'))} | "
                f"{sec(ph['apiserver_cpu_s'], 1)} | "
                f"{', '.join(f'{x:.1f}' for x in ph['load'])} |"
            )
    lines += [
        "",
        "| N | P | runs | agent processes | controller peak RSS MiB | kube-apiserver peak RSS MiB | etcd peak RSS MiB "
        "| drift p50 | drift p99 | drift samples |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        memory = row.get("apiserver_memory") or {}
        lines.append(
            f"| {row['nodes']} | {row['profiles']} | {row['runs']} | {row.get('agent_processes')} | "
            f"{mib(row['controller_vmhwm_mib'])} | {mib((memory.get('kube-apiserver') or {}).get('vmhwm_mib'))} | "
            f"{mib((memory.get('etcd') or {}).get('vmhwm_mib'))} | {sec(row['drift_p50_s'] * 1000, 0)} ms | "
            f"{sec(row['drift_p99_s'] * 1000, 0)} ms | {row['drift_samples']} |"
        )
    memory = scale.get("memory")
    if memory:
        lines += ["", memory_sentence(memory)]
    real = scale.get("real_node")
    if real:
        lines += ["", real_node_sentence(real)]
    return "\n".join(lines) + "\n"


def memory_sentence(memory: dict[str, Any]) -> str:
    return (
        f"Memory at {memory['profiles']} profiles x {memory['nodes']} nodes (controller with its admission webhooks "
        f"on; {memory['nodes']} Node objects, {memory['profiles']} profiles created through the webhook and published, "
        f"then {memory['nodes']} NodeProfileReports of {memory['profiles']} Installed entries written by the "
        "benchmark; "
        f"all Ready {memory['reports_to_ready_s']:.1f} s after the reports): controller peak RSS (VmHWM) "
        f"{memory['controller_vmhwm_mib']:.0f} MiB. One agent process with {memory['profiles']} profiles installed: "
        f"peak RSS {memory['agent_vmhwm_mib']:.0f} MiB (installed all in {memory['agent_install_s']:.1f} s). "
        f"Load {memory['load']:.1f}."
    )


def real_node_sentence(real: dict[str, Any]) -> str:
    if real.get("status") != "measured":
        return f"Real node: {real.get('reason', 'not measured')}."
    return (
        f"Real node ({real['nodes']} kubelet node(s), containerd, the operator installed from its manifests; "
        f"{real['runs']} runs, median): apply to the file in the kubelet's seccomp directory "
        f"{sec(real['file_median_s'])} s, apply to a waiting Pod Running {sec(real['pod_running_median_s'])} s."
    )


def peer_markdown(peer: dict[str, Any]) -> str:
    lines = ["# seccomp-operator and security-profiles-operator side by side", "", invocation_line(peer), ""]
    if peer.get("skipped"):
        return "\n".join([*lines, f"The peer was {peer['skipped']}.", ""])
    lines += [
        "Same API server per N (one control plane; floor, then seccomp-operator, then SPO, one at a time), same Node "
        "objects, same profile set, the same requests. Times in seconds from the first request of the phase; the "
        "floor is the same requests to ConfigMaps reaching N plain watch clients. SPO / ours > 1 means SPO takes "
        "longer (or writes more).",
        "",
        "| N | P | phase | files: ours | files: SPO | SPO / ours | floor | status: ours | status: SPO | SPO / ours "
        "| writes/node/change: ours | SPO | SPO / ours | objects created: ours | objects created: SPO |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in peer.get("summary") or []:
        ours, theirs, ratio = row.get(OURS) or {}, row.get(PEER) or {}, row.get("ratio") or {}
        for phase in ("apply", "update", "delete"):
            a, b, r = ours.get(phase) or {}, theirs.get(phase) or {}, ratio.get(phase) or {}
            lines.append(
                f"| {row['nodes']} | {row['profiles']} | {phase} | {sec(a.get('files_median_s'))} | "
                f"{sec(b.get('files_median_s'))} | {times(r.get('files'))} | {sec(a.get('floor_s'), 3)} | "
                f"{sec(a.get('status_median_s'))} | {status_text(b)} | {times(r.get('status'))} | "
                f"{sec(a.get('writes_per_node_per_change'))} | {sec(b.get('writes_per_node_per_change'))} | "
                f"{times(r.get('writes'))} | {created_text(a.get('created') or {})} | "
                f"{created_text(b.get('created') or {})} |"
            )
    lines += [
        "",
        "| N | P | steady writes/min: ours | steady writes/min: SPO | memory per node agent MiB: ours (median, max) "
        "| SPO (median, max) | controller / manager MiB: ours | SPO |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in peer.get("summary") or []:
        ours, theirs = row.get(OURS) or {}, row.get(PEER) or {}
        om, tm = ours.get("memory") or {}, theirs.get("memory") or {}
        lines.append(
            f"| {row['nodes']} | {row['profiles']} | {steady_text(ours)} | {steady_text(theirs)} | "
            f"{mib(om.get('agent_vmhwm_mib_median'))}, {mib(om.get('agent_vmhwm_mib_max'))} | "
            f"{mib(tm.get('agent_vmhwm_mib_median'))}, {mib(tm.get('agent_vmhwm_mib_max'))} | "
            f"{mib(om.get('controller_vmhwm_mib'))} | {mib(tm.get('controller_vmhwm_mib'))} |"
        )
    lines += ["", "Set-up, and every difference that could favour either side:", ""]
    for system, notes in (peer.get("setup") or {}).items():
        lines += [f"- {system}:", *(f"  - {note}" for note in notes)]
    lines += [f"- both: {note}" for note in peer.get("common_setup") or []]
    return "\n".join(lines) + "\n"


def status_text(figures: dict[str, Any]) -> str:
    if figures.get("status_median_s") is None and figures.get("status_note"):
        return f"n/a ({figures['status_note']})"
    return sec(figures.get("status_median_s"))


def steady_text(figures: dict[str, Any]) -> str:
    steady = figures.get("steady")
    if not steady:
        return "n/a"
    parts = ", ".join(f"{k} {v:.0f}" for k, v in sorted(steady["writes_by_resource_per_minute"].items()))
    return f"{steady['writes_per_minute']:.0f} ({parts or 'none'})"
