"""The node side of a recording: serve runc's `listenerPath`, answer every notification of every container that runs
under a recording profile, and keep its calls apart per container.

runc (1.1+) loads a profile with SCMP_ACT_NOTIFY rules, connects to the profile's `listenerPath` (a unix stream
socket) and sends, in one message, the container's OCI state as JSON with the listener fd attached (SCM_RIGHTS):

    {"ociVersion": ..., "fds": ["seccompFd"], "pid": <init pid>, "metadata": <listenerMetadata>,
     "state": {"id": <container id>, "status": "creating", "pid": ..., "bundle": ..., "annotations": {...}}}

The annotations are the container's own (containerd's CRI plugin puts the Pod's namespace, name, uid and the
container's name there), so every call on that fd belongs to exactly that container: attribution comes from the
kernel object, never from guessing by pid or time. One listener per container start; it hangs up when the
container's last process has exited.

The container waits in the kernel on each notified call until it is answered, so the collector answers everything
(SECCOMP_USER_NOTIF_FLAG_CONTINUE) from one poll loop and never blocks on anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from seccomp_operator.record import notify

MAX_STATE_BYTES = 4 << 20  # the state carries every annotation of the container (Kubernetes allows 256 KiB of them)


class CollectorError(Exception):
    pass


@dataclass
class ContainerCalls:
    """The calls of one container start, as runc announced it."""

    container_id: str
    pid: int
    annotations: Mapping[str, str]
    metadata: str
    calls: Counter[tuple[int, int]] = field(default_factory=Counter)
    started: float = field(default_factory=time.time)
    ended: float | None = None


def parse_state(message: bytes) -> tuple[ContainerCalls, int]:
    """(the container, the index of the seccomp fd among the passed fds) from runc's ContainerProcessState."""
    try:
        state = json.loads(message)
    except ValueError as exc:
        raise CollectorError(f"the runtime sent a state that is not JSON: {exc}") from exc
    if not isinstance(state, dict) or not isinstance(state.get("state"), dict):
        raise CollectorError("the runtime sent no container state")
    fds = state.get("fds")
    if not isinstance(fds, list) or "seccompFd" not in fds:
        raise CollectorError(f"the runtime sent no seccompFd (fds: {fds!r})")
    container = state["state"]
    annotations = container.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise CollectorError("the container's annotations are not a map")
    return (
        ContainerCalls(
            container_id=str(container.get("id", "")),
            pid=int(container.get("pid") or state.get("pid") or 0),
            annotations={str(k): str(v) for k, v in annotations.items()},
            metadata=str(state.get("metadata") or ""),
        ),
        fds.index("seccompFd"),
    )


def _receive_state(connection: socket.socket, deadline: float) -> tuple[bytes, list[int]]:
    """The state message and the fds that came with it. runc sends it with one sendmsg but keeps the connection
    open while the container starts, so the message ends where the JSON document does, not at EOF."""
    chunks: list[bytes] = []
    fds: list[int] = []
    size = 0
    connection.settimeout(max(0.0, deadline - time.monotonic()))
    while True:
        data, received, _flags, _address = socket.recv_fds(connection, 65536, 8)
        fds.extend(received)
        chunks.append(data)
        size += len(data)
        message = b"".join(chunks)
        if not data or _complete_json(message):
            return message, fds
        if size > MAX_STATE_BYTES:
            for fd in fds:
                os.close(fd)
            raise CollectorError(f"the runtime's state message exceeds {MAX_STATE_BYTES} bytes")


def _complete_json(message: bytes) -> bool:
    """A prefix of a JSON object is never valid JSON, so the first chunk boundary where it parses ends it."""
    try:
        json.loads(message)
    except ValueError:
        return False
    return True


def bind_listener_socket(path: str) -> socket.socket:
    """A unix stream socket at `path` only root can connect to (the directory is created 0700 if missing); a stale
    socket left by an earlier collector is replaced, anything else at the path is refused."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise CollectorError(f"{path} exists and is not a socket")
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    old_umask = os.umask(0o177)
    try:
        server.bind(path)
    finally:
        os.umask(old_umask)
    server.listen(64)
    return server


class NotifyCollector:
    """Serves one listenerPath. `on_start(container)` runs when a container's listener arrives, `on_end(container)`
    when its last process has gone; both on the collector's thread, and they must not block."""

    ACCEPT_TIMEOUT = 5.0

    def __init__(
        self,
        socket_path: str,
        *,
        on_start: Callable[[ContainerCalls], None] = lambda _c: None,
        on_end: Callable[[ContainerCalls], None] = lambda _c: None,
        on_error: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.socket_path = socket_path
        self._on_start = on_start
        self._on_end = on_end
        self._on_error = on_error
        self._server = bind_listener_socket(socket_path)
        self._server.setblocking(False)
        self._stop_read, self._stop_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._active: dict[int, tuple[notify.Listener, ContainerCalls]] = {}
        self._thread: threading.Thread | None = None
        self.notifications = 0

    @property
    def active(self) -> list[ContainerCalls]:
        return [calls for _listener, calls in self._active.values()]

    def start(self) -> NotifyCollector:
        self._thread = threading.Thread(target=self.serve, name="notify-collector", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving. Containers still running keep waiting on their next notified call until their listener
        closes, after which the kernel fails those calls with ENOSYS: stop a collector only when no recorded
        container runs."""
        with contextlib.suppress(OSError):
            os.write(self._stop_write, b"x")
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise CollectorError(f"the collector did not stop within {timeout}s")

    def serve(self) -> None:
        poller = select.poll()
        poller.register(self._server.fileno(), select.POLLIN)
        poller.register(self._stop_read, select.POLLIN)
        try:
            while True:
                for fd, mask in poller.poll():
                    if fd == self._stop_read:
                        return
                    if fd == self._server.fileno():
                        self._accept(poller)
                    elif mask & select.POLLIN:
                        self._answer(fd)
                    elif mask & (select.POLLHUP | select.POLLERR):
                        self._finish(poller, fd)
        finally:
            for listener, _calls in self._active.values():
                listener.close()
            self._active.clear()
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)
            os.close(self._stop_read)
            os.close(self._stop_write)

    def _accept(self, poller: select.poll) -> None:
        try:
            connection, _address = self._server.accept()
        except BlockingIOError:
            return
        fds: list[int] = []
        try:
            with connection:
                message, fds = _receive_state(connection, time.monotonic() + self.ACCEPT_TIMEOUT)
            calls, index = parse_state(message)
            if index >= len(fds) or not notify.is_notify_fd(fds[index]):
                raise CollectorError(f"container {calls.container_id}: no seccomp listener among the passed fds")
        except (OSError, CollectorError) as exc:
            for fd in fds:
                os.close(fd)
            self._on_error(f"refused a connection on {self.socket_path}: {exc}")
            return
        listener_fd = fds[index]
        for other in fds:
            if other != listener_fd:
                os.close(other)
        self._active[listener_fd] = (notify.Listener(listener_fd), calls)
        poller.register(listener_fd, select.POLLIN)
        self._on_start(calls)

    def _answer(self, fd: int) -> None:
        listener, calls = self._active[fd]
        notification = listener.receive()
        if notification is None:
            return
        calls.calls[(notification.arch, notification.nr)] += 1
        self.notifications += 1
        listener.allow(notification.id)

    def _finish(self, poller: select.poll, fd: int) -> None:
        poller.unregister(fd)
        listener, calls = self._active.pop(fd)
        listener.close()
        calls.ended = time.time()
        self._on_end(calls)
