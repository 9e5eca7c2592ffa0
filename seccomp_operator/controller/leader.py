"""Leader election with a coordination.k8s.io Lease: replicas keep warm caches, only the leader writes."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from seccomp_operator.kube.client import LEASES, ApiError, KubeClient

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_seconds: int = 15,
        renew_seconds: float = 5.0,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.is_leader = asyncio.Event()
        self.is_follower = asyncio.Event()
        self.is_follower.set()
        self.transitions = 0

    def _spec(self, acquired: str, transitions: int) -> dict[str, object]:
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.lease_seconds,
            "acquireTime": acquired,
            "renewTime": _fmt(_now()),
            "leaseTransitions": transitions,
        }

    async def _try_acquire(self) -> bool:
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
        except ApiError as exc:
            if exc.status != 404:
                raise
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(_fmt(_now()), 0),
            }
            try:
                await self.client.create(LEASES, body, self.namespace)
            except ApiError as create_exc:
                if create_exc.status == 409:
                    return False
                raise
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renew = spec.get("renewTime")
        duration = int(spec.get("leaseDurationSeconds") or self.lease_seconds)
        expired = renew is None or _parse(renew) + timedelta(seconds=duration) < _now()
        if holder not in (self.identity, None, "") and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        acquired = str(spec.get("acquireTime") or _fmt(_now()))
        if holder != self.identity:
            transitions += 1
            acquired = _fmt(_now())
        lease["spec"] = self._spec(acquired, transitions)
        try:
            # PUT carries the resourceVersion we read: two candidates cannot both win.
            await self.client.replace(LEASES, self.name, lease, self.namespace)
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def run(self) -> None:
        while True:
            try:
                leader = await self._try_acquire()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("leader election: %s", exc)
                leader = False
            if leader and not self.is_leader.is_set():
                self.transitions += 1
                log.info("became leader (%s)", self.identity)
                self.is_follower.clear()
                self.is_leader.set()
            elif not leader and self.is_leader.is_set():
                log.warning("lost leadership (%s)", self.identity)
                self.is_leader.clear()
                self.is_follower.set()
            await asyncio.sleep(self.renew_seconds)

    async def release(self) -> None:
        """Give the lease up on clean shutdown so the standby takes over at once."""
        if not self.is_leader.is_set():
            return
        self.is_leader.clear()
        self.is_follower.set()
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["renewTime"] = None
                await self.client.replace(LEASES, self.name, lease, self.namespace)
        except ApiError as exc:
            log.info("lease release skipped: %s", exc)
