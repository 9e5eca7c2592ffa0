"""`seccomp-operator agent`: the node agent of the DaemonSet."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "agent", help="install published profiles on this node and report their state"
    )
    parser.add_argument(
        "--node-name", default=os.environ.get("NODE_NAME"), help="this node's name (default: $NODE_NAME)"
    )
    parser.add_argument("--root", default="/var/lib/kubelet/seccomp", help="the kubelet's seccomp directory")
    parser.add_argument("--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG, else in-cluster)")
    parser.add_argument("--health-addr", default="0.0.0.0:8081", help="address of /healthz /readyz /metrics; '' = off")
    parser.add_argument(
        "--remove-readiness-taint",
        action="store_true",
        help="after the first full sync, remove the seccomp-operator.io/not-ready taint from this node",
    )
    parser.add_argument("--no-drift-watch", action="store_true", help="do not watch the subtree with inotify")
    parser.add_argument("--log-format", choices=["json", "plain"], default="json")
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(run=run)


async def _main(args: argparse.Namespace) -> int:
    from seccomp_operator.agent.agent import AgentSettings, NodeAgent
    from seccomp_operator.agent.health import serve
    from seccomp_operator.commands.settings import load_agent_config
    from seccomp_operator.kube import KubeClient

    client = KubeClient(load_agent_config(args.kubeconfig), user_agent=f"seccomp-operator-agent/{args.node_name}")
    settings = AgentSettings(drift_watch=not args.no_drift_watch, remove_readiness_taint=args.remove_readiness_taint)
    agent = NodeAgent(client, args.node_name, args.root, settings)
    runner = None
    if args.health_addr:
        host, _, port = args.health_addr.rpartition(":")
        runner = await serve(agent, host or "0.0.0.0", int(port))
    task = asyncio.create_task(agent.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        if runner is not None:
            await runner.cleanup()
        await client.close()
    return 0


def run(args: argparse.Namespace) -> int:
    from seccomp_operator import logging_setup
    from seccomp_operator.commands.settings import check_agent

    check_agent(args)
    logging_setup.configure(args.log_format, args.log_level)
    return asyncio.run(_main(args))
