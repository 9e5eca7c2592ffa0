"""A small asyncio Kubernetes API client over aiohttp: just what the agent and controller use.

Why not the generated `kubernetes` client: it is synchronous and its import alone costs tens of MiB, and the node agent
must stay small and run hundreds of instances in one process for benchmarks. kopf already brings aiohttp.
"""

from seccomp_operator.kube.client import ApiError, KubeClient, Resource
from seccomp_operator.kube.config import ClusterConfig, load_config

__all__ = ["ApiError", "ClusterConfig", "KubeClient", "Resource", "load_config"]
