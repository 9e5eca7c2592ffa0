"""Kubernetes Events on a SeccompProfile's state changes (posted only on transitions, never per reconcile)."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from seccomp_operator.kube.client import EVENTS, ApiError, KubeClient

log = logging.getLogger(__name__)


class EventRecorder:
    def __init__(self, client: KubeClient, component: str = "seccomp-operator-controller") -> None:
        self.client = client
        self.component = component

    async def emit(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        meta = obj["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": self.component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self.component,
        }
        log.info("event %s %s on %s/%s: %s", event_type, reason, meta["namespace"], meta["name"], message)
        try:
            await self.client.create(EVENTS, body, meta["namespace"])
        except ApiError as exc:  # Events are best effort: never fail a reconcile over one
            log.warning("could not post event %s: %s", reason, exc)
