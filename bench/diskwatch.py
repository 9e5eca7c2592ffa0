"""The on-disk observer: a separate process that watches every node's directory and says when a profile revision is on
every node, or gone from every node. Run by `bench.disk.DiskObserver`; not a command for people.

It knows nothing of either system's internals. Layout: `<nodes dir>/<node>/.../<name>.json`, which covers
seccomp-operator (`<root>/seccomp-operator/<namespace>/<name>.json`) and SPO v1.0 (`<kubelet dir>/seccomp/operator/
<name>.json`: its SeccompProfile is cluster-scoped). Profiles are therefore known by name alone: the benchmark gives
every profile of a run a name of its own.
One inotify instance watches the whole tree (watchdog, recursive); on each write or rename into place the file is
read back and its revision marker parsed (`bench.profiles.revision_of`), and the time recorded is the file's ctime:
the kernel's timestamp of the write or rename, not the moment this process got round to it. Removals are timed when
the event is read (a deleted file has no timestamp left).

Protocol: one JSON request per line on stdin, one JSON answer per line on stdout.
  {"op": "installed", "keys": ["name", ...], "revision": R, "nodes": N}
      -> {"count": node-keys holding revision R, "done": count == N x len(keys), "latest": max ctime (epoch s)}
  {"op": "removed", "keys": [...], "nodes": N} -> {"count": ..., "done": ..., "latest": max removal time}
  {"op": "events"} -> {"events": events handled so far}
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from bench.profiles import revision_of

Key = tuple[str, str]  # (node, profile name)


class State(FileSystemEventHandler):
    def __init__(self, nodes_dir: Path) -> None:
        self.prefix = str(nodes_dir).rstrip("/") + "/"
        self.lock = threading.Lock()
        self.installed: dict[tuple[str, str, int], float] = {}  # (node, key, revision) -> first ctime seen
        self.removed: dict[Key, float] = {}
        self.events = 0

    def _key(self, path: str) -> Key | None:
        if not path.startswith(self.prefix) or not path.endswith(".json"):
            return None
        parts = path[len(self.prefix) :].split("/")
        if len(parts) < 3 or parts[-1].startswith("."):
            return None  # not a profile file (a temporary file, something else)
        return parts[0], parts[-1][: -len(".json")]

    def _seen(self, path: str) -> None:
        key = self._key(path)
        if key is None:
            return
        try:
            with open(path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                content = handle.read()
        except OSError:
            return
        revision = revision_of(content)
        if revision is None:
            return  # partly written, or not one of ours (a drift sample's garbage)
        with self.lock:
            self.installed.setdefault((*key, revision), stat.st_ctime_ns / 1e9)
            self.removed.pop(key, None)

    def _gone(self, path: str) -> None:
        key = self._key(path)
        if key is None or os.path.exists(path):
            return
        with self.lock:
            self.removed.setdefault(key, time.time())

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.events += 1
        if isinstance(event, FileMovedEvent):
            self._gone(os.fsdecode(event.src_path))
            self._seen(os.fsdecode(event.dest_path))
        elif isinstance(event, FileClosedEvent | FileCreatedEvent):
            self._seen(os.fsdecode(event.src_path))
        elif isinstance(event, FileDeletedEvent):
            self._gone(os.fsdecode(event.src_path))

    def answer(self, request: dict[str, object]) -> dict[str, object]:
        op = request.get("op")
        if op == "events":
            return {"events": self.events}
        keys = [str(k) for k in request.get("keys") or []]  # type: ignore[attr-defined]
        nodes = int(request.get("nodes") or 0)  # type: ignore[call-overload]
        times: list[float] = []
        with self.lock:
            if op == "installed":
                revision = int(request.get("revision") or 0)  # type: ignore[call-overload]
                wanted = set(keys)
                times = [t for (_, k, r), t in self.installed.items() if r == revision and k in wanted]
            elif op == "removed":
                wanted = set(keys)
                times = [t for (_, k), t in self.removed.items() if k in wanted]
            else:
                return {"error": f"unknown op {op!r}"}
        return {"count": len(times), "done": len(times) >= nodes * len(keys), "latest": max(times, default=0.0)}


def main() -> int:
    nodes_dir = Path(sys.argv[1])
    nodes_dir.mkdir(parents=True, exist_ok=True)
    state = State(nodes_dir)
    observer = Observer()
    observer.daemon = True
    observer.schedule(
        state,
        str(nodes_dir),
        recursive=True,
        event_filter=[FileMovedEvent, FileClosedEvent, FileCreatedEvent, FileDeletedEvent],
    )
    observer.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(state.answer(json.loads(line))), flush=True)
    observer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
