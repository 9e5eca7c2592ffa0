"""Hostile input through the real API server: generated SeccompProfile specs (valid and invalid), oversized specs,
and a differential check that what was accepted and written to nodes loads in runc.

Every spec the profile core refuses is refused at admission with a reason that names a field; the controller keeps
working; nothing invalid ever reaches a node; a long-lived profile keeps its last good revision on every node."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes.client.rest import ApiException

from faults.common import GROUP, VERSION, Cluster, FaultBook, audit_node, cluster, is_current_and_ready, spec_with_errno
from faults.conftest import LONG
from seccomp_operator.profile import validate_profile, validate_resource
from seccomp_operator.testing.controlplane import ControlPlane
from seccomp_operator.testing.runtime import ContainerdHarness
from seccomp_operator.testing.simulation import wait_until

EXAMPLES = 300 if LONG else 25
DIFFERENTIAL_SAMPLE = 30 if LONG else 5
NODES = 3

# Syscalls `true` in busybox never makes, so any valid rule on them leaves `true` runnable.
NAMES = ["mkdir", "mkdirat", "ptrace", "keyctl", "chmod", "fchmod", "unshare", "mount", "umount2", "reboot"]
BAD_NAMES = ["mkdri", "Mount", "", "read write", "x" * 65, "ptrace2"]
ACTIONS = ["SCMP_ACT_ERRNO", "SCMP_ACT_LOG", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW"]
BAD_ACTIONS = ["SCMP_ACT_NOTIFY", "SCMP_ACT_ERRNOO", "allow", "SCMP_ACT_KILL_THREADS"]
ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
BAD_ARCHES = ["SCMP_ARCH_FOO", "x86_64", "SCMP_ARCH_X86_64 "]
OPS = ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ"]


def _mostly(good: list[Any], bad: list[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad))


args = st.lists(
    st.fixed_dictionaries(
        {
            "index": st.one_of(st.integers(0, 5), st.sampled_from([6, -1])),
            "value": st.one_of(st.integers(0, 0xFFFF), st.sampled_from([2**32, 2**40])),
            "op": _mostly(OPS, ["SCMP_CMP_FOO"]),
        },
        optional={"valueTwo": st.integers(0, 0xFFFF)},
    ),
    max_size=7,
)
rules = st.lists(
    st.fixed_dictionaries(
        {
            "names": st.one_of(
                st.lists(_mostly(NAMES, BAD_NAMES), min_size=1, max_size=4),
                st.just(["mkdir"] * 1100),  # a huge list (over the CRD's bound)
                st.just([]),
            ),
            "action": _mostly(ACTIONS, BAD_ACTIONS),
        },
        optional={"errnoRet": st.sampled_from([1, 13, 4094, 0, -1, 4095, 70000]), "args": args},
    ),
    max_size=4,
)
specs = st.fixed_dictionaries(
    {"defaultAction": _mostly(["SCMP_ACT_ALLOW", "SCMP_ACT_LOG"], ["SCMP_ACT_ALLOWW", "ALLOW"])},
    optional={
        "architectures": st.lists(_mostly(ARCHES, BAD_ARCHES), max_size=4),
        "syscalls": rules,
        "defaultErrnoRet": st.sampled_from([1, 5000]),
        "flags": st.lists(st.sampled_from(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNCC"]), max_size=2),
        "listenerPath": st.sampled_from(["/run/listener.sock", "relative.sock"]),
    },
)


def _manifest(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SeccompProfile",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _submit(cl: Cluster, namespace: str, name: str, spec: dict[str, Any], replace: bool = False) -> str | None:
    """None when accepted, else the API server's refusal message."""
    try:
        if replace:
            current = cl.api.get(namespace, name)
            assert current is not None
            current["spec"] = spec
            cl.api.custom.replace_namespaced_custom_object(GROUP, VERSION, namespace, "seccompprofiles", name, current)
        else:
            cl.api.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, "seccompprofiles", _manifest(namespace, name, spec)
            )
    except ApiException as exc:
        if exc.status == 409 and replace:
            return _submit(cl, namespace, name, spec, replace=True)
        try:
            return str(json.loads(exc.body).get("message") or exc.body)
        except (TypeError, ValueError):
            return str(exc.body or exc.reason)
    return None


