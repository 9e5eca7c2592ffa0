"""Plain watch clients for the floor: COUNT watches on the ConfigMaps of one namespace that do nothing but count what
arrives. Run by `bench.floor.Floor`; not a command for people.

Usage: python -m bench.watchers KUBECONFIG NAMESPACE COUNT
Each client is its own watch connection (the same asyncio HTTP client the agents use). When every client of this
process has received an event (type, object name, resourceVersion), one line goes to stdout:
  {"type": "ADDED", "name": "...", "t": epoch seconds when the last client got it}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

from seccomp_operator.kube.client import KubeClient, Resource
from seccomp_operator.kube.config import load_config

CONFIGMAPS = Resource("", "v1", "configmaps")


async def main(kubeconfig: str, namespace: str, count: int) -> None:
    client = KubeClient(load_config(kubeconfig), user_agent="bench-watch-client", pool_size=0)
    listed = await client.list(CONFIGMAPS, namespace=namespace)
    version = str(listed["metadata"]["resourceVersion"])
    received: Counter[tuple[str, str, str]] = Counter()

    async def watch_client() -> None:
        resource_version = version
        while True:
            try:
                async for event in client.watch(CONFIGMAPS, resource_version, namespace, server_timeout=3600):
                    meta = event["object"]["metadata"]
                    resource_version = str(meta["resourceVersion"])
                    if event["type"] == "BOOKMARK":
                        continue
                    key = (event["type"], str(meta["name"]), resource_version)
                    received[key] += 1
                    if received[key] == count:
                        print(json.dumps({"type": key[0], "name": key[1], "t": time.time()}), flush=True)
            except (TimeoutError, OSError):
                await asyncio.sleep(0.1)  # a dropped stream resumes where it was

    try:
        await asyncio.gather(*(watch_client() for _ in range(count)))
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
