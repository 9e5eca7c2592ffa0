"""The on-node write protocol against a real filesystem."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from seccomp_operator.agent.tree import EntryKind, ProfileTree, UnsafePathError

CONTENT = b'{"defaultAction":"SCMP_ACT_ALLOW"}\n'


@pytest.fixture
def tree(tmp_path: Path) -> ProfileTree:
    root = tmp_path / "seccomp"
    root.mkdir()
    return ProfileTree(str(root))


def test_write_creates_file_and_directories_with_kubelet_readable_modes(tree: ProfileTree) -> None:
    old_umask = os.umask(0o077)  # a hostile umask must not make the file unreadable to the runtime
    try:
        tree.write("team-a", "web", CONTENT)
    finally:
        os.umask(old_umask)
    path = Path(tree.path_of("team-a", "web"))
    assert path.read_bytes() == CONTENT
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o755
    state = tree.read("team-a", "web")
    assert state.intact
    assert state.kind is EntryKind.REGULAR


def test_rewrite_replaces_content_and_leaves_no_temp_file(tree: ProfileTree) -> None:
    tree.write("ns", "p", CONTENT)
    tree.write("ns", "p", b"{}\n")
    ns_dir = Path(tree.path_of("ns", "p")).parent
    assert sorted(os.listdir(ns_dir)) == ["p.json"]
    assert Path(tree.path_of("ns", "p")).read_bytes() == b"{}\n"


def test_remove_deletes_file_and_empty_namespace_directory(tree: ProfileTree) -> None:
    tree.write("ns", "a", CONTENT)
    tree.write("ns", "b", CONTENT)
    assert tree.remove("ns", "a")
    assert Path(tree.path_of("ns", "b")).exists()
    assert tree.remove("ns", "b")
    assert not Path(tree.path_of("ns", "b")).parent.exists()
    assert not tree.remove("ns", "b")


def test_symlinked_namespace_directory_is_refused_and_nothing_written_outside(
    tree: ProfileTree, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    subtree = Path(tree.root) / "seccomp-operator"
    subtree.mkdir()
    (subtree / "ns").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="refusing to follow"):
        tree.write("ns", "p", CONTENT)
    assert list(outside.iterdir()) == []
    assert tree.read("ns", "p").kind is EntryKind.OTHER


def test_symlinked_subtree_is_refused(tree: ProfileTree, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (Path(tree.root) / "seccomp-operator").symlink_to(outside)
    with pytest.raises(UnsafePathError):
        tree.write("ns", "p", CONTENT)
    assert list(outside.iterdir()) == []


def test_symlink_planted_at_the_file_is_replaced_not_written_through(tree: ProfileTree, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    tree.write("ns", "p", CONTENT)
    path = Path(tree.path_of("ns", "p"))
    path.unlink()
    path.symlink_to(victim)
    assert tree.read("ns", "p").kind is EntryKind.SYMLINK
    tree.write("ns", "p", CONTENT)
    assert victim.read_bytes() == b"precious"
    assert not path.is_symlink()
    assert path.read_bytes() == CONTENT


def test_hardlink_planted_at_the_file_is_replaced_not_written_through(tree: ProfileTree, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    Path(tree.path_of("ns", "p")).parent.mkdir(parents=True)
    os.link(victim, tree.path_of("ns", "p"))
    state = tree.read("ns", "p")
    assert state.kind is EntryKind.REGULAR
    assert not state.intact  # two links: not a file of ours
    tree.write("ns", "p", CONTENT)
    assert victim.read_bytes() == b"precious"
    assert tree.read("ns", "p").intact


def test_fifo_planted_at_the_file_does_not_hang_and_is_replaced(tree: ProfileTree) -> None:
    Path(tree.path_of("ns", "p")).parent.mkdir(parents=True)
    os.mkfifo(tree.path_of("ns", "p"))
    assert tree.read("ns", "p").kind is EntryKind.OTHER
    tree.write("ns", "p", CONTENT)
    assert tree.read("ns", "p").intact


def test_scan_lists_profiles_and_removes_stale_temp_files(tree: ProfileTree) -> None:
    tree.write("a", "one", CONTENT)
    tree.write("b", "two", b"{}\n")
    stale = Path(tree.path_of("a", "one")).parent / ".one.json.deadbeef.tmp"
    stale.write_bytes(b"{")
    found = tree.scan()
    assert set(found) == {("a", "one"), ("b", "two")}
    assert not stale.exists()


def test_loose_directory_mode_is_put_back(tree: ProfileTree) -> None:
    tree.write("ns", "p", CONTENT)
    ns_dir = Path(tree.path_of("ns", "p")).parent
    ns_dir.chmod(0o777)
    tree.write("ns", "p", CONTENT)
    assert stat.S_IMODE(ns_dir.stat().st_mode) == 0o755


@pytest.mark.parametrize("bad", ["", "..", ".hidden", "a/b", "x\0y"])
def test_unsafe_names_are_rejected(tree: ProfileTree, bad: str) -> None:
    with pytest.raises(ValueError, match="unsafe path component"):
        tree.write("ns", bad, CONTENT)


def test_a_successful_write_removes_temp_files_stranded_by_earlier_failures(tree: ProfileTree) -> None:
    tree.write("ns", "p", CONTENT)
    stranded = Path(tree.path_of("ns", "p")).parent / ".p.json.0123456789ab.tmp"
    stranded.write_bytes(b"{")
    tree.write("ns", "p", CONTENT)
    assert not stranded.exists()