# Where the CRD's structural schema is stricter than the profile core: its bounds (maxItems, maxLength) and list
# types (`x-kubernetes-list-type: set` refuses duplicate flags, which the core and runc tolerate).
SCHEMA_STRICTER_WORDS = ("must have at most", "Too many", "Too long", "too large", "exceeds", "Duplicate value")


def test_fuzzed_specs_through_the_api_server(
    fault_plane: ControlPlane,
    fault_ns: str,
    tmp_path: Path,
    fault_book: FaultBook,
    runtime_or_none: ContainerdHarness | None,
) -> None:
    ns = fault_ns
    with cluster(fault_plane, tmp_path, NODES, webhook=True) as cl:
        keeper = cl.spec(spec_with_errno(1))
        assert _submit(cl, ns, "keeper", keeper) is None
        wait_until(lambda: is_current_and_ready(cl.api.get(ns, "keeper"), 1), timeout=30, what="keeper Ready")
        accepted: list[str] = []
        mismatches: list[str] = []
        counts = {"examples": 0, "refused": 0, "accepted": 0, "schema-stricter": 0}

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[
                HealthCheck.function_scoped_fixture,
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
            ],
        )
        @given(spec=specs)
        def check(spec: dict[str, Any]) -> None:
            spec = {**spec, "nodeSelector": cl.selector}
            name = f"fz-{uuid.uuid4().hex[:8]}"
            local = validate_resource(_manifest(ns, name, spec))
            counts["examples"] += 1
            refusal = _submit(cl, ns, name, spec)
            # The same spec as an update of a live profile: a refused update must leave it alone.
            update_refusal = _submit(cl, ns, "keeper", spec, replace=True)
            if refusal is None:
                counts["accepted"] += 1
                accepted.append(name)
                if not local.ok:
                    mismatches.append(f"accepted although the core refuses it: {spec} {local.findings}")
            else:
                counts["refused"] += 1
                if "spec" not in refusal:
                    mismatches.append(f"refusal names no field: {refusal}")
                if local.ok:
                    if any(word in refusal for word in SCHEMA_STRICTER_WORDS):
                        counts["schema-stricter"] += 1
                    else:
                        mismatches.append(f"refused although the core accepts it: {refusal}")
            if (update_refusal is None) != (refusal is None):
                mismatches.append(f"create and update disagree: {refusal!r} vs {update_refusal!r}")

        check()
        # The controller survived: a valid profile applied after the fuzzing goes Ready, and so does the keeper
        # (its last accepted revision, installed with the hash status names).
        assert _submit(cl, ns, "after", cl.spec(spec_with_errno(3))) is None
        wait_until(lambda: is_current_and_ready(cl.api.get(ns, "after"), 1), timeout=60, what="a profile after fuzzing")

        def keeper_ready() -> dict[str, Any] | None:
            obj = cl.api.get(ns, "keeper")
            return obj if obj and is_current_and_ready(obj, obj["metadata"]["generation"]) else None

        keeper_obj = wait_until(keeper_ready, timeout=60, what="keeper Ready at its last accepted revision")
        for node in cl.nodes:
            data = cl.file(node, ns, "keeper").read_bytes()
            assert hashlib.sha256(data).hexdigest() == keeper_obj["status"]["hash"], node

        # Every accepted profile is processed (Ready, or Invalid for what only the controller can judge).
        def processed(name: str) -> bool:
            obj = cl.api.get(ns, name)
            status = (obj or {}).get("status") or {}
            return obj is not None and status.get("observedGeneration") == obj["metadata"]["generation"]

        wait_until(lambda: all(processed(n) for n in accepted), timeout=60, what="every accepted profile processed")
        # Nothing invalid on any node: every file in the namespace validates (with the libseccomp compile).
        expected: dict[str, int | None] = {f"{ns}/{n}": None for n in [*accepted, "after", "keeper"]}
        bad_files = 0
        for node in cl.nodes:
            audit = audit_node(cl.sim.root_of(node), expected)
            bad_files += len(audit.partial) + len(audit.orphaned)
            for path in (cl.subtree(node) / ns).iterdir():
                if not validate_profile(json.loads(path.read_text())).ok:
                    bad_files += 1
        # Differential: a sample of accepted, rendered, on-disk profiles loads in runc. Profiles with `flags` are
        # left out: Debian 12's runc 1.1.5 refuses any flag, which lint reports as the `flags-need-newer-runc`
        # warning (accepted on purpose: newer runtimes take them).
        runc_failures: list[str] = []
        on_disk = [n for n in accepted if cl.file(cl.nodes[0], ns, n).exists()]
        sample = [n for n in on_disk if "flags" not in json.loads(cl.file(cl.nodes[0], ns, n).read_text())]
        sample = sample[:DIFFERENTIAL_SAMPLE]
        if runtime_or_none is not None:
            for name in sample:
                result = runtime_or_none.run(["true"], seccomp_profile=cl.file(cl.nodes[0], ns, name))
                if not result.ok:
                    runc_failures.append(f"{name}: {result.describe()}")
        fault_book.record(
            "hostile-spec-fuzz",
            injections=counts["examples"],
            partial_files=bad_files,
            notes=f"{counts}; runc loaded {len(sample) - len(runc_failures)}/{len(sample)} accepted profiles"
            + ("" if runtime_or_none is not None else " (runtime unavailable: differential skipped)"),
        )
        assert mismatches == []
        assert bad_files == 0
        assert runc_failures == []


