"""`.pre-commit-hooks.yaml` at the repository root: the hook pre-commit runs for `repo: <this repository>`.

pre-commit installs the repository with pip and runs `entry` with the staged files that match `files` and
`types_or` appended; this test does the same with the installed console script, on files of a scratch repository.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
GOOD = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": []}


def hook() -> dict[str, object]:
    (only,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    return dict(only)


def selected(files: list[str]) -> list[str]:
    """The files pre-commit would pass: `files` is a regex searched in the path, `types_or` the file types."""
    pattern = re.compile(str(hook()["files"]))
    types = {"json": (".json",), "yaml": (".yaml", ".yml")}
    endings = tuple(e for t in hook()["types_or"] for e in types[t])  # type: ignore[attr-defined]
    return [f for f in files if pattern.search(f) and f.endswith(endings)]


def test_the_hook_is_a_python_hook_over_the_projects_console_script() -> None:
    definition = hook()
    assert definition["id"] == "seccomp-operator-lint"
    assert definition["language"] == "python"  # pre-commit pip-installs this repository for it
    assert definition["require_serial"] is True  # one run sees every file: base profiles resolve across files
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    command, *args = str(definition["entry"]).split()
    assert command in scripts and args == ["lint"]


def test_the_hooks_entry_runs_on_the_files_it_selects(tmp_path: Path) -> None:
    (tmp_path / "deploy" / "seccomp").mkdir(parents=True)
    (tmp_path / "deploy" / "seccomp" / "web.json").write_text(json.dumps(GOOD))
    (tmp_path / "package.json").write_text('{"name": "not a profile"}')
    (tmp_path / "README.md").write_text("# not a profile\n")
    files = selected(["deploy/seccomp/web.json", "package.json", "README.md"])
    assert files == ["deploy/seccomp/web.json"]

    command, *args = str(hook()["entry"]).split()
    executable = shutil.which(command, path=str(Path(sys.executable).parent))
    assert executable is not None, f"{command} is not installed beside {sys.executable}"
    run = [executable, *args, *files]
    ok = subprocess.run(run, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (ok.returncode, ok.stdout) == (0, ""), ok.stderr

    (tmp_path / "deploy" / "seccomp" / "web.json").write_text(json.dumps({**GOOD, "defaultErrnoRet": 70000}))
    bad = subprocess.run(run, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stdout.startswith("deploy/seccomp/web.json:/defaultErrnoRet: error: errno 70000")
