"""A setting that cannot work stops `seccomp-operator agent` and `controller` at once with one line that names the
setting and the reason, and exit code 2: never a traceback (the real command, as a subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from seccomp_operator.testing.net import free_port

EXIT_SETTING = 2


def kubeconfig_doc(current: str = "local") -> dict[str, object]:
    # Never contacted: every check runs before the first connection.
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "local", "user": {"token": "t"}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
        "current-context": current,
    }


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig_doc()))
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def run(args: list[str], tmp_path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "NODE_NAME", "KUBERNETES_SERVICE_HOST")}
    # HOME without a ~/.kube/config, so nothing falls back to the machine's own.
    return subprocess.run(
        [sys.executable, "-m", "seccomp_operator", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**base, "HOME": str(tmp_path), **(env or {})},
    )


def assert_setting_error(result: subprocess.CompletedProcess[str], command: str, *words: str) -> None:
    assert result.returncode == EXIT_SETTING, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"seccomp-operator {command}: error: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])


def agent(tmp_path: Path, kubeconfig: Path, *extra: str) -> list[str]:
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    args = ["agent", "--node-name", "n1", "--root", str(root), "--kubeconfig", str(kubeconfig), "--health-addr", ""]
    return [*args, *extra]


def controller(kubeconfig: Path, *extra: str) -> list[str]:
    return ["controller", "--kubeconfig", str(kubeconfig), "--health-addr", "", "--no-webhook", *extra]


@pytest.mark.parametrize("command", ["agent", "controller"])
def test_unknown_log_level(command: str, tmp_path: Path, kubeconfig: Path) -> None:
    argv = agent(tmp_path, kubeconfig) if command == "agent" else controller(kubeconfig)
    result = run([*argv, "--log-level", "LOUD"], tmp_path)
    assert_setting_error(result, command, "--log-level 'LOUD'", "DEBUG, INFO, WARNING, ERROR, CRITICAL")


def test_log_level_in_any_case_is_accepted_by_the_checks(tmp_path: Path, kubeconfig: Path, busy_port: int) -> None:
    # `debug` passes the log-level check, so the next check (the busy port) is the one that speaks.
    argv = [*agent(tmp_path, kubeconfig), "--log-level", "debug", "--health-addr", f"127.0.0.1:{busy_port}"]
    assert_setting_error(run(argv, tmp_path), "agent", "--health-addr")


@pytest.mark.parametrize("command", ["agent", "controller"])
def test_missing_kubeconfig_file(command: str, tmp_path: Path, kubeconfig: Path) -> None:
    missing = tmp_path / "nope" / "kubeconfig"
    argv = agent(tmp_path, missing) if command == "agent" else controller(missing)
    assert_setting_error(run(argv, tmp_path), command, "--kubeconfig", str(missing), "cannot be read")


@pytest.mark.parametrize("command", ["agent", "controller"])
def test_no_kubeconfig_anywhere(command: str, tmp_path: Path, kubeconfig: Path) -> None:
    argv = agent(tmp_path, kubeconfig) if command == "agent" else controller(kubeconfig)
    argv = argv[: argv.index("--kubeconfig")] + argv[argv.index("--kubeconfig") + 2 :]
    result = run(argv, tmp_path)
    assert_setting_error(result, command, "--kubeconfig", "$KUBECONFIG is not set", ".kube/config")


def test_kubeconfig_from_the_environment_is_named_as_such(tmp_path: Path, kubeconfig: Path) -> None:
    argv = controller(kubeconfig)
    argv = argv[: argv.index("--kubeconfig")] + argv[argv.index("--kubeconfig") + 2 :]
    result = run(argv, tmp_path, env={"KUBECONFIG": str(tmp_path / "gone.yaml")})
    assert_setting_error(result, "controller", "$KUBECONFIG", "gone.yaml")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("clusters: [", ("is not YAML",)),
        ("just a string\n", ("is not a kubeconfig",)),
        (yaml.safe_dump(kubeconfig_doc(current="elsewhere")), ("current-context 'elsewhere'", "['local']")),
    ],
    ids=["not-yaml", "not-a-kubeconfig", "unknown-context"],
)
def test_kubeconfig_that_is_not_one(content: str, words: tuple[str, ...], tmp_path: Path) -> None:
    path = tmp_path / "broken-kubeconfig"
    path.write_text(content)
    assert_setting_error(run(controller(path), tmp_path), "controller", "--kubeconfig", *words)


@pytest.mark.parametrize("command", ["agent", "controller"])
def test_kubeconfig_naming_a_missing_file(command: str, tmp_path: Path) -> None:
    doc = kubeconfig_doc()
    doc["clusters"] = [{"name": "local", "cluster": {"server": "https://127.0.0.1:9", "certificate-authority": "ca"}}]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))  # no file `ca` beside it
    argv = agent(tmp_path, path) if command == "agent" else controller(path)
    assert_setting_error(run(argv, tmp_path), command, "--kubeconfig", "certificate-authority 'ca' does not exist")


def test_agent_kubeconfig_its_loader_cannot_use(tmp_path: Path) -> None:
    doc = kubeconfig_doc()
    doc["clusters"] = [{"name": "local", "cluster": {"server": "https://127.0.0.1:9", "certificate-authority": "ca"}}]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    (tmp_path / "ca").write_text("not a certificate\n")
    assert_setting_error(run(agent(tmp_path, path), tmp_path), "agent", "--kubeconfig", "cannot be used: SSLError")


def test_agent_without_node_name(tmp_path: Path, kubeconfig: Path) -> None:
    argv = agent(tmp_path, kubeconfig)
    argv = argv[: argv.index("--node-name")] + argv[argv.index("--node-name") + 2 :]
    assert_setting_error(run(argv, tmp_path), "agent", "--node-name", "$NODE_NAME")


def test_agent_missing_root_directory(tmp_path: Path, kubeconfig: Path) -> None:
    missing = tmp_path / "var" / "lib" / "kubelet" / "seccomp"
    argv = [*agent(tmp_path, kubeconfig), "--root", str(missing)]
    assert_setting_error(run(argv, tmp_path), "agent", f"--root '{missing}'", "no such directory")


def test_agent_root_that_is_a_file(tmp_path: Path, kubeconfig: Path) -> None:
    (tmp_path / "file").write_text("")
    argv = [*agent(tmp_path, kubeconfig), "--root", str(tmp_path / "file")]
    assert_setting_error(run(argv, tmp_path), "agent", "--root", "is not a directory")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("8080", ("expected HOST:PORT",)),
        ("127.0.0.1:http", ("expected HOST:PORT",)),
        ("127.0.0.1:70000", ("port 70000 is outside 1-65535",)),
        ("no-such-host.invalid:8080", ("cannot resolve",)),
    ],
    ids=["no-host", "named-port", "out-of-range", "unresolvable"],
)
@pytest.mark.parametrize("command", ["agent", "controller"])
def test_bad_listen_address(command: str, value: str, words: tuple[str, ...], tmp_path: Path, kubeconfig: Path) -> None:
    argv = agent(tmp_path, kubeconfig) if command == "agent" else controller(kubeconfig)
    assert_setting_error(run([*argv, "--health-addr", value], tmp_path), command, f"--health-addr '{value}'", *words)


@pytest.mark.parametrize("command", ["agent", "controller"])
def test_port_in_use(command: str, tmp_path: Path, kubeconfig: Path, busy_port: int) -> None:
    argv = agent(tmp_path, kubeconfig) if command == "agent" else controller(kubeconfig)
    result = run([*argv, "--health-addr", f"127.0.0.1:{busy_port}"], tmp_path)
    assert_setting_error(result, command, "--health-addr", "Address already in use")


def test_webhook_port_in_use(tmp_path: Path, kubeconfig: Path, busy_port: int) -> None:
    argv = [a for a in controller(kubeconfig) if a != "--no-webhook"]
    result = run([*argv, "--webhook-addr", f"127.0.0.1:{busy_port}"], tmp_path)
    assert_setting_error(result, "controller", "--webhook-addr", "Address already in use")


@pytest.mark.parametrize("case", ["cert-missing", "key-without-cert", "cert-is-a-directory", "not-pem", "wrong-key"])
def test_unusable_webhook_certificate(case: str, tmp_path: Path, kubeconfig: Path) -> None:
    from seccomp_operator.controller.certs import write_self_signed

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cert, key = write_self_signed(tmp_path / "one", ["localhost"])
    _, other_key = write_self_signed(tmp_path / "two", ["localhost"])
    flags = {
        "cert-missing": (["--webhook-cert", str(tmp_path / "tls.crt"), "--webhook-key", str(key)], "--webhook-cert"),
        "key-without-cert": (["--webhook-key", str(key)], "--webhook-cert: is required with --webhook-key"),
        "cert-is-a-directory": (["--webhook-cert", str(tmp_path), "--webhook-key", str(key)], "is a directory"),
        "not-pem": (["--webhook-cert", str(garbage), "--webhook-key", str(key)], "holds no PEM certificate"),
        "wrong-key": (["--webhook-cert", str(cert), "--webhook-key", str(other_key)], "does not belong to the"),
    }
    extra, words = flags[case]
    argv = [a for a in controller(kubeconfig) if a != "--no-webhook"]
    result = run([*argv, "--webhook-addr", f"127.0.0.1:{free_port()}", *extra], tmp_path)
    assert_setting_error(result, "controller", words)


def test_a_usable_webhook_certificate_passes_the_checks(tmp_path: Path, kubeconfig: Path) -> None:
    from seccomp_operator.controller.certs import write_self_signed

    cert, key = write_self_signed(tmp_path / "one", ["localhost"])
    argv = [a for a in controller(kubeconfig) if a != "--no-webhook"]
    argv += ["--webhook-addr", f"127.0.0.1:{free_port()}", "--webhook-cert", str(cert), "--webhook-key", str(key)]
    # The certificate passes, so the check after it (the kubeconfig) is the one that speaks.
    argv[argv.index("--kubeconfig") + 1] = str(tmp_path / "missing")
    assert_setting_error(run(argv, tmp_path), "controller", "--kubeconfig")