def _big_spec(names_per_rule: int, rules: int) -> dict[str, Any]:
    pool = [f"{n}" for n in NAMES] * (names_per_rule // len(NAMES) + 1)
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": pool[:names_per_rule],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 1 + i % 4000,
                "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"}],
            }
            for i in range(rules)
        ],
    }


# Not here: a ~1 MiB spec that reaches the webhook. Validation cost grows superlinearly with syscall-name entries
# (1024 rules x 20 names: ~10 s; x 100 names: minutes), so the webhook call times out and its handler thread keeps
# the controller (and this process) from exiting for minutes. Reported as a product issue, not tested here.
@pytest.mark.parametrize(("label", "names", "rules"), [("2MiB", 160, 1024), ("4MiB", 320, 1024)])
def test_oversized_specs_get_a_clear_error_and_break_nothing(
    label: str, names: int, rules: int, fault_plane: ControlPlane, fault_ns: str, tmp_path: Path, fault_book: FaultBook
) -> None:
    ns = fault_ns
    with cluster(fault_plane, tmp_path, 2, webhook=True) as cl:
        assert _submit(cl, ns, "good", cl.spec(spec_with_errno(1))) is None
        wait_until(lambda: is_current_and_ready(cl.api.get(ns, "good"), 1), timeout=30, what="good Ready")
        good_hash = (cl.api.get(ns, "good") or {})["status"]["hash"]
        spec = cl.spec(_big_spec(names, rules))
        size = len(json.dumps(spec))
        refusal = _submit(cl, ns, "big", spec)
        update_refusal = _submit(cl, ns, "good", spec, replace=True)
        outcome = f"{label} ({size} bytes): create {'refused: ' + refusal[:160] if refusal else 'accepted'}"
        if refusal is None:
            # Accepted: the controller must settle it (Ready, or a condition that says why not), not loop silently.
            def settled() -> dict[str, Any] | None:
                obj = cl.api.get(ns, "big")
                status = (obj or {}).get("status") or {}
                return obj if obj and status.get("observedGeneration") == obj["metadata"]["generation"] else None

            obj = wait_until(settled, timeout=120, what="the big profile to be processed")
            outcome += f", phase {obj['status'].get('phase')}"
        else:
            assert refusal.strip(), "an empty error"
        if update_refusal is not None:
            # The live profile keeps its revision on every node.
            for node in cl.nodes:
                assert hashlib.sha256(cl.file(node, ns, "good").read_bytes()).hexdigest() == good_hash
        # Nothing broke: a fresh valid profile goes Ready.
        assert _submit(cl, ns, "after", cl.spec(spec_with_errno(2))) is None
        wait_until(lambda: is_current_and_ready(cl.api.get(ns, "after"), 1), timeout=60, what="after Ready")
        fault_book.record(f"oversized-spec-{label}", injections=1, notes=outcome)
