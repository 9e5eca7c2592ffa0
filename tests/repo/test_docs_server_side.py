"""Every `kubectl apply` the repository shows a user is server-side: client-side apply copies the whole object into
the last-applied-configuration annotation (256 KiB for all annotations), so a large SeccompProfile fails that way."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Where users read commands: docs, examples, manifests' and the chart's comments, the chart's NOTES, scripts.
SUFFIXES = (".md", ".yaml", ".yml", ".txt", ".tpl", ".sh")
COMMAND = re.compile(r"kubectl\s+apply\s+-[^`\n]*")


def shown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in listed if name.endswith(SUFFIXES) and (REPO / name).is_file()]


def test_docs_apply_server_side() -> None:
    client_side = []
    for path in shown_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for command in COMMAND.findall(line):
                if "--server-side" not in command:
                    client_side.append(f"{path.relative_to(REPO)}:{number}: {command.strip()}")
    assert not client_side, "use `kubectl apply --server-side`:\n" + "\n".join(client_side)


def test_the_check_sees_the_commands_users_read() -> None:
    files = {p.relative_to(REPO).as_posix() for p in shown_files()}
    assert {"README.md", "manifests/README.md", "charts/seccomp-operator/templates/NOTES.txt"} <= files
    notes = (REPO / "charts/seccomp-operator/templates/NOTES.txt").read_text()
    assert COMMAND.search(notes), "the chart's NOTES show how to apply a profile"
