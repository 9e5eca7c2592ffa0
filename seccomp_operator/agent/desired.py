"""What one node should hold, computed from published revisions and the node's labels (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DesiredProfile:
    namespace: str
    name: str
    hash: str
    content: bytes

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class PublishedContentError(ValueError):
    """A published revision whose content does not match its hash: never installed."""


def selector_matches(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in (selector or {}).items())


def desired_from_published(obj: Mapping[str, Any]) -> DesiredProfile:
    meta, spec = obj["metadata"], obj.get("spec") or {}
    content = str(spec.get("content", "")).encode()
    digest = hashlib.sha256(content).hexdigest()
    if digest != spec.get("hash"):
        raise PublishedContentError(
            f"published content hashes to {digest[:12]}, not the declared {str(spec.get('hash'))[:12]}"
        )
    return DesiredProfile(str(meta["namespace"]), str(meta["name"]), digest, content)


def targets_node(obj: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    return selector_matches((obj.get("spec") or {}).get("nodeSelector"), labels)
