"""`seccomp-operator lint` and `seccomp-operator import` through `cli.main`: exit codes and output lines."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import yaml

from seccomp_operator.cli import main

GOOD = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    "syscalls": [{"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"}],
}
RESOURCES = """\
apiVersion: seccomp-operator.io/v1alpha1
kind: SeccompProfile
metadata: {name: good, namespace: team-a}
spec:
  defaultAction: SCMP_ACT_ERRNO
  architectures: [SCMP_ARCH_X86_64]
  syscalls:
  - {names: [read], action: SCMP_ACT_ALLOW}
---
apiVersion: seccomp-operator.io/v1alpha1
kind: SeccompProfile
metadata: {name: bad, namespace: team-a}
spec:
  defaultAction: SCMP_ACT_ERRNO
  architectures: [SCMP_ARCH_X86_64]
  syscalls:
  - {names: [read, wrte], action: SCMP_ACT_ALLOW}
"""


def write(tmp_path: Path, name: str, content: object) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_clean_profile_exits_0_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", write(tmp_path, "good.json", GOOD)]) == 0
    assert capsys.readouterr().out == ""


def test_error_line_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = {
        **GOOD,
        "syscalls": [*GOOD["syscalls"], {"names": ["syslog"], "action": "SCMP_ACT_ERRNO", "errnoRet": 12345}],
    }
    path = write(tmp_path, "bad.json", bad)
    assert main(["lint", path]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{path}:/syscalls/1/errnoRet: error: errno 12345 is outside 0..4094; libseccomp refuses it and runc/crun "
        'truncate larger values to 16 bits (65536 would become 0, i.e. the syscall would "succeed")'
    ]


def test_yaml_documents_are_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "profiles.yaml", RESOURCES)
    assert main(["lint", path]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}:doc2/spec/syscalls/0/names/1: error: `wrte` is not a syscall")
    assert "Did you mean `write`" in line


def test_root_finding_has_no_pointer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "list.json", ["SCMP_ACT_ALLOW"])
    assert main(["lint", path]) == 1
    assert capsys.readouterr().out.startswith(f"{path}: error: a seccomp profile must be a JSON object")


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "profiles.yaml", RESOURCES)
    assert main(["lint", "--json", path]) == 1
    output = json.loads(capsys.readouterr().out)
    assert output["schemaVersion"] == 1
    assert output["summary"] == {"files": 1, "errors": 1, "warnings": 0}
    (record,) = output["findings"]
    assert record == {
        "path": path,
        "document": 2,
        "pointer": "/spec/syscalls/0/names/1",
        "line": 17,  # `wrte` in `  - {names: [read, wrte], ...}`
        "column": 20,
        "severity": "error",
        "code": "unknown-syscall",
        "message": record["message"],
        "also": [],
    }


def test_warnings_fail_only_with_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "native.json", {"defaultAction": "SCMP_ACT_ALLOW"})
    assert main(["lint", path]) == 0
    assert capsys.readouterr().out == f"{path}:/architectures: warning: no architectures are declared, so the " + (
        "filter covers only the node's native one; a process using another ABI (e.g. 32-bit x86 on x86_64) is "
        "killed, because libseccomp's action for an unlisted architecture is KILL\n"
    )
    assert main(["lint", "--strict", path]) == 1


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps({"syscalls": []}).encode())))
    assert main(["lint", "-"]) == 1
    assert capsys.readouterr().out.startswith("-:/defaultAction: error: defaultAction is missing")


def test_unreadable_files_exit_2_and_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.json", GOOD)
    missing = str(tmp_path / "missing.json")
    assert main(["lint", missing, good]) == 2
    assert capsys.readouterr().out == f"{missing}: error: cannot read: No such file or directory\n"
    # an error in one file and an unreadable other: the I/O code wins; --json carries both
    bad = write(tmp_path, "bad.json", {})
    assert main(["lint", "--json", bad, missing]) == 2
    records = json.loads(capsys.readouterr().out)["findings"]
    assert [(r["path"], r["code"], r["pointer"]) for r in records] == [
        (bad, "missing-default-action", "/defaultAction"),
        (bad, "no-architectures", "/architectures"),
        (missing, "cannot-read", None),
    ]


@pytest.mark.parametrize(
    ("content", "code", "line", "column", "says"),
    [
        (b'\xef\xbb\xbf{"defaultAction": "SCMP_ACT_ALLOW"}', "byte-order-mark", 1, 1, "byte-order mark"),
        (b'{"defaultAction": "SCMP_ACT_ERRNO",\n "defaultErrnoRet": NaN}', "json-constant", 2, 21, "NaN"),
        (b'{"defaultAction": "SCMP_ACT_ALLOW"}\n{"defaultAction": "SCMP_ACT_KILL"}\n', "trailing-data", 2, 1, "second"),
        (b'{"defaultAction": ', "invalid-json", 1, 19, "not valid JSON"),
        (b'{"defaultAction": "SCMP_\xff"}', "not-utf8", 1, 25, "not UTF-8"),
        (b"", "empty-file", 1, 1, "empty"),
    ],
)
def test_a_file_the_runtimes_cannot_parse_is_a_finding_at_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, code: str, line: int, column: int, says: str
) -> None:
    path = tmp_path / "profile.json"
    path.write_bytes(content)
    assert main(["lint", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{path}:{line}:{column}: error: ") and says in out, out
    assert main(["lint", "--json", str(path)]) == 1
    (record,) = json.loads(capsys.readouterr().out)["findings"]
    assert (record["code"], record["line"], record["column"], record["pointer"]) == (code, line, column, None)


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint"]) == 2
    assert "PATH" in capsys.readouterr().err


# --- import ---------------------------------------------------------------------------------------------------

DOCKER = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrno": "ENOSYS",
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        {"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]},
    ],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "basics"},
        {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errno": "EPERM", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
        {"names": ["s390_runtime_instr"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
    ],
}


def run_import(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["import", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_docker_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path, "docker.json", DOCKER)
    code, out, err = run_import([source, "--name", "web", "--namespace", "team-a"], capsys)
    assert code == 0, err
    manifest = yaml.safe_load(out)
    assert manifest["apiVersion"] == "seccomp-operator.io/v1alpha1" and manifest["kind"] == "SeccompProfile"
    assert manifest["metadata"] == {"name": "web", "namespace": "team-a"}
    spec = manifest["spec"]
    assert spec["defaultErrnoRet"] == 38  # defaultErrno ENOSYS
    assert spec["architectures"] == [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
    ]
    assert spec["syscalls"] == [
        {"names": ["read", "write", "getpid", "ptrace", "arch_prctl"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
    ]
    assert f"{source}:/archMap: warning: archMap entries for S390X are left out" in err
    assert f"{source}:/syscalls/2/includes/minKernel: warning: minKernel 4.8 dropped" in err
    assert f"{source}:/syscalls/3/includes/caps: warning: left out" in err
    assert f"{source}:/syscalls/6/includes/arches: warning: left out" in err
    # what import prints passes lint
    lint_code = main(["lint", write(tmp_path, "out.yaml", out)])
    lint_out = capsys.readouterr().out
    assert lint_code == 0, lint_out


def test_import_with_assumed_caps_and_arches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path, "docker.json", DOCKER)
    code, out, err = run_import([source, "--name", "web", "--assume-caps", "sys_admin", "--arches", "amd64"], capsys)
    assert code == 0, err
    spec = yaml.safe_load(out)["spec"]
    assert spec["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert spec["syscalls"] == [
        {"names": ["read", "write", "getpid", "ptrace", "mount", "arch_prctl"], "action": "SCMP_ACT_ALLOW"}
    ]
    assert "excludes/caps: warning: left out" in err


def test_import_refuses_unportable_arch_condition(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(
        tmp_path,
        "docker.json",
        {**DOCKER, "syscalls": [{"names": ["mmap"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}}]},
    )
    code, out, err = run_import([source, "--name", "web"], capsys)
    assert (code, out) == (1, "")
    assert f"{source}:/syscalls/0/names/0: error: on X86_64 nodes Docker leaves this rule out" in err


def test_import_reports_errors_at_source_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(
        tmp_path,
        "bad.json",
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"name": "reed", "action": "SCMP_ACT_ALLOW"},
                {"names": ["x"], "action": "SCMP_ACT_ERRNO", "errno": "EWHAT"},
            ],
        },
    )
    code, out, err = run_import([source, "--name", "web"], capsys)
    assert (code, out) == (1, "")
    assert f"{source}:/syscalls/1/errno: error:" in err
    code, out, err = run_import(
        [
            write(
                tmp_path,
                "typo.json",
                {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "reed", "action": "SCMP_ACT_ALLOW"}]},
            ),
            "--name",
            "web",
        ],
        capsys,
    )
    assert code == 1
    assert "/syscalls/0/name: error: `reed` is not a syscall" in err


def test_import_spo_resources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """\
apiVersion: security-profiles-operator.x-k8s.io/v1beta1
kind: SeccompProfile
metadata: {name: app, namespace: prod, labels: {team: a}}
spec:
  baseProfileName: runc-v1.2.0
  defaultAction: SCMP_ACT_ERRNO
  architectures: [SCMP_ARCH_X86_64]
  syscalls: [{names: [mount], action: SCMP_ACT_ALLOW}]
