"""Notices edits, replacements and deletions in the agent's subtree (inotify via watchdog) and asks for a repair."""

from __future__ import annotations

import os
from collections.abc import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from seccomp_operator.agent.tree import PROFILE_SUFFIX

# Called from watchdog's thread with a profile key "<namespace>/<name>", or None for "check everything".
RepairRequest = Callable[[str | None], None]


class _Handler(FileSystemEventHandler):
    def __init__(self, subtree: str, request: RepairRequest) -> None:
        self.subtree = subtree.rstrip("/") + "/"
        self.request = request

    def _key(self, path: str | bytes) -> str | bool | None:
        """The profile key for a path; None for 'a directory changed, check all'; False for 'not ours'."""
        text = os.fsdecode(path)
        if not (text + "/").startswith(self.subtree):
            return False
        parts = text[len(self.subtree) :].split("/")
        if len(parts) == 2 and parts[1].endswith(PROFILE_SUFFIX) and not parts[1].startswith("."):
            return f"{parts[0]}/{parts[1][: -len(PROFILE_SUFFIX)]}"
        if len(parts) == 2 and parts[1].startswith("."):
            return False  # our own temp files
        if parts[0].startswith("."):
            return None  # not a namespace directory (a planted `.x/`): check everything, never key on it
        return None

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if not path:
                continue
            key = self._key(path)
            if key is not False:
                self.request(key if isinstance(key, str) else None)


class DriftWatcher:
    """Watches `<root>` recursively: watching only the subtree would go blind when the subtree itself is removed."""

    def __init__(self, root: str, subtree: str, request: RepairRequest) -> None:
        self._observer = Observer()
        self._observer.daemon = True
        self._observer.schedule(_Handler(subtree, request), root, recursive=True)

    def start(self) -> None:
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)
