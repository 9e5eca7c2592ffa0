"""The profile core stays pure: it imports nothing that does I/O or belongs to a shell.

Two checks: an AST scan of every module of seccomp_operator.profile (imports at any depth, including inside
functions, plus builtins that do I/O), and import-linter's contract from pyproject.toml when it can run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "seccomp_operator" / "profile"
# I/O-capable or process-spawning modules the contract does not list but the core has no business with either.
EXTRA_FORBIDDEN = {"importlib", "ctypes.util", "http", "urllib", "asyncio", "threading", "multiprocessing", "logging"}
FORBIDDEN_CALLS = {"open", "exec", "eval", "__import__", "compile", "input", "breakpoint"}
# The single way out of the core: compile.default_sink_factory imports the shell's memfd sink lazily, only when the
# caller injected none (see compile.py). Anything else from the package must be the core itself.
ALLOWED_OUTSIDE = {("compile.py", "seccomp_operator.bpf_sink")}


def contract_modules() -> set[str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    (contract,) = [c for c in contracts if "seccomp_operator.profile" in c.get("source_modules", [])]
    return set(contract["forbidden_modules"])


def imports_of(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, int]] = []
    package = "seccomp_operator.profile"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            found.extend((f"{module}.{alias.name}", node.lineno) for alias in node.names)
    return found


def matches(module: str, forbidden: str) -> bool:
    return module == forbidden or module.startswith(forbidden + ".")


def test_core_imports_nothing_forbidden() -> None:
    forbidden = contract_modules() | EXTRA_FORBIDDEN
    assert {"os", "io", "pathlib", "subprocess", "kubernetes", "kopf"} <= forbidden
    problems: list[str] = []
    modules = sorted(CORE.glob("*.py"))
    assert len(modules) >= 10
    for path in modules:
        for module, line in imports_of(path):
            if any(matches(module, bad) for bad in forbidden):
                problems.append(f"{path.name}:{line} imports {module}")
            elif (
                matches(module, "seccomp_operator")
                and not matches(module, "seccomp_operator.profile")
                and not any(path.name == name and matches(module, allowed) for name, allowed in ALLOWED_OUTSIDE)
            ):
                problems.append(f"{path.name}:{line} reaches outside the core: {module}")
    assert problems == []


def test_core_calls_no_io_builtins() -> None:
    problems = []
    for path in sorted(CORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
                problems.append(f"{path.name}:{node.lineno} calls {node.func.id}()")
    assert problems == []


def test_the_lazy_shell_import_is_really_lazy() -> None:
    """Importing the core must not import the shell's sink (it is only loaded when no sink is injected)."""
    code = (
        "import sys, seccomp_operator.profile as p; "
        "assert 'seccomp_operator.bpf_sink' not in sys.modules; "
        "assert not any(m.startswith(('kopf', 'kubernetes')) for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_import_linter_contract(tmp_path: Path) -> None:
    """Run import-linter on the profile contract of pyproject.toml. The contract is run from a copy with
    include_external_packages = true (import-linter refuses external forbidden modules such as `os` without it)
    and without forbidden internal modules that do not exist yet (import-linter refuses unknown modules)."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        pytest.skip("lint-imports is not installed in this environment")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if "seccomp_operator.profile" in c.get("source_modules", [])]

    def exists(module: str) -> bool:
        if not module.startswith("seccomp_operator."):
            return True
        relative = Path(*module.split("."))
        return (REPO / relative).is_dir() or (REPO / relative).with_suffix(".py").is_file()

    forbidden = [m for m in contract["forbidden_modules"] if exists(m)]
    text = (
        "[tool.importlinter]\n"
        f'root_package = "{config["root_package"]}"\n'
        "include_external_packages = true\n\n"
        "[[tool.importlinter.contracts]]\n"
        f'name = "{contract["name"]}"\n'
        'type = "forbidden"\n'
        'source_modules = ["seccomp_operator.profile"]\n'
        f"forbidden_modules = [{', '.join(repr(m).replace(chr(39), chr(34)) for m in forbidden)}]\n"
        f"allow_indirect_imports = {str(contract.get('allow_indirect_imports', False)).lower()}\n"
    )
    (tmp_path / "importlinter.toml").write_text(text)
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--config", str(tmp_path / "importlinter.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 kept, 0 broken" in output