---
apiVersion: security-profiles-operator.x-k8s.io/v1beta1
kind: SeccompProfile
metadata: {name: log-all}
spec: {defaultAction: SCMP_ACT_LOG, architectures: [SCMP_ARCH_X86_64], disabled: false}
"""
    source = write(tmp_path, "spo.yaml", text)
    code, out, err = run_import([source], capsys)
    assert code == 0, err
    first, second = yaml.safe_load_all(out)
    assert first["metadata"] == {"name": "app", "namespace": "prod", "labels": {"team": "a"}}
    assert first["spec"]["baseProfileName"] == "runc-v1.2.0"
    assert f"{source}:doc1/spec/baseProfileName: warning: baseProfileName `runc-v1.2.0`" in err
    assert second["spec"] == {"defaultAction": "SCMP_ACT_LOG", "architectures": ["SCMP_ARCH_X86_64"]}
    assert run_import([source, "--name", "x"], capsys)[0] == 2  # one name for two profiles


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--name", "web", "--assume-caps", "CAP_SYS_WIZARD"], "unknown capability"),
        (["--name", "web", "--arches", "vax"], "unknown architecture"),
        ([], "--name is required"),
    ],
)
def test_import_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str) -> None:
    code, out, err = run_import([write(tmp_path, "docker.json", DOCKER), *args], capsys)
    assert (code, out) == (2, "")
    assert says in err


def test_import_unreadable_input_exits_2_and_unparsable_input_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_import([str(tmp_path / "missing.json"), "--name", "x"], capsys)[0] == 2
    path = write(tmp_path, "x.json", "{nope")
    code, out, err = run_import([path, "--name", "x"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"{path}:1:2: error: not valid JSON")


def test_other_kinds_in_a_yaml_stream_are_skipped_not_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "app.yaml"
    stream.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: []}\n---\n"
        "apiVersion: seccomp-operator.io/v1alpha1\nkind: SeccompProfile\nmetadata: {name: p, namespace: ns}\n"
        "spec: {defaultAction: SCMP_ACT_ALLOW, architectures: [SCMP_ARCH_X86_64]}\n"
    )
    assert main(["lint", str(stream)]) == 0
    assert "Pod is not a SeccompProfile" in capsys.readouterr().err
    # A typo of our own kind is still judged.
    stream.write_text("apiVersion: seccomp-operator.io/v1alpha1\nkind: SeccompProfil\nmetadata: {name: p}\nspec: {}\n")
    assert main(["lint", str(stream)]) == 1


# --- base profiles across the files given ------------------------------------------------------------------


def scp(name: str, spec: dict[str, object]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "seccomp-operator.io/v1alpha1",
            "kind": "SeccompProfile",
            "metadata": {"name": name, "namespace": "team-a"},
            "spec": spec,
        }
    )


def test_a_profile_is_checked_merged_with_its_base_from_another_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = write(
        tmp_path,
        "base.yaml",
        scp("base", {**GOOD, "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"}]}),
    )
    child = write(
        tmp_path,
        "child.yaml",
        scp("child", {"baseProfileName": "base", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_LOG"}]}),
    )
    assert main(["lint", child]) == 0  # alone, the child is fine: its base is not among the files
    assert "base-profile" not in capsys.readouterr().out
    assert main(["lint", "--strict", child]) == 1
    assert "base profile `base` does not exist in namespace `team-a` among the files given" in capsys.readouterr().out
    assert main(["lint", base, child]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{child}:doc1/spec/syscalls/0/names/0: error: `ptrace` already has a rule")
    assert "at /spec/syscalls/0/names/0 of base profile `base`" in line


def test_a_cycle_across_files_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path, "a.yaml", scp("a", {**GOOD, "baseProfileName": "b"}))
    b = write(tmp_path, "b.yaml", scp("b", {**GOOD, "baseProfileName": "a"}))
    assert main(["lint", a, b]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{a}:doc1/spec/baseProfileName: error: base profiles form a cycle: a -> b -> a",
        f"{b}:doc1/spec/baseProfileName: error: base profiles form a cycle: b -> a -> b",
    ]


# --- CI use: silencing warnings, folded repeats, positions ---------------------------------------------------


def test_ignore_silences_warnings_but_never_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path,
        "native.json",
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["reboot"], "action": "SCMP_ACT_ALLOW"}]},
    )
    assert main(["lint", "--strict", path]) == 1
    assert main(["lint", "--strict", "--ignore", "no-architectures", "--ignore", "action-equals-default", path]) == 0
    assert main(["lint", "--strict", "--ignore", "no-architectures,action-equals-default", path]) == 0
    capsys.readouterr()
    assert main(["lint", "--ignore", "unknown-syscall", path]) == 2
    assert "unknown-syscall: not the code of a warning (errors cannot be silenced)" in capsys.readouterr().err
    assert main(["lint", "--ignore", "no-architecture", path]) == 2


def test_an_annotation_silences_warnings_for_one_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["reboot"], "action": "SCMP_ACT_ALLOW"}]}
    manifest = yaml.safe_load(scp("quiet", spec))
    manifest["metadata"]["annotations"] = {"seccomp-operator.io/lint-ignore": "no-architectures, action-equals-default"}
    path = write(tmp_path, "quiet.yaml", yaml.safe_dump(manifest))
    assert main(["lint", "--strict", path]) == 0
    assert capsys.readouterr().out == ""
    manifest["metadata"]["annotations"] = {"seccomp-operator.io/lint-ignore": "no-architectures unknown-syscall"}
    path = write(tmp_path, "typo.yaml", yaml.safe_dump(manifest))
    assert main(["lint", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": warning: ")[0] for line in out] == [
        f"{path}:doc1/spec/syscalls/0/action",
        f"{path}:doc1/metadata/annotations/seccomp-operator.io~1lint-ignore",
    ]
    assert "`unknown-syscall` is not the code of a warning" in out[1]


def test_repeated_warnings_are_one_line_and_json_lists_every_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x86_only = ["open", "stat", "lstat", "poll", "access", "pipe", "select", "alarm"]
    profile = {**GOOD, "syscalls": [{"names": ["read", *x86_only], "action": "SCMP_ACT_ALLOW"}]}
    path = tmp_path / "x86.json"
    path.write_text(json.dumps(profile, indent=1))
    assert main(["lint", str(path)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}:/syscalls/0/names/1: warning: 8 names (`open`, `stat`")
    assert main(["lint", "--json", str(path)]) == 0
    (record,) = json.loads(capsys.readouterr().out)["findings"]
    assert [a["pointer"] for a in record["also"]] == [f"/syscalls/0/names/{i}" for i in range(2, 9)]
    assert [a["line"] for a in record["also"]] == [record["line"] + i for i in range(1, 8)]
