"""`make bench` / `python -m bench`: every benchmark of bench/README.md in one invocation, then the results, the
plot and the README tables.

A full run (no selection) writes bench/results/ (scale.json, peer.json, scale.md, peer.md, convergence.png) and
renders the tables of README.md and bench/README.md from them (`bench.render`). Every result file carries the same
invocation stamp, so results of different invocations are never mixed: a partial run (--quick, --only) writes to a
fresh temporary directory unless --out names one, and never touches bench/results.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import render
from bench.disk import NODES_PARENT, nodes_dir_info
from bench.plot import plot
from bench.realnode import run_real_node
from bench.scale import memory_synthetic, run_scale
from bench.summary import peer_summary, scale_summary
from bench.systems import PeerUnavailable
from bench.tables import peer_markdown, scale_markdown
from bench.util import REPO, RESULTS, log, machine_info, raise_open_files_limit

STEPS = ("scale", "large", "memory", "peer", "real-node")  # in the order they run
# Minutes each step took in the last full run on the 2-CPU machine (shown as the plan, not used for anything else).
ESTIMATE_MINUTES = {"scale": 30, "large": 12, "memory": 5, "peer": 40, "real-node": 4}


def parse_matrix(text: str) -> list[tuple[int, list[int]]]:
    """ "10,100x1,50;5000x1" -> [(10, [1, 50]), (100, [1, 50]), (5000, [1])]."""
    out = []
    for part in text.split(";"):
        nodes, _, profiles = part.partition("x")
        for n in nodes.split(","):
            out.append((int(n), [int(p) for p in profiles.split(",")]))
    return out


def git_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=False)
    return result.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", default="10,100,500x1,50", help="node counts x profile counts of the scale matrix")
    parser.add_argument("--large", default="5000x1", help="the large simulated cluster, nodes x profiles")
    parser.add_argument("--memory", default="500x500", help="controller memory at nodes x profiles (webhooks on)")
    parser.add_argument("--peer", choices=["spo", "none"], default="spo", help="the peer measured side by side")
    parser.add_argument("--peer-matrix", default="10,50x1,50", help="node counts x profile counts of the peer run")
    parser.add_argument("--runs", type=int, default=3, help="runs per N x P (scale and large)")
    parser.add_argument("--peer-runs", type=int, default=2, help="runs per N x P per system (peer)")
    parser.add_argument("--steady-seconds", type=float, default=60.0, help="steady-state window per system, N x P")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(STEPS)} (a partial run)")
    parser.add_argument("--quick", action="store_true", help="smoke run: small sizes, one run, a temporary --out")
    parser.add_argument("--out", default="", help="results directory (default: bench/results for a full run)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run every cleanup (processes, temporary directories)
    raise_open_files_limit()

    steps = [s for s in args.only.split(",") if s] or list(STEPS)
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown step(s) {sorted(unknown)}; choose from {STEPS}")
    if args.quick:
        args.scale, args.large, args.memory, args.peer_matrix = "10x1,5", "", "20x20", "2x1,3"
        args.runs, args.peer_runs, args.steady_seconds = 1, 1, 10.0
    full = not args.quick and not args.only and args.peer == "spo"
    out = Path(args.out) if args.out else (RESULTS if full else Path(tempfile.mkdtemp(prefix="bench-results-")))
    if out.resolve() == RESULTS.resolve() and not full:
        parser.error("bench/results holds the results of one full run only; give a partial run another --out")
    if "large" in steps and not args.large:
        steps.remove("large")
    out.mkdir(parents=True, exist_ok=True)

    invocation: dict[str, Any] = {
        "id": uuid.uuid4().hex[:12],
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "full": full,
        "steps": steps,
        "commit": git_commit(),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    plan = ", ".join(f"{s} ~{ESTIMATE_MINUTES[s]} min" for s in steps)
    log(f"bench {invocation['id']}: {plan} (on a quiet 2-CPU machine); results in {out}")

    spo_dir: Path | None = None
    peer_skipped = None
    if "peer" in steps:
        if args.peer == "none":
            peer_skipped = "not run: --peer none"
        else:
            from bench.peer import find_spo

            try:
                spo_dir = find_spo()
            except PeerUnavailable as exc:
                log(f"error: {exc}")
                return 2

    scale: dict[str, Any] = {"invocation": invocation, "machine": machine_info()}
    scale["nodes_dir"] = nodes_dir_info(NODES_PARENT)
    timings: dict[str, float] = {}

    def timed(step: str, action: Any) -> Any:
        started = time.monotonic()
        log(f"== {step}")
        try:
            return action()
        finally:
            timings[step] = (time.monotonic() - started) / 60
            log(f"== {step} done in {timings[step]:.1f} min")

    if "scale" in steps:
        entries: list[dict[str, Any]] = []
        for n, profiles in parse_matrix(args.scale):
            entries += timed(f"scale N={n}", lambda n=n, profiles=profiles: run_scale([n], profiles, args.runs))
        scale["scale"] = entries
        scale["summary"] = scale_summary(entries)
    if "large" in steps:
        (n, profiles), *_ = parse_matrix(args.large)
        scale["large"] = timed("large", lambda: run_scale([n], profiles, args.runs))
        scale["large_summary"] = scale_summary(scale["large"])
    if "memory" in steps:
        n, _, p = args.memory.partition("x")
        scale["memory"] = timed("memory", lambda: memory_synthetic(int(n), int(p)))
    peer: dict[str, Any] = {"invocation": invocation}
    if "peer" in steps:
        if spo_dir is None:
            peer["skipped"] = peer_skipped
        else:
            from bench.peer import run_peer

            matrix = parse_matrix(args.peer_matrix)
            node_counts = [n for n, _ in matrix]
            peer.update(
                timed("peer", lambda: run_peer(node_counts, matrix[0][1], args.peer_runs, args.steady_seconds, spo_dir))
            )
            peer["summary"] = peer_summary(peer)
    if "real-node" in steps:
        try:
            scale["real_node"] = timed("real-node", run_real_node)
        except Exception as exc:  # the simulated results stand; the table says why this one is missing
            log(f"real node: failed: {exc}")
            scale["real_node"] = {"status": "failed", "reason": f"failed: {type(exc).__name__}: {exc}"[:500]}
    invocation["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    invocation["minutes"] = {k: round(v, 1) for k, v in timings.items()}
    write_results(out, scale, peer)
    if full:
        changed = render.render_docs(out)
        log(f"README tables rendered from the results: {', '.join(changed) or 'already current'}")
    log(f"wrote {out}/scale.json, peer.json, scale.md, peer.md, convergence.png ({sum(timings.values()):.0f} min)")
    return 0


def write_results(out: Path, scale: dict[str, Any], peer: dict[str, Any]) -> None:
    (out / "scale.json").write_text(json.dumps(scale, indent=1) + "\n")
    (out / "peer.json").write_text(json.dumps(peer, indent=1) + "\n")
    (out / "scale.md").write_text(scale_markdown(scale))
    (out / "peer.md").write_text(peer_markdown(peer))
    plot(scale, peer, out / "convergence.png")
