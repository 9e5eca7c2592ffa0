"""Async REST calls to the Kubernetes API: CRUD, list with paging, and a raw watch stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

from seccomp_operator.kube.config import ClusterConfig

JSON = dict[str, Any]

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
    "strategic": "application/strategic-merge-patch+json",
}


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        parts = [base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


NODES = Resource("", "v1", "nodes", namespaced=False)
PODS = Resource("", "v1", "pods")
EVENTS = Resource("", "v1", "events")
LEASES = Resource("coordination.k8s.io", "v1", "leases")


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str, body: JSON | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}


class KubeClient:
    """One aiohttp session per client. Many simulated agents may share one client (it is safe for concurrent use)."""

    def __init__(self, config: ClusterConfig, *, user_agent: str = "seccomp-operator", pool_size: int = 100) -> None:
        self.config = config
        self._user_agent = user_agent
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.config.ssl_context, limit=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self._user_agent})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _headers(self, extra: Mapping[str, str] | None = None) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        for key, value in self.config.auth_headers().items():
            # Impersonated groups and extras are stored NUL-joined: each value needs its own header line.
            for part in value.split("\0"):
                headers.add(key, part)
        for key, value in (extra or {}).items():
            headers[key] = value
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> JSON:
        data = None
        if body is not None:
            data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        headers = self._headers({"Content-Type": content_type, "Accept": "application/json"})
        async with self.session.request(
            method,
            self.config.server + path,
            params=params,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise _api_error(resp.status, text)
            result: JSON = json.loads(text) if text else {}
            return result

    async def raw_get(self, path: str, *, timeout: float = 30.0) -> str:
        async with self.session.get(
            self.config.server + path, headers=self._headers(), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise _api_error(resp.status, text)
            return text

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> JSON:
        return await self.request("GET", res.path(namespace, name))

    async def list_pages(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> AsyncIterator[JSON]:
        """Each page of a LIST in turn (one consistent snapshot: `continue` keeps the first page's version)."""
        params: dict[str, str] = {"limit": str(page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        while True:
            page = await self.request("GET", res.path(namespace), params=params, timeout=120)
            yield page
            token = page.get("metadata", {}).get("continue")
            if not token:
                return
            params["continue"] = token

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int = 500,
    ) -> JSON:
        """All items, following `continue` tokens; the result carries the list's resourceVersion."""
        items: list[JSON] = []
        last: JSON = {}
        async for page in self.list_pages(
            res, namespace, label_selector=label_selector, field_selector=field_selector, page_size=page_size
        ):
            items.extend(page.get("items") or [])
            last = page
        last["items"] = items
        return last

    async def create(self, res: Resource, body: JSON, namespace: str | None = None) -> JSON:
        return await self.request("POST", res.path(namespace), body=body)

    async def replace(self, res: Resource, name: str, body: JSON, namespace: str | None = None) -> JSON:
        return await self.request("PUT", res.path(namespace, name), body=body)

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool = False,
    ) -> JSON:
        params: dict[str, str] = {}
        if field_manager:
            params["fieldManager"] = field_manager
        if force:
            params["force"] = "true"
        return await self.request(
            "PATCH",
            res.path(namespace, name, subresource),
            params=params,
            body=patch,
            content_type=PATCH_TYPES[patch_type],
        )

    async def delete(self, res: Resource, name: str, namespace: str | None = None) -> JSON:
        return await self.request("DELETE", res.path(namespace, name))

    async def watch(
        self,
        res: Resource,
        resource_version: str,
        namespace: str | None = None,
        *,
        field_selector: str | None = None,
        label_selector: str | None = None,
        server_timeout: int = 300,
        inactivity_timeout: float = 90.0,
    ) -> AsyncIterator[JSON]:
        """Yield watch events. A silent stream ends with TimeoutError after `inactivity_timeout` (bookmarks arrive
        about once a minute, so a healthy stream is never silent that long); an ERROR event raises ApiError."""
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(server_timeout),
        }
        if field_selector:
            params["fieldSelector"] = field_selector
        if label_selector:
            params["labelSelector"] = label_selector
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=inactivity_timeout)
        async with self.session.get(
            self.config.server + res.path(namespace), params=params, headers=self._headers(), timeout=timeout
        ) as resp:
            if resp.status >= 400:
                raise _api_error(resp.status, await resp.text())
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event: JSON = json.loads(line)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiError(
                            int(status.get("code", 500)),
                            str(status.get("reason", "")),
                            str(status.get("message", "")),
                        )
                    yield event


def _api_error(status: int, text: str) -> ApiError:
    try:
        body = json.loads(text)
    except ValueError:
        return ApiError(status, "", text[:500])
    return ApiError(status, str(body.get("reason", "")), str(body.get("message", text[:500])), body)
