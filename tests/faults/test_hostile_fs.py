"""A hostile node filesystem under a running agent: links, FIFOs, files and directories planted at every path the
agent uses, a directory swapped for a symlink while the agent rewrites, loose modes and foreign ownership, a full
disk and a read-only root. Nothing is ever written outside the subtree, the failure is reported per profile with
the path, the old file stays, and the node recovers once the plant is gone.

The agents run as the DaemonSet runs them: `seccomp-operator agent` processes, uid 0 with an empty capability set
(``AgentProcess``), so nothing here passes only because the test runs as full root.

Complements tests/agent/test_tree*.py (the tree alone) with the whole agent: inotify, the worker, the report."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from faults.common import Cluster, FaultBook, audit_node, cluster, errno_on_disk, files_under, spec_with_errno
from faults.conftest import LONG
from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.simulation import wait_until

RECOVER_SECONDS = 45.0
FLIPS = 2000 if LONG else 300


def report_entry(cl: Cluster, node: str, key: str) -> dict[str, Any]:
    return dict(cl.api.report(node).get(key) or {})


def wait_failed(cl: Cluster, node: str, key: str, fragment: str) -> dict[str, Any]:
    def failed() -> dict[str, Any] | None:
        entry = report_entry(cl, node, key)
        return entry if entry.get("state") == "Failed" else None

    entry: dict[str, Any] = wait_until(failed, timeout=30, interval=0.1, what=f"{node} to report {key} Failed")
    assert fragment in entry.get("message", ""), entry
    return entry


def wait_installed(cl: Cluster, node: str, namespace: str, name: str, errno_ret: int) -> None:
    path = cl.file(node, namespace, name)

    def installed() -> bool:
        entry = report_entry(cl, node, f"{namespace}/{name}")
        if entry.get("state") != "Installed" or errno_on_disk(path) != errno_ret:
            return False
        info = path.lstat()
        return (
            stat.S_ISREG(info.st_mode)
            and stat.S_IMODE(info.st_mode) == 0o644
            and info.st_nlink == 1
            and info.st_uid == os.geteuid()
            and hashlib.sha256(path.read_bytes()).hexdigest() == entry.get("hash")
        )

    try:
        wait_until(installed, timeout=RECOVER_SECONDS, interval=0.1, what=f"{node} to install {name} ({errno_ret})")
    except TimeoutError as exc:
        raise AssertionError(
            f"{exc}: report {report_entry(cl, node, f'{namespace}/{name}')}, on disk errno {errno_on_disk(path)}, "
            f"{cl.describe_agent(node)}"
        ) from None


@contextlib.contextmanager
def moved_away(path: Path, away: Path) -> Iterator[Path]:
    """Moves a real directory aside, out of the agent's subtree (else the agent rightly cleans it up as a stray
    namespace), so a plant can take its place; puts it back afterwards."""
    os.rename(path, away)
    try:
        yield away
    finally:
        if os.path.lexists(path):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                os.unlink(path)
        os.rename(away, path)


def _ensure_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (chown, mount)")


# Plants that the agent must refuse and report: (name, where, how).
REFUSED = ["subtree-symlink", "subtree-is-file", "namespace-symlink", "namespace-is-fifo", "file-is-directory"]


def test_planted_paths_are_refused_reported_and_recovered(
    fault_plane: ControlPlane, fault_ns: str, tmp_path: Path, fault_book: FaultBook
) -> None:
    sentinel = tmp_path / "outside"
    sentinel.mkdir()
    with cluster(fault_plane, tmp_path / "c", 2, agent_processes=True) as cl:
        node, calm = cl.nodes
        key = f"{fault_ns}/p"
        errno_ret = 1
        cl.api.apply(fault_ns, "p", cl.spec(spec_with_errno(errno_ret)))
        wait_installed(cl, node, fault_ns, "p", errno_ret)
        subtree = cl.subtree(node)
        ns_dir = subtree / fault_ns
        file = cl.file(node, fault_ns, "p")
        for plant in REFUSED:
            errno_ret += 1
            with contextlib.ExitStack() as stack:
                if plant == "subtree-symlink":
                    stack.enter_context(moved_away(subtree, tmp_path / "away"))
                    os.symlink(sentinel, subtree)
                    fragment = str(subtree)
                elif plant == "subtree-is-file":
                    stack.enter_context(moved_away(subtree, tmp_path / "away"))
                    subtree.write_text("not a directory\n")
                    fragment = str(subtree)
                elif plant == "namespace-symlink":
                    stack.enter_context(moved_away(ns_dir, tmp_path / "away"))
                    os.symlink(sentinel, ns_dir)
                    fragment = str(ns_dir)
                elif plant == "namespace-is-fifo":
                    stack.enter_context(moved_away(ns_dir, tmp_path / "away"))
                    os.mkfifo(ns_dir)
                    fragment = str(ns_dir)
                else:  # file-is-directory
                    old = file.read_bytes()
                    file.unlink()
                    file.mkdir()
                    (file / "inner").write_text("x")
                    stack.callback(lambda old=old: (shutil.rmtree(file), file.write_bytes(old), file.chmod(0o644)))
                    fragment = str(file)
                cl.api.apply(fault_ns, "p", cl.spec(spec_with_errno(errno_ret)))
                wait_failed(cl, node, key, fragment)
                wait_installed(cl, calm, fault_ns, "p", errno_ret)  # the other node is unaffected

                def status_names_node() -> bool:
                    status = (cl.api.get(fault_ns, "p") or {}).get("status") or {}
                    return any(n["node"] == node and n["state"] == "Failed" for n in status.get("nodes") or [])

                wait_until(status_names_node, timeout=30, what="status to list the node as Failed")
                assert files_under(sentinel) == [], f"{plant}: the agent wrote outside its subtree"
            # The plant is gone (the real directory is back): the node converges to the latest revision.
            wait_installed(cl, node, fault_ns, "p", errno_ret)
            assert audit_node(cl.sim.root_of(node), {key: errno_ret}).partial == []
            fault_book.record(
                f"fs-plant-{plant}", injections=1, notes="refused, reported Failed with the path, recovered"
            )


def test_links_fifos_modes_and_owners_at_the_file_are_repaired(
    fault_plane: ControlPlane, fault_ns: str, tmp_path: Path, fault_book: FaultBook
) -> None:
    _ensure_root()
    outside = tmp_path / "outside"
    outside.mkdir()
    decoy = outside / "decoy.json"
    decoy.write_text("decoy\n")
    with cluster(fault_plane, tmp_path / "c", 1, agent_processes=True) as cl:
        (node,) = cl.nodes
        cl.api.apply(fault_ns, "p", cl.spec(spec_with_errno(7)))
        wait_installed(cl, node, fault_ns, "p", 7)
        file = cl.file(node, fault_ns, "p")
        ns_dir = file.parent
        plants: list[tuple[str, Callable[[], None]]] = [
            ("file-symlink-outside", lambda: (file.unlink(), os.symlink(decoy, file))),
            ("file-hardlink-outside", lambda: (file.unlink(), os.link(decoy, file))),
            ("file-fifo", lambda: (file.unlink(), os.mkfifo(file))),
            ("file-mode-0666", lambda: file.chmod(0o666)),
            # Unreadable even to its owner without CAP_DAC_OVERRIDE: replaced without being read.
            ("file-mode-000", lambda: file.chmod(0o000)),
            ("file-foreign-owner", lambda: os.chown(file, 65534, 65534)),
        ]
        for name, plant in plants:
            plant()
            wait_installed(cl, node, fault_ns, "p", 7)
            assert decoy.read_text() == "decoy\n" and decoy.stat().st_nlink == 1, name
            fault_book.record(f"fs-plant-{name}", injections=1, notes="replaced (never written through), repaired")
        # A loose namespace directory would let others swap entries under the agent: its owner puts the mode back.
        ns_dir.chmod(0o777)
        cl.api.apply(fault_ns, "p", cl.spec(spec_with_errno(8)))
        wait_installed(cl, node, fault_ns, "p", 8)
        assert stat.S_IMODE(ns_dir.stat().st_mode) == 0o755
        fault_book.record("fs-plant-namespace-dir-loose-mode", injections=1, notes="mode put back")
        # A directory another user owns: taking it back would need CAP_CHOWN, which the agent does not hold. It is
        # refused and reported with the path and the fix, and the node recovers once host root has applied it.
        os.chown(ns_dir, 65534, 65534)
        cl.api.apply(fault_ns, "p", cl.spec(spec_with_errno(9)))
        entry = wait_failed(cl, node, f"{fault_ns}/p", f"{ns_dir} is owned by uid 65534")
        assert f"chown 0:0 {ns_dir}" in entry["message"], entry
        assert errno_on_disk(file) == 8, "the last good file stays"
        assert ns_dir.stat().st_uid == 65534, "the agent changed an owner although it has no CAP_CHOWN"
        os.chown(ns_dir, 0, 0)
        wait_installed(cl, node, fault_ns, "p", 9)
        fault_book.record(
            "fs-plant-namespace-dir-foreign-owner", injections=1, notes="refused and reported with the fix, recovered"
        )
        assert files_under(outside) == [str(decoy)]


_libc = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(a: Path, b: Path) -> None:
    """renameat2(RENAME_EXCHANGE): swaps two names atomically, so there is never a moment with neither."""
    if _libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a))


@pytest.mark.parametrize("level", ["namespace", "subtree"])
def test_directory_swapped_for_a_symlink_during_writes(
    level: str, fault_plane: ControlPlane, fault_ns: str, tmp_path: Path, fault_book: FaultBook
) -> None:
    sentinel = tmp_path / "outside"
    sentinel.mkdir()
    with cluster(fault_plane, tmp_path / "c", 1, agent_processes=True) as cl:
        (node,) = cl.nodes
        cl.api.apply(fault_ns, "p", cl.spec(spec_with_errno(1)))
        wait_installed(cl, node, fault_ns, "p", 1)
        target = cl.subtree(node) if level == "subtree" else cl.subtree(node) / fault_ns
        link = target.with_name(".link")  # a dot name: never taken for a namespace
        os.symlink(sentinel, link)
        stop = threading.Event()
        flips = 0

        def flipper() -> None:
            nonlocal flips
            while not stop.is_set():
                exchange(target, link)  # atomically: the symlink to the outside takes the directory's place ...
                flips += 1
                exchange(target, link)  # ... and back

        thread = threading.Thread(target=flipper, daemon=True)
        thread.start()
        try:
            errno_ret = 1
            # Every flip is an inotify event in the subtree, so the agent also runs passes between the writes.
            for _ in range(10 if not LONG else 60):
                errno_ret += 1
                cl.api.apply(fault_ns, "p", cl.spec(spec_with_errno(errno_ret)))
                if flips >= FLIPS:
                    break
            wait_until(lambda: flips >= FLIPS, timeout=60, what=f"{FLIPS} flips")
        finally:
            stop.set()
            thread.join(timeout=10)
        assert files_under(sentinel) == [], "a write went through the swapped-in symlink"
        assert target.is_dir() and not target.is_symlink()
        os.unlink(link)
        wait_installed(cl, node, fault_ns, "p", errno_ret)
        audit = audit_node(cl.sim.root_of(node), {f"{fault_ns}/p": errno_ret})
        fault_book.record(
            f"fs-race-{level}-dir-symlink-swap",
            injections=flips,
            partial_files=len(audit.partial),
            notes="directory flipped to a symlink to an outside sentinel while the agent rewrote; sentinel empty",
        )
        assert audit.partial == []


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=False)
    if result.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.parametrize("fault", ["disk-full", "read-only-root"])
def test_full_or_read_only_root_is_reported_keeps_the_old_file_and_recovers(
    fault: str, fault_plane: ControlPlane, fault_ns: str, tmp_path: Path, fault_book: FaultBook
) -> None:
    _ensure_root()
    with cluster(fault_plane, tmp_path / "c", 1, start_agents=False, agent_processes=True) as cl:
        (node,) = cl.nodes
        root = cl.sim.root_of(node)
        with tmpfs(root, "256k"):
            cl.start_agent(node)
            try:
                cl.api.apply(fault_ns, "p", cl.spec(spec_with_errno(1)))
                wait_installed(cl, node, fault_ns, "p", 1)
                file = cl.file(node, fault_ns, "p")
                good = file.read_bytes()
                if fault == "disk-full":
                    filler = root / "filler"
                    with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as handle:
                        while True:
                            handle.write(b"\0" * 4096)
                    undo: Callable[[], Any] = filler.unlink
                    fragment = "No space left"
                else:
                    subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
                    undo = lambda: subprocess.run(["mount", "-o", "remount,rw", str(root)], check=True)  # noqa: E731
                    fragment = "Read-only"
                try:
                    cl.api.apply(fault_ns, "p", cl.spec(spec_with_errno(2)))
                    entry = wait_failed(cl, node, f"{fault_ns}/p", fragment)
                    assert str(file) in entry["message"], entry
                    assert file.read_bytes() == good, "the old file must stay intact"
                    # A retry in flight holds its temp file for a moment; what must not happen is one that stays.
                    wait_until(
                        lambda: [p.name for p in file.parent.iterdir()] == ["p.json"],
                        timeout=10,
                        what="no temp file left behind",
                    )
                finally:
                    undo()
                wait_installed(cl, node, fault_ns, "p", 2)
                assert [p.name for p in file.parent.iterdir()] == ["p.json"], "a temp file outlived the fault"
                fault_book.record(
                    f"fs-{fault}", injections=1, notes="reported Failed with the path, old file intact, recovered"
                )
            finally:
                cl.stop_agent(node)
