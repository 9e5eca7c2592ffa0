"""`seccomp-operator demo`: the whole product on this machine, with no cluster of your own.

Starts a real etcd and kube-apiserver on loopback, installs the CRDs, runs the controller and N simulated node agents
(each node's kubelet seccomp directory is a folder under the workdir), applies `examples/`, and shows every profile
going Ready on every node, an invalid edit refused, and a tampered file repaired. Exits 0 when all of that holds.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130  # the shell's convention for a command ended by SIGINT


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="run the operator against a local control plane with simulated nodes"
    )
    parser.add_argument("--nodes", type=int, default=3, help="simulated nodes (default 3)")
    parser.add_argument("--workdir", default=None, help="where control-plane data and node roots go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="leave it running and print the KUBECONFIG to use")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for Ready")
    parser.set_defaults(run=run)


class Step:
    """Prints one line per step with its duration, so a long first run shows where it is."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __enter__(self) -> Step:
        print(f"==> {self.text} ...", flush=True)
        self.started = time.monotonic()
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        took = time.monotonic() - self.started
        print(f"    {'done' if exc_type is None else 'FAILED'} in {took:.1f}s", flush=True)


def _node_table(sim: Any, nodes: list[str]) -> str:
    from seccomp_operator.agent.tree import EntryKind

    rows = [("NODE", "PROFILE", "STATE", "HASH", "FILE ON DISK")]
    for node in nodes:
        agent = sim.agents[node]
        for key, entry in sorted(agent.report.entries.items()):
            namespace, _, name = key.partition("/")
            on_disk = agent.tree.read(namespace, name)
            disk = on_disk.sha256[:12] if on_disk.kind is EntryKind.REGULAR else on_disk.kind.value
            rows.append((node, key, entry.state, entry.hash[:12], disk))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def _demo(args: argparse.Namespace, workdir: Path) -> int:
    from seccomp_operator.controller.operator import WebhookSettings
    from seccomp_operator.testing.controlplane import ControlPlane, KubectlError, repo_root
    from seccomp_operator.testing.net import free_port
    from seccomp_operator.testing.simulation import Simulation, wait_until

    root = repo_root()
    nodes = [f"node-{i}" for i in range(1, args.nodes + 1)]
    with Step("starting etcd and kube-apiserver on loopback (builds the binaries on first use)"):
        cp = ControlPlane(workdir=workdir / "control-plane")
        cp.start()
    try:
        with Step("installing the CRDs"):
            cp.kubectl("apply", "--server-side", "-f", str(root / "crds"))
            cp.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
            cp.kubectl("create", "namespace", "seccomp-operator")
            # Pods need their ServiceAccount, and no kube-controller-manager runs here to make `default`: without
            # it `kubectl apply -f examples/pod-web-server.yaml` is refused. Applied, so an existing one is fine.
            account = {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": "default"},
            }
            cp.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(account))
        webhook = WebhookSettings(
            addr="127.0.0.1",
            port=free_port(),
            host="127.0.0.1",
            managed="seccomp-operator.io",
            selfsigned_dir=str(workdir / "webhook-certs"),
        )
        sim = Simulation(cp.kubeconfig_path, workdir, webhook=webhook)
        try:
            with Step(f"starting the controller and {len(nodes)} node agents"):
                sim.add_nodes(nodes[:-1])
                # One node in the audit pool, so examples/audit-pool.yaml's nodeSelector has somewhere to go.
                sim.add_nodes(nodes[-1:], labels={"pool.example.com/purpose": "audit"})
                sim.start_controller(health_addr=None)
                wait_until(
                    lambda: (
                        cp.kubectl("get", "validatingwebhookconfigurations", check=False).stdout.count("seccomp") > 0
                    ),
                    timeout=30,
                    what="the admission webhook to be registered",
                )
            with Step("applying examples/"):
                for manifest in sorted((root / "examples").glob("*.yaml")):
                    if "pod" in manifest.name:
                        continue
                    applied = cp.kubectl("apply", "--server-side", "-f", str(manifest)).stdout.strip()
                    print("    " + applied.replace("\n", "\n    "))
            with Step("waiting for every profile to be Ready on every node"):
                cp.kubectl(
                    "wait",
                    "--for=condition=Ready",
                    "seccompprofiles",
                    "--all",
                    "-A",
                    f"--timeout={int(args.timeout)}s",
                    timeout=args.timeout + 10,
                )
            print()
            print(cp.kubectl("get", "seccompprofiles", "-A").stdout)
            print(_node_table(sim, nodes))
            print()
            with Step("trying an invalid edit (a misspelt syscall name) on a Ready profile"):
                target = json.loads(cp.kubectl("get", "seccompprofile", "deny-dangerous", "-o", "json").stdout)
                meta = target["metadata"]
                rules = [*target["spec"]["syscalls"], {"names": ["ptrcae"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
                patch = json.dumps({"spec": {"syscalls": rules}})
                try:
                    cp.kubectl(
                        "patch", "seccompprofile", meta["name"], "-n", meta["namespace"], "--type=merge", "-p", patch
                    )
                    print("    the invalid edit was accepted: this should not happen", file=sys.stderr)
                    return EXIT_FAILED
                except KubectlError as exc:
                    print("    refused by the API server:\n      " + (exc.stderr or "").strip()[:400])
            with Step(f"tampering with the file on {nodes[0]} and watching the agent repair it"):
                agent = sim.agents[nodes[0]]
                namespace, name = meta["namespace"], meta["name"]
                path = Path(agent.tree.path_of(namespace, name))
                good = path.read_bytes()
                path.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}\n')
                started = time.monotonic()
                wait_until(lambda: path.read_bytes() == good, timeout=10, what="the drift repair")
                print(f"    {path} restored in {(time.monotonic() - started) * 1000:.0f} ms")
            print()
            print("Pods reference a profile with:")
            reference = f"seccomp-operator/{namespace}/{name}.json"
            print(f"  securityContext.seccompProfile: {{type: Localhost, localhostProfile: {reference}}}")
            if args.keep:
                print(
                    f"\nThe cluster keeps running. In another shell:\n  export KUBECONFIG={cp.kubeconfig_path}\n"
                    f"  {cp.binaries_dir / 'kubectl'} get seccompprofiles -A\nNode roots are under {workdir / 'nodes'}."
                    " Press Ctrl-C (or send SIGTERM) to stop.",
                    flush=True,
                )
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    print("\nstopping")
        finally:
            with Step("stopping the controller and agents"):
                sim.close()
    finally:
        with Step("stopping the control plane"):
            cp.stop()
    print("demo finished: every profile Ready on every node, invalid edit refused, drift repaired")
    return 0


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM (systemd, `timeout`, a CI runner, `kill`) stops the demo the way Ctrl-C does: through every `finally`,
    # so the controller, the agents and the control plane are stopped and the workdir released. A second signal
    # during that cleanup gets the default action.
    signal.signal(signum, signal.SIG_DFL)
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    import logging

    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.WARNING, format="    [%(levelname)s %(name)s] %(message)s")
    # kopf logs every webhook refusal as an error; the demo prints the refusal the user sees instead.
    logging.getLogger("kopf").setLevel(logging.CRITICAL)
    try:
        if args.workdir:
            workdir = Path(args.workdir).resolve()
            workdir.mkdir(parents=True, exist_ok=True)
            return _demo(args, workdir)
        with tempfile.TemporaryDirectory(prefix="seccomp-operator-demo-") as tmp:
            return _demo(args, Path(tmp))
    except KeyboardInterrupt:
        print("\ninterrupted before the demo finished; everything it started is stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
