"""Every real-world profile of the corpus goes through `import` and then `lint`.

The corpus lives next to the repository (`<repo>/../shared/corpus/seccomp`) or where $SECCOMP_CORPUS points. A
profile that is wrong in the source must fail with its error at the source field; every other one must import
(exit 0) to a manifest that lint accepts (exit 0; warnings allowed).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from seccomp_operator.cli import main

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("SECCOMP_CORPUS") or REPO.parent / "shared" / "corpus" / "seccomp")
FILES = sorted(p.name for p in CORPUS.glob("*") if p.suffix in (".json", ".yaml")) if CORPUS.is_dir() else []

# Source errors the import must report, as (pointer, message start).
EXPECTED_ERRORS = {
    # moby's fixture uses an errno libseccomp refuses and runc/crun would truncate
    "docker-fixture-example.json": [("/syscalls/3/errnoRet", "errno 12345 is outside 0..4094")],
    # runc's test data ANDs two conditions on argument 0, which runc turns into OR
    "runc-testdata-syscall-test1.json": [
        ("/syscalls/4/args/1/index", "argument 0 is already tested"),
        ("/syscalls/5/args/1/index", "argument 0 is already tested"),
    ],
}
# Docker-format sources `lint` must refuse as they are (they mean different things under containerd).
DOCKER_FORMAT = {
    "containers-common-default.json",
    "containers-common-fixture-example.json",
    "docker-default.json",
    "docker-fixture-conditional-include.json",
    "docker-fixture-default-old-format.json",
    "docker-fixture-example.json",
    "spo-bpf-recorder.json",
    "spo-security-profiles-operator.json",
}

pytestmark = pytest.mark.skipif(not FILES, reason=f"seccomp corpus not found at {CORPUS} (set SECCOMP_CORPUS)")


def test_corpus_is_complete() -> None:
    assert set(EXPECTED_ERRORS) | DOCKER_FORMAT <= set(FILES)


@pytest.mark.parametrize("name", FILES)
def test_import_then_lint(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = str(CORPUS / name)
    args = ["import", source, "--namespace", "corpus"]
    if name.endswith(".json"):
        args += ["--name", name.removesuffix(".json").lower()]
    code = main(args)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if ": error: " in line]

    if name in EXPECTED_ERRORS:
        assert code == 1 and captured.out == ""
        for pointer, message in EXPECTED_ERRORS[name]:
            assert any(line.startswith(f"{source}:{pointer}: error: {message}") for line in errors), captured.err
        assert len(errors) == len(EXPECTED_ERRORS[name]), errors
        return

    assert code == 0, captured.err
    assert errors == []
    manifests = list(yaml.safe_load_all(captured.out))
    assert manifests and all(m["apiVersion"] == "seccomp-operator.io/v1alpha1" for m in manifests)
    output = tmp_path / "imported.yaml"
    output.write_text(captured.out)
    lint_code = main(["lint", str(output)])
    lint = capsys.readouterr()
    assert lint_code == 0, lint.out
    assert ": error: " not in lint.out


@pytest.mark.parametrize("name", sorted(DOCKER_FORMAT & set(FILES)))
def test_lint_refuses_docker_format_as_is(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(CORPUS / name)]) == 1
    assert "seccomp-operator import" in capsys.readouterr().out


def test_lint_accepts_plain_oci_corpus_profile(capsys: pytest.CaptureFixture[str]) -> None:
    if "runc-testdata-syscall-test2.json" not in FILES:
        pytest.skip("runc-testdata-syscall-test2.json not in the corpus")
    assert main(["lint", str(CORPUS / "runc-testdata-syscall-test2.json")]) == 0
    assert ": error: " not in capsys.readouterr().out


def test_docker_default_with_caps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With the capabilities a privileged-ish workload has, overlapping rules merge without conflicts."""
    if "docker-default.json" not in FILES:
        pytest.skip("docker-default.json not in the corpus")
    caps = "CAP_SYS_ADMIN,CAP_BPF,CAP_SYSLOG,CAP_SYS_PTRACE,CAP_PERFMON,CAP_SYS_NICE"
    code = main(["import", str(CORPUS / "docker-default.json"), "--name", "docker-admin", "--assume-caps", caps])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    spec = yaml.safe_load(captured.out)["spec"]
    allowed = {n for rule in spec["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}
    assert {"mount", "bpf", "syslog", "ptrace", "perf_event_open", "mbind"} <= allowed
    # clone3 is denied with ENOSYS only for containers without CAP_SYS_ADMIN
    assert all("clone3" not in rule["names"] for rule in spec["syscalls"] if rule["action"] == "SCMP_ACT_ERRNO")
