"""The longest name admission accepts is exactly the longest name the agent can install (issue 13.3).

Written on a real filesystem with the agent's own write protocol (temporary file, then rename), so the test fails if
either side changes: a longer temporary name in tree.py, or a looser limit in the core.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from seccomp_operator.agent.tree import ProfileTree
from seccomp_operator.profile import validate_resource
from seccomp_operator.profile.resource import MAX_NAME

CONTENT = b'{"defaultAction":"SCMP_ACT_ALLOW"}\n'


def manifest(name: str) -> dict[str, object]:
    return {
        "apiVersion": "seccomp-operator.io/v1alpha1",
        "kind": "SeccompProfile",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]},
    }


def test_the_longest_accepted_name_installs_and_one_more_character_is_refused(tmp_path: Path) -> None:
    (tmp_path / "seccomp").mkdir()
    tree = ProfileTree(str(tmp_path / "seccomp"))
    longest, too_long = "a" * MAX_NAME, "a" * (MAX_NAME + 1)

    assert validate_resource(manifest(longest)).ok
    tree.write("ns", longest, CONTENT)
    assert Path(tree.path_of("ns", longest)).read_bytes() == CONTENT
    assert tree.read("ns", longest).intact

    refused = validate_resource(manifest(too_long))
    assert [(f.code, f.pointer) for f in refused.findings] == [("name-too-long", "/metadata/name")]
    assert f"the limit is {MAX_NAME}" in refused.findings[0].message
    # ... and the agent could not have installed it: its temporary file name passes NAME_MAX.
    with pytest.raises(OSError) as info:
        tree.write("ns", too_long, CONTENT)
    assert info.value.errno == errno.ENAMETOOLONG
